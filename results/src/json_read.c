/*
 * json_read.c - reading and validating a results document.
 *
 * The reader trusts nothing: every field must be present with its type and a possible value,
 * and the first one that is not is named by its path ("results[3].metrics[0].latency.p99:
 * expected a number"), so that whoever produced the document can fix it. Fields whose names
 * start with "x_" are the one documented extension point; they are skipped (and not kept).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json_check.h"

static int read_loads(rp__jc *r, const json_t *obj, const char *key, double out[3]) {
    const json_t *a;
    if (rp__jc_arr(r, obj, key, &a))
        return r->rc;
    size_t m = rp__jc_enter(r, key);
    if (json_array_size(a) != 3) {
        rp__jc_bad(r, "expected 3 load averages (1, 5 and 15 minutes), got %zu",
                   json_array_size(a));
    } else {
        for (size_t i = 0; i < 3; i++) {
            const json_t *v = json_array_get(a, i);
            size_t mi = rp__jc_enter_index(r, i);
            if (!json_is_number(v))
                rp__jc_bad(r, "expected a number");
            else if (json_number_value(v) < 0)
                rp__jc_bad(r, "must not be negative (got %g)", json_number_value(v));
            else
                out[i] = json_number_value(v);
            rp__jc_leave(r, mi);
            if (r->rc)
                break;
        }
    }
    rp__jc_leave(r, m);
    return r->rc;
}

static int read_machine(rp__jc *r, const json_t *o, rp_machine *mc) {
    static const char *const keys[] = {"cpu",      "cores",       "kernel",     "memory_bytes",
                                       "compiler", "load_before", "load_after", NULL};
    int64_t cores = 0;
    if (rp__jc_only_known(r, o, keys) || rp__jc_str(r, o, "cpu", &mc->cpu, RP__JC_NULLABLE) ||
        rp__jc_int(r, o, "cores", 0, &cores) ||
        rp__jc_str(r, o, "kernel", &mc->kernel, RP__JC_NULLABLE) ||
        rp__jc_uint(r, o, "memory_bytes", &mc->memory_bytes) ||
        rp__jc_str(r, o, "compiler", &mc->compiler, RP__JC_NULLABLE) ||
        read_loads(r, o, "load_before", mc->load_before) ||
        read_loads(r, o, "load_after", mc->load_after))
        return r->rc;
    if (cores > INT_MAX) {
        size_t m = rp__jc_enter(r, "cores");
        rp__jc_bad(r, "too large (%lld)", (long long)cores);
        rp__jc_leave(r, m);
        return r->rc;
    }
    mc->cores = (int)cores;
    return 0;
}

static int read_run(rp__jc *r, const json_t *o, rp_run *run) {
    static const char *const keys[] = {
        "started", "finished", "tool_version",      "git_commit",      "build_type", "suite",
        "argv",    "seed",     "timer_overhead_ns", "noise_threshold", "machine",    NULL};
    static const char *const keys2[] = {
        "started", "finished", "tool_version",      "git_commit",      "build_type", "suite",
        "argv",    "seed",     "timer_overhead_ns", "noise_threshold", "machine",    "rounds",
        "pinned",  NULL};
    const json_t *argv, *machine;
    if (rp__jc_only_known(r, o, r->version >= 2 ? keys2 : keys) ||
        rp__jc_str(r, o, "started", &run->started, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "finished", &run->finished, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "tool_version", &run->tool_version, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "git_commit", &run->git_commit, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "build_type", &run->build_type, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "suite", &run->suite, RP__JC_NULLABLE) || rp__jc_arr(r, o, "argv", &argv))
        return r->rc;
    size_t n = json_array_size(argv);
    if (n) {
        run->argv = calloc(n, sizeof *run->argv);
        if (!run->argv)
            return rp__jc_nomem(r);
    }
    size_t m = rp__jc_enter(r, "argv");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(argv, i);
        size_t mi = rp__jc_enter_index(r, i);
        if (!json_is_string(v))
            rp__jc_bad(r, "expected a string");
        else if (!(run->argv[i] = strdup(json_string_value(v))))
            rp__jc_nomem(r);
        else
            run->argc++;
        rp__jc_leave(r, mi);
        if (r->rc)
            break;
    }
    rp__jc_leave(r, m);
    if (r->rc || rp__jc_uint(r, o, "seed", &run->seed) ||
        rp__jc_num(r, o, "timer_overhead_ns", &run->timer_overhead_ns) ||
        rp__jc_num(r, o, "noise_threshold", &run->noise_threshold) ||
        rp__jc_obj(r, o, "machine", false, &machine))
        return r->rc;
    if (r->version >= 2) {
        int64_t rounds = 0;
        if (rp__jc_int(r, o, "rounds", 0, &rounds) || rp__jc_bool(r, o, "pinned", &run->pinned))
            return r->rc;
        if (rounds > 100000) {
            size_t mr = rp__jc_enter(r, "rounds");
            rp__jc_bad(r, "too large (%lld)", (long long)rounds);
            rp__jc_leave(r, mr);
            return r->rc;
        }
        run->rounds = (int)rounds;
    }
    m = rp__jc_enter(r, "machine");
    read_machine(r, machine, &run->machine);
    rp__jc_leave(r, m);
    return r->rc;
}

static int read_backend(rp__jc *r, const json_t *o, rp_backend *b) {
    static const char *const keys[] = {"uri",           "name",      "version", "caps",
                                       "local_runtime", "reachable", "error",   NULL};
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known(r, o, keys) || rp__jc_str(r, o, "uri", &b->uri, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "name", &b->name, RP__JC_EMPTY_OK) ||
        rp__jc_str(r, o, "version", &b->version, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "caps", &b->caps, RP__JC_NULLABLE) ||
        rp__jc_bool(r, o, "local_runtime", &b->local_runtime) ||
        rp__jc_bool(r, o, "reachable", &b->reachable) ||
        rp__jc_str(r, o, "error", &b->error, RP__JC_NULLABLE))
        return r->rc;
    /* A backend that never answered may not know its own name; one that ran must. */
    if (b->reachable && !*b->name) {
        size_t m = rp__jc_enter(r, "name");
        rp__jc_bad(r, "must not be empty for a reachable backend");
        rp__jc_leave(r, m);
    }
    return r->rc;
}

/*
 * Whether two figures agree, allowing for what printing with 15 significant digits and
 * recomputing from printed values can change (a few units in the 15th digit).
 */
static bool agree(double a, double b) {
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static int read_rep(rp__jc *r, const json_t *o, rp_rep *rep) {
    static const char *const keys[] = {"ops", "seconds", "ops_per_sec", "errors", NULL};
    static const char *const keys2[] = {"ops",    "seconds", "ops_per_sec", "errors",
                                        "p50_ns", "round",   "position",    "steal_share",
                                        "nivcsw", "load1",   NULL};
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known(r, o, r->version >= 2 ? keys2 : keys) ||
        rp__jc_uint(r, o, "ops", &rep->ops) || rp__jc_num(r, o, "seconds", &rep->seconds) ||
        rp__jc_num(r, o, "ops_per_sec", &rep->ops_per_sec) ||
        rp__jc_uint(r, o, "errors", &rep->errors))
        return r->rc;
    if (r->version >= 2) {
        int64_t round = 0, pos = 0;
        if (rp__jc_num(r, o, "p50_ns", &rep->p50_ns) || rp__jc_int(r, o, "round", 0, &round) ||
            rp__jc_int(r, o, "position", 0, &pos) ||
            rp__jc_num(r, o, "steal_share", &rep->steal_share) ||
            rp__jc_uint(r, o, "nivcsw", &rep->nivcsw) || rp__jc_num(r, o, "load1", &rep->load1))
            return r->rc;
        if (round > INT_MAX || pos > INT_MAX) {
            size_t m = rp__jc_enter(r, round > INT_MAX ? "round" : "position");
            rp__jc_bad(r, "too large");
            rp__jc_leave(r, m);
            return r->rc;
        }
        rep->round = (int)round;
        rep->position = (int)pos;
        if (rep->steal_share > 1) {
            size_t m = rp__jc_enter(r, "steal_share");
            rp__jc_bad(r, "must lie between 0 and 1 (got %g)", rep->steal_share);
            rp__jc_leave(r, m);
            return r->rc;
        }
    }
    double want = rep->seconds > 0 ? (double)rep->ops / rep->seconds : 0;
    if (!agree(rep->ops_per_sec, want)) {
        size_t m = rp__jc_enter(r, "ops_per_sec");
        rp__jc_bad(r, "is not ops / seconds (%.15g, not %.15g)", rep->ops_per_sec, want);
        rp__jc_leave(r, m);
    }
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
    for (size_t i = 0; i < nf; i++) {
        if (!agree(f[i].got, f[i].want)) {
            size_t m = rp__jc_enter(r, f[i].name);
            rp__jc_bad(r, "is not %s (%.15g, not %.15g)", f[i].what, f[i].got, f[i].want);
            rp__jc_leave(r, m);
            return r->rc;
        }
    }
    if (met->noisy != want.noisy && !agree(met->spread, threshold)) {
        size_t m = rp__jc_enter(r, "noisy");
        rp__jc_bad(r, "must be %s: the spread %g is %s run.noise_threshold %g",
                   want.noisy ? "true" : "false", met->spread, want.noisy ? "above" : "not above",
                   threshold);
        rp__jc_leave(r, m);
    }
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
    for (int i = 0; i < 3; i++) {
        if (v[i + 1] < v[i]) {
            size_t m = rp__jc_enter(r, name[i]);
            rp__jc_bad(r, "must not be below %s (%g < %g)", prev[i], v[i + 1], v[i]);
            rp__jc_leave(r, m);
            return r->rc;
        }
    }
    /* Percentiles are clamped to the exact maximum, and a mean cannot exceed it (but for the
     * rounding of a large sum to a double). */
    const char *at_most[] = {"p999", "mean"};
    double w[] = {l->p999, l->mean};
    for (int i = 0; i < 2; i++) {
        if (w[i] > l->max && !agree(w[i], l->max)) {
            size_t m = rp__jc_enter(r, at_most[i]);
            rp__jc_bad(r, "must not be above max (%g > %g)", w[i], l->max);
            rp__jc_leave(r, m);
            return r->rc;
        }
    }
    return 0;
}

static int read_buckets(rp__jc *r, const json_t *a, rp_metric *met) {
    uint64_t sum = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *pair = json_array_get(a, i);
        size_t m = rp__jc_enter_index(r, i);
        if (!json_is_array(pair) || json_array_size(pair) != 2 ||
            !json_is_integer(json_array_get(pair, 0)) ||
            !json_is_integer(json_array_get(pair, 1))) {
            rp__jc_bad(r, "expected [index, count] (two integers)");
        } else {
            json_int_t idx = json_integer_value(json_array_get(pair, 0));
            json_int_t cnt = json_integer_value(json_array_get(pair, 1));
            if (idx < 0 || idx > (json_int_t)RP__HIST_MAX_INDEX)
                rp__jc_bad(r, "bucket index %lld outside 0..%u", (long long)idx,
                           RP__HIST_MAX_INDEX);
            else if (met->nbuckets && (uint32_t)idx <= met->buckets[met->nbuckets - 1].index)
                rp__jc_bad(r, "bucket indexes must increase (%lld after %u)", (long long)idx,
                           met->buckets[met->nbuckets - 1].index);
            else if (cnt < 1)
                rp__jc_bad(r, "bucket count must be at least 1 (got %lld)", (long long)cnt);
            else if (sum + (uint64_t)cnt < sum)
                rp__jc_bad(r, "bucket counts overflow");
            else {
                rp_bucket *b = rp__array_push((void **)&met->buckets, &met->nbuckets, sizeof *b);
                if (!b)
                    rp__jc_nomem(r);
                else {
                    b->index = (uint32_t)idx;
                    b->count = (uint64_t)cnt;
                    sum += (uint64_t)cnt;
                }
            }
        }
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

static int read_metric(rp__jc *r, const json_t *o, rp_metric *met, bool need_reps,
                       double threshold) {
    static const char *const keys[] = {
        "op",       "reps",         "median",  "min",         "max",     "spread", "noisy",
        "fairness", "bytes_per_op", "latency", "hist_scheme", "buckets", NULL};
    static const char *const keys2[] = {"op",           "reps",    "median",      "min",
                                        "max",          "spread",  "noisy",       "fairness",
                                        "bytes_per_op", "latency", "hist_scheme", "buckets",
                                        "ci_low",       "ci_high", "ci_level",    NULL};
    const json_t *reps, *lat, *buckets;
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known(r, o, r->version >= 2 ? keys2 : keys) ||
        rp__jc_str(r, o, "op", &met->op, RP__JC_REQUIRED) || rp__jc_arr(r, o, "reps", &reps))
        return r->rc;
    size_t m = rp__jc_enter(r, "reps");
    if (need_reps && json_array_size(reps) == 0)
        rp__jc_bad(r, "an ok cell needs at least one repetition");
    for (size_t i = 0; !r->rc && i < json_array_size(reps); i++) {
        rp_rep rep = {0};
        size_t mi = rp__jc_enter_index(r, i);
        if (!read_rep(r, json_array_get(reps, i), &rep) && rp_metric_add_rep(met, &rep))
            rp__jc_nomem(r);
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    if (r->rc || rp__jc_num(r, o, "median", &met->median) || rp__jc_num(r, o, "min", &met->min) ||
        rp__jc_num(r, o, "max", &met->max) || rp__jc_num(r, o, "spread", &met->spread) ||
        rp__jc_bool(r, o, "noisy", &met->noisy) ||
        (r->version >= 2 &&
         (rp__jc_num(r, o, "ci_low", &met->ci_low) || rp__jc_num(r, o, "ci_high", &met->ci_high) ||
          rp__jc_num(r, o, "ci_level", &met->ci_level))) ||
        rp__jc_num(r, o, "fairness", &met->fairness) ||
        rp__jc_num(r, o, "bytes_per_op", &met->bytes_per_op) ||
        rp__jc_obj(r, o, "latency", true, &lat))
        return r->rc;
    if (met->fairness > 1) {
        m = rp__jc_enter(r, "fairness");
        rp__jc_bad(r, "must lie between 0 and 1 (got %g)", met->fairness);
        rp__jc_leave(r, m);
        return r->rc;
    }
    if (met->min > met->median || met->median > met->max) {
        m = rp__jc_enter(r, "median");
        rp__jc_bad(r, "must lie between min and max (%g is not in [%g, %g])", met->median, met->min,
                   met->max);
        rp__jc_leave(r, m);
        return r->rc;
    }
    if (check_summary(r, met, threshold))
        return r->rc;
    if (r->version < 2)
        rp_metric_summarise(met, threshold); /* fills in the interval */
    if (lat) {
        met->has_latency = true;
        m = rp__jc_enter(r, "latency");
        read_latency(r, lat, &met->latency);
        rp__jc_leave(r, m);
    }
    if (r->rc || rp__jc_str(r, o, "hist_scheme", &met->hist_scheme, RP__JC_NULLABLE) ||
        rp__jc_arr(r, o, "buckets", &buckets))
        return r->rc;
    if (met->hist_scheme && strcmp(met->hist_scheme, RP__HIST_SCHEME) != 0) {
        m = rp__jc_enter(r, "hist_scheme");
        rp__jc_bad(r,
                   "unsupported histogram scheme \"%s\" (this udbench reads " RP__HIST_SCHEME ")",
                   met->hist_scheme);
        rp__jc_leave(r, m);
        return r->rc;
    }
    m = rp__jc_enter(r, "buckets");
    if (!met->hist_scheme && json_array_size(buckets))
        rp__jc_bad(r, "must be empty when hist_scheme is null");
    else
        read_buckets(r, buckets, met);
    rp__jc_leave(r, m);
    return r->rc;
}

static int read_correctness(rp__jc *r, const json_t *o, rp_correctness *c) {
    static const char *const keys[] = {"expected", "observed", "lost_updates", "torn_reads", NULL};
    c->present = true;
    if (rp__jc_only_known(r, o, keys) || rp__jc_int(r, o, "expected", INT64_MIN, &c->expected) ||
        rp__jc_int(r, o, "observed", INT64_MIN, &c->observed) ||
        rp__jc_int(r, o, "lost_updates", INT64_MIN, &c->lost_updates) ||
        rp__jc_int(r, o, "torn_reads", 0, &c->torn_reads))
        return r->rc;
    return 0;
}

static int read_merit(rp__jc *r, const json_t *o, rp_cell *c) {
    static const char *const keys[] = {"metric", "figure",  "direction", "value",
                                       "ci_low", "ci_high", "ci_level",  NULL};
    rp_merit *mr = &c->merit;
    char *fig = NULL, *dir = NULL;
    double value, lo, hi, level;
    if (rp__jc_only_known(r, o, keys) || rp__jc_str(r, o, "metric", &mr->metric, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "figure", &fig, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "direction", &dir, RP__JC_REQUIRED) || rp__jc_num(r, o, "value", &value) ||
        rp__jc_num(r, o, "ci_low", &lo) || rp__jc_num(r, o, "ci_high", &hi) ||
        rp__jc_num(r, o, "ci_level", &level))
        goto out;
    const char *bad_key = NULL;
    if ((mr->figure = rp_figure_parse(fig)) < 0)
        bad_key = "figure";
    else if (strcmp(dir, "higher") == 0)
        mr->direction = RP_HIGHER_IS_BETTER;
    else if (strcmp(dir, "lower") == 0)
        mr->direction = RP_LOWER_IS_BETTER;
    else
        bad_key = "direction";
    if (bad_key) {
        size_t m = rp__jc_enter(r, bad_key);
        rp__jc_bad(r, "unknown %s \"%s\" (ops/s, p50 ns, bytes/s; higher, lower)", bad_key,
                   bad_key[0] == 'f' ? fig : dir);
        rp__jc_leave(r, m);
        goto out;
    }
    bool known = false;
    for (size_t i = 0; mr->metric && i < c->nmetrics; i++)
        known = known || strcmp(c->metrics[i].op, mr->metric) == 0;
    if (mr->metric && c->nmetrics && !known) {
        size_t m = rp__jc_enter(r, "metric");
        rp__jc_bad(r, "\"%s\" is not a metric of this cell", mr->metric);
        rp__jc_leave(r, m);
        goto out;
    }
    rp_cell_summarise_merit(c);
    const struct {
        const char *key;
        double got, want;
    } f[] = {{"value", value, mr->value},
             {"ci_low", lo, mr->ci_low},
             {"ci_high", hi, mr->ci_high},
             {"ci_level", level, mr->ci_level}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!agree(f[i].got, f[i].want)) {
            size_t m = rp__jc_enter(r, f[i].key);
            rp__jc_bad(r, "does not follow from the repetitions of the metric (%.15g, not %.15g)",
                       f[i].got, f[i].want);
            rp__jc_leave(r, m);
            break;
        }
    }
out:
    free(fig);
    free(dir);
    return r->rc;
}

static int read_params(rp__jc *r, const json_t *o, rp_cell *c) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o, key, val) {
        size_t m = rp__jc_enter(r, key);
        if (!*key)
            rp__jc_bad(r, "a parameter needs a name");
        else if (!json_is_string(val))
            rp__jc_bad(r, "expected a string (parameters are text, e.g. \"4\")");
        else if (rp_cell_add_param(c, key, json_string_value(val)))
            rp__jc_nomem(r);
        rp__jc_leave(r, m);
        if (r->rc)
            return r->rc;
    }
    return 0;
}

static int read_cell(rp__jc *r, const json_t *o, const rp_doc *d, rp_cell *c) {
    static const char *const keys[] = {"scenario", "backend", "backend_name", "params", "status",
                                       "reason",   "metrics", "correctness",  NULL};
    static const char *const keys2[] = {
        "scenario", "backend",     "backend_name", "params",           "status",        "reason",
        "metrics",  "correctness", "merit",        "harness_floor_ns", "value_copy_ns", NULL};
    const json_t *params, *status, *metrics, *corr;
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known(r, o, r->version >= 2 ? keys2 : keys) ||
        rp__jc_str(r, o, "scenario", &c->scenario, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "backend", &c->backend, RP__JC_REQUIRED))
        return r->rc;
    if (!rp__find_backend(d, c->backend)) {
        size_t m = rp__jc_enter(r, "backend");
        rp__jc_bad(r, "\"%s\" is not listed in backends", c->backend);
        rp__jc_leave(r, m);
        return r->rc;
    }
    if (rp__jc_str(r, o, "backend_name", &c->backend_name, RP__JC_REQUIRED) ||
        rp__jc_obj(r, o, "params", false, &params))
        return r->rc;
    size_t m = rp__jc_enter(r, "params");
    read_params(r, params, c);
    rp__jc_leave(r, m);
    if (r->rc || !(status = rp__jc_member(r, o, "status")))
        return r->rc;
    m = rp__jc_enter(r, "status");
    const char *s = json_string_value(status);
    if (!s)
        rp__jc_bad(r, "expected a string");
    else if (strcmp(s, "ok") == 0)
        c->status = RP_STATUS_OK;
    else if (strcmp(s, "n/a") == 0)
        c->status = RP_STATUS_NA;
    else if (strcmp(s, "error") == 0)
        c->status = RP_STATUS_ERROR;
    else
        rp__jc_bad(r, "expected \"ok\", \"n/a\" or \"error\", got \"%s\"", s);
    rp__jc_leave(r, m);
    if (r->rc)
        return r->rc;
    if (c->status != RP_STATUS_OK && json_is_null(json_object_get(o, "reason"))) {
        m = rp__jc_enter(r, "reason");
        rp__jc_bad(r, "must say why when status is \"%s\"", rp__status_name(c->status));
        rp__jc_leave(r, m);
        return r->rc;
    }
    if (rp__jc_str(r, o, "reason", &c->reason, c->status == RP_STATUS_OK ? RP__JC_NULLABLE : 0))
        return r->rc;
    if (c->status == RP_STATUS_OK && c->reason) {
        m = rp__jc_enter(r, "reason");
        rp__jc_bad(r, "must be null when status is \"ok\"");
        rp__jc_leave(r, m);
        return r->rc;
    }
    if (rp__jc_arr(r, o, "metrics", &metrics))
        return r->rc;
    m = rp__jc_enter(r, "metrics");
    if (c->status == RP_STATUS_OK && json_array_size(metrics) == 0)
        rp__jc_bad(r, "an ok cell needs at least one metric");
    for (size_t i = 0; !r->rc && i < json_array_size(metrics); i++) {
        size_t mi = rp__jc_enter_index(r, i);
        rp_metric *met = rp__array_push((void **)&c->metrics, &c->nmetrics, sizeof *met);
        if (!met)
            rp__jc_nomem(r);
        else if (!read_metric(r, json_array_get(metrics, i), met, c->status == RP_STATUS_OK,
                              d->run.noise_threshold)) {
            for (size_t j = 0; j + 1 < c->nmetrics; j++) {
                if (strcmp(c->metrics[j].op, met->op) == 0) {
                    size_t mo = rp__jc_enter(r, "op");
                    rp__jc_bad(r, "\"%s\" appears twice in this cell", met->op);
                    rp__jc_leave(r, mo);
                    break;
                }
            }
        }
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    if (r->rc || rp__jc_obj(r, o, "correctness", true, &corr))
        return r->rc;
    if (corr) {
        m = rp__jc_enter(r, "correctness");
        read_correctness(r, corr, &c->correctness);
        rp__jc_leave(r, m);
    }
    if (r->rc)
        return r->rc;
    if (r->version < 2) {
        /* udbench/1 ranked every metric by its ops/s: the first one stands for the cell. */
        c->merit.figure = RP_FIGURE_OPS;
        c->merit.direction = RP_HIGHER_IS_BETTER;
        if (c->nmetrics && rp_set_string(&c->merit.metric, c->metrics[0].op))
            return rp__jc_nomem(r);
        rp_cell_summarise_merit(c);
        return 0;
    }
    const json_t *mo;
    if (rp__jc_obj(r, o, "merit", false, &mo))
        return r->rc;
    m = rp__jc_enter(r, "merit");
    read_merit(r, mo, c);
    rp__jc_leave(r, m);
    if (r->rc)
        return r->rc;
    const char *const nullable[] = {"harness_floor_ns", "value_copy_ns"};
    double *dst[] = {&c->harness_floor_ns, &c->value_copy_ns};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = rp__jc_member(r, o, nullable[i]);
        if (!v)
            return r->rc;
        if (json_is_null(v))
            *dst[i] = -1;
        else if (rp__jc_num(r, o, nullable[i], dst[i]))
            return r->rc;
    }
    return r->rc;
}

static int read_root(rp__jc *r, const json_t *root, rp_doc *d) {
    static const char *const keys[] = {"schema", "run", "backends", "results", NULL};
    if (!json_is_object(root))
        return rp__jc_bad(r, "expected a JSON object at the top level");
    const json_t *schema = json_object_get(root, "schema");
    if (!schema)
        return rp__jc_bad(r, "no \"schema\" field: not a udbench results document");
    if (!json_is_string(schema)) {
        size_t m = rp__jc_enter(r, "schema");
        rp__jc_bad(r, "expected a string");
        rp__jc_leave(r, m);
        return r->rc;
    }
    if (strcmp(json_string_value(schema), RP_SCHEMA) == 0) {
        r->version = 2;
    } else if (strcmp(json_string_value(schema), RP_SCHEMA_V1) == 0) {
        r->version = 1;
    } else {
        /* Written without the path prefix: this is the message users meet most. */
        r->rc = RP_ESCHEMA;
        if (r->err && r->errlen)
            snprintf(r->err, r->errlen,
                     "unsupported schema \"%s\" (this udbench reads " RP_SCHEMA_V1 " and " RP_SCHEMA
                     ")",
                     json_string_value(schema));
        return r->rc;
    }
    d->schema_version = r->version;
    const json_t *run, *backends, *results;
    if (rp__jc_only_known(r, root, keys) || rp__jc_obj(r, root, "run", false, &run))
        return r->rc;
    size_t m = rp__jc_enter(r, "run");
    read_run(r, run, &d->run);
    rp__jc_leave(r, m);
    if (r->rc || rp__jc_arr(r, root, "backends", &backends))
        return r->rc;
    m = rp__jc_enter(r, "backends");
    for (size_t i = 0; !r->rc && i < json_array_size(backends); i++) {
        size_t mi = rp__jc_enter_index(r, i);
        rp_backend *b = rp_doc_add_backend(d);
        if (!b)
            rp__jc_nomem(r);
        else if (!read_backend(r, json_array_get(backends, i), b)) {
            for (size_t j = 0; j + 1 < d->nbackends; j++) {
                if (strcmp(d->backends[j].uri, b->uri) == 0) {
                    size_t mu = rp__jc_enter(r, "uri");
                    rp__jc_bad(r, "\"%s\" is listed twice", b->uri);
                    rp__jc_leave(r, mu);
                    break;
                }
            }
        }
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    if (r->rc || rp__jc_arr(r, root, "results", &results))
        return r->rc;
    m = rp__jc_enter(r, "results");
    for (size_t i = 0; !r->rc && i < json_array_size(results); i++) {
        size_t mi = rp__jc_enter_index(r, i);
        rp_cell *c = rp_doc_add_cell(d);
        if (!c)
            rp__jc_nomem(r);
        else
            read_cell(r, json_array_get(results, i), d, c);
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    return r->rc;
}

int rp__doc_from_json(const json_t *root, rp_doc **out, char *err, size_t errlen) {
    rp__jc r = {.err = err, .errlen = errlen};
    rp_doc *d = NULL;
    if (err && errlen)
        err[0] = '\0';
    int rc = rp_doc_new(&d);
    if (rc)
        return rc;
    rc = read_root(&r, root, d);
    if (rc) {
        rp_doc_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int rp_doc_read(const char *path, rp_doc **out, char *err, size_t errlen) {
    if (err && errlen)
        err[0] = '\0';
    if (!path || !out)
        return RP_EINVAL;
    FILE *f = fopen(path, "re");
    if (!f) {
        int rc = -errno;
        if (err && errlen)
            snprintf(err, errlen, "cannot open: %s", strerror(-rc));
        return rc;
    }
    json_error_t jerr;
    /* Duplicate keys are refused: a document saying two things about one field is not
     * understood. */
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    /* An error at the very end of a non-empty file almost always means a file cut short (a
     * partial copy or download; rp_doc_write() itself never leaves one): say so. */
    bool at_end = !root && fseek(f, 0, SEEK_END) == 0 && ftell(f) > 0 && jerr.position >= ftell(f);
    fclose(f);
    if (!root) {
        if (err && errlen)
            snprintf(err, errlen, "not valid JSON: line %d, column %d: %s%s", jerr.line,
                     jerr.column, jerr.text, at_end ? " (the file ends early: truncated?)" : "");
        return RP_EPARSE;
    }
    int rc = rp__doc_from_json(root, out, err, errlen);
    json_decref(root);
    return rc;
}
