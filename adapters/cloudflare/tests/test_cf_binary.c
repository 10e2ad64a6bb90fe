/*
 * test_cf_binary.c - binary values through every Workers KV path of the Cloudflare adapters,
 * against a private local runtime (our Worker in workerd). cloudflare-kv:// (the Worker's
 * routes) and cloudflare-rest:// (the official API's shapes) share one KV namespace there, so
 * every value written by one path is read back through every path that sees the namespace:
 * single get, batch get and export, of both adapters, byte for byte.
 *
 * Writers: kv_set and kv_set_many of each adapter. Values: all 256 byte values, empty, single
 * bytes (NUL, 0x80, 0xff, a letter), 64 KiB of random bytes, 720 and 721 bytes (around the
 * largest value a marker carries), and the text cases a text-only bulk read gets wrong (a
 * leading byte order mark, a literal U+FFFD, a NUL inside text, invalid UTF-8 forms).
 * Then every key is overwritten by another path with other bytes (binary over text and text
 * over binary), so a marker left by an earlier write cannot decide how a value is read.
 * Timed, for the figures: 128 values of 64 KiB through each writer and batch read, and small
 * values of bytes against small values of text through the cloudflare-rest batch read.
 */
#include "cf_test_runtime.h"
#include "kv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static cft_runtime rt;
static char skip_reason[256];
static bool up;

/* ---- The values. ---- */

#define BIG (64u << 10)
#define NVALS 14

typedef struct value {
    const char *name;
    unsigned char *data;
    size_t len;
} value;

/* Two sets: the second overwrites the first, so each key changes between binary and text. */
static value vals[2][NVALS];

/* n bytes of a seeded generator: the same seed gives the same bytes. */
static void fill_random(unsigned char *p, size_t n, uint64_t seed) {
    ut_rng r;
    ut_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(ut_rng_next(&r) >> 56);
}

static void set_value(value *v, const char *name, const void *p, size_t n) {
    v->name = name;
    v->data = malloc(n ? n : 1);
    assert_non_null(v->data);
    memcpy(v->data, p, n);
    v->len = n;
}

static void make_values(void) {
    unsigned char all[256], rev[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (unsigned char)i;
        rev[i] = (unsigned char)(255 - i);
    }
    unsigned char *big = malloc(BIG);
    assert_non_null(big);
    value *a = vals[0], *b = vals[1];
    /* Index i of set 0 is overwritten by index i of set 1 (same key). */
    set_value(&a[0], "all256", all, 256);
    set_value(&b[0], "all256", "now text", 8);
    set_value(&a[1], "empty", "", 0);
    set_value(&b[1], "empty", "\x80", 1);
    set_value(&a[2], "nul", "\0", 1);
    set_value(&b[2], "nul", "", 0);
    set_value(&a[3], "x80", "\x80", 1);
    set_value(&b[3], "x80", rev, 256);
    set_value(&a[4], "xff", "\xff", 1);
    set_value(&b[4], "xff", "\xfe", 1);
    set_value(&a[5], "letter", "a", 1);
    set_value(&b[5], "letter", "\xc3", 1); /* a truncated two-byte sequence */
    fill_random(big, BIG, 1);
    set_value(&a[6], "big", big, BIG);
    fill_random(big, BIG, 2);
    set_value(&b[6], "big", big, BIG);
    set_value(&a[7], "bom", "\xef\xbb\xbfhi", 5); /* a text decoder drops a leading BOM */
    set_value(&b[7], "bom", "\xef\xbb\xbf", 3);
    set_value(&a[8], "fffd", "\xef\xbf\xbd ok", 6); /* U+FFFD written as text */
    set_value(&b[8], "fffd", "\xed\xa0\x80", 3);    /* a surrogate: not UTF-8 */
    set_value(&a[9], "nul-text", "a\0b", 3);
    set_value(&b[9], "nul-text", "text \xc3\xa9\xe2\x82\xac", 10);
    memset(big, 'x', BIG);
    set_value(&a[10], "big-text", big, BIG);
    big[BIG / 2] = 0xff;
    set_value(&b[10], "big-text", big, BIG);
    set_value(&a[11], "overlong", "\xc0\xaf", 2);
    set_value(&b[11], "overlong", "\xf4\x90\x80\x80", 4); /* above U+10FFFF */
    /* Around the largest value a marker carries (CF_KV_META_VALUE_MAX, 720 bytes). */
    memset(big, 0xff, 721);
    set_value(&a[12], "edge720", big, 720);
    set_value(&b[12], "edge720", big, 721);
    set_value(&a[13], "edge721", big, 721);
    set_value(&b[13], "edge721", big, 720);
    free(big);
}

static void free_values(void) {
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < NVALS; i++) {
            free(vals[s][i].data);
            vals[s][i].data = NULL;
        }
}

/* ---- The paths. ---- */

enum { KV, REST, NCONN };
static const char *const conn_scheme[NCONN] = {"cloudflare-kv", "cloudflare-rest"};
static kv_conn *conns[NCONN];

/* A writer: one adapter, one call (kv_set per value, or one kv_set_many). */
typedef struct writer {
    int conn;
    bool many;
    const char *name;
} writer;
static const writer writers[] = {
    {KV, false, "cloudflare-kv kv_set"},
    {KV, true, "cloudflare-kv kv_set_many"},
    {REST, false, "cloudflare-rest kv_set"},
    {REST, true, "cloudflare-rest kv_set_many"},
};
#define NWRITERS (sizeof(writers) / sizeof(writers[0]))
#define NKEYS (NWRITERS * NVALS)

static char keys[NKEYS][64];
static size_t klens[NKEYS];

static void make_keys(void) {
    for (size_t w = 0; w < NWRITERS; w++)
        for (size_t i = 0; i < NVALS; i++) {
            int n = snprintf(keys[w * NVALS + i], sizeof(keys[0]), "w%zu:%s", w, vals[0][i].name);
            klens[w * NVALS + i] = (size_t)n;
        }
}

/* Writes set `s` of the values; writer w takes the keys of writer (w + shift) % NWRITERS. */
static void write_all(int s, size_t shift) {
    for (size_t w = 0; w < NWRITERS; w++) {
        const writer *wr = &writers[w];
        kv_conn *c = conns[wr->conn];
        size_t base = ((w + shift) % NWRITERS) * NVALS;
        kv_item items[NVALS];
        for (size_t i = 0; i < NVALS; i++)
            items[i] = (kv_item){keys[base + i], klens[base + i], vals[s][i].data, vals[s][i].len};
        if (wr->many) {
            CFT_CHECK_RC(c, kv_set_many(c, items, NVALS), 0);
        } else {
            for (size_t i = 0; i < NVALS; i++)
                CFT_CHECK_RC(c, kv_set(c, items[i].key, items[i].klen, items[i].val, items[i].vlen),
                             0);
        }
    }
}

static int failures;

/* Compares what a path read with what was written; prints where they differ. */
static void expect_bytes(const char *path, size_t k, const void *got, size_t glen,
                         const value *want) {
    if (glen == want->len && (glen == 0 || memcmp(got, want->data, glen) == 0))
        return;
    size_t at = 0;
    while (at < glen && at < want->len && ((const unsigned char *)got)[at] == want->data[at])
        at++;
    print_error("%s: key %s (%s): read %zu bytes, wrote %zu; first difference at byte %zu\n", path,
                keys[k], want->name, glen, want->len, at);
    failures++;
}

/* What export saw: a copy of each key's value, and how many keys it did not expect. */
typedef struct seen {
    unsigned char *v[NKEYS];
    size_t len[NKEYS];
    bool found[NKEYS];
    size_t extra;
} seen;

static int on_entry(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    seen *s = ctx;
    for (size_t k = 0; k < NKEYS; k++)
        if (klen == klens[k] && memcmp(key, keys[k], klen) == 0) {
            if (s->found[k])
                s->extra++; /* listed twice */
            free(s->v[k]);
            s->v[k] = malloc(vlen ? vlen : 1);
            if (!s->v[k])
                return -1;
            memcpy(s->v[k], val, vlen);
            s->len[k] = vlen;
            s->found[k] = true;
            return 0;
        }
    s->extra++;
    return 0;
}

/* Reads every key through every path: kv_get, kv_get_many, kv_export of both adapters. */
static void read_all(int s, const char *round) {
    char path[160];
    for (int ci = 0; ci < NCONN; ci++) {
        kv_conn *c = conns[ci];
        kv_buf v = KV_BUF_INIT;
        for (size_t k = 0; k < NKEYS; k++) {
            snprintf(path, sizeof(path), "%s: %s kv_get", round, conn_scheme[ci]);
            CFT_CHECK_RC(c, kv_get(c, keys[k], klens[k], &v), 0);
            expect_bytes(path, k, v.data, v.len, &vals[s][k % NVALS]);
        }
        kv_buf_free(&v);

        kv_key q[NKEYS];
        kv_buf out[NKEYS];
        int rcs[NKEYS];
        memset(out, 0, sizeof(out));
        for (size_t k = 0; k < NKEYS; k++)
            q[k] = (kv_key){keys[k], klens[k]};
        snprintf(path, sizeof(path), "%s: %s kv_get_many", round, conn_scheme[ci]);
        CFT_CHECK_RC(c, kv_get_many(c, q, NKEYS, out, rcs), 0);
        for (size_t k = 0; k < NKEYS; k++) {
            assert_int_equal(rcs[k], 0);
            expect_bytes(path, k, out[k].data, out[k].len, &vals[s][k % NVALS]);
            kv_buf_free(&out[k]);
        }

        seen *e = calloc(1, sizeof(*e));
        assert_non_null(e);
        snprintf(path, sizeof(path), "%s: %s kv_export", round, conn_scheme[ci]);
        CFT_CHECK_RC(c, kv_export(c, on_entry, e), 0);
        assert_int_equal(e->extra, 0);
        for (size_t k = 0; k < NKEYS; k++) {
            assert_true(e->found[k]);
            expect_bytes(path, k, e->v[k], e->len[k], &vals[s][k % NVALS]);
            free(e->v[k]);
        }
        free(e);
    }
}

static void test_binary_every_path(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    failures = 0;
    CFT_CHECK_RC(conns[KV], kv_clear(conns[KV]), 0);
    write_all(0, 0);
    read_all(0, "written");
    /* Each writer now overwrites the keys of the next one with the other set. */
    write_all(1, 1);
    read_all(1, "overwritten");
    assert_int_equal(failures, 0);
}

/*
 * 128 values of 64 KiB of random bytes through each adapter, by one kv_set_many and by kv_set
 * one by one, read back in one kv_get_many by both adapters; the times are printed.
 */
static void test_big_values(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    enum { N = 128 };
    kv_item items[N];
    kv_key q[N];
    kv_buf out[N];
    int rcs[N];
    char names[N][16];
    unsigned char *data = malloc((size_t)N * BIG);
    assert_non_null(data);
    for (int i = 0; i < N; i++) {
        int n = snprintf(names[i], sizeof(names[i]), "big:%d", i);
        q[i] = (kv_key){names[i], (size_t)n};
    }
    for (unsigned run = 0; run < 2 * NCONN; run++) {
        kv_conn *c = conns[run / 2];
        bool many = run % 2 == 0;
        CFT_CHECK_RC(c, kv_clear(c), 0);
        fill_random(data, (size_t)N * BIG, run + 10);
        for (int i = 0; i < N; i++)
            items[i] = (kv_item){q[i].key, q[i].klen, data + (size_t)i * BIG, BIG};
        double t0 = ut_now();
        if (many) {
            CFT_CHECK_RC(c, kv_set_many(c, items, N), 0);
        } else {
            for (int i = 0; i < N; i++)
                CFT_CHECK_RC(c, kv_set(c, items[i].key, items[i].klen, items[i].val, BIG), 0);
        }
        double t1 = ut_now();
        /* Read through both adapters: the namespace is shared. */
        for (size_t ri = 0; ri < NCONN; ri++) {
            memset(out, 0, sizeof(out));
            double r0 = ut_now();
            CFT_CHECK_RC(conns[ri], kv_get_many(conns[ri], q, N, out, rcs), 0);
            double r1 = ut_now();
            for (int i = 0; i < N; i++) {
                assert_int_equal(rcs[i], 0);
                assert_int_equal(out[i].len, BIG);
                assert_memory_equal(out[i].data, items[i].val, BIG);
                kv_buf_free(&out[i]);
            }
            print_message("%d x 64 KiB of random bytes: written by %s %s in %.2f s, read by %s "
                          "kv_get_many in %.2f s\n",
                          N, conn_scheme[run / 2], many ? "kv_set_many" : "kv_set", t1 - t0,
                          conn_scheme[ri], r1 - r0);
        }
    }
    free(data);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * 1000 small values of random bytes and 1000 of text through cloudflare-rest's kv_set_many, then
 * its kv_get_many of each set, interleaved; checked, and the medians printed. A small value that
 * is not text travels in its marker, so both take one bulk read per 100 keys.
 */
static void test_small_values(void **state) {
    (void)state;
    CFT_NEED_RUNTIME(up, skip_reason);
    enum { N = 1000, LEN = 100, ROUNDS = 5 };
    kv_conn *c = conns[REST];
    static char names[2][N][16];
    static kv_item items[2][N];
    static kv_key q[2][N];
    static kv_buf out[N];
    static int rcs[N];
    unsigned char *data = malloc(2 * N * LEN);
    assert_non_null(data);
    fill_random(data, N * LEN, 99);
    for (size_t i = 0; i < N * LEN; i++)
        data[N * LEN + i] = (unsigned char)('a' + data[i] % 26);
    CFT_CHECK_RC(c, kv_clear(c), 0);
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < N; i++) {
            int n = snprintf(names[s][i], sizeof(names[s][i]), "%s:%d", s ? "txt" : "bin", i);
            items[s][i] = (kv_item){names[s][i], (size_t)n, data + ((size_t)s * N + i) * LEN, LEN};
            q[s][i] = (kv_key){names[s][i], (size_t)n};
        }
        CFT_CHECK_RC(c, kv_set_many(c, items[s], N), 0);
    }
    double t[2][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int s = 0; s < 2; s++) {
            memset(out, 0, sizeof(out));
            double t0 = ut_now();
            CFT_CHECK_RC(c, kv_get_many(c, q[s], N, out, rcs), 0);
            t[s][r] = ut_now() - t0;
            for (int i = 0; i < N; i++) {
                assert_int_equal(rcs[i], 0);
                assert_int_equal(out[i].len, LEN);
                assert_memory_equal(out[i].data, items[s][i].val, LEN);
                kv_buf_free(&out[i]);
            }
        }
    qsort(t[0], ROUNDS, sizeof(double), cmp_double);
    qsort(t[1], ROUNDS, sizeof(double), cmp_double);
    print_message("cloudflare-rest kv_get_many of %d values of %d bytes, median of %d interleaved "
                  "rounds: random bytes %.3f s, text %.3f s (ratio %.2f)\n",
                  N, LEN, ROUNDS, t[0][ROUNDS / 2], t[1][ROUNDS / 2],
                  t[0][ROUNDS / 2] / t[1][ROUNDS / 2]);
    free(data);
}

static int group_setup(void **state) {
    (void)state;
    make_values();
    make_keys();
    int rc = cft_setup(&rt, &up, skip_reason, sizeof(skip_reason));
    for (int i = 0; rc == 0 && up && i < NCONN; i++) {
        char uri[300];
        cft_uri(&rt, conn_scheme[i], "", uri, sizeof(uri));
        rc = kv_open(uri, &conns[i]);
        if (rc < 0) {
            fprintf(stderr, "kv_open(%s): %s: %s\n", uri, kv_errname(rc), kv_errmsg(NULL));
            up = false;
        }
    }
    return rc < 0 ? -1 : 0;
}

static int group_teardown(void **state) {
    (void)state;
    for (int i = 0; i < NCONN; i++)
        if (conns[i])
            kv_close(conns[i]);
    cft_stop(&rt);
    cft_remove(&rt);
    free_values();
    return 0;
}

int main(void) {
    /* A hang fails the run instead of blocking CI. */
    alarm(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_every_path),
        cmocka_unit_test(test_big_values),
        cmocka_unit_test(test_small_values),
    };
    return cmocka_run_group_tests_name("cloudflare binary values", tests, group_setup,
                                       group_teardown);
}
