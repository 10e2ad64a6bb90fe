/* test_rp_stats.c - the statistics of the gate against known values: sign-test order
 * statistics, exact Mann-Whitney, Holm, verdicts, and change points on synthetic series. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include "rp_stats.h"

static void test_binomial(void **state) {
    (void)state;
    assert_true(fabs(rp_binom_half_cdf(0, 10) - 1.0 / 1024) < 1e-12);
    assert_true(fabs(rp_binom_half_cdf(1, 10) - 11.0 / 1024) < 1e-12);
    assert_true(fabs(rp_binom_half_cdf(2, 10) - 56.0 / 1024) < 1e-12);
    assert_true(fabs(rp_binom_half_cdf(5, 10) - 638.0 / 1024) < 1e-12);
    assert_true(rp_binom_half_cdf(-1, 10) == 0);
    assert_true(rp_binom_half_cdf(10, 10) == 1);
}

/* Textbook ranks of the distribution-free interval for a median (e.g. Conover, table A3). */
static void test_sign_ranks(void **state) {
    (void)state;
    assert_int_equal(rp_sign_rank(10, 0.025), 2);   /* 95%: [d(2), d(9)], 97.85% */
    assert_int_equal(rp_sign_rank(20, 0.025), 6);   /* 95%: [d(6), d(15)], 95.86% */
    assert_int_equal(rp_sign_rank(5, 0.025), 0);    /* 5 pairs cannot reach 95% */
    assert_int_equal(rp_sign_rank(6, 0.025), 1);    /* 1/64 <= 0.025 */
    assert_int_equal(rp_sign_rank(100, 0.025), 40); /* P(B <= 39) = 0.0176, P(B <= 40) = 0.028 */
    double d[20], lo, hi, cov;
    for (int i = 0; i < 20; i++)
        d[i] = i + 1;
    assert_int_equal(rp_sign_interval(d, 20, 0.05, &lo, &hi, &cov), 0);
    assert_true(lo == 6 && hi == 15);
    assert_true(fabs(cov - (1 - 2 * 0.020694732666015625)) < 1e-9);
    assert_int_equal(rp_sign_interval(d, 5, 0.05, &lo, &hi, &cov), -1);
    assert_true(isinf(lo) && isinf(hi) && cov == 0);
}

static void test_sign_p(void **state) {
    (void)state;
    double d[12] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, -1};
    /* 11 of 12 above 0: P(B >= 11) = 13/4096. */
    assert_true(fabs(rp_sign_p_above(d, 12, 0) - 13.0 / 4096) < 1e-12);
    assert_true(fabs(rp_sign_p_below(d, 12, 0) - (1 - 1.0 / 4096)) < 1e-12);
    /* Values equal to the threshold do not count: 11 left, 10 above 0.1... */
    assert_true(fabs(rp_sign_p_above(d, 12, 0.1) - 12.0 / 2048) < 1e-12);
    /* The duality with the order statistic: reject at level a iff d(r) > t. */
    double s[12] = {-1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1};
    for (int step = 0; step < 54; step++) {
        double t = -1.5 + 0.05 * step, a = 0.02;
        int r = rp_sign_rank(12, a);
        bool by_bound = r > 0 && s[r - 1] > t;
        assert_int_equal(rp_sign_p_above(s, 12, t) <= a, by_bound);
    }
}

static void test_holm(void **state) {
    (void)state;
    double p[4] = {0.01, 0.04, 0.03, 0.005};
    bool r[4];
    rp_holm(p, 4, 0.05, r);
    /* 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: stop. */
    assert_true(r[0] && !r[1] && !r[2] && r[3]);
    double q[3] = {0.001, 0.02, 0.04};
    rp_holm(q, 3, 0.05, r);
    assert_true(r[0] && r[1] && r[2]); /* 0.001 <= 1/60, 0.02 <= 0.025, 0.04 <= 0.05 */
    double z[2] = {0.5, 0.001};
    rp_holm(z, 2, 0.05, r);
    assert_true(!r[0] && r[1]);
    rp_holm(z, 0, 0.05, r); /* nothing to do, no crash */
}

static void test_verdict(void **state) {
    (void)state;
    double m = log1p(0.03);
    assert_int_equal(rp_verdict(0.05, 0.10, m), RP_VERDICT_SLOWER);
    assert_int_equal(rp_verdict(-0.10, -0.05, m), RP_VERDICT_FASTER);
    assert_int_equal(rp_verdict(-0.01, 0.02, m), RP_VERDICT_SAME);
    assert_int_equal(rp_verdict(-0.01, 0.05, m), RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(rp_verdict(-INFINITY, INFINITY, m), RP_VERDICT_INCONCLUSIVE);
    /* Past the margin on the good side only: not the same. */
    assert_int_equal(rp_verdict(-0.05, 0.01, m), RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(rp_verdict_not_slower(-0.05, 0.01, m), RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(rp_verdict_not_slower(-0.01, 0.01, m), RP_VERDICT_SAME);
    assert_int_equal(rp_verdict_not_slower(-0.10, -0.05, m), RP_VERDICT_FASTER);
    assert_string_equal(rp_verdict_name(RP_VERDICT_SLOWER), "slower");
    assert_int_equal(rp_verdict_parse("inconclusive"), RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(rp_verdict_parse("bogus"), -1);
    assert_null(rp_verdict_name(7));
}

static void test_mann_whitney(void **state) {
    (void)state;
    double x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {7, 8, 9, 10, 11, 12};
    /* Complete separation of 6 against 6: two-sided p = 2 / C(12, 6) = 2/924. */
    assert_true(fabs(rp_mw_p_two_sided(x, 6, y, 6) - 2.0 / 924) < 1e-12);
    /* 3 against 3 can never go below 2/20 = 0.1: what compare.py users run into. */
    assert_true(fabs(rp_mw_p_two_sided(x, 3, y, 3) - 0.1) < 1e-12);
    assert_true(rp_mw_p_two_sided(x, 6, x, 6) > 0.99);
    double lo, hi, est;
    /* 6 against 6 at 95%: k = 6 (P(U <= 5) = 19/924 <= 0.025 < P(U <= 6) = 30/924). The 36
     * differences y - x are 1..11; sorted, the 6th is 3 and the 31st is 9. */
    assert_int_equal(rp_mw_shift_interval(x, 6, y, 6, 0.05, &lo, &hi, &est), 0);
    assert_true(lo == 3 && hi == 9 && est == 6);
    assert_int_equal(rp_mw_shift_interval(x, 3, y, 3, 0.05, &lo, &hi, &est), -1);
    assert_true(isinf(lo) && isinf(hi));
}

static void test_changepoints(void **state) {
    (void)state;
    double x[30];
    for (int i = 0; i < 30; i++)
        x[i] = (i < 18 ? 1.0 : 1.25) + 0.01 * ((i * 7) % 5 - 2);
    rp_change ch[8];
    size_t n;
    assert_int_equal(rp_changepoints(x, 30, 3, 0.01, 199, 1, ch, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ch[0].index, 18);
    assert_true(ch[0].after - ch[0].before > 0.2);
    /* Two steps: both found, in order. */
    for (int i = 0; i < 30; i++)
        x[i] = (i < 10 ? 1.0 : i < 20 ? 1.3 : 0.9) + 0.01 * ((i * 7) % 5 - 2);
    assert_int_equal(rp_changepoints(x, 30, 3, 0.01, 199, 1, ch, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ch[0].index, 10);
    assert_int_equal(ch[1].index, 20);
    /* Noise without a change: nothing (the same seed always gives the same answer). */
    for (int i = 0; i < 30; i++)
        x[i] = 1.0 + 0.05 * ((i * 7919) % 11 - 5) / 5.0;
    assert_int_equal(rp_changepoints(x, 30, 3, 0.01, 199, 1, ch, 8, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rp_changepoints(x, 30, 0, 0.01, 199, 1, ch, 8, &n), -1);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_binomial), cmocka_unit_test(test_sign_ranks),
               cmocka_unit_test(test_sign_p), cmocka_unit_test(test_holm),
               cmocka_unit_test(test_verdict), cmocka_unit_test(test_mann_whitney),
               cmocka_unit_test(test_changepoints))
