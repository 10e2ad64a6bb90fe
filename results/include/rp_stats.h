/*
 * rp_stats.h - the statistics of comparisons: exact distribution-free intervals for a median
 * (sign test) and for a shift (Mann-Whitney / Hodges-Lehmann), Holm's step-down correction,
 * the three-way verdict against a margin, and change points over a series.
 *
 * Every function is pure: inputs are borrowed, nothing is allocated that outlives the call.
 * Values are log cost ratios where the caller wants ratios: d = ln(head cost / base cost), so
 * d > 0 is slower and a margin of 3% is delta = ln(1.03).
 */
#ifndef RP_STATS_H
#define RP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* P(B <= k) for B ~ Binomial(n, 1/2), exact (0 for k < 0, 1 for k >= n). */
double rp_binom_half_cdf(int k, int n);

/*
 * The sign test's order statistic: the largest r in 1..n with P(B <= r - 1) <= a, B ~
 * Binomial(n, 1/2), or 0 when even r = 1 does not reach (n too small for level a). For sorted
 * d_(1) <= ... <= d_(n) of continuous values with median m, P(d_(r) > m) = P(B <= r - 1) <= a
 * whatever their distribution, so d_(r) is an exact one-sided lower bound at level 1 - a.
 */
int rp_sign_rank(int n, double a);

/*
 * Two-sided interval for the median of `sorted` (ascending, n values) at confidence >= 1 -
 * alpha: [d_(r), d_(n+1-r)] with r = rp_sign_rank(n, alpha / 2). Sets *coverage to the exact
 * coverage 1 - 2 P(B <= r - 1). Returns 0, or -1 (and an infinite interval, coverage 0) when n is
 * too small for the level.
 */
int rp_sign_interval(const double *sorted, int n, double alpha, double *lo, double *hi,
                     double *coverage);

/*
 * One-sided sign-test p-values against a threshold t, over n values: p_above tests H0 "median
 * <= t" against "median > t" (P(B >= #{d > t}) over the values not equal to t); p_below tests
 * H0 "median >= t" against "median < t". Rejecting p_above at level a is the same event as the
 * order-statistic lower bound d_(r) of rp_sign_rank(n, a) lying above t.
 */
double rp_sign_p_above(const double *d, int n, double t);
double rp_sign_p_below(const double *d, int n, double t);

/* Holm's step-down procedure at family level alpha over m p-values: reject[i] says whether
 * hypothesis i is rejected. Controls the family-wise error rate under any dependence. */
void rp_holm(const double *p, size_t m, double alpha, bool *reject);

/* Sorts v (n values) ascending and returns the median (mean of the middle two for even n; 0
 * for n = 0). */
double rp_median_sort(double *v, size_t n);

/*
 * Mann-Whitney: the exact two-sided p-value of the U test of x (n values) against y (m values),
 * ties counted one half, from the exact null distribution of U (n + m <= 400; beyond that the
 * normal approximation with continuity correction). n or m of 0 gives 1.
 */
double rp_mw_p_two_sided(const double *x, int n, const double *y, int m);

/*
 * The Hodges-Lehmann interval for the shift y - x at confidence >= 1 - alpha: order statistics
 * k and nm + 1 - k of the n*m differences y_j - x_i, k from the exact distribution of U. Sets
 * *est to the median difference. Returns 0, or -1 (infinite interval) when n and m are too
 * small for the level (3 against 3 cannot reach 95%), or RP_EINVAL-like -2 on allocation
 * failure.
 */
int rp_mw_shift_interval(const double *x, int n, const double *y, int m, double alpha, double *lo,
                         double *hi, double *est);

/* Verdicts on an interval [lo, hi] of d = ln(head cost / base cost) against delta > 0. */
enum { RP_VERDICT_SAME = 0, RP_VERDICT_FASTER, RP_VERDICT_SLOWER, RP_VERDICT_INCONCLUSIVE };
/* slower: lo > delta; faster: hi < -delta; same: -delta <= lo and hi <= delta; else
 * inconclusive. */
int rp_verdict(double lo, double hi, double delta);
/* The verdict on [lo, hi] of an item a one-sided test has already shown not slower than the
 * margin (the gate's PASS decision): faster when hi < -delta, same when -delta <= lo, else
 * inconclusive. An interval that reaches past the margin on the good side is never "same": the
 * head may be faster by more than the margin. */
int rp_verdict_not_slower(double lo, double hi, double delta);
/* "same", "faster", "slower", "inconclusive"; NULL for an unknown value. */
const char *rp_verdict_name(int v);
/* The inverse of rp_verdict_name, or -1. */
int rp_verdict_parse(const char *name);

/* A change point: the series differs from index `index` on (0 < index < n). */
typedef struct rp_change {
    size_t index;
    double p;             /* permutation p-value of the split */
    double before, after; /* means of the segments on each side (within its parent segment) */
} rp_change;

/*
 * Change points by binary segmentation with Student's t statistic (pooled variance), each split
 * kept when its permutation p-value (`perms` shuffles of the segment, seeded by `seed`, so results
 * repeat) is at most p_max; segments shorter than 2 * min_seg are not split. Writes at most `max`
 * change points in index order into out, their count in *nout. Returns 0, or -1 on bad arguments.
 */
int rp_changepoints(const double *x, size_t n, size_t min_seg, double p_max, unsigned perms,
                    uint64_t seed, rp_change *out, size_t max, size_t *nout);

#ifdef __cplusplus
}
#endif

#endif /* RP_STATS_H */
