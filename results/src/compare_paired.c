/*
 * compare_paired.c - what `udbench compare` may conclude from two lockstep runs (udbench/3).
 *
 * Two runs made separately are not paired: between them the machine may have changed (on a
 * shared VM the cache a process gets changes from one process to the next), so their absolute
 * figures cannot be compared at a few percent. What each run does carry is paired: every
 * backend's figure of merit over the reference's in the same round. So a verdict compares the
 * two runs' per-round ratios of a backend against the same reference, and only when the probes
 * of the machine's state say the two runs ran on a machine in the same state; the other
 * metrics are shown without a verdict. The URIs of the two runs may differ in a temporary
 * folder or a port (a fresh mkdtemp, a service on another port): they are matched without them.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rp_compare.h"
#include "rp_stats.h"

/* A path component made by mkdtemp/mktemp: "NAME-XXXXXX", "NAME.XXXXXX" or "tmp.XXXXXXXXXX"
 * (the last 6 or more characters random letters and digits after '-' or '.'). */
static bool temporary_component(const char *s, size_t n) {
    size_t k = n;
    while (k > 0 && isalnum((unsigned char)s[k - 1]))
        k--;
    return k > 0 && n - k >= 6 && (s[k - 1] == '-' || s[k - 1] == '.');
}

/* The length of a port at p (":digits" ending a host part, before '/', ',', '?' or the end),
 * or 0. */
static size_t port_at(const char *p) {
    if (p[0] != ':' || !isdigit((unsigned char)p[1]))
        return 0;
    size_t n = 1;
    while (isdigit((unsigned char)p[n]))
        n++;
    return !p[n] || p[n] == '/' || p[n] == ',' || p[n] == '?' ? n : 0;
}

/* The length of a temporary folder's name at p ("/NAME-XXXXXX" followed by '/'), or 0. */
static size_t temporary_at(const char *p) {
    if (p[0] != '/')
        return 0;
    size_t n = 1;
    while (p[n] && p[n] != '/' && p[n] != '?')
        n++;
    return p[n] == '/' && temporary_component(p + 1, n - 1) ? n : 0;
}

void rp__uri_key(const char *uri, char *buf, size_t len) {
    size_t o = 0;
    const char *p = uri ? uri : "";
    while (*p && o + 2 < len) {
        size_t skip = port_at(p);
        if (!skip)
            skip = temporary_at(p);
        if (skip) {
            buf[o++] = *p; /* ':' or '/' */
            buf[o++] = '*';
            p += skip;
        } else {
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
}

bool rp__same_backend(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    if (!strcmp(a, b))
        return true;
    char ka[1024], kb[1024];
    rp__uri_key(a, ka, sizeof ka);
    rp__uri_key(b, kb, sizeof kb);
    return strcmp(ka, kb) == 0;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Adds a probe's LLC chase in compute-loop iterations to v (when measured). */
static void add_probe(const rp_probe *p, double *v, size_t *n) {
    if (p->llc_ns > 0 && p->compute_ns > 0)
        v[(*n)++] = p->llc_ns / p->compute_ns;
}

bool rp__doc_machine(const rp_doc *d, double *median, double *slow_share) {
    size_t cap = 0, n = 0, slow = 0, classified = 0;
    for (size_t i = 0; i < d->ncells; i++)
        for (size_t j = 0; j < d->cells[i].nmetrics; j++)
            cap += 2 * d->cells[i].metrics[j].nreps;
    double *v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v)
        return false;
    /* Every repetition once: the probes are the same for every metric of a cell. The slow share
     * counts batches by the regime the run gave them (a changed batch is half slow). */
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        for (size_t k = 0; c->nmetrics && k < c->metrics[0].nreps; k++) {
            const rp_rep *r = &c->metrics[0].reps[k];
            add_probe(&r->probe_before, v, &n);
            add_probe(&r->probe_after, v, &n);
            int regime = rp_rep_regime(r);
            classified += regime != RP_REGIME_NONE ? 2 : 0;
            slow += regime == RP_REGIME_SLOW ? 2 : regime == RP_REGIME_CHANGED ? 1 : 0;
        }
    }
    if (n) {
        qsort(v, n, sizeof *v, cmp_double);
        *median = v[n / 2];
        *slow_share = classified ? (double)slow / (double)classified : 0;
    }
    free(v);
    return n > 0;
}

bool rp__machines_agree(const rp_doc *a, const rp_doc *b, double *ma, double *mb) {
    double sa = 0, sb = 0;
    *ma = *mb = 0;
    if (!rp__doc_machine(a, ma, &sa) || !rp__doc_machine(b, mb, &sb))
        return false;
    double hi = *ma > *mb ? *ma : *mb, lo = *ma > *mb ? *mb : *ma;
    return fabs(sa - sb) <= RP__MACHINE_SHARE && hi <= lo * RP__MACHINE_FACTOR;
}

/* The per-round log costs of a paired metric: log(1 / ratio) for a figure where higher is
 * better, log(ratio) else; the count. */
static int paired_costs(const rp_cell *c, const rp_metric *m, double *out, int max) {
    int n = 0;
    for (size_t k = 0; k < m->nreps && n < max; k++)
        if (m->reps[k].ratio > 0)
            out[n++] = c->merit.direction == RP_LOWER_IS_BETTER ? log(m->reps[k].ratio)
                                                                : -log(m->reps[k].ratio);
    return n;
}

/* Whether two lists of parameters are the same, in the same order. */
static bool same_param_list(const rp_param *a, size_t na, const rp_param *b, size_t nb) {
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].key, b[i].key) != 0 || strcmp(a[i].value, b[i].value) != 0)
            return false;
    return true;
}

/* Whether a and b are cells of one group of a run: the same scenario and parameters. */
static bool same_group(const rp_cell *a, const rp_cell *b) {
    return a->scenario && b->scenario && !strcmp(a->scenario, b->scenario) &&
           same_param_list(a->params, a->nparams, b->params, b->nparams);
}

/* The identity of the backend cell c of document d was paired against: its reference cell's
 * (the one its adapter gave, "backend_desc"), else the reference's URI without a port or a
 * temporary folder (an older document, or a reference not among d's cells). */
static void reference_identity(const rp_doc *d, const rp_cell *c, char *buf, size_t len) {
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *r = &d->cells[i];
        if (r->backend && !strcmp(r->backend, c->merit.reference) && same_group(r, c)) {
            rp_cell_identity(r, buf, len);
            return;
        }
    }
    rp__uri_key(c->merit.reference, buf, len);
}

bool rp__same_reference(const rp_doc *bd, const rp_cell *bc, const rp_doc *hd, const rp_cell *hc) {
    if (!bc->merit.reference || !hc->merit.reference)
        return false;
    char kb[1024], kh[1024];
    reference_identity(bd, bc, kb, sizeof kb);
    reference_identity(hd, hc, kh, sizeof kh);
    return strcmp(kb, kh) == 0;
}

bool rp__is_paired(const rp_cell *c, const rp_metric *m) {
    return c->merit.reference && c->merit.metric && !strcmp(c->merit.metric, m->op) &&
           !rp__same_backend(c->merit.reference, c->backend) && c->merit.ratio > 0;
}

/*
 * The interval of the median of one run's per-round log costs at level 1 - a (the sign test's
 * order statistics: a round is the unit, whatever the batches of one round share). 0, or -1
 * when the run has too few rounds for the level.
 */
static int run_interval(const rp_cell *c, const rp_metric *m, double a, double *lo, double *hi,
                        int *n) {
    double x[1024], coverage;
    *n = paired_costs(c, m, x, 1024);
    qsort(x, (size_t)*n, sizeof *x, cmp_double);
    return rp_sign_interval(x, *n, a, lo, hi, &coverage);
}

/*
 * Two runs are not paired with each other: what differs between them is not only the backend
 * but the machine, and the per-round ratios of one run share that run's state (the reference's
 * worker processes, the run's memory), so pooling the two runs' rounds as if they were
 * independent samples of one ratio gives intervals far narrower than the run-to-run spread.
 * So each run gives its own interval of its paired figure (at 1 - alpha/2, Bonferroni over
 * the paired metrics by the caller), and the change is confident only when the two intervals
 * are disjoint by more than the margin: head cost over base cost lies in [head low / base
 * high, head high / base low] whenever both medians lie in their intervals.
 */
int rp__compare_paired(rp_cmp_item *it, const rp_cell *bc, const rp_metric *bm, const rp_cell *hc,
                       const rp_metric *hm, double alpha, double margin) {
    double cb = bc->merit.direction == RP_LOWER_IS_BETTER ? bc->merit.ratio : 1 / bc->merit.ratio;
    double ch = hc->merit.direction == RP_LOWER_IS_BETTER ? hc->merit.ratio : 1 / hc->merit.ratio;
    it->ratio = ch / cb;
    double bl, bh, hl, hh;
    int rb = run_interval(bc, bm, alpha / 2, &bl, &bh, &it->n_base);
    int rh = run_interval(hc, hm, alpha / 2, &hl, &hh, &it->n_head);
    if (rb || rh) {
        it->confidence = 0;
        it->verdict = RP_VERDICT_INCONCLUSIVE;
        return 0;
    }
    it->confidence = 1 - alpha;
    it->ratio_lo = exp(hl - bh);
    it->ratio_hi = exp(hh - bl);
    it->verdict = rp_verdict(hl - bh, hh - bl, log1p(margin));
    return 0;
}

bool rp_backend_match(const char *a, const char *b) {
    return rp__same_backend(a, b);
}

bool rp_doc_machines_agree(const rp_doc *a, const rp_doc *b, double *ma, double *mb) {
    return rp__machines_agree(a, b, ma, mb);
}

bool rp__cell_slow_share(const rp_metric *m, double *share) {
    size_t n = 0, slow = 0;
    for (size_t i = 0; i < m->nreps; i++) {
        int regime = rp_rep_regime(&m->reps[i]);
        n += regime != RP_REGIME_NONE ? 2 : 0;
        slow += regime == RP_REGIME_SLOW ? 2 : regime == RP_REGIME_CHANGED ? 1 : 0;
    }
    if (n)
        *share = (double)slow / (double)n;
    return n > 0;
}

static bool same_params(const rp_cmp_item *a, const rp_cmp_item *b) {
    return !strcmp(a->scenario, b->scenario) && !strcmp(a->op, b->op) &&
           same_param_list(a->params, a->nparams, b->params, b->nparams);
}

/* Whether item `it` carries a paired change whose ratio can enter its group's common shift. */
static bool shift_member(const rp_cmp_item *it) {
    return it->gated && it->ratio > 0 && isfinite(it->ratio);
}

/* Item i's group shift from the others' uncorrected log ratios `raw` (NAN: not a member). */
static void take_group_shift(rp_cmp *c, size_t i, const double *raw, double *v) {
    rp_cmp_item *it = &c->items[i];
    size_t n = 0;
    for (size_t j = 0; j < c->nitems; j++)
        if (j != i && !isnan(raw[j]) && same_params(it, &c->items[j]))
            v[n++] = raw[j];
    if (n < 2) {
        it->verdict = RP_VERDICT_INCONCLUSIVE;
        it->confidence = 0;
        return;
    }
    qsort(v, n, sizeof *v, cmp_double);
    it->shift = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    double lo = log(it->ratio_lo) - it->shift, hi = log(it->ratio_hi) - it->shift;
    it->ratio *= exp(-it->shift);
    it->ratio_lo = exp(lo);
    it->ratio_hi = exp(hi);
    it->verdict = rp_verdict(lo, hi, log1p(c->margin));
}

static bool judged(const rp_cmp_item *it) {
    return shift_member(it) && !it->machine_moved && it->confidence > 0;
}

/*
 * What is left after the group's shift is still not only the backend's: a server's share of
 * the CPU, or the state a run's worker processes and shared segments start in, moves one
 * backend's paired figure by up to several times from run to run here, and within a run it
 * does not move, so the run's own interval cannot show it. The other paired metrics of the
 * same two runs show how far the machine moves a figure between these two runs: a change is
 * only the backend's when its interval lies beyond the 95th percentile of theirs (an empirical
 * null; on a quiet machine it is a few percent, on a loaded one several times).
 */
static void keep_beyond_spread(rp_cmp *c, double *v) {
    size_t n = 0;
    for (size_t i = 0; i < c->nitems; i++)
        if (judged(&c->items[i]))
            v[n++] = fabs(log(c->items[i].ratio));
    qsort(v, n, sizeof *v, cmp_double);
    if (n >= RP__SPREAD_MIN)
        c->run_spread = exp(v[(size_t)ceil(0.95 * (double)n) - 1]);
    /* Each item against the others' spread: a change of its own does not raise its bar. */
    size_t k = n > 1 ? (size_t)ceil(0.95 * (double)(n - 1)) - 1 : 0;
    for (size_t i = 0; i < c->nitems; i++) {
        rp_cmp_item *it = &c->items[i];
        if (!judged(it) || it->verdict == RP_VERDICT_SAME || it->verdict == RP_VERDICT_INCONCLUSIVE)
            continue;
        if (n < RP__SPREAD_MIN) {
            it->verdict = RP_VERDICT_INCONCLUSIVE;
            continue;
        }
        /* v without this item's own value: its k-th is v[k] below the item, else v[k + 1]. */
        double own = fabs(log(it->ratio));
        double spread = v[k] < own ? v[k] : v[k + 1];
        double lo = log(it->ratio_lo), hi = log(it->ratio_hi);
        if (!(lo > spread || hi < -spread))
            it->verdict = RP_VERDICT_INCONCLUSIVE;
    }
}

/*
 * Two runs' ratios against the reference move together when the reference itself ran faster
 * or slower in one run (on this VM the in-process local: table moves by up to 4x from run to
 * run with the cache it gets): every backend of the group then shows the same change. What
 * belongs to one backend is its change beyond the others'.
 */
void rp__paired_shifts(rp_cmp *c) {
    size_t n = c->nitems ? c->nitems : 1;
    double *v = malloc(n * sizeof *v), *raw = malloc(n * sizeof *raw);
    if (!v || !raw) {
        free(v);
        free(raw);
        return;
    }
    for (size_t i = 0; i < c->nitems; i++)
        raw[i] = shift_member(&c->items[i]) ? log(c->items[i].ratio) : NAN;
    for (size_t i = 0; i < c->nitems; i++)
        if (judged(&c->items[i]))
            take_group_shift(c, i, raw, v);
    keep_beyond_spread(c, v);
    free(v);
    free(raw);
}
