/*
 * snapshot.c - writes the entries of an UltraDict snapshot to any backend and reads them back.
 *
 * Layout under a prefix P (see kv.h): P "entry/" KEY per entry, P "index/" N chunks listing the
 * keys in order, and P "manifest" written last. Entries are individual keys, so other tools can
 * read them; the index lets a backend that cannot enumerate (memcached) be read back; the
 * manifest's count and checksum let the reader refuse an incomplete or altered snapshot before
 * it hands out a single entry.
 */
#include "kv_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KV_HAVE_ULTRADICT
#include <ultradict.h>
#endif

#define MANIFEST_FORMAT "kv-snapshot 1"
#define BATCH_ITEMS 1000
#define BATCH_BYTES (4u << 20)
/* Index chunks stay well below memcached's default item size of 1 MiB. */
#define INDEX_CHUNK_BYTES (256u << 10)
/* An index record: type (1 byte), key length (4 bytes, little-endian), key. */
#define INDEX_RECORD_HEAD 5

/* The key P + part + suffix, built in b. */
static int make_key(kv_buf *b, const char *prefix, const char *part, const void *suffix,
                    size_t slen) {
    b->len = 0;
    if (kv__buf_append(b, prefix, strlen(prefix)) < 0 ||
        kv__buf_append(b, part, strlen(part)) < 0 || kv__buf_append(b, suffix, slen) < 0)
        return -ENOMEM;
    return 0;
}

static int chunk_key(kv_buf *b, const char *prefix, uint64_t n) {
    char num[24];
    int len = snprintf(num, sizeof(num), "%" PRIu64, n);
    return make_key(b, prefix, "index/", num, (size_t)len);
}

static void put_le(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The checksum of one entry, chained: the same function on save and on load. */
static uint64_t checksum_entry(uint64_t h, const void *key, size_t klen, const void *val,
                               size_t vlen, int type) {
    unsigned char n[8], t = (unsigned char)type;
    put_le(n, klen, 8);
    h = kv__fnv64(h, n, 8);
    h = kv__fnv64(h, key, klen);
    put_le(n, vlen, 8);
    h = kv__fnv64(h, n, 8);
    h = kv__fnv64(h, val, vlen);
    return kv__fnv64(h, &t, 1);
}

static int write_manifest(kv_conn *c, const char *prefix, const kv_manifest *m) {
    char text[256];
    kv_buf key = KV_BUF_INIT;
    int len = snprintf(text, sizeof(text),
                       MANIFEST_FORMAT "\ncount %" PRIu64 "\nbytes %" PRIu64 "\nchunks %" PRIu64
                                       "\nchecksum %016" PRIx64 "\n",
                       m->count, m->bytes, m->chunks, m->checksum);
    int rc = make_key(&key, prefix, "manifest", "", 0);
    if (rc == 0)
        rc = kv_set(c, key.data, key.len, text, (size_t)len);
    kv_buf_free(&key);
    return rc;
}

/* Reads P "manifest": 0, KV_ENOTFOUND, KV_EVERSION, KV_ECORRUPT, or the backend's error. */
/* Reads one "NAME NUMBER\n" line of a manifest at *p (base 10 or 16) and moves *p past it. */
static int manifest_field(const char **p, const char *name, int base, uint64_t *out) {
    size_t n = strlen(name);
    if (strncmp(*p, name, n) != 0 || !isxdigit((unsigned char)(*p)[n]))
        return KV_ECORRUPT;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(*p + n, &end, base);
    if (errno || (*end != '\n' && *end != '\0'))
        return KV_ECORRUPT;
    *out = v;
    *p = *end ? end + 1 : end;
    return 0;
}

static int read_manifest(kv_conn *c, const char *prefix, kv_manifest *m) {
    kv_buf key = KV_BUF_INIT, val = KV_BUF_INIT;
    int rc = make_key(&key, prefix, "manifest", "", 0);
    if (rc == 0)
        rc = kv_get(c, key.data, key.len, &val);
    if (rc == KV_ENOTFOUND)
        kv__error(c, rc, "no snapshot manifest at key '%s'", (char *)key.data);
    if (rc < 0)
        goto out;
    const char *text = val.data;
    if (strncmp(text, MANIFEST_FORMAT "\n", sizeof(MANIFEST_FORMAT)) != 0) {
        rc = kv__error(c, KV_EVERSION, "'%s' is not a '" MANIFEST_FORMAT "' manifest",
                       (char *)key.data);
        goto out;
    }
    const char *p = text + sizeof(MANIFEST_FORMAT);
    if (manifest_field(&p, "count ", 10, &m->count) < 0 ||
        manifest_field(&p, "bytes ", 10, &m->bytes) < 0 ||
        manifest_field(&p, "chunks ", 10, &m->chunks) < 0 ||
        manifest_field(&p, "checksum ", 16, &m->checksum) < 0)
        rc = kv__error(c, KV_ECORRUPT, "the manifest '%s' is damaged", (char *)key.data);
out:
    kv_buf_free(&key);
    kv_buf_free(&val);
    return rc;
}

/* ---- Saving. ---- */

struct pending {
    size_t koff, klen, voff, vlen;
};

struct saver {
    kv_conn *c;
    const char *prefix;
    kv_buf arena;            /* prefixed keys and values of the batch being gathered */
    struct pending *pending; /* BATCH_ITEMS of them */
    kv_item *items;
    size_t npending;
    kv_buf index; /* the index chunk being gathered */
    kv_buf key;
    kv__table *written; /* the keys of this save, when a previous one must be cleaned up */
    kv_manifest m;
};

static int flush_batch(struct saver *s) {
    if (s->npending == 0)
        return 0;
    const char *base = s->arena.data;
    for (size_t i = 0; i < s->npending; i++)
        s->items[i] = (kv_item){base + s->pending[i].koff, s->pending[i].klen,
                                base + s->pending[i].voff, s->pending[i].vlen};
    int rc = kv_set_many(s->c, s->items, s->npending);
    s->npending = 0;
    s->arena.len = 0;
    return rc;
}

static int flush_index(struct saver *s) {
    if (s->index.len == 0)
        return 0;
    int rc = chunk_key(&s->key, s->prefix, s->m.chunks);
    if (rc == 0)
        rc = kv_set(s->c, s->key.data, s->key.len, s->index.data, s->index.len);
    s->index.len = 0;
    s->m.chunks++;
    return rc;
}

static int save_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                    int type) {
    struct saver *s = ctx;
    size_t plen = strlen(s->prefix) + sizeof("entry/") - 1;
    int rc;

    if (klen == 0 || klen > UINT32_MAX)
        return kv__error(s->c, KV_EINVAL, "snapshot entry %" PRIu64 " has a key of %zu bytes",
                         s->m.count, klen);
    s->m.count++;
    s->m.bytes += klen + vlen;
    s->m.checksum = checksum_entry(s->m.checksum, key, klen, val, vlen, type);
    if (s->written && (rc = kv__table_set(s->written, key, klen, "", 0)) < 0)
        return rc;

    unsigned char head[INDEX_RECORD_HEAD];
    head[0] = (unsigned char)type;
    put_le(head + 1, klen, 4);
    if (s->index.len + INDEX_RECORD_HEAD + klen > INDEX_CHUNK_BYTES && (rc = flush_index(s)) < 0)
        return rc;
    if ((rc = kv__buf_append(&s->index, head, sizeof(head))) < 0 ||
        (rc = kv__buf_append(&s->index, key, klen)) < 0)
        return rc;

    struct pending *p = &s->pending[s->npending++];
    p->koff = s->arena.len;
    p->klen = plen + klen;
    if ((rc = kv__buf_append(&s->arena, s->prefix, strlen(s->prefix))) < 0 ||
        (rc = kv__buf_append(&s->arena, "entry/", 6)) < 0 ||
        (rc = kv__buf_append(&s->arena, key, klen)) < 0)
        return rc;
    p->voff = s->arena.len;
    p->vlen = vlen;
    if ((rc = kv__buf_append(&s->arena, val, vlen)) < 0)
        return rc;
    if (s->npending == BATCH_ITEMS || s->arena.len >= BATCH_BYTES)
        return flush_batch(s);
    return 0;
}

/*
 * Reads the index of an earlier save into `old` (records as in the index chunks), so that its
 * entries can be removed if this save does not have them. An absent or damaged earlier save
 * leaves `old` empty: there is nothing trustworthy to clean up.
 */
static int read_old_index(kv_conn *c, const char *prefix, kv_buf *old, uint64_t *old_chunks) {
    kv_manifest m = {0};
    kv_buf key = KV_BUF_INIT, val = KV_BUF_INIT;
    int rc = read_manifest(c, prefix, &m);

    *old_chunks = 0;
    if (rc == KV_ENOTFOUND || rc == KV_EVERSION || rc == KV_ECORRUPT)
        return 0;
    if (rc < 0)
        return rc;
    *old_chunks = m.chunks;
    for (uint64_t i = 0; i < m.chunks && rc == 0; i++) {
        if ((rc = chunk_key(&key, prefix, i)) < 0)
            break;
        rc = kv_get(c, key.data, key.len, &val);
        if (rc == KV_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = kv__buf_append(old, val.data, val.len);
    }
    kv_buf_free(&key);
    kv_buf_free(&val);
    c->errmsg[0] = '\0';
    return rc;
}

static int remove_stale(struct saver *s, const kv_buf *old, uint64_t old_chunks) {
    const unsigned char *p = old->data, *end = p + old->len;
    int rc = 0;

    while (p && p + INDEX_RECORD_HEAD <= end && rc == 0) {
        size_t klen = (size_t)get_le(p + 1, 4);
        const unsigned char *k = p + INDEX_RECORD_HEAD;
        if (klen > (size_t)(end - k))
            break;
        const void *dummy;
        size_t dlen;
        if (kv__table_get(s->written, k, klen, &dummy, &dlen) == KV_ENOTFOUND &&
            (rc = make_key(&s->key, s->prefix, "entry/", k, klen)) == 0) {
            rc = kv_del(s->c, s->key.data, s->key.len);
            if (rc == KV_ENOTFOUND)
                rc = 0;
        }
        p = k + klen;
    }
    for (uint64_t i = s->m.chunks; i < old_chunks && rc == 0; i++) {
        if ((rc = chunk_key(&s->key, s->prefix, i)) == 0)
            rc = kv_del(s->c, s->key.data, s->key.len);
        if (rc == KV_ENOTFOUND)
            rc = 0;
    }
    return rc;
}

int kv_save_entries_from(kv_conn *c, const char *prefix, kv_source_fn source, const void *src,
                         size_t srclen, kv_manifest *m) {
    struct saver s = {.c = c, .prefix = prefix};
    kv_buf old = KV_BUF_INIT;
    uint64_t old_chunks = 0;
    int rc;

    if (!c)
        return KV_EINVAL;
    if (!prefix || !source)
        return kv__error(c, KV_EINVAL, "kv_save_entries: prefix and source must not be NULL");
    s.m.checksum = KV__FNV64_INIT;
    s.pending = malloc(BATCH_ITEMS * sizeof(*s.pending));
    s.items = malloc(BATCH_ITEMS * sizeof(*s.items));
    if (!s.pending || !s.items) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = read_old_index(c, prefix, &old, &old_chunks)) < 0)
        goto out;
    if (old_chunks && (rc = kv__table_new(&s.written)) < 0)
        goto out;
    /* The old manifest goes first: from here until the new one is written, nothing verifies. */
    if ((rc = make_key(&s.key, prefix, "manifest", "", 0)) < 0)
        goto out;
    rc = kv_del(c, s.key.data, s.key.len);
    if (rc < 0 && rc != KV_ENOTFOUND)
        goto out;

    rc = source(src, srclen, save_one, &s);
    if (rc == 0)
        rc = flush_batch(&s);
    if (rc == 0)
        rc = flush_index(&s);
    if (rc == 0)
        rc = write_manifest(c, prefix, &s.m);
    if (rc == 0 && old_chunks)
        rc = remove_stale(&s, &old, old_chunks);
    if (rc == 0 && m)
        *m = s.m;
out:
    kv__table_free(s.written);
    kv_buf_free(&old);
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
    int rc = kv_ud_error(urc);
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
    /*
     * Verify the bytes before the backend is touched, so that a bad snapshot leaves an earlier
     * save under the same prefix intact (the save itself starts by removing its manifest).
     */
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

/* ---- Loading. ---- */

/* Where one entry of the snapshot being loaded sits in the arenas. */
struct loaded {
    size_t koff, klen, voff, vlen;
    int type;
};

struct loader {
    kv_conn *c;
    const char *prefix;
    kv_buf keys; /* the original keys, back to back */
    kv_buf vals; /* the values, back to back */
    struct loaded *e;
    size_t n, cap;
};

/* Decodes one index chunk into l->e (keys go into l->keys). */
static int decode_chunk(struct loader *l, const kv_buf *chunk, uint64_t which) {
    const unsigned char *p = chunk->data, *end = p + chunk->len;
    while (p < end) {
        if (end - p < INDEX_RECORD_HEAD)
            goto bad;
        size_t klen = (size_t)get_le(p + 1, 4);
        if (klen == 0 || klen > (size_t)(end - p - INDEX_RECORD_HEAD) || p[0] > KV_TYPE_DICT)
            goto bad;
        if (l->n == l->cap) {
            size_t ncap = l->cap ? l->cap * 2 : 1024;
            struct loaded *ne = realloc(l->e, ncap * sizeof(*ne));
            if (!ne)
                return -ENOMEM;
            l->e = ne;
            l->cap = ncap;
        }
        l->e[l->n] = (struct loaded){l->keys.len, klen, 0, 0, p[0]};
        if (kv__buf_append(&l->keys, p + INDEX_RECORD_HEAD, klen) < 0)
            return -ENOMEM;
        l->n++;
        p += INDEX_RECORD_HEAD + klen;
    }
    return 0;
bad:
    return kv__error(l->c, KV_ECORRUPT, "index chunk %" PRIu64 " under '%s' is damaged", which,
                     l->prefix);
}

/* Fetches the values of entries [start, start + n) with one batch read. */
static int fetch_values(struct loader *l, size_t start, size_t n, kv_buf *keybufs, kv_key *keys,
                        kv_buf *vals, int *rcs) {
    for (size_t i = 0; i < n; i++) {
        const struct loaded *e = &l->e[start + i];
        int rc =
            make_key(&keybufs[i], l->prefix, "entry/", (char *)l->keys.data + e->koff, e->klen);
        if (rc < 0)
            return rc;
        keys[i] = (kv_key){keybufs[i].data, keybufs[i].len};
    }
    int rc = kv_get_many(l->c, keys, n, vals, rcs);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct loaded *e = &l->e[start + i];
        if (rcs[i] == KV_ENOTFOUND)
            return kv__error(l->c, KV_ECORRUPT, "snapshot entry '%.*s' is missing under '%s'",
                             (int)(e->klen > 64 ? 64 : e->klen), (char *)l->keys.data + e->koff,
                             l->prefix);
        e->voff = l->vals.len;
        e->vlen = vals[i].len;
        if (kv__buf_append(&l->vals, vals[i].data, vals[i].len) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Reads the man->chunks index chunks into l, and checks that they list man->count entries. */
static int read_index(struct loader *l, const kv_manifest *man) {
    kv_buf chunk = KV_BUF_INIT, chunk_name = KV_BUF_INIT;
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < man->chunks; i++) {
        if ((rc = chunk_key(&chunk_name, l->prefix, i)) < 0)
            break;
        rc = kv_get(l->c, chunk_name.data, chunk_name.len, &chunk);
        if (rc == KV_ENOTFOUND)
            rc = kv__error(l->c, KV_ECORRUPT, "index chunk '%s' is missing",
                           (char *)chunk_name.data);
        if (rc == 0)
            rc = decode_chunk(l, &chunk, i);
    }
    kv_buf_free(&chunk);
    kv_buf_free(&chunk_name);
    if (rc == 0 && l->n != man->count)
        rc = kv__error(l->c, KV_ECORRUPT,
                       "the index under '%s' lists %zu entries, the manifest says %" PRIu64,
                       l->prefix, l->n, man->count);
    return rc;
}

/* Fetches the values of every indexed entry, BATCH_ITEMS at a time. */
static int fetch_all_values(struct loader *l) {
    kv_buf *keybufs = calloc(BATCH_ITEMS, sizeof(*keybufs));
    kv_buf *vals = calloc(BATCH_ITEMS, sizeof(*vals));
    kv_key *keys = calloc(BATCH_ITEMS, sizeof(*keys));
    int *rcs = calloc(BATCH_ITEMS, sizeof(*rcs));
    int rc = keybufs && vals && keys && rcs ? 0 : -ENOMEM;
    for (size_t start = 0; rc == 0 && start < l->n; start += BATCH_ITEMS) {
        size_t n = l->n - start < BATCH_ITEMS ? l->n - start : BATCH_ITEMS;
        rc = fetch_values(l, start, n, keybufs, keys, vals, rcs);
    }
    for (size_t i = 0; keybufs && vals && i < BATCH_ITEMS; i++) {
        kv_buf_free(&keybufs[i]);
        kv_buf_free(&vals[i]);
    }
    free(keybufs);
    free(vals);
    free(keys);
    free(rcs);
    return rc;
}

/* Checks the loaded entries against the manifest's byte count and checksum. */
static int check_manifest(const struct loader *l, const kv_manifest *man) {
    uint64_t sum = KV__FNV64_INIT, bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct loaded *e = &l->e[i];
        sum = checksum_entry(sum, (char *)l->keys.data + e->koff, e->klen,
                             (char *)l->vals.data + e->voff, e->vlen, e->type);
        bytes += e->klen + e->vlen;
    }
    if (sum != man->checksum || bytes != man->bytes)
        return kv__error(l->c, KV_ECORRUPT,
                         "the snapshot under '%s' does not match its manifest (checksum %016" PRIx64
                         " vs %016" PRIx64 ", %" PRIu64 " vs %" PRIu64 " bytes)",
                         l->prefix, sum, man->checksum, bytes, man->bytes);
    return 0;
}

/* Hands every loaded entry to fn, in save order; stops at fn's first non-zero value. */
static int deliver(const struct loader *l, kv_snapshot_fn fn, void *ctx) {
    for (size_t i = 0; i < l->n; i++) {
        const struct loaded *e = &l->e[i];
        int rc = fn(ctx, (char *)l->keys.data + e->koff, e->klen,
                    e->vlen ? (char *)l->vals.data + e->voff : "", e->vlen, e->type);
        if (rc)
            return rc;
    }
    return 0;
}

int kv_load_entries(kv_conn *c, const char *prefix, kv_snapshot_fn fn, void *ctx, kv_manifest *m) {
    struct loader l = {.c = c, .prefix = prefix};
    kv_manifest man = {0};
    int rc;

    if (!c)
        return KV_EINVAL;
    if (!prefix || !fn)
        return kv__error(c, KV_EINVAL, "kv_load_entries: prefix and fn must not be NULL");
    c->errmsg[0] = '\0';
    if ((rc = read_manifest(c, prefix, &man)) < 0)
        return rc;

    /* Empty arenas still get memory: entry pointers are computed from their base. */
    if (kv__buf_reserve(&l.keys, 0) < 0 || kv__buf_reserve(&l.vals, 0) < 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = read_index(&l, &man);
    if (rc == 0)
        rc = fetch_all_values(&l);
    if (rc == 0)
        rc = check_manifest(&l, &man);
    if (rc == 0 && m)
        *m = man;
    if (rc == 0)
        rc = deliver(&l, fn, ctx);
    kv_buf_free(&l.keys);
    kv_buf_free(&l.vals);
    free(l.e);
    return rc;
}
