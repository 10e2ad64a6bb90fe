/* hist.c - see hist.h. */
#include "hist.h"

#include <string.h>

void sc_hist_reset(sc_hist *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

uint32_t sc_hist_index(uint64_t v) {
    if (v < 256)
        return (uint32_t)v;
    int e = 63 - __builtin_clzll(v); /* 8 .. 63 */
    if (e > SC_HIST_MAX_EXP)
        return SC_HIST_BUCKETS - 1;
    uint64_t sub = v >> (e - 7); /* 128 .. 255 */
    return (uint32_t)(256 + (uint64_t)(e - 8) * 128 + (sub - 128));
}

uint64_t sc_hist_bucket_low(uint32_t i) {
    if (i < 256)
        return i;
    uint32_t e = (i - 256) / 128 + 8;
    uint64_t sub = (i - 256) % 128 + 128;
    return sub << (e - 7);
}

static uint64_t bucket_width(uint32_t i) {
    return i < 256 ? 1 : (uint64_t)1 << ((i - 256) / 128 + 1);
}

void sc_hist_add(sc_hist *h, uint64_t value, uint64_t n) {
    if (n == 0)
        return;
    h->buckets[sc_hist_index(value)] += n;
    h->count += n;
    uint64_t add = value * n;
    h->sum = (n != 0 && add / n != value) || h->sum + add < h->sum ? UINT64_MAX : h->sum + add;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void sc_hist_merge(sc_hist *to, const sc_hist *from) {
    if (from->count == 0)
        return;
    for (uint32_t i = 0; i < SC_HIST_BUCKETS; i++)
        to->buckets[i] += from->buckets[i];
    to->count += from->count;
    to->sum = to->sum + from->sum < to->sum ? UINT64_MAX : to->sum + from->sum;
    if (from->min < to->min)
        to->min = from->min;
    if (from->max > to->max)
        to->max = from->max;
}

double sc_hist_quantile(const sc_hist *h, double q) {
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return (double)h->min;
    if (q >= 1)
        return (double)h->max;
    /* The rank of the sample at quantile q, counting from 1 (nearest-rank method). */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < SC_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            double v = (double)sc_hist_bucket_low(i) + (double)(bucket_width(i) - 1) / 2.0;
            if (v < (double)h->min)
                v = (double)h->min;
            if (v > (double)h->max)
                v = (double)h->max;
            return v;
        }
    }
    return (double)h->max;
}

double sc_hist_mean(const sc_hist *h) {
    return h->count ? (double)h->sum / (double)h->count : 0;
}

void sc_hist_diff(sc_hist *out, const sc_hist *cur, const sc_hist *prev) {
    sc_hist_reset(out);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t i = 0; i < SC_HIST_BUCKETS; i++) {
        uint64_t d = cur->buckets[i] >= prev->buckets[i] ? cur->buckets[i] - prev->buckets[i] : 0;
        out->buckets[i] = d;
        if (!d)
            continue;
        out->count += d;
        lo = i < lo ? i : lo;
        hi = i;
    }
    out->sum = cur->sum >= prev->sum && cur->sum != UINT64_MAX ? cur->sum - prev->sum : 0;
    if (!out->count)
        return;
    /* The extremes of the difference are known to their buckets only. */
    out->min = sc_hist_bucket_low(lo);
    uint64_t top = sc_hist_bucket_low(hi) + bucket_width(hi) - 1;
    out->max = top < cur->max ? top : cur->max;
    if (out->min < cur->min)
        out->min = cur->min;
}
