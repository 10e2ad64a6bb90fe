/*
 * snapshot.c - portable snapshots of a whole dict.
 *
 * Format (every integer little-endian):
 *   0  "UDSNAP01"            magic
 *   8  u32 version (1)       12 u32 flags (0)
 *   16 u64 count             24 u64 payload length
 *   32 u64 checksum (ud__hash of the payload, seeded)   40 u64 reserved (0)
 *   48 payload: `count` items as in the stream (see layout.h), kind SET; a value of type
 *      UD_TYPE_DICT is itself a complete snapshot of the nested dict.
 * Values are stored as the codec produced them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "internal.h"

/* The magic is 8 bytes on disk, without a terminating NUL. */
static const char snap_magic[8] = {'U', 'D', 'S', 'N', 'A', 'P', '0', '1'};
#define SNAP_VERSION 1u
#define SNAP_HDR 48
#define SNAP_SEED 0x55445348ull
#define SNAP_MAX_DEPTH 16

static void put64(char *p, uint64_t v) {
    v = htole64(v);
    memcpy(p, &v, 8);
}

static uint64_t get64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

static int verify(const char *data, size_t len, int depth) {
    if (!data || len < SNAP_HDR)
        return len >= 8 && data && memcmp(data, snap_magic, sizeof snap_magic) == 0 ? UD_ECORRUPT
                                                                                    : UD_EBADMAGIC;
    if (memcmp(data, snap_magic, sizeof snap_magic) != 0)
        return UD_EBADMAGIC;
    uint32_t version;
    memcpy(&version, data + 8, 4);
    if (le32toh(version) != SNAP_VERSION)
        return UD_EVERSION;
    uint32_t flags;
    memcpy(&flags, data + 12, 4);
    uint64_t count = get64(data + 16), plen = get64(data + 24), check = get64(data + 32);
    /* No flags are defined yet and the reserved word is zero: anything else is damage. */
    if (flags != 0 || get64(data + 40) != 0 || plen != len - SNAP_HDR || depth > SNAP_MAX_DEPTH)
        return UD_ECORRUPT;
    const char *p = data + SNAP_HDR, *end = data + len;
    if (ud__hash(p, plen, SNAP_SEED) != check)
        return UD_ECORRUPT;
    if (count > plen / sizeof(ud__item_hdr))
        return UD_ECORRUPT;
    /* Keys are checked for duplicates with a table of borrowed keys (no copies). */
    ud__table keys;
    ud__table_init(&keys);
    int rc = ud__table_reserve(&keys, (size_t)count);
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        ud__item_hdr h;
        const char *k, *v;
        rc = ud__item_decode(p, (size_t)(end - p), &h, &k, &v);
        if (rc || h.kind != UD__ITEM_SET) {
            rc = UD_ECORRUPT;
            break;
        }
        rc = ud__table_put_borrowed(&keys, (char *)k, h.klen, 0, ud__hash(k, h.klen, 0), 0);
        if (rc == 0 && h.type == UD_TYPE_DICT && (rc = verify(v, h.vlen, depth + 1)) != 0)
            rc = rc == UD_EBADMAGIC || rc == UD_EVERSION ? UD_ECORRUPT : rc;
        p = v + h.vlen;
    }
    ud__table_free(&keys);
    if (rc)
        return rc;
    return p == end ? 0 : UD_ECORRUPT;
}

/* Completes the header at h of a snapshot whose payload of plen bytes follows it (the count
 * at h + 16 is the caller's). */
static void seal_header(char *h, size_t plen) {
    memcpy(h, snap_magic, sizeof snap_magic);
    uint32_t v = htole32(SNAP_VERSION);
    memcpy(h + 8, &v, 4);
    memset(h + 12, 0, 4);
    put64(h + 24, plen);
    put64(h + 32, ud__hash(h + SNAP_HDR, plen, SNAP_SEED));
    put64(h + 40, 0);
}

static int append(ud_buf *out, const void *p, size_t n) {
    size_t at = out->len;
    int rc = ud__buf_resize(out, at + n);
    if (!rc && n)
        memcpy((char *)out->data + at, p, n);
    return rc;
}

static int save_locked(ud_dict *d, ud_buf *out, int depth);

/* Appends the item for entry e (a nested dict becomes its snapshot). */
static int save_entry(ud_dict *d, const ud__entry *e, ud_buf *out, int depth) {
    if (e->type != UD_TYPE_DICT) {
        size_t at = out->len;
        int rc = ud__buf_resize(out, at + ud__item_size(e->klen, e->vlen));
        if (!rc)
            ud__item_encode((char *)out->data + at, UD__ITEM_SET, UD_TYPE_BYTES, e->kv, e->klen,
                            ud__entry_val(e), e->vlen);
        return rc;
    }
    ud_dict *c;
    int rc = ud__open_child(d, ud__entry_val(e), e->vlen, UD_ATTACH_ONLY, &c);
    if (rc)
        return rc;
    ud_buf nested = UD_BUF_INIT;
    rc = ud__lock(c);
    if (!rc) {
        rc = ud__sync(c);
        if (!rc)
            rc = save_locked(c, &nested, depth + 1);
        ud__unlock(c);
    }
    ud_close(c);
    if (!rc) {
        ud__item_hdr h = {htole32((uint32_t)e->klen), UD__ITEM_SET, UD_TYPE_DICT, 0,
                          htole64(nested.len)};
        rc = append(out, &h, sizeof h);
        if (!rc)
            rc = append(out, e->kv, e->klen);
        if (!rc)
            rc = append(out, nested.data, nested.len);
    }
    ud_buf_free(&nested);
    return rc;
}

static int save_locked(ud_dict *d, ud_buf *out, int depth) {
    if (depth > SNAP_MAX_DEPTH)
        return UD_ETOOBIG;
    size_t start = out->len;
    int rc = ud__buf_resize(out, start + SNAP_HDR);
    if (rc)
        return rc;
    for (size_t i = 0; i < d->table.used && !rc; i++) {
        const ud__entry *e = &d->table.entries[i];
        if (!(e->flags & UD__ENTRY_DELETED))
            rc = save_entry(d, e, out, depth);
    }
    if (rc)
        return rc;
    char *h = (char *)out->data + start;
    size_t plen = out->len - start - SNAP_HDR;
    put64(h + 16, d->table.count);
    seal_header(h, plen);
    return 0;
}

int ud_save(ud_dict *d, ud_buf *out) {
    UD__CHECK_HANDLE(d);
    if (!out)
        return UD_EINVAL;
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    out->len = 0;
    if (!rc)
        rc = save_locked(d, out, 0);
    ud__unlock(d);
    return rc;
}

/* Creates a nested child holding the (verified) snapshot `data`; its name goes to `name`. */
static int restore_child(ud_dict *d, const char *data, size_t len, char *name) {
    ud_dict *c;
    int rc = ud__create_child(d, name, &c);
    if (rc)
        return rc;
    rc = ud_restore(c, data, len);
    ud_close(c);
    if (rc)
        ud__unlink_tree(name);
    return rc;
}

/* A verified snapshot being restored: its items, and the nested children made for it. */
typedef struct restore_plan {
    const char *items, *end; /* the payload */
    uint64_t count;
    char (*names)[UD__SEG_NAME_MAX + 1]; /* the children created, in item order */
    size_t nchildren;
    size_t body; /* the size of the record that replaces the dict's contents */
} restore_plan;

/* Creates the child for a nested item whose snapshot is v[0..vlen), appending its name. */
static int plan_child(ud_dict *d, restore_plan *pl, const char *v, size_t vlen) {
    if (!d->recurse)
        return UD_ENOTRECURSIVE;
    void *nn = realloc(pl->names, (pl->nchildren + 1) * sizeof *pl->names);
    if (!nn)
        return -ENOMEM;
    pl->names = nn;
    int rc = restore_child(d, v, vlen, pl->names[pl->nchildren]);
    if (rc)
        return rc;
    pl->nchildren++;
    return 0;
}

/* First pass, before the lock: creates the nested children and sizes the record. */
static int plan_restore(ud_dict *d, restore_plan *pl) {
    const char *p = pl->items;
    for (uint64_t i = 0; i < pl->count; i++) {
        ud__item_hdr h;
        const char *k, *v;
        ud__item_decode(p, (size_t)(pl->end - p), &h, &k, &v);
        size_t vlen = h.vlen;
        if (h.type == UD_TYPE_DICT) {
            int rc = plan_child(d, pl, v, h.vlen);
            if (rc)
                return rc;
            vlen = strlen(pl->names[pl->nchildren - 1]);
        }
        pl->body += ud__item_size(h.klen, vlen);
        p = v + h.vlen;
    }
    return 0;
}

/* The names of the dict's nested children now, to drop once the restore replaced them. */
static int collect_children(ud_dict *d, ud__table *old) {
    int rc = 0;
    for (size_t i = 0; i < d->table.used && !rc; i++) {
        ud__entry *e = &d->table.entries[i];
        if (!(e->flags & UD__ENTRY_DELETED) && e->type == UD_TYPE_DICT)
            rc = ud__table_put(old, ud__entry_val(e), e->vlen,
                               ud__hash(ud__entry_val(e), e->vlen, 0), "", 0, UD_TYPE_DICT);
    }
    return rc;
}

/* Writes the one CLEAR record that replaces the dict's contents with the plan's items. */
static int write_restore(ud_dict *d, const restore_plan *pl) {
    /* The restored dict replaces the whole one: it must fit a static dump by itself. */
    if (d->ctl->full_dump_size && pl->body > d->ctl->full_dump_size)
        return UD_EDUMPFULL;
    ud__rec rec;
    int rc = ud__rec_begin(d, pl->body, UD__REC_CLEAR, (uint32_t)pl->count, &rec);
    if (rc)
        return rc;
    char *dst = rec.body;
    size_t child = 0;
    const char *p = pl->items;
    for (uint64_t i = 0; i < pl->count; i++) {
        ud__item_hdr h;
        const char *k, *v;
        ud__item_decode(p, (size_t)(pl->end - p), &h, &k, &v);
        if (h.type == UD_TYPE_DICT) {
            const char *nm = pl->names[child++];
            dst += ud__item_encode(dst, UD__ITEM_SET, UD_TYPE_DICT, k, h.klen, nm, strlen(nm));
        } else {
            dst += ud__item_encode(dst, UD__ITEM_SET, UD_TYPE_BYTES, k, h.klen, v, h.vlen);
        }
        p = v + h.vlen;
    }
    return ud__rec_commit(d, &rec);
}

/* Under the lock: notes the children being replaced, then writes the record. */
static int replace_contents(ud_dict *d, const restore_plan *pl, ud__table *old) {
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    if (!rc)
        rc = collect_children(d, old);
    if (!rc)
        rc = write_restore(d, pl);
    ud__unlock(d);
    return rc;
}

int ud_restore(ud_dict *d, const void *data, size_t len) {
    UD__CHECK_HANDLE(d);
    int rc = verify(data, len, 0);
    if (rc)
        return rc;
    restore_plan pl = {(const char *)data + SNAP_HDR,
                       (const char *)data + len,
                       get64((const char *)data + 16),
                       NULL,
                       0,
                       0};
    if (pl.count > UINT32_MAX)
        return UD_ETOOBIG;
    ud__table old;
    ud__table_init(&old);
    rc = plan_restore(d, &pl);
    if (!rc)
        rc = replace_contents(d, &pl, &old);
    if (rc) {
        for (size_t i = 0; i < pl.nchildren; i++)
            ud__unlink_tree(pl.names[i]);
    } else {
        for (size_t i = 0; i < old.used; i++)
            ud__drop_child(d, old.entries[i].kv, old.entries[i].klen, UD_TYPE_DICT);
    }
    ud__table_free(&old);
    free(pl.names);
    return rc;
}

int ud_snapshot_foreach(const void *data, size_t len, ud_snapshot_fn fn, void *ctx) {
    if (!fn)
        return UD_EINVAL;
    int rc = verify(data, len, 0);
    if (rc)
        return rc;
    uint64_t count = get64((const char *)data + 16);
    const char *p = (const char *)data + SNAP_HDR, *end = (const char *)data + len;
    for (uint64_t i = 0; i < count; i++) {
        ud__item_hdr h;
        const char *k, *v;
        ud__item_decode(p, (size_t)(end - p), &h, &k, &v);
        rc = fn(ctx, k, h.klen, v, h.vlen, h.type);
        if (rc)
            return rc;
        p = v + h.vlen;
    }
    return 0;
}

int ud_close_save(ud_dict *d, ud_buf *snapshot) {
    if (!d)
        return UD_EINVAL;
    int rc = snapshot ? ud_save(d, snapshot) : 0;
    int rc2 = ud_close(d);
    return rc ? rc : rc2;
}

int ud_save_file(ud_dict *d, const char *path) {
    UD__CHECK_HANDLE(d);
    if (!path)
        return UD_EINVAL;
    ud_buf b = UD_BUF_INIT;
    int rc = ud_save(d, &b);
    if (rc)
        goto out;
    /* The temporary file sits beside the target (so the rename is atomic), under a name
     * nobody can predict, created exclusively: a link planted there is never followed. */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    int fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    const char *p = b.data;
    size_t left = b.len;
    while (left > 0 && !rc) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = n < 0 ? -errno : -EIO;
        else
            p += n, left -= (size_t)n;
    }
    if (!rc && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
out:
    ud_buf_free(&b);
    return rc;
}

int ud_restore_file(ud_dict *d, const char *path) {
    UD__CHECK_HANDLE(d);
    if (!path)
        return UD_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    char *data = NULL;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    size_t len = (size_t)st.st_size;
    data = malloc(len ? len : 1);
    if (!data) {
        rc = -ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, data + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : UD_ECORRUPT;
            goto out;
        }
        got += (size_t)n;
    }
    rc = ud_restore(d, data, len);
out:
    free(data);
    close(fd);
    return rc;
}

/* Starts an empty snapshot in snap (a zeroed header) when it holds nothing yet. 0, UD_EINVAL
 * for a buffer too short to be one, or -ENOMEM. */
static int snap_begin(ud_buf *snap) {
    if (snap->len == 0) {
        int rc = ud__buf_resize(snap, SNAP_HDR);
        if (rc)
            return rc;
        memset(snap->data, 0, SNAP_HDR);
    }
    return snap->len < SNAP_HDR ? UD_EINVAL : 0;
}

int ud_snapshot_add(ud_buf *snap, const void *key, size_t klen, const void *val, size_t vlen,
                    int type) {
    if (!snap || (!key && klen) || (!val && vlen) ||
        (type != UD_TYPE_BYTES && type != UD_TYPE_DICT))
        return UD_EINVAL;
    if (klen > UD_KEY_MAX)
        return UD_ETOOBIG;
    int rc = snap_begin(snap);
    if (rc)
        return rc;
    size_t at = snap->len, need = ud__size_add(at, ud__item_size(klen, vlen));
    if (need > UD__BODY_MAX)
        return UD_ETOOBIG;
    rc = ud__buf_resize(snap, need);
    if (rc)
        return rc;
    ud__item_encode((char *)snap->data + at, UD__ITEM_SET, type, key, klen, val, vlen);
    char *h = snap->data;
    put64(h + 16, get64(h + 16) + 1);
    return 0;
}

int ud_snapshot_finish(ud_buf *snap) {
    if (!snap)
        return UD_EINVAL;
    int rc = snap_begin(snap);
    if (rc)
        return rc;
    seal_header(snap->data, snap->len - SNAP_HDR);
    return verify(snap->data, snap->len, 0);
}
