/*
 * model.c - the in-memory results document: building it, freeing it, and summarising the
 * repetitions of a metric. Also the error strings and the report format names.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

UD_ERRGEN_FUNCTIONS(RP_ERRNO_MAP, rp_strerror, rp_errname)

const char *rp__status_name(int status) {
    switch (status) {
    case RP_STATUS_OK:
        return "ok";
    case RP_STATUS_NA:
        return "n/a";
    case RP_STATUS_ERROR:
        return "error";
    default:
        return NULL;
    }
}

int rp_format_parse(const char *name) {
    static const char *const names[] = {[RP_FORMAT_TEXT] = "text",
                                        [RP_FORMAT_MD] = "md",
                                        [RP_FORMAT_CSV] = "csv",
                                        [RP_FORMAT_SVG] = "svg"};
    if (!name)
        return RP_EFORMAT;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return RP_EFORMAT;
}

int rp_doc_new(rp_doc **out) {
    if (!out)
        return RP_EINVAL;
    rp_doc *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    *out = d;
    return 0;
}

void *rp__array_push_owner(void **arr, size_t *n, size_t size, void *owned) {
    void *e = owned ? rp__array_push(arr, n, size) : NULL;
    if (!e)
        free(owned);
    return e;
}

void rp__params_free(rp_param *params, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(params[i].key);
        free(params[i].value);
    }
    free(params);
}

/* Frees n strings and the array that holds them. */
static void strings_free(char **s, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* Releases what a metric owns, not the metric itself (it lives in its cell's array). */
static void metric_clear(rp_metric *m) {
    free(m->op);
    free(m->reps);
    free(m->hist_scheme);
    free(m->buckets);
}

static void cell_clear(rp_cell *c) {
    free(c->scenario);
    free(c->backend);
    free(c->backend_name);
    free(c->backend_id);
    rp__params_free(c->params, c->nparams);
    free(c->reason);
    free(c->merit.metric);
    free(c->merit.reference);
    for (size_t i = 0; i < c->nmetrics; i++)
        metric_clear(&c->metrics[i]);
    free(c->metrics);
    rp__failover_clear(&c->failover);
}

static void backend_clear(rp_backend *b) {
    free(b->uri);
    free(b->name);
    free(b->version);
    free(b->caps);
    free(b->error);
}

static void run_clear(rp_run *r) {
    free(r->started);
    free(r->finished);
    free(r->tool_version);
    free(r->git_commit);
    free(r->build_type);
    free(r->suite);
    strings_free(r->argv, r->argc);
    strings_free(r->hosts, r->nhosts);
    free(r->machine.cpu);
    free(r->machine.kernel);
    free(r->machine.compiler);
}

void rp_doc_free(rp_doc *d) {
    if (!d)
        return;
    run_clear(&d->run);
    for (size_t i = 0; i < d->nbackends; i++)
        backend_clear(&d->backends[i]);
    free(d->backends);
    for (size_t i = 0; i < d->ncells; i++)
        cell_clear(&d->cells[i]);
    free(d->cells);
    free(d);
}

/*
 * Replaces *field by a copy of value (NULL clears it). The old string is freed only once the
 * copy exists, so on ENOMEM the field keeps its previous value.
 */
int rp_set_string(char **field, const char *value) {
    if (!field)
        return RP_EINVAL;
    char *copy = NULL;
    if (value) {
        copy = strdup(value);
        if (!copy)
            return -ENOMEM;
    }
    free(*field);
    *field = copy;
    return 0;
}

/*
 * Appends one zeroed element of `size` bytes to the array *arr of *n elements, growing it by
 * doubling (the array's capacity is not stored: it is the next power of two at or above *n,
 * which is what this function allocates). Returns the new element, or NULL on ENOMEM with the
 * array unchanged.
 */
void *rp__array_push(void **arr, size_t *n, size_t size) {
    size_t cap = 0;
    if (*n) {
        cap = 1;
        while (cap < *n)
            cap *= 2;
    }
    if (*n == cap) {
        size_t ncap = cap ? cap * 2 : 1;
        if (ncap > SIZE_MAX / size)
            return NULL;
        void *p = realloc(*arr, ncap * size);
        if (!p)
            return NULL;
        *arr = p;
    }
    char *el = (char *)*arr + *n * size;
    memset(el, 0, size);
    (*n)++;
    return el;
}

rp_backend *rp_doc_add_backend(rp_doc *d) {
    if (!d)
        return NULL;
    return rp__array_push((void **)&d->backends, &d->nbackends, sizeof(rp_backend));
}

rp_cell *rp_doc_add_cell(rp_doc *d) {
    if (!d)
        return NULL;
    rp_cell *c = rp__array_push((void **)&d->cells, &d->ncells, sizeof(rp_cell));
    if (c) {
        c->harness_floor_ns = -1;
        c->value_copy_ns = -1;
        c->merit.direction = RP_HIGHER_IS_BETTER;
    }
    return c;
}

int rp_cell_add_param(rp_cell *c, const char *key, const char *value) {
    if (!c || !key || !value)
        return RP_EINVAL;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v)
        goto fail;
    rp_param *p = rp__array_push((void **)&c->params, &c->nparams, sizeof(rp_param));
    if (!p)
        goto fail;
    p->key = k;
    p->value = v;
    return 0;
fail:
    free(v);
    free(k);
    return -ENOMEM;
}

rp_metric *rp_cell_add_metric(rp_cell *c, const char *op) {
    if (!c || !op)
        return NULL;
    char *copy = strdup(op);
    if (!copy)
        return NULL;
    rp_metric *m = rp__array_push((void **)&c->metrics, &c->nmetrics, sizeof(rp_metric));
    if (!m) {
        free(copy);
        return NULL;
    }
    m->op = copy;
    return m;
}

int rp_metric_add_rep(rp_metric *m, const rp_rep *rep) {
    if (!m || !rep)
        return RP_EINVAL;
    rp_rep *r = rp__array_push((void **)&m->reps, &m->nreps, sizeof(rp_rep));
    if (!r)
        return -ENOMEM;
    *r = *rep;
    return 0;
}

int rp_metric_set_buckets(rp_metric *m, const uint64_t *counts, size_t n) {
    if (!m || (n && !counts))
        return RP_EINVAL;
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!counts[i])
            continue;
        /* The reader refuses an index beyond the scheme's: never write one. */
        if (i > RP__HIST_MAX_INDEX)
            return RP_EINVAL;
        nb++;
    }
    rp_bucket *b = NULL;
    if (nb && !(b = malloc(nb * sizeof *b)))
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n && k < nb; i++)
        if (counts[i])
            b[k++] = (rp_bucket){(uint32_t)i, counts[i]};
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return 0;
}

const char *rp_cell_param(const rp_cell *c, const char *key) {
    if (!c || !key)
        return NULL;
    for (size_t i = 0; i < c->nparams; i++)
        if (c->params[i].key && strcmp(c->params[i].key, key) == 0)
            return c->params[i].value;
    return NULL;
}

/*
 * The median is that of the repetitions' ops/s (the mean of the two middle ones for an even
 * count). The spread is relative to the median; when the median is 0 (most repetitions did
 * nothing) but some did work, it is relative to the mean instead, so that such a figure is
 * marked noisy rather than given an infinite spread that JSON cannot carry.
 */
void rp_metric_summarise(rp_metric *m, double noise_threshold) {
    if (!m)
        return;
    m->median = m->min = m->max = m->spread = 0;
    m->noisy = false;
    if (m->nreps == 0)
        return;
    double sum = 0;
    m->min = m->max = m->reps[0].ops_per_sec;
    for (size_t i = 0; i < m->nreps; i++) {
        double v = m->reps[i].ops_per_sec;
        sum += v;
        if (v < m->min)
            m->min = v;
        if (v > m->max)
            m->max = v;
    }
    size_t n = m->nreps;
    /* The median comes from the interval's sort: O(n log n), whatever n a document holds. */
    double *v = malloc(n * sizeof *v);
    if (!v)
        return; /* median, interval and level stay 0: "unknown" */
    for (size_t i = 0; i < n; i++)
        v[i] = m->reps[i].ops_per_sec;
    rp_median_ci(v, n, &m->median, &m->ci_low, &m->ci_high, &m->ci_level);
    free(v);
    double base = m->median > 0 ? m->median : sum / (double)n;
    m->spread = base > 0 ? (m->max - m->min) / base : 0;
    m->noisy = m->spread > noise_threshold;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/*
 * P(X = i) for X ~ Binomial(n, 1/2), through logarithms: C(n, i) / 2^n itself underflows to 0
 * (and the interval collapsed) from n = 1,075 on, while the terms near n/2 that decide the
 * interval are of order 1/sqrt(n). lgamma's relative error is about 1e-16 of ln n!, so a term
 * is good to about 1e-10 even at n = 10^6.
 */
static double binom_half_pmf(size_t n, size_t i) {
    double dn = (double)n, di = (double)i;
    return exp(lgamma(dn + 1) - lgamma(di + 1) - lgamma(dn - di + 1) - dn * M_LN2);
}

void rp_median_ci(const double *v, size_t n, double *median, double *low, double *high,
                  double *level) {
    *median = *low = *high = *level = 0;
    if (n == 0)
        return;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    *median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    *low = *high = *median;
    if (n >= 2) {
        /* [x(k), x(n+1-k)] (1-based) covers the median with probability 1 - 2 P(X <= k-1):
         * the largest k whose coverage is still >= 95%, else k = 1. One pass adds P(X = k) to
         * the running P(X <= k-1): linear in n. */
        size_t k = 1;
        double below = binom_half_pmf(n, 0); /* P(X <= k-1) */
        while (k + 1 <= n / 2) {
            double next = below + binom_half_pmf(n, k);
            if (1 - 2 * next < 0.95)
                break;
            below = next;
            k++;
        }
        *low = s[k - 1];
        *high = s[n - k];
        *level = 1 - 2 * below;
    }
    free(s);
}

static const rp_metric *merit_metric(const rp_cell *c) {
    if (!c || !c->merit.metric)
        return NULL;
    for (size_t i = 0; i < c->nmetrics; i++)
        if (c->metrics[i].op && strcmp(c->metrics[i].op, c->merit.metric) == 0)
            return &c->metrics[i];
    return NULL;
}

double rp_merit_rep_value(const rp_cell *c, size_t rep) {
    const rp_metric *m = merit_metric(c);
    if (!m || rep >= m->nreps)
        return 0;
    const rp_rep *r = &m->reps[rep];
    switch (c->merit.figure) {
    case RP_FIGURE_P50_NS:
        return r->p50_ns;
    case RP_FIGURE_BYTES_SEC:
        return r->ops_per_sec * m->bytes_per_op;
    case RP_FIGURE_LOST:
        return rep < c->failover.nreps ? (double)c->failover.reps[rep].lost_writes : 0;
    default:
        return r->ops_per_sec;
    }
}

static int probe_regime_at(const rp_probe *p, double slow_ratio) {
    if (!p || !(p->llc_ns > 0) || !(p->compute_ns > 0))
        return RP_REGIME_NONE;
    return p->llc_ns / p->compute_ns > slow_ratio ? RP_REGIME_SLOW : RP_REGIME_FAST;
}

int rp_probe_regime(const rp_probe *p) {
    return probe_regime_at(p, RP_PROBE_SLOW_RATIO);
}

int rp_regime_of(const rp_probe *before, const rp_probe *after, double slow_ratio) {
    int a = probe_regime_at(before, slow_ratio), b = probe_regime_at(after, slow_ratio);
    if (a == RP_REGIME_NONE || b == RP_REGIME_NONE)
        return a == RP_REGIME_NONE ? b : a;
    return a == b ? a : RP_REGIME_CHANGED;
}

int rp_rep_regime(const rp_rep *r) {
    if (r->regime != RP_REGIME_NONE)
        return r->regime;
    return rp_regime_of(&r->probe_before, &r->probe_after, RP_PROBE_SLOW_RATIO);
}

const char *rp_regime_name(int regime) {
    switch (regime) {
    case RP_REGIME_FAST:
        return "fast";
    case RP_REGIME_SLOW:
        return "slow";
    case RP_REGIME_CHANGED:
        return "changed";
    default:
        return NULL;
    }
}

void rp_cell_summarise_merit(rp_cell *c) {
    rp_merit *mr = &c->merit;
    mr->value = mr->ci_low = mr->ci_high = mr->ci_level = 0;
    mr->ratio = mr->ratio_low = mr->ratio_high = mr->ratio_level = 0;
    const rp_metric *m = merit_metric(c);
    if (!m || m->nreps == 0)
        return;
    double *v = malloc(m->nreps * sizeof *v);
    if (!v)
        return;
    /* A latency figure needs samples: a batch that saw no event (a visibility batch in which
     * no stamp was seen) has no p50, not a p50 of 0. */
    size_t k = 0;
    for (size_t i = 0; i < m->nreps; i++)
        if (c->merit.figure != RP_FIGURE_P50_NS || m->reps[i].ops > 0)
            v[k++] = rp_merit_rep_value(c, i);
    rp_median_ci(v, k, &mr->value, &mr->ci_low, &mr->ci_high, &mr->ci_level);
    /* The paired ratios: only the rounds in which both this cell and the reference ran. */
    size_t n = 0;
    for (size_t i = 0; mr->reference && i < m->nreps; i++)
        if (m->reps[i].ratio > 0)
            v[n++] = m->reps[i].ratio;
    if (n)
        rp_median_ci(v, n, &mr->ratio, &mr->ratio_low, &mr->ratio_high, &mr->ratio_level);
    free(v);
}

const rp_merit *rp_cell_merit(const rp_cell *c) {
    if (!c || c->status != RP_STATUS_OK || !merit_metric(c))
        return NULL;
    return &c->merit;
}

int rp_merit_compare(const rp_cell *a, const rp_cell *b) {
    const rp_merit *x = rp_cell_merit(a), *y = rp_cell_merit(b);
    if (!x || !y || x->figure != y->figure || x->direction != y->direction)
        return 0;
    /* Disjoint intervals only; a single repetition has a zero-width interval and is compared
     * by its value (nothing better is known). */
    if (x->ci_low > y->ci_high)
        return x->direction;
    if (y->ci_low > x->ci_high)
        return -x->direction;
    return 0;
}
