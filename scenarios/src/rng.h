/*
 * rng.h - seeded random numbers, so that the same command replays the same operations.
 * xoshiro256** seeded through splitmix64, and YCSB's zipfian generator (Gray et al.,
 * "Quickly generating billion-record synthetic databases"), scrambled so hot keys are spread.
 */
#ifndef SC_RNG_H
#define SC_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_rng {
    uint64_t s[4];
} sc_rng;

void sc_rng_seed(sc_rng *r, uint64_t seed);
uint64_t sc_rng_next(sc_rng *r);
/* Uniform in [0, n). */
uint64_t sc_rng_below(sc_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double sc_rng_unit(sc_rng *r);
/* A fresh uniformly shuffled order of 0..n-1 into order (Fisher-Yates). */
void sc_rng_shuffle(sc_rng *r, size_t *order, size_t n);

typedef struct sc_zipf {
    uint64_t n;
    double theta, alpha, zetan, eta, zeta2;
} sc_zipf;

/* Prepares a zipfian distribution over [0, n) with skew theta (0 < theta < 1, e.g. 0.99). */
void sc_zipf_init(sc_zipf *z, uint64_t n, double theta);
/* A zipfian rank in [0, n), then scrambled over the key space by a hash. */
uint64_t sc_zipf_next(const sc_zipf *z, sc_rng *r);

/* A 64-bit mix of x (splitmix64's finaliser). */
uint64_t sc_mix64(uint64_t x);

#endif /* SC_RNG_H */
