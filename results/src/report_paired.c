/*
 * report_paired.c - what the reports make of a lockstep run (udbench/3): the paired ratios of
 * each backend against the group's reference, which order and tie the rows and give the "x
 * local" column its interval, and the probes of the machine's state, which say when the
 * repetitions of a cell ran on a different machine.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rp__row_paired(rp__row *row, const rp__group *g) {
    const rp_merit *m = &row->cell->merit;
    row->paired = g->merit && m->reference && m->ratio > 0 && m->metric && row->metric &&
                  strcmp(m->metric, row->metric->op) == 0;
    if (!row->paired)
        return;
    row->ratio = m->ratio;
    row->ratio_low = m->ratio_level > 0 ? m->ratio_low : m->ratio;
    row->ratio_high = m->ratio_level > 0 ? m->ratio_high : m->ratio;
}

static bool same_reference(const rp__row *a, const rp__row *b) {
    return a->paired && b->paired &&
           strcmp(a->cell->merit.reference, b->cell->merit.reference) == 0;
}

bool rp__paired_tied(const rp__row *a, const rp__row *b) {
    if (!same_reference(a, b))
        return false;
    return a->ratio_low <= b->ratio_high && b->ratio_low <= a->ratio_high;
}

double rp__row_factor(const rp__group *g, const rp__row *row) {
    const rp__row *best = g->nrows ? &g->rows[0] : NULL;
    if (best && same_reference(best, row))
        return rp__factor(g, best->ratio, row->ratio);
    return rp__factor(g, g->fastest, row->value);
}

/* Two significant decimals, as the factor column prints them. */
static void fmt2(char *buf, size_t len, double v) {
    snprintf(buf, len, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
}

/* Whether the row was paired with the group's baseline (the reference is the baseline's row). */
static bool paired_with_baseline(const rp__group *g, const rp__row *row) {
    for (size_t j = 0; j < g->nrows; j++)
        if (g->rows[j].cell->backend && row->cell->merit.reference &&
            !strcmp(g->rows[j].cell->backend, row->cell->merit.reference))
            return rp_cell_role(g->rows[j].cell) == RP_ROLE_BASELINE;
    return false;
}

const char *rp__fmt_paired_local(char *buf, size_t len, const rp__group *g, const rp__row *row) {
    if (!row->paired || rp_cell_role(row->cell) == RP_ROLE_BASELINE ||
        !paired_with_baseline(g, row))
        return NULL;
    /* "x local" is local: / this for a figure where higher is better, this / local: else. */
    double f = rp__factor(g, 1.0, row->ratio);
    double a = rp__factor(g, 1.0, row->ratio_low), b = rp__factor(g, 1.0, row->ratio_high);
    char fs[24], as[24], bs[24];
    fmt2(fs, sizeof fs, f);
    fmt2(as, sizeof as, a < b ? a : b);
    fmt2(bs, sizeof bs, a < b ? b : a);
    snprintf(buf, len, "%s [%s-%s]", fs, as, bs);
    return buf;
}

bool rp__paired_noisy(const rp__row *row, char *buf, size_t len) {
    if (!row->paired || rp_cell_role(row->cell) == RP_ROLE_BASELINE)
        return false;
    double half = (row->ratio_high - row->ratio_low) / 2 / row->ratio;
    if (!(half > RP__PAIRED_NOISY))
        return false;
    snprintf(buf, len, "\xc2\xb1%.0f%%", half * 100);
    return true;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The median of v[0..n) (sorted in place), 0 when empty. */
static double median_of(double *v, size_t n) {
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median LLC chase (ns) and ops/s of m's batches in `regime`, and their count. */
static size_t regime_medians(const rp_metric *m, int regime, double *v, double *llc, double *ops) {
    size_t n = 0;
    for (size_t i = 0; i < m->nreps; i++)
        if (rp_rep_regime(&m->reps[i]) == regime)
            v[n++] = m->reps[i].probe_before.llc_ns > 0 ? m->reps[i].probe_before.llc_ns
                                                        : m->reps[i].probe_after.llc_ns;
    *llc = median_of(v, n);
    n = 0;
    for (size_t i = 0; i < m->nreps; i++)
        if (rp_rep_regime(&m->reps[i]) == regime)
            v[n++] = m->reps[i].ops_per_sec;
    *ops = median_of(v, n);
    return n;
}

/* Fast and slow batches of one cell whose figures differ by more than this factor: the
 * machine's change shows in the cell's own figures, and the report says so. */
#define REGIME_DIFFERS 1.25

bool rp__regime_note(const rp_metric *m, char *buf, size_t len) {
    static const int kinds[] = {RP_REGIME_FAST, RP_REGIME_SLOW, RP_REGIME_CHANGED};
    double *v = malloc((m->nreps ? m->nreps : 1) * sizeof *v);
    buf[0] = '\0';
    if (!v)
        return false;
    size_t count[3];
    double llc[3], ops[3], lo = INFINITY, hi = 0;
    int seen = 0;
    for (int k = 0; k < 3; k++) {
        count[k] = regime_medians(m, kinds[k], v, &llc[k], &ops[k]);
        seen += count[k] > 0;
        if (count[k] && kinds[k] != RP_REGIME_CHANGED && ops[k] > 0) {
            lo = ops[k] < lo ? ops[k] : lo;
            hi = ops[k] > hi ? ops[k] : hi;
        }
    }
    free(v);
    /* Only when the batches of both regimes differ in the cell's own figure as well. */
    if (seen < 2 || !(hi > lo * REGIME_DIFFERS))
        return false;
    size_t used = (size_t)snprintf(buf, len, "machine changed:");
    for (int k = 0; k < 3 && used < len; k++) {
        rp__num num;
        if (count[k])
            used += (size_t)snprintf(
                buf + used, len - used, " %s in %zu (LLC chase %.0f ns, %s ops/s)",
                rp_regime_name(kinds[k]), count[k], llc[k], rp__fmt_ops(&num, ops[k]));
    }
    return true;
}
