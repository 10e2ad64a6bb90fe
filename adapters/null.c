/*
 * null.c - the `null:` adapter: keeps nothing and does nothing, and every call succeeds.
 *
 * It measures the harness: a benchmark run against null: times everything but a backend.
 * A read returns a fixed value (zero bytes) of the size given by `null:?size=N`, or, without
 * it, of the size of the last value written on this connection; the buffer is only written
 * when that size changes, so a read costs what returning a value of that size costs a caller
 * whose buffer already holds it. kv_caps() has KV_CAP_DISCARDS: what is read back is not what
 * was written, and must not be checked.
 *
 * It keeps the minimum that lets every scenario run its loop against it, so that each scenario
 * has a harness floor: kv_incr() succeeds and reports `by` (no counter is kept, so lost updates
 * cannot be judged), and kv_export() calls back one entry per value written since the last
 * clear (null: knows no keys: a key written twice is counted twice), each with the same 11-byte
 * key and a zeroed value of the current read size.
 */
#include "kv_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct null_conn {
    kv_conn base;
    bool fixed;  /* size came from the URI */
    size_t size; /* the size of what reads return */
    bool locked;
    uint64_t written; /* values written since the last clear: what an export calls back */
    char *zero;       /* `zero_len` zero bytes, the value of exported entries */
    size_t zero_len;
} null_conn;

static int null_close(kv_conn *c) {
    free(((null_conn *)c)->zero);
    free(c);
    return 0;
}

static int null_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    (void)key;
    (void)klen;
    size_t n = ((null_conn *)c)->size;
    if (val->len != n || !val->data) {
        int rc = kv__buf_reserve(val, n);
        if (rc)
            return rc;
        memset(val->data, 0, n + 1);
        val->len = n;
    }
    return 0;
}

static int null_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    (void)val;
    null_conn *nc = (null_conn *)c;
    if (!nc->fixed)
        nc->size = vlen;
    nc->written++;
    return 0;
}

static int null_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    (void)c;
    (void)key;
    (void)klen;
    *result = by;
    return 0;
}

static int null_del(kv_conn *c, const void *key, size_t klen) {
    (void)c;
    (void)key;
    (void)klen;
    return 0;
}

/* Nothing is stored, so the lock only guards against re-entry, as local:'s does. */
static int null_lock(kv_conn *c, double timeout) {
    (void)timeout;
    return kv__flag_lock(&((null_conn *)c)->locked);
}

static int null_unlock(kv_conn *c) {
    return kv__flag_unlock(&((null_conn *)c)->locked);
}

static int null_clear(kv_conn *c) {
    ((null_conn *)c)->written = 0;
    return 0;
}

static int null_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    null_conn *nc = (null_conn *)c;
    if (nc->zero_len != nc->size || !nc->zero) {
        char *z = calloc(1, nc->size ? nc->size : 1);
        if (!z)
            return -ENOMEM;
        free(nc->zero);
        nc->zero = z;
        nc->zero_len = nc->size;
    }
    /* One fixed key: making a key per entry would be work no real export does. */
    static const char key[11] = {'k', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0'};
    for (uint64_t i = 0; i < nc->written; i++) {
        int rc = fn(ctx, key, sizeof key, nc->zero, nc->zero_len);
        if (rc)
            return rc;
    }
    return 0;
}

static int null_set_many(kv_conn *c, const kv_item *items, size_t n) {
    null_conn *nc = (null_conn *)c;
    if (n && !nc->fixed)
        nc->size = items[n - 1].vlen;
    nc->written += n;
    return 0;
}

static const kv_methods null_methods = {
    .version = 2,
    .name = "null",
    .close = null_close,
    .backend_version = kv__core_version,
    .get = null_get,
    .set = null_set,
    .del = null_del,
    .incr = null_incr,
    .lock = null_lock,
    .unlock = null_unlock,
    .clear = null_clear,
    .export_all = null_export,
    .set_many = null_set_many,
};

int kv__null_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    if (u->body[0] != '\0')
        return kv__errbuf(err, errlen, KV_EURI,
                          "'%s': the null adapter takes no path (use 'null:' or 'null:?size=N')",
                          u->text);
    uint64_t size = 0;
    bool fixed = kv__uri_param(u, "size") != NULL;
    int rc = kv__uri_size(u, "size", 0, &size, err, errlen);
    if (rc < 0)
        return rc;
    if (size > (64ull << 20))
        return kv__errbuf(err, errlen, KV_EURI, "'%s': size is at most 64M", u->text);
    if ((rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;
    null_conn *nc = calloc(1, sizeof(*nc));
    if (!nc)
        return -ENOMEM;
    nc->base.methods = &null_methods;
    nc->base.caps = KV_CAP_DISCARDS | KV_CAP_ATOMIC_INCR | KV_CAP_ENUMERATE;
    nc->fixed = fixed;
    nc->size = (size_t)size;
    *out = &nc->base;
    return 0;
}

/* The floor: what the harness costs without a backend. */
void kv__null_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    d->role = KV_ROLE_FLOOR;
    d->on_host = true;
}
