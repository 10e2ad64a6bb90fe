/*
 * test_rp_model.c - the document model: building a document, the summary of repetitions
 * (median for odd and even counts, spread, the noise threshold), parameters, error strings and
 * format names.
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

#include "rp.h"
#include "rp_testutil.h"

/* A metric holding the given ops/s as repetitions. */
static void fill(rp_metric *m, const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rp_rep r = {.ops = 1000, .seconds = 1000 / v[i], .ops_per_sec = v[i], .errors = 0};
        assert_int_equal(rp_metric_add_rep(m, &r), 0);
    }
}

static void test_summarise_odd(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    rp_cell *c = rp_doc_add_cell(d);
    rp_metric *m = rp_cell_add_metric(c, "read");
    /* Out of order on purpose: the median must not depend on the order of the reps. */
    const double v[] = {120, 100, 90, 110, 105};
    fill(m, v, 5);
    rp_metric_summarise(m, 0.5);
    assert_true(m->median == 105);
    assert_true(m->min == 90);
    assert_true(m->max == 120);
    assert_true(fabs(m->spread - 30.0 / 105) < 1e-12);
    assert_false(m->noisy);
    /* The reps keep their recorded order. */
    assert_true(m->reps[0].ops_per_sec == 120 && m->reps[4].ops_per_sec == 105);
    rp_doc_free(d);
}

static void test_summarise_even(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    rp_metric *m = rp_cell_add_metric(rp_doc_add_cell(d), "write");
    const double v[] = {40, 10, 30, 20};
    fill(m, v, 4);
    rp_metric_summarise(m, 0.25);
    assert_true(m->median == 25);
    assert_true(fabs(m->spread - 30.0 / 25) < 1e-12);
    assert_true(m->noisy);
    rp_doc_free(d);
}

static void test_summarise_ties_and_single(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    rp_cell *c = rp_doc_add_cell(d);
    rp_metric *m = rp_cell_add_metric(c, "a");
    const double v[] = {7, 7, 3};
    fill(m, v, 3);
    rp_metric_summarise(m, 1);
    assert_true(m->median == 7);

    rp_metric *one = rp_cell_add_metric(c, "b");
    const double w[] = {42};
    fill(one, w, 1);
    rp_metric_summarise(one, 0);
    assert_true(one->median == 42 && one->min == 42 && one->max == 42);
    assert_true(one->spread == 0);
    assert_false(one->noisy); /* 0 is not above a threshold of 0 */

    rp_metric *none = rp_cell_add_metric(c, "c");
    none->median = 5; /* summarise resets everything */
    rp_metric_summarise(none, 0.1);
    assert_true(none->median == 0 && none->spread == 0 && !none->noisy);
    rp_doc_free(d);
}

static void test_noise_threshold(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    rp_metric *m = rp_cell_add_metric(rp_doc_add_cell(d), "read");
    const double v[] = {90, 100, 110}; /* spread exactly 0.2 */
    fill(m, v, 3);
    rp_metric_summarise(m, 0.2);
    assert_false(m->noisy); /* noisy means strictly above */
    rp_metric_summarise(m, 0.19);
    assert_true(m->noisy);
    rp_metric_summarise(m, 0.25);
    assert_false(m->noisy);
    rp_doc_free(d);
}

/* A median of 0 with work in some repetitions: a finite, noisy spread, never inf or NaN. */
static void test_summarise_zero_median(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    rp_metric *m = rp_cell_add_metric(rp_doc_add_cell(d), "read");
    const double v[] = {0, 0, 6};
    fill(m, v, 3);
    rp_metric_summarise(m, 0.25);
    assert_true(m->median == 0);
    assert_true(isfinite(m->spread));
    assert_true(fabs(m->spread - 3.0) < 1e-12); /* relative to the mean, 2 */
    assert_true(m->noisy);

    rp_metric *z = rp_cell_add_metric(&d->cells[0], "zero");
    const double zero[] = {0, 0};
    fill(z, zero, 2);
    rp_metric_summarise(z, 0.25);
    assert_true(z->spread == 0 && !z->noisy);
    rp_doc_free(d);
}

/* Many elements: the arrays grow, and each element starts zeroed. */
static void test_build_and_params(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    for (int i = 0; i < 100; i++) {
        rp_cell *c = rp_doc_add_cell(d);
        assert_non_null(c);
        assert_null(c->scenario);
        assert_int_equal(c->nmetrics, 0);
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(rp_set_string(&c->scenario, "read"), 0);
        assert_int_equal(rp_cell_add_param(c, "procs", v), 0);
        assert_int_equal(rp_cell_add_param(c, "keys", "10"), 0);
    }
    assert_int_equal(d->ncells, 100);
    assert_string_equal(rp_cell_param(&d->cells[57], "procs"), "57");
    assert_string_equal(rp_cell_param(&d->cells[57], "keys"), "10");
    assert_null(rp_cell_param(&d->cells[57], "nope"));
    assert_null(rp_cell_param(NULL, "procs"));
    assert_int_equal(rp_cell_add_param(&d->cells[0], NULL, "x"), RP_EINVAL);

    rp_backend *b = rp_doc_add_backend(d);
    assert_int_equal(rp_set_string(&b->uri, "local:"), 0);
    assert_int_equal(rp_set_string(&b->uri, "redis://127.0.0.1:1"), 0); /* replaces */
    assert_string_equal(b->uri, "redis://127.0.0.1:1");
    assert_int_equal(rp_set_string(&b->uri, NULL), 0);
    assert_null(b->uri);
    assert_int_equal(rp_set_string(NULL, "x"), RP_EINVAL);
    rp_doc_free(d);
    rp_doc_free(NULL);
}

static void test_strings_and_formats(void **state) {
    (void)state;
    assert_string_equal(rp_strerror(0), "success");
    assert_string_equal(rp_strerror(RP_EPARSE), "the file is not valid JSON");
    assert_string_equal(rp_strerror(RP_EFORMAT), "unknown report format");
    assert_string_equal(rp_strerror(-ENOENT), strerror(ENOENT));
    assert_int_equal(rp_format_parse("text"), RP_FORMAT_TEXT);
    assert_int_equal(rp_format_parse("md"), RP_FORMAT_MD);
    assert_int_equal(rp_format_parse("csv"), RP_FORMAT_CSV);
    assert_int_equal(rp_format_parse("svg"), RP_FORMAT_SVG);
    assert_int_equal(rp_format_parse("html"), RP_EFORMAT);
    assert_int_equal(rp_format_parse(NULL), RP_EFORMAT);
    assert_int_equal(rp_report(NULL, RP_FORMAT_TEXT, stdout), RP_EINVAL);
}

/*
 * The interval of the median against exact values (computed with integer binomials): k is the
 * 1-based rank of its low end, level its coverage. From n = 1,075 on, C(n, i) / 2^n built up
 * from 2^-n underflowed to 0 and the interval collapsed to the two middle values with level 1.
 */
static void test_median_ci_exact(void **state) {
    (void)state;
    static const struct {
        size_t n, k;
        double level;
    } known[] = {{2, 1, 0.5},
                 {5, 1, 0.9375},
                 {6, 1, 0.96875},
                 {10, 2, 0.978515625},
                 {20, 6, 0.9586105346679688},
                 {64, 24, 0.9672342409011768},
                 {100, 40, 0.9647997997822951},
                 {1074, 505, 0.952728117567383},
                 {1075, 505, 0.9559335206201514},
                 {2000, 956, 0.9534471795082162},
                 {10000, 4902, 0.9511670501036181}};
    for (size_t t = 0; t < sizeof known / sizeof known[0]; t++) {
        size_t n = known[t].n;
        double *v = malloc(n * sizeof *v), med, lo, hi, level;
        assert_non_null(v);
        for (size_t i = 0; i < n; i++)
            v[i] = (double)((i * 7919) % n) + 1; /* 1..n, shuffled */
        rp_median_ci(v, n, &med, &lo, &hi, &level);
        assert_float_equal(lo, (double)known[t].k, 0);
        assert_float_equal(hi, (double)(n + 1 - known[t].k), 0);
        assert_float_equal(level, known[t].level, 1e-9);
        assert_float_equal(med, (double)(n + 1) / 2, 0);
        free(v);
    }
}

/* Far past the exact table: the interval is the normal approximation's, n/2 -+ 0.98 sqrt(n),
 * and its coverage lies just above 95%. A summary of that many repetitions (a document made in
 * memory; the reader refuses more than RP_MAX_REPS) is linear in n. */
static void test_median_ci_huge(void **state) {
    (void)state;
    size_t n = 300000;
    rp_metric m = {0};
    for (size_t i = 0; i < n; i++) {
        rp_rep r = {.ops = 1, .seconds = 1, .ops_per_sec = (double)((i * 7919) % n) + 1};
        assert_int_equal(rp_metric_add_rep(&m, &r), 0);
    }
    rp_metric_summarise(&m, 0.1);
    double k = (double)n / 2 - 0.98 * sqrt((double)n);
    assert_true(fabs(m.ci_low - k) < 3);
    assert_true(fabs(m.ci_high - ((double)n + 1 - k)) < 3);
    assert_true(m.ci_level >= 0.95 && m.ci_level < 0.951);
    assert_float_equal(m.median, (double)(n + 1) / 2, 0);
    free(m.reps);
}

/* The buckets of a dense histogram: the non-empty ones in index order, owned by the document
 * (replacing them frees the old ones: the ASan build checks), the metric unchanged on refusal. */
static void test_set_buckets(void **state) {
    (void)state;
    rp_doc *d = rpt_doc_new();
    rp_metric *m = rp_cell_add_metric(rp_doc_add_cell(d), "read");
    uint64_t dense[300] = {0};
    dense[0] = 3;
    dense[17] = 1;
    dense[299] = 5;
    assert_int_equal(rp_metric_set_buckets(m, dense, 300), 0);
    assert_int_equal(m->nbuckets, 3);
    assert_true(m->buckets[0].index == 0 && m->buckets[0].count == 3);
    assert_true(m->buckets[1].index == 17 && m->buckets[1].count == 1);
    assert_true(m->buckets[2].index == 299 && m->buckets[2].count == 5);
    /* Replaced, not appended. */
    uint64_t other[4] = {0, 0, 9, 0};
    assert_int_equal(rp_metric_set_buckets(m, other, 4), 0);
    assert_int_equal(m->nbuckets, 1);
    assert_true(m->buckets[0].index == 2 && m->buckets[0].count == 9);
    /* Refusals leave the buckets as they were. */
    assert_int_equal(rp_metric_set_buckets(NULL, other, 4), RP_EINVAL);
    assert_int_equal(rp_metric_set_buckets(m, NULL, 4), RP_EINVAL);
    uint64_t *wide = calloc(7425, sizeof *wide);
    assert_non_null(wide);
    wide[7424] = 1; /* one past the scheme's last bucket */
    assert_int_equal(rp_metric_set_buckets(m, wide, 7425), RP_EINVAL);
    assert_int_equal(m->nbuckets, 1);
    assert_true(m->buckets[0].index == 2);
    wide[7424] = 0;
    wide[7423] = 1; /* the scheme's last bucket */
    assert_int_equal(rp_metric_set_buckets(m, wide, 7425), 0);
    assert_true(m->nbuckets == 1 && m->buckets[0].index == 7423);
    free(wide);
    /* An empty histogram: no buckets. */
    assert_int_equal(rp_metric_set_buckets(m, NULL, 0), 0);
    assert_int_equal(m->nbuckets, 0);
    assert_int_equal(rp_metric_set_buckets(m, other, 2), 0);
    assert_int_equal(m->nbuckets, 0);
    rp_doc_free(d);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_summarise_odd),
               cmocka_unit_test(test_summarise_even),
               cmocka_unit_test(test_summarise_ties_and_single),
               cmocka_unit_test(test_noise_threshold), cmocka_unit_test(test_summarise_zero_median),
               cmocka_unit_test(test_build_and_params), cmocka_unit_test(test_strings_and_formats),
               cmocka_unit_test(test_median_ci_exact), cmocka_unit_test(test_median_ci_huge),
               cmocka_unit_test(test_set_buckets))
