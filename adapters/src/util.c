/*
 * util.c - small helpers the core and the adapters share: detail messages, buffers, decimal
 * counters, clocks, back-off and randomness.
 */
#include "kv_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void kv__vformat(char *buf, size_t len, const char *fmt, va_list ap) {
    if (buf && len)
        vsnprintf(buf, len, fmt, ap);
}

int kv__buf_reserve(kv_buf *b, size_t need) {
    if (need >= SIZE_MAX / 2)
        return -ENOMEM;
    if (need + 1 <= b->cap)
        return 0;
    /* Doubling keeps repeated appends linear; 64 bytes avoids tiny reallocations. */
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need + 1)
        cap *= 2;
    void *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int kv__buf_set(kv_buf *b, const void *p, size_t n) {
    if (kv__buf_reserve(b, n) < 0)
        return -ENOMEM;
    if (n)
        memcpy(b->data, p, n);
    ((char *)b->data)[n] = '\0';
    b->len = n;
    return 0;
}

int kv__buf_append(kv_buf *b, const void *p, size_t n) {
    if (n > SIZE_MAX / 2 - b->len || kv__buf_reserve(b, b->len + n) < 0)
        return -ENOMEM;
    if (n)
        memcpy((char *)b->data + b->len, p, n);
    b->len += n;
    ((char *)b->data)[b->len] = '\0';
    return 0;
}

int kv__parse_i64(const void *p, size_t n, int64_t *out) {
    const unsigned char *s = p;
    size_t i = 0;
    bool neg = false;
    uint64_t v = 0;
    /* The magnitude of INT64_MIN, the largest a negative number may reach. */
    const uint64_t limit_neg = (uint64_t)INT64_MAX + 1;

    if (n == 0)
        return KV_ENOTNUM;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n || n - i > 20)
        return n - i > 20 ? KV_EOVERFLOW : KV_ENOTNUM;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return KV_ENOTNUM;
        unsigned d = s[i] - '0';
        if (v > (UINT64_MAX - d) / 10)
            return KV_EOVERFLOW;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > limit_neg)
            return KV_EOVERFLOW;
        *out = v == limit_neg ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return KV_EOVERFLOW;
        *out = (int64_t)v;
    }
    return 0;
}

int kv__add_i64(int64_t a, int64_t b, int64_t *out) {
    if (__builtin_add_overflow(a, b, out))
        return KV_EOVERFLOW;
    return 0;
}

size_t kv__format_i64(int64_t v, char *buf) {
    return (size_t)snprintf(buf, 21, "%" PRId64, v);
}

double kv__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool kv__backoff(double *delay, double deadline) {
    double now = kv__now();

    if (deadline >= 0 && now >= deadline)
        return false;
    *delay = *delay <= 0 ? 50e-6 : *delay * 1.5;
    if (*delay > 10e-3)
        *delay = 10e-3;
    double d = *delay;
    if (deadline >= 0 && now + d > deadline)
        d = deadline - now;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return true;
}

int kv__random_hex(char *hex, size_t nbytes) {
    unsigned char raw[64];
    static const char digits[] = "0123456789abcdef";

    if (nbytes > sizeof(raw))
        return KV_EINVAL;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < nbytes; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[2 * nbytes] = '\0';
    return 0;
}

uint64_t kv__fnv64(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

const char *kv__core_version(kv_conn *c) {
    (void)c;
    return "kv " KV_VERSION_STRING;
}

int kv__hexval(int ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}
