/*
 * table.c - a compact open-addressing hash table with linear probing and backward-shift
 * deletion (no tombstones, so probe chains never rot under churn).
 *
 * It backs the local: adapter, the "plain dict" every ranking is factored against, so it is meant
 * to be what a careful C programmer would write for a private dict: one allocation per entry
 * (key and value together), the full hash cached in the slot array so that a probe compares a
 * key only when the hashes match, and a load factor of at most 3/4.
 */
#include "kv_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    size_t klen;
    size_t vlen;
    unsigned char data[]; /* key, then value */
};

struct slot {
    uint64_t hash;
    struct entry *e; /* NULL: empty */
};

struct kv__table {
    struct slot *slots;
    size_t cap; /* a power of two */
    size_t count;
};

#define INITIAL_CAP 16

static inline uint64_t read64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t read32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A 64x64->128 multiply folded to 64 bits: the mixing step of wyhash. */
static inline uint64_t mix(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * A wyhash-style hash: fast on short keys (a handful of multiplies) and well distributed, which
 * matters because the table takes the low bits of the hash as the slot index.
 */
static uint64_t hash_bytes(const void *key, size_t n) {
    static const uint64_t p0 = UINT64_C(0xa0761d6478bd642f), p1 = UINT64_C(0xe7037ed1a0b428db),
                          p2 = UINT64_C(0x8ebc6af09c88c6e3);
    const unsigned char *s = key;
    uint64_t seed = p0 ^ (uint64_t)n, a, b;

    while (n > 16) {
        seed = mix(read64(s) ^ p1, read64(s + 8) ^ seed);
        s += 16;
        n -= 16;
    }
    if (n >= 8) {
        a = read64(s);
        b = read64(s + n - 8);
    } else if (n >= 4) {
        a = read32(s);
        b = read32(s + n - 4);
    } else if (n > 0) {
        a = ((uint64_t)s[0] << 16) | ((uint64_t)s[n / 2] << 8) | s[n - 1];
        b = 0;
    } else {
        a = b = 0;
    }
    return mix(p1 ^ (uint64_t)n, mix(a ^ p1, b ^ seed) ^ p2);
}

int kv__table_new(kv__table **out) {
    kv__table *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->slots = calloc(INITIAL_CAP, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return -ENOMEM;
    }
    t->cap = INITIAL_CAP;
    *out = t;
    return 0;
}

void kv__table_free(kv__table *t) {
    if (!t)
        return;
    kv__table_clear(t);
    free(t->slots);
    free(t);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const kv__table *t, uint64_t h, const void *key, size_t klen) {
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const struct slot *s = &t->slots[i];
        if (!s->e)
            return i;
        if (s->hash == h && s->e->klen == klen && memcmp(s->e->data, key, klen) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static int grow(kv__table *t) {
    size_t ncap = t->cap * 2;
    struct slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].e)
            continue;
        size_t j = (size_t)t->slots[i].hash & (ncap - 1);
        while (ns[j].e)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

int kv__table_get(const kv__table *t, const void *key, size_t klen, const void **val,
                  size_t *vlen) {
    uint64_t h = hash_bytes(key, klen);
    const struct slot *s = &t->slots[find(t, h, key, klen)];
    if (!s->e)
        return KV_ENOTFOUND;
    *val = s->e->data + s->e->klen;
    *vlen = s->e->vlen;
    return 0;
}

int kv__table_set(kv__table *t, const void *key, size_t klen, const void *val, size_t vlen) {
    uint64_t h = hash_bytes(key, klen);
    size_t i = find(t, h, key, klen);
    struct entry *old = t->slots[i].e;

    /* Overwriting with a value of the same size is the common case of a benchmark: no malloc. */
    if (old && old->vlen == vlen) {
        memcpy(old->data + klen, val, vlen);
        return 0;
    }
    if (klen > SIZE_MAX / 4 || vlen > SIZE_MAX / 4)
        return -ENOMEM;
    struct entry *e = malloc(sizeof(*e) + klen + vlen);
    if (!e)
        return -ENOMEM;
    e->klen = klen;
    e->vlen = vlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, val, vlen);
    if (old) {
        free(old);
        t->slots[i].e = e;
        return 0;
    }
    if ((t->count + 1) * 4 > t->cap * 3) {
        if (grow(t) < 0) {
            free(e);
            return -ENOMEM;
        }
        i = find(t, h, key, klen);
    }
    t->slots[i].hash = h;
    t->slots[i].e = e;
    t->count++;
    return 0;
}

int kv__table_del(kv__table *t, const void *key, size_t klen) {
    uint64_t h = hash_bytes(key, klen);
    size_t mask = t->cap - 1, i = find(t, h, key, klen);

    if (!t->slots[i].e)
        return KV_ENOTFOUND;
    free(t->slots[i].e);
    t->slots[i].e = NULL;
    t->count--;
    /*
     * Backward shift: move later members of the probe chain into the hole unless their home
     * slot lies cyclically in (hole, j], where moving them would put them before their home.
     */
    for (size_t j = (i + 1) & mask; t->slots[j].e; j = (j + 1) & mask) {
        size_t home = (size_t)t->slots[j].hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        t->slots[j].e = NULL;
        i = j;
    }
    return 0;
}

size_t kv__table_count(const kv__table *t) {
    return t->count;
}

void kv__table_clear(kv__table *t) {
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i].e);
        t->slots[i].e = NULL;
    }
    t->count = 0;
}

int kv__table_foreach(const kv__table *t, kv_entry_fn fn, void *ctx) {
    for (size_t i = 0; i < t->cap; i++) {
        const struct entry *e = t->slots[i].e;
        if (!e)
            continue;
        int rc = fn(ctx, e->data, e->klen, e->data + e->klen, e->vlen);
        if (rc)
            return rc;
    }
    return 0;
}
