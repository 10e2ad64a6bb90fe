/*
 * stability.c - `udbench stability A.json B.json`: how far two runs of the same suite on the
 * same build agree (an A/A test).
 *
 * Cells are matched by scenario, backend (up to a port or a temporary folder) and parameters;
 * null: (the harness floor) is left out. For every metric present in both: the ratio of the two
 * medians (B / A, ops/s), of which the median and the 95th percentile of max(r, 1/r) are
 * printed; for lockstep runs the same of the paired factors against the reference, and whether
 * the probes say the machine stayed the same. Then, within each group of
 * cells that differ only by backend, every pair of backends that run A ordered with disjoint
 * intervals of the median (each metric's ci_low..ci_high) is checked in run B: a pair whose
 * medians B orders the other way is a flip. The same for the figure of merit of each cell.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_compare.h"
#include "sc.h"
#include "stability.h"

/* The cell of the document of index x that matches `like` (scenario, backend up to a port or a
 * temporary folder, parameters but repeat and seed), or NULL: found in log n (rp_match_find),
 * whatever the number of cells. */
static const rp_cell *find_cell(const rp_match_index *x, const rp_cell *like) {
    const rp_cell *c = NULL;
    if (like->nmetrics)
        rp_match_find(x, like, like->metrics[0].op, &c);
    return c;
}

static const rp_metric *find_metric(const rp_cell *c, const char *op) {
    for (size_t i = 0; c && i < c->nmetrics; i++)
        if (!strcmp(c->metrics[i].op, op))
            return &c->metrics[i];
    return NULL;
}

static bool usable(const rp_cell *c) {
    return c && c->status == RP_STATUS_OK && rp_cell_role(c) != RP_ROLE_FLOOR;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The value at quantile q of sorted v[0..n), by the nearest rank. */
static double quantile(const double *v, size_t n, double q) {
    if (!n)
        return 0;
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

/* The share of the batches of a cell's first metric in the slow regime (a changed one counts
 * half), or -1 when none was probed. */
static double slow_share(const rp_cell *c) {
    size_t n = 0, slow = 0;
    for (size_t k = 0; c->nmetrics && k < c->metrics[0].nreps; k++) {
        int regime = rp_rep_regime(&c->metrics[0].reps[k]);
        n += regime != RP_REGIME_NONE ? 2 : 0;
        slow += regime == RP_REGIME_SLOW ? 2 : regime == RP_REGIME_CHANGED ? 1 : 0;
    }
    return n ? (double)slow / (double)n : -1;
}

/* Whether the probes say the two runs of a cell ran in the same cache regime. */
static bool same_regime(const rp_cell *a, const rp_cell *b) {
    double x = slow_share(a), y = slow_share(b);
    return x >= 0 && y >= 0 && fabs(x - y) <= 0.25;
}

/* Ratios of medians, max(r, 1/r), of every metric present in both runs. */
static int median_ratios(const rp_doc *a, const rp_match_index *b, sc_stability_result *out) {
    size_t cap = 1;
    for (size_t i = 0; i < a->ncells; i++)
        cap += a->cells[i].nmetrics;
    double *ratios = malloc(cap * sizeof *ratios), *same = malloc(cap * sizeof *same);
    if (!ratios || !same) {
        free(ratios);
        free(same);
        return -ENOMEM;
    }
    size_t n = 0, ns = 0;
    for (size_t i = 0; i < a->ncells; i++) {
        const rp_cell *ca = &a->cells[i], *cb = find_cell(b, ca);
        if (!usable(ca) || !usable(cb))
            continue;
        for (size_t m = 0; m < ca->nmetrics; m++) {
            const rp_metric *ma = &ca->metrics[m], *mb = find_metric(cb, ma->op);
            if (!mb || !(ma->median > 0) || !(mb->median > 0))
                continue;
            double r = mb->median / ma->median;
            ratios[n++] = r >= 1 ? r : 1 / r;
            if (same_regime(ca, cb))
                same[ns++] = ratios[n - 1];
        }
    }
    qsort(ratios, n, sizeof *ratios, cmp_double);
    qsort(same, ns, sizeof *same, cmp_double);
    out->metrics = n;
    out->ratio_median = quantile(ratios, n, 0.5);
    out->ratio_p95 = quantile(ratios, n, 0.95);
    out->same_metrics = ns;
    out->same_median = quantile(same, ns, 0.5);
    out->same_p95 = quantile(same, ns, 0.95);
    free(ratios);
    free(same);
    return 0;
}

/* The paired factor of a cell against its reference, when it has one that is not itself. */
static bool factor_of(const rp_cell *c, double *f) {
    if (!c->merit.reference || !(c->merit.ratio > 0) ||
        rp_backend_match(c->merit.reference, c->backend))
        return false;
    *f = c->merit.ratio;
    return true;
}

/* max(B/A, A/B) of the paired factors of every cell paired in both runs. */
static int paired_factors(const rp_doc *a, const rp_doc *b, const rp_match_index *xb,
                          sc_stability_result *out) {
    double *r = malloc((a->ncells + 1) * sizeof *r);
    if (!r)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < a->ncells; i++) {
        const rp_cell *ca = &a->cells[i], *cb = find_cell(xb, ca);
        double fa, fb;
        if (usable(ca) && usable(cb) && factor_of(ca, &fa) && factor_of(cb, &fb)) {
            double x = fb / fa;
            r[n++] = x >= 1 ? x : 1 / x;
        }
    }
    qsort(r, n, sizeof *r, cmp_double);
    out->factors = n;
    out->factor_median = quantile(r, n, 0.5);
    out->factor_p95 = quantile(r, n, 0.95);
    free(r);
    out->machine_same = rp_doc_machines_agree(a, b, &out->machine_a, &out->machine_b);
    return 0;
}

/* The paired factors' log change B/A of every cell of A (NAN: not paired in both runs). */
static void factor_changes(const rp_doc *a, const rp_match_index *xb, double *d) {
    for (size_t i = 0; i < a->ncells; i++) {
        const rp_cell *ca = &a->cells[i], *cb = find_cell(xb, ca);
        double fa, fb;
        d[i] = usable(ca) && usable(cb) && factor_of(ca, &fa) && factor_of(cb, &fb) ? log(fb / fa)
                                                                                    : NAN;
    }
}

/* The same beyond each cell's group's common shift (see stability.h). */
static int shifted_factors(const rp_doc *a, const rp_match_index *xb, const size_t *group,
                           sc_stability_result *out) {
    size_t n = a->ncells ? a->ncells : 1;
    double *d = malloc(n * sizeof *d), *v = malloc(n * sizeof *v), *r = malloc(n * sizeof *r);
    if (!d || !v || !r) {
        free(d);
        free(v);
        free(r);
        return -ENOMEM;
    }
    factor_changes(a, xb, d);
    size_t nr = 0;
    for (size_t i = 0; i < a->ncells; i++) {
        size_t k = 0;
        for (size_t j = 0; !isnan(d[i]) && j < a->ncells; j++)
            if (j != i && group[j] == group[i] && !isnan(d[j]))
                v[k++] = d[j];
        if (k < 2)
            continue;
        qsort(v, k, sizeof *v, cmp_double);
        double shift = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
        r[nr++] = exp(fabs(d[i] - shift));
    }
    qsort(r, nr, sizeof *r, cmp_double);
    out->shifted = nr;
    out->shifted_median = quantile(r, nr, 0.5);
    out->shifted_p95 = quantile(r, nr, 0.95);
    free(d);
    free(v);
    free(r);
    return 0;
}

/* Per metric: backends x and y (bx, by in run B) separated in A and ordered the other way in B. */
static void metric_flips(const rp_cell *x, const rp_cell *y, const rp_cell *bx, const rp_cell *by,
                         sc_stability_result *out) {
    for (size_t m = 0; m < x->nmetrics; m++) {
        const rp_metric *mx = &x->metrics[m], *my = find_metric(y, mx->op);
        const rp_metric *bmx = find_metric(bx, mx->op), *bmy = find_metric(by, mx->op);
        if (!my || !bmx || !bmy)
            continue;
        out->pairs++;
        int first = mx->ci_low > my->ci_high ? 1 : my->ci_low > mx->ci_high ? -1 : 0;
        if (!first)
            continue;
        out->separated++;
        int second = (bmx->median > bmy->median) - (bmx->median < bmy->median);
        if (second == -first)
            out->flipped++;
    }
}

/* Cells x and y ordered by their paired factors (disjoint intervals against one reference):
 * 1 x better, -1 y better, 0 not separated or not paired. */
static int paired_order(const rp_cell *x, const rp_cell *y) {
    const rp_merit *a = &x->merit, *b = &y->merit;
    if (!a->reference || !b->reference || strcmp(a->reference, b->reference) != 0 ||
        !(a->ratio > 0) || !(b->ratio > 0))
        return 0;
    int higher = a->ratio_low > b->ratio_high ? 1 : b->ratio_low > a->ratio_high ? -1 : 0;
    return higher * a->direction;
}

/* The same by the figure of merit of the two cells: by their paired factors in lockstep runs,
 * else by the intervals of their medians. */
static void merit_flip(const rp_cell *x, const rp_cell *y, const rp_cell *bx, const rp_cell *by,
                       sc_stability_result *out) {
    bool paired =
        x->merit.reference && y->merit.reference && bx->merit.reference && by->merit.reference;
    int fm = paired ? paired_order(x, y) : rp_merit_compare(x, y);
    const rp_merit *ex = rp_cell_merit(bx), *ey = rp_cell_merit(by);
    if (!ex || !ey)
        return;
    out->merit_pairs++;
    if (!fm)
        return;
    out->merit_separated++;
    double d = paired ? (bx->merit.ratio - by->merit.ratio) * ex->direction
                      : (ex->value - ey->value) * ex->direction;
    if ((d > 0 ? 1 : d < 0 ? -1 : 0) == -fm)
        out->merit_flipped++;
}

/* A cell of run A and its group: sorted by (group, index), the cells of a group are adjacent. */
typedef struct grouped {
    size_t group, idx;
} grouped;

static int by_group(const void *x, const void *y) {
    const grouped *a = x, *b = y;
    if (a->group != b->group)
        return a->group < b->group ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Pairs of backends within each group of run A (no scan of every pair of cells). */
static void group_pairs(const rp_doc *a, const rp_match_index *b, const grouped *g,
                        sc_stability_result *out) {
    for (size_t s = 0, e; s < a->ncells; s = e) {
        for (e = s + 1; e < a->ncells && g[e].group == g[s].group; e++)
            ;
        for (size_t i = s; i < e; i++) {
            const rp_cell *x = &a->cells[g[i].idx], *bx = find_cell(b, x);
            if (!usable(x) || !usable(bx))
                continue;
            for (size_t j = i + 1; j < e; j++) {
                const rp_cell *y = &a->cells[g[j].idx], *by;
                if (!usable(y) || !usable(by = find_cell(b, y)))
                    continue;
                metric_flips(x, y, bx, by, out);
                merit_flip(x, y, bx, by, out);
            }
        }
    }
}

int sc_stability(const rp_doc *a, const rp_doc *b, sc_stability_result *out) {
    memset(out, 0, sizeof *out);
    rp_match_index *xb = NULL;
    size_t n = a->ncells ? a->ncells : 1;
    size_t *group = malloc(n * sizeof *group);
    grouped *g = malloc(n * sizeof *g);
    int rc = group && g ? rp_match_index_new(b, &xb) : -ENOMEM;
    if (!rc)
        rc = rp_cell_groups(a, group);
    if (!rc)
        rc = median_ratios(a, xb, out);
    if (!rc)
        rc = paired_factors(a, b, xb, out);
    if (!rc)
        rc = shifted_factors(a, xb, group, out);
    if (!rc) {
        for (size_t i = 0; i < a->ncells; i++)
            g[i] = (grouped){group[i], i};
        qsort(g, a->ncells, sizeof *g, by_group);
        group_pairs(a, xb, g, out);
    }
    rp_match_index_free(xb);
    free(group);
    free(g);
    return rc;
}

int sc_cmd_stability(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: udbench stability A.json B.json\n"
               "Compares two runs of the same suite on the same build (an A/A test): the ratio of\n"
               "the two medians of every metric (median and 95th percentile of max(r, 1/r)), and\n"
               "the pairs of backends that run A ordered with disjoint 95%% intervals and run B\n"
               "ordered the other way (per metric by ops/s, and by the figure of merit).\n");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "udbench: stability takes two results documents\n"
                        "Try 'udbench stability --help'.\n");
        return 2;
    }
    rp_doc *d[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        char err[512] = "";
        int rc = rp_doc_read(argv[1 + i], &d[i], err, sizeof err);
        if (rc) {
            fprintf(stderr, "udbench: %s: %s\n", argv[1 + i], err[0] ? err : rp_strerror(rc));
            rp_doc_free(d[0]);
            return 1;
        }
    }
    sc_stability_result r;
    int rc = sc_stability(d[0], d[1], &r);
    if (rc == 0) {
        printf("metrics compared                 %zu\n", r.metrics);
        printf("ratio of medians, median         %.3f\n", r.ratio_median);
        printf("ratio of medians, p95            %.3f\n", r.ratio_p95);
        printf("backend pairs (per metric)       %zu, %zu with disjoint intervals in A, %zu of "
               "those ordered the other way in B\n",
               r.pairs, r.separated, r.flipped);
        printf("backend pairs (figure of merit)  %zu, %zu with disjoint intervals in A, %zu of "
               "those ordered the other way in B\n",
               r.merit_pairs, r.merit_separated, r.merit_flipped);
        if (r.factors) {
            printf("paired factors compared          %zu\n", r.factors);
            printf("ratio of paired factors, median  %.3f\n", r.factor_median);
            printf("ratio of paired factors, p95     %.3f\n", r.factor_p95);
        }
        if (r.shifted)
            printf("the same beyond their group's shift  %zu: median %.3f, p95 %.3f\n", r.shifted,
                   r.shifted_median, r.shifted_p95);
        if (r.same_metrics)
            printf("ratio of medians where the probes saw the same regime  %zu: median %.3f, "
                   "p95 %.3f\n",
                   r.same_metrics, r.same_median, r.same_p95);
        if (r.machine_a > 0 || r.machine_b > 0)
            printf("machine (probes' median LLC chase, compute iterations)  %.1f and %.1f: %s\n",
                   r.machine_a, r.machine_b, r.machine_same ? "the same" : "DIFFERED");
    } else {
        fprintf(stderr, "udbench: stability: %s\n", sc_strerror(rc));
    }
    rp_doc_free(d[0]);
    rp_doc_free(d[1]);
    return rc ? 1 : 0;
}
