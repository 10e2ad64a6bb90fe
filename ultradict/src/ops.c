/*
 * ops.c - the dict protocol. Reads synchronise and look at the local copy. Writes take the lock,
 * synchronise, append one record (however many keys they touch), and only then change the
 * local copy - so a failed write changes nothing anywhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

static inline uint64_t key_hash(const void *key, size_t klen) {
    return ud__hash(key, klen, 0);
}

static inline int check_key(const void *key, size_t klen) {
    if (!key && klen)
        return UD_EINVAL;
    if (klen > UD_KEY_MAX)
        return UD_ETOOBIG;
    return 0;
}

/* Passes a value through the codec on its way in; *out points at the bytes to store. */
static int encode_value(ud_dict *d, const void *val, size_t vlen, const void **out, size_t *olen) {
    if (!val && vlen)
        return UD_EINVAL;
    if (!d->codec) {
        *out = val;
        *olen = vlen;
        return 0;
    }
    d->codec_buf.len = 0;
    if (d->codec->encode(d->codec->ctx, val, vlen, &d->codec_buf) != 0)
        return UD_ECODEC;
    *out = d->codec_buf.data;
    *olen = d->codec_buf.len;
    return 0;
}

/* Copies a stored value out to the caller, through the codec. */
static inline int output_value(ud_dict *d, const char *val, size_t vlen, ud_buf *out) {
    if (!out)
        return 0;
    if (!d->codec)
        return ud__buf_put(out, val, vlen);
    out->len = 0;
    if (d->codec->decode(d->codec->ctx, val, vlen, out) != 0)
        return UD_ECODEC;
    return ud__buf_resize(out, out->len);
}

/* Remembers the nested child that a write is about to replace, to unlink it afterwards. */
typedef struct dropped {
    char name[UD__SEG_NAME_MAX + 1];
    bool set;
} dropped;

static void note_drop(dropped *dr, const ud__entry *e) {
    if (e && e->type == UD_TYPE_DICT && e->vlen < sizeof dr->name) {
        memcpy(dr->name, ud__entry_val(e), e->vlen);
        dr->name[e->vlen] = '\0';
        dr->set = true;
    }
}

static void finish_drop(ud_dict *d, dropped *dr) {
    if (dr->set)
        ud__drop_child(d, dr->name, strlen(dr->name), UD_TYPE_DICT);
}

/* Takes the lock and synchronises, the prologue of every write. */
static int begin_write(ud_dict *d) {
    int rc = ud__lock_write(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    if (rc)
        ud__unlock(d);
    return rc;
}

/* The prologue of a write of key: check it, take the lock and synchronise. */
static int begin_key_write(ud_dict *d, const void *key, size_t klen) {
    if (!d)
        return UD_EINVAL;
    int rc = check_key(key, klen);
    return rc ? rc : begin_write(d);
}

/* begin_key_write() for a write that stores `val`: encodes it first, into (*v, *vl). */
static int begin_value_write(ud_dict *d, const void *key, size_t klen, const void *val, size_t vlen,
                             const void **v, size_t *vl) {
    if (!d)
        return UD_EINVAL;
    int rc = check_key(key, klen);
    if (!rc)
        rc = encode_value(d, val, vlen, v, vl);
    return rc ? rc : begin_write(d);
}

/*
 * Write-behind, the set of a contended dict. Every process applies every record to its own
 * copy; a writer that synchronised before each write applied each record of the others under
 * the lock, and two writers each did the work of both. A set needs nothing from the local
 * copy unless the dict is recursive (the child it replaces) or has a static dump size (the
 * room check): if others wrote since this handle last synchronised, it appends its record
 * under the lock without replaying theirs first, and leaves the local copy behind
 * (ud__write_behind()); the next read replays the handle's own record with the others'. The
 * stream and its publication are unchanged, so a writer killed at any point leaves what it
 * always left. Not inside a lock section (its records wait for the outermost unlock, and the
 * section's reads must see them) nor while this thread holds any dict's lock.
 */
static bool may_write_behind(const ud_dict *d) {
    return !d->recurse && !d->ctl->full_dump_size && d->lock_depth == 0 &&
           atomic_load_explicit(&ud__holds, memory_order_relaxed) == 0;
}

/* The set of a dict that may_write_behind(). A lock found busy is waited for as every write
 * waits (ud__lock_write()): replaying what is already published, which keeps the catch-up
 * below short. Up to date under the lock, it writes at once (nothing to replay, and no section
 * of another handle of this thread to publish: the thread held no lock). Behind, it writes
 * behind; when the record cannot be written behind - the stream is full, and the dump is made
 * from the local copy - it catches up under the lock and writes as any write does. Catching up
 * without the lock would let every writer that finds the stream full replay it whole, each for
 * the one dump that follows. */
static int set_behind(ud_dict *d, const void *key, size_t klen, const void *v, size_t vl) {
    int rc = ud__lock_write(d);
    if (rc)
        return rc;
    bool behind = d->pos != atomic_load_explicit(&d->ctl->end, memory_order_relaxed);
    rc = behind ? ud__write_behind(d, UD__ITEM_SET, UD_TYPE_BYTES, key, klen, v, vl) : -EAGAIN;
    if (rc == -EAGAIN) {
        rc = behind ? ud__sync(d) : 0;
        if (!rc)
            rc = ud__write_item(d, UD__ITEM_SET, UD_TYPE_BYTES, key, klen, v, vl);
    }
    /* The gate's slowdown knob weighs on every set's lock hold, whichever way it wrote. */
    UD__DELAY_SET();
    ud__unlock(d);
    return rc;
}

int ud_set(ud_dict *d, const void *key, size_t klen, const void *val, size_t vlen) {
    const void *v;
    size_t vl;
    if (d && may_write_behind(d)) {
        int rc = check_key(key, klen);
        if (!rc)
            rc = encode_value(d, val, vlen, &v, &vl);
        return rc ? rc : set_behind(d, key, klen, v, vl);
    }
    int rc = begin_value_write(d, key, klen, val, vlen, &v, &vl);
    if (rc)
        return rc;
    dropped dr;
    dr.set = false;
    if (d->recurse)
        note_drop(&dr, ud__table_find(&d->table, key, klen, key_hash(key, klen)));
    rc = ud__write_item(d, UD__ITEM_SET, UD_TYPE_BYTES, key, klen, v, vl);
    UD__DELAY_SET();
    ud__unlock(d);
    if (!rc)
        finish_drop(d, &dr);
    return rc;
}

static inline int lookup(ud_dict *d, const void *key, size_t klen, bool sync, ud__entry **out) {
    UD__CHECK_HANDLE(d);
    int rc = check_key(key, klen);
    if (rc)
        return rc;
    if (sync) {
        rc = ud__sync(d);
        if (rc)
            return rc;
    }
    *out = ud__table_find(&d->table, key, klen, key_hash(key, klen));
    return 0;
}

static inline int get_common(ud_dict *d, const void *key, size_t klen, ud_buf *val, bool sync) {
    ud__entry *e;
    int rc = lookup(d, key, klen, sync, &e);
    if (rc)
        return rc;
    if (!e)
        return UD_ENOTFOUND;
    if (e->type != UD_TYPE_BYTES)
        return UD_EWRONGTYPE;
    return output_value(d, ud__entry_val(e), e->vlen, val);
}

/*
 * The hit path of ud_get(), kept to what a lean table does: one check of the stream position
 * (ud__sync()'s load of one word), the hash, the probe, the copy. What is unusual - no handle,
 * key or buffer, a codec - takes get_common(), which gives the same answers the same way.
 */
int ud_get(ud_dict *d, const void *key, size_t klen, ud_buf *val) {
    UD__DELAY_GET();
    if (__builtin_expect(!d || !key || !val || klen > UD_KEY_MAX || d->codec, 0))
        return get_common(d, key, klen, val, true);
    int rc = ud__sync(d);
    if (rc)
        return rc;
    const ud__entry *e = ud__table_find(&d->table, key, klen, key_hash(key, klen));
    if (__builtin_expect(!e || e->type != UD_TYPE_BYTES, 0))
        return e ? UD_EWRONGTYPE : UD_ENOTFOUND;
    return ud__buf_put(val, ud__entry_val(e), e->vlen);
}

int ud_get_local(ud_dict *d, const void *key, size_t klen, ud_buf *val) {
    /* Once after a write-behind: the handle's own writes are in the stream only. */
    if (d && d->behind) {
        int rc = ud__sync(d);
        if (rc)
            return rc;
        d->behind = false;
    }
    return get_common(d, key, klen, val, false);
}

int ud_get_default(ud_dict *d, const void *key, size_t klen, const void *def, size_t dlen,
                   ud_buf *val) {
    int rc = get_common(d, key, klen, val, true);
    if (rc == UD_ENOTFOUND)
        return val ? ud__buf_set(val, def, dlen) : 0;
    return rc;
}

int ud_contains(ud_dict *d, const void *key, size_t klen) {
    ud__entry *e;
    int rc = lookup(d, key, klen, true, &e);
    return rc ? rc : e != NULL;
}

size_t ud_len(ud_dict *d) {
    if (!d)
        return 0;
    ud__sync(d);
    return d->table.count;
}

int ud_type(ud_dict *d, const void *key, size_t klen) {
    ud__entry *e;
    int rc = lookup(d, key, klen, true, &e);
    if (rc)
        return rc;
    return e ? (int)e->type : UD_ENOTFOUND;
}

int ud_del(ud_dict *d, const void *key, size_t klen) {
    int rc = begin_key_write(d, key, klen);
    if (rc)
        return rc;
    ud__entry *e = ud__table_find(&d->table, key, klen, key_hash(key, klen));
    dropped dr;
    dr.set = false;
    if (!e) {
        rc = UD_ENOTFOUND;
    } else {
        note_drop(&dr, e);
        rc = ud__write_item(d, UD__ITEM_DEL, UD_TYPE_BYTES, key, klen, NULL, 0);
    }
    ud__unlock(d);
    if (!rc)
        finish_drop(d, &dr);
    return rc;
}

int ud_pop(ud_dict *d, const void *key, size_t klen, ud_buf *val) {
    int rc = begin_key_write(d, key, klen);
    if (rc)
        return rc;
    ud__entry *e = ud__table_find(&d->table, key, klen, key_hash(key, klen));
    if (!e)
        rc = UD_ENOTFOUND;
    else if (e->type != UD_TYPE_BYTES)
        rc = UD_EWRONGTYPE;
    else
        rc = output_value(d, ud__entry_val(e), e->vlen, val);
    if (!rc)
        rc = ud__write_item(d, UD__ITEM_DEL, UD_TYPE_BYTES, key, klen, NULL, 0);
    ud__unlock(d);
    return rc;
}

int ud_popitem(ud_dict *d, ud_buf *key, ud_buf *val) {
    UD__CHECK_HANDLE(d);
    int rc = begin_write(d);
    if (rc)
        return rc;
    ud__entry *e = ud__table_last(&d->table);
    ud_buf k = UD_BUF_INIT;
    if (!e)
        rc = UD_EEMPTY;
    else if (e->type != UD_TYPE_BYTES)
        rc = UD_EWRONGTYPE;
    else
        rc = ud__buf_set(&k, e->kv, e->klen);
    if (!rc)
        rc = output_value(d, ud__entry_val(e), e->vlen, val);
    if (!rc)
        rc = ud__write_item(d, UD__ITEM_DEL, UD_TYPE_BYTES, k.data, k.len, NULL, 0);
    ud__unlock(d);
    if (!rc && key) {
        ud_buf_free(key);
        *key = k;
    } else {
        ud_buf_free(&k);
    }
    return rc;
}

int ud_setdefault(ud_dict *d, const void *key, size_t klen, const void *def, size_t dlen,
                  ud_buf *val) {
    const void *v;
    size_t vl;
    int rc = begin_value_write(d, key, klen, def, dlen, &v, &vl);
    if (rc)
        return rc;
    ud__entry *e = ud__table_find(&d->table, key, klen, key_hash(key, klen));
    if (e) {
        rc = e->type == UD_TYPE_BYTES ? output_value(d, ud__entry_val(e), e->vlen, val)
                                      : UD_EWRONGTYPE;
    } else {
        rc = ud__write_item(d, UD__ITEM_SET, UD_TYPE_BYTES, key, klen, v, vl);
        if (!rc && val)
            rc = ud__buf_set(val, def, dlen);
    }
    ud__unlock(d);
    return rc;
}

/* The values of an update as they go into the record: encoded by the codec when there is one
 * (into one buffer, by offset, since the buffer moves while it grows), and the body's size. */
typedef struct update_values {
    ud_buf enc;
    size_t *offs; /* value i is enc[offs[i], offs[i + 1]) */
    size_t body;
} update_values;

/* Appends the codec's encoding of one value to u->enc; its length goes to *vlen. */
static int update_encode(ud_dict *d, const ud_item *it, update_values *u, size_t i, size_t *vlen) {
    u->offs[i] = u->enc.len;
    ud_buf one = UD_BUF_INIT;
    int rc = UD_ECODEC;
    if (d->codec->encode(d->codec->ctx, it->val, it->vlen, &one) == 0) {
        size_t at = u->enc.len;
        rc = ud__buf_resize(&u->enc, at + one.len);
        if (!rc && one.len)
            memcpy((char *)u->enc.data + at, one.data, one.len);
        *vlen = one.len;
    }
    ud_buf_free(&one);
    u->offs[i + 1] = u->enc.len;
    return rc;
}

/* Checks every item, encodes the values, and sizes the record's body. */
static int prepare_values(ud_dict *d, const ud_item *items, size_t n, update_values *u) {
    if (d->codec && n) {
        u->offs = malloc((n + 1) * sizeof *u->offs);
        if (!u->offs)
            return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(items[i].key, items[i].klen);
        if (rc)
            return rc;
        if (!items[i].val && items[i].vlen)
            return UD_EINVAL;
        size_t vlen = items[i].vlen;
        if (d->codec && (rc = update_encode(d, &items[i], u, i, &vlen)) != 0)
            return rc;
        u->body = ud__size_add(u->body, ud__item_size(items[i].klen, vlen));
    }
    return u->body > UD__BODY_MAX ? UD_ETOOBIG : 0;
}

/* The names of the nested children that the update replaces (unlinked after it commits). */
static int replaced_children(ud_dict *d, const ud_item *items, size_t n, char ***drops,
                             size_t *ndrops) {
    for (size_t i = 0; d->recurse && i < n; i++) {
        ud__entry *e = ud__table_find(&d->table, items[i].key, items[i].klen,
                                      key_hash(items[i].key, items[i].klen));
        if (!e || e->type != UD_TYPE_DICT)
            continue;
        char **nd = realloc(*drops, (*ndrops + 1) * sizeof *nd);
        if (!nd)
            return -ENOMEM;
        *drops = nd;
        char *name = strndup(ud__entry_val(e), e->vlen);
        if (!name)
            return -ENOMEM;
        nd[(*ndrops)++] = name;
    }
    return 0;
}

/* Writes the update as one record; the caller holds the write lock. */
static int write_update(ud_dict *d, const ud_item *items, size_t n, const update_values *u) {
    ud__rec rec;
    /* Replaced values are not credited: a key may repeat within the update. */
    int rc = ud__check_dump_room(d, u->body, 0);
    if (!rc)
        rc = ud__rec_begin(d, u->body, 0, (uint32_t)n, &rec);
    if (rc)
        return rc;
    char *p = rec.body;
    for (size_t i = 0; i < n; i++) {
        const void *v = items[i].val;
        size_t vl = items[i].vlen;
        if (d->codec) {
            v = (char *)u->enc.data + u->offs[i];
            vl = u->offs[i + 1] - u->offs[i];
        }
        p += ud__item_encode(p, UD__ITEM_SET, UD_TYPE_BYTES, items[i].key, items[i].klen, v, vl);
    }
    return ud__rec_commit(d, &rec);
}

int ud_update(ud_dict *d, const ud_item *items, size_t n) {
    UD__CHECK_HANDLE(d);
    if (!items && n)
        return UD_EINVAL;
    if (n > UINT32_MAX)
        return UD_ETOOBIG;
    update_values u = {UD_BUF_INIT, NULL, 0};
    int rc = prepare_values(d, items, n, &u);
    if (!rc)
        rc = begin_write(d);
    if (rc) {
        ud_buf_free(&u.enc);
        free(u.offs);
        return rc;
    }
    char **drops = NULL;
    size_t ndrops = 0;
    rc = replaced_children(d, items, n, &drops, &ndrops);
    if (!rc)
        rc = write_update(d, items, n, &u);
    ud__unlock(d);
    for (size_t i = 0; i < ndrops; i++) {
        /* The same child may be named twice when a key repeats in the update. */
        if (!rc)
            ud__drop_child(d, drops[i], strlen(drops[i]), UD_TYPE_DICT);
        free(drops[i]);
    }
    free(drops);
    ud_buf_free(&u.enc);
    free(u.offs);
    return rc;
}

int ud_clear(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    int rc = begin_write(d);
    if (rc)
        return rc;
    ud__table children;
    ud__table_init(&children);
    if (d->recurse) {
        for (size_t i = 0; i < d->table.used && !rc; i++) {
            ud__entry *e = &d->table.entries[i];
            if (!(e->flags & UD__ENTRY_DELETED) && e->type == UD_TYPE_DICT)
                rc = ud__table_put(&children, ud__entry_val(e), e->vlen,
                                   key_hash(ud__entry_val(e), e->vlen), "", 0, UD_TYPE_DICT);
        }
    }
    ud__rec rec;
    if (!rc)
        rc = ud__rec_begin(d, 0, UD__REC_CLEAR, 0, &rec);
    if (!rc)
        rc = ud__rec_commit(d, &rec);
    /* Now that nothing is referenced, children orphaned by crashed writers go too. */
    if (!rc && d->recurse)
        (void)ud__reclaim_orphans(d);
    ud__unlock(d);
    for (size_t i = 0; i < children.used && !rc; i++)
        ud__drop_child(d, children.entries[i].kv, children.entries[i].klen, UD_TYPE_DICT);
    ud__table_free(&children);
    return rc;
}

/* Parses a whole value as a decimal int64: optional sign, digits, nothing else. */
static int parse_int(const char *s, size_t n, int64_t *out) {
    if (n == 0 || n > 20)
        return UD_ENOTNUM;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1)
            return UD_ENOTNUM;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return UD_ENOTNUM;
        /* Checked before it happens: 20 digits can wrap a uint64 back into range. */
        uint64_t limit = (uint64_t)INT64_MAX + (neg ? 1u : 0u), digit = (uint64_t)(s[i] - '0');
        if (v > (limit - digit) / 10)
            return UD_EOVERFLOW;
        v = v * 10 + digit;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Formats v in decimal at buf (24 bytes: a sign and 19 digits fit); returns the length. The
 * critical section of an incr: snprintf() was 600 of its 2,000 instructions. */
static size_t format_int(int64_t v, char *buf) {
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

int ud_incr(ud_dict *d, const void *key, size_t klen, int64_t by, int64_t *result) {
    int rc = begin_key_write(d, key, klen);
    if (rc)
        return rc;
    ud__entry *e = ud__table_find(&d->table, key, klen, key_hash(key, klen));
    int64_t cur = 0, sum = 0;
    if (e && e->type != UD_TYPE_BYTES)
        rc = UD_EWRONGTYPE;
    else if (e)
        rc = parse_int(ud__entry_val(e), e->vlen, &cur);
    if (!rc && __builtin_add_overflow(cur, by, &sum))
        rc = UD_EOVERFLOW;
    if (!rc) {
        char buf[24];
        size_t len = format_int(sum, buf);
        rc = ud__write_item(d, UD__ITEM_SET, UD_TYPE_BYTES, key, klen, buf, len);
    }
    UD__DELAY_INCR();
    ud__unlock(d);
    if (!rc && result)
        *result = sum;
    return rc;
}
