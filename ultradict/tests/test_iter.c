/*
 * test_iter.c - iteration in insertion order (keys, values, items), through the handle that
 * writes, a write through it during the iteration (UD_ECHANGED), and changes made by another
 * handle.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>

/* Collects an iteration into arrays of keys/values (either may be skipped). */
static int collect(ud_dict *d, bool want_key, bool want_val, char keys[][16], char vals[][16],
                   int max) {
    ud_iter *it = NULL;
    assert_ok(ud_iter_open(d, &it));
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    int n = 0, rc, type = -1;
    while ((rc = ud_iter_next(it, want_key ? &k : NULL, want_val ? &v : NULL, &type)) == 0) {
        assert_true(n < max);
        assert_int_equal(type, UD_TYPE_BYTES);
        if (want_key) {
            assert_true(k.len < 16);
            memcpy(keys[n], k.data, k.len);
            keys[n][k.len] = '\0';
        }
        if (want_val) {
            assert_true(v.len < 16);
            memcpy(vals[n], v.data, v.len);
            vals[n][v.len] = '\0';
        }
        n++;
    }
    assert_rc(rc, UD_ENOTFOUND);
    /* The end is sticky. */
    assert_rc(ud_iter_next(it, &k, &v, NULL), UD_ENOTFOUND);
    ud_iter_close(it);
    ud_buf_free(&k);
    ud_buf_free(&v);
    return n;
}

static void test_iteration_order(void **state) {
    (void)state;
    ut_pair p = ut_pair_open();
    ud_dict *d = p.d, *o = p.o;
    enum { N = 200 };
    static char keys[N][16], vals[N][16];

    /* Keys chosen so that insertion order differs from sorted and from hash order. */
    for (int i = 0; i < N; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", (i * 7919) % 1000);
        snprintf(v, sizeof v, "v%d", i);
        assert_ok(ud_set(d, S(k), S(v)));
    }
    /* Overwrite some: their positions stay. Delete some: they vanish. */
    for (int i = 0; i < N; i += 10) {
        char k[16];
        snprintf(k, sizeof k, "k%d", (i * 7919) % 1000);
        assert_ok(ud_set(o, S(k), S("over")));
    }
    for (int i = 5; i < N; i += 10) {
        char k[16];
        snprintf(k, sizeof k, "k%d", (i * 7919) % 1000);
        assert_ok(ud_del(o, S(k)));
    }

    ud_dict *hs[2] = {d, o};
    for (int h = 0; h < 2; h++) {
        /* keys(), values() and items() all follow insertion order. */
        static char ks[N][16], vs[N][16];
        int nk = collect(hs[h], true, false, ks, NULL, N);
        int nv = collect(hs[h], false, true, NULL, vs, N);
        int ni = collect(hs[h], true, true, keys, vals, N);
        assert_int_equal(nk, N - N / 10);
        assert_int_equal(nv, nk);
        assert_int_equal(ni, nk);
        int j = 0;
        for (int i = 0; i < N; i++) {
            if (i % 10 == 5)
                continue;
            char k[16], v[16];
            snprintf(k, sizeof k, "k%d", (i * 7919) % 1000);
            if (i % 10 == 0)
                snprintf(v, sizeof v, "over");
            else
                snprintf(v, sizeof v, "v%d", i);
            assert_string_equal(ks[j], k);
            assert_string_equal(keys[j], k);
            assert_string_equal(vs[j], v);
            assert_string_equal(vals[j], v);
            j++;
        }
    }

    /* An empty dict iterates to nothing. */
    assert_ok(ud_clear(d));
    assert_int_equal(collect(o, true, true, keys, vals, N), 0);
    ud_iter_close(NULL);

    ut_pair_close(&p);
}

static void test_iteration_changed(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    ud_buf k = UD_BUF_INIT;
    assert_ok(ud_set(d, S("a"), S("1")));
    assert_ok(ud_set(d, S("b"), S("2")));
    assert_ok(ud_set(d, S("c"), S("3")));

    const char *what[] = {"set", "del", "incr", "clear"};
    for (int w = 0; w < 4; w++) {
        ud_iter *it = NULL;
        assert_ok(ud_iter_open(d, &it));
        assert_ok(ud_iter_next(it, &k, NULL, NULL));
        int rc = 0;
        switch (w) {
        case 0:
            rc = ud_set(d, S("new"), S("x"));
            break;
        case 1:
            rc = ud_del(d, S("new"));
            break;
        case 2:
            rc = ud_incr(d, S("cnt"), 1, NULL);
            break;
        default:
            rc = ud_clear(d);
            break;
        }
        assert_ok(rc);
        rc = ud_iter_next(it, &k, NULL, NULL);
        if (rc != UD_ECHANGED)
            fail_msg("writing (%s) during iteration: ud_iter_next returned %s, expected "
                     "UD_ECHANGED",
                     what[w], ud_errname(rc));
        /* It stays changed. */
        assert_rc(ud_iter_next(it, &k, NULL, NULL), UD_ECHANGED);
        ud_iter_close(it);
    }

    /* Reading during iteration is fine. */
    assert_ok(ud_set(d, S("a"), S("1")));
    assert_ok(ud_set(d, S("b"), S("2")));
    ud_iter *it = NULL;
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_iter_open(d, &it));
    assert_ok(ud_iter_next(it, &k, NULL, NULL));
    assert_ok(ud_get(d, S("a"), &v));
    assert_rc(ud_contains(d, S("b")), 1);
    assert_ok(ud_iter_next(it, &k, NULL, NULL));
    assert_rc(ud_iter_next(it, &k, NULL, NULL), UD_ENOTFOUND);
    ud_iter_close(it);

    ud_buf_free(&k);
    ud_buf_free(&v);
    assert_ok(ud_close(d));
}

/*
 * Another handle's writes reach this handle while it iterates (a read synchronises it; with a
 * small buffer the update is a full dump that replaces the local table): the iterator reports
 * UD_ECHANGED or goes on with valid entries, and never reads freed memory.
 */
static void test_iteration_remote_changes(const char *name) {
    ud_options opt = ut_options(name);
    opt.buffer_size = 4096;
    ud_dict *a = NULL;
    assert_ok(ud_open(&opt, &a));
    ud_dict *b = ut_attach(name);
    assert_non_null(b);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        assert_ok(ud_set(a, S(k), S("0123456789")));
    }
    for (int round = 0; round < 2; round++) {
        ud_iter *it = NULL;
        ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
        assert_ok(ud_iter_open(a, &it));
        for (int i = 0; i < 5; i++)
            assert_ok(ud_iter_next(it, &k, &v, NULL));
        /* Round 0: one streamed record. Round 1: enough to force full dumps. */
        int writes = round == 0 ? 1 : 300;
        for (int i = 0; i < writes; i++) {
            char key[16];
            snprintf(key, sizeof key, "r%d", i);
            assert_ok(ud_set(b, S(key), S("remote value, long enough to fill the stream")));
        }
        assert_ok(ud_get(a, S("k00"), &v)); /* synchronises a */
        int rc, n = 0;
        while ((rc = ud_iter_next(it, &k, &v, NULL)) == 0 && n++ < 1000) {
            assert_true(k.len >= 2);
            assert_true(((char *)k.data)[0] == 'k' || ((char *)k.data)[0] == 'r');
        }
        if (rc != UD_ECHANGED && rc != UD_ENOTFOUND)
            fail_msg("ud_iter_next after remote changes: %s", ud_errname(rc));
        ud_iter_close(it);
        ud_buf_free(&k);
        ud_buf_free(&v);
    }
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

UT_MAIN(UT_TEST(test_iteration_order), UT_NAMED_TEST(test_iteration_changed),
        UT_NAMED_TEST(test_iteration_remote_changes))
