/*
 * kv_internal.h - what the core and the adapters share (the kv__ prefix); never installed.
 */
#ifndef KV_INTERNAL_H
#define KV_INTERNAL_H

#include "kv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Errors. ---- */

/* vsnprintf() into buf (at most len bytes, NUL-terminated). */
void kv__vformat(char *buf, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * Formats a detail message into c->errmsg and returns rc, so an adapter can write
 * `return kv__error(c, KV_ENOTNUM, "value of '%s' ...", ...)`. Inline so that static analysers
 * see that the result is rc itself.
 */
__attribute__((format(printf, 3, 4))) static inline int kv__error(kv_conn *c, int rc,
                                                                  const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kv__vformat(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    return rc;
}

/* The same into a plain buffer, for kv_open() before a connection exists. Returns rc. */
__attribute__((format(printf, 4, 5))) static inline int kv__errbuf(char *buf, size_t len, int rc,
                                                                   const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kv__vformat(buf, len, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- Buffers. ---- */

/* Makes room for `need` bytes plus the trailing NUL; len and the contents are kept (a
 * "reserve" never changes len; ud__buf_resize() in ultradict/ is the one that sets it).
 * 0 or -ENOMEM. */
int kv__buf_reserve(kv_buf *b, size_t need);
/* Replaces the contents of b with n bytes of p (p may be NULL when n is 0). 0 or -ENOMEM. */
int kv__buf_set(kv_buf *b, const void *p, size_t n);
/* Appends n bytes of p. 0 or -ENOMEM. */
int kv__buf_append(kv_buf *b, const void *p, size_t n);

/* The value of a hex digit (either case), or -1 for any other character. */
int kv__hexval(int ch);

/* ---- Counters. ---- */

/* Parses a decimal integer ("-12", "+3", "0"): 0, KV_ENOTNUM or KV_EOVERFLOW. */
int kv__parse_i64(const void *p, size_t n, int64_t *out);
/* a + b into *out: 0 or KV_EOVERFLOW. */
int kv__add_i64(int64_t a, int64_t b, int64_t *out);
/* Writes v in decimal into buf (at least 21 bytes) and returns the length. */
size_t kv__format_i64(int64_t v, char *buf);

/* ---- The stores of the core itself (local:, null:). ---- */

/* Their backend version: the interface's ("kv 1.1"). */
const char *kv__core_version(kv_conn *c);

/* The lock of a store no other connection sees (local:, null:): only a flag that refuses
 * re-entry, as every backend's kv_lock() does. 0 or KV_ELOCKED. */
static inline int kv__flag_lock(bool *locked) {
    if (*locked)
        return KV_ELOCKED;
    *locked = true;
    return 0;
}

/* Lowers the flag of kv__flag_lock(): 0, or KV_ENOTLOCKED when it was not raised. */
static inline int kv__flag_unlock(bool *locked) {
    if (!*locked)
        return KV_ENOTLOCKED;
    *locked = false;
    return 0;
}

/* ---- Time and randomness. ---- */

/* Seconds on the monotonic clock. */
double kv__now(void);
/*
 * Sleeps between two attempts to take a lock: *delay (seconds, starts at 0) grows from 50 us
 * by half each time up to 10 ms, never past `deadline` (a kv__now() value; < 0 for none).
 * Returns false when the deadline has passed and the caller should give up.
 */
bool kv__backoff(double *delay, double deadline);
/* Fills `hex` with 2*nbytes hex digits of randomness and a NUL (hex holds 2*nbytes+1). */
int kv__random_hex(char *hex, size_t nbytes);

/* ---- URIs. ---- */

#define KV__URI_MAX_PARAMS 16

/*
 * A URI split into `scheme ":" body ["?" query]`. The body and the parameter values are
 * percent-decoded. Every string lives in `storage`, owned by the struct.
 */
typedef struct kv__uri {
    const char *text; /* the URI as given (borrowed) */
    char *scheme;
    char *body;
    size_t nparams;
    struct {
        char *name;
        char *value;
        bool used;
    } params[KV__URI_MAX_PARAMS];
    char *storage;
} kv__uri;

/* Splits `text`. 0, KV_EURI (with a detail in err) or -ENOMEM. */
int kv__uri_parse(const char *text, kv__uri *u, char *err, size_t errlen);
void kv__uri_free(kv__uri *u);
/* The value of parameter `name`, or NULL; marks it as used. */
const char *kv__uri_param(kv__uri *u, const char *name);
/* KV_EURI naming the first parameter no kv__uri_param() call asked for; 0 if none. */
int kv__uri_check_unused(const kv__uri *u, char *err, size_t errlen);
/* A size parameter with an optional K, M, G or T suffix (powers of 1024). */
int kv__uri_size(kv__uri *u, const char *name, uint64_t def, uint64_t *out, char *err,
                 size_t errlen);
/* A non-negative number of seconds (fractions allowed). */
int kv__uri_seconds(kv__uri *u, const char *name, double def, double *out, char *err,
                    size_t errlen);
/* An integer in [min, max]. */
int kv__uri_int(kv__uri *u, const char *name, long def, long min, long max, long *out, char *err,
                size_t errlen);
/* One of `choices` (NULL-terminated); writes its index. */
int kv__uri_choice(kv__uri *u, const char *name, const char *const *choices, int def, int *out,
                   char *err, size_t errlen);
/*
 * Splits "HOST[:PORT]" or "[V6ADDR][:PORT]" (the next `len` bytes of s) into host (at most
 * hostlen bytes with the NUL) and port (def_port when absent). 0 or KV_EURI.
 */
int kv__parse_hostport(const char *s, size_t len, char *host, size_t hostlen, int def_port,
                       int *port, char *err, size_t errlen);

/* ---- Adapters: one open function each; the core picks one by scheme. ---- */

typedef int (*kv__open_fn)(kv__uri *u, kv_conn **out, char *err, size_t errlen);

int kv__local_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__null_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__ultradict_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__sqlite_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__lmdb_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__redis_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__redis_cluster_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__memcached_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__cloudflare_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);
int kv__boost_ipc_open(kv__uri *u, kv_conn **out, char *err, size_t errlen);

/*
 * What an adapter says about a URI of its scheme (kv_describe_uri()). The core fills *d first:
 * the name is the scheme, `uri` and `identity` are the URI with the password of a
 * "//USER:PASSWORD@HOST" part hidden, role KV_ROLE_STORE, every flag false. The adapter then
 * hides its other secrets, masks what changes from run to run and sets its flags; it opens
 * nothing. One function per adapter file, in the core's scheme table next to its open.
 */
typedef void (*kv__describe_fn)(kv__uri *u, kv_desc *d);

/* The describe function of scheme (NULL when its adapter is not built): 0 or KV_ESCHEME. */
int kv__scheme_describe(const char *scheme, kv__describe_fn *fn);

void kv__local_describe(kv__uri *u, kv_desc *d);
void kv__null_describe(kv__uri *u, kv_desc *d);
void kv__ultradict_describe(kv__uri *u, kv_desc *d);
void kv__sqlite_describe(kv__uri *u, kv_desc *d);
void kv__lmdb_describe(kv__uri *u, kv_desc *d);
void kv__redis_describe(kv__uri *u, kv_desc *d);
void kv__redis_cluster_describe(kv__uri *u, kv_desc *d);
void kv__memcached_describe(kv__uri *u, kv_desc *d);
void kv__cloudflare_describe(kv__uri *u, kv_desc *d);
void kv__boost_ipc_describe(kv__uri *u, kv_desc *d);

/* Helpers of the describe functions (describe.c); each works on uri and identity alike. */
/* Replaces the value of query parameter `name` by "***". */
void kv__desc_hide_param(kv_desc *d, const char *name);
/* In identity: every ":PORT" of the host list after "//" becomes ":*". */
void kv__desc_mask_ports(kv_desc *d);
/* In identity: a folder of the path (not of a "//HOST" list) made by mkdtemp/mktemp
 * ("NAME-XXXXXX", "NAME.XXXXXX") becomes "*". */
void kv__desc_mask_temporary(kv_desc *d);
/* A store in a file or a folder of this host (sqlite:, lmdb:): on_host, and the identity
 * masked by kv__desc_mask_temporary() (a default store sits in a fresh folder each run). */
void kv__desc_path_on_host(kv_desc *d);
/* Whether host (as in a URI: "127.0.0.1", "localhost", "[::1]") is this machine's loopback. */
bool kv__host_is_loopback(const char *host, size_t len);

#ifdef KV_HAVE_ULTRADICT
/*
 * The KV_E* code (or -errno) that stands for an UltraDict return code `urc` (0, UD_E* or -errno):
 * the one place where UltraDict's codes are mapped to ours. -errno passes through, 0 stays 0, and
 * a UD_E* code without a KV_E* counterpart gives KV_EBACKEND. In adapters/ultradict.c; used by
 * the adapter and by the snapshot code.
 */
int kv__ud_error(int urc);
#endif

/* ---- A compact hash table (the local adapter, and sets of keys inside the core). ---- */

typedef struct kv__table kv__table;

/* A new, empty table. 0 or -ENOMEM. */
int kv__table_new(kv__table **out);
/* Frees the table and its entries. Accepts NULL. */
void kv__table_free(kv__table *t);
/*
 * Looks key up. On success *val and *vlen point into the table: valid until the next change.
 * Returns 0 or KV_ENOTFOUND.
 */
int kv__table_get(const kv__table *t, const void *key, size_t klen, const void **val, size_t *vlen);
/* Inserts or replaces. 0 or -ENOMEM (the table is unchanged then). */
int kv__table_set(kv__table *t, const void *key, size_t klen, const void *val, size_t vlen);
/* Removes key. 0 or KV_ENOTFOUND. */
int kv__table_del(kv__table *t, const void *key, size_t klen);
size_t kv__table_count(const kv__table *t);
/* Removes every entry (keeps the slot array). */
void kv__table_clear(kv__table *t);
/* Calls fn for every entry; fn must not change the table. Stops at fn's first non-zero return. */
int kv__table_foreach(const kv__table *t, kv_entry_fn fn, void *ctx);

/* ---- Checksums. ---- */

#define KV__FNV64_INIT UINT64_C(0xcbf29ce484222325)
/* Continues a 64-bit FNV-1a hash over n bytes. */
uint64_t kv__fnv64(uint64_t h, const void *p, size_t n);

#endif /* KV_INTERNAL_H */
