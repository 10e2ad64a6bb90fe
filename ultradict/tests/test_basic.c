/*
 * test_basic.c - the dict protocol through one or two handles in one process: every call of the
 * public API that reads or writes entries, its return codes, and the error strings. Iteration
 * is in test_iter.c.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>

static void test_set_get(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    ud_buf v = UD_BUF_INIT;

    assert_rc(ud_get(d, S("missing"), &v), UD_ENOTFOUND);
    assert_ok(ud_set(d, S("a"), S("1")));
    assert_ok(ud_get(d, S("a"), &v));
    assert_buf_eq(&v, "1", 1);
    /* Overwrite, with a longer and then a shorter value, reusing the buffer. */
    assert_ok(ud_set(d, S("a"), S("a much longer value than before")));
    assert_ok(ud_get(d, S("a"), &v));
    assert_buf_eq(&v, S("a much longer value than before"));
    assert_ok(ud_set(d, S("a"), S("xy")));
    assert_ok(ud_get(d, S("a"), &v));
    assert_buf_eq(&v, "xy", 2);
    assert_int_equal(ud_len(d), 1);

    /* get_default: the default when absent (returning 0), the value when present. */
    assert_ok(ud_get_default(d, S("nope"), S("dflt"), &v));
    assert_buf_eq(&v, "dflt", 4);
    assert_rc(ud_contains(d, S("nope")), 0);
    assert_ok(ud_get_default(d, S("a"), S("dflt"), &v));
    assert_buf_eq(&v, "xy", 2);

    /* get_local reads the local copy. */
    assert_ok(ud_get_local(d, S("a"), &v));
    assert_buf_eq(&v, "xy", 2);
    assert_rc(ud_get_local(d, S("nope"), &v), UD_ENOTFOUND);

    ud_buf_free(&v);
    assert_null(v.data);
    ud_buf_free(NULL);
    assert_ok(ud_close(d));
}

static void test_get_local_is_stale(ud_dict *a, ud_dict *b, ud_buf *v) {
    assert_ok(ud_set(a, S("k"), S("v1")));
    /* b has not synchronised since the write: its local copy does not have the key. */
    assert_rc(ud_get_local(b, S("k"), v), UD_ENOTFOUND);
    /* ud_get synchronises. */
    assert_ok(ud_get(b, S("k"), v));
    assert_buf_eq(v, "v1", 2);
    assert_ok(ud_set(a, S("k"), S("v2")));
    assert_ok(ud_get_local(b, S("k"), v));
    assert_buf_eq(v, "v1", 2);
    assert_ok(ud_apply_update(b));
    assert_ok(ud_get_local(b, S("k"), v));
    assert_buf_eq(v, "v2", 2);
}

static void test_del_contains_len(ud_dict *d, ud_dict *o, ud_buf *v) {
    (void)v;
    assert_int_equal(ud_len(d), 0);
    assert_rc(ud_del(d, S("x")), UD_ENOTFOUND);
    assert_ok(ud_set(d, S("x"), S("1")));
    assert_ok(ud_set(d, S("y"), S("2")));
    assert_int_equal(ud_len(d), 2);
    assert_rc(ud_contains(d, S("x")), 1);
    assert_rc(ud_contains(o, S("x")), 1);
    assert_int_equal(ud_len(o), 2);
    assert_ok(ud_del(o, S("x")));
    assert_rc(ud_contains(d, S("x")), 0);
    assert_rc(ud_contains(d, S("y")), 1);
    assert_int_equal(ud_len(d), 1);
    assert_rc(ud_del(d, S("x")), UD_ENOTFOUND);
    assert_int_equal(ud_len(o), 1);
}

static void test_pop_popitem(ud_dict *d, ud_dict *o, ud_buf *v) {
    ud_buf k = UD_BUF_INIT;

    assert_rc(ud_pop(d, S("a"), v), UD_ENOTFOUND);
    assert_rc(ud_popitem(d, &k, v), UD_EEMPTY);

    assert_ok(ud_set(d, S("a"), S("va")));
    assert_ok(ud_set(d, S("b"), S("vb")));
    assert_ok(ud_set(d, S("c"), S("vc")));
    assert_ok(ud_set(d, S("d"), S("vd")));
    /* Overwriting an existing key keeps its place in the insertion order (Python semantics). */
    assert_ok(ud_set(d, S("a"), S("va2")));

    assert_ok(ud_pop(d, S("b"), v));
    assert_buf_eq(v, "vb", 2);
    assert_rc(ud_contains(o, S("b")), 0);
    assert_int_equal(ud_len(o), 3);

    /* LIFO: d, c, a. Through the other handle, too. */
    assert_ok(ud_popitem(o, &k, v));
    assert_buf_eq(&k, "d", 1);
    assert_buf_eq(v, "vd", 2);
    assert_ok(ud_popitem(d, &k, NULL));
    assert_buf_eq(&k, "c", 1);
    assert_ok(ud_popitem(d, NULL, v));
    assert_buf_eq(v, "va2", 3);
    assert_int_equal(ud_len(d), 0);
    assert_rc(ud_popitem(d, &k, v), UD_EEMPTY);
    assert_rc(ud_popitem(o, &k, v), UD_EEMPTY);

    /* Delete and re-insert moves a key to the end. */
    assert_ok(ud_set(d, S("x"), S("1")));
    assert_ok(ud_set(d, S("y"), S("2")));
    assert_ok(ud_del(d, S("x")));
    assert_ok(ud_set(d, S("x"), S("3")));
    assert_ok(ud_popitem(o, &k, v));
    assert_buf_eq(&k, "x", 1);
    assert_buf_eq(v, "3", 1);

    ud_buf_free(&k);
}

static void test_setdefault(ud_dict *d, ud_dict *o, ud_buf *v) {
    assert_ok(ud_setdefault(d, S("k"), S("first"), v));
    assert_buf_eq(v, "first", 5);
    assert_ok(ud_setdefault(o, S("k"), S("second"), v));
    assert_buf_eq(v, "first", 5);
    assert_ok(ud_get(o, S("k"), v));
    assert_buf_eq(v, "first", 5);
    assert_ok(ud_setdefault(o, S("k2"), S("d2"), NULL));
    assert_ok(ud_get(d, S("k2"), v));
    assert_buf_eq(v, "d2", 2);
    assert_int_equal(ud_len(d), 2);
}

static void test_update_clear(ud_dict *d, ud_dict *o, ud_buf *v) {
    assert_ok(ud_set(d, S("b"), S("old")));
    ud_item items[] = {
        {"a", 1, "1", 1},
        {"b", 1, "new", 3},
        {"c", 1, "", 0},
        {"a", 1, "last", 4}, /* a later item for the same key wins */
    };
    assert_ok(ud_update(d, items, 4));
    assert_int_equal(ud_len(o), 3);
    assert_ok(ud_get(o, S("a"), v));
    assert_buf_eq(v, "last", 4);
    assert_ok(ud_get(o, S("b"), v));
    assert_buf_eq(v, "new", 3);
    assert_ok(ud_get(o, S("c"), v));
    assert_buf_eq(v, "", 0);
    /* An empty update is valid and changes nothing. */
    assert_ok(ud_update(d, items, 0));
    assert_int_equal(ud_len(o), 3);

    /* update() is one record: the other handle replays it with one record applied. */
    ud_status_info st0, st1;
    assert_ok(ud_status(o, &st0));
    ud_item many[50];
    char keys[50][8];
    for (int i = 0; i < 50; i++) {
        snprintf(keys[i], sizeof keys[i], "m%02d", i);
        many[i] = (ud_item){keys[i], strlen(keys[i]), "x", 1};
    }
    assert_ok(ud_update(d, many, 50));
    assert_ok(ud_apply_update(o));
    assert_ok(ud_status(o, &st1));
    if (st1.local_dumps_loaded == st0.local_dumps_loaded)
        assert_int_equal(st1.local_records_applied - st0.local_records_applied, 1);
    assert_int_equal(ud_len(o), 53);

    assert_ok(ud_clear(o));
    assert_int_equal(ud_len(d), 0);
    assert_rc(ud_get(d, S("a"), v), UD_ENOTFOUND);
    assert_ok(ud_clear(d)); /* clearing an empty dict is fine */
    assert_ok(ud_set(d, S("after"), S("clear")));
    assert_int_equal(ud_len(o), 1);
}

static void test_incr(ud_dict *d, ud_dict *o, ud_buf *v) {
    int64_t r = 12345;

    /* A missing key counts from 0; the value is stored as decimal ASCII. */
    assert_ok(ud_incr(d, S("n"), 5, &r));
    assert_int_equal(r, 5);
    assert_ok(ud_get(o, S("n"), v));
    assert_buf_eq(v, "5", 1);
    assert_ok(ud_incr(o, S("n"), -12, &r));
    assert_int_equal(r, -7);
    assert_ok(ud_get(d, S("n"), v));
    assert_buf_eq(v, "-7", 2);
    assert_ok(ud_incr(d, S("n"), 0, NULL));
    assert_ok(ud_incr(d, S("neg"), -3, &r));
    assert_int_equal(r, -3);

    /* A value set by hand as a decimal integer can be incremented. */
    assert_ok(ud_set(d, S("s"), S("41")));
    assert_ok(ud_incr(o, S("s"), 1, &r));
    assert_int_equal(r, 42);

    /* Not a number: UD_ENOTNUM and the value is unchanged. */
    const char *bad[] = {"abc", "12x", "", "1.5", "0x10", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_ok(ud_set(d, S("bad"), S(bad[i])));
        r = 777;
        assert_rc(ud_incr(o, S("bad"), 1, &r), UD_ENOTNUM);
        assert_int_equal(r, 777);
        assert_ok(ud_get(d, S("bad"), v));
        assert_buf_eq(v, S(bad[i]));
    }

    /* Overflow in both directions: UD_EOVERFLOW and the value is unchanged. */
    char big[32];
    snprintf(big, sizeof big, "%lld", (long long)INT64_MAX);
    assert_ok(ud_set(d, S("max"), S(big)));
    assert_rc(ud_incr(o, S("max"), 1, &r), UD_EOVERFLOW);
    assert_ok(ud_get(d, S("max"), v));
    assert_buf_eq(v, S(big));
    assert_ok(ud_incr(o, S("max"), -1, &r));
    assert_int_equal(r, INT64_MAX - 1);
    snprintf(big, sizeof big, "%lld", (long long)INT64_MAX - 1);
    assert_ok(ud_get(d, S("max"), v));
    assert_buf_eq(v, S(big));
    assert_ok(ud_incr(d, S("zero"), 0, &r));
    assert_ok(ud_get(o, S("zero"), v));
    assert_buf_eq(v, "0", 1);
    assert_ok(ud_incr(d, S("min"), INT64_MIN, &r));
    assert_int_equal(r, INT64_MIN);
    assert_rc(ud_incr(d, S("min"), -1, &r), UD_EOVERFLOW);
    snprintf(big, sizeof big, "%lld", (long long)INT64_MIN);
    assert_ok(ud_get(o, S("min"), v));
    assert_buf_eq(v, S(big));
    /* A decimal string beyond int64_t is not a valid counter either. */
    assert_ok(ud_set(d, S("huge"), S("99999999999999999999")));
    int rc = ud_incr(d, S("huge"), 1, &r);
    if (rc != UD_EOVERFLOW && rc != UD_ENOTNUM)
        fail_msg("incr on 99999999999999999999 returned %s", ud_errname(rc));
    /* Numbers whose 64-bit accumulation wraps back into range are overflows too. */
    const char *wraps[] = {"18446744073709551616", "18446744073709551617", "36893488147419103232",
                           "9223372036854775808",  "+9223372036854775808", "-9223372036854775809"};
    for (size_t i = 0; i < sizeof wraps / sizeof wraps[0]; i++) {
        assert_ok(ud_set(d, S("wrap"), S(wraps[i])));
        r = 777;
        rc = ud_incr(o, S("wrap"), 1, &r);
        if (rc != UD_EOVERFLOW)
            fail_msg("incr on %s returned %s (result %lld)", wraps[i], ud_errname(rc),
                     (long long)r);
        assert_ok(ud_get(d, S("wrap"), v));
        assert_buf_eq(v, S(wraps[i]));
    }
}

/* Child: (NULL, 0) keys and values. Exit 0 if every result is 0 or UD_EINVAL and consistent. */
static int null_empty_child(ud_dict *d, void *varg) {
    (void)varg;
    ud_buf v = UD_BUF_INIT;
    int rc = ud_set(d, S("nullval"), NULL, 0);
    if (rc != 0 && rc != UD_EINVAL)
        return 3;
    if (rc == 0 && (ud_get(d, S("nullval"), &v) != 0 || v.len != 0 || ud_del(d, S("nullval")) != 0))
        return 4;
    rc = ud_set(d, NULL, 0, S("null key"));
    if (rc != 0 && rc != UD_EINVAL)
        return 5;
    if (rc == 0 && (ud_get(d, "", 0, &v) != 0 || v.len != 8))
        return 6;
    ud_buf_free(&v);
    ud_close(d);
    return 0;
}

static void test_empty_and_binary(ud_dict *d, ud_dict *o, ud_buf *v) {
    /* Empty key, empty value. */
    assert_ok(ud_set(d, "", 0, S("empty key")));
    assert_ok(ud_set(d, S("empty value"), "", 0));
    assert_ok(ud_get(o, "", 0, v));
    assert_buf_eq(v, S("empty key"));
    assert_ok(ud_get(o, S("empty value"), v));
    assert_buf_eq(v, "", 0);
    assert_rc(ud_contains(o, "", 0), 1);
    assert_int_equal(ud_len(o), 2);

    /* Binary keys and values with NUL bytes: "a\0b" and "a\0c" are different keys, and "a" is
     * a third one. */
    const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'};
    const unsigned char val[] = {0, 1, 2, 0, 255, 0, 'x', 0};
    assert_ok(ud_set(d, k1, 3, val, sizeof val));
    assert_ok(ud_set(d, k2, 3, val, 4));
    assert_ok(ud_set(d, "a", 1, "plain", 5));
    assert_ok(ud_get(o, k1, 3, v));
    assert_buf_eq(v, val, sizeof val);
    assert_ok(ud_get(o, k2, 3, v));
    assert_buf_eq(v, val, 4);
    assert_ok(ud_get(o, "a", 1, v));
    assert_buf_eq(v, "plain", 5);
    assert_int_equal(ud_len(o), 5);
    assert_ok(ud_del(o, k1, 3));
    assert_rc(ud_contains(d, k1, 3), 0);
    assert_rc(ud_contains(d, k2, 3), 1);

    /* All 256 byte values in a key. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    assert_ok(ud_set(d, all, sizeof all, all, sizeof all));
    assert_ok(ud_get(o, all, sizeof all, v));
    assert_buf_eq(v, all, sizeof all);
}

/*
 * An empty key or value may come as (NULL, 0): accepted, or refused with UD_EINVAL, but never
 * undefined behaviour. The calls run in a child: in the asan build UBSan ends it on UB.
 */
static void test_null_empty(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    pid_t pid = ut_fork_on(name, null_empty_child, NULL);
    int st = ut_wait(pid, 30);
    int contains = ud_contains(d, S("nullval"));
    assert_ok(ud_close(d));
    if (st != 0) {
        char buf[64];
        fail_msg("ud_set with a (NULL, 0) key or value: the child ended badly: %s",
                 ut_status_str(st, buf, sizeof buf));
    }
    assert_rc(contains, 0);
}

static void test_key_limits(ud_dict *d, ud_dict *o, ud_buf *v) {
    char *key = malloc(UD_KEY_MAX + 1);
    assert_non_null(key);
    for (size_t i = 0; i <= UD_KEY_MAX; i++)
        key[i] = (char)('a' + i % 26);

    assert_ok(ud_set(d, key, UD_KEY_MAX, S("max")));
    assert_ok(ud_get(o, key, UD_KEY_MAX, v));
    assert_buf_eq(v, "max", 3);
    size_t before = ud_len(d);

    /* One byte too long: UD_ETOOBIG from every call that takes a key, and nothing changes. */
    assert_rc(ud_set(d, key, UD_KEY_MAX + 1, S("too big")), UD_ETOOBIG);
    assert_rc(ud_incr(d, key, UD_KEY_MAX + 1, 1, NULL), UD_ETOOBIG);
    assert_rc(ud_setdefault(d, key, UD_KEY_MAX + 1, S("x"), NULL), UD_ETOOBIG);
    ud_item it = {key, UD_KEY_MAX + 1, "x", 1};
    assert_rc(ud_update(d, &it, 1), UD_ETOOBIG);
    assert_rc_either(ud_get_local(d, key, UD_KEY_MAX + 1, v), UD_ENOTFOUND, UD_ETOOBIG);
    assert_int_equal(ud_len(d), before);
    assert_int_equal(ud_len(o), before);

    /* The max-size key can be deleted. */
    assert_ok(ud_del(o, key, UD_KEY_MAX));
    assert_rc(ud_contains(d, key, UD_KEY_MAX), 0);

    free(key);
}

static void test_error_strings(void **state) {
    (void)state;
    struct {
        int code;
        const char *name;
        const char *msg;
    } codes[] = {
#define XX(code, val, msg) {code, #code, msg},
        UD_ERRNO_MAP(XX)
#undef XX
    };
    size_t n = sizeof codes / sizeof codes[0];
    assert_true(n >= 21);
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i].code < -1000);
        assert_non_null(ud_strerror(codes[i].code));
        assert_non_null(ud_errname(codes[i].code));
        assert_string_equal(ud_errname(codes[i].code), codes[i].name);
        assert_string_equal(ud_strerror(codes[i].code), codes[i].msg);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(codes[i].code, codes[j].code);
    }
    /* OS errors pass through as -errno. */
    assert_string_equal(ud_errname(-ENOMEM), "ENOMEM");
    assert_string_equal(ud_strerror(-ENOMEM), strerror(ENOMEM));
    assert_string_equal(ud_errname(-EACCES), "EACCES");
    assert_string_equal(ud_strerror(-EACCES), strerror(EACCES));
    /* Success and unknown codes still give a string. */
    assert_non_null(ud_strerror(0));
    assert_non_null(ud_errname(0));
    assert_true(strlen(ud_strerror(0)) > 0);
    assert_non_null(ud_strerror(-999999));
    assert_non_null(ud_errname(-999999));
    assert_non_null(ud_strerror(12345));
    assert_non_null(ud_errname(12345));
}

UT_MAIN(UT_NAMED_TEST(test_set_get), UT_PAIR_TEST(test_get_local_is_stale),
        UT_PAIR_TEST(test_del_contains_len), UT_PAIR_TEST(test_pop_popitem),
        UT_PAIR_TEST(test_setdefault), UT_PAIR_TEST(test_update_clear), UT_PAIR_TEST(test_incr),
        UT_PAIR_TEST(test_empty_and_binary), UT_NAMED_TEST(test_null_empty),
        UT_PAIR_TEST(test_key_limits), cmocka_unit_test(test_error_strings))
