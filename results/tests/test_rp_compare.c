/*
 * test_rp_compare.c - udbench compare's statistics on fixture documents (a head 25% slower on
 * ultradict and unchanged on local), the compare document's JSON round trip, refusals, and the
 * shapes of every export.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"
#include "rp_compare.h"
#include "rp_stats.h"
#include "rp_testutil.h"

static rp_doc *load(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", RP_FIXTURES, name);
    return rpt_read_ok(path);
}

/* ---- two lockstep runs (udbench/3) ---- */

enum { LS_ROUNDS = 40, LS_GROUPS = 4, LS_BACKENDS = 5 };

/* A cell of a lockstep run on `uri` with `procs` processes, paired against local: at `ratio`
 * (times 1 + a wobble of up to 1% per round); every batch probed at `llc` ns of LLC chase
 * against 2 ns of compute loop (fast below RP_PROBE_SLOW_RATIO iterations, slow above). */
static void ls_cell(rp_doc *d, const char *uri, int procs, double ratio, double llc,
                    uint64_t seed) {
    if (procs == 1) {
        rp_backend *b = rp_doc_add_backend(d);
        rp_set_string(&b->uri, uri);
        rp_set_string(&b->name, uri);
        b->reachable = true;
    }
    rp_metric *m;
    rp_cell *c = rpt_read_cell(d, uri, procs, &m);
    for (int k = 0; k < LS_ROUNDS; k++) {
        double wobble = rpt_wobble(&seed);
        double v = 1e6 * ratio * wobble;
        rp_rep r = {.ops = (uint64_t)v,
                    .seconds = (double)(uint64_t)v / v,
                    .round = k,
                    .probe_before = {llc, 5, 2},
                    .probe_after = {llc, 5, 2},
                    .ratio = ratio * wobble};
        r.ops_per_sec = (double)r.ops / r.seconds;
        rp_metric_add_rep(m, &r);
    }
    rp_metric_summarise(m, 0.25);
    rp_set_string(&c->merit.reference, "local:");
    rp_cell_summarise_merit(c);
}

/* What one run looks like: per group (procs 1..LS_GROUPS), how much every paired ratio of the
 * group is scaled (the reference ran slower or faster), and for the sqlite cell of procs=1 its
 * ratio and probes. */
typedef struct ls_run {
    double group_scale[LS_GROUPS];
    double sqlite, sqlite_llc, llc;
    const char *tmp;
    uint64_t seed;
} ls_run;

/* A lockstep run: LS_GROUPS groups (procs 1..) of local: (the reference) and four backends at
 * fixed ratios, sqlite in a temporary folder of its own. */
static rp_doc *ls_doc(const ls_run *run) {
    rp_doc *d = rpt_doc_new();
    d->run.lockstep = true;
    rp_set_string(&d->run.started, "2026-12-07T00:00:00Z");
    char sqlite[128];
    snprintf(sqlite, sizeof sqlite, "sqlite:/tmp/%s/udbench.sqlite", run->tmp);
    const char *uris[LS_BACKENDS] = {"local:", sqlite, "lmdb:", "redis://127.0.0.1:6379",
                                     "memcached://127.0.0.1:11211"};
    static const double ratios[LS_BACKENDS] = {1, 0.5, 0.3, 0.02, 0.01};
    for (int g = 0; g < LS_GROUPS; g++)
        for (int b = 0; b < LS_BACKENDS; b++) {
            double scale = b ? (run->group_scale[g] > 0 ? run->group_scale[g] : 1) : 1;
            bool own = g == 0 && b == 1;
            double ratio = own && run->sqlite > 0 ? run->sqlite : ratios[b];
            double llc = own && run->sqlite_llc > 0 ? run->sqlite_llc : run->llc;
            ls_cell(d, uris[b], g + 1, ratio * scale, llc, run->seed + (uint64_t)(g * 8 + b));
        }
    for (size_t i = 0; i < d->ncells; i++)
        if (!strcmp(d->cells[i].backend, "local:")) {
            for (size_t k = 0; k < d->cells[i].metrics[0].nreps; k++)
                d->cells[i].metrics[0].reps[k].ratio = 1;
            rp_cell_summarise_merit(&d->cells[i]);
        }
    return d;
}

/* The item of `backend` (a prefix) with procs=`procs`. */
static const rp_cmp_item *item_of(const rp_cmp *c, const char *prefix, const char *procs) {
    for (size_t i = 0; i < c->nitems; i++) {
        const rp_cmp_item *it = &c->items[i];
        if (strncmp(it->backend, prefix, strlen(prefix)) != 0)
            continue;
        for (size_t j = 0; j < it->nparams; j++)
            if (!strcmp(it->params[j].key, "procs") && !strcmp(it->params[j].value, procs))
                return it;
    }
    return NULL;
}

static size_t confident(const rp_cmp *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->nitems; i++)
        n += c->items[i].verdict == RP_VERDICT_FASTER || c->items[i].verdict == RP_VERDICT_SLOWER;
    return n;
}

static rp_cmp *ls_compare(const ls_run *base, const ls_run *head) {
    rp_doc *b = ls_doc(base), *h = ls_doc(head);
    rp_cmp *c = NULL;
    char err[256] = "";
    assert_int_equal(rp_compare_docs(b, h, 0.03, 0.05, &c, NULL, NULL, err, sizeof err), 0);
    rp_doc_free(b);
    rp_doc_free(h);
    return c;
}

/* Ports and temporary folders do not tell backends apart; other differences do. */
static void test_uri_matching(void **state) {
    (void)state;
    ls_run ra = {.llc = 20, .tmp = "udbench-Ab12Cd", .seed = 7};
    ls_run rb = {.llc = 20, .tmp = "udbench-Zz99Yy", .seed = 8};
    rp_doc *b = ls_doc(&ra), *h = ls_doc(&rb);
    rp_cmp *c = NULL;
    size_t ob = 9, oh = 9;
    char err[256] = "";
    assert_int_equal(rp_compare_docs(b, h, 0.03, 0.05, &c, &ob, &oh, err, sizeof err), 0);
    assert_int_equal(ob, 0);
    assert_int_equal(oh, 0);
    assert_int_equal(c->nitems, LS_GROUPS * LS_BACKENDS);
    rp_cmp_free(c);
    rp_set_string(&h->cells[1].backend, "sqlite:/data/other.sqlite");
    assert_int_equal(rp_compare_docs(b, h, 0.03, 0.05, &c, &ob, &oh, err, sizeof err), 0);
    assert_int_equal(ob, 1);
    rp_cmp_free(c);
    rp_doc_free(b);
    rp_doc_free(h);
}

/* Only the paired figure gets a verdict: none for the same speed, SLOWER for a head at half the
 * base's ratio, and none at all when the probes say the machine differed. */
static void test_compare_paired(void **state) {
    (void)state;
    ls_run base = {.llc = 20, .tmp = "udbench-Ab12Cd", .seed = 7};
    ls_run same = {.llc = 20, .tmp = "udbench-Qq11Ww", .seed = 9};
    ls_run slow = {.llc = 20, .tmp = "udbench-Ee22Rr", .seed = 11, .sqlite = 0.25};
    ls_run other = {.llc = 200, .tmp = "udbench-Tt33Yy", .seed = 13, .sqlite = 0.25};
    rp_cmp *c = ls_compare(&base, &same);
    assert_true(c->paired && !c->machine_differed);
    assert_string_equal(c->method, "paired-ratio");
    const rp_cmp_item *ref = item_of(c, "local:", "1"), *it = item_of(c, "sqlite:", "1");
    assert_false(ref->gated);
    assert_int_equal(ref->verdict, RP_VERDICT_INCONCLUSIVE);
    assert_true(it->gated);
    assert_true(it->verdict == RP_VERDICT_SAME || it->verdict == RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(it->n_base, LS_ROUNDS);
    assert_int_equal(confident(c), 0);
    rp_cmp_free(c);
    c = ls_compare(&base, &slow);
    it = item_of(c, "sqlite:", "1");
    assert_int_equal(it->verdict, RP_VERDICT_SLOWER);
    assert_true(fabs(it->ratio - 2) < 0.05);
    assert_int_equal(confident(c), 1);
    assert_int_equal(c->status, RP_GATE_FAIL);
    assert_true(c->run_spread >= 1);
    rp_cmp_free(c);
    c = ls_compare(&base, &other);
    assert_true(c->machine_differed);
    for (size_t i = 0; i < c->nitems; i++)
        assert_int_equal(c->items[i].verdict, RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(c->status, RP_GATE_INCONCLUSIVE);
    rp_cmp_free(c);
}

/* The reference of one group ran twice as slow in the head run: every ratio of that group
 * doubled, which is the reference's move, not the backends'. (Pooling the two runs' rounds
 * gave four confident FASTER verdicts here.) */
static void test_compare_reference_moved(void **state) {
    (void)state;
    ls_run base = {.llc = 20, .tmp = "udbench-Ab12Cd", .seed = 7};
    ls_run head = {.llc = 20, .tmp = "udbench-Qq11Ww", .seed = 9, .group_scale = {1, 2, 1, 1}};
    rp_cmp *c = ls_compare(&base, &head);
    assert_int_equal(confident(c), 0);
    const rp_cmp_item *it = item_of(c, "lmdb:", "2");
    assert_true(fabs(it->shift + log(2)) < 0.05);
    assert_true(fabs(it->ratio - 1) < 0.05);
    rp_cmp_free(c);
}

/* The sqlite cell's batches ran in the fast cache regime in one run and the slow one in the
 * other: its change may be the machine's, and it gets no verdict, however large. */
static void test_compare_machine_moved(void **state) {
    (void)state;
    ls_run base = {.llc = 20, .tmp = "udbench-Ab12Cd", .seed = 7};
    ls_run head = {.llc = 20,
                   .tmp = "udbench-Qq11Ww",
                   .seed = 9,
                   .sqlite = 0.1,
                   .sqlite_llc = 20 * RP_PROBE_SLOW_RATIO};
    rp_cmp *c = ls_compare(&base, &head);
    assert_false(c->machine_differed);
    const rp_cmp_item *it = item_of(c, "sqlite:", "1");
    assert_true(it->machine_moved);
    assert_int_equal(it->verdict, RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(confident(c), 0);
    rp_cmp_free(c);
}

/* Two runs whose paired figures move by 2.5x and more from one to the other (as separate
 * processes do here): a change of 2x is within that, and gets no verdict. */
static void test_compare_run_spread(void **state) {
    (void)state;
    ls_run base = {.llc = 20, .tmp = "udbench-Ab12Cd", .seed = 7};
    ls_run head = {.llc = 20, .tmp = "udbench-Qq11Ww", .seed = 9, .sqlite = 0.25};
    rp_doc *b = ls_doc(&base), *h = ls_doc(&head);
    /* In the other groups, lmdb moved up by 2.5x and memcached down by as much. */
    for (size_t i = 0; i < h->ncells; i++) {
        rp_cell *cell = &h->cells[i];
        bool up = !strcmp(cell->backend, "lmdb:"), down = !strncmp(cell->backend, "memc", 4);
        if (!strcmp(cell->params[0].value, "1") || (!up && !down))
            continue;
        for (size_t k = 0; k < cell->metrics[0].nreps; k++)
            cell->metrics[0].reps[k].ratio *= up ? 2.5 : 1 / 2.5;
        rp_cell_summarise_merit(cell);
    }
    rp_cmp *c = NULL;
    char err[256] = "";
    assert_int_equal(rp_compare_docs(b, h, 0.03, 0.05, &c, NULL, NULL, err, sizeof err), 0);
    assert_true(c->run_spread > 2);
    assert_int_equal(item_of(c, "sqlite:", "1")->verdict, RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(confident(c), 0);
    rp_cmp_free(c);
    rp_doc_free(b);
    rp_doc_free(h);
}

static rp_cmp *fixture_cmp(void) {
    rp_doc *b = load("compare-base.json"), *h = load("compare-head.json");
    rp_cmp *c = rpt_compare_all(b, h);
    rp_doc_free(b);
    rp_doc_free(h);
    return c;
}

static const rp_cmp_item *find(const rp_cmp *c, const char *backend) {
    for (size_t i = 0; i < c->nitems; i++)
        if (!strcmp(c->items[i].backend, backend))
            return &c->items[i];
    fail_msg("no item for %s", backend);
    return NULL;
}

static void test_compare_fixtures(void **state) {
    (void)state;
    rp_cmp *c = fixture_cmp();
    assert_int_equal(c->nitems, 2);
    const rp_cmp_item *ud = find(c, "ultradict:"), *loc = find(c, "local:");
    assert_int_equal(ud->verdict, RP_VERDICT_SLOWER);
    assert_true(fabs(ud->ratio - 1.25) < 1e-9);
    assert_true(ud->ratio_lo > 1.03 && ud->ratio_lo <= 1.25 && ud->ratio_hi >= 1.25);
    assert_true(fabs(ud->confidence - 0.95) < 1e-12);
    assert_int_equal(ud->n_base, 7);
    assert_string_equal(rp_figure_key(ud->merit.figure), "ops_per_sec");
    assert_int_equal(loc->verdict, RP_VERDICT_SAME);
    assert_true(loc->ratio_lo > 1 / 1.03 && loc->ratio_hi < 1.03);
    /* repeat and seed are not part of what is compared, nor of the names */
    for (size_t i = 0; i < ud->nparams; i++)
        assert_true(strcmp(ud->params[i].key, "repeat") != 0 &&
                    strcmp(ud->params[i].key, "seed") != 0);
    assert_int_equal(c->status, RP_GATE_FAIL);
    rp_cmp_free(c);
}

static void test_compare_self_and_margin(void **state) {
    (void)state;
    rp_doc *b = load("compare-base.json"), *h = load("compare-head.json");
    rp_cmp *c = NULL;
    char err[256];
    assert_int_equal(rp_compare_docs(b, b, 0.03, 0.05, &c, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c->status, RP_GATE_PASS);
    assert_true(c->items[0].ratio == 1);
    rp_cmp_free(c);
    /* A margin wider than the slowdown: the 25% is no longer beyond it. */
    assert_int_equal(rp_compare_docs(b, h, 0.5, 0.05, &c, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(find(c, "ultradict:")->verdict, RP_VERDICT_SAME);
    rp_cmp_free(c);
    assert_int_equal(rp_compare_docs(b, h, 0, 0.05, &c, NULL, NULL, err, sizeof err), RP_EINVAL);
    rp_doc_free(b);
    rp_doc_free(h);
}

static void test_compare_refuses_disjoint(void **state) {
    (void)state;
    rp_doc *b = load("minimal.json"), *h = load("compare-head.json");
    rp_cmp *c = NULL;
    char err[256] = "";
    assert_int_equal(rp_compare_docs(b, h, 0.03, 0.05, &c, NULL, NULL, err, sizeof err),
                     RP_ESCHEMA);
    assert_null(c);
    assert_non_null(strstr(err, "share no metric"));
    rp_doc_free(b);
    rp_doc_free(h);
}

/* Three repetitions a side cannot give a 95% interval: inconclusive, never a verdict. */
static void test_compare_too_few(void **state) {
    (void)state;
    rp_doc *b = load("good.json");
    rp_cmp *c = NULL;
    char err[256];
    assert_int_equal(rp_compare_docs(b, b, 0.03, 0.05, &c, NULL, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < c->nitems; i++)
        if (c->items[i].n_base == 3)
            assert_int_equal(c->items[i].verdict, RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(c->status, RP_GATE_INCONCLUSIVE);
    rp_cmp_free(c);
    rp_doc_free(b);
}

static void test_cmp_json_round_trip(void **state) {
    (void)state;
    rp_cmp *c = fixture_cmp();
    rp_cmp_item *it = &c->items[0];
    rp_cmp_pair *p = rp_cmp_item_add_pair(it);
    p->base = 100;
    p->head = 90;
    p->look = 1;
    p->head_first = true;
    rp_set_string(&p->dropped, "canary loop 2.00x its reference");
    it->has_anchors = it->gab110 = true;
    it->utest_p = 0.25;
    rp_cmp *r = rpt_cmp_round_trip(c, "cmp.json");
    assert_int_equal(r->nitems, c->nitems);
    for (size_t i = 0; i < c->nitems; i++) {
        assert_string_equal(r->items[i].backend, c->items[i].backend);
        assert_int_equal(r->items[i].verdict, c->items[i].verdict);
        assert_true(fabs(r->items[i].ratio_lo - c->items[i].ratio_lo) < 1e-6);
        assert_int_equal(r->items[i].nparams, c->items[i].nparams);
    }
    assert_int_equal(r->items[0].npairs, 1);
    assert_string_equal(r->items[0].pairs[0].dropped, "canary loop 2.00x its reference");
    assert_true(r->items[0].pairs[0].head_first && r->items[0].gab110);
    assert_int_equal(r->status, c->status);
    rp_cmp_free(r);
    rp_cmp_free(c);
    /* A results document is not a compare document, and says so. */
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/compare-base.json", RP_FIXTURES);
    assert_int_equal(rp_cmp_read(path, &r, err, sizeof err), RP_ESCHEMA);
    assert_non_null(strstr(err, "udbench/1"));
}

/* The figure of merit comes from the document with its unit, whatever the scenario's name;
 * only documents that name none fall back on the table of older scenarios. */
static void test_merit_from_document(void **state) {
    (void)state;
    rp_cell c = {.scenario = "newscenario"};
    c.merit =
        (rp_merit){.metric = "seen", .figure = RP_FIGURE_P50_NS, .direction = RP_LOWER_IS_BETTER};
    rp_merit m = rp_cmp_merit_of_cell(&c, "seen");
    assert_int_equal(m.figure, RP_FIGURE_P50_NS);
    assert_int_equal(m.direction, RP_LOWER_IS_BETTER);
    assert_string_equal(rp_merit_unit(&m), "ns");
    m = rp_cmp_merit_of_cell(&c, "write"); /* not the merit's operation: a throughput */
    assert_int_equal(m.figure, RP_FIGURE_OPS);
    assert_string_equal(rp_merit_unit(&m), "ops/s");
    c.merit.figure = RP_FIGURE_BYTES_SEC; /* compared as ops/s: the same ratios */
    c.merit.direction = RP_HIGHER_IS_BETTER;
    assert_int_equal(rp_cmp_merit_of_cell(&c, "seen").figure, RP_FIGURE_OPS);
    /* Older documents: the fallback table. */
    assert_int_equal(rp_merit_of("visibility", "visible").figure, RP_FIGURE_P50_NS);
    assert_int_equal(rp_merit_of("count", "get").figure, RP_FIGURE_INSTRUCTIONS);
    assert_int_equal(rp_merit_of("read", "read").direction, RP_HIGHER_IS_BETTER);
    for (int f = RP_FIGURE_OPS; f <= RP_FIGURE_INSTRUCTIONS; f++) {
        assert_int_equal(rp_figure_parse_key(rp_figure_key(f)), f);
        assert_non_null(rp_figure_unit(f));
    }
    assert_null(rp_figure_name(RP_FIGURE_INSTRUCTIONS)); /* no cell of a document has it */
    assert_int_equal(rp_figure_parse_key("bogus"), RP_EINVAL);
    /* A compare document keeps the figure and unit it names, for any scenario. */
    rp_cmp *cmp = NULL;
    assert_int_equal(rp_cmp_new(&cmp), 0);
    rp_cmp_item *it = rp_cmp_add_item(cmp);
    rp_set_string(&it->scenario, "lock");
    rp_set_string(&it->backend, "ultradict:");
    rp_set_string(&it->op, "lock");
    it->merit = (rp_merit){.figure = RP_FIGURE_INSTRUCTIONS, .direction = RP_LOWER_IS_BETTER};
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/cmp-merit.json", RP_SCRATCH);
    assert_int_equal(rp_cmp_write(cmp, path), 0);
    rp_cmp *back = NULL;
    assert_int_equal(rp_cmp_read(path, &back, err, sizeof err), 0);
    assert_int_equal(back->items[0].merit.figure, RP_FIGURE_INSTRUCTIONS);
    assert_int_equal(back->items[0].merit.direction, RP_LOWER_IS_BETTER);
    char *text = rpt_slurp(path, NULL);
    assert_non_null(strstr(text, "\"unit\": \"instr/op\""));
    free(text);
    rp_cmp_free(back);
    rp_cmp_free(cmp);
}

/* Runs an export into memory and parses it as JSON (NULL for XML: then *text is set). */
static json_t *export_json(const rp_doc *d, const rp_cmp *c, int format, char **text) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(d ? rp_export_doc(d, format, f) : rp_export_cmp(c, format, f), 0);
    fclose(f);
    json_t *j = format == RP_EXPORT_JUNIT ? NULL : json_loads(buf, 0, NULL);
    if (format != RP_EXPORT_JUNIT)
        assert_non_null(j);
    if (text)
        *text = buf;
    else
        free(buf);
    return j;
}

static size_t count(const char *s, const char *needle) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void check_gab(json_t *j, const char *unit) {
    assert_true(json_is_array(j) && json_array_size(j) == 2);
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        assert_true(json_is_string(json_object_get(e, "name")));
        assert_string_equal(json_string_value(json_object_get(e, "unit")), unit);
        assert_true(json_is_number(json_object_get(e, "value")));
        assert_true(json_is_string(json_object_get(e, "range")));
        assert_true(json_is_string(json_object_get(e, "extra")));
    }
}

static void check_bmf(json_t *j, const char *measure) {
    assert_true(json_is_object(j) && json_object_size(j) == 2);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        json_t *m = json_object_get(v, measure);
        assert_non_null(m);
        double val = json_number_value(json_object_get(m, "value"));
        assert_true(json_number_value(json_object_get(m, "lower_value")) <= val);
        assert_true(json_number_value(json_object_get(m, "upper_value")) >= val);
    }
}

static void check_gbench(json_t *j, size_t entries) {
    assert_true(json_is_object(json_object_get(j, "context")));
    json_t *b = json_object_get(j, "benchmarks");
    assert_int_equal(json_array_size(b), entries);
    size_t i;
    json_t *e;
    json_array_foreach(b, i, e) {
        assert_true(json_is_string(json_object_get(e, "name")));
        assert_string_equal(json_string_value(json_object_get(e, "run_type")), "iteration");
        assert_string_equal(json_string_value(json_object_get(e, "time_unit")), "ns");
        assert_true(json_number_value(json_object_get(e, "real_time")) > 0);
        assert_true(json_is_number(json_object_get(e, "cpu_time")));
        assert_true(json_is_integer(json_object_get(e, "iterations")));
    }
}

static void test_exports(void **state) {
    (void)state;
    rp_doc *d = load("compare-base.json");
    rp_cmp *c = fixture_cmp();
    /* Each JSON export of the document (even rows) and of its comparison (odd rows). */
    static const struct {
        int format;
        const char *unit; /* gab: the unit; bmf: the measure; gbench: NULL */
        size_t entries;   /* gbench: benchmarks (the document: 2 metrics x 7 reps) */
    } json_exports[] = {
        {RP_EXPORT_GAB_BIGGER, "ops/s", 0},  {RP_EXPORT_GAB_BIGGER, "ops/s", 0},
        {RP_EXPORT_GAB_SMALLER, "ns/op", 0}, {RP_EXPORT_GAB_SMALLER, "ns/op", 0},
        {RP_EXPORT_BMF, "throughput", 0},    {RP_EXPORT_BMF, "throughput", 0},
        {RP_EXPORT_GBENCH, NULL, 14},        {RP_EXPORT_GBENCH, NULL, 2},
    };
    for (size_t i = 0; i < sizeof json_exports / sizeof json_exports[0]; i++) {
        int format = json_exports[i].format;
        json_t *j = i % 2 ? export_json(NULL, c, format, NULL) : export_json(d, NULL, format, NULL);
        if (format == RP_EXPORT_BMF)
            check_bmf(j, json_exports[i].unit);
        else if (format == RP_EXPORT_GBENCH)
            check_gbench(j, json_exports[i].entries);
        else
            check_gab(j, json_exports[i].unit);
        json_decref(j);
    }
    char *xml;
    export_json(NULL, c, RP_EXPORT_JUNIT, &xml);
    assert_int_equal(count(xml, "<testcase "), 2);
    assert_int_equal(count(xml, "<failure "), 1);
    assert_non_null(strstr(xml, "failures=\"1\""));
    free(xml);
    export_json(d, NULL, RP_EXPORT_JUNIT, &xml);
    assert_int_equal(count(xml, "<testcase "), 2);
    assert_int_equal(count(xml, "<failure "), 0);
    free(xml);
    assert_int_equal(rp_export_parse("bmf"), RP_EXPORT_BMF);
    assert_int_equal(rp_export_parse("csv"), RP_EFORMAT);
    rp_cmp_free(c);
    rp_doc_free(d);
}

static void test_reports(void **state) {
    (void)state;
    rp_cmp *c = fixture_cmp();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(rp_cmp_report(c, RP_CMP_MD, f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "**FAIL**"));
    assert_non_null(strstr(buf, "| :x: SLOWER |"));
    assert_non_null(strstr(buf, "+25.0%"));
    free(buf);
    rp_cmp_free(c);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_compare_fixtures),
               cmocka_unit_test(test_uri_matching), cmocka_unit_test(test_compare_paired),
               cmocka_unit_test(test_compare_reference_moved),
               cmocka_unit_test(test_compare_machine_moved),
               cmocka_unit_test(test_compare_run_spread),
               cmocka_unit_test(test_compare_self_and_margin),
               cmocka_unit_test(test_compare_refuses_disjoint),
               cmocka_unit_test(test_compare_too_few), cmocka_unit_test(test_cmp_json_round_trip),
               cmocka_unit_test(test_merit_from_document), cmocka_unit_test(test_exports),
               cmocka_unit_test(test_reports))
