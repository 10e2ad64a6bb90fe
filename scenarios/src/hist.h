/*
 * hist.h - a pointer-free log-linear latency histogram, mergeable by adding counts.
 *
 * Values (nanoseconds) below 256 have a bucket each; above, every power of two is split into
 * 128 linear sub-buckets, so a bucket's width is at most 1/128 (0.8%) of its values. Bucket i:
 *   i < 256:  the value i
 *   else:     e = (i - 256) / 128 + 8, sub = (i - 256) % 128 + 128,
 *             values [sub << (e - 7), (sub + 1) << (e - 7))
 * Lives in shared memory as it is: each process fills its own, the parent adds them up.
 */
#ifndef SC_HIST_H
#define SC_HIST_H

#include <stdint.h>

#define SC_HIST_SCHEME "log-linear/128"
#define SC_HIST_MAX_EXP 47 /* values up to 2^48 ns, about 78 hours */
#define SC_HIST_BUCKETS (256 + (SC_HIST_MAX_EXP - 7) * 128)

typedef struct sc_hist {
    uint64_t count;
    uint64_t sum; /* for the mean; saturates rather than wraps */
    uint64_t min, max;
    uint64_t buckets[SC_HIST_BUCKETS];
} sc_hist;

void sc_hist_reset(sc_hist *h);
/* Records `n` samples of `value` ns. */
void sc_hist_add(sc_hist *h, uint64_t value, uint64_t n);
/* Adds the counts of `from` into `to`. */
void sc_hist_merge(sc_hist *to, const sc_hist *from);
/* The samples of `cur` that `prev` (an earlier state of the same histogram) does not have, into
 * out: counts by bucket; the sum when it did not saturate (else 0); min and max to the
 * buckets' bounds. */
void sc_hist_diff(sc_hist *out, const sc_hist *cur, const sc_hist *prev);
/* The value at quantile q (0..1): the midpoint of the bucket holding it, clamped to [min, max]. */
double sc_hist_quantile(const sc_hist *h, double q);
double sc_hist_mean(const sc_hist *h);
/* Bucket index of a value, and the lowest value of a bucket. */
uint32_t sc_hist_index(uint64_t value);
uint64_t sc_hist_bucket_low(uint32_t index);

#endif /* SC_HIST_H */
