/*
 * redis_link.h - what the two Redis adapters share (redis.c for one server, redis_cluster.c for
 * a Redis Cluster): one hiredis connection to one server (a "link"), with the mapping of its
 * failures and error replies to KV_E* codes, and the single-key operations of the interface
 * (get, set, del, incr, the SET NX PX lock and its token-checked release) written once over a
 * `send` function that each adapter supplies: redis.c sends to its one server, redis_cluster.c
 * routes by the key's slot and follows MOVED and ASK. No hiredis reply leaves the adapters.
 */
#ifndef KV_REDIS_LINK_H
#define KV_REDIS_LINK_H

#include "kv_internal.h"

#include <hiredis/hiredis.h>

/* One connection to one server. A link is broken after an I/O or protocol error. */
typedef struct kv__redis_link {
    redisContext *ctx;
    bool broken;
    char broken_msg[448]; /* why, for every later call */
    char where[300];      /* "HOST:PORT" or the socket path, for messages */
} kv__redis_link;

/*
 * Connects to HOST:PORT (or the unix socket `path` when not NULL) within connect_timeout, then
 * sets `timeout` on every later call. On failure the link holds no context and err says why.
 * Returns 0, KV_ECONNECT or -ENOMEM.
 */
int kv__redis_link_open(kv__redis_link *l, const char *host, int port, const char *path,
                        double connect_timeout, double timeout, char *err, size_t errlen);
/* Frees the context; the link can be opened again. Accepts a link that was never opened. */
void kv__redis_link_close(kv__redis_link *l);

/* The context of `l` failed: marks the link broken and returns the code, detail in c. */
int kv__redis_link_fail(kv_conn *c, kv__redis_link *l, const char *what, int saved_errno);
/* The code (KV_ENOTNUM, KV_EOVERFLOW, KV_EFULL, KV_ESERVER) of an error reply, detail in c. */
int kv__redis_reply_error(kv_conn *c, const char *where, const redisReply *rep, const char *what);
/* KV_EPROTO for a reply of a type the command does not give, detail in c. */
int kv__redis_unexpected(kv_conn *c, const kv__redis_link *l, const redisReply *rep,
                         const char *what);

/*
 * Sends one command on `l` and returns its reply, error replies included (the caller frees
 * it), or NULL with *rc set when the link is (or becomes) broken.
 */
redisReply *kv__redis_link_raw(kv_conn *c, kv__redis_link *l, const char *what, int argc,
                               const char **argv, const size_t *lens, int *rc);
/* The same, with an error reply turned into *rc (and NULL returned). */
redisReply *kv__redis_link_command(kv_conn *c, kv__redis_link *l, const char *what, int argc,
                                   const char **argv, const size_t *lens, int *rc);
/* Reads the next reply of a pipeline on `l`: 0 with *out set, or the link's failure. */
int kv__redis_link_get_reply(kv_conn *c, kv__redis_link *l, const char *what, redisReply **out);

/* One SCAN step from `cursor` on `l`: the reply (to free) with its key array checked. */
redisReply *kv__redis_scan_step(kv_conn *c, kv__redis_link *l, char cursor[32], int *rc);

/*
 * The keys of one SCAN step not passed on before (SCAN may return a key twice): pointers into
 * the reply in keys/klens, n of them. Start zeroed with a table from kv__table_new() in `seen`;
 * kv__redis_scan_keys_free() frees the arrays and the table.
 */
typedef struct kv__redis_scan_keys {
    kv__table *seen;
    const char **keys;
    size_t *klens, n, cap;
} kv__redis_scan_keys;
int kv__redis_collect_new_keys(kv__redis_scan_keys *sk, const redisReply *arr);
void kv__redis_scan_keys_free(kv__redis_scan_keys *sk);

/*
 * The server's version into version ("7.0.15 (hiredis 0.14.1)") and whether it persists (RDB
 * snapshots or an append-only file) into *persistent. 0 or the link's failure.
 */
int kv__redis_server_facts(kv_conn *c, kv__redis_link *l, char *version, size_t vlen,
                           bool *persistent);

/* ---- Single-key operations over an adapter's `send`. ---- */

/* One command: its arguments, which one is the key (for routing), and whether it only reads. */
typedef struct kv__redis_cmd {
    const char *what; /* for messages: "GET", "SET NX (lock)", ... */
    int argc;
    const char **argv;
    const size_t *lens;
    int key;   /* index of the key in argv */
    bool read; /* may be served by a replica */
} kv__redis_cmd;

/* Sends cmd and returns its reply (not an error reply: those become *rc), or NULL with *rc. */
typedef redisReply *(*kv__redis_send_fn)(kv_conn *c, const kv__redis_cmd *cmd, int *rc);

/* The lock of one connection: SET key token NX PX ttl, released by a token-checking script. */
typedef struct kv__redis_lock {
    bool locked;
    long ttl_ms;
    char key[128];
    char token[33];
} kv__redis_lock;

int kv__redis_get(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen, kv_buf *val);
int kv__redis_set(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen, const void *val,
                  size_t vlen);
int kv__redis_del(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen);
int kv__redis_incr(kv_conn *c, kv__redis_send_fn send, const void *key, size_t klen, int64_t by,
                   int64_t *result);
/* `where` names the server or cluster in messages. */
int kv__redis_lock_take(kv_conn *c, kv__redis_send_fn send, kv__redis_lock *lk, double timeout,
                        const char *where);
int kv__redis_lock_release(kv_conn *c, kv__redis_send_fn send, kv__redis_lock *lk,
                           const char *where);

#endif
