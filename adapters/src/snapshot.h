/*
 * snapshot.h - the layout of an UltraDict snapshot stored in a backend, shared by the saver
 * (snapshot_save.c) and the loader (snapshot.c). Internal to the adapters library.
 *
 * Under a prefix P:
 *   P "manifest"                 the current generation G, count, bytes, chunks, checksum;
 *   P "gen/" G "/index/" N       the keys of generation G with their types, in chunks;
 *   P "gen/" G "/entry/" KEY     one key per entry;
 *   P "pending"                  generations whose keys may still be stored (a save in progress,
 *                                or one that was interrupted): the next save removes them.
 * A format-1 manifest (no generation) has its index and entries directly under P "index/" and
 * P "entry/"; generation "" stands for that layout.
 */
#ifndef KV_SNAPSHOT_H
#define KV_SNAPSHOT_H

#include "kv_internal.h"

#include <stdint.h>

/* A generation id: 16 hex digits, or "" for the format-1 layout. */
#define KV__GEN_LEN 16
/* A save lists two generations at most (the current one and its own); room for more. */
#define KV__PENDING_MAX 8

/* An index record: type (1 byte), key length (4 bytes, little-endian), key. */
#define KV__INDEX_RECORD_HEAD 5

/* The generations named in P "pending" (each KV__GEN_LEN + 1 bytes; "" is the format-1 layout). */
typedef struct kv__pending {
    size_t n;
    char gen[KV__PENDING_MAX][KV__GEN_LEN + 1];
} kv__pending;

/* The key P [gen/G/] part suffix, built in b (G = gen; "" for the format-1 layout). */
int kv__snap_key(kv_buf *b, const char *prefix, const char *gen, const char *part,
                 const void *suffix, size_t slen);

/* The key of index chunk n of generation gen. */
int kv__snap_chunk_key(kv_buf *b, const char *prefix, const char *gen, uint64_t n);

/* Little-endian integers of n bytes. */
void kv__put_le(unsigned char *p, uint64_t v, int n);
uint64_t kv__get_le(const unsigned char *p, int n);

/* The checksum of one entry, chained: the same function on save and on load. */
uint64_t kv__snap_checksum(uint64_t h, const void *key, size_t klen, const void *val, size_t vlen,
                           int type);

/* Writes P "manifest" (format 2, naming m->generation): one set of one key, the save's switch. */
int kv__write_manifest(kv_conn *c, const char *prefix, const kv_manifest *m);

/* Reads P "manifest": 0, KV_ENOTFOUND, KV_EVERSION, KV_ECORRUPT, or the backend's error. */
int kv__read_manifest(kv_conn *c, const char *prefix, kv_manifest *m);

/* Reads P "pending" into *p (empty when absent or damaged); 0 or the backend's error. */
int kv__read_pending(kv_conn *c, const char *prefix, kv__pending *p);

/* Writes P "pending" from *p, or removes it when p->n is 0. */
int kv__write_pending(kv_conn *c, const char *prefix, const kv__pending *p);

#endif
