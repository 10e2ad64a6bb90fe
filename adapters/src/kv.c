/*
 * kv.c - the core of the interface: picks an adapter by URI scheme, validates arguments, checks
 * the method-table version before it calls a slot, and keeps the detail messages.
 */
#include "kv_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef KV_HAVE_ULTRADICT
#define KV__ULTRADICT_OPEN kv__ultradict_open
#define KV__ULTRADICT_DESCRIBE kv__ultradict_describe
#else
#define KV__ULTRADICT_OPEN NULL
#define KV__ULTRADICT_DESCRIBE NULL
#endif
#ifdef KV_HAVE_SQLITE
#define KV__SQLITE_OPEN kv__sqlite_open
#define KV__SQLITE_DESCRIBE kv__sqlite_describe
#else
#define KV__SQLITE_OPEN NULL
#define KV__SQLITE_DESCRIBE NULL
#endif
#ifdef KV_HAVE_LMDB
#define KV__LMDB_OPEN kv__lmdb_open
#define KV__LMDB_DESCRIBE kv__lmdb_describe
#else
#define KV__LMDB_OPEN NULL
#define KV__LMDB_DESCRIBE NULL
#endif
#ifdef KV_HAVE_REDIS
#define KV__REDIS_OPEN kv__redis_open
#define KV__REDIS_DESCRIBE kv__redis_describe
#else
#define KV__REDIS_OPEN NULL
#define KV__REDIS_DESCRIBE NULL
#endif
#ifdef KV_HAVE_REDIS_CLUSTER
#define KV__REDIS_CLUSTER_OPEN kv__redis_cluster_open
#define KV__REDIS_CLUSTER_DESCRIBE kv__redis_cluster_describe
#else
#define KV__REDIS_CLUSTER_OPEN NULL
#define KV__REDIS_CLUSTER_DESCRIBE NULL
#endif
#ifdef KV_HAVE_MEMCACHED
#define KV__MEMCACHED_OPEN kv__memcached_open
#define KV__MEMCACHED_DESCRIBE kv__memcached_describe
#else
#define KV__MEMCACHED_OPEN NULL
#define KV__MEMCACHED_DESCRIBE NULL
#endif
#ifdef KV_HAVE_BOOST_IPC
#define KV__BOOST_IPC_OPEN kv__boost_ipc_open
#define KV__BOOST_IPC_DESCRIBE kv__boost_ipc_describe
#else
#define KV__BOOST_IPC_OPEN NULL
#define KV__BOOST_IPC_DESCRIBE NULL
#endif
#ifdef KV_HAVE_CLOUDFLARE
#define KV__CLOUDFLARE_OPEN kv__cloudflare_open
#define KV__CLOUDFLARE_DESCRIBE kv__cloudflare_describe
#else
#define KV__CLOUDFLARE_OPEN NULL
#define KV__CLOUDFLARE_DESCRIBE NULL
#endif

/*
 * Every scheme kv_open() knows. A scheme whose adapter was left out of the build stays in the
 * table with a NULL open function, so that the user learns "not built" rather than "unknown".
 */
static const struct {
    const char *scheme;
    kv__open_fn open;
    kv__describe_fn describe;
    const char *option; /* the CMake option that controls it */
} adapters[] = {
    {"local", kv__local_open, kv__local_describe, NULL},
    {"null", kv__null_open, kv__null_describe, NULL},
    {"ultradict", KV__ULTRADICT_OPEN, KV__ULTRADICT_DESCRIBE, "KV_ULTRADICT"},
    {"sqlite", KV__SQLITE_OPEN, KV__SQLITE_DESCRIBE, "KV_SQLITE"},
    {"lmdb", KV__LMDB_OPEN, KV__LMDB_DESCRIBE, "KV_LMDB"},
    {"redis", KV__REDIS_OPEN, KV__REDIS_DESCRIBE, "KV_REDIS"},
    {"redis+unix", KV__REDIS_OPEN, KV__REDIS_DESCRIBE, "KV_REDIS"},
    {"redis-cluster", KV__REDIS_CLUSTER_OPEN, KV__REDIS_CLUSTER_DESCRIBE, "KV_REDIS_CLUSTER"},
    {"memcached", KV__MEMCACHED_OPEN, KV__MEMCACHED_DESCRIBE, "KV_MEMCACHED"},
    {"boost-ipc", KV__BOOST_IPC_OPEN, KV__BOOST_IPC_DESCRIBE, "KV_BOOST_IPC"},
    {"cloudflare-kv", KV__CLOUDFLARE_OPEN, KV__CLOUDFLARE_DESCRIBE, "KV_CLOUDFLARE"},
    {"cloudflare-kv+https", KV__CLOUDFLARE_OPEN, KV__CLOUDFLARE_DESCRIBE, "KV_CLOUDFLARE"},
    {"cloudflare-d1", KV__CLOUDFLARE_OPEN, KV__CLOUDFLARE_DESCRIBE, "KV_CLOUDFLARE"},
    {"cloudflare-d1+https", KV__CLOUDFLARE_OPEN, KV__CLOUDFLARE_DESCRIBE, "KV_CLOUDFLARE"},
    {"cloudflare-rest", KV__CLOUDFLARE_OPEN, KV__CLOUDFLARE_DESCRIBE, "KV_CLOUDFLARE"},
    {"cloudflare-rest+https", KV__CLOUDFLARE_OPEN, KV__CLOUDFLARE_DESCRIBE, "KV_CLOUDFLARE"},
};

#define NADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

/* The detail of the last failed kv_open() of each thread: there is no connection to hold it. */
static _Thread_local char open_errmsg[KV_ERRMSG_MAX];

/* Batches of kv_import(): bounded so that one round trip or transaction stays reasonable. */
#define IMPORT_BATCH_ITEMS 1000
#define IMPORT_BATCH_BYTES (4u << 20)

UD_ERRGEN_FUNCTIONS(KV_ERRNO_MAP, kv_strerror, kv_errname)

void kv_buf_free(kv_buf *b) {
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int kv_adapter_built(const char *scheme) {
    if (!scheme)
        return 0;
    for (size_t i = 0; i < NADAPTERS; i++)
        if (strcasecmp(adapters[i].scheme, scheme) == 0)
            return adapters[i].open != NULL;
    return 0;
}

int kv_open(const char *uri, kv_conn **out) {
    kv__uri u;
    kv_conn *c = NULL;
    int rc;

    open_errmsg[0] = '\0';
    if (!uri || !out)
        return kv__errbuf(open_errmsg, sizeof(open_errmsg), KV_EINVAL,
                          "kv_open: uri and out must not be NULL");
    rc = kv__uri_parse(uri, &u, open_errmsg, sizeof(open_errmsg));
    if (rc < 0)
        return rc;

    size_t i;
    for (i = 0; i < NADAPTERS; i++)
        if (strcasecmp(adapters[i].scheme, u.scheme) == 0)
            break;
    if (i == NADAPTERS) {
        /* The list comes from the table, so that it names every scheme there is. */
        char known[256] = "";
        for (size_t j = 0, used = 0; j < NADAPTERS && used < sizeof(known); j++) {
            int n = snprintf(known + used, sizeof(known) - used, "%s%s", j ? ", " : "",
                             adapters[j].scheme);
            used += n > 0 ? (size_t)n : 0;
        }
        rc = kv__errbuf(open_errmsg, sizeof(open_errmsg), KV_ESCHEME,
                        "unknown URI scheme '%s' in '%.64s' (known: %s)", u.scheme, uri, known);
        goto fail;
    }
    if (!adapters[i].open) {
        rc = kv__errbuf(open_errmsg, sizeof(open_errmsg), KV_ENOTBUILT,
                        "the %s adapter is not part of this build (CMake option %s, or its "
                        "library was not found)",
                        adapters[i].scheme, adapters[i].option);
        goto fail;
    }
    char *copy = strdup(uri);
    if (!copy) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = adapters[i].open(&u, &c, open_errmsg, sizeof(open_errmsg));
    if (rc < 0) {
        free(copy);
        goto fail;
    }
    c->errmsg[0] = '\0';
    c->uri = copy;
    kv__uri_free(&u);
    *out = c;
    return 0;

fail:
    if (open_errmsg[0] == '\0')
        kv__errbuf(open_errmsg, sizeof(open_errmsg), rc, "%s: %s", uri, kv_strerror(rc));
    kv__uri_free(&u);
    return rc;
}

int kv_close(kv_conn *c) {
    if (!c)
        return 0;
    free(c->uri);
    c->uri = NULL;
    return c->methods->close(c);
}

int kv__scheme_describe(const char *scheme, kv__describe_fn *fn) {
    for (size_t i = 0; i < NADAPTERS; i++) {
        if (strcasecmp(adapters[i].scheme, scheme) == 0) {
            *fn = adapters[i].describe;
            return 0;
        }
    }
    return KV_ESCHEME;
}

const char *kv_errmsg(const kv_conn *c) {
    return c ? c->errmsg : open_errmsg;
}

unsigned kv_caps(const kv_conn *c) {
    return c ? c->caps : 0;
}

const char *kv_backend_name(const kv_conn *c) {
    return c ? c->methods->name : "";
}

const char *kv_backend_version(kv_conn *c) {
    if (!c || !c->methods->backend_version)
        return "";
    return c->methods->backend_version(c);
}

char *kv_caps_string(unsigned caps, char *buf, size_t len) {
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {KV_CAP_ATOMIC_INCR, "atomic_incr"},
        {KV_CAP_LOCK, "lock"},
        {KV_CAP_ENUMERATE, "enumerate"},
        {KV_CAP_SNAPSHOT, "snapshot"},
        {KV_CAP_CROSS_PROCESS, "cross_process"},
        {KV_CAP_PERSISTENT, "persistent"},
        {KV_CAP_BATCH, "batch"},
        {KV_CAP_COUNT, "count"},
        {KV_CAP_DISCARDS, "discards"},
        {KV_CAP_NATIVE_DUMP, "native_dump"},
    };
    size_t used = 0;

    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(caps & names[i].bit))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", names[i].name);
        if (n < 0 || (size_t)n >= len - used) {
            buf[used] = '\0'; /* whole names only */
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

/*
 * Every wrapper starts by clearing the detail and ends through finish(), which supplies a generic
 * detail when the adapter failed without writing one: kv_errmsg() is never empty after a failure.
 */
static void begin(kv_conn *c) {
    c->errmsg[0] = '\0';
}

static int finish(kv_conn *c, int rc) {
    if (rc < 0 && c->errmsg[0] == '\0')
        kv__error(c, rc, "%s: %s", c->methods->name, kv_strerror(rc));
    return rc;
}

static int check_key(kv_conn *c, const void *key, size_t klen) {
    if (!key || klen == 0)
        return kv__error(c, KV_EINVAL, "keys must be 1 or more bytes");
    return 0;
}

#define CHECK_CONN(c)                                                                              \
    do {                                                                                           \
        if (!(c))                                                                                  \
            return KV_EINVAL;                                                                      \
        begin(c);                                                                                  \
    } while (0)

#define NOT_SUPPORTED(c, what)                                                                     \
    kv__error((c), KV_ENOTSUP, "%s: %s is not supported by this backend", (c)->methods->name,      \
              (what))

int kv_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    CHECK_CONN(c);
    if (check_key(c, key, klen) < 0 || !val)
        return finish(c, KV_EINVAL);
    return finish(c, c->methods->get(c, key, klen, val));
}

int kv_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    CHECK_CONN(c);
    if (check_key(c, key, klen) < 0)
        return finish(c, KV_EINVAL);
    if (!val && vlen)
        return kv__error(c, KV_EINVAL, "value is NULL but its length is %zu", vlen);
    /* Adapters never see a NULL value: several client libraries treat NULL as "no value". */
    return finish(c, c->methods->set(c, key, klen, val ? val : "", vlen));
}

int kv_del(kv_conn *c, const void *key, size_t klen) {
    CHECK_CONN(c);
    if (check_key(c, key, klen) < 0)
        return finish(c, KV_EINVAL);
    return finish(c, c->methods->del(c, key, klen));
}

int kv_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    CHECK_CONN(c);
    if (check_key(c, key, klen) < 0)
        return finish(c, KV_EINVAL);
    if (!c->methods->incr)
        return NOT_SUPPORTED(c, "incr");
    int64_t r = 0;
    int rc = c->methods->incr(c, key, klen, by, &r);
    if (rc == 0 && result)
        *result = r;
    return finish(c, rc);
}

int kv_lock(kv_conn *c, double timeout) {
    CHECK_CONN(c);
    if (!c->methods->lock)
        return NOT_SUPPORTED(c, "lock");
    if (timeout < 0)
        timeout = KV_WAIT_FOREVER;
    return finish(c, c->methods->lock(c, timeout));
}

/* An optional method that takes only the connection, or KV_ENOTSUP naming `what`. */
static int call_plain(kv_conn *c, int (*method)(kv_conn *), const char *what) {
    return method ? finish(c, method(c)) : NOT_SUPPORTED(c, what);
}

int kv_unlock(kv_conn *c) {
    CHECK_CONN(c);
    return call_plain(c, c->methods->unlock, "unlock");
}

int kv_count(kv_conn *c, uint64_t *n) {
    CHECK_CONN(c);
    if (!n)
        return kv__error(c, KV_EINVAL, "kv_count: n must not be NULL");
    if (!c->methods->count)
        return NOT_SUPPORTED(c, "count");
    return finish(c, c->methods->count(c, n));
}

int kv_clear(kv_conn *c) {
    CHECK_CONN(c);
    return call_plain(c, c->methods->clear, "clear");
}

int kv_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    CHECK_CONN(c);
    if (!fn)
        return kv__error(c, KV_EINVAL, "kv_export: fn must not be NULL");
    if (!c->methods->export_all)
        return NOT_SUPPORTED(c, "enumeration");
    return finish(c, c->methods->export_all(c, fn, ctx));
}

int kv_dump_native(kv_conn *c) {
    CHECK_CONN(c);
    if (c->methods->version < 3 || !c->methods->dump_native)
        return NOT_SUPPORTED(c, "a native dump");
    return finish(c, c->methods->dump_native(c));
}

int kv_load_native(kv_conn *c) {
    CHECK_CONN(c);
    if (c->methods->version < 3 || !c->methods->load_native)
        return NOT_SUPPORTED(c, "a native load");
    return finish(c, c->methods->load_native(c));
}

int kv_get_many(kv_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    CHECK_CONN(c);
    if (n == 0)
        return 0;
    if (!keys || !vals || !rcs)
        return kv__error(c, KV_EINVAL, "kv_get_many: keys, vals and rcs must not be NULL");
    for (size_t i = 0; i < n; i++)
        if (check_key(c, keys[i].key, keys[i].klen) < 0)
            return finish(c, KV_EINVAL);
    if (c->methods->version >= 2 && c->methods->get_many)
        return finish(c, c->methods->get_many(c, keys, n, vals, rcs));
    for (size_t i = 0; i < n; i++) {
        int rc = c->methods->get(c, keys[i].key, keys[i].klen, &vals[i]);
        if (rc < 0 && rc != KV_ENOTFOUND)
            return finish(c, rc);
        rcs[i] = rc;
    }
    c->errmsg[0] = '\0';
    return 0;
}

/* The checks of a batch write by fn (items given, keys of 1 or more bytes, no NULL value with a
 * length): 0, or KV_EINVAL with the detail. */
static int check_items(kv_conn *c, const char *fn, const kv_item *items, size_t n) {
    if (!items)
        return kv__error(c, KV_EINVAL, "%s: items must not be NULL", fn);
    for (size_t i = 0; i < n; i++) {
        if (check_key(c, items[i].key, items[i].klen) < 0)
            return KV_EINVAL;
        if (!items[i].val && items[i].vlen)
            return kv__error(c, KV_EINVAL, "item %zu: value is NULL but its length is %zu", i,
                             items[i].vlen);
    }
    return 0;
}

/* Calls the native batch write, or the single write in a loop; items are already checked. */
static int set_many_unchecked(kv_conn *c, const kv_item *items, size_t n) {
    if (c->methods->version >= 2 && c->methods->set_many)
        return c->methods->set_many(c, items, n);
    for (size_t i = 0; i < n; i++) {
        int rc = c->methods->set(c, items[i].key, items[i].klen, items[i].val ? items[i].val : "",
                                 items[i].vlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int kv_set_many(kv_conn *c, const kv_item *items, size_t n) {
    CHECK_CONN(c);
    if (n == 0)
        return 0;
    int rc = check_items(c, "kv_set_many", items, n);
    return finish(c, rc ? rc : set_many_unchecked(c, items, n));
}

int kv_del_many(kv_conn *c, const kv_key *keys, size_t n) {
    CHECK_CONN(c);
    if (n == 0)
        return 0;
    if (!keys)
        return kv__error(c, KV_EINVAL, "kv_del_many: keys must not be NULL");
    for (size_t i = 0; i < n; i++)
        if (check_key(c, keys[i].key, keys[i].klen) < 0)
            return finish(c, KV_EINVAL);
    if (c->methods->version >= 4 && c->methods->del_many)
        return finish(c, c->methods->del_many(c, keys, n));
    for (size_t i = 0; i < n; i++) {
        int rc = c->methods->del(c, keys[i].key, keys[i].klen);
        if (rc < 0 && rc != KV_ENOTFOUND)
            return finish(c, rc);
    }
    c->errmsg[0] = '\0';
    return 0;
}

int kv_import(kv_conn *c, const kv_item *items, size_t n) {
    CHECK_CONN(c);
    int rc = n ? check_items(c, "kv_import", items, n) : 0;
    for (size_t start = 0, end; start < n && rc >= 0; start = end) {
        size_t bytes = 0;
        for (end = start; end < n && end - start < IMPORT_BATCH_ITEMS && bytes < IMPORT_BATCH_BYTES;
             end++)
            bytes += items[end].klen + items[end].vlen;
        rc = set_many_unchecked(c, items + start, end - start);
    }
    return rc < 0 ? finish(c, rc) : 0;
}
