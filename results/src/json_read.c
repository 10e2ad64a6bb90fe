/*
 * json_read.c - reading and validating a results document.
 *
 * The reader trusts nothing: every field must be present with its type and a possible value,
 * and the first one that is not is named by its path ("results[3].metrics[0].latency.p99:
 * expected a number"), so that whoever produced the document can fix it. Fields whose names
 * start with "x_" are the one documented extension point; they are skipped (and not kept).
 * This file reads the document, its run, backends and cells; json_read_metric.c reads the
 * metrics of a cell, json_check.c holds the typed getters.
 */
#include <errno.h>
#include <limits.h>
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
            rp__jc_nonneg(r, v, &out[i]);
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
        return rp__jc_bad_at(r, "cores", "too large (%lld)", (long long)cores);
    }
    mc->cores = (int)cores;
    return 0;
}

/* The array of strings `a` (the member `key`) into a new array *out of *n copies. */
static int read_strings(rp__jc *r, const json_t *a, const char *key, char ***out, size_t *n) {
    size_t len = json_array_size(a);
    if (len && !(*out = calloc(len, sizeof **out)))
        return rp__jc_nomem(r);
    size_t m = rp__jc_enter(r, key);
    for (size_t i = 0; i < len && !r->rc; i++) {
        const json_t *v = json_array_get(a, i);
        size_t mi = rp__jc_enter_index(r, i);
        if (!json_is_string(v))
            rp__jc_bad(r, "expected a string");
        else if (!((*out)[i] = strdup(json_string_value(v))))
            rp__jc_nomem(r);
        else
            (*n)++;
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    return r->rc;
}

static int read_run(rp__jc *r, const json_t *o, rp_run *run) {
    static const char *const keys[] = {
        "started", "finished", "tool_version",      "git_commit",      "build_type", "suite",
        "argv",    "seed",     "timer_overhead_ns", "noise_threshold", "machine", /* v1 */
        "rounds",  "pinned",                                                      /* v2 */
        "hosts",   "lockstep", "probe_slow_ratio",                                /* v3 */
        NULL};
    static const size_t upto[3] = {11, 13, 16};
    const json_t *argv, *machine;
    if (rp__jc_only_known_v(r, o, keys, upto) ||
        rp__jc_str(r, o, "started", &run->started, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "finished", &run->finished, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "tool_version", &run->tool_version, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "git_commit", &run->git_commit, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "build_type", &run->build_type, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "suite", &run->suite, RP__JC_NULLABLE) || rp__jc_arr(r, o, "argv", &argv))
        return r->rc;
    if (read_strings(r, argv, "argv", &run->argv, &run->argc))
        return r->rc;
    if (rp__jc_uint(r, o, "seed", &run->seed) ||
        rp__jc_num(r, o, "timer_overhead_ns", &run->timer_overhead_ns) ||
        rp__jc_num(r, o, "noise_threshold", &run->noise_threshold) ||
        rp__jc_obj(r, o, "machine", false, &machine))
        return r->rc;
    if (r->version >= 2) {
        int64_t rounds = 0;
        if (rp__jc_int(r, o, "rounds", 0, &rounds) || rp__jc_bool(r, o, "pinned", &run->pinned))
            return r->rc;
        if (rounds > RP_MAX_REPS)
            return rp__jc_bad_at(r, "rounds", "%lld rounds; udbench writes at most %d (--repeat)",
                                 (long long)rounds, RP_MAX_REPS);
        run->rounds = (int)rounds;
    }
    const json_t *hosts;
    if (r->version >= 3 && rp__jc_has(o, "hosts") &&
        (rp__jc_arr(r, o, "hosts", &hosts) ||
         read_strings(r, hosts, "hosts", &run->hosts, &run->nhosts)))
        return r->rc;
    if (r->version >= 3 && rp__jc_has(o, "lockstep") &&
        rp__jc_bool(r, o, "lockstep", &run->lockstep))
        return r->rc;
    run->probe_slow_ratio = RP_PROBE_SLOW_RATIO_COLD;
    if (r->version >= 3 && rp__jc_has(o, "probe_slow_ratio") &&
        rp__jc_num(r, o, "probe_slow_ratio", &run->probe_slow_ratio))
        return r->rc;
    if (!(run->probe_slow_ratio > 0))
        return rp__jc_bad_at(r, "probe_slow_ratio", "must be positive");
    r->slow_ratio = run->probe_slow_ratio;
    size_t m = rp__jc_enter(r, "machine");
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
    static const char *const keys[] = {"metric",  "figure",   "direction", "value", "ci_low",
                                       "ci_high", "ci_level", "paired",    NULL};
    rp_merit *mr = &c->merit;
    char *fig = NULL, *dir = NULL;
    double value, lo, hi, level, paired[4] = {0};
    static const size_t upto[3] = {7, 7, 8}; /* "paired" is udbench/3's */
    if (rp__jc_only_known_v(r, o, keys, upto) ||
        rp__jc_str(r, o, "metric", &mr->metric, RP__JC_NULLABLE) ||
        rp__jc_str(r, o, "figure", &fig, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "direction", &dir, RP__JC_REQUIRED) || rp__jc_num(r, o, "value", &value) ||
        rp__jc_num(r, o, "ci_low", &lo) || rp__jc_num(r, o, "ci_high", &hi) ||
        rp__jc_num(r, o, "ci_level", &level) ||
        (r->version >= 3 && rp__read_paired(r, o, mr, paired)))
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
        if (!rp__agree(f[i].got, f[i].want)) {
            size_t m = rp__jc_enter(r, f[i].key);
            rp__jc_bad(r, "does not follow from the repetitions of the metric (%.15g, not %.15g)",
                       f[i].got, f[i].want);
            rp__jc_leave(r, m);
            break;
        }
    }
    if (!r->rc)
        rp__check_paired(r, mr, paired);
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

/* "ok", "n/a" or "error", and a reason exactly when it is not "ok". */
static int read_status(rp__jc *r, const json_t *o, rp_cell *c) {
    const json_t *status = rp__jc_member(r, o, "status");
    if (!status)
        return r->rc;
    const char *s = json_string_value(status);
    if (!s)
        return rp__jc_bad_at(r, "status", "expected a string");
    if (strcmp(s, "ok") == 0)
        c->status = RP_STATUS_OK;
    else if (strcmp(s, "n/a") == 0)
        c->status = RP_STATUS_NA;
    else if (strcmp(s, "error") == 0)
        c->status = RP_STATUS_ERROR;
    else
        return rp__jc_bad_at(r, "status", "expected \"ok\", \"n/a\" or \"error\", got \"%s\"", s);
    if (c->status != RP_STATUS_OK && json_is_null(json_object_get(o, "reason")))
        return rp__jc_bad_at(r, "reason", "must say why when status is \"%s\"",
                             rp__status_name(c->status));
    if (rp__jc_str(r, o, "reason", &c->reason, c->status == RP_STATUS_OK ? RP__JC_NULLABLE : 0))
        return r->rc;
    if (c->status == RP_STATUS_OK && c->reason)
        return rp__jc_bad_at(r, "reason", "must be null when status is \"ok\"");
    return 0;
}

/* What a cell's metrics are read against. */
struct cell_ctx {
    rp_cell *c;
    double threshold;
};

/* One element of "metrics": read, and refused if its op is already a metric of the cell. */
static int add_metric(rp__jc *r, const json_t *v, void *ctx) {
    struct cell_ctx *cc = ctx;
    rp_cell *c = cc->c;
    rp_metric *met = rp__array_push((void **)&c->metrics, &c->nmetrics, sizeof *met);
    if (!met)
        return rp__jc_nomem(r);
    if (rp__read_metric(r, v, met, c->status == RP_STATUS_OK, cc->threshold))
        return r->rc;
    for (size_t j = 0; j + 1 < c->nmetrics; j++)
        if (strcmp(c->metrics[j].op, met->op) == 0)
            return rp__jc_bad_at(r, "op", "\"%s\" appears twice in this cell", met->op);
    return 0;
}

static int read_metrics(rp__jc *r, const json_t *o, const rp_doc *d, rp_cell *c) {
    const json_t *metrics;
    if (rp__jc_arr(r, o, "metrics", &metrics))
        return r->rc;
    if (c->status == RP_STATUS_OK && json_array_size(metrics) == 0)
        return rp__jc_bad_at(r, "metrics", "an ok cell needs at least one metric");
    if (json_array_size(metrics) > RP_MAX_METRICS)
        return rp__jc_bad_at(r, "metrics", "%zu metrics; a cell has at most %d",
                             json_array_size(metrics), RP_MAX_METRICS);
    struct cell_ctx cc = {c, d->run.noise_threshold};
    return rp__jc_each(r, "metrics", metrics, add_metric, &cc);
}

/* "backend_desc" (newer udbench/3 documents; optional): the backend's role, identity and
 * whether it was a stand-in. Without it the cell's role stays RP_ROLE_UNKNOWN. */
static int read_backend_desc(rp__jc *r, const json_t *o, rp_cell *c) {
    const json_t *bd = json_object_get(o, "backend_desc");
    if (!bd)
        return 0;
    static const char *const keys[] = {"role", "id", "stand_in", NULL};
    size_t m = rp__jc_enter(r, "backend_desc");
    char *role = NULL;
    if (!json_is_object(bd))
        rp__jc_bad(r, "expected an object");
    else if (!rp__jc_only_known(r, bd, keys) && !rp__jc_str(r, bd, "role", &role, 0) &&
             !rp__jc_str(r, bd, "id", &c->backend_id, 0) &&
             !rp__jc_bool(r, bd, "stand_in", &c->stand_in) &&
             (c->backend_role = rp__role_parse(role)) == RP_ROLE_UNKNOWN)
        rp__jc_bad_at(r, "role", "expected \"store\", \"baseline\" or \"floor\", got \"%s\"", role);
    free(role);
    rp__jc_leave(r, m);
    return r->rc;
}

/* What udbench/2 added to a cell: its merit and two harness figures (null when unmeasured). */
static int read_cell_v2(rp__jc *r, const json_t *o, rp_cell *c) {
    const json_t *mo;
    if (rp__jc_obj(r, o, "merit", false, &mo))
        return r->rc;
    size_t m = rp__jc_enter(r, "merit");
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

/* udbench/1 ranked every metric by its ops/s: the first one stands for the cell. */
static int merit_v1(rp__jc *r, rp_cell *c) {
    c->merit.figure = RP_FIGURE_OPS;
    c->merit.direction = RP_HIGHER_IS_BETTER;
    if (c->nmetrics && rp_set_string(&c->merit.metric, c->metrics[0].op))
        return rp__jc_nomem(r);
    rp_cell_summarise_merit(c);
    return 0;
}

static int read_cell(rp__jc *r, const json_t *o, const rp_doc *d, rp_cell *c) {
    static const char *const keys[] = {"scenario", "backend",          "backend_name",
                                       "params",   "status",           "reason",
                                       "metrics",  "correctness",                       /* v1 */
                                       "merit",    "harness_floor_ns", "value_copy_ns", /* v2 */
                                       "failover", "backend_desc",                      /* v3 */
                                       NULL};
    static const size_t upto[3] = {8, 11, 13};
    const json_t *params, *corr;
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known_v(r, o, keys, upto) ||
        rp__jc_str(r, o, "scenario", &c->scenario, RP__JC_REQUIRED) ||
        rp__jc_str(r, o, "backend", &c->backend, RP__JC_REQUIRED))
        return r->rc;
    if (!rp__find_backend(d, c->backend))
        return rp__jc_bad_at(r, "backend", "\"%s\" is not listed in backends", c->backend);
    if (rp__jc_str(r, o, "backend_name", &c->backend_name, RP__JC_REQUIRED) ||
        rp__jc_obj(r, o, "params", false, &params))
        return r->rc;
    if (json_object_size(params) > RP_MAX_PARAMS)
        return rp__jc_bad_at(r, "params", "%zu parameters; a cell has at most %d",
                             json_object_size(params), RP_MAX_PARAMS);
    size_t m = rp__jc_enter(r, "params");
    read_params(r, params, c);
    rp__jc_leave(r, m);
    if (r->rc || read_status(r, o, c) || read_metrics(r, o, d, c) ||
        rp__jc_obj(r, o, "correctness", true, &corr))
        return r->rc;
    if (corr) {
        m = rp__jc_enter(r, "correctness");
        read_correctness(r, corr, &c->correctness);
        rp__jc_leave(r, m);
    }
    /* The failover figures come before the merit, which may be taken from them. */
    if (r->rc || (r->version >= 3 && (rp__read_failover(r, o, c) || read_backend_desc(r, o, c))))
        return r->rc;
    return r->version < 2 ? merit_v1(r, c) : read_cell_v2(r, o, c);
}

/* The schema names the version the rest is read as: udbench/3, /2 or /1. */
static int read_schema(rp__jc *r, const json_t *root) {
    if (!json_is_object(root))
        return rp__jc_bad(r, "expected a JSON object at the top level");
    const json_t *schema = json_object_get(root, "schema");
    if (!schema)
        return rp__jc_bad(r, "no \"schema\" field: not a udbench results document");
    if (!json_is_string(schema))
        return rp__jc_bad_at(r, "schema", "expected a string");
    if (strcmp(json_string_value(schema), RP_SCHEMA) == 0) {
        r->version = 3;
    } else if (strcmp(json_string_value(schema), RP_SCHEMA_V2) == 0) {
        r->version = 2;
    } else if (strcmp(json_string_value(schema), RP_SCHEMA_V1) == 0) {
        r->version = 1;
    } else {
        /* Written without the path prefix: this is the message users meet most. */
        r->rc = RP_ESCHEMA;
        if (r->err && r->errlen)
            snprintf(r->err, r->errlen,
                     "unsupported schema \"%s\" (this udbench reads " RP_SCHEMA_V1 ", " RP_SCHEMA_V2
                     " and " RP_SCHEMA ")",
                     json_string_value(schema));
    }
    return r->rc;
}

/* One element of "backends": read, and refused if its URI is already listed. */
static int add_backend(rp__jc *r, const json_t *v, void *ctx) {
    rp_doc *d = ctx;
    rp_backend *b = rp_doc_add_backend(d);
    if (!b)
        return rp__jc_nomem(r);
    if (read_backend(r, v, b))
        return r->rc;
    for (size_t j = 0; j + 1 < d->nbackends; j++)
        if (strcmp(d->backends[j].uri, b->uri) == 0)
            return rp__jc_bad_at(r, "uri", "\"%s\" is listed twice", b->uri);
    return 0;
}

static int add_cell(rp__jc *r, const json_t *v, void *ctx) {
    rp_doc *d = ctx;
    rp_cell *c = rp_doc_add_cell(d);
    return c ? read_cell(r, v, d, c) : rp__jc_nomem(r);
}

static int read_root(rp__jc *r, const json_t *root, rp_doc *d) {
    static const char *const keys[] = {"schema", "run", "backends", "results", NULL};
    const json_t *run, *backends, *results;
    if (read_schema(r, root))
        return r->rc;
    d->schema_version = r->version;
    if (rp__jc_only_known(r, root, keys) || rp__jc_obj(r, root, "run", false, &run))
        return r->rc;
    size_t m = rp__jc_enter(r, "run");
    read_run(r, run, &d->run);
    rp__jc_leave(r, m);
    if (r->rc || rp__jc_arr(r, root, "backends", &backends))
        return r->rc;
    if (json_array_size(backends) > RP_MAX_BACKENDS)
        return rp__jc_bad_at(r, "backends", "%zu backends; a run has at most %d",
                             json_array_size(backends), RP_MAX_BACKENDS);
    if (rp__jc_each(r, "backends", backends, add_backend, d) ||
        rp__jc_arr(r, root, "results", &results))
        return r->rc;
    return rp__jc_each(r, "results", results, add_cell, d);
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

static int doc_read(const char *path, rp_doc **out, char *err, size_t errlen) {
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

/* Messages quote the document (a field name, a value, the token the parser stopped at) and go
 * to a terminal: they are made safe to print (rp_fputs_safe()) before anyone sees them. */
int rp_doc_read(const char *path, rp_doc **out, char *err, size_t errlen) {
    int rc = doc_read(path, out, err, errlen);
    if (rc && err && errlen)
        rp__safe_inplace(err, errlen);
    return rc;
}
