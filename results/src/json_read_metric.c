/*
 * json_read_metric.c - reading one metric of a cell: its repetitions, the summary (which must
 * be the one the repetitions give), the latency block and the histogram. The rules of the
 * reader are those of json_read.c: the first impossible field is named by its path.
 */
#include <limits.h>
#include <string.h>

#include "internal.h"
#include "json_check.h"

/* The fields udbench/2 added to a repetition: where it ran and how disturbed it was. */
static int read_rep_v2(rp__jc *r, const json_t *o, rp_rep *rep) {
    int64_t round = 0, pos = 0;
    if (rp__jc_num(r, o, "p50_ns", &rep->p50_ns) || rp__jc_int(r, o, "round", 0, &round) ||
        rp__jc_int(r, o, "position", 0, &pos) ||
        rp__jc_num(r, o, "steal_share", &rep->steal_share) ||
        rp__jc_uint(r, o, "nivcsw", &rep->nivcsw) || rp__jc_num(r, o, "load1", &rep->load1))
        return r->rc;
    if (round > INT_MAX || pos > INT_MAX)
        return rp__jc_bad_at(r, round > INT_MAX ? "round" : "position", "too large");
    rep->round = (int)round;
    rep->position = (int)pos;
    if (rep->steal_share > 1)
        return rp__jc_bad_at(r, "steal_share", "must lie between 0 and 1 (got %g)",
                             rep->steal_share);
    return 0;
}

static int read_rep(rp__jc *r, const json_t *o, rp_rep *rep) {
    static const char *const keys[] = {"ops",
                                       "seconds",
                                       "ops_per_sec",
                                       "errors", /* v1 */
                                       "p50_ns",
                                       "round",
                                       "position",
                                       "steal_share",
                                       "nivcsw",
                                       "load1", /* v2 */
                                       "probe_before",
                                       "probe_after",
                                       "regime",
                                       "ratio", /* v3 */
                                       NULL};
    static const size_t upto[3] = {4, 10, 14};
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known_v(r, o, keys, upto) || rp__jc_uint(r, o, "ops", &rep->ops) ||
        rp__jc_num(r, o, "seconds", &rep->seconds) ||
        rp__jc_num(r, o, "ops_per_sec", &rep->ops_per_sec) ||
        rp__jc_uint(r, o, "errors", &rep->errors))
        return r->rc;
    if (r->version >= 2 && read_rep_v2(r, o, rep))
        return r->rc;
    if (r->version >= 3 && rp__read_rep_v3(r, o, rep))
        return r->rc;
    double want = rep->seconds > 0 ? (double)rep->ops / rep->seconds : 0;
    if (!rp__agree(rep->ops_per_sec, want))
        rp__jc_bad_at(r, "ops_per_sec", "is not ops / seconds (%.15g, not %.15g)", rep->ops_per_sec,
                      want);
    return r->rc;
}

static int add_rep(rp__jc *r, const json_t *v, void *ctx) {
    rp_rep rep = {0};
    if (!read_rep(r, v, &rep) && rp_metric_add_rep(ctx, &rep))
        rp__jc_nomem(r);
    return r->rc;
}

/*
 * The summary of a metric must be the one rp_metric_summarise() gives for its repetitions
 * under the run's threshold, or the reports would print figures the repetitions do not
 * support. Near the threshold, `noisy` may go either way (the spread was printed rounded).
 */
static int check_summary(rp__jc *r, const rp_metric *met, double threshold) {
    rp_metric want = {.reps = met->reps, .nreps = met->nreps};
    rp_metric_summarise(&want, threshold);
    const struct {
        const char *name, *what;
        double got, want;
    } f[] = {
        {"median", "the median of the repetitions' ops_per_sec", met->median, want.median},
        {"min", "the lowest of the repetitions' ops_per_sec", met->min, want.min},
        {"max", "the highest of the repetitions' ops_per_sec", met->max, want.max},
        {"spread", "(max - min) / median", met->spread, want.spread},
        {"ci_low", "the low end of the order-statistics interval", met->ci_low, want.ci_low},
        {"ci_high", "the high end of the order-statistics interval", met->ci_high, want.ci_high},
        {"ci_level", "the coverage of the order-statistics interval", met->ci_level,
         want.ci_level}};
    size_t nf = sizeof f / sizeof f[0];
    if (r->version < 2)
        nf -= 3; /* udbench/1 has no interval: it is computed on reading */
    for (size_t i = 0; i < nf; i++)
        if (!rp__agree(f[i].got, f[i].want))
            return rp__jc_bad_at(r, f[i].name, "is not %s (%.15g, not %.15g)", f[i].what, f[i].got,
                                 f[i].want);
    if (met->noisy != want.noisy && !rp__agree(met->spread, threshold))
        rp__jc_bad_at(r, "noisy", "must be %s: the spread %g is %s run.noise_threshold %g",
                      want.noisy ? "true" : "false", met->spread,
                      want.noisy ? "above" : "not above", threshold);
    return r->rc;
}

static int read_latency(rp__jc *r, const json_t *o, rp_latency *l) {
    static const char *const keys[] = {"count", "mean", "p50", "p90", "p99", "p999", "max", NULL};
    if (rp__jc_only_known(r, o, keys) || rp__jc_uint(r, o, "count", &l->count) ||
        rp__jc_num(r, o, "mean", &l->mean) || rp__jc_num(r, o, "p50", &l->p50) ||
        rp__jc_num(r, o, "p90", &l->p90) || rp__jc_num(r, o, "p99", &l->p99) ||
        rp__jc_num(r, o, "p999", &l->p999) || rp__jc_num(r, o, "max", &l->max))
        return r->rc;
    /* Percentiles of one histogram cannot decrease. */
    const char *name[] = {"p90", "p99", "p999"}, *prev[] = {"p50", "p90", "p99"};
    double v[] = {l->p50, l->p90, l->p99, l->p999};
    for (int i = 0; i < 3; i++)
        if (v[i + 1] < v[i])
            return rp__jc_bad_at(r, name[i], "must not be below %s (%g < %g)", prev[i], v[i + 1],
                                 v[i]);
    /* Percentiles are clamped to the exact maximum, and a mean cannot exceed it (but for the
     * rounding of a large sum to a double). */
    const char *at_most[] = {"p999", "mean"};
    double w[] = {l->p999, l->mean};
    for (int i = 0; i < 2; i++)
        if (w[i] > l->max && !rp__agree(w[i], l->max))
            return rp__jc_bad_at(r, at_most[i], "must not be above max (%g > %g)", w[i], l->max);
    return 0;
}

/* One [index, count] pair of the histogram, after those already in met; *sum adds its count. */
static int read_bucket(rp__jc *r, const json_t *pair, rp_metric *met, uint64_t *sum) {
    if (!json_is_array(pair) || json_array_size(pair) != 2 ||
        !json_is_integer(json_array_get(pair, 0)) || !json_is_integer(json_array_get(pair, 1)))
        return rp__jc_bad(r, "expected [index, count] (two integers)");
    json_int_t idx = json_integer_value(json_array_get(pair, 0));
    json_int_t cnt = json_integer_value(json_array_get(pair, 1));
    if (idx < 0 || idx > (json_int_t)RP__HIST_MAX_INDEX)
        return rp__jc_bad(r, "bucket index %lld outside 0..%u", (long long)idx, RP__HIST_MAX_INDEX);
    if (met->nbuckets && (uint32_t)idx <= met->buckets[met->nbuckets - 1].index)
        return rp__jc_bad(r, "bucket indexes must increase (%lld after %u)", (long long)idx,
                          met->buckets[met->nbuckets - 1].index);
    if (cnt < 1)
        return rp__jc_bad(r, "bucket count must be at least 1 (got %lld)", (long long)cnt);
    if (*sum + (uint64_t)cnt < *sum)
        return rp__jc_bad(r, "bucket counts overflow");
    rp_bucket *b = rp__array_push((void **)&met->buckets, &met->nbuckets, sizeof *b);
    if (!b)
        return rp__jc_nomem(r);
    b->index = (uint32_t)idx;
    b->count = (uint64_t)cnt;
    *sum += (uint64_t)cnt;
    return 0;
}

static int read_buckets(rp__jc *r, const json_t *a, rp_metric *met) {
    uint64_t sum = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t m = rp__jc_enter_index(r, i);
        read_bucket(r, json_array_get(a, i), met, &sum);
        rp__jc_leave(r, m);
        if (r->rc)
            return r->rc;
    }
    if (met->nbuckets && !met->has_latency)
        return rp__jc_bad(r, "a histogram needs a latency block");
    if (met->nbuckets && sum != met->latency.count)
        return rp__jc_bad(r, "the bucket counts add up to %llu, latency.count is %llu",
                          (unsigned long long)sum, (unsigned long long)met->latency.count);
    return 0;
}

/* The summary figures of a metric, each checked on its own and against the others. */
static int read_summary(rp__jc *r, const json_t *o, rp_metric *met) {
    if (rp__jc_num(r, o, "median", &met->median) || rp__jc_num(r, o, "min", &met->min) ||
        rp__jc_num(r, o, "max", &met->max) || rp__jc_num(r, o, "spread", &met->spread) ||
        rp__jc_bool(r, o, "noisy", &met->noisy) ||
        (r->version >= 2 &&
         (rp__jc_num(r, o, "ci_low", &met->ci_low) || rp__jc_num(r, o, "ci_high", &met->ci_high) ||
          rp__jc_num(r, o, "ci_level", &met->ci_level))) ||
        rp__jc_num(r, o, "fairness", &met->fairness) ||
        rp__jc_num(r, o, "bytes_per_op", &met->bytes_per_op))
        return r->rc;
    return 0;
}

/* The range checks and the summary check, once the figures and repetitions are read. */
static int check_figures(rp__jc *r, rp_metric *met, double threshold) {
    if (met->fairness > 1)
        return rp__jc_bad_at(r, "fairness", "must lie between 0 and 1 (got %g)", met->fairness);
    if (met->min > met->median || met->median > met->max)
        return rp__jc_bad_at(r, "median", "must lie between min and max (%g is not in [%g, %g])",
                             met->median, met->min, met->max);
    if (check_summary(r, met, threshold))
        return r->rc;
    if (r->version < 2)
        rp_metric_summarise(met, threshold); /* fills in the interval */
    return 0;
}

/* The histogram: its scheme (null: none) and its buckets. */
static int read_histogram(rp__jc *r, const json_t *o, rp_metric *met) {
    const json_t *buckets;
    if (rp__jc_str(r, o, "hist_scheme", &met->hist_scheme, RP__JC_NULLABLE) ||
        rp__jc_arr(r, o, "buckets", &buckets))
        return r->rc;
    if (met->hist_scheme && strcmp(met->hist_scheme, RP__HIST_SCHEME) != 0)
        return rp__jc_bad_at(
            r, "hist_scheme",
            "unsupported histogram scheme \"%s\" (this udbench reads " RP__HIST_SCHEME ")",
            met->hist_scheme);
    size_t m = rp__jc_enter(r, "buckets");
    if (!met->hist_scheme && json_array_size(buckets))
        rp__jc_bad(r, "must be empty when hist_scheme is null");
    else
        read_buckets(r, buckets, met);
    rp__jc_leave(r, m);
    return r->rc;
}

int rp__read_metric(rp__jc *r, const json_t *o, rp_metric *met, bool need_reps, double threshold) {
    static const char *const keys[] = {
        "op",     "reps",     "median",       "min",     "max",         "spread",
        "noisy",  "fairness", "bytes_per_op", "latency", "hist_scheme", "buckets", /* v1 */
        "ci_low", "ci_high",  "ci_level",                                          /* v2 */
        NULL};
    static const size_t upto[3] = {12, 15, 15};
    const json_t *reps, *lat;
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known_v(r, o, keys, upto) ||
        rp__jc_str(r, o, "op", &met->op, RP__JC_REQUIRED) || rp__jc_arr(r, o, "reps", &reps))
        return r->rc;
    if (need_reps && json_array_size(reps) == 0)
        return rp__jc_bad_at(r, "reps", "an ok cell needs at least one repetition");
    if (json_array_size(reps) > RP_MAX_REPS)
        return rp__jc_bad_at(r, "reps", "%zu repetitions; udbench writes at most %d (--repeat)",
                             json_array_size(reps), RP_MAX_REPS);
    if (rp__jc_each(r, "reps", reps, add_rep, met) || read_summary(r, o, met) ||
        rp__jc_obj(r, o, "latency", true, &lat) || check_figures(r, met, threshold))
        return r->rc;
    if (lat) {
        met->has_latency = true;
        size_t m = rp__jc_enter(r, "latency");
        read_latency(r, lat, &met->latency);
        rp__jc_leave(r, m);
    }
    return r->rc ? r->rc : read_histogram(r, o, met);
}
