/*
 * probe.c - the probe of the machine's state (probe.h): two pointer chases and a compute loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "rng.h"
#include "sc.h"

/* A cache line holds the index of the next line of its chase in its first word. */
#define LINE_WORDS 16

typedef struct chase {
    uint32_t *lines; /* LINE_WORDS words per line */
    uint32_t n;
} chase;

static chase llc_set, l2_set;
static volatile uint32_t sweep_sink;

/* One random cycle through all n lines (Sattolo's shuffle), so that a chase meets every line
 * before it returns to one, in an order the hardware prefetchers cannot guess. */
static int chase_make(chase *c, size_t bytes, uint64_t seed) {
    uint32_t n = (uint32_t)(bytes / (LINE_WORDS * sizeof(uint32_t)));
    uint32_t *lines = aligned_alloc(64, (size_t)n * LINE_WORDS * sizeof(uint32_t));
    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    if (!lines || !perm) {
        free(lines);
        free(perm);
        return -ENOMEM;
    }
    memset(lines, 0, (size_t)n * LINE_WORDS * sizeof(uint32_t));
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)sc_rng_below(&rng, i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        lines[(size_t)perm[i] * LINE_WORDS] = perm[(i + 1) % n];
    free(perm);
    c->lines = lines;
    c->n = n;
    return 0;
}

int sc_probe_init(void) {
    if (llc_set.lines)
        return 0;
    if (chase_make(&l2_set, SC_PROBE_L2_BYTES, 0x6c32) ||
        chase_make(&llc_set, SC_PROBE_LLC_BYTES, 0x6c6c63)) {
        free(l2_set.lines);
        l2_set.lines = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* Reads one word of every line of c in address order: the hardware prefetchers stream it in
 * at the memory's bandwidth (about 0.2 ms for 4 MiB here), far faster than a chase could. */
static void chase_sweep(const chase *c) {
    const volatile uint32_t *lines = c->lines;
    uint32_t x = 0;
    for (uint32_t i = 0; i < c->n; i++)
        x += lines[(size_t)i * LINE_WORDS];
    sweep_sink = x;
}

/* ns per step of `steps` steps of chase c from *pos (which moves on). */
static double chase_run(const chase *c, uint32_t *pos, int steps) {
    uint32_t p = *pos % c->n;
    const volatile uint32_t *lines = c->lines;
    uint64_t t0 = sc_now_ns();
    for (int i = 0; i < steps; i++)
        p = lines[(size_t)p * LINE_WORDS];
    uint64_t t1 = sc_now_ns();
    *pos = p;
    return (double)(t1 - t0) / steps;
}

/* ns per iteration of a dependent multiply-add chain. */
static double compute_run(int steps) {
    volatile double seed = 1.0;
    double x = seed;
    uint64_t t0 = sc_now_ns();
    for (int i = 0; i < steps; i++)
        x = x * 1.0000001 + 0.5;
    uint64_t t1 = sc_now_ns();
    seed = x;
    return (double)(t1 - t0) / steps;
}

void sc_probe_run(sc_prober *p, rp_probe *out) {
    memset(out, 0, sizeof *out);
    if (!llc_set.lines)
        return;
    /* The set is read just before the chase, so the chase measures whether the last-level
     * cache kept what this process touched a fraction of a millisecond ago (fast regime: it
     * did, a step hits L2 or L3) or the co-tenants took it back (slow: most steps miss). A
     * chase through lines last touched long ago measures the memory, whatever the cache. */
    chase_sweep(&llc_set);
    out->llc_ns = chase_run(&llc_set, &p->llc_pos, SC_PROBE_STEPS);
    out->l2_ns = chase_run(&l2_set, &p->l2_pos, SC_PROBE_STEPS);
    /* The shorter of two: a loop of a few microseconds that the scheduler interrupted would
     * make any chase look fast beside it. */
    double c1 = compute_run(SC_PROBE_STEPS), c2 = compute_run(SC_PROBE_STEPS);
    out->compute_ns = c1 < c2 ? c1 : c2;
    /* A probe interrupted so long that a figure rounds to 0 ns is not a measurement. */
    if (!(out->llc_ns > 0 && out->l2_ns > 0 && out->compute_ns > 0))
        memset(out, 0, sizeof *out);
}

void sc_probe_mean(const rp_probe *v, size_t n, rp_probe *out) {
    memset(out, 0, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (rp_probe_regime(&v[i]) == RP_REGIME_NONE)
            continue;
        out->llc_ns += v[i].llc_ns;
        out->l2_ns += v[i].l2_ns;
        out->compute_ns += v[i].compute_ns;
        k++;
    }
    if (k) {
        out->llc_ns /= (double)k;
        out->l2_ns /= (double)k;
        out->compute_ns /= (double)k;
    }
}
