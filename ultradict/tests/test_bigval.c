/*
 * test_bigval.c - large values: the checksum of records and dumps computed while a value is
 * copied equals the one computed over the bytes afterwards (ud__check), large writes into a
 * big dict cost no dump of the whole dict every few writes, and readers replaying large
 * records straight from shared memory stay correct while dumps move the stream under them.
 */
#include "testutil.h"

#include <stdlib.h>

#include "hash.h"
#include "internal.h"

static void fill(char *p, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (char)(seed >> 56);
    }
}

/* ud__item_encode_check() and ud__copy_check() give ud__check() of the bytes they wrote, for
 * every split of header, key and value around the 64-byte blocks and the copy's chunks. */
static void test_check_fused(void **state) {
    (void)state;
    static const size_t klens[] = {0, 1, 9, 47, 48, 100, 4095, UD_KEY_MAX};
    static const size_t vlens[] = {0,    1,    63,   64,   200,  239,   240,        241,
                                   4031, 4032, 4095, 4096, 4097, 65536, 65536 + 13, 300001};
    size_t cap = 16 + UD_KEY_MAX + 300001;
    char *key = malloc(UD_KEY_MAX), *val = malloc(300001), *dst = malloc(cap), *cp = malloc(cap);
    assert_non_null(key);
    assert_non_null(val);
    assert_non_null(dst);
    assert_non_null(cp);
    fill(key, UD_KEY_MAX, 1);
    fill(val, 300001, 2);
    for (size_t i = 0; i < sizeof klens / sizeof klens[0]; i++)
        for (size_t j = 0; j < sizeof vlens / sizeof vlens[0]; j++) {
            size_t len = 16 + klens[i] + vlens[j];
            uint64_t seed = ud__rec_seed(i * 4096, len + 24, 0, 1);
            uint64_t c = ud__item_encode_check(dst, UD__ITEM_SET, UD_TYPE_BYTES, key, klens[i], val,
                                               vlens[j], seed);
            assert_int_equal(c, ud__check(dst, len, seed));
            assert_int_equal(ud__copy_check(cp, dst, len, seed), c);
            assert_memory_equal(cp, dst, len);
            if (len < UD__CHECK_SUMMED)
                assert_int_equal(c, ud__hash(dst, len, seed));
        }
    free(key);
    free(val);
    free(dst);
    free(cp);
}

/* The block sums see a changed byte anywhere, two words swapped, and another seed. */
static void test_check_detects(void **state) {
    (void)state;
    enum { N = 65536 + 37 };
    char *p = malloc(N);
    assert_non_null(p);
    fill(p, N, 3);
    uint64_t c = ud__check(p, N, 42);
    assert_true(ud__check(p, N, 43) != c);
    assert_true(ud__check(p, N - 1, 42) != c);
    for (size_t at = 0; at < N; at += 997) {
        p[at] ^= 0x10;
        assert_true(ud__check(p, N, 42) != c);
        p[at] ^= 0x10;
    }
    /* Two different words exchanged between blocks: the same plain sums, other running sums. */
    uint64_t w0, w1;
    memcpy(&w0, p + 64, 8);
    memcpy(&w1, p + 4096, 8);
    memcpy(p + 64, &w1, 8);
    memcpy(p + 4096, &w0, 8);
    assert_true(ud__check(p, N, 42) != c);
    free(p);
}

enum { BIG = 65536, BIG_KEYS = 128 }; /* an 8 MiB dict of 64 KiB values */

static void key_of(char *k, size_t i) {
    snprintf(k, 16, "big%05zu", i);
}

/*
 * 64 KiB values in an 8 MiB dict with the default 1 MiB buffer: after the dict is filled, the
 * stream grows instead of dumping, and 512 more updates cost at most two dumps (before, the
 * full buffer was dumped every 16 writes: 32 dumps of 8 MiB). A reader attached throughout
 * replays the large records and ends with the same dict.
 */
static void test_large_updates_no_dump_storm(void **state) {
    (void)state;
    char name[64];
    ud_dict *a = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    ud_dict *b = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    char *val = malloc(BIG);
    assert_non_null(val);
    char k[16];
    for (size_t i = 0; i < BIG_KEYS; i++) {
        key_of(k, i);
        ut_value_make(val, BIG, k, strlen(k), i);
        assert_ok(ud_set(a, S(k), val, BIG));
    }
    ud_status_info s0, s;
    assert_ok(ud_status(a, &s0));
    ut_rng r;
    ut_rng_seed(&r, 7);
    for (uint64_t n = 0; n < 512; n++) {
        key_of(k, ut_rng_below(&r, BIG_KEYS));
        ut_value_make(val, BIG, k, strlen(k), 1000 + n);
        assert_ok(ud_set(a, S(k), val, BIG));
        if (n % 7 == 0)
            assert_ok(ud_apply_update(b));
    }
    assert_ok(ud_status(a, &s));
    printf("512 updates of 64 KiB in an 8 MiB dict: %llu dumps, stream %llu bytes\n",
           (unsigned long long)(s.dump_count - s0.dump_count),
           (unsigned long long)s.stream_capacity);
    assert_true(s.dump_count - s0.dump_count <= 2);
    /* The stream stays within a small multiple of the dict: 2x it, grown by half, and a record. */
    assert_true(s.stream_capacity <= 3 * (size_t)BIG_KEYS * (BIG + 64) + 2 * BIG);
    ud_buf v = UD_BUF_INIT;
    for (size_t i = 0; i < BIG_KEYS; i++) {
        key_of(k, i);
        assert_ok(ud_get(b, S(k), &v));
        assert_int_equal(ut_value_check(k, strlen(k), v.data, v.len, NULL), 0);
    }
    ut_assert_same_dict(a, b);
    ud_buf_free(&v);
    free(val);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* Shared with the children of test_replay_races_dumps. */
typedef struct race {
    char name[64];
} race;

enum { RACE_KEYS = 8, RACE_VLEN = 40000 };

/* The writer: large values, and a dump every few writes, so that base moves under readers
 * replaying straight from the stream. */
static int race_child(int index, void *arg) {
    race *rc = arg;
    ud_dict *d = ut_attach(rc->name);
    if (!d)
        return 10;
    char *val = malloc(RACE_VLEN);
    ud_buf v = UD_BUF_INIT;
    char k[16];
    int status = 0;
    ut_rng r;
    ut_rng_seed(&r, (uint64_t)index + 1);
    double until = ut_now() + 2.0;
    for (uint64_t n = 0; status == 0 && ut_now() < until; n++) {
        snprintf(k, sizeof k, "r%d", (int)ut_rng_below(&r, RACE_KEYS));
        if (index == 0) {
            ut_value_make(val, RACE_VLEN, k, strlen(k), n);
            if (ud_set(d, S(k), val, RACE_VLEN) != 0 || (n % 5 == 0 && ud_dump(d) != 0))
                status = 1;
        } else {
            int got = ud_get(d, S(k), &v);
            if (got != 0 || ut_value_check(k, strlen(k), v.data, v.len, NULL) != 0)
                status = 2;
        }
    }
    free(val);
    ud_buf_free(&v);
    if (ud_close(d) != 0 && status == 0)
        status = 3;
    return status;
}

/* One writer dumping every five writes and two readers: every value read is intact. */
static void test_replay_races_dumps(void **state) {
    (void)state;
    race *rc = ut_shared_alloc(sizeof *rc);
    ud_dict *d = ut_open(ut_name(rc->name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    char *val = malloc(RACE_VLEN);
    assert_non_null(val);
    for (int i = 0; i < RACE_KEYS; i++) {
        char k[16];
        snprintf(k, sizeof k, "r%d", i);
        ut_value_make(val, RACE_VLEN, k, strlen(k), 0);
        assert_ok(ud_set(d, S(k), val, RACE_VLEN));
    }
    assert_int_equal(ut_run_children(3, race_child, rc, 60), 0);
    free(val);
    assert_ok(ud_close(d));
    ut_shared_free(rc, sizeof *rc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_fused),
        cmocka_unit_test(test_check_detects),
        cmocka_unit_test_teardown(test_large_updates_no_dump_storm, ut_teardown),
        cmocka_unit_test_teardown(test_replay_races_dumps, ut_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, ut_teardown);
}
