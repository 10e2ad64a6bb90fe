/*
 * test_rp_probe.c - the machine's state in a udbench/3 document: each batch's cache regime
 * from the probe and the document's own threshold, and the paired summary of a lockstep cell.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rp.h"
#include "rp_testutil.h"

/* A run writes the threshold it classified its batches by, and a reader checks each batch's
 * regime against the document's own threshold: a document of the first probe (no
 * probe_slow_ratio: 10 compute iterations per step) still reads, and one whose regimes do not
 * follow from its threshold does not. */
static void test_probe_threshold(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/lockstep.json");
    assert_true(d->run.probe_slow_ratio == RP_PROBE_SLOW_RATIO_COLD);
    /* 12 iterations per step: slow by the first probe's threshold, fast by today's. */
    rp_rep *r = &d->cells[0].metrics[0].reps[0];
    r->probe_before = (rp_probe){24, 5, 2};
    r->probe_after = (rp_probe){24, 5, 2};
    /* As a run made now: no threshold of its own, every batch classified by today's. */
    d->run.probe_slow_ratio = 0;
    for (size_t i = 0; i < d->ncells; i++)
        for (size_t o = 0; o < d->cells[i].nmetrics; o++)
            for (size_t k = 0; k < d->cells[i].metrics[o].nreps; k++)
                d->cells[i].metrics[o].reps[k].regime = RP_REGIME_NONE;
    assert_int_equal(rp_rep_regime(r), RP_REGIME_FAST);
    char path[] = "/tmp/test_rp_json_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[512] = "";
    if (rp_doc_check(d, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(rp_doc_write(d, path), 0);
    rp_doc_free(d);
    d = rpt_read_ok(path);
    assert_true(d->run.probe_slow_ratio == RP_PROBE_SLOW_RATIO);
    assert_int_equal(rp_rep_regime(&d->cells[0].metrics[0].reps[0]), RP_REGIME_FAST);
    rp_doc_free(d);
    /* The same document claiming the first probe's threshold: its "fast" is not the probes'. */
    size_t n;
    char *text = rpt_slurp(path, &n);
    char *at = strstr(text, "\"probe_slow_ratio\": ");
    assert_non_null(at);
    at += strlen("\"probe_slow_ratio\": ");
    assert_true(at[0] == '1' && at[1] == '8');
    at[1] = '0';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
    free(text);
    d = NULL;
    assert_int_equal(rp_doc_read(path, &d, err, sizeof err), RP_ESCHEMA);
    assert_non_null(strstr(err, "regime: is not the probes' (slow, not fast)"));
    unlink(path);
}

/* The regime of a probe, and of a stretch from two probes. */
static void test_regime(void **state) {
    (void)state;
    rp_probe fast = {20, 4, 2}, slow = {150, 12, 2}, none = {0, 0, 0};
    assert_int_equal(rp_probe_regime(&fast), RP_REGIME_FAST);
    assert_int_equal(rp_probe_regime(&slow), RP_REGIME_SLOW);
    assert_int_equal(rp_probe_regime(&none), RP_REGIME_NONE);
    rp_probe edge = {2 * RP_PROBE_SLOW_RATIO, 1, 2};
    assert_int_equal(rp_probe_regime(&edge), RP_REGIME_FAST);
    rp_rep r = {0};
    assert_int_equal(rp_rep_regime(&r), RP_REGIME_NONE);
    r.probe_before = fast;
    assert_int_equal(rp_rep_regime(&r), RP_REGIME_FAST);
    r.probe_after = slow;
    assert_int_equal(rp_rep_regime(&r), RP_REGIME_CHANGED);
    r.probe_before = slow;
    assert_int_equal(rp_rep_regime(&r), RP_REGIME_SLOW);
    assert_string_equal(rp_regime_name(RP_REGIME_CHANGED), "changed");
    assert_null(rp_regime_name(RP_REGIME_NONE));
}

/* The paired figure of a merit is the median of its repetitions' ratios, with the interval of
 * rp_median_ci(), over the rounds that have a ratio only. */
static void test_paired_summary(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/lockstep.json");
    rp_cell *c = NULL;
    for (size_t i = 0; i < d->ncells && !c; i++)
        if (d->cells[i].merit.reference &&
            strcmp(d->cells[i].merit.reference, d->cells[i].backend) != 0)
            c = &d->cells[i];
    assert_non_null(c);
    rp_metric *m = &c->metrics[0];
    assert_string_equal(m->op, c->merit.metric);
    double v[8] = {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0};
    size_t n = m->nreps < 8 ? m->nreps : 8;
    for (size_t k = 0; k < m->nreps; k++)
        m->reps[k].ratio = k < n - 1 ? v[k] : 0; /* the last round has no pair */
    rp_cell_summarise_merit(c);
    double med, lo, hi, level;
    rp_median_ci(v, n - 1, &med, &lo, &hi, &level);
    assert_true(c->merit.ratio == med && c->merit.ratio_low == lo && c->merit.ratio_high == hi);
    char err[512];
    assert_int_equal(rp_doc_check(d, err, sizeof err), 0);
    c->merit.ratio *= 1.5;
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_ESCHEMA);
    assert_non_null(strstr(err, "paired"));
    rp_doc_free(d);
}

/* A figure of merit that does not follow from the repetitions is refused. */

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_regime), cmocka_unit_test(test_probe_threshold),
               cmocka_unit_test(test_paired_summary))
