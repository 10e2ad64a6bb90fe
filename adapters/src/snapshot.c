/*
 * snapshot.c - the layout of an UltraDict snapshot in a backend (keys, manifest, the list of
 * pending generations; see snapshot.h) and the reader, kv_load_entries(). The saver is in
 * snapshot_save.c.
 *
 * Entries are individual keys, so other tools can read them; the index lets a backend that
 * cannot enumerate (memcached) be read back; the manifest's count and checksum let the reader
 * refuse an incomplete or altered snapshot before it hands out a single entry. Each save writes
 * a new generation beside the current one and switches the manifest last, so that a save
 * killed at any moment leaves the previous snapshot whole.
 */
#include "snapshot.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_FORMAT_1 "kv-snapshot 1"
#define MANIFEST_FORMAT "kv-snapshot 2"
#define PENDING_FORMAT "kv-snapshot-pending 1"
#define BATCH_ITEMS 1000
/* A reader that meets a snapshot replaced under it starts again, this many times at most. */
#define LOAD_ATTEMPTS 3

int kv__snap_key(kv_buf *b, const char *prefix, const char *gen, const char *part,
                 const void *suffix, size_t slen) {
    b->len = 0;
    if (kv__buf_append(b, prefix, strlen(prefix)) < 0)
        return -ENOMEM;
    if (gen[0] && (kv__buf_append(b, "gen/", 4) < 0 || kv__buf_append(b, gen, strlen(gen)) < 0 ||
                   kv__buf_append(b, "/", 1) < 0))
        return -ENOMEM;
    if (kv__buf_append(b, part, strlen(part)) < 0 || kv__buf_append(b, suffix, slen) < 0)
        return -ENOMEM;
    return 0;
}

int kv__snap_chunk_key(kv_buf *b, const char *prefix, const char *gen, uint64_t n) {
    char num[24];
    int len = snprintf(num, sizeof(num), "%" PRIu64, n);
    return kv__snap_key(b, prefix, gen, "index/", num, (size_t)len);
}

/* The key P name (manifest, pending), outside every generation. */
static int top_key(kv_buf *b, const char *prefix, const char *name) {
    return kv__snap_key(b, prefix, "", name, "", 0);
}

void kv__put_le(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t kv__get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t kv__snap_checksum(uint64_t h, const void *key, size_t klen, const void *val, size_t vlen,
                           int type) {
    unsigned char n[8], t = (unsigned char)type;
    kv__put_le(n, klen, 8);
    h = kv__fnv64(h, n, 8);
    h = kv__fnv64(h, key, klen);
    kv__put_le(n, vlen, 8);
    h = kv__fnv64(h, n, 8);
    h = kv__fnv64(h, val, vlen);
    return kv__fnv64(h, &t, 1);
}

int kv__write_manifest(kv_conn *c, const char *prefix, const kv_manifest *m) {
    char text[256];
    kv_buf key = KV_BUF_INIT;
    int len = snprintf(text, sizeof(text),
                       MANIFEST_FORMAT "\ngeneration %s\ncount %" PRIu64 "\nbytes %" PRIu64
                                       "\nchunks %" PRIu64 "\nchecksum %016" PRIx64 "\n",
                       m->generation, m->count, m->bytes, m->chunks, m->checksum);
    int rc = top_key(&key, prefix, "manifest");
    if (rc == 0)
        rc = kv_set(c, key.data, key.len, text, (size_t)len);
    kv_buf_free(&key);
    return rc;
}

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

/* True if s[0..KV__GEN_LEN) are lowercase hex digits followed by `end`. */
static bool is_gen(const char *s, char end) {
    for (int i = 0; i < KV__GEN_LEN; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return s[KV__GEN_LEN] == end;
}

/* Reads the "generation G\n" line of a format-2 manifest into gen and moves *p past it. */
static int manifest_generation(const char **p, char *gen) {
    static const char name[] = "generation ";
    if (strncmp(*p, name, sizeof(name) - 1) != 0 || !is_gen(*p + sizeof(name) - 1, '\n'))
        return KV_ECORRUPT;
    memcpy(gen, *p + sizeof(name) - 1, KV__GEN_LEN);
    gen[KV__GEN_LEN] = '\0';
    *p += sizeof(name) - 1 + KV__GEN_LEN + 1;
    return 0;
}

int kv__read_manifest(kv_conn *c, const char *prefix, kv_manifest *m) {
    kv_buf key = KV_BUF_INIT, val = KV_BUF_INIT;
    int rc = top_key(&key, prefix, "manifest");
    if (rc == 0)
        rc = kv_get(c, key.data, key.len, &val);
    if (rc == KV_ENOTFOUND)
        kv__error(c, rc, "no snapshot manifest at key '%s'", (char *)key.data);
    if (rc < 0)
        goto out;
    const char *text = val.data, *p;
    m->generation[0] = '\0';
    if (strncmp(text, MANIFEST_FORMAT "\n", sizeof(MANIFEST_FORMAT)) == 0) {
        p = text + sizeof(MANIFEST_FORMAT);
        rc = manifest_generation(&p, m->generation);
    } else if (strncmp(text, MANIFEST_FORMAT_1 "\n", sizeof(MANIFEST_FORMAT_1)) == 0) {
        p = text + sizeof(MANIFEST_FORMAT_1);
    } else {
        rc = kv__error(c, KV_EVERSION, "'%s' is not a '" MANIFEST_FORMAT "' manifest",
                       (char *)key.data);
        goto out;
    }
    if (rc < 0 || manifest_field(&p, "count ", 10, &m->count) < 0 ||
        manifest_field(&p, "bytes ", 10, &m->bytes) < 0 ||
        manifest_field(&p, "chunks ", 10, &m->chunks) < 0 ||
        manifest_field(&p, "checksum ", 16, &m->checksum) < 0)
        rc = kv__error(c, KV_ECORRUPT, "the manifest '%s' is damaged", (char *)key.data);
out:
    kv_buf_free(&key);
    kv_buf_free(&val);
    return rc;
}

/*
 * P "pending" is PENDING_FORMAT "\n" and one line per generation: its 16 hex digits, or "-"
 * for the format-1 layout. A damaged list reads as empty: nothing in it can be trusted to name
 * what may be removed.
 */
static void parse_pending(const char *p, const char *end, kv__pending *out) {
    out->n = 0;
    if ((size_t)(end - p) < sizeof(PENDING_FORMAT) ||
        memcmp(p, PENDING_FORMAT "\n", sizeof(PENDING_FORMAT)) != 0)
        return;
    p += sizeof(PENDING_FORMAT);
    while (p < end && out->n < KV__PENDING_MAX) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '\n') {
            out->gen[out->n++][0] = '\0';
            p += 2;
        } else if (end - p > KV__GEN_LEN && is_gen(p, '\n')) {
            memcpy(out->gen[out->n], p, KV__GEN_LEN);
            out->gen[out->n++][KV__GEN_LEN] = '\0';
            p += KV__GEN_LEN + 1;
        } else {
            out->n = 0;
            return;
        }
    }
}

int kv__read_pending(kv_conn *c, const char *prefix, kv__pending *p) {
    kv_buf key = KV_BUF_INIT, val = KV_BUF_INIT;
    int rc = top_key(&key, prefix, "pending");
    p->n = 0;
    if (rc == 0)
        rc = kv_get(c, key.data, key.len, &val);
    if (rc == 0)
        parse_pending(val.data, (const char *)val.data + val.len, p);
    if (rc == KV_ENOTFOUND) {
        rc = 0;
        c->errmsg[0] = '\0';
    }
    kv_buf_free(&key);
    kv_buf_free(&val);
    return rc;
}

int kv__write_pending(kv_conn *c, const char *prefix, const kv__pending *p) {
    kv_buf key = KV_BUF_INIT, text = KV_BUF_INIT;
    int rc = top_key(&key, prefix, "pending");
    if (rc == 0 && p->n == 0) {
        rc = kv_del(c, key.data, key.len);
        if (rc == KV_ENOTFOUND)
            rc = 0;
        goto out;
    }
    if (rc == 0)
        rc = kv__buf_append(&text, PENDING_FORMAT "\n", sizeof(PENDING_FORMAT));
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        const char *g = p->gen[i][0] ? p->gen[i] : "-";
        if (kv__buf_append(&text, g, strlen(g)) < 0 || kv__buf_append(&text, "\n", 1) < 0)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = kv_set(c, key.data, key.len, text.data, text.len);
out:
    kv_buf_free(&key);
    kv_buf_free(&text);
    return rc;
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
    const char *gen; /* the generation the manifest names */
    kv_buf keys;     /* the original keys, back to back */
    kv_buf vals;     /* the values, back to back */
    struct loaded *e;
    size_t n, cap;
};

/* Decodes one index chunk into l->e (keys go into l->keys). */
static int decode_chunk(struct loader *l, const kv_buf *chunk, uint64_t which) {
    const unsigned char *p = chunk->data, *end = p + chunk->len;
    while (p < end) {
        if (end - p < KV__INDEX_RECORD_HEAD)
            goto bad;
        size_t klen = (size_t)kv__get_le(p + 1, 4);
        if (klen == 0 || klen > (size_t)(end - p - KV__INDEX_RECORD_HEAD) || p[0] > KV_TYPE_DICT)
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
        if (kv__buf_append(&l->keys, p + KV__INDEX_RECORD_HEAD, klen) < 0)
            return -ENOMEM;
        l->n++;
        p += KV__INDEX_RECORD_HEAD + klen;
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
        int rc = kv__snap_key(&keybufs[i], l->prefix, l->gen, "entry/",
                              (char *)l->keys.data + e->koff, e->klen);
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
        if ((rc = kv__snap_chunk_key(&chunk_name, l->prefix, l->gen, i)) < 0)
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
        sum = kv__snap_checksum(sum, (char *)l->keys.data + e->koff, e->klen,
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

/* Reads, verifies and delivers the snapshot of the generation that man names. */
static int load_generation(kv_conn *c, const char *prefix, const kv_manifest *man,
                           kv_snapshot_fn fn, void *ctx, bool *verified) {
    struct loader l = {.c = c, .prefix = prefix, .gen = man->generation};
    int rc = 0;

    /* Empty arenas still get memory: entry pointers are computed from their base. */
    if (kv__buf_reserve(&l.keys, 0) < 0 || kv__buf_reserve(&l.vals, 0) < 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = read_index(&l, man);
    if (rc == 0)
        rc = fetch_all_values(&l);
    if (rc == 0)
        rc = check_manifest(&l, man);
    if (rc == 0) {
        *verified = true;
        rc = deliver(&l, fn, ctx);
    }
    kv_buf_free(&l.keys);
    kv_buf_free(&l.vals);
    free(l.e);
    return rc;
}

/*
 * True if the manifest under prefix names another generation than `gen` now: a save replaced
 * the snapshot while it was being read (and removed the old generation's keys).
 */
static bool replaced(kv_conn *c, const char *prefix, const char *gen) {
    kv_manifest now = {0};
    return kv__read_manifest(c, prefix, &now) == 0 && strcmp(now.generation, gen) != 0;
}

int kv_load_entries(kv_conn *c, const char *prefix, kv_snapshot_fn fn, void *ctx, kv_manifest *m) {
    kv_manifest man = {0};
    bool verified = false;
    int rc;

    if (!c)
        return KV_EINVAL;
    if (!prefix || !fn)
        return kv__error(c, KV_EINVAL, "kv_load_entries: prefix and fn must not be NULL");
    for (int attempt = 1;; attempt++) {
        c->errmsg[0] = '\0';
        if ((rc = kv__read_manifest(c, prefix, &man)) < 0)
            return rc;
        rc = load_generation(c, prefix, &man, fn, ctx, &verified);
        if (verified || rc != KV_ECORRUPT || attempt == LOAD_ATTEMPTS ||
            !replaced(c, prefix, man.generation))
            break;
    }
    if (verified && m)
        *m = man;
    return rc;
}
