/*
 * stats.c - exact distribution-free intervals, Holm, verdicts and change points (rp_stats.h).
 *
 * Why the sign test for paired trials: d = ln(head / base) of one pair is not symmetric about
 * its median on a shared machine (a co-tenant's burst slows one trial of the pair, never speeds
 * it up), so the Wilcoxon signed-rank interval, which assumes symmetry, does not hold its level;
 * a t interval assumes far more. The number of d_i below the true median is Binomial(n, 1/2)
 * for any continuous distribution, which makes order statistics exact bounds with no assumption
 * beyond independent pairs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_stats.h"

double rp_binom_half_cdf(int k, int n) {
    if (k < 0)
        return 0.0;
    if (k >= n)
        return 1.0;
    /* Sum of C(n, i) 2^-n in log space: exact enough for any n a gate uses (n < 10^4). */
    double sum = 0.0;
    for (int i = 0; i <= k; i++)
        sum += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * M_LN2);
    return sum > 1.0 ? 1.0 : sum;
}

int rp_sign_rank(int n, double a) {
    int r = 0;
    /* Tiny slack so that a level equal to an attainable tail (e.g. 2/1024) is attained. */
    for (int k = 1; k <= n; k++) {
        if (rp_binom_half_cdf(k - 1, n) <= a * (1 + 1e-12))
            r = k;
        else
            break;
    }
    return r;
}

int rp_sign_interval(const double *sorted, int n, double alpha, double *lo, double *hi,
                     double *coverage) {
    int r = rp_sign_rank(n, alpha / 2);
    if (r == 0 || r > n + 1 - r) {
        *lo = -INFINITY;
        *hi = INFINITY;
        *coverage = 0;
        return -1;
    }
    *lo = sorted[r - 1];
    *hi = sorted[n - r];
    *coverage = 1 - 2 * rp_binom_half_cdf(r - 1, n);
    return 0;
}

/* P(B >= k) for B ~ Binomial(n, 1/2). */
static double binom_half_sf(int k, int n) {
    double v = 1.0 - rp_binom_half_cdf(k - 1, n);
    return v < 0 ? 0 : v;
}

double rp_sign_p_above(const double *d, int n, double t) {
    int above = 0, used = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] != t)
            used++;
        if (d[i] > t)
            above++;
    }
    return used ? binom_half_sf(above, used) : 1.0;
}

double rp_sign_p_below(const double *d, int n, double t) {
    int below = 0, used = 0;
    for (int i = 0; i < n; i++) {
        if (d[i] != t)
            used++;
        if (d[i] < t)
            below++;
    }
    return used ? binom_half_sf(below, used) : 1.0;
}

void rp_holm(const double *p, size_t m, double alpha, bool *reject) {
    bool *done = calloc(m ? m : 1, sizeof *done);
    for (size_t i = 0; i < m; i++)
        reject[i] = false;
    if (!done)
        return; /* rejecting nothing is always safe */
    for (size_t step = 0; step < m; step++) {
        size_t best = m;
        for (size_t i = 0; i < m; i++)
            if (!done[i] && (best == m || p[i] < p[best]))
                best = i;
        done[best] = true;
        if (!(p[best] <= alpha / (double)(m - step)))
            break; /* step-down: the first acceptance stops everything after it */
        reject[best] = true;
    }
    free(done);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double rp_median_sort(double *v, size_t n) {
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The null distribution of U for sizes n and m: out[u] = P(U = u), u = 0..n*m, from the
 * generating function prod_{i=1..n} (1 - q^{m+i}) / (1 - q^i) divided by C(n+m, n).
 */
static double *mw_distribution(int n, int m) {
    size_t deg = (size_t)n * (size_t)m;
    double *c = calloc(deg + 1, sizeof *c);
    if (!c)
        return NULL;
    c[0] = 1;
    for (int i = 1; i <= n; i++) {
        for (size_t k = deg; k >= (size_t)m + (size_t)i && k <= deg; k--)
            c[k] -= c[k - ((size_t)m + (size_t)i)];
        for (size_t k = (size_t)i; k <= deg; k++)
            c[k] += c[k - (size_t)i];
    }
    double total = exp(lgamma(n + m + 1.0) - lgamma(n + 1.0) - lgamma(m + 1.0));
    for (size_t k = 0; k <= deg; k++)
        c[k] = c[k] / total < 0 ? 0 : c[k] / total;
    return c;
}

double rp_mw_p_two_sided(const double *x, int n, const double *y, int m) {
    if (n <= 0 || m <= 0)
        return 1.0;
    double u = 0; /* pairs with y > x, ties one half */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            u += y[j] > x[i] ? 1.0 : y[j] == x[i] ? 0.5 : 0.0;
    double nm = (double)n * m, mean = nm / 2;
    double dev = fabs(u - mean);
    if (n + m > 400) {
        double sd = sqrt(nm * (n + m + 1) / 12.0);
        double z = (dev - 0.5) / sd;
        return z <= 0 ? 1.0 : erfc(z / M_SQRT2);
    }
    double *pu = mw_distribution(n, m);
    if (!pu)
        return 1.0;
    /* P(|U - mean| >= dev): both tails of the symmetric distribution. */
    double p = 0;
    for (size_t k = 0; k <= (size_t)nm; k++)
        if (fabs((double)k - mean) >= dev - 1e-9)
            p += pu[k];
    free(pu);
    return p > 1 ? 1 : p;
}

int rp_mw_shift_interval(const double *x, int n, const double *y, int m, double alpha, double *lo,
                         double *hi, double *est) {
    *lo = -INFINITY;
    *hi = INFINITY;
    *est = 0;
    if (n <= 0 || m <= 0 || n + m > 400)
        return -1;
    size_t nm = (size_t)n * (size_t)m;
    double *diff = malloc(nm * sizeof *diff);
    double *pu = mw_distribution(n, m);
    if (!diff || !pu) {
        free(diff);
        free(pu);
        return -2;
    }
    size_t k = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            diff[k++] = y[j] - x[i];
    *est = rp_median_sort(diff, nm);
    /* The largest r with P(U <= r - 1) <= alpha / 2. */
    size_t r = 0;
    double tail = 0;
    for (size_t u = 0; u < nm; u++) {
        tail += pu[u];
        if (tail <= alpha / 2 * (1 + 1e-12))
            r = u + 1;
        else
            break;
    }
    int rc = -1;
    if (r >= 1 && r <= nm + 1 - r) {
        *lo = diff[r - 1];
        *hi = diff[nm - r];
        rc = 0;
    }
    free(diff);
    free(pu);
    return rc;
}

int rp_verdict(double lo, double hi, double delta) {
    if (lo > delta)
        return RP_VERDICT_SLOWER;
    if (hi < -delta)
        return RP_VERDICT_FASTER;
    if (lo >= -delta && hi <= delta)
        return RP_VERDICT_SAME;
    return RP_VERDICT_INCONCLUSIVE;
}

int rp_verdict_not_slower(double lo, double hi, double delta) {
    if (hi < -delta)
        return RP_VERDICT_FASTER;
    return lo >= -delta ? RP_VERDICT_SAME : RP_VERDICT_INCONCLUSIVE;
}

static const char *const verdict_names[] = {"same", "faster", "slower", "inconclusive"};

const char *rp_verdict_name(int v) {
    return v >= 0 && v < 4 ? verdict_names[v] : NULL;
}

int rp_verdict_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, verdict_names[i]))
            return i;
    return -1;
}

/* ---- change points ---- */

/*
 * Student's t statistic (pooled variance) of x[0..k) against x[k..n). Pooling over both sides
 * keeps the statistic steady for splits near the ends, where Welch's per-side variances come
 * from a handful of values and the maximum over splits would be dominated by them.
 */
static double split_t(const double *x, size_t n, size_t k) {
    double m1 = 0, m2 = 0, ss = 0;
    for (size_t i = 0; i < k; i++)
        m1 += x[i];
    for (size_t i = k; i < n; i++)
        m2 += x[i];
    m1 /= (double)k;
    m2 /= (double)(n - k);
    for (size_t i = 0; i < k; i++)
        ss += (x[i] - m1) * (x[i] - m1);
    for (size_t i = k; i < n; i++)
        ss += (x[i] - m2) * (x[i] - m2);
    double var = n > 2 ? ss / (double)(n - 2) : 0;
    double se = sqrt(var * (1.0 / (double)k + 1.0 / (double)(n - k)));
    /* Constant segments: a difference of means with no spread is a certain split. */
    if (se == 0)
        return m1 == m2 ? 0 : INFINITY;
    return fabs(m1 - m2) / se;
}

static double best_split(const double *x, size_t n, size_t min_seg, size_t *at) {
    double best = -1;
    for (size_t k = min_seg; k + min_seg <= n; k++) {
        double t = split_t(x, n, k);
        if (t > best) {
            best = t;
            *at = k;
        }
    }
    return best;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct cp_state {
    size_t min_seg, max, n;
    double p_max;
    unsigned perms;
    uint64_t seed;
    rp_change *out;
    double *scratch;
} cp_state;

static void segment(cp_state *s, const double *x, size_t off, size_t n) {
    if (n < 2 * s->min_seg || s->n >= s->max)
        return;
    size_t at = 0;
    double t = best_split(x + off, n, s->min_seg, &at);
    if (t <= 0)
        return;
    /* Permutation test of the maximum statistic: exchangeable under "no change". */
    unsigned ge = 0;
    uint64_t rng = s->seed ^ (off * 0x100000001b3ull) ^ n;
    for (unsigned p = 0; p < s->perms; p++) {
        memcpy(s->scratch, x + off, n * sizeof *x);
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(splitmix(&rng) % (i + 1));
            double tmp = s->scratch[i];
            s->scratch[i] = s->scratch[j];
            s->scratch[j] = tmp;
        }
        size_t unused;
        if (best_split(s->scratch, n, s->min_seg, &unused) >= t)
            ge++;
    }
    double pval = (ge + 1.0) / (s->perms + 1.0);
    if (pval > s->p_max)
        return;
    double before = 0, after = 0;
    for (size_t i = 0; i < at; i++)
        before += x[off + i];
    for (size_t i = at; i < n; i++)
        after += x[off + i];
    segment(s, x, off, at);
    if (s->n < s->max)
        s->out[s->n++] = (rp_change){off + at, pval, before / (double)at, after / (double)(n - at)};
    segment(s, x, off + at, n - at);
}

int rp_changepoints(const double *x, size_t n, size_t min_seg, double p_max, unsigned perms,
                    uint64_t seed, rp_change *out, size_t max, size_t *nout) {
    *nout = 0;
    if (!x || min_seg == 0 || perms == 0 || (max && !out))
        return -1;
    if (n == 0)
        return 0;
    cp_state s = {min_seg, max, 0, p_max, perms, seed, out, malloc(n * sizeof *x)};
    if (!s.scratch)
        return -1;
    segment(&s, x, 0, n);
    free(s.scratch);
    *nout = s.n;
    return 0;
}
