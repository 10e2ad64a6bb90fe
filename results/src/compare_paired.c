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
static void add_probe(const rp_probe *p, double *v, size_t *n, size_t *slow) {
    int regime = rp_probe_regime(p);
    if (regime == RP_REGIME_NONE)
        return;
    v[(*n)++] = p->llc_ns / p->compute_ns;
    *slow += regime == RP_REGIME_SLOW;
}

bool rp__doc_machine(const rp_doc *d, double *median, double *slow_share) {
    size_t cap = 0, n = 0, slow = 0;
    for (size_t i = 0; i < d->ncells; i++)
        for (size_t j = 0; j < d->cells[i].nmetrics; j++)
            cap += 2 * d->cells[i].metrics[j].nreps;
    double *v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v)
        return false;
    /* Every repetition once: the probes are the same for every metric of a cell. */
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        for (size_t k = 0; c->nmetrics && k < c->metrics[0].nreps; k++) {
            add_probe(&c->metrics[0].reps[k].probe_before, v, &n, &slow);
            add_probe(&c->metrics[0].reps[k].probe_after, v, &n, &slow);
        }
    }
    if (n) {
        qsort(v, n, sizeof *v, cmp_double);
        *median = v[n / 2];
        *slow_share = (double)slow / (double)n;
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

bool rp__is_paired(const rp_cell *c, const rp_metric *m) {
    return c->merit.reference && c->merit.metric && !strcmp(c->merit.metric, m->op) &&
           !rp__same_backend(c->merit.reference, c->backend) && c->merit.ratio > 0;
}

int rp__compare_paired(rp_cmp_item *it, const rp_cell *bc, const rp_metric *bm, const rp_cell *hc,
                       const rp_metric *hm, double alpha, double margin) {
    double xb[1024], xh[1024];
    it->n_base = paired_costs(bc, bm, xb, 1024);
    it->n_head = paired_costs(hc, hm, xh, 1024);
    double cb = bc->merit.direction == RP_LOWER_IS_BETTER ? bc->merit.ratio : 1 / bc->merit.ratio;
    double ch = hc->merit.direction == RP_LOWER_IS_BETTER ? hc->merit.ratio : 1 / hc->merit.ratio;
    it->ratio = ch / cb;
    double lo, hi, est;
    int rc = rp_mw_shift_interval(xb, it->n_base, xh, it->n_head, alpha, &lo, &hi, &est);
    if (rc == -2)
        return -ENOMEM;
    it->confidence = rc == 0 ? 1 - alpha : 0;
    it->ratio_lo = exp(lo);
    it->ratio_hi = exp(hi);
    it->verdict = rc == 0 ? rp_verdict(lo, hi, log1p(margin)) : RP_VERDICT_INCONCLUSIVE;
    return 0;
}

bool rp_backend_match(const char *a, const char *b) {
    return rp__same_backend(a, b);
}

bool rp_doc_machines_agree(const rp_doc *a, const rp_doc *b, double *ma, double *mb) {
    return rp__machines_agree(a, b, ma, mb);
}
