/*
 * kv.h - one key-value interface over many backends.
 *
 * A scenario, a tool or a test opens a backend by URI and drives it through the functions below
 * without knowing what is underneath:
 *
 *     local:                                   an in-process hash table (the "plain dict")
 *     ultradict:[NAME][?buffer_size=N&lock=mutex|spin&...]      the C UltraDict
 *     sqlite:PATH[?busy_timeout=MS&sync=off|normal|full]        SQLite 3, WAL mode
 *     lmdb:DIR[?map_size=N&sync=off|normal|full&max_readers=N]  LMDB
 *     redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?timeout=S&...] Redis over TCP (hiredis)
 *     redis+unix:PATH[?db=N&timeout=S&...]                       Redis over a unix socket
 *     redis-cluster://HOST:PORT[,HOST:PORT...][?replicas=read&...] a Redis Cluster (seed nodes)
 *     memcached://HOST[:PORT][,HOST[:PORT]...][?timeout=S&...]   memcached (libmemcached)
 *     boost-ipc:[NAME][?size=N&create=...&unlink=...]           Boost.Interprocess shared map
 *     cloudflare-kv://, cloudflare-d1://, cloudflare-rest://    Cloudflare (adapters/cloudflare)
 *
 * adapters/README.md lists every query parameter. A backend is a `static const kv_methods` table
 * plus a connection struct that embeds `kv_conn` as its first member (the shape of SQLite's
 * sqlite3_io_methods): the core only ever sees the base struct and the table.
 *
 * Ownership and lifetimes (one rule set for the whole interface):
 *  - kv_open() writes a new connection to its out-parameter only on success; kv_close() frees it
 *    and accepts NULL.
 *  - Inputs (URIs, keys, values, items) are borrowed for the duration of the call only.
 *  - Outputs are copied into a caller-owned kv_buf, which the callee grows with realloc() as
 *    needed; free it with kv_buf_free(). A kv_buf may be reused across calls. Memory of the
 *    client libraries (hiredis replies, libmemcached buffers, LMDB pages, SQLite columns) never
 *    leaves an adapter.
 *  - Pointers passed to a callback (kv_export, kv_load_entries) are valid only during that call.
 *
 * Return codes: 0 is success. Errors are negative: the KV_E* codes below (all below -2000), or
 * -errno for a failure of the operating system (e.g. -ENOMEM, -EACCES). kv_strerror() and
 * kv_errname() describe every code; kv_errmsg() gives the detail of the last failure of a
 * connection (which server, which file, what the library said).
 * "An error", below, is any of the codes every operation can give: KV_EINVAL (a NULL connection
 * or argument, an empty key, a NULL value with a length), KV_ETOOBIG (beyond the backend's key
 * or value limit), KV_ECONN and KV_ETIMEDOUT (network backends: the connection is then broken),
 * KV_ESERVER, KV_EPROTO, KV_EBACKEND (the server or client library refused: the detail says
 * what it said), KV_EFULL (the store is out of space), and -ENOMEM or another -errno.
 *
 * Keys are 1 or more bytes, binary-safe (NUL bytes allowed). Values are 0 or more bytes,
 * binary-safe. Counters (kv_incr) are decimal ASCII integers, as in Redis and memcached.
 *
 * Threads and processes: a connection may be used by one thread at a time. A connection belongs
 * to the process that opened it: after fork(), the child opens its own connections and must
 * neither use nor close the inherited ones (closing them could checkpoint or remove files the
 * parent still uses, or end the parent's server sessions: libmemcached says "quit" on close); it
 * simply leaves them alone until it exits.
 *
 * Caveats
 *  - The lock (kv_lock) is one lock per store. On sqlite, lmdb and ultradict it is the store's
 *    own write lock: while held, this connection's operations form one transaction that other
 *    writers wait for, committed by kv_unlock(); closing the connection (or dying) without
 *    kv_unlock() rolls the sqlite and lmdb transaction back. On redis and memcached it is the
 *    ecosystem's advisory lock (a key with an expiry): it excludes other kv_lock() callers only,
 *    other writers are not held back, and the lock vanishes when its expiry passes even if the
 *    holder is still working (kv_unlock() then reports KV_ENOTLOCKED). On local it is a flag of
 *    the private table.
 *  - On sqlite and lmdb, do not use a second connection to the same store from the thread that
 *    holds the lock through the first: its writes would wait for the lock forever.
 *  - Do not fork() while a connection holds the lock or is inside kv_export(): SQLite keeps its
 *    lock state per process, and a child would believe the parent's lock is its own.
 *  - memcached cannot enumerate: kv_count() and kv_export() return KV_ENOTSUP. Its counters are
 *    unsigned 64-bit: decrementing below zero stops at zero. It evicts entries when full.
 *  - redis enumerates with SCAN, which is not a snapshot: entries written during kv_export() may
 *    or may not be seen. kv_clear() and kv_count() act on the whole redis database (FLUSHDB,
 *    DBSIZE) and on the whole memcached cluster (flush_all).
 *  - lmdb keys are at most 511 bytes and memcached keys at most 250 bytes (KV_ETOOBIG beyond);
 *    memcached values are limited by the server's item size (-I, 1 MiB by default).
 *  - local: tables are private to their connection (and so to one process): two connections
 *    to `local:` do not share entries.
 *  - After KV_ECONN or KV_ETIMEDOUT from a network backend the connection is broken: every later
 *    call fails fast with KV_ECONN. Close it and open a new one. redis-cluster is the exception:
 *    it opens a failed node's connection again on next use and reloads its slot map, so that it
 *    rides through a failover (the call that met the failure still fails).
 *  - redis-cluster never sends a command that names keys of several slots (the cluster refuses
 *    them): kv_get_many and kv_set_many become one pipeline of single-key commands per node, so
 *    a batch is not atomic, and a failure may leave part of it written. kv_count, kv_clear and
 *    kv_export act on every primary in turn (DBSIZE, FLUSHDB, SCAN): not one atomic step and no
 *    snapshot (no KV_CAP_SNAPSHOT). The lock's key carries a hash tag ("{kv}:lock") so that it
 *    lives in one slot; it is the redis lock, held by one primary, and a failover that loses the
 *    key frees it. With ?replicas=read, reads go to replicas and may miss the latest writes
 *    (replication is asynchronous); kv_backend_version() says "reads from replicas".
 *    call fails fast with KV_ECONN. Close it and open a new one.
 *  - boost-ipc: its mutex (Boost.Interprocess 1.74) is not robust: a process killed while it holds
 *    it, in kv_lock() or inside any operation, leaves the store locked for every other process.
 *  - Cloudflare (adapters/cloudflare): no backend there has a lock (KV_ENOTSUP). On Workers KV
 *    (cloudflare-kv, cloudflare-rest with store=kv) kv_incr is a read-modify-write (no
 *    KV_CAP_ATOMIC_INCR: concurrent increments can be lost) and kv_del reads before it deletes;
 *    listing (kv_count, kv_clear, kv_export) is eventually consistent on the real service, and
 *    keys are at most 512 bytes as KV keys, values 25 MiB. On D1 a row is at most 2 MB, and
 *    kv_set_many sends requests of bounded size, each one D1 batch (one transaction): a failure
 *    leaves the earlier requests written.
 */
#ifndef KV_H
#define KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ud_errgen.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KV_BUILDING_LIBRARY)
#define KV_EXPORT __attribute__((visibility("default")))
#else
#define KV_EXPORT
#endif

/* The version of this interface (not of any backend). 1.1: kv_describe(), kv_describe_uri(),
 * kv_shared_uri(). */
#define KV_VERSION_MAJOR 1
#define KV_VERSION_MINOR 1
#define KV_VERSION_STRING "1.1"

/* Error codes: name, value, message. ud_errgen.h makes the enum, kv_strerror() and kv_errname(). */
#define KV_ERRNO_MAP(XX)                                                                           \
    XX(KV_ENOTFOUND, -2001, "key not found")                                                       \
    XX(KV_EINVAL, -2002, "invalid argument")                                                       \
    XX(KV_EURI, -2003, "malformed URI")                                                            \
    XX(KV_ESCHEME, -2004, "unknown URI scheme")                                                    \
    XX(KV_ENOTBUILT, -2005, "this adapter is not part of the build")                               \
    XX(KV_ENOTSUP, -2006, "the backend does not support this operation")                           \
    XX(KV_ECONNECT, -2007, "cannot connect to the server")                                         \
    XX(KV_ECONN, -2008, "the connection to the server is lost")                                    \
    XX(KV_ETIMEDOUT, -2009, "timed out")                                                           \
    XX(KV_EBUSY, -2010, "the lock is held by someone else")                                        \
    XX(KV_ELOCKED, -2011, "this connection already holds the lock")                                \
    XX(KV_ENOTLOCKED, -2012, "this connection does not hold the lock (or it expired)")             \
    XX(KV_ENOTNUM, -2013, "the value is not a decimal integer")                                    \
    XX(KV_EOVERFLOW, -2014, "integer overflow")                                                    \
    XX(KV_ETOOBIG, -2015, "key or value too large for this backend")                               \
    XX(KV_EFULL, -2016, "the store is full")                                                       \
    XX(KV_ESERVER, -2017, "the server reported an error")                                          \
    XX(KV_EPROTO, -2018, "unexpected reply from the server")                                       \
    XX(KV_EBACKEND, -2019, "the backend library reported an error")                                \
    XX(KV_ECORRUPT, -2020, "stored data is incomplete or corrupt")                                 \
    XX(KV_EVERSION, -2021, "unsupported format or interface version")

UD_ERRGEN_ENUM(KV_ERRNO_MAP);

/* A message for any return code of this library (0, KV_E* or -errno). Never NULL; static. */
KV_EXPORT const char *kv_strerror(int rc);
/* The symbolic name of a return code, e.g. "KV_ENOTFOUND" or "ECONNREFUSED". Never NULL. */
KV_EXPORT const char *kv_errname(int rc);

/*
 * A caller-owned, growable output buffer, the same shape as ud_buf. Start with KV_BUF_INIT; the
 * library grows `data` with realloc() and sets `len`. After a successful call data[len] is a NUL
 * byte (not counted in len), so textual values can be printed directly.
 */
typedef struct kv_buf {
    void *data;
    size_t len;
    size_t cap;
} kv_buf;

#define KV_BUF_INIT                                                                                \
    { NULL, 0, 0 }

/* Frees the memory of `b` and resets it to empty. Accepts NULL. */
KV_EXPORT void kv_buf_free(kv_buf *b);

/* A key of a batch read (kv_get_many). */
typedef struct kv_key {
    const void *key;
    size_t klen;
} kv_key;

/* An entry of a batch write (kv_set_many, kv_import). */
typedef struct kv_item {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} kv_item;

/*
 * Capabilities: what a backend does natively, so that a scenario can adapt or skip and a report
 * can print "n/a" instead of measuring an imitation.
 */
enum {
    /* kv_incr() is one atomic operation of the backend: concurrent increments never get lost. */
    KV_CAP_ATOMIC_INCR = 1u << 0,
    /* kv_lock() is the backend's own lock primitive (see the Caveats for what it excludes). */
    KV_CAP_LOCK = 1u << 1,
    /* kv_export() and kv_count() walk every entry exactly. */
    KV_CAP_ENUMERATE = 1u << 2,
    /* kv_export() reads one consistent point-in-time view (a read transaction, a local copy). */
    KV_CAP_SNAPSHOT = 1u << 3,
    /* Connections from several processes share the same entries. */
    KV_CAP_CROSS_PROCESS = 1u << 4,
    /* Entries survive when every process (and server) using them stops. */
    KV_CAP_PERSISTENT = 1u << 5,
    /* kv_get_many() and kv_set_many() are native: one round trip, transaction or record. */
    KV_CAP_BATCH = 1u << 6,
    /* kv_count() is available (and exact). */
    KV_CAP_COUNT = 1u << 7,
    /* Keeps nothing (null:): every call succeeds, reads return filler of the size last
     * written, not the value; a harness must not check what it reads back. */
    KV_CAP_DISCARDS = 1u << 8,
    /* kv_dump_native() and kv_load_native() use the backend's own whole-store dump. */
    KV_CAP_NATIVE_DUMP = 1u << 9,
};

/* Values of the `type` argument of kv_snapshot_fn; the same values as UD_TYPE_*. */
enum { KV_TYPE_BYTES = 0, KV_TYPE_DICT = 1 };

/* Pass as the timeout of kv_lock() to wait without a limit. */
#define KV_WAIT_FOREVER (-1.0)

/* The longest detail message kept on a connection, including the NUL. */
#define KV_ERRMSG_MAX 256

typedef struct kv_conn kv_conn;
typedef struct kv_methods kv_methods;

/*
 * Called by kv_export() for every entry. The pointers are valid only during the call. Returns 0
 * to go on; any other value stops the walk and becomes the return value of kv_export().
 */
typedef int (*kv_entry_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);

/*
 * The method table of a backend: one `static const` instance per adapter. Slots are only ever
 * appended; `version` says which slots exist, and the core checks it before it calls a slot newer
 * than version 1 (so an adapter written for an older interface keeps working). A NULL slot means
 * "not supported": the core returns KV_ENOTSUP, or, for the batch slots, runs the single-entry
 * operations in a loop. The core validates arguments before it calls a slot, and fills the
 * connection's detail message from kv_strerror() when a slot fails without leaving one.
 */
struct kv_methods {
    int version;      /* KV_METHODS_VERSION of the interface the adapter was written for */
    const char *name; /* the backend's name for reports: "sqlite", "redis", ... */

    /* ---- version 1 ---- */
    int (*close)(kv_conn *c); /* frees everything, including c */
    const char *(*backend_version)(kv_conn *c);
    int (*get)(kv_conn *c, const void *key, size_t klen, kv_buf *val);
    int (*set)(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen);
    int (*del)(kv_conn *c, const void *key, size_t klen);
    int (*incr)(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result);
    int (*lock)(kv_conn *c, double timeout);
    int (*unlock)(kv_conn *c);
    int (*count)(kv_conn *c, uint64_t *n);
    int (*clear)(kv_conn *c);
    int (*export_all)(kv_conn *c, kv_entry_fn fn, void *ctx);

    /* ---- version 2 ---- */
    int (*get_many)(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs);
    int (*set_many)(kv_conn *c, const kv_item *items, size_t n);

    /* ---- version 3 ---- */
    int (*dump_native)(kv_conn *c);
    int (*load_native)(kv_conn *c);

    /* ---- version 4 ---- */
    int (*del_many)(kv_conn *c, const kv_key *keys, size_t n); /* missing keys are no error */
};

/* The newest method-table version this core knows. */
#define KV_METHODS_VERSION 4

/*
 * The base of every connection; an adapter's connection struct embeds it as its first member.
 * Callers treat it as opaque and use the functions below.
 */
struct kv_conn {
    const kv_methods *methods;
    unsigned caps;              /* KV_CAP_* bits, fixed at open */
    char errmsg[KV_ERRMSG_MAX]; /* detail of the last failure, "" after a success */
    char *uri; /* the URI kv_open() was given (owned by the core; for kv_describe) */
};

/* ---- Opening and closing. ---- */

/*
 * Opens the backend named by `uri` (see the list at the top) and writes a new connection to *out.
 * Network backends connect (and check that the server answers) before this returns; file
 * backends create the file or folder if it does not exist.
 * Returns 0; KV_EURI (malformed URI or unknown parameter), KV_ESCHEME (unknown scheme),
 * KV_ENOTBUILT (the adapter was left out of this build), KV_ECONNECT (the server cannot be
 * reached within the connect timeout), KV_ETIMEDOUT, KV_ESERVER, KV_EBACKEND, or -errno.
 * *out is untouched on failure; the detail is then in kv_errmsg(NULL) for this thread.
 */
KV_EXPORT int kv_open(const char *uri, kv_conn **out);

/*
 * Closes the connection and frees everything it owns. A lock still held is released (on sqlite
 * and lmdb its transaction is rolled back). Accepts NULL. Returns 0 or the error of the backend
 * while closing (the connection is freed in every case).
 */
KV_EXPORT int kv_close(kv_conn *c);

/*
 * The detail of the last failure on `c`: a sentence naming what failed and why (never NULL, ""
 * after a success). Valid until the next call on `c`. With c == NULL: the detail of the last
 * failed kv_open() in the calling thread.
 */
KV_EXPORT const char *kv_errmsg(const kv_conn *c);

/* The KV_CAP_* bits of the connection. 0 for NULL. */
KV_EXPORT unsigned kv_caps(const kv_conn *c);

/*
 * The backend's name ("local", "ultradict", "sqlite", "lmdb", "redis", "memcached",
 * "cloudflare-kv", ...): the method table's `name`, static storage. "" for NULL.
 */
KV_EXPORT const char *kv_backend_name(const kv_conn *c);

/*
 * The version of the backend for the results: the server's version for servers, the library's
 * for embedded stores (e.g. "7.0.15 (hiredis 0.14.1)", "3.40.1"). Valid as long as `c`.
 */
KV_EXPORT const char *kv_backend_version(kv_conn *c);

/*
 * Writes a comma-separated list of the capability names in `caps` ("atomic_incr,lock,...") into
 * buf (at most len bytes, NUL-terminated). Returns buf.
 */
KV_EXPORT char *kv_caps_string(unsigned caps, char *buf, size_t len);

/*
 * 1 if kv_open() knows `scheme` ("sqlite", "redis+unix", ...) and the adapter is part of this
 * build, 0 otherwise.
 */
KV_EXPORT int kv_adapter_built(const char *scheme);

/* ---- What a backend is: for a harness and its reports, without knowing schemes. ---- */

/* The part a backend plays in a benchmark (kv_desc.role). */
enum {
    KV_ROLE_STORE = 0,    /* a store to measure */
    KV_ROLE_BASELINE = 1, /* the in-process baseline every store is compared with (local:) */
    KV_ROLE_FLOOR = 2,    /* keeps nothing: measures the harness itself (null:) */
};

/* The longest URI a kv_desc holds, with the NUL (longer ones are cut). */
#define KV_DESC_URI_MAX 1024

/*
 * What a backend says about itself (kv_describe(), kv_describe_uri()). Each adapter decides its
 * own fields: which parts of its URI are secret, which change from run to run, what it is.
 */
typedef struct kv_desc {
    char name[64];                  /* for reports: the method table's name ("sqlite", "redis") */
    char uri[KV_DESC_URI_MAX];      /* the URI with its secrets replaced by "***": safe to print */
    char identity[KV_DESC_URI_MAX]; /* `uri` without what changes from one run to the next (a
                                     * port, a temporary folder: each becomes "*"): equal
                                     * identities in two runs mean the same backend */
    int role;                       /* KV_ROLE_* */
    bool stand_in; /* a local stand-in for a remote service (Cloudflare's local runtime): its
                    * figures say little about the service itself */
    bool on_host;  /* the store lives in this host's memory or files (no server) */
    bool unnamed;  /* without a name in the URI each connection gets a private store of its own
                    * (kv_shared_uri() names it) */
} kv_desc;

/*
 * Describes the backend of connection c (from the URI it was opened with). Writes *out on
 * success only. Returns 0 or KV_EINVAL (c or out NULL).
 */
KV_EXPORT int kv_describe(const kv_conn *c, kv_desc *out);

/*
 * Describes the backend `uri` names without opening it (for a backend that cannot be reached:
 * its URI is still printed redacted). The name is the scheme's adapter's when it is part of the
 * build, else the scheme. Writes *out on success only. Returns 0, KV_EINVAL, KV_EURI (malformed)
 * or KV_ESCHEME (unknown scheme).
 */
KV_EXPORT int kv_describe_uri(const char *uri, kv_desc *out);

/*
 * Writes uri into out (len bytes, cut if longer) with the secrets any URI may carry hidden: the
 * password of a "//USER:PASSWORD@HOST" part and a "password=" parameter become "***". For text
 * kv_describe_uri() refuses (a malformed URI, an unknown scheme), which may still be printed.
 * Returns out ("" for a NULL uri).
 */
KV_EXPORT char *kv_redact_uri(const char *uri, char *out, size_t len);

/*
 * Writes to out (len bytes) a URI that every process given it reaches the same store with: uri
 * itself, or for an unnamed store (kv_desc.unnamed: ultradict:, boost-ipc:) uri with the name
 * TAG_SCHEME (tag: letters, digits and '_', unique per run, e.g. "udbench_PID_NONCE"). Returns 0,
 * KV_EINVAL, KV_EURI, KV_ESCHEME, or -ENAMETOOLONG (out is too small).
 */
KV_EXPORT int kv_shared_uri(const char *uri, const char *tag, char *out, size_t len);

/* ---- Single entries. ---- */

/* Copies the value of key into *val. Returns 0, KV_ENOTFOUND, or an error. */
KV_EXPORT int kv_get(kv_conn *c, const void *key, size_t klen, kv_buf *val);

/* Sets key to value, replacing any previous value. Returns 0 or an error. */
KV_EXPORT int kv_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen);

/* Removes key. Returns 0, KV_ENOTFOUND if it was absent, or an error. */
KV_EXPORT int kv_del(kv_conn *c, const void *key, size_t klen);

/*
 * Adds `by` (may be negative) to the decimal integer stored at key; a missing key counts from 0.
 * Writes the new value to *result if not NULL. Atomic where kv_caps() has KV_CAP_ATOMIC_INCR.
 * Returns 0, KV_ENOTNUM (the value is not a decimal integer), KV_EOVERFLOW, or an error.
 */
KV_EXPORT int kv_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result);

/* ---- The lock (one per store; see the Caveats). ---- */

/*
 * Takes the store's lock for this connection. `timeout` is in seconds: 0 tries once,
 * KV_WAIT_FOREVER (any negative value) waits without a limit. Not re-entrant.
 * Returns 0, KV_EBUSY (timeout 0 and the lock is taken), KV_ETIMEDOUT, KV_ELOCKED (this
 * connection already holds it), KV_ENOTSUP, or an error.
 */
KV_EXPORT int kv_lock(kv_conn *c, double timeout);

/*
 * Releases the lock (on sqlite and lmdb: commits the transaction). Returns 0, KV_ENOTLOCKED (not
 * held, or it expired and someone else may have taken it), or an error (the lock is released in
 * every case; a failed commit is rolled back).
 */
KV_EXPORT int kv_unlock(kv_conn *c);

/* ---- The whole store. ---- */

/*
 * Writes the number of entries to *n (untouched on failure). Returns 0, KV_ENOTSUP (without
 * KV_CAP_COUNT), or an error.
 */
KV_EXPORT int kv_count(kv_conn *c, uint64_t *n);

/*
 * Removes every entry (on redis the whole database, on memcached the whole cluster). Returns 0,
 * KV_ENOTSUP (the backend cannot), or an error.
 */
KV_EXPORT int kv_clear(kv_conn *c);

/*
 * Calls fn(ctx, ...) for every entry, in the backend's order (pointers valid during the call
 * only). Returns 0 after the last entry, KV_ENOTSUP (without KV_CAP_ENUMERATE), the first
 * non-zero return of fn (which stops the walk), or an error. See KV_CAP_SNAPSHOT for
 * consistency.
 */
KV_EXPORT int kv_export(kv_conn *c, kv_entry_fn fn, void *ctx);

/*
 * Writes `n` entries in batches of a bounded size (kv_set_many per batch), for loading a whole
 * dump. Not atomic as a whole: on failure some batches may have been written. Returns 0 or the
 * error of the first batch that failed.
 */
KV_EXPORT int kv_import(kv_conn *c, const kv_item *items, size_t n);

/*
 * The backend's own dump of the whole store, where kv_caps() has KV_CAP_NATIVE_DUMP (ultradict:
 * a full dump of the dict into shared memory, which also resets its stream). Returns 0,
 * KV_ENOTSUP (no native dump), or an error.
 */
KV_EXPORT int kv_dump_native(kv_conn *c);

/*
 * Reloads this connection's view of the store from the backend's latest native dump, discarding
 * what it held (ultradict: a forced load of the dump, then the updates after it). Returns 0,
 * KV_ENOTSUP, or an error.
 */
KV_EXPORT int kv_load_native(kv_conn *c);

/* ---- Batches (native where kv_caps() has KV_CAP_BATCH, a loop otherwise). ---- */

/*
 * Reads n keys. vals[i] (caller-owned, n of them) receives the value of keys[i] and rcs[i] is 0
 * or KV_ENOTFOUND. Returns 0 when the batch ran (then look at rcs), or an error for the whole
 * batch (then vals and rcs are unspecified).
 */
KV_EXPORT int kv_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs);

/*
 * Writes n entries as one batch: one transaction (sqlite, lmdb), one record (ultradict) or one
 * pipeline (redis). On transactional backends all or nothing; elsewhere a failure may leave a
 * prefix of the batch written. Returns 0 or an error.
 */
KV_EXPORT int kv_set_many(kv_conn *c, const kv_item *items, size_t n);

/*
 * Removes n keys as one batch: one transaction (sqlite, lmdb) or one command (redis); elsewhere
 * kv_del() in a loop. A key that is not there is not an error. Returns 0 or an error; on a
 * non-transactional backend a failure may leave some of the keys removed.
 */
KV_EXPORT int kv_del_many(kv_conn *c, const kv_key *keys, size_t n);

/* ---- Snapshots of an UltraDict to any backend. ---- */

/*
 * A snapshot stored in a backend under a key prefix P consists of
 *   P "manifest"               the current generation G, count, chunks, bytes and a 64-bit
 *                              checksum: format "kv-snapshot 2";
 *   P "gen/" G "/entry/" KEY   one key per entry, holding its value (a nested dict: its snapshot);
 *   P "gen/" G "/index/" N     the list of keys with their types, in chunks (N = 0, 1, ...);
 *   P "pending"                generations a save has begun or not finished removing.
 * A save writes a new generation beside the current one, switches the manifest (one set of one
 * key), then removes the old generation: killed at any moment, it leaves the old snapshot or the
 * new one, whole, and the next save removes what it left. A reader reads one generation only.
 * One save at a time per prefix: two concurrent saves may remove each other's generation.
 * Format-1 snapshots (entries under P "entry/", index under P "index/") are still read, and the
 * next save replaces them.
 */
typedef struct kv_manifest {
    uint64_t count;      /* entries */
    uint64_t bytes;      /* total bytes of keys and values */
    uint64_t checksum;   /* FNV-1a 64 over (klen, key, vlen, value, type) of every entry in order */
    uint64_t chunks;     /* index chunks */
    char generation[24]; /* G: 16 hex digits; "" for a format-1 snapshot */
} kv_manifest;

/*
 * Called for every entry of a snapshot: the same signature as ud_snapshot_fn (type is
 * KV_TYPE_BYTES or KV_TYPE_DICT). Pointers are valid only during the call. Returns 0 to go on.
 */
typedef int (*kv_snapshot_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                              int type);

/*
 * A source of entries for kv_save_entries_from(): calls fn(fn_ctx, ...) for every entry and
 * returns 0, or the first non-zero value fn returned, or its own error. ud_snapshot_foreach()
 * has this shape.
 */
typedef int (*kv_source_fn)(const void *src, size_t srclen, kv_snapshot_fn fn, void *fn_ctx);

/*
 * Writes every entry of an UltraDict snapshot (the bytes of ud_save()) to `c` under `prefix`
 * (borrowed; may be "" but a prefix such as "ultradict/NAME/" is wise), in batches, then the
 * index and the manifest, then removes the entries of a previous save under the same prefix that
 * this one does not have. Fills *m (may be NULL). Returns 0, KV_ECORRUPT or KV_EVERSION (the
 * bytes are not a snapshot UltraDict can read; the detail names UltraDict's error), KV_ETOOBIG
 * (an entry does not fit the backend), KV_ENOTBUILT (built without the ultradict adapter), or
 * the backend's error. A failure or a crash part-way leaves the earlier snapshot under the prefix
 * as it was (or, once the manifest has switched, the new one): a reader never sees a mix. An
 * error after the switch (removing the old generation) is returned too; the new snapshot is
 * then in place, and the next save removes what is left.
 */
KV_EXPORT int kv_save_entries(kv_conn *c, const char *prefix, const void *snapshot, size_t len,
                              kv_manifest *m);

/*
 * Like kv_save_entries(), with the entries produced by `source` from (src, srclen), both
 * borrowed for the call; the bytes are not verified first. Returns what kv_save_entries()
 * returns (but KV_ENOTBUILT), KV_EINVAL (prefix or source NULL), or the first non-zero value
 * of `source` (then the earlier snapshot stays current).
 */
KV_EXPORT int kv_save_entries_from(kv_conn *c, const char *prefix, kv_source_fn source,
                                   const void *src, size_t srclen, kv_manifest *m);

/*
 * Reads the snapshot stored under `prefix`, verifies it completely (every indexed entry present,
 * count and checksum equal to the manifest), and only then calls fn for every entry in the
 * order of the save. Holds the whole snapshot in memory meanwhile. Fills *m (may be NULL) once
 * the snapshot is verified. A snapshot replaced by a save while it is read is read again (up to
 * three times), so a reader gets the old snapshot or the new one, never a mix.
 * Returns 0; KV_ENOTFOUND (no manifest under prefix); KV_ECORRUPT (a missing entry or index
 * chunk, a count or checksum mismatch: nothing was passed to fn); KV_EVERSION (unknown manifest
 * format); the first non-zero return of fn; or the backend's error.
 */
KV_EXPORT int kv_load_entries(kv_conn *c, const char *prefix, kv_snapshot_fn fn, void *ctx,
                              kv_manifest *m);

#ifdef __cplusplus
}
#endif

#endif /* KV_H */
