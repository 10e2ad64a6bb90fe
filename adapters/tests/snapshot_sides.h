/*
 * snapshot_sides.h - the two snapshots of the overwrite crash tests (contract_overwrite.c and
 * the soak snapshot_soak.c): A and B, whose keys overlap and whose values say whose they are,
 * and the check that a restore gave one of them whole. Header-only: each test is one program.
 */
#ifndef KV_SNAPSHOT_SIDES_H
#define KV_SNAPSHOT_SIDES_H

#include "kv.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct snap_side {
    char tag; /* 'A' or 'B' */
    size_t first, n;
    size_t die_at; /* a source kills its own process before this entry (SIZE_MAX: never) */
} snap_side;

/* Entry i of side s: key "k:NNNNNN" (from s->first) and a value of about 60 bytes. */
static inline size_t snap_side_entry(const snap_side *s, size_t i, char k[32], char v[96]) {
    snprintf(k, 32, "k:%06zu", s->first + i);
    return (size_t)snprintf(v, 96, "%c:%zu:%0*zu", s->tag, s->first + i, 50, i * 7919);
}

/* A kv_source_fn over a side (src is the snap_side). */
static inline int snap_side_source(const void *src, size_t srclen, kv_snapshot_fn fn, void *ctx) {
    const snap_side *s = src;
    char k[32], v[96];
    (void)srclen;
    for (size_t i = 0; i < s->n; i++) {
        if (i == s->die_at)
            raise(SIGKILL);
        size_t vl = snap_side_entry(s, i, k, v);
        int rc = fn(ctx, k, strlen(k), v, vl, KV_TYPE_BYTES);
        if (rc)
            return rc;
    }
    return 0;
}

/* What a restore gave: entries in order, compared with A and with B as they come. */
struct snap_seen {
    const snap_side *a, *b;
    size_t n;
    bool is_a, is_b;
};

static inline bool snap_same(const snap_side *s, size_t i, const void *key, size_t klen,
                             const void *val, size_t vlen) {
    char k[32], v[96];
    if (i >= s->n)
        return false;
    size_t vl = snap_side_entry(s, i, k, v);
    return klen == strlen(k) && memcmp(key, k, klen) == 0 && vlen == vl && memcmp(val, v, vl) == 0;
}

static inline int snap_seen_entry(void *ctx, const void *key, size_t klen, const void *val,
                                  size_t vlen, int type) {
    struct snap_seen *s = ctx;
    s->is_a = s->is_a && type == KV_TYPE_BYTES && snap_same(s->a, s->n, key, klen, val, vlen);
    s->is_b = s->is_b && type == KV_TYPE_BYTES && snap_same(s->b, s->n, key, klen, val, vlen);
    s->n++;
    return 0;
}

/*
 * Restores the snapshot under prefix and returns 'A' or 'B' if it is one of them whole, or 0
 * (printing the reason on stderr). Fills *m (may be NULL) as kv_load_entries() does.
 */
static inline int snap_restored(kv_conn *c, const char *prefix, const snap_side *a,
                                const snap_side *b, kv_manifest *m) {
    struct snap_seen s = {a, b, 0, true, true};
    int rc = kv_load_entries(c, prefix, snap_seen_entry, &s, m);
    if (rc != 0) {
        fprintf(stderr, "restore: %s (%s)\n", kv_errname(rc), kv_errmsg(c));
        return 0;
    }
    return s.is_a && s.n == a->n ? 'A' : s.is_b && s.n == b->n ? 'B' : 0;
}

#endif
