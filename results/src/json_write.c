/*
 * json_write.c - the document as a JSON tree (schema "udbench/3"); json_text.c makes its
 * canonical text and writes it to a file.
 *
 * The canonical text is jansson's, indented by two, with numbers printed to 15 significant
 * digits, and with arrays of plain numbers (histogram buckets, load averages) kept on one line
 * so that a histogram costs a line per bucket rather than four. Fifteen digits is what a double
 * carries exactly through decimal (DBL_DIG), so reading a written document and writing it
 * again gives the same bytes; it also spares readers "0.10000000000000001".
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A tree under construction: the first failure is kept and every later step is skipped. */
typedef struct wctx {
    int rc;
} wctx;

static void fail(wctx *w, int rc) {
    if (!w->rc)
        w->rc = rc;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * A JSON string for s, or null for NULL. Text that is not UTF-8 (a command line or a CPU name
 * can hold any bytes) has each invalid byte replaced by U+FFFD: JSON cannot carry raw bytes,
 * and dropping a whole run over one bad byte would be worse.
 */
static json_t *jstr(wctx *w, const char *s) {
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *clean = malloc(n * 3 + 1);
    if (!clean) {
        fail(w, -ENOMEM);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len) {
            memcpy(clean + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    clean[o] = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

/* jansson's integers are signed 64-bit: larger unsigned values cannot be written exactly. */
static json_t *juint(wctx *w, uint64_t v) {
    if (v > (uint64_t)INT64_MAX) {
        fail(w, RP_EINVAL);
        return NULL;
    }
    return json_integer((json_int_t)v);
}

static json_t *jreal(wctx *w, double v) {
    if (!isfinite(v)) {
        fail(w, RP_EINVAL);
        return NULL;
    }
    return json_real(v);
}

/* Sets obj[key] = val, taking the reference; a NULL val is a failure already recorded or ENOMEM. */
static void put(wctx *w, json_t *obj, const char *key, json_t *val) {
    if (!val) {
        fail(w, -ENOMEM);
        return;
    }
    if (json_object_set_new(obj, key, val))
        fail(w, -ENOMEM);
}

static void push(wctx *w, json_t *arr, json_t *val) {
    if (!val) {
        fail(w, -ENOMEM);
        return;
    }
    if (json_array_append_new(arr, val))
        fail(w, -ENOMEM);
}

/* A plain field of a struct, written as obj[key]: the kind of C value at offset off ('s' char *,
 * 'r' double, 'u' uint64_t, 'i' int, 'l' int64_t, 'b' bool). One table per block keeps the
 * keys in the document's order and each block's writer to its special cases. */
typedef struct wfield {
    const char *key;
    char kind;
    size_t off;
} wfield;

#define WF(kind, type, field)                                                                      \
    { #field, kind, offsetof(type, field) }
#define WFK(key, kind, type, field)                                                                \
    { key, kind, offsetof(type, field) }
#define NFIELDS(table) (sizeof(table) / sizeof(table)[0])

static json_t *field_json(wctx *w, const char *p, const wfield *f) {
    const void *v = p + f->off;
    return f->kind == 's'   ? jstr(w, *(char *const *)v)
           : f->kind == 'r' ? jreal(w, *(const double *)v)
           : f->kind == 'u' ? juint(w, *(const uint64_t *)v)
           : f->kind == 'i' ? json_integer(*(const int *)v)
           : f->kind == 'l' ? json_integer(*(const int64_t *)v)
                            : json_boolean(*(const bool *)v);
}

/* Writes the n fields of table f of the struct at base into o, in the table's order. */
static void put_fields(wctx *w, json_t *o, const void *base, const wfield *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        put(w, o, f[i].key, field_json(w, base, &f[i]));
}

static json_t *loads(wctx *w, const double v[3]) {
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (int i = 0; i < 3; i++)
        push(w, a, jreal(w, v[i]));
    return a;
}

static json_t *run_json(wctx *w, const rp_run *r) {
    json_t *o = json_object(), *argv = NULL, *m = NULL;
    if (!o)
        return NULL;
    static const wfield head[] = {WF('s', rp_run, started),      WF('s', rp_run, finished),
                                  WF('s', rp_run, tool_version), WF('s', rp_run, git_commit),
                                  WF('s', rp_run, build_type),   WF('s', rp_run, suite)};
    static const wfield mid[] = {WF('u', rp_run, seed), WF('r', rp_run, timer_overhead_ns),
                                 WF('r', rp_run, noise_threshold), WF('i', rp_run, rounds),
                                 WF('b', rp_run, pinned)};
    static const wfield machine[] = {WF('s', rp_machine, cpu), WF('i', rp_machine, cores),
                                     WF('s', rp_machine, kernel), WF('u', rp_machine, memory_bytes),
                                     WF('s', rp_machine, compiler)};
    put_fields(w, o, r, head, NFIELDS(head));
    put(w, o, "argv", argv = json_array());
    for (size_t i = 0; argv && i < r->argc; i++)
        push(w, argv, r->argv[i] ? jstr(w, r->argv[i]) : json_string(""));
    put_fields(w, o, r, mid, NFIELDS(mid));
    json_t *hosts = json_array();
    put(w, o, "hosts", hosts);
    for (size_t i = 0; hosts && i < r->nhosts; i++)
        push(w, hosts, r->hosts[i] ? jstr(w, r->hosts[i]) : json_string(""));
    put(w, o, "lockstep", json_boolean(r->lockstep));
    /* Absent means the first probe's threshold (RP_PROBE_SLOW_RATIO_COLD): a document read
     * without it is written back without it. */
    double slow = r->probe_slow_ratio > 0 ? r->probe_slow_ratio : RP_PROBE_SLOW_RATIO;
    if (slow != RP_PROBE_SLOW_RATIO_COLD)
        put(w, o, "probe_slow_ratio", jreal(w, slow));
    put(w, o, "machine", m = json_object());
    if (m) {
        put_fields(w, m, &r->machine, machine, NFIELDS(machine));
        put(w, m, "load_before", loads(w, r->machine.load_before));
        put(w, m, "load_after", loads(w, r->machine.load_after));
    }
    return o;
}

/* An object of the n fields of table f of the struct at base; NULL (recorded) on ENOMEM. */
static json_t *fields_json(wctx *w, const void *base, const wfield *f, size_t n) {
    json_t *o = json_object();
    if (o)
        put_fields(w, o, base, f, n);
    return o;
}

static json_t *backend_json(wctx *w, const rp_backend *b) {
    static const wfield f[] = {WF('s', rp_backend, uri),           WF('s', rp_backend, name),
                               WF('s', rp_backend, version),       WF('s', rp_backend, caps),
                               WF('b', rp_backend, local_runtime), WF('b', rp_backend, reachable),
                               WF('s', rp_backend, error)};
    return fields_json(w, b, f, NFIELDS(f));
}

static json_t *latency_json(wctx *w, const rp_latency *l) {
    static const wfield f[] = {WF('u', rp_latency, count), WF('r', rp_latency, mean),
                               WF('r', rp_latency, p50),   WF('r', rp_latency, p90),
                               WF('r', rp_latency, p99),   WF('r', rp_latency, p999),
                               WF('r', rp_latency, max)};
    return fields_json(w, l, f, NFIELDS(f));
}

/* One probe's figures, or null when it was not measured. */
static json_t *probe_json(wctx *w, const rp_probe *p) {
    static const wfield f[] = {WF('r', rp_probe, llc_ns), WF('r', rp_probe, l2_ns),
                               WF('r', rp_probe, compute_ns)};
    if (rp_probe_regime(p) == RP_REGIME_NONE)
        return json_null();
    return fields_json(w, p, f, NFIELDS(f));
}

/* The udbench/3 fields of a repetition: its probes, their regime, its paired ratio. */
static void rep_v3_json(wctx *w, json_t *ro, const rp_rep *r) {
    const char *regime = rp_regime_name(rp_rep_regime(r));
    put(w, ro, "probe_before", probe_json(w, &r->probe_before));
    put(w, ro, "probe_after", probe_json(w, &r->probe_after));
    put(w, ro, "regime", regime ? json_string(regime) : json_null());
    put(w, ro, "ratio", r->ratio > 0 ? jreal(w, r->ratio) : json_null());
}

static json_t *metric_json(wctx *w, const rp_metric *m) {
    static const wfield rep[] = {WF('u', rp_rep, ops),         WF('r', rp_rep, seconds),
                                 WF('r', rp_rep, ops_per_sec), WF('u', rp_rep, errors),
                                 WF('r', rp_rep, p50_ns),      WF('i', rp_rep, round),
                                 WF('i', rp_rep, position),    WF('r', rp_rep, steal_share),
                                 WF('u', rp_rep, nivcsw),      WF('r', rp_rep, load1)};
    static const wfield summary[] = {
        WF('r', rp_metric, median),      WF('r', rp_metric, min),      WF('r', rp_metric, max),
        WF('r', rp_metric, spread),      WF('b', rp_metric, noisy),    WF('r', rp_metric, ci_low),
        WF('r', rp_metric, ci_high),     WF('r', rp_metric, ci_level), WF('r', rp_metric, fairness),
        WF('r', rp_metric, bytes_per_op)};
    json_t *o = json_object(), *reps = NULL, *buckets = NULL;
    if (!o)
        return NULL;
    put(w, o, "op", jstr(w, m->op));
    put(w, o, "reps", reps = json_array());
    for (size_t i = 0; reps && i < m->nreps; i++) {
        const rp_rep *r = &m->reps[i];
        json_t *ro = json_object();
        push(w, reps, ro);
        if (!ro)
            break;
        put_fields(w, ro, r, rep, NFIELDS(rep));
        rep_v3_json(w, ro, r);
    }
    put_fields(w, o, m, summary, NFIELDS(summary));
    put(w, o, "latency", m->has_latency ? latency_json(w, &m->latency) : json_null());
    put(w, o, "hist_scheme", jstr(w, m->hist_scheme));
    put(w, o, "buckets", buckets = json_array());
    for (size_t i = 0; buckets && i < m->nbuckets; i++) {
        json_t *pair = json_array();
        push(w, buckets, pair);
        if (!pair)
            break;
        push(w, pair, json_integer(m->buckets[i].index));
        push(w, pair, juint(w, m->buckets[i].count));
    }
    return o;
}

static json_t *correctness_json(wctx *w, const rp_correctness *c) {
    static const wfield f[] = {WF('l', rp_correctness, expected), WF('l', rp_correctness, observed),
                               WF('l', rp_correctness, lost_updates),
                               WF('l', rp_correctness, torn_reads)};
    return c->present ? fields_json(w, c, f, NFIELDS(f)) : json_null();
}

/* udbench/3: the failover figures of a cell, or null for a cell of another scenario. */
static json_t *failover_json(wctx *w, const rp_failover *f) {
    static const wfield counts[] = {WF('u', rp_failover_rep, acked_writes),
                                    WF('u', rp_failover_rep, lost_writes),
                                    WF('u', rp_failover_rep, lost_before_kill),
                                    WF('r', rp_failover_rep, lost_share),
                                    WF('u', rp_failover_rep, keys),
                                    WF('u', rp_failover_rep, missing_keys),
                                    WF('u', rp_failover_rep, older_keys)};
    json_t *o = f->nreps ? json_object() : json_null(), *reps = NULL;
    if (!o || !f->nreps)
        return o;
    put(w, o, "reps", reps = json_array());
    for (size_t i = 0; reps && i < f->nreps; i++) {
        const rp_failover_rep *r = &f->reps[i];
        json_t *x = json_object(), *win = NULL, *errs = NULL;
        push(w, reps, x);
        if (!x)
            break;
        put(w, x, "victim", jstr(w, r->victim));
        put(w, x, "kill_s", jreal(w, r->kill_s));
        put(w, x, "restart_s", r->restart_s >= 0 ? jreal(w, r->restart_s) : json_null());
        put(w, x, "window_s", jreal(w, r->window_s));
        put(w, x, "recovered", json_boolean(r->recovered));
        put(w, x, "worker_window_s", win = json_array());
        for (size_t j = 0; win && j < r->nworkers; j++)
            push(w, win, jreal(w, r->worker_window_s[j]));
        put_fields(w, x, r, counts, NFIELDS(counts));
        put(w, x, "errors", errs = json_object());
        for (size_t j = 0; errs && j < r->nerrors; j++)
            put(w, errs, r->errors[j].kind ? r->errors[j].kind : "", juint(w, r->errors[j].count));
    }
    return o;
}

/* A cell's figure of merit (its "merit" member). */
static json_t *merit_json(wctx *w, const rp_merit *m) {
    static const wfield interval[] = {WF('r', rp_merit, value), WF('r', rp_merit, ci_low),
                                      WF('r', rp_merit, ci_high), WF('r', rp_merit, ci_level)};
    static const wfield paired[] = {WF('s', rp_merit, reference), WF('r', rp_merit, ratio),
                                    WFK("ci_low", 'r', rp_merit, ratio_low),
                                    WFK("ci_high", 'r', rp_merit, ratio_high),
                                    WFK("ci_level", 'r', rp_merit, ratio_level)};
    json_t *mo = json_object();
    if (!mo)
        return NULL;
    const char *fig = rp_figure_name(m->figure), *dir = rp_direction_name(m->direction);
    if (!fig || !dir)
        fail(w, RP_EINVAL);
    put(w, mo, "metric", jstr(w, m->metric));
    put(w, mo, "figure", fig ? json_string(fig) : json_null());
    put(w, mo, "direction", dir ? json_string(dir) : json_null());
    put_fields(w, mo, m, interval, NFIELDS(interval));
    put(w, mo, "paired", m->reference ? fields_json(w, m, paired, NFIELDS(paired)) : json_null());
    return mo;
}

/* What the backend said about itself; written only when the cell was told (role known). */
static json_t *backend_desc_json(wctx *w, const rp_cell *c) {
    json_t *bd = json_object();
    const char *role = rp_role_name(c->backend_role);
    if (!role || !c->backend_id)
        fail(w, RP_EINVAL);
    if (bd) {
        put(w, bd, "role", role ? json_string(role) : json_null());
        put(w, bd, "id", jstr(w, c->backend_id));
        put(w, bd, "stand_in", json_boolean(c->stand_in));
    }
    return bd;
}

static json_t *cell_json(wctx *w, const rp_cell *c) {
    json_t *o = json_object(), *params = NULL, *metrics = NULL;
    if (!o)
        return NULL;
    put(w, o, "scenario", jstr(w, c->scenario));
    put(w, o, "backend", jstr(w, c->backend));
    put(w, o, "backend_name", jstr(w, c->backend_name));
    put(w, o, "params", params = json_object());
    for (size_t i = 0; params && i < c->nparams; i++) {
        /* A NULL key cannot be stored; the reader would refuse the document anyway. */
        if (!c->params[i].key) {
            fail(w, RP_EINVAL);
            break;
        }
        put(w, params, c->params[i].key, jstr(w, c->params[i].value));
    }
    const char *status = rp__status_name(c->status);
    if (!status)
        fail(w, RP_EINVAL);
    put(w, o, "status", status ? json_string(status) : json_null());
    put(w, o, "reason", jstr(w, c->reason));
    put(w, o, "metrics", metrics = json_array());
    for (size_t i = 0; metrics && i < c->nmetrics; i++)
        push(w, metrics, metric_json(w, &c->metrics[i]));
    put(w, o, "correctness", correctness_json(w, &c->correctness));
    put(w, o, "merit", merit_json(w, &c->merit));
    put(w, o, "harness_floor_ns",
        c->harness_floor_ns >= 0 ? jreal(w, c->harness_floor_ns) : json_null());
    put(w, o, "value_copy_ns", c->value_copy_ns >= 0 ? jreal(w, c->value_copy_ns) : json_null());
    put(w, o, "failover", failover_json(w, &c->failover));
    if (c->backend_role != RP_ROLE_UNKNOWN)
        put(w, o, "backend_desc", backend_desc_json(w, c));
    return o;
}

int rp__doc_to_json(const rp_doc *d, json_t **out) {
    if (!d || !out)
        return RP_EINVAL;
    wctx w = {0};
    json_t *root = json_object(), *backends = NULL, *results = NULL;
    if (!root)
        return -ENOMEM;
    put(&w, root, "schema", json_string(RP_SCHEMA));
    put(&w, root, "run", run_json(&w, &d->run));
    put(&w, root, "backends", backends = json_array());
    for (size_t i = 0; backends && i < d->nbackends; i++)
        push(&w, backends, backend_json(&w, &d->backends[i]));
    put(&w, root, "results", results = json_array());
    for (size_t i = 0; results && i < d->ncells; i++)
        push(&w, results, cell_json(&w, &d->cells[i]));
    if (w.rc) {
        json_decref(root);
        return w.rc;
    }
    *out = root;
    return 0;
}
