/* test_hist.c - the log-linear histogram and the random generators of udbench. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include "hist.h"
#include "rng.h"

static void test_index_round_trip(void **state) {
    (void)state;
    /* Exact below 256; every value lands in a bucket whose range holds it. */
    for (uint64_t v = 0; v < 256; v++)
        assert_int_equal(sc_hist_bucket_low(sc_hist_index(v)), v);
    sc_rng r;
    sc_rng_seed(&r, 42);
    for (int i = 0; i < 100000; i++) {
        uint64_t v = sc_rng_next(&r) >> (sc_rng_next(&r) % 40 + 17);
        uint32_t idx = sc_hist_index(v);
        assert_true(idx < SC_HIST_BUCKETS);
        uint64_t lo = sc_hist_bucket_low(idx);
        uint64_t hi = idx + 1 < SC_HIST_BUCKETS ? sc_hist_bucket_low(idx + 1) : UINT64_MAX;
        assert_true(lo <= v);
        assert_true(v < hi);
        /* A bucket is at most 1/128 of its values wide. */
        if (v >= 256)
            assert_true((double)(hi - lo) <= (double)lo / 128.0 + 1e-9);
    }
}

static void test_quantiles(void **state) {
    (void)state;
    sc_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    sc_hist_reset(h);
    for (uint64_t v = 1; v <= 100; v++)
        sc_hist_add(h, v, 1);
    assert_int_equal(h->count, 100);
    assert_true(fabs(sc_hist_quantile(h, 0.5) - 50) < 0.5);
    assert_true(fabs(sc_hist_quantile(h, 0.99) - 99) < 0.5);
    assert_true(fabs(sc_hist_quantile(h, 1.0) - 100) < 0.5);
    assert_true(fabs(sc_hist_mean(h) - 50.5) < 1e-9);

    /* Large values: within the bucket error of the true quantile. */
    sc_hist_reset(h);
    for (uint64_t v = 1; v <= 100000; v++)
        sc_hist_add(h, v * 1000, 1);
    double p50 = sc_hist_quantile(h, 0.5), p999 = sc_hist_quantile(h, 0.999);
    assert_true(fabs(p50 - 50000000.0) / 50000000.0 < 0.01);
    assert_true(fabs(p999 - 99900000.0) / 99900000.0 < 0.01);
    free(h);
}

static void test_merge_is_addition(void **state) {
    (void)state;
    sc_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(all);
    sc_hist_reset(a);
    sc_hist_reset(b);
    sc_hist_reset(all);
    sc_rng r;
    sc_rng_seed(&r, 7);
    for (int i = 0; i < 5000; i++) {
        uint64_t v = sc_rng_below(&r, 1000000);
        sc_hist_add(i % 3 ? a : b, v, 2);
        sc_hist_add(all, v, 2);
    }
    sc_hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->buckets, all->buckets, sizeof a->buckets);
    assert_true(sc_hist_quantile(a, 0.9) == sc_hist_quantile(all, 0.9));
    free(a);
    free(b);
    free(all);
}

/* The difference of two states of one histogram is the histogram of what was added between. */
static void test_diff_is_what_was_added(void **state) {
    (void)state;
    static sc_hist before, after, want, got;
    sc_hist_reset(&before);
    sc_hist_add(&before, 100, 50);
    sc_hist_add(&before, 90000, 3);
    after = before;
    sc_hist_reset(&want);
    const uint64_t added[] = {120, 130, 5000, 5100, 2000000};
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
        sc_hist_add(&after, added[i], 2);
        sc_hist_add(&want, added[i], 2);
    }
    sc_hist_diff(&got, &after, &before);
    assert_int_equal(got.count, want.count);
    assert_int_equal(got.sum, want.sum);
    assert_memory_equal(got.buckets, want.buckets, sizeof want.buckets);
    assert_true(got.min <= 120 && got.max >= 2000000);
    assert_true(sc_hist_quantile(&got, 0.5) == sc_hist_quantile(&want, 0.5));
    sc_hist_diff(&got, &after, &after);
    assert_int_equal(got.count, 0);
}

/* Shuffles are permutations, and differ from seed to seed. */
static void test_shuffle_is_a_permutation(void **state) {
    (void)state;
    sc_rng r;
    sc_rng_seed(&r, 5);
    size_t a[16], b[16];
    sc_rng_shuffle(&r, a, 16);
    sc_rng_shuffle(&r, b, 16);
    bool seen[16] = {false};
    for (size_t i = 0; i < 16; i++)
        seen[a[i]] = true;
    for (size_t i = 0; i < 16; i++)
        assert_true(seen[i]);
    assert_true(memcmp(a, b, sizeof a) != 0);
}

static void test_rng_repeatable_and_zipf_skewed(void **state) {
    (void)state;
    sc_rng a, b;
    sc_rng_seed(&a, 99);
    sc_rng_seed(&b, 99);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sc_rng_next(&a), sc_rng_next(&b));
    for (int i = 0; i < 10000; i++)
        assert_true(sc_rng_below(&a, 17) < 17);

    sc_zipf z;
    sc_zipf_init(&z, 10000, 0.99);
    uint64_t *hits = calloc(10000, sizeof *hits);
    assert_non_null(hits);
    for (int i = 0; i < 200000; i++) {
        uint64_t k = sc_zipf_next(&z, &a);
        assert_true(k < 10000);
        hits[k]++;
    }
    /* With theta 0.99 the hottest key takes about a tenth of all accesses; uniform would
     * give it 1/10000. */
    uint64_t top = 0;
    for (int i = 0; i < 10000; i++)
        if (hits[i] > top)
            top = hits[i];
    assert_true(top > 200000 / 50);
    free(hits);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_index_round_trip),
               cmocka_unit_test(test_quantiles), cmocka_unit_test(test_merge_is_addition),
               cmocka_unit_test(test_diff_is_what_was_added),
               cmocka_unit_test(test_shuffle_is_a_permutation),
               cmocka_unit_test(test_rng_repeatable_and_zipf_skewed))
