/* rng.c - see rng.h. */
#include "rng.h"

#include <math.h>

uint64_t sc_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

void sc_rng_seed(sc_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        r->s[i] = sc_mix64(seed);
    }
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t sc_rng_next(sc_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sc_rng_below(sc_rng *r, uint64_t n) {
    if (n <= 1)
        return 0;
    /* Lemire's multiply-shift: unbiased enough for n far below 2^64 (key counts). */
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)sc_rng_next(r) * n) >> 64);
}

double sc_rng_unit(sc_rng *r) {
    return (double)(sc_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double zeta(uint64_t n, double theta) {
    double sum = 0;
    for (uint64_t i = 1; i <= n; i++)
        sum += 1.0 / pow((double)i, theta);
    return sum;
}

void sc_zipf_init(sc_zipf *z, uint64_t n, double theta) {
    z->n = n ? n : 1;
    z->theta = theta;
    z->zeta2 = zeta(2, theta);
    z->zetan = zeta(z->n, theta);
    z->alpha = 1.0 / (1.0 - theta);
    z->eta = (1 - pow(2.0 / (double)z->n, 1 - theta)) / (1 - z->zeta2 / z->zetan);
}

uint64_t sc_zipf_next(const sc_zipf *z, sc_rng *r) {
    double u = sc_rng_unit(r);
    double uz = u * z->zetan;
    uint64_t rank;
    if (uz < 1.0)
        rank = 0;
    else if (uz < 1.0 + pow(0.5, z->theta))
        rank = 1;
    else
        rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1, z->alpha));
    if (rank >= z->n)
        rank = z->n - 1;
    return sc_mix64(rank) % z->n;
}

void sc_rng_shuffle(sc_rng *r, size_t *order, size_t n) {
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)sc_rng_below(r, i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}
