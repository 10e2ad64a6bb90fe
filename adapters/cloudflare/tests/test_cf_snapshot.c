/*
 * test_cf_snapshot.c - saves N entries through a Cloudflare adapter with the kv snapshot helpers
 * (kv_save_entries_from / kv_load_entries: batched writes, an index and a checksummed
 * manifest), restores them, checks them against an independent checksum, and prints the times.
 *
 *   test_cf_snapshot SCHEME [N]     SCHEME: cloudflare-kv, cloudflare-d1, cloudflare-rest,
 *                                   cloudflare-rest?store=d1; N: 100000 by default
 *
 * It runs on a private local runtime that it starts and stops (data on tmpfs when there is one).
 */
#include "cf_test_runtime.h"
#include "kv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct synth {
    size_t n;
};

/* Entry i: key "key:%07zu", a value of 16..143 bytes of which some hold NUL and high bytes. */
static size_t make_entry(size_t i, char *k, size_t *kl, unsigned char *v) {
    *kl = (size_t)sprintf(k, "key:%07zu", i);
    size_t vl = 16 + (i * 7919) % 128;
    uint64_t x = i * UINT64_C(0x9e3779b97f4a7c15) + 1;
    for (size_t j = 0; j < vl; j++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[j] = (i % 4 == 0) ? (unsigned char)x : (unsigned char)('a' + x % 26);
    }
    return vl;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * UINT64_C(0x100000001b3);
    return h;
}

static int source(const void *src, size_t srclen, kv_snapshot_fn fn, void *ctx) {
    const struct synth *s = src;
    char k[32];
    unsigned char v[160];
    size_t kl;
    (void)srclen;
    for (size_t i = 0; i < s->n; i++) {
        size_t vl = make_entry(i, k, &kl, v);
        int rc = fn(ctx, k, kl, v, vl, KV_TYPE_BYTES);
        if (rc)
            return rc;
    }
    return 0;
}

struct check {
    size_t n;
    uint64_t h;
};

static int collect(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                   int type) {
    struct check *c = ctx;
    c->n++;
    c->h = fnv(fnv(c->h, key, klen), val, vlen);
    (void)type;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s SCHEME[?query] [N]\n", argv[0]);
        return 2;
    }
    alarm(900);
    char why[256];
    if (!cft_available(why, sizeof(why))) {
        printf("%s %s\n", UT_SKIP_MARK, why);
        return 0;
    }
    size_t n = argc == 3 ? strtoul(argv[2], NULL, 10) : 100000;
    char scheme[64];
    const char *q = strchr(argv[1], '?');
    snprintf(scheme, sizeof(scheme), "%.*s", q ? (int)(q - argv[1]) : (int)strlen(argv[1]),
             argv[1]);

    cft_runtime rt = {0};
    if (cft_start(&rt) != 0)
        return 1;
    int status = 1;
    char uri[300];
    kv_conn *c = NULL;
    cft_uri(&rt, scheme, q ? q : "", uri, sizeof(uri));
    if (kv_open(uri, &c) < 0) {
        fprintf(stderr, "kv_open(%s): %s\n", uri, kv_errmsg(NULL));
        goto out;
    }

    /* The independent checksum of what goes in. */
    struct check want = {0, UINT64_C(0xcbf29ce484222325)};
    struct synth s = {n};
    source(&s, 0, collect, &want);

    kv_manifest m = {0}, m2 = {0};
    double t0 = ut_now();
    int rc = kv_save_entries_from(c, "snap/", source, &s, 0, &m);
    double t1 = ut_now();
    if (rc < 0) {
        fprintf(stderr, "save: %s: %s\n", kv_errname(rc), kv_errmsg(c));
        goto out;
    }
    struct check got = {0, UINT64_C(0xcbf29ce484222325)};
    rc = kv_load_entries(c, "snap/", collect, &got, &m2);
    double t2 = ut_now();
    if (rc < 0) {
        fprintf(stderr, "load: %s: %s\n", kv_errname(rc), kv_errmsg(c));
        goto out;
    }
    printf("%s: %zu entries, %" PRIu64 " bytes: save %.2f s (%.0f entries/s), restore %.2f s "
           "(%.0f entries/s); checksum %016" PRIx64 " %s\n",
           uri, n, m.bytes, t1 - t0, n / (t1 - t0), t2 - t1, n / (t2 - t1), got.h,
           got.n == n && got.h == want.h && m2.checksum == m.checksum && m2.count == n
               ? "verified"
               : "MISMATCH");
    if (got.n == n && got.h == want.h && m2.checksum == m.checksum && m2.count == n)
        status = 0;
out:
    kv_close(c);
    cft_stop(&rt);
    cft_remove(&rt);
    return status;
}
