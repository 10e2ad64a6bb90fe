/*
 * ultradict.c - the `ultradict:[NAME]` adapter: the C UltraDict through its public header only.
 *
 * Parameters (see ud_options in ultradict.h): buffer_size=SIZE, full_dump_size=SIZE,
 * lock=mutex|spin, create=any|only|attach, unlink=default|on|off. Without a NAME the dict gets a
 * random name, which only this connection knows: use a name to share it between processes.
 */
#include "kv_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ultradict.h>

typedef struct ultradict_conn {
    kv_conn base;
    ud_dict *d;
    bool locked;
} ultradict_conn;

int kv__ud_error(int urc) {
    switch (urc) {
    case 0:
        return 0;
    case UD_ENOTFOUND:
        return KV_ENOTFOUND;
    case UD_ENOENT:
        return -ENOENT;
    case UD_EEXIST:
        return -EEXIST;
    case UD_EBUSY:
        return KV_EBUSY;
    case UD_ETIMEDOUT:
        return KV_ETIMEDOUT;
    case UD_ENOTNUM:
        return KV_ENOTNUM;
    case UD_EOVERFLOW:
        return KV_EOVERFLOW;
    case UD_ETOOBIG:
        return KV_ETOOBIG;
    case UD_EDUMPFULL:
        return KV_EFULL;
    case UD_EINVAL:
    case UD_ENAME:
    case UD_EMISMATCH:
        return KV_EINVAL;
    case UD_ENOTLOCKED:
        return KV_ENOTLOCKED;
    case UD_EVERSION:
        return KV_EVERSION;
    case UD_EBADMAGIC:
    case UD_ECORRUPT:
        return KV_ECORRUPT;
    default:
        /* -errno passes through; every other UltraDict code is the library's own business. */
        return urc > -1000 && urc < 0 ? urc : KV_EBACKEND;
    }
}

/* The detail keeps UltraDict's own words and the dict's name. */
static int fail(ultradict_conn *uc, int urc, const char *what) {
    int rc = kv__ud_error(urc);
    if (rc == KV_ENOTFOUND)
        return rc;
    return kv__error(&uc->base, rc, "ultradict %s: %s (%s, dict '%s')", what, ud_strerror(urc),
                     ud_errname(urc), ud_name(uc->d));
}

/* ud_get() and friends fill a ud_buf: lend them the kv_buf's memory (both use realloc). */
static int with_udbuf(kv_buf *b, int urc, ud_buf *ub) {
    b->data = ub->data;
    b->cap = ub->cap;
    b->len = urc == 0 ? ub->len : 0;
    return urc;
}

static int ultradict_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    ultradict_conn *uc = (ultradict_conn *)c;
    ud_buf ub = {val->data, 0, val->cap};
    int urc = with_udbuf(val, ud_get(uc->d, key, klen, &ub), &ub);
    return urc ? fail(uc, urc, "get") : 0;
}

static int ultradict_set(kv_conn *c, const void *key, size_t klen, const void *val, size_t vlen) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int urc = ud_set(uc->d, key, klen, val, vlen);
    return urc ? fail(uc, urc, "set") : 0;
}

static int ultradict_del(kv_conn *c, const void *key, size_t klen) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int urc = ud_del(uc->d, key, klen);
    return urc ? fail(uc, urc, "del") : 0;
}

static int ultradict_incr(kv_conn *c, const void *key, size_t klen, int64_t by, int64_t *result) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int urc = ud_incr(uc->d, key, klen, by, result);
    return urc ? fail(uc, urc, "incr") : 0;
}

static int ultradict_lock(kv_conn *c, double timeout) {
    ultradict_conn *uc = (ultradict_conn *)c;
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;

    /* ud_lock() is re-entrant; the kv lock is not, so that every backend behaves alike. */
    if (uc->locked)
        return KV_ELOCKED;
    if (timeout == 0)
        o.nonblock = true;
    else if (timeout > 0)
        o.timeout = timeout;
    int urc = ud_lock(uc->d, &o);
    if (urc)
        return fail(uc, urc, "lock");
    uc->locked = true;
    return 0;
}

static int ultradict_unlock(kv_conn *c) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int rc = kv__flag_unlock(&uc->locked);
    if (rc)
        return rc;
    int urc = ud_unlock(uc->d);
    return urc ? fail(uc, urc, "unlock") : 0;
}

static int ultradict_count(kv_conn *c, uint64_t *n) {
    *n = ud_len(((ultradict_conn *)c)->d);
    return 0;
}

static int ultradict_clear(kv_conn *c) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int urc = ud_clear(uc->d);
    return urc ? fail(uc, urc, "clear") : 0;
}

/* Iterates over the local copy as it is after one synchronisation: a consistent view. */
static int ultradict_export(kv_conn *c, kv_entry_fn fn, void *ctx) {
    ultradict_conn *uc = (ultradict_conn *)c;
    ud_iter *it;
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    int type, rc = 0;

    int urc = ud_iter_open(uc->d, &it);
    if (urc)
        return fail(uc, urc, "iterate");
    while ((urc = ud_iter_next(it, &k, &v, &type)) == 0) {
        /* The kv interface holds bytes only; nested dicts are not part of an export. */
        if (type != UD_TYPE_BYTES)
            continue;
        rc = fn(ctx, k.data, k.len, v.len ? v.data : "", v.len);
        if (rc)
            break;
    }
    if (!rc && urc != UD_ENOTFOUND)
        rc = fail(uc, urc, "iterate");
    ud_iter_close(it);
    ud_buf_free(&k);
    ud_buf_free(&v);
    return rc;
}

/* ud_update() writes the whole batch as one record: other processes see all of it or none. */
static int ultradict_set_many(kv_conn *c, const kv_item *items, size_t n) {
    ultradict_conn *uc = (ultradict_conn *)c;
    ud_item *ui = malloc(n * sizeof(*ui));
    if (!ui)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ui[i] =
            (ud_item){items[i].key, items[i].klen, items[i].val ? items[i].val : "", items[i].vlen};
    int urc = ud_update(uc->d, ui, n);
    free(ui);
    return urc ? fail(uc, urc, "update") : 0;
}

static const char *ultradict_version(kv_conn *c) {
    (void)c;
    return UD_VERSION_STRING;
}

static int ultradict_close(kv_conn *c) {
    ultradict_conn *uc = (ultradict_conn *)c;
    if (uc->locked)
        ud_unlock(uc->d);
    int urc = ud_close(uc->d);
    free(uc);
    return urc ? KV_EBACKEND : 0;
}

static int ultradict_dump_native(kv_conn *c) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int urc = ud_dump(uc->d);
    return urc ? fail(uc, urc, "dump") : 0;
}

/* A forced load of the latest dump, then the stream after it: the whole dict read anew. */
static int ultradict_load_native(kv_conn *c) {
    ultradict_conn *uc = (ultradict_conn *)c;
    int urc = ud_load(uc->d, true);
    if (!urc)
        urc = ud_apply_update(uc->d);
    return urc ? fail(uc, urc, "load") : 0;
}

static const kv_methods ultradict_methods = {
    .version = 3,
    .name = "ultradict",
    .close = ultradict_close,
    .backend_version = ultradict_version,
    .get = ultradict_get,
    .set = ultradict_set,
    .del = ultradict_del,
    .incr = ultradict_incr,
    .lock = ultradict_lock,
    .unlock = ultradict_unlock,
    .count = ultradict_count,
    .clear = ultradict_clear,
    .export_all = ultradict_export,
    .get_many = NULL, /* reads are local memory: the core's loop is as fast as a native one */
    .set_many = ultradict_set_many,
    .dump_native = ultradict_dump_native,
    .load_native = ultradict_load_native,
};

int kv__ultradict_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    static const char *const locks[] = {"mutex", "spin", NULL};
    static const char *const creates[] = {"any", "only", "attach", NULL};
    static const char *const unlinks[] = {"default", "on", "off", NULL};
    ud_options o = UD_OPTIONS_INIT;
    uint64_t buffer_size, full_dump_size;
    int lock, create, unlink, rc;

    if ((rc = kv__uri_size(u, "buffer_size", 0, &buffer_size, err, errlen)) < 0 ||
        (rc = kv__uri_size(u, "full_dump_size", 0, &full_dump_size, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "lock", locks, 0, &lock, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "create", creates, 0, &create, err, errlen)) < 0 ||
        (rc = kv__uri_choice(u, "unlink", unlinks, 0, &unlink, err, errlen)) < 0 ||
        (rc = kv__uri_check_unused(u, err, errlen)) < 0)
        return rc;
    /* Accept ultradict://NAME too: people write URIs that way out of habit. */
    const char *name = u->body;
    if (strncmp(name, "//", 2) == 0)
        name += 2;
    o.name = name[0] ? name : NULL;
    o.buffer_size = (size_t)buffer_size;
    o.full_dump_size = (size_t)full_dump_size;
    o.lock = lock == 0 ? UD_LOCK_MUTEX : UD_LOCK_SPIN;
    o.create = create == 0 ? UD_CREATE_OR_ATTACH : create == 1 ? UD_CREATE_ONLY : UD_ATTACH_ONLY;
    o.auto_unlink = unlink == 0   ? UD_AUTO_UNLINK_DEFAULT
                    : unlink == 1 ? UD_AUTO_UNLINK_ON
                                  : UD_AUTO_UNLINK_OFF;

    ultradict_conn *uc = calloc(1, sizeof(*uc));
    if (!uc)
        return -ENOMEM;
    int urc = ud_open(&o, &uc->d);
    if (urc) {
        free(uc);
        /* Options the dict refuses are a bad URI; "no such dict" and "exists" are OS-like. */
        rc = kv__ud_error(urc);
        if (rc == KV_EINVAL)
            rc = KV_EURI;
        return kv__errbuf(err, errlen, rc, "ultradict: cannot open '%s': %s (%s)", u->text,
                          ud_strerror(urc), ud_errname(urc));
    }
    uc->base.methods = &ultradict_methods;
    uc->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_LOCK | KV_CAP_ENUMERATE | KV_CAP_SNAPSHOT |
                    KV_CAP_CROSS_PROCESS | KV_CAP_BATCH | KV_CAP_COUNT | KV_CAP_NATIVE_DUMP;
    *out = &uc->base;
    return 0;
}

/* A dict in this host's shared memory; without a name it is this connection's alone. */
void kv__ultradict_describe(kv__uri *u, kv_desc *d) {
    d->on_host = true;
    d->unnamed = u->body[0] == '\0';
}
