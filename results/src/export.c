/*
 * export.c - results and compare documents in the formats other CI tools read:
 * github-action-benchmark's custom tools ([{name, unit, value, range, extra}]), Bencher's
 * Metric Format ({benchmark: {measure: {value, lower_value, upper_value}}}, with its built-in
 * measures "throughput" in operations/second and "latency" in nanoseconds), Google Benchmark's
 * JSON (context + benchmarks, one entry per repetition, which its compare.py reads), and JUnit
 * XML (one test case per gated metric, a failure per regression).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rp_compare.h"
#include "rp_stats.h"

int rp_export_parse(const char *name) {
    static const char *const names[] = {"gab-bigger", "gab-smaller", "bmf", "gbench", "junit"};
    for (int i = 0; i < 5; i++)
        if (name && !strcmp(name, names[i]))
            return i;
    return RP_EFORMAT;
}

static int dump_json(json_t *root, FILE *f) {
    if (!root)
        return -ENOMEM;
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    return rc || fputc('\n', f) == EOF ? -EIO : 0;
}

static void xml_escaped(FILE *f, const char *s) {
    rp__xml_text(f, s, 0);
}

/* The start of a test case, up to its name's closing quote: both escaped for XML. */
static void junit_case(FILE *f, const char *scenario, const char *name) {
    fputs("    <testcase classname=\"udbench.", f);
    xml_escaped(f, scenario);
    fputs("\" name=\"", f);
    xml_escaped(f, name);
}

static void junit_open(FILE *f, const char *suite, size_t tests, size_t failures, size_t skipped,
                       double seconds) {
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
            "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" "
            "time=\"%.1f\">\n",
            suite, tests, failures, skipped, seconds);
}

/* Ends the XML document and drops the JSON root that the XML path never filled. */
static int junit_close(FILE *f, json_t *unused) {
    json_decref(unused);
    fprintf(f, "  </testsuite>\n</testsuites>\n");
    return ferror(f) ? -EIO : 0;
}

/* ---- results documents ---- */

/* The "procs" parameter of a cell as Google Benchmark's thread count: 1 when absent or not a
 * positive number. */
static int threads_of(const char *procs) {
    if (!procs)
        return 1;
    char *end = NULL;
    errno = 0;
    long v = strtol(procs, &end, 10);
    return errno || end == procs || *end || v < 1 || v > INT32_MAX ? 1 : (int)v;
}

static json_t *gbench_context(const rp_doc *d) {
    json_t *load = json_array();
    for (int i = 0; i < 3; i++)
        json_array_append_new(load, json_real(d->run.machine.load_before[i]));
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:[], s:o, s:s}", "date",
                     d->run.started ? d->run.started : "", "host_name", "udbench", "executable",
                     "udbench", "num_cpus", d->run.machine.cores, "mhz_per_cpu", 0,
                     "cpu_scaling_enabled", 0, "caches", "load_avg", load, "library_build_type",
                     "release");
}

/* One entry of github-action-benchmark's custom format; the range is ± half_width. */
static void gab_entry(json_t *root, const char *name, const char *unit, double value,
                      double half_width, const char *extra) {
    char range[64];
    snprintf(range, sizeof range, "± %.6g", half_width);
    json_array_append_new(root, json_pack("{s:s, s:s, s:f, s:s, s:s}", "name", name, "unit", unit,
                                          "value", value, "range", range, "extra", extra));
}

/* One metric of a results document, with what every format shows of it. */
typedef struct doc_metric {
    const rp_cell *c;
    const rp_metric *m;
    rp_merit merit;
    size_t i, j; /* the cell's and the metric's index */
    char name[512], extra[256];
    double v, cost; /* the figure of merit, and the cost in ns (per op) */
} doc_metric;

static void doc_gab_bigger(json_t *root, const doc_metric *x) {
    gab_entry(root, x->name, "ops/s", x->v, (x->m->max - x->m->min) / 2, x->extra);
}

static void doc_gab_smaller(json_t *root, const doc_metric *x) {
    const rp_metric *m = x->m;
    double lo = x->merit.direction == RP_HIGHER_IS_BETTER && m->max > 0 ? 1e9 / m->max : x->cost;
    double hi = x->merit.direction == RP_HIGHER_IS_BETTER && m->min > 0 ? 1e9 / m->min : x->cost;
    gab_entry(root, x->name, x->merit.direction == RP_HIGHER_IS_BETTER ? "ns/op" : "ns", x->cost,
              (hi - lo) / 2, x->extra);
}

static void doc_bmf(json_t *root, const doc_metric *x) {
    const rp_metric *m = x->m;
    json_t *b = json_object();
    if (x->merit.direction == RP_HIGHER_IS_BETTER)
        json_object_set_new(b, "throughput",
                            json_pack("{s:f, s:f, s:f}", "value", x->v, "lower_value", m->min,
                                      "upper_value", m->max));
    if (m->has_latency)
        json_object_set_new(b, "latency",
                            json_pack("{s:f, s:f, s:f}", "value", m->latency.p50, "lower_value",
                                      m->latency.p50, "upper_value", m->latency.p99));
    json_object_set_new(root, x->name, b);
}

static void doc_gbench(json_t *benches, const doc_metric *x) {
    const rp_metric *m = x->m;
    int threads = threads_of(rp_cell_param(x->c, "procs"));
    for (size_t r = 0; r < m->nreps; r++) {
        double rv = rp_merit_value(&x->merit, m, (int)r);
        double rc = x->merit.direction == RP_HIGHER_IS_BETTER ? (rv > 0 ? 1e9 / rv : 0) : rv;
        json_array_append_new(
            benches,
            json_pack("{s:s, s:I, s:i, s:s, s:s, s:i, s:i, s:i, s:I, s:f, s:f, s:s, s:f}", "name",
                      x->name, "family_index", (json_int_t)x->i, "per_family_instance_index",
                      (int)x->j, "run_name", x->name, "run_type", "iteration", "repetitions",
                      (int)m->nreps, "repetition_index", (int)r, "threads", threads, "iterations",
                      (json_int_t)m->reps[r].ops, "real_time", rc, "cpu_time", rc, "time_unit",
                      "ns", "items_per_second", m->reps[r].ops_per_sec));
    }
}

static void doc_junit(FILE *f, const doc_metric *x) {
    junit_case(f, x->c->scenario, x->name);
    fprintf(f, "\">");
    if (x->c->correctness.present && x->c->correctness.lost_updates > 0)
        fprintf(f, "<failure message=\"%" PRId64 " lost updates\"/>",
                x->c->correctness.lost_updates);
    fprintf(f, "</testcase>\n");
}

/* Metric j of cell c (cell i of its document) in the format, into root, benches or f. */
static void export_doc_metric(const rp_cell *c, size_t i, size_t j, int format, json_t *root,
                              json_t *benches, FILE *f) {
    doc_metric x = {.c = c, .m = &c->metrics[j], .i = i, .j = j};
    x.merit = rp_cmp_merit_of_cell(c, x.m->op);
    rp_metric_key(c, x.m, x.name, sizeof x.name);
    rp__safe_inplace(x.name, sizeof x.name); /* document text, shown by CI tools */
    x.v = rp_merit_value(&x.merit, x.m, -1);
    x.cost = rp_merit_cost(&x.merit, x.v) * (x.merit.direction == RP_HIGHER_IS_BETTER ? 1e9 : 1);
    snprintf(x.extra, sizeof x.extra, "%zu repetitions, spread %.1f%%%s", x.m->nreps,
             x.m->spread * 100, x.m->noisy ? ", noisy" : "");
    if (format == RP_EXPORT_GAB_BIGGER && x.merit.direction == RP_HIGHER_IS_BETTER)
        doc_gab_bigger(root, &x);
    else if (format == RP_EXPORT_GAB_SMALLER && isfinite(x.cost))
        doc_gab_smaller(root, &x);
    else if (format == RP_EXPORT_BMF)
        doc_bmf(root, &x);
    else if (format == RP_EXPORT_GBENCH)
        doc_gbench(benches, &x);
    else if (format == RP_EXPORT_JUNIT)
        doc_junit(f, &x);
}

static void junit_doc_open(const rp_doc *d, FILE *f) {
    size_t tests = 0, failures = 0;
    for (size_t i = 0; i < d->ncells; i++) {
        tests += d->cells[i].nmetrics ? d->cells[i].nmetrics : 1;
        failures +=
            d->cells[i].status == RP_STATUS_ERROR || d->cells[i].correctness.lost_updates > 0;
    }
    junit_open(f, "udbench run", tests, failures, 0, 0);
}

/* A cell that measured nothing: one test case, failed or skipped with its reason. */
static void junit_cell(const rp_cell *c, FILE *f) {
    junit_case(f, c->scenario, c->backend);
    fprintf(f, "\">");
    if (c->reason) {
        fprintf(f, c->status == RP_STATUS_ERROR ? "<failure message=\"" : "<skipped message=\"");
        xml_escaped(f, c->reason);
        fprintf(f, "\"/>");
    }
    fprintf(f, "</testcase>\n");
}

int rp_export_doc(const rp_doc *d, int format, FILE *f) {
    if (format < RP_EXPORT_GAB_BIGGER || format > RP_EXPORT_JUNIT)
        return RP_EFORMAT;
    json_t *root = format == RP_EXPORT_BMF ? json_object() : json_array();
    json_t *benches = format == RP_EXPORT_GBENCH ? json_array() : NULL;
    if (format == RP_EXPORT_JUNIT)
        junit_doc_open(d, f);
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (format == RP_EXPORT_JUNIT && (c->status != RP_STATUS_OK || c->nmetrics == 0)) {
            junit_cell(c, f);
            continue;
        }
        for (size_t j = 0; j < c->nmetrics; j++)
            export_doc_metric(c, i, j, format, root, benches, f);
    }
    if (format == RP_EXPORT_JUNIT)
        return junit_close(f, root);
    if (benches) {
        json_decref(root);
        root = json_pack("{s:o, s:o}", "context", gbench_context(d), "benchmarks", benches);
    }
    return dump_json(root, f);
}

/* ---- compare documents ---- */

/* One item of a compare document, with what every format shows of it. */
typedef struct cmp_metric {
    const rp_cmp_item *it;
    size_t i; /* the item's index */
    double margin;
    char name[512], extra[256];
    double cost, bcost; /* head's and base's cost in ns (per op) */
} cmp_metric;

static void cmp_gab_bigger(json_t *root, const cmp_metric *x) {
    const rp_cmp_item *it = x->it;
    double lo = isfinite(it->ratio_hi) ? it->base_value / it->ratio_hi : 0;
    double hi = isfinite(it->ratio_lo) && it->ratio_lo > 0 ? it->base_value / it->ratio_lo : lo;
    gab_entry(root, x->name, "ops/s", it->head_value, (hi - lo) / 2, x->extra);
}

static void cmp_gab_smaller(json_t *root, const cmp_metric *x) {
    const rp_cmp_item *it = x->it;
    double w = isfinite(it->ratio_hi) && isfinite(it->ratio_lo)
                   ? x->bcost * (it->ratio_hi - it->ratio_lo) / 2
                   : 0;
    gab_entry(root, x->name, it->merit.direction == RP_HIGHER_IS_BETTER ? "ns/op" : "ns", x->cost,
              w, x->extra);
}

static void cmp_bmf(json_t *root, const cmp_metric *x) {
    const rp_cmp_item *it = x->it;
    json_t *b = json_object();
    double lo = isfinite(it->ratio_lo) ? x->bcost * it->ratio_lo : x->cost;
    double hi = isfinite(it->ratio_hi) ? x->bcost * it->ratio_hi : x->cost;
    if (it->merit.direction == RP_HIGHER_IS_BETTER)
        json_object_set_new(b, "throughput",
                            json_pack("{s:f, s:f, s:f}", "value", it->head_value, "lower_value",
                                      hi > 0 ? 1e9 / hi : 0, "upper_value", lo > 0 ? 1e9 / lo : 0));
    else
        json_object_set_new(
            b, "latency",
            json_pack("{s:f, s:f, s:f}", "value", x->cost, "lower_value", lo, "upper_value", hi));
    json_object_set_new(root, x->name, b);
}

/* The head's figures: every kept trial of the gate is a repetition; a compare document holds
 * only the median. */
static void cmp_gbench(json_t *benches, const cmp_metric *x) {
    const rp_cmp_item *it = x->it;
    size_t n = 0;
    for (size_t j = 0; j < it->npairs; j++)
        n += !it->pairs[j].dropped;
    size_t r = 0;
    for (size_t j = 0; j <= it->npairs; j++) {
        double v;
        if (j < it->npairs) {
            if (it->pairs[j].dropped)
                continue;
            v = it->pairs[j].head;
        } else if (n == 0) {
            v = it->head_value;
        } else {
            break;
        }
        double rc =
            rp_merit_cost(&it->merit, v) * (it->merit.direction == RP_HIGHER_IS_BETTER ? 1e9 : 1);
        json_array_append_new(
            benches,
            json_pack("{s:s, s:I, s:i, s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:s}", "name",
                      x->name, "family_index", (json_int_t)x->i, "per_family_instance_index", 0,
                      "run_name", x->name, "run_type", "iteration", "repetitions", n ? (int)n : 1,
                      "repetition_index", (int)r++, "threads", 1, "iterations", 1, "real_time", rc,
                      "cpu_time", rc, "time_unit", "ns"));
    }
}

static void cmp_junit(FILE *f, const cmp_metric *x) {
    const rp_cmp_item *it = x->it;
    junit_case(f, it->scenario, x->name);
    fprintf(f, "\">");
    if (it->verdict == RP_VERDICT_SLOWER) {
        fprintf(f,
                "<failure message=\"slower: cost x%.4f, interval [%.4f, %.4f], "
                "margin %.1f%%\"/>",
                it->ratio, it->ratio_lo, it->ratio_hi, x->margin * 100);
    } else if (it->verdict == RP_VERDICT_INCONCLUSIVE) {
        fprintf(f,
                "<skipped message=\"inconclusive: interval [%.4f, %.4f] straddles the "
                "margin\"/>",
                it->ratio_lo, it->ratio_hi);
    }
    fprintf(f, "<system-out>");
    xml_escaped(f, x->extra);
    fprintf(f, "</system-out></testcase>\n");
}

/* Item i of c in the format, into root, benches or f. */
static void export_cmp_item(const rp_cmp *c, size_t i, int format, json_t *root, json_t *benches,
                            FILE *f) {
    const rp_cmp_item *it = &c->items[i];
    cmp_metric x = {.it = it, .i = i, .margin = c->margin};
    rp_cmp_item_name(it, x.name, sizeof x.name);
    rp__safe_inplace(x.name, sizeof x.name); /* document text, shown by CI tools */
    snprintf(x.extra, sizeof x.extra, "%s: cost x%.4f, interval [%.4f, %.4f] at %.1f%%, base %.6g",
             rp_verdict_name(it->verdict), it->ratio, it->ratio_lo, it->ratio_hi,
             it->confidence * 100, it->base_value);
    double scale = it->merit.direction == RP_HIGHER_IS_BETTER ? 1e9 : 1;
    x.cost = rp_merit_cost(&it->merit, it->head_value) * scale;
    x.bcost = rp_merit_cost(&it->merit, it->base_value) * scale;
    if (format == RP_EXPORT_GAB_BIGGER && it->merit.direction == RP_HIGHER_IS_BETTER)
        cmp_gab_bigger(root, &x);
    else if (format == RP_EXPORT_GAB_SMALLER && isfinite(x.cost))
        cmp_gab_smaller(root, &x);
    else if (format == RP_EXPORT_BMF)
        cmp_bmf(root, &x);
    else if (format == RP_EXPORT_GBENCH)
        cmp_gbench(benches, &x);
    else if (format == RP_EXPORT_JUNIT && it->gated)
        cmp_junit(f, &x);
}

static void junit_cmp_open(const rp_cmp *c, FILE *f) {
    size_t tests = 0, failures = 0, skipped = 0;
    for (size_t i = 0; i < c->nitems; i++) {
        tests += c->items[i].gated;
        failures += c->items[i].gated && c->items[i].verdict == RP_VERDICT_SLOWER;
        skipped += c->items[i].gated && c->items[i].verdict == RP_VERDICT_INCONCLUSIVE;
    }
    bool gate = c->method && strcmp(c->method, "paired-sign") == 0;
    junit_open(f, gate ? "udbench gate" : "udbench compare", tests, failures, skipped,
               c->wall_seconds);
}

int rp_export_cmp(const rp_cmp *c, int format, FILE *f) {
    if (format < RP_EXPORT_GAB_BIGGER || format > RP_EXPORT_JUNIT)
        return RP_EFORMAT;
    if (format == RP_EXPORT_JUNIT)
        junit_cmp_open(c, f);
    json_t *root = format == RP_EXPORT_BMF ? json_object() : json_array();
    json_t *benches = format == RP_EXPORT_GBENCH ? json_array() : NULL;
    for (size_t i = 0; i < c->nitems; i++)
        export_cmp_item(c, i, format, root, benches, f);
    if (format == RP_EXPORT_JUNIT)
        return junit_close(f, root);
    if (benches) {
        json_decref(root);
        root = json_pack("{s:{s:s, s:s, s:i, s:i, s:b, s:[], s:[], s:s}, s:o}", "context", "date",
                         "", "executable", "udbench gate", "num_cpus", 0, "mhz_per_cpu", 0,
                         "cpu_scaling_enabled", 0, "caches", "load_avg", "library_build_type",
                         "release", "benchmarks", benches);
    }
    return dump_json(root, f);
}
