/*
 * test_rp_compare_ls.c - udbench compare of two lockstep runs: the reference of a paired figure
 * is matched by its backend's identity (as every other backend of compare is), and the compare
 * document in JSON carries what the text report shows for a verdict (the run-to-run spread,
 * the probes' agreement, an item's group shift and "machine moved").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"
#include "rp_testutil.h"
#include "rp_compare.h"
#include "rp_stats.h"

enum { ROUNDS = 30, GROUPS = 4, BACKENDS = 5 };

/* One run: the reference's URI and identity, a scale of every ratio of group 2 (its reference
 * ran slower or faster), and the LLC chase of the sqlite cell of group 1 (its cache regime). */
typedef struct run {
    const char *ref_uri, *ref_id;
    double group2_scale, sqlite_llc;
    uint64_t seed;
} run;

/* A cell of `uri` (identity `id`) in group `procs`, paired against `ref` at `ratio` (times a
 * wobble of up to 1% per round), its batches probed at `llc` ns against 2 ns of compute. */
static void add_cell(rp_doc *d, const char *uri, const char *id, const char *ref, int procs,
                     double ratio, double llc, uint64_t seed) {
    rp_metric *m;
    rp_cell *c = rpt_read_cell(d, uri, procs, &m);
    rp_set_string(&c->backend_id, id);
    c->backend_role = strcmp(uri, ref) ? RP_ROLE_STORE : RP_ROLE_BASELINE;
    for (int k = 0; k < ROUNDS; k++) {
        /* The seed advances for the baseline too, so the stores' draws do not depend on it. */
        double wobble = rpt_wobble(&seed);
        double w = strcmp(uri, ref) ? wobble : 1;
        rp_rep r = {.ops = 1000000,
                    .seconds = 1 / (ratio * w),
                    .ops_per_sec = 1e6 * ratio * w,
                    .round = k,
                    .probe_before = {llc, 5, 2},
                    .probe_after = {llc, 5, 2},
                    .ratio = ratio * w};
        assert_int_equal(rp_metric_add_rep(m, &r), 0);
    }
    rp_metric_summarise(m, 0.25);
    rp_set_string(&c->merit.reference, ref);
    rp_cell_summarise_merit(c);
}

static rp_doc *run_doc(const run *r) {
    rp_doc *d;
    assert_int_equal(rp_doc_new(&d), 0);
    d->run.lockstep = true;
    rp_set_string(&d->run.started, "2026-12-08T00:00:00Z");
    const char *uris[BACKENDS] = {r->ref_uri, "sqlite:/data/u.sqlite", "ultradict:", "redis://db:1",
                                  "memcached://db:2"};
    const char *ids[BACKENDS] = {r->ref_id, "sqlite:/data/u.sqlite", "ultradict:", "redis://db:*",
                                 "memcached://db:*"};
    static const double ratios[BACKENDS] = {1, 0.5, 3, 0.02, 0.01};
    for (int g = 0; g < GROUPS; g++)
        for (int b = 0; b < BACKENDS; b++) {
            double scale = b && g == 1 && r->group2_scale > 0 ? r->group2_scale : 1;
            double llc = g == 0 && b == 1 && r->sqlite_llc > 0 ? r->sqlite_llc : 20;
            add_cell(d, uris[b], ids[b], r->ref_uri, g + 1, ratios[b] * scale, llc,
                     r->seed + (uint64_t)(g * 8 + b));
        }
    return d;
}

static rp_cmp *compare(const run *base, const run *head) {
    rp_doc *b = run_doc(base), *h = run_doc(head);
    rp_cmp *c = rpt_compare_all(b, h);
    rp_doc_free(b);
    rp_doc_free(h);
    return c;
}

static const rp_cmp_item *item(const rp_cmp *c, const char *backend, const char *procs) {
    for (size_t i = 0; i < c->nitems; i++)
        if (!strncmp(c->items[i].backend, backend, strlen(backend)) &&
            !strcmp(c->items[i].params[0].value, procs))
            return &c->items[i];
    fail_msg("no item %s procs=%s", backend, procs);
    return NULL;
}

/* The reference is an LMDB store whose folder is the run's own temporary one: the two URIs
 * differ in a temporary path the URI alone does not show as one (the folder is the last part),
 * while the adapter's identity says they are the same backend. Every store's figure is paired
 * in both runs against it (before: matched by the URI, and none was). */
static void test_reference_by_identity(void **state) {
    (void)state;
    run base = {"lmdb:/tmp/udbench-Ab12Cd", "lmdb:/tmp/*", 0, 0, 7};
    run head = {"lmdb:/tmp/udbench-Zz99Yy", "lmdb:/tmp/*", 0, 0, 9};
    rp_cmp *c = compare(&base, &head);
    assert_true(c->paired);
    assert_int_equal(c->nitems, GROUPS * BACKENDS);
    size_t gated = 0;
    for (size_t i = 0; i < c->nitems; i++)
        gated += c->items[i].gated;
    assert_int_equal(gated, GROUPS * (BACKENDS - 1));
    assert_true(item(c, "sqlite:", "1")->confidence > 0);
    rp_cmp_free(c);
    /* Another identity of the reference is another reference: nothing is paired. */
    head.ref_id = "lmdb:/srv/*";
    head.ref_uri = "lmdb:/srv/udbench-Zz99Yy";
    base.ref_uri = "lmdb:/tmp/udbench-Ab12Cd";
    rp_doc *b = run_doc(&base), *h = run_doc(&head);
    char err[256] = "";
    assert_int_equal(rp_compare_docs(b, h, 0.03, 0.05, &c, NULL, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < c->nitems; i++)
        assert_false(c->items[i].gated);
    rp_cmp_free(c);
    rp_doc_free(b);
    rp_doc_free(h);
}

/* The JSON of c, parsed. */
static json_t *to_json(const rp_cmp *c) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    assert_int_equal(rp_cmp_report(c, RP_CMP_JSON, f), 0);
    fclose(f);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    assert_non_null(j);
    return j;
}

static json_t *json_item(json_t *j, const char *backend, const char *procs) {
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(j, "comparisons"), i, o) {
        const char *b = json_string_value(json_object_get(o, "backend"));
        const char *p = json_string_value(json_object_get(json_object_get(o, "params"), "procs"));
        if (b && p && !strncmp(b, backend, strlen(backend)) && !strcmp(p, procs))
            return o;
    }
    fail_msg("no JSON item %s procs=%s", backend, procs);
    return NULL;
}

/* The JSON says what the text report does: the group's shift of every item of group 2 (whose
 * reference ran twice as slow in the head run: every ratio doubled, the cost halved), the
 * sqlite cell whose batches ran in the slow regime in the head run ("machine moved"), the
 * run-to-run spread and the probes' agreement; and it reads back. */
static void test_json_fields(void **state) {
    (void)state;
    run base = {"local:", "local:", 0, 0, 7};
    run head = {"local:", "local:", 2, 20 * RP_PROBE_SLOW_RATIO, 9};
    rp_cmp *c = compare(&base, &head);
    assert_true(c->run_spread >= 1);
    json_t *j = to_json(c);
    json_t *spread = json_object_get(j, "run_spread");
    assert_true(json_is_number(spread));
    assert_true(fabs(json_number_value(spread) - c->run_spread) < 1e-6);
    json_t *m = json_object_get(j, "machine");
    assert_true(json_is_false(json_object_get(m, "differed")));
    assert_true(json_number_value(json_object_get(m, "base_llc_iterations")) > 0);
    json_t *moved = json_item(j, "sqlite:", "1"), *shifted = json_item(j, "redis:", "2");
    assert_true(json_is_true(json_object_get(moved, "machine_moved")));
    assert_string_equal(json_string_value(json_object_get(moved, "shown_verdict")),
                        "machine moved");
    assert_true(json_is_false(json_object_get(shifted, "machine_moved")));
    assert_true(fabs(json_number_value(json_object_get(shifted, "shift")) - 0.5) < 0.02);
    assert_true(fabs(json_number_value(json_object_get(json_item(j, "redis:", "3"), "shift")) - 1) <
                0.02);
    assert_string_equal(
        json_string_value(json_object_get(json_item(j, "local:", "1"), "shown_verdict")),
        "not paired");
    /* Read back: the same fields. */
    rp_cmp *back = rpt_cmp_round_trip(c, "compare_ls.json");
    assert_true(back->paired && !back->machine_differed);
    assert_true(fabs(back->run_spread - c->run_spread) < 1e-6);
    assert_true(fabs(back->machine_base - c->machine_base) < 1e-6);
    assert_true(item(back, "sqlite:", "1")->machine_moved);
    assert_true(fabs(item(back, "redis:", "2")->shift - item(c, "redis:", "2")->shift) < 1e-6);
    rp_cmp_free(back);
    json_decref(j);
    rp_cmp_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_by_identity),
        cmocka_unit_test(test_json_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
