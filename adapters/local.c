/*
 * local.c - the `local:` adapter: a private in-process hash table, the "plain dict" baseline.
 *
 * Nothing is shared and nothing is persistent; every operation is a lookup in kv__table plus the
 * copy the interface demands. The method table is written against version 1 of the interface,
 * so batches go through the core's loop (and the version check is exercised on every build).
 */
#include "kv_internal.h"

#include <errno.h>
#include <stdlib.h>

typedef struct local_conn {
    kv_conn base;
    kv__table *table;
    bool locked;
} local_conn;

static int local_close(kv_conn *c) {
    local_conn *lc = (local_conn *)c;
    kv__table_free(lc->table);
    free(lc);
    return 0;
}

static int local_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    const void *v;
    size_t vlen;
    int rc = kv__table_get(((local_conn *)c)->table, key, klen, &v, &vlen);
    if (rc < 0)
        return rc;
    return kv__buf_set(val, v, vlen);
}

static int local_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    return kv__table_set(((local_conn *)c)->table, key, klen, val, vlen);
}

static int local_del(kv_conn *c, const void *key, size_t klen) {
    return kv__table_del(((local_conn *)c)->table, key, klen);
}

static int local_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    local_conn *lc = (local_conn *)c;
    const void *v;
    size_t vlen;
    int64_t cur = 0;
    char num[24];

    int rc = kv__table_get(lc->table, key, klen, &v, &vlen);
    if (rc == 0 && (rc = kv__parse_i64(v, vlen, &cur)) < 0)
        return kv__error(c, rc, "local: the value is %s",
                         rc == KV_ENOTNUM ? "not a decimal integer" : "out of range");
    if (kv__add_i64(cur, by, &cur) < 0)
        return kv__error(c, KV_EOVERFLOW, "local: %lld + %lld overflows", (long long)cur,
                         (long long)by);
    rc = kv__table_set(lc->table, key, klen, num, kv__format_i64(cur, num));
    if (rc == 0)
        *result = cur;
    return rc;
}

/* The table belongs to this connection alone, so the lock only guards against re-entry. */
static int local_lock(kv_conn *c, double timeout) {
    (void)timeout;
    return kv__flag_lock(&((local_conn *)c)->locked);
}

static int local_unlock(kv_conn *c) {
    return kv__flag_unlock(&((local_conn *)c)->locked);
}

static int local_count(kv_conn *c, uint64_t *n) {
    *n = kv__table_count(((local_conn *)c)->table);
    return 0;
}

static int local_clear(kv_conn *c) {
    kv__table_clear(((local_conn *)c)->table);
    return 0;
}

static int local_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    return kv__table_foreach(((local_conn *)c)->table, fn, ctx);
}

static const kv_methods local_methods = {
    .version = 1,
    .name = "local",
    .close = local_close,
    .backend_version = kv__core_version,
    .get = local_get,
    .set = local_set,
    .del = local_del,
    .incr = local_incr,
    .lock = local_lock,
    .unlock = local_unlock,
    .count = local_count,
    .clear = local_clear,
    .export_all = local_export,
};

int kv__local_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    if (u->body[0] != '\0')
        return kv__errbuf(err, errlen, KV_EURI,
                          "'%s': the local adapter takes no path (use 'local:')", u->text);
    int rc = kv__uri_check_unused(u, err, errlen);
    if (rc < 0)
        return rc;

    local_conn *lc = calloc(1, sizeof(*lc));
    if (!lc)
        return -ENOMEM;
    rc = kv__table_new(&lc->table);
    if (rc < 0) {
        free(lc);
        return rc;
    }
    lc->base.methods = &local_methods;
    lc->base.caps =
        KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_SNAPSHOT | KV_CAP_COUNT;
    *out = &lc->base;
    return 0;
}

/* The in-process baseline every store is compared with. */
void kv__local_describe(kv__uri *u, kv_desc *d) {
    (void)u;
    d->role = KV_ROLE_BASELINE;
    d->on_host = true;
}
