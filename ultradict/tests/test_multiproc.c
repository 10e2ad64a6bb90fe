/*
 * test_multiproc.c - several processes on one dict: unrelated processes (fork + exec of this
 * binary) attaching by name, exact counters under both lock modes, explicit read-modify-write
 * under the lock. The randomised writers/readers run checked against a model is in
 * test_model.c; the lock's own semantics are in test_lock.c.
 *
 * Children never call cmocka: they _exit() with a status (and write figures into shared memory)
 * and the parent asserts. This binary doubles as the exec'd child: see child_main().
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#define WAIT_LIMIT 60.0 /* seconds: the hang guard for any group of children */

/* ---- Exec'd children: unrelated processes that know the dict only by name. ---- */

static int child_writer(const char *name, const char *tag) {
    ud_dict *d = ut_attach(name);
    if (d == NULL)
        return 2;
    ud_buf v = UD_BUF_INIT;
    if (ud_get(d, S("from_parent"), &v) != 0 || v.len != 5 || memcmp(v.data, "hello", 5) != 0)
        return 3;
    char k[64], val[64];
    snprintf(k, sizeof k, "from_%s", tag);
    snprintf(val, sizeof val, "value-%s", tag);
    if (ud_set(d, S(k), S(val)) != 0)
        return 4;
    ud_buf_free(&v);
    return ud_close(d) == 0 ? 0 : 5;
}

static int child_reader(const char *name, const char *key, const char *expected) {
    ud_dict *d = ut_attach(name);
    if (d == NULL)
        return 2;
    ud_buf v = UD_BUF_INIT;
    int rc = ud_get(d, S(key), &v);
    if (rc != 0)
        return 3;
    if (v.len != strlen(expected) || memcmp(v.data, expected, v.len) != 0)
        return 4;
    ud_buf_free(&v);
    ud_close(d);
    return 0;
}

/* Waits (with ud_wait) until the parent sets "go", then answers with "ack". */
static int child_waiter(const char *name) {
    ud_dict *d = ut_attach(name);
    if (d == NULL)
        return 2;
    if (ud_set(d, S("waiter_ready"), S("1")) != 0)
        return 3;
    double deadline = ut_now() + 20;
    while (ud_contains(d, S("go")) != 1) {
        int rc = ud_wait(d, 1.0);
        if (rc != 0 && rc != UD_ETIMEDOUT)
            return 4;
        if (ut_now() > deadline)
            return 5;
    }
    if (ud_set(d, S("ack"), S("ok")) != 0)
        return 6;
    ud_close(d);
    return 0;
}

/* K increments of "counter"; each result must be larger than the one before. */
static int child_incr(const char *name, long k, int gate_fd) {
    ud_dict *d = ut_attach(name);
    if (d == NULL)
        return 2;
    int gate[2] = {gate_fd, -1};
    if (ut_gate_wait(gate) != 0)
        return 3;
    int64_t first = 0, last = 0;
    int rc = ut_incr_rising(d, "counter", k, &first, &last);
    if (rc != 0)
        return 3 + rc;
    /* Where this child's increments landed: a span wider than K means it interleaved. */
    char key[32], span[64];
    snprintf(key, sizeof key, "span_%ld", (long)getpid());
    snprintf(span, sizeof span, "%lld", (long long)(last - first + 1));
    if (ud_set(d, S(key), S(span)) != 0)
        return 6;
    ud_close(d);
    return 0;
}

static int child_main(int argc, char **argv) {
    const char *mode = argv[1];
    if (strcmp(mode, "--child-writer") == 0 && argc == 4)
        return child_writer(argv[2], argv[3]);
    if (strcmp(mode, "--child-reader") == 0 && argc == 5)
        return child_reader(argv[2], argv[3], argv[4]);
    if (strcmp(mode, "--child-waiter") == 0 && argc == 3)
        return child_waiter(argv[2]);
    if (strcmp(mode, "--child-incr") == 0 && argc == 5)
        return child_incr(argv[2], atol(argv[3]), atoi(argv[4]));
    fprintf(stderr, "unknown child mode %s\n", mode);
    return 100;
}

static void test_exec_unrelated(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_ok(ud_set(d, S("from_parent"), S("hello")));

    /* Two unrelated writers, one after the other; then a reader checks the first one's write. */
    const char *w1[] = {"--child-writer", name, "one", NULL};
    const char *w2[] = {"--child-writer", name, "two", NULL};
    pid_t p = ut_spawn_self(w1);
    assert_true(p > 0);
    assert_int_equal(ut_wait(p, WAIT_LIMIT), 0);
    p = ut_spawn_self(w2);
    assert_int_equal(ut_wait(p, WAIT_LIMIT), 0);
    const char *r1[] = {"--child-reader", name, "from_one", "value-one", NULL};
    p = ut_spawn_self(r1);
    assert_int_equal(ut_wait(p, WAIT_LIMIT), 0);

    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(d, S("from_one"), &v));
    assert_buf_eq(&v, S("value-one"));
    assert_ok(ud_get(d, S("from_two"), &v));
    assert_buf_eq(&v, S("value-two"));

    /* An unrelated process waits for a change with ud_wait and answers. */
    const char *wt[] = {"--child-waiter", name, NULL};
    p = ut_spawn_self(wt);
    double deadline = ut_now() + 20;
    while (ud_contains(d, S("waiter_ready")) != 1 && ut_now() < deadline)
        ut_sleep(0.001);
    assert_rc(ud_contains(d, S("waiter_ready")), 1);
    ut_sleep(0.05);
    assert_ok(ud_set(d, S("go"), S("1")));
    double t0 = ut_now();
    int got = 0;
    while (ut_now() - t0 < 20) {
        if (ud_wait(d, 0.5) == 0 && ud_contains(d, S("ack")) == 1) {
            got = 1;
            break;
        }
    }
    printf("exec'd waiter answered %.1f ms after the write\n", (ut_now() - t0) * 1000);
    assert_int_equal(ut_wait(p, WAIT_LIMIT), 0);
    assert_true(got);

    ud_buf_free(&v);
    assert_ok(ud_close(d));
}

/* The processes of the tests below, and the increments each makes in the counting ones. */
enum { P = 4, K = 20000 };

/* P unrelated processes x K ud_incr: exactly P*K. */
static void run_incr_exact(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    int gate[2];
    assert_int_equal(ut_gate_open(gate), 0);
    char kbuf[16], fdbuf[16];
    snprintf(kbuf, sizeof kbuf, "%d", K);
    snprintf(fdbuf, sizeof fdbuf, "%d", gate[0]);
    const char *args[] = {"--child-incr", name, kbuf, fdbuf, NULL};
    pid_t pids[P];
    for (int i = 0; i < P; i++) {
        pids[i] = ut_spawn_self(args);
        assert_true(pids[i] > 0);
    }
    ut_sleep(0.05);
    double el = ut_gate_run(gate, pids, P, WAIT_LIMIT, "incr");

    int64_t total = ut_get_i64(d, "counter");
    int interleaved = 0;
    for (int i = 0; i < P; i++) {
        char key[32];
        snprintf(key, sizeof key, "span_%ld", (long)pids[i]);
        interleaved += ut_get_i64(d, key) > K;
    }
    printf("%s: %d exec'd processes x %d incr = %lld in %.3f s (%.0f incr/s); %d of %d "
           "children interleaved with others\n",
           lock == UD_LOCK_SPIN ? "spin" : "mutex", P, K, (long long)total, el, P * K / el,
           interleaved, P);
    assert_int_equal(total, (int64_t)P * K);
    assert_ok(ud_close(d));
}

/* ---- Read-modify-write under the explicit lock. ---- */

typedef struct rmw_arg {
    int k;
    int *gate;
} rmw_arg;

static int rmw_child(ud_dict *d, void *varg) {
    rmw_arg *a = varg;
    if (ut_gate_wait(a->gate) != 0)
        return 3;
    ud_buf v = UD_BUF_INIT;
    for (int i = 0; i < a->k; i++) {
        if (ud_lock(d, NULL) != 0)
            return 4;
        int64_t n = 0;
        int rc = ud_get(d, S("c"), &v);
        if (rc == 0) {
            if (ut_parse_i64(v.data, v.len, &n) != 0)
                return 5;
        } else if (rc != UD_ENOTFOUND) {
            return 6;
        }
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", (long long)(n + 1));
        if (ud_set(d, "c", 1, buf, (size_t)len) != 0)
            return 7;
        if (ud_unlock(d) != 0)
            return 8;
    }
    ud_buf_free(&v);
    ud_close(d);
    return 0;
}

static void run_rmw(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    int gate[2];
    assert_int_equal(ut_gate_open(gate), 0);
    rmw_arg a = {K, gate};
    pid_t pids[P];
    ut_fork_n_on(pids, P, name, rmw_child, &a);
    double el = ut_gate_run(gate, pids, P, WAIT_LIMIT, "rmw");
    int64_t total = ut_get_i64(d, "c");
    printf("%s: %d processes x %d lock/get/set/unlock = %lld in %.3f s\n",
           lock == UD_LOCK_SPIN ? "spin" : "mutex", P, K, (long long)total, el);
    assert_int_equal(total, (int64_t)P * K);
    assert_ok(ud_close(d));
}

/*
 * Processes that open one name, write and close at once, as the probes of several udbench
 * ranks do: the creator unlinks the dict at its close while others attach and create it anew.
 * An attacher that opened the control segment just before the unlink found the other segments
 * gone (UD_ECORRUPT), and a closer removing its parts by name could remove the parts of the
 * next creator's dict.
 */
static int churn_child(void *name) {
    for (int i = 0; i < 40; i++) {
        ud_options o = ut_options(name);
        ud_dict *d = NULL;
        int rc = ud_open(&o, &d);
        if (rc) {
            fprintf(stderr, "churn: ud_open: %s\n", ud_errname(rc));
            return 3;
        }
        int src = ud_set(d, S("k"), S("v"));
        if (ud_close(d) != 0 || src != 0)
            return 4;
    }
    return 0;
}

static void test_open_close_churn(void **state) {
    (void)state;
    enum { ROUNDS = 10 };
    for (int r = 0; r < ROUNDS; r++) {
        char name[64];
        int gate[2];
        assert_int_equal(ut_gate_open(gate), 0);
        ut_name(name);
        pid_t pids[P];
        for (int i = 0; i < P; i++) {
            pids[i] = ut_fork_gated(gate, churn_child, name);
            assert_true(pids[i] > 0);
        }
        ut_gate_run(gate, pids, P, WAIT_LIMIT, "open/close churn");
        (void)ud_unlink_by_name(name);
        assert_int_equal(ut_unexpected_segments(name), 0);
    }
}

int main(int argc, char **argv) {
    if (argc >= 2 && strncmp(argv[1], "--child-", 8) == 0)
        return child_main(argc, argv);
    const struct CMUnitTest tests[] = {
        UT_NAMED_TEST(test_exec_unrelated),
        UT_LOCK_TESTS(test_incr_exact, run_incr_exact),
        UT_LOCK_TESTS(test_rmw, run_rmw),
        cmocka_unit_test_teardown(test_open_close_churn, ut_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, ut_teardown);
}
