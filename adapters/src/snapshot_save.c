/*
 * snapshot_save.c - writes the entries of an UltraDict snapshot to any backend (the layout is
 * in snapshot.h).
 *
 * A save never touches the snapshot that the manifest names until the new one is complete: it
 * writes a new generation beside it, switches the manifest (one set of one key: the backend
 * keeps the old value or the new one, whole), and only then removes the old generation. A save
 * killed at any moment therefore leaves the old snapshot or the new one, and the generations it
 * had started or not finished removing are listed in P "pending", which the next save empties.
 */
#include "snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#ifdef KV_HAVE_ULTRADICT
#include <ultradict.h>
#endif

#define BATCH_ITEMS 1000
#define BATCH_BYTES (4u << 20)
/* Index chunks stay well below memcached's default item size of 1 MiB. */
#define INDEX_CHUNK_BYTES (256u << 10)

struct pending {
    size_t koff, klen, voff, vlen;
};

struct saver {
    kv_conn *c;
    const char *prefix;
    const char *gen;         /* the generation being written */
    kv_buf arena;            /* prefixed keys and values of the batch being gathered */
    struct pending *pending; /* BATCH_ITEMS of them */
    kv_item *items;
    size_t npending;
    kv_buf index; /* the index records of the batch being gathered: its chunk */
    kv_buf key;
    kv_manifest m;
    bool switching; /* the manifest's write was attempted: the switch may have happened */
};

/*
 * Writes the batch: first its index chunk, then its entries. An entry is never stored before
 * the chunk that lists it, so a later save can find (memcached cannot enumerate) and remove
 * every entry of an interrupted one by reading its chunks 0, 1, ... until one is missing.
 */
static int flush_batch(struct saver *s) {
    if (s->npending == 0)
        return 0;
    int rc = kv__snap_chunk_key(&s->key, s->prefix, s->gen, s->m.chunks);
    if (rc == 0)
        rc = kv_set(s->c, s->key.data, s->key.len, s->index.data, s->index.len);
    if (rc < 0)
        return rc;
    s->index.len = 0;
    s->m.chunks++;
    const char *base = s->arena.data;
    for (size_t i = 0; i < s->npending; i++)
        s->items[i] = (kv_item){base + s->pending[i].koff, s->pending[i].klen,
                                base + s->pending[i].voff, s->pending[i].vlen};
    rc = kv_set_many(s->c, s->items, s->npending);
    s->npending = 0;
    s->arena.len = 0;
    return rc;
}

/* Adds the entry's key, under the generation, and its value to the batch's arena. */
static int add_pending(struct saver *s, const void *key, size_t klen, const void *val,
                       size_t vlen) {
    struct pending *p = &s->pending[s->npending];
    size_t start = s->arena.len;
    int rc = kv__snap_key(&s->key, s->prefix, s->gen, "entry/", key, klen);
    if (rc < 0 || (rc = kv__buf_append(&s->arena, s->key.data, s->key.len)) < 0 ||
        (rc = kv__buf_append(&s->arena, val, vlen)) < 0)
        return rc;
    *p = (struct pending){start, s->key.len, start + s->key.len, vlen};
    s->npending++;
    return 0;
}

static int save_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                    int type) {
    struct saver *s = ctx;
    int rc;

    if (klen == 0 || klen > UINT32_MAX)
        return kv__error(s->c, KV_EINVAL, "snapshot entry %" PRIu64 " has a key of %zu bytes",
                         s->m.count, klen);
    s->m.count++;
    s->m.bytes += klen + vlen;
    s->m.checksum = kv__snap_checksum(s->m.checksum, key, klen, val, vlen, type);

    unsigned char head[KV__INDEX_RECORD_HEAD];
    head[0] = (unsigned char)type;
    kv__put_le(head + 1, klen, 4);
    if (s->index.len + KV__INDEX_RECORD_HEAD + klen > INDEX_CHUNK_BYTES &&
        (rc = flush_batch(s)) < 0)
        return rc;
    if ((rc = kv__buf_append(&s->index, head, sizeof(head))) < 0 ||
        (rc = kv__buf_append(&s->index, key, klen)) < 0 ||
        (rc = add_pending(s, key, klen, val, vlen)) < 0)
        return rc;
    if (s->npending == BATCH_ITEMS || s->arena.len >= BATCH_BYTES)
        return flush_batch(s);
    return 0;
}

/* Removes the keys in `names` (each starting at offs[i]) as one batch; missing ones are fine. */
static int drop_batch(kv_conn *c, const kv_buf *names, const size_t *offs, size_t n, kv_key *keys) {
    for (size_t i = 0; i < n; i++) {
        size_t end = i + 1 < n ? offs[i + 1] : names->len;
        keys[i] = (kv_key){(const char *)names->data + offs[i], end - offs[i]};
    }
    return kv_del_many(c, keys, n);
}

/* Removes the entries listed in one index chunk of generation gen, BATCH_ITEMS at a time. */
static int drop_chunk_entries(kv_conn *c, const char *prefix, const char *gen, const kv_buf *chunk,
                              kv_buf *key) {
    const unsigned char *p = chunk->data, *end = p + chunk->len;
    kv_buf names = KV_BUF_INIT;
    size_t *offs = malloc(BATCH_ITEMS * sizeof(*offs));
    kv_key *keys = malloc(BATCH_ITEMS * sizeof(*keys));
    size_t n = 0;
    int rc = offs && keys ? 0 : -ENOMEM;
    while (rc == 0 && p && p + KV__INDEX_RECORD_HEAD <= end) {
        size_t klen = (size_t)kv__get_le(p + 1, 4);
        const unsigned char *k = p + KV__INDEX_RECORD_HEAD;
        if (klen > (size_t)(end - k))
            break; /* a damaged chunk: what follows cannot be trusted */
        offs[n++] = names.len;
        if ((rc = kv__snap_key(key, prefix, gen, "entry/", k, klen)) == 0)
            rc = kv__buf_append(&names, key->data, key->len);
        if (rc == 0 && n == BATCH_ITEMS) {
            rc = drop_batch(c, &names, offs, n, keys);
            n = names.len = 0;
        }
        p = k + klen;
    }
    if (rc == 0 && n)
        rc = drop_batch(c, &names, offs, n, keys);
    kv_buf_free(&names);
    free(offs);
    free(keys);
    return rc;
}

/*
 * Removes every key of generation gen: the entries listed by its chunks 0, 1, ... (up to the
 * first missing one), then the chunks, the last one first, so that an interruption leaves
 * chunks 0..k in place for the next attempt to read.
 */
static int drop_generation(kv_conn *c, const char *prefix, const char *gen) {
    kv_buf key = KV_BUF_INIT, chunk = KV_BUF_INIT;
    uint64_t n = 0;
    int rc;
    for (;; n++) {
        if ((rc = kv__snap_chunk_key(&key, prefix, gen, n)) < 0)
            break;
        rc = kv_get(c, key.data, key.len, &chunk);
        if (rc == KV_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc < 0 || (rc = drop_chunk_entries(c, prefix, gen, &chunk, &key)) < 0)
            break;
    }
    while (rc == 0 && n > 0) {
        if ((rc = kv__snap_chunk_key(&key, prefix, gen, --n)) == 0)
            rc = kv_del(c, key.data, key.len);
        if (rc == KV_ENOTFOUND)
            rc = 0;
    }
    kv_buf_free(&key);
    kv_buf_free(&chunk);
    if (rc == 0)
        c->errmsg[0] = '\0';
    return rc;
}

/* Removes every generation listed in *p but `keep` (the one the manifest names). */
static int drop_pending(kv_conn *c, const char *prefix, const kv__pending *p, const char *keep) {
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n; i++)
        if (!keep || strcmp(p->gen[i], keep) != 0)
            rc = drop_generation(c, prefix, p->gen[i]);
    return rc;
}

/*
 * Picks a new generation id that names neither the current snapshot nor a pending one, and
 * records both in P "pending" before anything of the new generation is written.
 */
static int begin_generation(kv_conn *c, const char *prefix, const kv_manifest *cur,
                            char gen[KV__GEN_LEN + 1]) {
    int rc;
    do {
        if ((rc = kv__random_hex(gen, KV__GEN_LEN / 2)) < 0)
            return kv__error(c, rc, "cannot draw a snapshot generation id");
    } while (cur && strcmp(gen, cur->generation) == 0);
    kv__pending p = {0};
    if (cur)
        memcpy(p.gen[p.n++], cur->generation, sizeof(p.gen[0]));
    memcpy(p.gen[p.n++], gen, sizeof(p.gen[0]));
    return kv__write_pending(c, prefix, &p);
}

/* Writes every entry of `source` as generation s->gen, and its manifest: the switch. */
static int write_generation(struct saver *s, kv_source_fn source, const void *src, size_t srclen) {
    int rc = source(src, srclen, save_one, s);
    if (rc == 0)
        rc = flush_batch(s);
    if (rc == 0) {
        memcpy(s->m.generation, s->gen, KV__GEN_LEN + 1);
        s->switching = true;
        rc = kv__write_manifest(s->c, s->prefix, &s->m);
    }
    return rc;
}

/*
 * After a save failed before its switch (a bad entry, the source's own error): removes what it
 * wrote and lists the current generation alone, best effort, keeping the failure's detail. (A
 * failed switch is left alone: the backend may have taken it; the next save sorts it out.)
 */
static void abandon_generation(struct saver *s, const kv_manifest *cur) {
    char detail[KV_ERRMSG_MAX];
    memcpy(detail, s->c->errmsg, sizeof detail);
    kv__pending p = {0};
    if (cur)
        memcpy(p.gen[p.n++], cur->generation, sizeof(p.gen[0]));
    if (drop_generation(s->c, s->prefix, s->gen) == 0)
        kv__write_pending(s->c, s->prefix, &p);
    memcpy(s->c->errmsg, detail, sizeof detail);
}

int kv_save_entries_from(kv_conn *c, const char *prefix, kv_source_fn source, const void *src,
                         size_t srclen, kv_manifest *m) {
    struct saver s = {.c = c, .prefix = prefix};
    kv_manifest cur = {0};
    kv__pending pend;
    char gen[KV__GEN_LEN + 1];
    int rc;

    if (!c)
        return KV_EINVAL;
    if (!prefix || !source)
        return kv__error(c, KV_EINVAL, "kv_save_entries: prefix and source must not be NULL");
    s.m.checksum = KV__FNV64_INIT;
    s.gen = gen;
    s.pending = malloc(BATCH_ITEMS * sizeof(*s.pending));
    s.items = malloc(BATCH_ITEMS * sizeof(*s.items));
    if (!s.pending || !s.items) {
        rc = -ENOMEM;
        goto out;
    }
    /* A manifest that cannot be read names nothing to keep; its keys are left alone. */
    rc = kv__read_manifest(c, prefix, &cur);
    bool have_cur = rc == 0;
    if (rc < 0 && rc != KV_ENOTFOUND && rc != KV_EVERSION && rc != KV_ECORRUPT)
        goto out;
    /* Leftovers of interrupted saves go first: they are garbage, and they take space. */
    if ((rc = kv__read_pending(c, prefix, &pend)) < 0 ||
        (rc = drop_pending(c, prefix, &pend, have_cur ? cur.generation : NULL)) < 0 ||
        (rc = begin_generation(c, prefix, have_cur ? &cur : NULL, gen)) < 0)
        goto out;
    if ((rc = write_generation(&s, source, src, srclen)) != 0) {
        if (!s.switching)
            abandon_generation(&s, have_cur ? &cur : NULL);
        goto out;
    }
    /* The switch is made: the old generation is garbage now, and so is the list. */
    if (have_cur && (rc = drop_generation(c, prefix, cur.generation)) < 0)
        goto out;
    rc = kv__write_pending(c, prefix, &(kv__pending){0});
    if (rc == 0 && m)
        *m = s.m;
out:
    kv_buf_free(&s.arena);
    kv_buf_free(&s.index);
    kv_buf_free(&s.key);
    free(s.pending);
    free(s.items);
    return rc;
}

#ifdef KV_HAVE_ULTRADICT
/* Tells the codes of the save's own callback from those of ud_snapshot_foreach() itself. */
struct ud_source_ctx {
    kv_snapshot_fn fn;
    void *ctx;
    int fn_rc;
};

static int ud_source_entry(void *p, const void *key, size_t klen, const void *val, size_t vlen,
                           int type) {
    struct ud_source_ctx *s = p;
    return s->fn_rc = s->fn(s->ctx, key, klen, val, vlen, type);
}

/* A snapshot the reader refuses is corrupt unless it is only too new. */
static int snapshot_error(int urc) {
    int rc = kv__ud_error(urc);
    return rc == KV_EVERSION ? rc : KV_ECORRUPT;
}

static int ud_source(const void *src, size_t len, kv_snapshot_fn fn, void *ctx) {
    struct ud_source_ctx s = {fn, ctx, 0};
    int rc = ud_snapshot_foreach(src, len, ud_source_entry, &s);
    return rc < 0 && rc != s.fn_rc ? snapshot_error(rc) : rc;
}

static int ignore_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                        int type) {
    (void)ctx;
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (void)type;
    return 0;
}
#endif

int kv_save_entries(kv_conn *c, const char *prefix, const void *snapshot, size_t len,
                    kv_manifest *m) {
    if (!c)
        return KV_EINVAL;
#ifdef KV_HAVE_ULTRADICT
    if (!snapshot)
        return kv__error(c, KV_EINVAL, "kv_save_entries: snapshot must not be NULL");
    /* Verify the bytes before the backend is touched: a bad snapshot costs nothing stored. */
    int urc = ud_snapshot_foreach(snapshot, len, ignore_entry, NULL);
    if (urc < 0)
        return kv__error(c, snapshot_error(urc), "the snapshot cannot be read: %s (%s)",
                         ud_strerror(urc), ud_errname(urc));
    return kv_save_entries_from(c, prefix, ud_source, snapshot, len, m);
#else
    (void)prefix;
    (void)snapshot;
    (void)len;
    (void)m;
    return kv__error(c, KV_ENOTBUILT, "kv_save_entries: built without the ultradict adapter");
#endif
}
