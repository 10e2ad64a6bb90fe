/*
 * test_write_behind.c - the set of a contended dict (ops.c, may_write_behind()): a handle whose
 * local copy is behind the stream appends its record without replaying the others' first, and
 * catches up at its next read. What it must keep: every read sees the handle's own writes
 * (ud_get_local() too), a full stream still dumps the whole dict, several processes writing at
 * once agree on every key, and a writer killed in the middle leaves a dict whose every handle
 * and every new attacher sees the same entries.
 */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Two handles: b writes, then a (now behind) writes. a's record goes out without a replay -
 * local_records_applied stays 0 - and its next read replays both records. */
static void test_behind_then_read(void **state) {
    (void)state;
    ut_pair p = ut_pair_open();
    ud_dict *a = p.d, *b = p.o;
    ud_buf v = UD_BUF_INIT;
    ud_status_info st;

    assert_ok(ud_set(b, S("from-b"), S("1")));
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "a%d", i);
        assert_ok(ud_set(a, k, strlen(k), S("x")));
    }
    /* Before any read of a: the records are published, a's copy is where it was. */
    assert_ok(ud_get(b, S("a9"), &v));
    assert_buf_eq(&v, "x", 1);
    assert_ok(ud_status(b, &st));
    uint64_t end = st.end_position;
    /* ud_get_local() of a sees a's own writes and b's. */
    assert_ok(ud_get_local(a, S("a3"), &v));
    assert_buf_eq(&v, "x", 1);
    assert_ok(ud_get_local(a, S("from-b"), &v));
    assert_buf_eq(&v, "1", 1);
    assert_ok(ud_status(a, &st));
    assert_int_equal(st.local_position, end);
    /* b's record and a's ten, replayed: the writes went out behind a's copy. */
    assert_int_equal(st.local_records_applied, 11);
    assert_int_equal(ud_len(a), 11);
    ut_assert_same_dict(a, b);
    ud_buf_free(&v);
    ut_pair_close(&p);
}

/* Alternating writers on a small stream: each write is behind, and every few hundred the stream
 * fills and the writer catches up and dumps. Values are per key the last one written. */
static void test_behind_through_dumps(void **state) {
    (void)state;
    char name[64];
    ud_dict *a = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 4096);
    ud_dict *b = ut_attach(name);
    ud_buf v = UD_BUF_INIT;
    ud_status_info st0, st;
    assert_ok(ud_status(a, &st0));
    char k[16], val[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i % 97);
        snprintf(val, sizeof val, "v%d", i);
        assert_ok(ud_set(i & 1 ? b : a, k, strlen(k), val, strlen(val)));
    }
    assert_ok(ud_status(a, &st));
    assert_true(st.dump_count > st0.dump_count + 10);
    for (int i = 3000 - 97; i < 3000; i++) {
        snprintf(k, sizeof k, "k%d", i % 97);
        snprintf(val, sizeof val, "v%d", i);
        assert_ok(ud_get(i & 1 ? a : b, k, strlen(k), &v));
        assert_buf_eq(&v, val, strlen(val));
    }
    ut_assert_same_dict(a, b);
    ud_dict *c = ut_attach(name);
    ut_assert_same_dict(a, c);
    assert_ok(ud_close(c));
    ud_buf_free(&v);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

#define WRITERS 4
#define WRITES 4000
#define KEYS_EACH 50

typedef struct run {
    char name[64];
} run;

/* Child i: its own keys w<i>-<k>, each written WRITES / KEYS_EACH times, the last value known. */
static int writer(int i, void *arg) {
    const run *r = arg;
    ud_dict *d = ut_attach(r->name);
    char k[32], val[32];
    for (int n = 0; n < WRITES; n++) {
        snprintf(k, sizeof k, "w%d-%d", i, n % KEYS_EACH);
        snprintf(val, sizeof val, "%d", n);
        if (ud_set(d, k, strlen(k), val, strlen(val)) != 0)
            return 1;
    }
    return ud_close(d) == 0 ? 0 : 2;
}

static void check_last_values(ud_dict *d, int writers) {
    ud_buf v = UD_BUF_INIT;
    char k[32], val[32];
    for (int i = 0; i < writers; i++)
        for (int n = WRITES - KEYS_EACH; n < WRITES; n++) {
            snprintf(k, sizeof k, "w%d-%d", i, n % KEYS_EACH);
            snprintf(val, sizeof val, "%d", n);
            assert_ok(ud_get(d, k, strlen(k), &v));
            assert_buf_eq(&v, val, strlen(val));
        }
    ud_buf_free(&v);
}

/* Processes writing at once, on a stream that fills many times: every key ends at its writer's
 * last value, in the creator's copy and in a new attacher's. */
static void writers_at_once(int lock) {
    run r;
    ud_dict *d = ut_open(ut_name(r.name), UD_CREATE_ONLY, lock, 16384);
    assert_int_equal(ut_run_children(WRITERS, writer, &r, 120), 0);
    check_last_values(d, WRITERS);
    assert_int_equal(ud_len(d), WRITERS * KEYS_EACH);
    ud_dict *c = ut_attach(r.name);
    ut_assert_same_dict(d, c);
    assert_ok(ud_close(c));
    assert_ok(ud_close(d));
}

/* Writes until killed: the parent's writes keep it behind. */
static int endless_writer(void *arg) {
    const run *r = arg;
    ud_dict *d = ut_attach(r->name);
    char val[32];
    for (unsigned n = 0;; n++) {
        snprintf(val, sizeof val, "%u", n);
        if (ud_set(d, S("victim"), val, strlen(val)) != 0)
            return 1;
    }
}

/* A writer killed with SIGKILL in the middle of writes behind (and of the catch-ups and dumps a
 * small stream forces): the dict stays whole - the other writer goes on, and a new attacher
 * sees what it sees. In UD_LOCK_SPIN mode a holder killed in its section is taken over. */
static void writer_killed(int lock) {
    run r;
    ud_dict *d = ut_open(ut_name(r.name), UD_CREATE_ONLY, lock, 8192);
    for (int round = 0; round < 5; round++) {
        pid_t pid = ut_fork(endless_writer, &r);
        assert_true(pid > 0);
        char k[32];
        for (int n = 0; n < 2000; n++) {
            snprintf(k, sizeof k, "p%d", n % 40);
            assert_ok(ud_set(d, k, strlen(k), k, strlen(k)));
        }
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(ut_wait(pid, 30), 128 + SIGKILL);
        assert_ok(ud_set(d, S("after"), S("kill")));
        ud_dict *c = ut_attach(r.name);
        ut_assert_same_dict(d, c);
        assert_ok(ud_close(c));
    }
    /* p0..p39, "after", and "victim" unless every child was killed before its first write. */
    assert_int_equal(ud_len(d), 40 + 1 + (ud_contains(d, S("victim")) == 1));
    assert_ok(ud_close(d));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_behind_then_read, ut_teardown),
        cmocka_unit_test_teardown(test_behind_through_dumps, ut_teardown),
        UT_LOCK_TESTS(test_writers_at_once, writers_at_once),
        UT_LOCK_TESTS(test_writer_killed, writer_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
