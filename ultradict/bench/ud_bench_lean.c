/*
 * ud_bench_lean.c - ud_get() against a lean open-addressing table over the same 10k keys, in the
 * same process and the same run, interleaved.
 *
 * The lean table is the least a hash table can do for a get: one array of 32-byte slots (the
 * key's full hash, pointers to its key and value bytes, their lengths), linear probing at a load
 * factor of at most 1/2, the same hash as the library (ud__hash(key, klen, 0)), and the value
 * copied into a ud_buf the way ud_get() fills one. No order, no deletion, no growth, no
 * process sharing: what is left of ud_get() above it is the price of being a shared dict.
 *
 * Two baselines: "vs_lean" looks keys up as any table must, with a length known only at run time
 * (a call to memcmp()); "vs_lean_k9" is the same code compiled for 9-byte keys only (the
 * compiler turns memcmp() into two loads): the most a table specialised for one key length
 * gains, which ud_get() cannot.
 *
 * One iteration of "ud/get_8B/10k_keys:vs_lean" is one ud_get() and one lean get of the same
 * key; they run in alternating batches of BATCH gets (which one goes first alternates too), each
 * batch timed on its own, over the keys in a fixed scattered order. The counters are the two
 * mean costs, their ratio (ud / lean) from the same batches, and the median of the ratios of
 * each pair of batches (ratio_median_pair: the figure to quote on a busy machine).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ud_bench_internal.h"

#include "hash.h"

enum {
    LEAN_KEYS = 10000,
    LEAN_VLEN = 8,
    BATCH = 200,      /* gets per timed batch: long against the clock, short against preemption */
    LEAN_STEP = 7919, /* a prime: i * LEAN_STEP mod LEAN_KEYS visits every key once */
};

typedef struct lean_slot {
    uint64_t hash;
    const char *key; /* NULL: empty */
    const char *val;
    uint32_t klen;
    uint32_t vlen;
} lean_slot;

typedef struct lean_table {
    lean_slot *slots;
    size_t mask;
} lean_table;

typedef struct lean_fx {
    ud_dict *d;
    lean_table lean;
    char (*keys)[KEY_SLOT];
    uint64_t *vals;
    ud_buf ud_out;
    ud_buf lean_out;
    uint64_t ud_ns, lean_ns, gets;
    size_t klen;     /* KLEN, read from memory: no code specialised for it */
    bool lean_fixed; /* the lean side compiled for KLEN-byte keys (memcmp of a constant length) */
    size_t next;     /* position in the key order */
    unsigned flip;
    double *ratios; /* ud / lean of each pair of full batches */
    size_t nratios, ratios_cap;
} lean_fx;

static int lean_init(lean_table *t, size_t n) {
    size_t slots = 16;
    while (slots < 2 * n)
        slots <<= 1;
    t->slots = calloc(slots, sizeof *t->slots);
    t->mask = slots - 1;
    return t->slots ? 0 : -ENOMEM;
}

static void lean_put(lean_table *t, const char *key, uint32_t klen, const void *val,
                     uint32_t vlen) {
    uint64_t h = ud__hash(key, klen, 0);
    size_t s = h & t->mask;
    while (t->slots[s].key)
        s = (s + 1) & t->mask;
    t->slots[s] = (lean_slot){h, key, val, klen, vlen};
}

static inline int lean_lookup(const lean_table *t, const char *key, size_t klen, ud_buf *out) {
    uint64_t h = ud__hash(key, klen, 0);
    for (size_t s = h & t->mask;; s = (s + 1) & t->mask) {
        const lean_slot *e = &t->slots[s];
        if (!e->key)
            return UD_ENOTFOUND;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            if (e->vlen + 1 > out->cap) {
                void *p = realloc(out->data, e->vlen + 1u < 64 ? 64 : e->vlen + 1u);
                if (!p)
                    return -ENOMEM;
                out->data = p;
                out->cap = e->vlen + 1u < 64 ? 64 : e->vlen + 1u;
            }
            memcpy(out->data, e->val, e->vlen);
            ((char *)out->data)[e->vlen] = '\0';
            out->len = e->vlen;
            return 0;
        }
    }
}

/* The lookups, kept out of line like ud_get(): both sides pay for one call. */
__attribute__((noinline)) static int lean_get(const lean_table *t, const char *key, size_t klen,
                                              ud_buf *out) {
    return lean_lookup(t, key, klen, out);
}

__attribute__((noinline)) static int lean_get_k9(const lean_table *t, const char *key,
                                                 ud_buf *out) {
    return lean_lookup(t, key, KLEN, out);
}

int udb__setup_lean(udb_state *s, size_t nkeys) {
    lean_fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return udb__fail(s, -ENOMEM, "calloc");
    s->fixture = fx;
    fx->keys = calloc(nkeys, sizeof *fx->keys);
    fx->vals = calloc(nkeys, sizeof *fx->vals);
    if (!fx->keys || !fx->vals || lean_init(&fx->lean, nkeys))
        return udb__fail(s, -ENOMEM, "calloc");
    fx->klen = KLEN;
    int rc = udb__open_new_dict(s, 0, UD_LOCK_MUTEX, &fx->d);
    for (size_t i = 0; i < nkeys && !rc; i++) {
        snprintf(fx->keys[i], KEY_SLOT, "k%08u", (unsigned)(i % 100000000u));
        fx->vals[i] = i;
        lean_put(&fx->lean, fx->keys[i], KLEN, &fx->vals[i], LEAN_VLEN);
        rc = ud_set(fx->d, fx->keys[i], KLEN, &fx->vals[i], LEAN_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set (setup)");
    }
    return rc;
}

int udb__setup_lean_fixed(udb_state *s, size_t nkeys) {
    int rc = udb__setup_lean(s, nkeys);
    if (s->fixture)
        ((lean_fx *)s->fixture)->lean_fixed = true;
    return rc;
}

void udb__teardown_lean(udb_state *s) {
    lean_fx *fx = s->fixture;
    if (!fx)
        return;
    udb__close(fx->d, "creator");
    free(fx->lean.slots);
    free(fx->keys);
    free(fx->vals);
    ud_buf_free(&fx->ud_out);
    ud_buf_free(&fx->lean_out);
    free(fx->ratios);
    free(fx);
    s->fixture = NULL;
}

/* Keeps the ratio of one pair of full batches (a pair preempted by another process is one
 * outlier among thousands, which the median ignores). */
static int note_ratio(udb_state *s, lean_fx *fx, uint64_t ud_ns, uint64_t lean_ns) {
    if (fx->nratios == fx->ratios_cap) {
        size_t cap = fx->ratios_cap ? 2 * fx->ratios_cap : 1024;
        double *r = realloc(fx->ratios, cap * sizeof *r);
        if (!r)
            return udb__fail(s, -ENOMEM, "realloc");
        fx->ratios = r;
        fx->ratios_cap = cap;
    }
    fx->ratios[fx->nratios++] = lean_ns ? (double)ud_ns / (double)lean_ns : 0;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One batch of n gets through one side, starting at key position `at`; adds its nanoseconds. */
static int batch(udb_state *s, lean_fx *fx, bool ud, size_t at, size_t n, uint64_t *ns) {
    uint64_t t0 = udb__now_ns();
    for (size_t i = 0; i < n; i++) {
        const char *k = fx->keys[((at + i) * LEAN_STEP) % LEAN_KEYS];
        int rc = ud               ? ud_get(fx->d, k, fx->klen, &fx->ud_out)
                 : fx->lean_fixed ? lean_get_k9(&fx->lean, k, &fx->lean_out)
                                  : lean_get(&fx->lean, k, fx->klen, &fx->lean_out);
        if (rc)
            return udb__fail(s, rc, ud ? "ud_get" : "lean_get");
    }
    *ns += udb__now_ns() - t0;
    return 0;
}

int udb__run_vs_lean(udb_state *s, uint64_t iterations) {
    lean_fx *fx = s->fixture;
    for (uint64_t done = 0; done < iterations;) {
        size_t n = iterations - done < BATCH ? (size_t)(iterations - done) : BATCH;
        bool ud_first = (fx->flip++ & 1) == 0;
        uint64_t ud_ns = 0, lean_ns = 0;
        int rc = batch(s, fx, ud_first, fx->next, n, ud_first ? &ud_ns : &lean_ns);
        if (!rc)
            rc = batch(s, fx, !ud_first, fx->next, n, ud_first ? &lean_ns : &ud_ns);
        if (!rc && n == BATCH)
            rc = note_ratio(s, fx, ud_ns, lean_ns);
        if (rc)
            return rc;
        fx->ud_ns += ud_ns;
        fx->lean_ns += lean_ns;
        fx->next = (fx->next + n) % LEAN_KEYS;
        fx->gets += n;
        done += n;
    }
    if (fx->ud_out.len != LEAN_VLEN || fx->lean_out.len != LEAN_VLEN ||
        memcmp(fx->ud_out.data, fx->lean_out.data, LEAN_VLEN) != 0)
        return udb__fail(s, UD_ECORRUPT, "ud_get and the lean table disagree");
    return 0;
}

int udb__finish_vs_lean(udb_state *s, uint64_t iterations) {
    (void)iterations;
    lean_fx *fx = s->fixture;
    double g = fx->gets ? (double)fx->gets : 1;
    udb__add_counter(s, "ud_get_ns", (double)fx->ud_ns / g);
    udb__add_counter(s, "lean_get_ns", (double)fx->lean_ns / g);
    udb__add_counter(s, "ratio_ud_to_lean",
                     fx->lean_ns ? (double)fx->ud_ns / (double)fx->lean_ns : 0);
    double median = 0;
    if (fx->nratios) {
        qsort(fx->ratios, fx->nratios, sizeof *fx->ratios, cmp_double);
        median = fx->ratios[fx->nratios / 2];
    }
    udb__add_counter(s, "ratio_median_pair", median);
    return 0;
}
