/*
 * hash.c - a 64-bit hash built on 64x64->128-bit multiply-and-fold mixing, in the structure of
 * wyhash (public domain): short inputs are read as a few overlapping words, long inputs in
 * 48-byte strides over three independent lanes so the multiplies overlap in the pipeline.
 */
#include "hash.h"

#include <endian.h>
#include <string.h>

__extension__ typedef unsigned __int128 ud__u128;

static const uint64_t k0 = 0xa0761d6478bd642full;
static const uint64_t k1 = 0xe7037ed1a0b428dbull;
static const uint64_t k2 = 0x8ebc6af09c88c6e3ull;
static const uint64_t k3 = 0x589965cc75374cc3ull;

static inline uint64_t mix(uint64_t a, uint64_t b) {
    ud__u128 r = (ud__u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

static inline uint64_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return le32toh(v);
}

uint64_t ud__hash(const void *data, size_t len, uint64_t seed) {
    const uint8_t *p = data;
    uint64_t a, b;

    seed ^= mix(seed ^ k0, k1);
    if (len <= 16) {
        if (len >= 4) {
            size_t off = (len >> 3) << 2;
            a = (rd32(p) << 32) | rd32(p + off);
            b = (rd32(p + len - 4) << 32) | rd32(p + len - 4 - off);
        } else if (len > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = len;
        if (i > 48) {
            uint64_t s1 = seed, s2 = seed;
            do {
                seed = mix(rd64(p) ^ k1, rd64(p + 8) ^ seed);
                s1 = mix(rd64(p + 16) ^ k2, rd64(p + 24) ^ s1);
                s2 = mix(rd64(p + 32) ^ k3, rd64(p + 40) ^ s2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= s1 ^ s2;
        }
        while (i > 16) {
            seed = mix(rd64(p) ^ k1, rd64(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        a = rd64(p + i - 16);
        b = rd64(p + i - 8);
    }
    a ^= k1;
    b ^= seed;
    ud__u128 r = (ud__u128)a * b;
    a = (uint64_t)r;
    b = (uint64_t)(r >> 64);
    return mix(a ^ k0 ^ len, b ^ k1);
}
