/*
 * gate_verdict.c - the verdicts of the gate: the sign-test bound of the median of the pairs'
 * d, alpha split over the looks, Holm over the comparisons, the anchors replayed on the same
 * pairs, and the shuffled schedule of the pairs. The reasoning is in results/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gate_internal.h"
#include "rp_stats.h"

static int item_d(const rp_cmp_item *it, double *d, int max, int upto_look) {
    int n = 0;
    for (size_t i = 0; i < it->npairs && n < max; i++) {
        const rp_cmp_pair *p = &it->pairs[i];
        if (p->dropped || p->look > upto_look)
            continue;
        d[n++] = log(rp_merit_cost(&it->merit, p->head) / rp_merit_cost(&it->merit, p->base));
    }
    return n;
}

/* Evaluates every open item after look `look`. */
void sc_gate_evaluate(gate *g, int look) {
    size_t m = g->cmp->nitems;
    double a = g->alpha / g->looks, delta = log1p(g->margin);
    double *ps = calloc(m ? m : 1, sizeof *ps), *po = calloc(m ? m : 1, sizeof *po);
    bool *rs = calloc(m ? m : 1, sizeof *rs), *ro = calloc(m ? m : 1, sizeof *ro);
    static double d[8192];
    if (!ps || !po || !rs || !ro)
        goto out;
    for (size_t i = 0; i < m; i++) {
        rp_cmp_item *it = &g->cmp->items[i];
        if (it->verdict == RP_VERDICT_INCONCLUSIVE) {
            int n = item_d(it, d, 8192, look);
            it->p_slow = rp_sign_p_above(d, n, delta);
            it->p_ok = rp_sign_p_below(d, n, delta);
        }
        ps[i] = it->p_slow;
        po[i] = it->p_ok;
    }
    rp_holm(ps, m, a, rs);
    rp_holm(po, m, a, ro);
    for (size_t i = 0; i < m; i++) {
        rp_cmp_item *it = &g->cmp->items[i];
        int n = item_d(it, d, 8192, look);
        double lo, hi, cov;
        rp_median_sort(d, (size_t)n);
        rp_sign_interval(d, n, a / (double)m, &lo, &hi, &cov);
        /* Values of decided items stay as they were at their decision. */
        if (it->verdict != RP_VERDICT_INCONCLUSIVE)
            continue;
        it->looks = look;
        it->n_base = it->n_head = n;
        double med = rp_median_sort(d, (size_t)n);
        it->ratio = exp(med);
        it->ratio_lo = exp(lo);
        it->ratio_hi = exp(hi);
        it->confidence = cov;
        double vb[8192], vh[8192];
        int k = 0;
        for (size_t j = 0; j < it->npairs && k < 8192; j++)
            if (!it->pairs[j].dropped && it->pairs[j].look <= look) {
                vb[k] = it->pairs[j].base;
                vh[k++] = it->pairs[j].head;
            }
        it->base_value = rp_median_sort(vb, (size_t)k);
        it->head_value = rp_median_sort(vh, (size_t)k);
        if (rs[i])
            it->verdict = RP_VERDICT_SLOWER;
        else if (ro[i])
            it->verdict = rp_verdict_not_slower(lo, hi, delta);
    }
out:
    free(ps);
    free(po);
    free(rs);
    free(ro);
}

/* The anchors on the same trials: github-action-benchmark's one-run ratio (the first kept
 * pair), and compare.py's U test over the first look's trials. */
static void anchors(gate *g) {
    for (size_t i = 0; i < g->cmp->nitems; i++) {
        rp_cmp_item *it = &g->cmp->items[i];
        double xb[4096], xh[4096];
        int n = 0;
        bool first = true;
        for (size_t j = 0; j < it->npairs && n < 4096; j++) {
            const rp_cmp_pair *p = &it->pairs[j];
            if (p->dropped || p->look != 1)
                continue;
            double cb = rp_merit_cost(&it->merit, p->base), ch = rp_merit_cost(&it->merit, p->head);
            if (first) {
                it->gab110 = ch / cb > 1.10;
                it->gab200 = ch / cb > 2.00;
                first = false;
            }
            xb[n] = cb;
            xh[n++] = ch;
        }
        it->utest_p = rp_mw_p_two_sided(xb, n, xh, n);
        double mb = rp_median_sort(xb, (size_t)n), mh = rp_median_sort(xh, (size_t)n);
        it->utest = n > 0 && it->utest_p < 0.05 && mh > mb;
        it->has_anchors = n > 0;
    }
}

static int shuffle_run(gate *g, int look) {
    size_t *order = malloc(g->ngroups * (size_t)g->pairs * sizeof *order + 1), n = 0;
    int *replaced = calloc(g->ngroups + 1, sizeof *replaced);
    if (!order || !replaced) {
        free(order);
        free(replaced);
        return -ENOMEM;
    }
    /* The pairs of every group with an open cell, K each, in one shuffled order. */
    for (size_t gi = 0; gi < g->ngroups; gi++) {
        bool open = false;
        for (size_t c = 0; c < g->ncells; c++)
            open |= g->cells[c].group == gi && g->open[c];
        for (int k = 0; open && k < g->pairs; k++)
            order[n++] = gi;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(sc_gate_rand(g) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int r = sc_gate_pair(g, order[i], look);
        /* A dropped pair is replaced right away, by a pair of the same group. */
        while (r == 1 && replaced[order[i]] < (g->pairs + 1) / 2) {
            replaced[order[i]]++;
            r = sc_gate_pair(g, order[i], look);
        }
        rc = r < 0 ? r : 0;
    }
    free(order);
    free(replaced);
    return rc;
}

/* Marks the cells that still have an inconclusive item open; false when none is. */
static bool update_open(gate *g) {
    bool any = false;
    for (size_t ci = 0; ci < g->ncells; ci++) {
        g->open[ci] = false;
        if (g->skipped[ci])
            continue;
        for (int j = 0; j < g->nops[ci]; j++)
            g->open[ci] |= g->cmp->items[g->item_of[ci][j]].verdict == RP_VERDICT_INCONCLUSIVE;
        any |= g->open[ci];
    }
    return any;
}

/* The timed channel: up to g->looks looks of pairs over the open cells. 0, or the code of the
 * pair that failed. */
int sc_gate_time_channel(gate *g) {
    for (int look = 1; look <= g->looks; look++) {
        fprintf(stderr, "udbench gate: look %d of %d\n", look, g->looks);
        int rc = shuffle_run(g, look);
        if (rc)
            return rc;
        sc_gate_evaluate(g, look);
        if (look == 1)
            anchors(g);
        if (!update_open(g))
            break;
    }
    return 0;
}
