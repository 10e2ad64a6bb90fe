/* workload.c - keys, self-checking values, key choice and prefill; the arrays they fill. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sc.h"

size_t sc_key(char *buf, uint64_t i) {
    return sc_key_in(buf, i, 'k');
}

size_t sc_key_in(char *buf, uint64_t i, char space) {
    /* Fixed width, so every key has the same length and hashes the same way. */
    buf[0] = space;
    for (int d = 10; d >= 1; d--) {
        buf[d] = (char)('0' + i % 10);
        i /= 10;
    }
    buf[11] = '\0';
    return 11;
}

/* A value is [key index][version][filler ...][check]: a torn or mixed-up value (bytes of two
 * writes, or of another key) fails the check. */
static uint64_t value_check(const char *val, size_t len) {
    uint64_t h = 0x6a09e667f3bcc909ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, val + i, 8);
        h = sc_mix64(h ^ w);
    }
    for (; i < len; i++)
        h = sc_mix64(h ^ (uint8_t)val[i]);
    return h;
}

void sc_value_fill(char *val, size_t len, uint64_t i, uint64_t v) {
    if (len < 24) {
        for (size_t j = 0; j < len; j++)
            val[j] = (char)('a' + (i + v + j) % 26);
        return;
    }
    memcpy(val, &i, 8);
    memcpy(val + 8, &v, 8);
    uint64_t x = sc_mix64(i ^ (v << 1));
    size_t body = len - 8;
    for (size_t j = 16; j < body; j++) {
        if ((j & 7) == 0)
            x = sc_mix64(x);
        val[j] = (char)(x >> ((j & 7) * 8));
    }
    uint64_t c = value_check(val, body);
    memcpy(val + body, &c, 8);
}

int sc_value_check(const char *val, size_t len, uint64_t i, size_t expect_len) {
    if (expect_len < 24)
        return SC_ENOCHECK;
    if (len != expect_len)
        return SC_ETORN;
    uint64_t k, c;
    memcpy(&k, val, 8);
    memcpy(&c, val + len - 8, 8);
    return k == i && c == value_check(val, len - 8) ? 0 : SC_ETORN;
}

uint64_t sc_pick_key(sc_worker *w, const sc_zipf *z) {
    if (z)
        return sc_zipf_next(z, &w->rng);
    return sc_rng_below(&w->rng, w->cell->p.keys);
}

char sc_key_space(uint64_t keys, size_t value_size) {
    static const char letters[] = "abcdefghijlmnopqrstuvwxyz"; /* every one but k */
    uint64_t h = sc_mix64(sc_mix64(keys) ^ (uint64_t)value_size);
    return letters[h % (sizeof letters - 1)];
}

#define PREFILL_BATCH 256

int sc_prefill(kv_conn *kv, const sc_params *p, uint64_t n, char *err, size_t errlen) {
    return sc_prefill_in(kv, p, n, 'k', err, errlen);
}

int sc_prefill_in(kv_conn *kv, const sc_params *p, uint64_t n, char space, char *err,
                  size_t errlen) {
    size_t vlen = p->value_size;
    kv_item *items = calloc(PREFILL_BATCH, sizeof *items);
    char *keys = calloc(PREFILL_BATCH, SC_KEY_MAX);
    char *vals = malloc(PREFILL_BATCH * (vlen ? vlen : 1));
    int rc = 0;
    if (!items || !keys || !vals) {
        rc = -ENOMEM;
        snprintf(err, errlen, "prefill: out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n && rc == 0; i += PREFILL_BATCH) {
        size_t m = n - i < PREFILL_BATCH ? (size_t)(n - i) : PREFILL_BATCH;
        for (size_t j = 0; j < m; j++) {
            char *k = keys + j * SC_KEY_MAX;
            char *v = vals + j * vlen;
            items[j].key = k;
            items[j].klen = sc_key_in(k, i + j, space);
            sc_value_fill(v, vlen, i + j, 0);
            items[j].val = v;
            items[j].vlen = vlen;
        }
        rc = kv_set_many(kv, items, m);
        if (rc)
            snprintf(err, errlen, "prefill of %llu keys: %s: %s", (unsigned long long)n,
                     kv_errname(rc), kv_errmsg(kv));
    }
out:
    free(items);
    free(keys);
    free(vals);
    return rc;
}

uint64_t sc_run_nonce(void) {
    static uint64_t nonce;
    if (nonce == 0) {
        uint64_t x = sc_now_ns() ^ ((uint64_t)getpid() << 32);
        FILE *f = fopen("/dev/urandom", "rbe");
        uint64_t r = 0;
        if (f && fread(&r, sizeof r, 1, f) == 1)
            x ^= r;
        if (f)
            fclose(f);
        nonce = sc_mix64(x) | 1;
    }
    return nonce;
}

int sc_grow(void **v, size_t n, size_t *cap, size_t size, size_t first) {
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap > SIZE_MAX / size)
        return -ENOMEM;
    void *p = realloc(*v, ncap * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = ncap;
    return 0;
}
