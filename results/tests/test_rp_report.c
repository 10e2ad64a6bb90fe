/*
 * test_rp_report.c - the reports: each format of the realistic fixture against its golden
 * file (UPDATE_GOLDEN=1 rewrites them), the ranking order and factors on a document built in
 * code, grouping, labels, and the number formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rp.h"
#include "rp_testutil.h"

static rp_doc *good(void) {
    return rpt_read_ok(RP_FIXTURES "/good.json");
}

/* Every format of the realistic fixture against its golden file. */
static void test_golden(void **state) {
    (void)state;
    static const struct {
        int format;
        const char *file;
    } goldens[] = {{RP_FORMAT_TEXT, "good.txt"},
                   {RP_FORMAT_MD, "good.md"},
                   {RP_FORMAT_CSV, "good.csv"},
                   {RP_FORMAT_SVG, "good.svg"}};
    rp_doc *d = good();
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        char *t = rpt_report(d, goldens[i].format);
        rpt_golden(goldens[i].file, t);
        /* The SVG is self-contained: nothing is fetched from elsewhere. */
        if (goldens[i].format == RP_FORMAT_SVG) {
            assert_null(strstr(t, "href"));
            assert_null(strstr(t, "url("));
        }
        free(t);
    }
    rp_doc_free(d);
}

static void add_backend(rp_doc *d, const char *uri, const char *name) {
    rp_backend *b = rp_doc_add_backend(d);
    rp_set_string(&b->uri, uri);
    rp_set_string(&b->name, name);
    b->reachable = true;
}

static void add_cell(rp_doc *d, const char *uri, const char *name, const char *procs,
                     const double *ops, size_t n) {
    rp_cell *c = rp_doc_add_cell(d);
    rp_set_string(&c->scenario, "read");
    rp_set_string(&c->backend, uri);
    rp_set_string(&c->backend_name, name);
    rp_cell_add_param(c, "procs", procs);
    rp_cell_add_param(c, "value_size", "65536");
    rp_metric *m = rp_cell_add_metric(c, "read");
    for (size_t i = 0; i < n; i++) {
        rp_rep r = {.ops = 1000, .seconds = 1000 / ops[i], .ops_per_sec = ops[i]};
        rp_metric_add_rep(m, &r);
    }
    rp_metric_summarise(m, 0.25);
}

/* The line of the text report that starts with "  <label> ", or fails. */
static const char *line_of(const char *text, const char *label) {
    char key[128];
    snprintf(key, sizeof key, "\n  %s ", label);
    const char *p = strstr(text, key);
    if (!p)
        fail_msg("no line for %s in:\n%s", label, text);
    return p + 1;
}

static void test_ranking_and_factors(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    d->run.noise_threshold = 0.25;
    rp_set_string(&d->run.started, "2025-01-01T00:00:00Z");
    add_backend(d, "local:", "local");
    add_backend(d, "ultradict:", "ultradict");
    add_backend(d, "ultradict:?lock=spin", "ultradict");
    add_backend(d, "redis://127.0.0.1:1", "redis");
    const double local[] = {100, 101, 99}, ud[] = {400, 400, 400}, spin[] = {50, 100, 200},
                 redis[] = {25};
    add_cell(d, "redis://127.0.0.1:1", "redis", "4", redis, 1);
    add_cell(d, "local:", "local", "4", local, 3);
    add_cell(d, "ultradict:", "ultradict", "4", ud, 3);
    add_cell(d, "ultradict:?lock=spin", "ultradict", "4", spin, 3);
    /* Another process count is another group, even with the same scenario and op. */
    add_cell(d, "redis://127.0.0.1:1", "redis", "1", redis, 1);
    rpt_check_ok(d);

    char *t = rpt_report(d, RP_FORMAT_TEXT);
    const char *g4 = strstr(t, "read (procs=4, value=64 KiB):\n");
    const char *g1 = strstr(t, "read (procs=1, value=64 KiB):\n");
    assert_non_null(g4);
    assert_non_null(g1);
    assert_true(g4 < g1); /* groups in the order they first appear */

    /* Sorted by median, fastest first; the two ultradict configurations are told apart. */
    const char *ud_line = line_of(g4, "ultradict (ultradict:)");
    const char *local_line = line_of(g4, "local");
    const char *spin_line = line_of(g4, "ultradict (ultradict:?lock=spin)");
    const char *redis_line = line_of(g4, "redis");
    assert_true(ud_line < local_line && local_line < spin_line && spin_line < redis_line &&
                redis_line < g1);

    /* factor = fastest / this; x local = local / this; no x local on local: itself. */
    assert_true(strstr(ud_line, "=  400 ops/s (factor 1.0)") < local_line);
    assert_true(strstr(ud_line, "x local: 0.25") < local_line);
    assert_true(strstr(local_line, "=  100 ops/s (factor 4.0)") < spin_line);
    assert_true(strstr(local_line, "x local") == NULL || strstr(local_line, "x local") > spin_line);
    assert_true(strstr(spin_line, "(factor 4.0)") < redis_line);
    assert_true(strstr(spin_line, "noisy (spread 150%)") < redis_line);
    assert_true(strstr(redis_line, "= 25.0 ops/s (factor 16.0)") < g1);
    assert_true(strstr(redis_line, "x local: 4.0") < g1);
    free(t);

    /* The same figures in the Markdown table. */
    t = rpt_report(d, RP_FORMAT_MD);
    assert_non_null(strstr(t, "| ultradict (ultradict:) | 400 | - | 0.0% | 1.0 | 0.25 |"));
    assert_non_null(strstr(t, "| redis | 25.0 | - | 0.0% | 16.0 | 4.0 |"));
    /* local's three repetitions give an interval (min - max, 75% coverage). */
    assert_non_null(strstr(t, "| local | 100 | 99.0 – 101 | 2.0% | 4.0 | 1.0 |"));
    free(t);
    rp_doc_free(d);
}

/* A visibility cell: p50 latency per repetition, lower is better, with a harness floor. */
static void add_vis_cell(rp_doc *d, const char *uri, const char *name, const double *p50,
                         size_t n) {
    rp_cell *c = rp_doc_add_cell(d);
    rp_set_string(&c->scenario, "visibility");
    rp_set_string(&c->backend, uri);
    rp_set_string(&c->backend_name, name);
    rp_cell_add_param(c, "procs", "2");
    rp_metric *m = rp_cell_add_metric(c, "visible");
    for (size_t i = 0; i < n; i++) {
        /* Throughput the other way round from latency, so ops/s would rank them wrongly. */
        rp_rep r = {.ops = 1000, .ops_per_sec = 1e6 / (1e4 - p50[i]), .p50_ns = p50[i]};
        r.seconds = (double)r.ops / r.ops_per_sec;
        rp_metric_add_rep(m, &r);
    }
    rp_metric_summarise(m, 0.25);
    rp_set_string(&c->merit.metric, "visible");
    c->merit.figure = RP_FIGURE_P50_NS;
    c->merit.direction = RP_LOWER_IS_BETTER;
    c->harness_floor_ns = 14;
    c->status = RP_STATUS_OK;
    rp_cell_summarise_merit(c);
}

/* The figure of merit decides the order and the factors; overlapping intervals are a tie;
 * the null: backend is not ranked, its floor is shown once for the group. */
static void test_merit_ranking(void **state) {
    (void)state;
    rp_doc *d = rpt_dated_doc();
    add_backend(d, "ultradict:", "ultradict");
    add_backend(d, "redis://h", "redis");
    add_backend(d, "memcached://h", "memcached");
    add_backend(d, "null:", "null");
    const double ud[] = {1200, 1100, 1300, 1250, 1150, 1210},
                 redis[] = {5000, 5200, 4900, 5100, 5050, 4950},
                 mc[] = {5100, 5300, 5000, 4800, 5150, 5050}, nul[] = {14, 14, 15, 13, 14, 14};
    add_vis_cell(d, "redis://h", "redis", redis, 6);
    add_vis_cell(d, "ultradict:", "ultradict", ud, 6);
    add_vis_cell(d, "memcached://h", "memcached", mc, 6);
    add_vis_cell(d, "null:", "null", nul, 6);
    rpt_check_ok(d);
    assert_true(rp_merit_compare(&d->cells[1], &d->cells[0]) > 0);
    assert_true(rp_merit_compare(&d->cells[0], &d->cells[1]) < 0);
    assert_int_equal(rp_merit_compare(&d->cells[0], &d->cells[2]), 0);
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    const char *g = strstr(t, "visibility visible (procs=2): harness floor 14 ns/op\n");
    assert_non_null(g);
    const char *ud_line = line_of(g, "ultradict"), *r_line = line_of(g, "redis"),
               *m_line = line_of(g, "memcached");
    assert_true(ud_line < r_line && r_line < m_line);
    assert_null(strstr(g, "\n  null "));
    assert_true(strstr(ud_line, "= p50 1.21 µs (factor 1.0)") < r_line);
    assert_true(strstr(r_line, "(factor 4.17)") < m_line);
    assert_true(strstr(r_line, "tied") > m_line || !strstr(r_line, "tied"));
    assert_non_null(strstr(m_line, "tied with the row above"));
    free(t);
    rp_doc_free(d);
}

/* The CSV field `col` of the first row whose first fields are scenario, op, backend. */
static char *csv_get(const char *csv, const char *row_prefix, const char *col) {
    const char *nl = strchr(csv, '\n');
    assert_non_null(nl);
    int want = -1, k = 0;
    for (const char *p = csv; p < nl; k++) {
        const char *e = memchr(p, ',', (size_t)(nl - p));
        size_t len = (size_t)((e ? e : nl) - p);
        if (strlen(col) == len && strncmp(p, col, len) == 0)
            want = k;
        p = e ? e + 1 : nl;
    }
    if (want < 0)
        fail_msg("no CSV column %s", col);
    char key[128];
    snprintf(key, sizeof key, "\n%s,", row_prefix);
    const char *p = strstr(csv, key);
    if (!p)
        fail_msg("no CSV row %s", row_prefix);
    p++;
    for (k = 0; k < want; k++) {
        p = strpbrk(p, ",\n");
        assert_true(p && *p == ',');
        p++;
    }
    size_t len = strcspn(p, ",\n");
    char *v = malloc(len + 1);
    memcpy(v, p, len);
    v[len] = '\0';
    return v;
}

static void assert_csv(const char *csv, const char *row, const char *col, const char *want) {
    char *v = csv_get(csv, row, col);
    if (strcmp(v, want) != 0)
        fail_msg("CSV %s / %s: \"%s\", expected \"%s\"", row, col, v, want);
    free(v);
}

/* The CSV gives every row its figure of merit, the interval of the median with its coverage,
 * and the harness floor of its section (from the null: cell of the same parameters). */
static void test_csv_merit_columns(void **state) {
    (void)state;
    rp_doc *d = rpt_dated_doc();
    add_backend(d, "ultradict:", "ultradict");
    add_backend(d, "null:", "null");
    const double ud[] = {1200, 1100, 1300, 1250, 1150, 1210}, nul[] = {14, 14, 15, 13, 14, 14};
    add_vis_cell(d, "ultradict:", "ultradict", ud, 6);
    add_vis_cell(d, "null:", "null", nul, 6);
    /* A second operation of the same cells, judged by ops/s: its floor is null:'s p50 of it. */
    for (size_t i = 0; i < 2; i++) {
        rp_metric *m = rp_cell_add_metric(&d->cells[i], "write");
        rp_rep r = {.ops = 100, .seconds = 0.1, .ops_per_sec = 1000};
        rp_metric_add_rep(m, &r);
        rp_metric_summarise(m, 0.25);
        m->has_latency = true;
        m->latency.count = 100;
        double p50 = i ? 250 : 900;
        m->latency.mean = m->latency.p50 = m->latency.p90 = m->latency.p99 = p50;
        m->latency.p999 = m->latency.max = p50;
    }
    rpt_check_ok(d);
    char *t = rpt_report(d, RP_FORMAT_CSV);
    static const char *const want[][3] = {
        {"visibility,visible,ultradict:", "merit", "true"},
        {"visibility,visible,ultradict:", "figure", "p50 ns"},
        {"visibility,visible,ultradict:", "direction", "lower"},
        {"visibility,visible,ultradict:", "value", "1205"},
        {"visibility,visible,ultradict:", "ci_low", "1100"},
        {"visibility,visible,ultradict:", "ci_high", "1300"},
        {"visibility,visible,ultradict:", "ci_coverage", "0.96875"},
        {"visibility,visible,ultradict:", "harness_floor_ns", "14"},
        {"visibility,write,ultradict:", "merit", "false"},
        {"visibility,write,ultradict:", "figure", "ops/s"},
        {"visibility,write,ultradict:", "direction", "higher"},
        {"visibility,write,ultradict:", "value", "1000"},
        {"visibility,write,ultradict:", "ci_coverage", ""},
        {"visibility,write,ultradict:", "harness_floor_ns", "250"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_csv(t, want[i][0], want[i][1], want[i][2]);
    free(t);
    /* The text and Markdown reports show the same floors, once per section. */
    rpt_report_has(d, RP_FORMAT_TEXT, "visibility visible (procs=2): harness floor 14 ns/op\n",
                   "visibility write (procs=2): harness floor 250 ns/op\n", NULL);
    rpt_report_has(d, RP_FORMAT_MD, "Harness floor 14 ns/op.", "Harness floor 250 ns/op.", NULL);
    rp_doc_free(d);
}

/* Text from a document that a spreadsheet would run as a formula (=, +, -, @ first) is
 * written with a leading apostrophe, quoted; numbers, negative ones too, stay numbers. */
static void test_csv_formula_injection(void **state) {
    (void)state;
    rp_doc *d = rpt_dated_doc();
    add_backend(d, "ultradict:", "=HYPERLINK(1)");
    const double ops[] = {1000, 1100, 900};
    add_cell(d, "ultradict:", "=HYPERLINK(1)", "2", ops, 3);
    rp_cell *c = &d->cells[0];
    c->correctness = (rp_correctness){true, 5, 7, -2, 0};
    rp_cell *bad = rp_doc_add_cell(d);
    rp_set_string(&bad->scenario, "read");
    rp_set_string(&bad->backend, "ultradict:");
    rp_set_string(&bad->backend_name, "@SUM(1)");
    bad->status = RP_STATUS_ERROR;
    rp_set_string(&bad->reason, "-2+3 cmd|' /C calc'!A0");
    char *t = rpt_report(d, RP_FORMAT_CSV);
    assert_csv(t, "read,read,ultradict:", "backend_name", "\"'=HYPERLINK(1)\"");
    assert_non_null(
        strstr(t, "\nread,,ultradict:,\"'@SUM(1)\",,error,\"'-2+3 cmd|' /C calc'!A0\","));
    assert_csv(t, "read,read,ultradict:", "lost_updates", "-2");
    assert_csv(t, "read,read,ultradict:", "reps", "3");
    free(t);
    rp_doc_free(d);
}

/* A failover document: its section in the text and Markdown reports, and its ranking by lost
 * writes (the store that lost none first). */
static void test_failover_report(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/failover.json");
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    const char *sec = strstr(t, "\nFailover (");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "on ultradict: 2 runs, window p50 0 s, max 0 s; lost 0 of "));
    assert_non_null(strstr(sec, "killed: pid "));
    const char *grp = strstr(t, "failover write (");
    assert_non_null(grp);
    const char *u = strstr(grp, "ultradict ="), *r = strstr(grp, "redis");
    assert_true(u && r && u < r);
    free(t);
    rpt_report_has(d, RP_FORMAT_MD, "## Failover", NULL);
    rp_doc_free(d);
}

/* The text report names the schema of the document it read. */
static void test_text_names_schema(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/good-v1.json");
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    assert_true(strncmp(t, "udbench results (udbench/1)\n", 28) == 0);
    free(t);
    rp_doc_free(d);
    d = rpt_read_ok(RP_FIXTURES "/good-v2.json");
    t = rpt_report(d, RP_FORMAT_TEXT);
    assert_true(strncmp(t, "udbench results (udbench/2)\n", 28) == 0);
    free(t);
    rp_doc_free(d);
    d = good();
    t = rpt_report(d, RP_FORMAT_TEXT);
    assert_true(strncmp(t, "udbench results (udbench/3)\n", 28) == 0);
    free(t);
    rp_doc_free(d);
}

/* A lockstep run: "x local" comes from the paired ratios with their interval, and a cell whose
 * batches ran in different cache regimes says so with the probes' figures. */
static void test_lockstep_report(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/lockstep.json");
    /* Every batch in the slow regime: nothing to say about the machine. */
    for (size_t i = 0; i < d->ncells; i++)
        for (size_t o = 0; o < d->cells[i].nmetrics; o++)
            for (size_t k = 0; k < d->cells[i].metrics[o].nreps; k++) {
                d->cells[i].metrics[o].reps[k].probe_before = (rp_probe){150, 12, 2};
                d->cells[i].metrics[o].reps[k].probe_after = (rp_probe){160, 12, 2};
                d->cells[i].metrics[o].reps[k].regime = RP_REGIME_NONE; /* from the probes */
            }
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    assert_non_null(strstr(t, "x local: "));
    assert_non_null(strstr(t, " ["));
    assert_null(strstr(t, "machine changed"));
    free(t);
    /* Half of the ultradict: read batches in the fast regime, at the same speed as the others:
     * the machine changed, but not the cell's figures, and the report says nothing. Then the
     * fast batches twice as fast: the report names both regimes with their figures. */
    rp_cell *c = NULL;
    for (size_t i = 0; i < d->ncells && !c; i++)
        if (!strcmp(d->cells[i].backend, "ultradict:") && !strcmp(d->cells[i].scenario, "read"))
            c = &d->cells[i];
    assert_non_null(c);
    rp_metric *m = &c->metrics[0];
    for (size_t k = 0; k < m->nreps; k += 2) {
        m->reps[k].probe_before = (rp_probe){21, 4, 4};
        m->reps[k].probe_after = (rp_probe){23, 4, 4};
        m->reps[k].regime = RP_REGIME_NONE;
    }
    double *was = calloc(m->nreps, sizeof *was);
    assert_non_null(was);
    for (size_t k = 0; k < m->nreps; k++)
        was[k] = m->reps[k].ops_per_sec;
    for (size_t k = 0; k < m->nreps; k++)
        m->reps[k].ops_per_sec = 1e6;
    t = rpt_report(d, RP_FORMAT_TEXT);
    assert_null(strstr(t, "machine changed"));
    free(t);
    for (size_t k = 0; k < m->nreps; k++)
        m->reps[k].ops_per_sec = k % 2 ? 1e6 : 2e6;
    t = rpt_report(d, RP_FORMAT_TEXT);
    const char *note = strstr(t, "machine changed: fast in ");
    assert_non_null(note);
    assert_non_null(strstr(note, "(LLC chase 2"));
    assert_non_null(strstr(note, "2,000,000 ops/s"));
    assert_non_null(strstr(note, "slow in "));
    free(t);
    rpt_report_has(d, RP_FORMAT_MD, "machine changed: fast in ", NULL);
    for (size_t k = 0; k < m->nreps; k++)
        m->reps[k].ops_per_sec = was[k];
    free(was);
    rp_doc_free(d);
}

/* Cells that tie are ordered by label, so the report never depends on the sort. */
static void test_ties(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    add_backend(d, "sqlite:/x", "sqlite");
    add_backend(d, "lmdb:/y", "lmdb");
    const double v[] = {1000};
    add_cell(d, "sqlite:/x", "sqlite", "1", v, 1);
    add_cell(d, "lmdb:/y", "lmdb", "1", v, 1);
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    assert_true(strstr(t, "  lmdb ") < strstr(t, "  sqlite "));
    assert_non_null(strstr(t, "  sqlite = 1,000 ops/s (factor 1.0)\n"));
    free(t);
    rp_doc_free(d);
}

/*
 * A lock cell whose redis was killed: it failed with an error after counting some updates. Its
 * counts say nothing about lost updates, so no report gives it a verdict ("ok" before).
 */
static void test_failed_cell_no_verdict(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    add_backend(d, "redis://127.0.0.1:1", "redis");
    const double v[] = {1000};
    add_cell(d, "redis://127.0.0.1:1", "redis", "2", v, 1);
    rp_cell *c = &d->cells[0];
    c->status = RP_STATUS_ERROR;
    rp_set_string(&c->reason, "worker 1: connection refused (KV_ECONN)");
    c->correctness = (rp_correctness){.present = true, .expected = 500, .observed = 500};
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    const char *line = strstr(t, "Correctness");
    assert_non_null(line);
    line = strstr(line, "\n  ");
    assert_non_null(line);
    const char *eol = strchr(line + 1, '\n');
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)(eol - line - 1), line + 1);
    assert_non_null(strstr(got, "failed (worker 1: connection refused (KV_ECONN))"));
    assert_null(strstr(got, " ok"));
    assert_null(strstr(got, "lost updates 0"));
    free(t);
    t = rpt_report(d, RP_FORMAT_MD);
    assert_non_null(strstr(t, "**failed**: worker 1: connection refused (KV_ECONN) |"));
    assert_null(strstr(t, "| ok |"));
    free(t);
    rp_doc_free(d);
}

/* An empty document still gives every report, saying there is nothing to show. */
static void test_empty_document(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    for (int f = RP_FORMAT_TEXT; f <= RP_FORMAT_SVG; f++) {
        char *t = rpt_report(d, f);
        assert_true(strlen(t) > 0);
        free(t);
    }
    char *t = rpt_report(d, RP_FORMAT_TEXT);
    assert_non_null(strstr(t, "Ranking: no cell was measured."));
    free(t);
    FILE *null = fopen("/dev/null", "w");
    assert_int_equal(rp_report(d, 42, null), RP_EFORMAT);
    fclose(null);
    rp_doc_free(d);
}

static void test_formats(void **state) {
    (void)state;
    rp__num n;
    assert_string_equal(rp__fmt_ops(&n, 16413569.4), "16,413,569");
    assert_string_equal(rp__fmt_ops(&n, 999.4), "999");
    assert_string_equal(rp__fmt_ops(&n, 42.46), "42.5");
    assert_string_equal(rp__fmt_ops(&n, 0), "0.0");
    assert_string_equal(rp__fmt_int(&n, -1234567), "-1,234,567");
    assert_string_equal(rp__fmt_int(&n, INT64_MIN), "-9,223,372,036,854,775,808");
    /* The original's own ranking: 16,413,569 against 479,860, 41,176 and itself. */
    assert_string_equal(rp__fmt_factor(&n, 16413569, 16413569), "1.0");
    assert_string_equal(rp__fmt_factor(&n, 16413569, 479860), "34.2");
    assert_string_equal(rp__fmt_factor(&n, 16413569, 41176), "398.62");
    assert_string_equal(rp__fmt_factor(&n, 16413569, 24351), "674.04");
    assert_string_equal(rp__fmt_factor(&n, 1, 0), "-");
    assert_string_equal(rp__fmt_ns(&n, 45), "45 ns");
    assert_string_equal(rp__fmt_ns(&n, 999.6), "1.00 \xc2\xb5s");
    assert_string_equal(rp__fmt_ns(&n, 1234), "1.23 \xc2\xb5s");
    assert_string_equal(rp__fmt_ns(&n, 45600), "45.6 \xc2\xb5s");
    assert_string_equal(rp__fmt_ns(&n, 12345678), "12.3 ms");
    assert_string_equal(rp__fmt_ns(&n, 1.5e9), "1.50 s");
    assert_string_equal(rp__fmt_pct(&n, 0.0312), "3.1%");
    assert_string_equal(rp__fmt_pct(&n, 0.25), "25%");
    assert_string_equal(rp__fmt_bytes(&n, 8331051008ull), "7.8 GiB");
    assert_string_equal(rp__fmt_bytes(&n, 512), "512 B");
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_failed_cell_no_verdict),
               cmocka_unit_test(test_golden), cmocka_unit_test(test_ranking_and_factors),
               cmocka_unit_test(test_ties), cmocka_unit_test(test_merit_ranking),
               cmocka_unit_test(test_csv_merit_columns),
               cmocka_unit_test(test_csv_formula_injection),
               cmocka_unit_test(test_text_names_schema), cmocka_unit_test(test_failover_report),
               cmocka_unit_test(test_lockstep_report), cmocka_unit_test(test_empty_document),
               cmocka_unit_test(test_formats))
