/*
 * test_original.c - the Python UltraDict's own test cases (tests/tests.py and the examples it
 * runs), re-expressed against the C API: count, huge value, parameter passing, iteration,
 * many deletes, already-exists, not-already-exists and cleanup.
 */
#include "testutil.h"

#include <stdlib.h>

static ud_dict *open_named(const char *name, int create) {
    ud_options o = ut_options(name);
    o.create = create;
    ud_dict *d = NULL;
    assert_ok(ud_open(&o, &d));
    return d;
}

/* A dict opened without a name (it gets a random one), and a second handle attached by that
 * name into *other. */
static ud_dict *open_unnamed(ud_dict **other) {
    ud_dict *ultra = NULL;
    assert_ok(ud_open(NULL, &ultra));
    ut_track(ud_name(ultra));
    *other = open_named(ud_name(ultra), UD_CREATE_OR_ATTACH);
    return ultra;
}

/* Two handles write half the keys each; both see all of them. */
static void test_count(void **state) {
    (void)state;
    ud_dict *other = NULL, *ultra = open_unnamed(&other);

    enum { COUNT = 100 };
    for (int i = 0; i < COUNT / 2; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        assert_ok(ud_set(ultra, S(k), S(k)));
    }
    for (int i = COUNT / 2; i < COUNT; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        assert_ok(ud_set(other, S(k), S(k)));
    }
    assert_int_equal(ud_len(ultra), COUNT);
    assert_int_equal(ud_len(other), COUNT);
    ud_buf v = UD_BUF_INIT;
    for (int i = 0; i < COUNT; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        assert_ok(ud_get(ultra, S(k), &v));
        assert_buf_eq(&v, S(k));
        assert_ok(ud_get(other, S(k), &v));
        assert_buf_eq(&v, S(k));
    }
    ud_buf_free(&v);
    assert_ok(ud_close(other));
    assert_ok(ud_close(ultra));
}

/*
 * Writes `writes` values of `huge` bytes under one key of dict `name` (which already holds other
 * entries), checking that another handle reads each intact; returns the number of full dumps.
 */
static uint64_t huge_writes(const char *name, ud_dict *ultra, ud_dict *other, size_t huge,
                            int writes) {
    ud_status_info st0, st;
    assert_ok(ud_status(ultra, &st0));
    unsigned char *val = malloc(huge);
    assert_non_null(val);
    ud_buf v = UD_BUF_INIT;
    for (int w = 0; w < writes; w++) {
        ut_value_make(val, huge, "huge", 4, (uint64_t)w);
        assert_ok(ud_set(ultra, "huge", 4, val, huge));
        if (w % 10 == 9) {
            /* The other handle follows along and gets exactly the latest value. */
            assert_ok(ud_get(other, "huge", 4, &v));
            assert_int_equal(v.len, huge);
            uint64_t seq = 0;
            assert_int_equal(ut_value_check("huge", 4, v.data, v.len, &seq), 0);
            assert_int_equal(seq, (uint64_t)w);
        }
    }
    assert_ok(ud_status(ultra, &st));
    /* The stream grew to hold the value (the documented behaviour). */
    assert_true(st.stream_capacity >= huge);
    /* A fresh handle gets the value too, and everything else. */
    ud_dict *late = open_named(name, UD_ATTACH_ONLY);
    assert_ok(ud_get(late, "huge", 4, &v));
    assert_int_equal(v.len, huge);
    assert_int_equal(ut_value_check("huge", 4, v.data, v.len, NULL), 0);
    assert_int_equal(ud_len(late), ud_len(ultra));
    assert_ok(ud_close(late));
    free(val);
    ud_buf_free(&v);
    printf("huge value: %d writes of %zu bytes, %zu-byte buffer, dict of %zu entries (last dump "
           "%zu bytes): %llu full dumps, stream capacity %zu\n",
           writes, huge, st.buffer_size, st.len, st.last_dump_bytes,
           (unsigned long long)(st.dump_count - st0.dump_count), st.stream_capacity);
    return st.dump_count - st0.dump_count;
}

/*
 * A value larger than the buffer. The original did one full dump per such write (a storm: each
 * write re-serialises the whole dict). Here 100 writes of a value 4x the buffer must cost far
 * fewer dumps than writes, and when the rest of the dict is large the dumps must be rare.
 */
static void test_huge_value(void **state) {
    (void)state;
    char name[64], name2[64];
    enum { BUF = 64 * 1024, HUGE = 4 * BUF, WRITES = 100 };
    ud_options o = ut_options(ut_name(name));
    o.buffer_size = BUF;
    ud_dict *ultra = NULL;
    assert_ok(ud_open(&o, &ultra));
    ud_dict *other = open_named(name, UD_ATTACH_ONLY);

    /* The original's case: the huge value is most of the dict. */
    assert_ok(ud_set(ultra, S("init"), S("some initial data")));
    uint64_t dumps = huge_writes(name, ultra, other, HUGE, WRITES);
    if (dumps >= WRITES / 2)
        fail_msg("%llu full dumps for %d writes of a value larger than the buffer: a dump storm",
                 (unsigned long long)dumps, WRITES);
    assert_ok(ud_close(other));
    assert_ok(ud_close(ultra));

    /* A dict of 2 MB besides the value: a dump is expensive and must be rare. */
    o.name = ut_name(name2);
    assert_ok(ud_open(&o, &ultra));
    other = open_named(name2, UD_ATTACH_ONLY);
    char small[1024];
    memset(small, 's', sizeof small);
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof k, "small%d", i);
        assert_ok(ud_set(ultra, S(k), small, sizeof small));
    }
    dumps = huge_writes(name2, ultra, other, HUGE, WRITES);
    if (dumps > 10)
        fail_msg("%llu full dumps of a 2 MB dict for %d writes of a %d-byte value: a dump storm",
                 (unsigned long long)dumps, WRITES, HUGE);
    assert_ok(ud_close(other));
    assert_ok(ud_close(ultra));
}

/* The creator's parameters reach an attacher that passes none. */
static void test_parameter_passing(const char *name) {
    ud_options o = ut_options(name);
    o.lock = UD_LOCK_SPIN;
    o.buffer_size = 4096 * 8;
    o.full_dump_size = 4096 * 8;
    ud_dict *ultra = NULL;
    assert_ok(ud_open(&o, &ultra));
    ud_dict *other = open_named(name, UD_CREATE_OR_ATTACH);

    ud_status_info a, b;
    assert_ok(ud_status(ultra, &a));
    assert_ok(ud_status(other, &b));
    assert_int_equal(a.lock_mode, UD_LOCK_SPIN);
    assert_int_equal(b.lock_mode, UD_LOCK_SPIN);
    assert_int_equal(a.buffer_size, 4096 * 8);
    assert_int_equal(b.buffer_size, a.buffer_size);
    assert_int_equal(a.full_dump_size, 4096 * 8);
    assert_int_equal(b.full_dump_size, a.full_dump_size);
    assert_true(b.dump_capacity[0] >= 4096 * 8);
    assert_false(b.recurse);

    /* And they work: a spin-locked write through the attacher. */
    assert_ok(ud_incr(other, S("n"), 2, NULL));
    assert_ok(ud_lock(other, NULL));
    assert_int_equal(ud_lock_holder(ultra), getpid());
    assert_ok(ud_unlock(other));
    int64_t r = 0;
    assert_ok(ud_incr(ultra, S("n"), 1, &r));
    assert_int_equal(r, 3);

    assert_ok(ud_close(other));
    assert_ok(ud_close(ultra));
}

/* Items written through one handle iterate through another, the same way. */
static void test_iter(void **state) {
    (void)state;
    ud_dict *other = NULL, *ultra = open_unnamed(&other);

    assert_ok(ud_set(ultra, S("1"), S("1")));
    assert_ok(ud_set(ultra, S("2"), S("2")));

    ud_iter *it = NULL;
    assert_ok(ud_iter_open(other, &it));
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    int counter = 0, rc;
    while ((rc = ud_iter_next(it, &k, &v, NULL)) == 0) {
        counter++;
        char want[16];
        snprintf(want, sizeof want, "%d", counter);
        assert_buf_eq(&k, S(want));
        assert_buf_eq(&v, S(want));
    }
    assert_rc(rc, UD_ENOTFOUND);
    ud_iter_close(it);
    assert_int_equal(counter, 2);

    uint64_t ha, hb;
    size_t na, nb;
    assert_ok(ut_dict_checksum(ultra, &ha, &na));
    assert_ok(ut_dict_checksum(other, &hb, &nb));
    assert_int_equal(na, 2);
    assert_int_equal(nb, 2);
    assert_int_equal(ha, hb);

    ud_buf_free(&k);
    ud_buf_free(&v);
    assert_ok(ud_close(other));
    assert_ok(ud_close(ultra));
}

/* 100k deletes: interleaved with sets on one handle, then 100k keys deleted through another. */
static void test_many_deletes(const char *name) {
    enum { N = 100000 };
    ud_dict *ultra = open_named(name, UD_CREATE_ONLY);
    ud_dict *other = open_named(name, UD_ATTACH_ONLY);

    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "%d", i);
        assert_ok(ud_set(ultra, k, (size_t)kl, k, (size_t)kl));
        assert_ok(ud_del(ultra, k, (size_t)kl));
    }
    assert_int_equal(ud_len(ultra), 0);
    assert_int_equal(ud_len(other), 0);

    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "%d", i);
        assert_ok(ud_set(ultra, k, (size_t)kl, k, (size_t)kl));
    }
    assert_int_equal(ud_len(other), N);
    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "%d", i);
        int rc = ud_del(other, k, (size_t)kl);
        if (rc != 0)
            fail_msg("delete %d of %d: %s", i, N, ud_errname(rc));
    }
    assert_int_equal(ud_len(other), 0);
    assert_int_equal(ud_len(ultra), 0);
    ud_dict *late = open_named(name, UD_ATTACH_ONLY);
    assert_int_equal(ud_len(late), 0);
    assert_ok(ud_close(late));

    assert_ok(ud_close(other));
    assert_ok(ud_close(ultra));
}

static void test_already_exists(const char *name) {
    ud_dict *ultra = open_named(name, UD_CREATE_ONLY);
    ud_options o = ut_options(name);
    o.create = UD_CREATE_ONLY;
    ud_dict *other = NULL;
    assert_rc(ud_open(&o, &other), UD_EEXIST);
    assert_null(other);
    assert_ok(ud_close(ultra));
}

static void test_not_already_exists(const char *name) {
    ud_options o = ut_options(name);
    o.create = UD_ATTACH_ONLY;
    ud_dict *other = NULL;
    assert_rc(ud_open(&o, &other), UD_ENOENT);
    assert_null(other);
    assert_rc(ud_exists(name), 0);
}

/*
 * Cleanup: file descriptors and segments return to their starting counts, for a plain and a
 * recursive dict with a nested child; and descriptors do not grow with attachments or dumps.
 */
static void test_cleanup(void **state) {
    (void)state;
    char name[64];
    int fds0 = ut_count_fds();
    int segs0 = ut_count_shm_prefix(ut_prefix());
    assert_true(fds0 > 0);

    ud_dict *ultra = open_named(ut_name(name), UD_CREATE_ONLY);
    assert_ok(ud_set(ultra, S("nested"), S("1")));
    int fds_open = ut_count_fds();
    printf("cleanup: %d file descriptors for one open dict\n", fds_open - fds0);
    assert_ok(ud_close(ultra));
    assert_int_equal(ut_count_fds(), fds0);
    assert_int_equal(ut_count_shm_prefix(ut_prefix()), segs0);

    ud_options o = ut_options(ut_name(name));
    o.recurse = true;
    assert_ok(ud_open(&o, &ultra));
    ud_dict *nested = NULL;
    assert_ok(ud_set_dict(ultra, S("nested"), &nested));
    assert_ok(ud_set(nested, S("1"), S("1")));
    assert_ok(ud_close(nested));
    printf("cleanup: %d file descriptors for one recursive dict with a child\n",
           ut_count_fds() - fds0);
    assert_int_equal(ut_unexpected_segments(name), 0);
    assert_ok(ud_close(ultra));
    assert_int_equal(ut_count_fds(), fds0);
    assert_int_equal(ut_count_shm_prefix(ut_prefix()), segs0);

    /* Descriptors do not grow with attachments (the original's #9/#33) or with dumps. */
    ultra = open_named(ut_name(name), UD_CREATE_ONLY);
    ud_dict *h[10];
    for (int i = 0; i < 10; i++)
        h[i] = open_named(name, UD_ATTACH_ONLY);
    int fds_attached = ut_count_fds();
    for (int round = 0; round < 50; round++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", round);
        assert_ok(ud_set(ultra, S(k), S("v")));
        assert_ok(ud_dump(ultra));
        for (int i = 0; i < 10; i++)
            assert_ok(ud_apply_update(h[i]));
    }
    int fds_after = ut_count_fds();
    if (fds_after > fds_attached)
        fail_msg("file descriptors grew from %d to %d over 50 dumps", fds_attached, fds_after);
    for (int i = 0; i < 10; i++)
        assert_ok(ud_close(h[i]));
    assert_ok(ud_close(ultra));
    assert_int_equal(ut_count_fds(), fds0);
    assert_int_equal(ut_count_shm_prefix(ut_prefix()), segs0);
}

UT_MAIN(UT_TEST(test_count), UT_TEST(test_huge_value), UT_NAMED_TEST(test_parameter_passing),
        UT_TEST(test_iter), UT_NAMED_TEST(test_many_deletes), UT_NAMED_TEST(test_already_exists),
        UT_NAMED_TEST(test_not_already_exists), UT_TEST(test_cleanup))
