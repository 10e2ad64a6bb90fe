/*
 * kvbench_quick.c - single-process get and set latency of one or more backends, for a quick look
 * (the scenarios in scenarios/ are the real benchmark).
 *
 *     kvbench-quick [--quick] [-n OPS] [-d BYTES] [-k KEYS] URI...
 *
 * For each URI: OPS sets, then OPS gets, cycling over KEYS keys "kvbench:NNNNNN" with values of
 * BYTES bytes (defaults: 100000 operations, 3-byte values, 1000 keys: the shape of
 * `redis-benchmark -t get,set -n 100000`, whose default value is 3 bytes). --quick runs 20000.
 * One clock read per operation: the latency of operation i is t[i+1] - t[i], so the mean is the
 * wall time divided by the operations and includes one clock read (~20-30 ns here). The keys are
 * deleted afterwards; nothing else in the store is touched.
 */
#include "kv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct stats {
    double mean_us, p50_us, p99_us;
};

/* Turns n+1 timestamps into latencies, sorts them and reads the figures. */
static struct stats summarise(uint64_t *t, size_t n) {
    struct stats s;
    s.mean_us = (double)(t[n] - t[0]) / (double)n / 1000.0;
    for (size_t i = 0; i < n; i++)
        t[i] = t[i + 1] - t[i];
    qsort(t, n, sizeof(*t), cmp_u64);
    size_t p50 = n / 2, p99 = n * 99 / 100;
    s.p50_us = (double)t[p50] / 1000.0;
    s.p99_us = (double)t[p99] / 1000.0;
    return s;
}

static void key_of(size_t i, size_t nkeys, char *k, size_t *kl) {
    *kl = (size_t)snprintf(k, 32, "kvbench:%06zu", i % nkeys);
}

/* Runs one phase; returns 0 or the first error (printed). */
static int phase(kv_conn *c, bool set, size_t n, size_t nkeys, const char *val, size_t vlen,
                 uint64_t *t, struct stats *out) {
    kv_buf v = KV_BUF_INIT;
    char k[32];
    size_t kl;
    int rc = 0;

    /* A warm-up pass: connections, page cache, allocator. */
    for (size_t i = 0; i < nkeys && rc == 0; i++) {
        key_of(i, nkeys, k, &kl);
        rc = set ? kv_set(c, k, kl, val, vlen) : kv_get(c, k, kl, &v);
    }
    t[0] = now_ns();
    for (size_t i = 0; i < n && rc == 0; i++) {
        key_of(i, nkeys, k, &kl);
        rc = set ? kv_set(c, k, kl, val, vlen) : kv_get(c, k, kl, &v);
        t[i + 1] = now_ns();
    }
    kv_buf_free(&v);
    if (rc < 0) {
        fprintf(stderr, "kvbench-quick: %s: %s\n", set ? "set" : "get", kv_errmsg(c));
        return rc;
    }
    *out = summarise(t, n);
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: kvbench-quick [--quick] [-n OPS] [-d BYTES] [-k KEYS] URI...\n");
    exit(2);
}

static size_t number(const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v == 0 || v > (1ull << 30))
        usage();
    return (size_t)v;
}

int main(int argc, char **argv) {
    size_t n = 100000, vlen = 3, nkeys = 1000;
    int i, failures = 0;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 20000;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = number(argv[++i]);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            vlen = number(argv[++i]);
        else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            nkeys = number(argv[++i]);
        else
            usage();
    }
    if (i == argc)
        usage();

    char *val = malloc(vlen);
    uint64_t *t = calloc(n + 1, sizeof(*t));
    if (!val || !t) {
        fprintf(stderr, "kvbench-quick: out of memory\n");
        free(val);
        free(t);
        return 1;
    }
    memset(val, 'x', vlen);
    printf("single process, %zu ops per phase, %zu-byte values, %zu keys; microseconds per op\n", n,
           vlen, nkeys);
    printf("%-10s %-30s %9s %8s %8s   %9s %8s %8s\n", "backend", "version", "set mean", "p50",
           "p99", "get mean", "p50", "p99");
    for (; i < argc; i++) {
        kv_conn *c;
        struct stats s, g;
        if (kv_open(argv[i], &c) < 0) {
            fprintf(stderr, "kvbench-quick: %s\n", kv_errmsg(NULL));
            failures++;
            continue;
        }
        if (phase(c, true, n, nkeys, val, vlen, t, &s) < 0 ||
            phase(c, false, n, nkeys, val, vlen, t, &g) < 0) {
            failures++;
        } else {
            printf("%-10s %-30.30s %9.2f %8.2f %8.2f   %9.2f %8.2f %8.2f   %s\n",
                   kv_backend_name(c), kv_backend_version(c), s.mean_us, s.p50_us, s.p99_us,
                   g.mean_us, g.p50_us, g.p99_us, argv[i]);
        }
        for (size_t j = 0; j < nkeys; j++) {
            char k[32];
            size_t kl;
            key_of(j, nkeys, k, &kl);
            kv_del(c, k, kl);
        }
        kv_close(c);
    }
    free(val);
    free(t);
    return failures ? 1 : 0;
}
