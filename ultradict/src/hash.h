/* hash.h - the 64-bit hash used for the local table, record checksums and snapshots. */
#ifndef UD_HASH_H
#define UD_HASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Hashes `len` bytes at `p` with `seed`. Fast for short keys and several GB/s for long values;
 * not cryptographic. The value is the same on every machine (it reads bytes little-endian), so
 * it may be stored in portable snapshots.
 */
uint64_t ud__hash(const void *p, size_t len, uint64_t seed);

#endif /* UD_HASH_H */
