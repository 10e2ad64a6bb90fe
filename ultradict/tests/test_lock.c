/*
 * test_lock.c - the dict's lock in both modes: nonblock, timeout, steal, re-entrancy, fork,
 * handles and threads of one process, close releasing the lock, and many processes racing to
 * create one name.
 *
 * Children never call cmocka: they _exit() with a status and the parent asserts.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define WAIT_LIMIT 60.0 /* seconds: the hang guard for any group of children */

/* ---- Lock semantics. ---- */

typedef struct probe_arg {
    ud_dict *inherited; /* a handle inherited over fork, or NULL */
    const char *name;
    int expect; /* the ud_lock(nonblock) result the child must see */
} probe_arg;

/* Tries the lock once without blocking; exit 0 if the result is the expected one. */
static int probe_child(void *varg) {
    probe_arg *a = varg;
    ud_dict *d = a->inherited ? a->inherited : ut_attach(a->name);
    if (d == NULL)
        return 2;
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.nonblock = true;
    int rc = ud_lock(d, &lo);
    if (rc != a->expect)
        return 3;
    if (rc == 0 && ud_unlock(d) != 0)
        return 4;
    return 0;
}

static int probe(ud_dict *inherited, const char *name, int expect) {
    probe_arg a = {inherited, name, expect};
    pid_t pid = ut_fork(probe_child, &a);
    return ut_wait(pid, WAIT_LIMIT);
}

/* Sets "x" (blocking on the lock); exit 0 if it had to wait at least 0.2 s. */
typedef struct blocked_arg {
    const char *name;
    int ready[2]; /* the child writes one byte just before it calls ud_set */
} blocked_arg;

static int blocked_writer(ud_dict *d, void *varg) {
    blocked_arg *a = varg;
    double t0 = ut_now();
    if (ut_ready(a->ready) != 0)
        return 5;
    if (ud_set(d, S("x"), S("1")) != 0)
        return 3;
    return ut_now() - t0 >= 0.2 ? 0 : 4;
}

/* Uses an inherited handle: it does not hold the parent's lock, and can write once it is free. */
static int inherited_child(void *varg) {
    ud_dict *d = varg;
    if (ud_unlock(d) != UD_ENOTLOCKED)
        return 2;
    if (ud_set(d, S("from_child"), S("yes")) != 0)
        return 3;
    /* Closing a forked copy of the creator's handle must not unlink the dict. */
    if (ud_close(d) != 0)
        return 4;
    return 0;
}

static void run_lock_semantics(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    ut_holder h;
    double t0, el;

    /* nonblock: UD_EBUSY, and the holder's pid is reported. */
    pid_t pid = ut_holder_start(&h, name, UT_HOLD_UNTIL_RELEASED);
    assert_int_equal(ud_lock_holder(d), pid);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_int_equal(st.lock_holder, pid);
    lo.nonblock = true;
    t0 = ut_now();
    assert_rc(ud_lock(d, &lo), UD_EBUSY);
    assert_true(ut_now() - t0 < 2.0); /* at once, give or take a loaded machine */
    assert_rc(ud_unlock(d), UD_ENOTLOCKED);

    /* timeout: UD_ETIMEDOUT after about the timeout. */
    lo.nonblock = false;
    lo.timeout = 0.3;
    t0 = ut_now();
    assert_rc(ud_lock(d, &lo), UD_ETIMEDOUT);
    el = ut_now() - t0;
    if (el < 0.25 || el > 3.0)
        fail_msg("ud_lock(timeout 0.3) returned after %.3f s", el);

    /* steal_after_timeout never takes a live holder's lock (two writers): both modes time
     * out, and the holder keeps it. */
    lo.timeout = 0.2;
    lo.steal_after_timeout = true;
    t0 = ut_now();
    assert_rc(ud_lock(d, &lo), UD_ETIMEDOUT);
    assert_true(ut_now() - t0 >= 0.15);
    assert_int_equal(ud_lock_holder(d), pid);
    assert_rc(ud_unlock(d), UD_ENOTLOCKED);
    ut_holder_release(&h, WAIT_LIMIT);
    assert_int_equal(probe(NULL, name, 0), 0); /* the lock is usable by others afterwards */

    /* ud_lock_steal: immediately ours (spin); -ENOTSUP for the mutex. */
    pid = ut_holder_start(&h, name, UT_HOLD_UNTIL_RELEASED);
    assert_int_equal(ud_lock_holder(d), pid);
    if (lock == UD_LOCK_SPIN) {
        assert_ok(ud_lock_steal(d));
        assert_int_equal(ud_lock_holder(d), getpid());
        assert_ok(ud_incr(d, S("n"), 1, NULL));
        assert_ok(ud_unlock(d));
    } else {
        assert_rc(ud_lock_steal(d), -ENOTSUP);
        assert_int_equal(ud_lock_holder(d), pid);
        assert_rc(ud_unlock(d), UD_ENOTLOCKED);
    }
    ut_holder_release(&h, WAIT_LIMIT);
    assert_int_equal(ud_lock_holder(d), 0);
    assert_int_equal(probe(NULL, name, 0), 0);

    /* Re-entrancy: two locks need two unlocks. */
    assert_ok(ud_lock(d, NULL));
    assert_ok(ud_lock(d, NULL));
    assert_int_equal(probe(NULL, name, UD_EBUSY), 0);
    assert_ok(ud_unlock(d));
    assert_int_equal(ud_lock_holder(d), getpid());
    assert_int_equal(probe(NULL, name, UD_EBUSY), 0);
    assert_ok(ud_unlock(d));
    assert_int_equal(ud_lock_holder(d), 0);
    assert_int_equal(probe(NULL, name, 0), 0);
    assert_rc(ud_unlock(d), UD_ENOTLOCKED);

    /* While the lock is held, other processes' writes wait. */
    assert_ok(ud_lock(d, NULL));
    blocked_arg ba = {name, {-1, -1}};
    pid = ut_fork_ready(ba.name, blocked_writer, &ba, ba.ready);
    ut_sleep(0.3);
    assert_rc(ud_contains(d, S("x")), 0);
    assert_ok(ud_unlock(d));
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    assert_rc(ud_contains(d, S("x")), 1);

    /* Fork: the child's copy of the handle does not hold the parent's lock. */
    assert_ok(ud_lock(d, NULL));
    assert_int_equal(probe(d, name, UD_EBUSY), 0);
    pid = ut_fork(inherited_child, d);
    ut_sleep(0.2);
    assert_int_equal(ud_lock_holder(d), getpid()); /* the child's unlock did not release it */
    assert_rc(ud_contains(d, S("from_child")), 0);
    assert_ok(ud_unlock(d));
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    assert_rc(ud_exists(name), 1);
    assert_rc(ud_contains(d, S("from_child")), 1);

    assert_ok(ud_close(d));
    assert_rc(ud_exists(name), 0);
}

/* ---- Handles in one process: the lock excludes them like processes. ---- */

static void run_same_process(int lock) {
    char name[64];
    ud_dict *a = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    ud_dict *b = ut_open(name, UD_ATTACH_ONLY, lock, 0);
    ud_lock_options nb = UD_LOCK_OPTIONS_INIT, tm = UD_LOCK_OPTIONS_INIT;
    nb.nonblock = true;
    tm.timeout = 0.1;

    /* The results are collected first and checked after the handles are closed, so that a
     * failure leaves nothing behind. */
    int rc_a = ud_lock(a, NULL);
    int busy_b = ud_lock(b, &nb);
    int timed_b = ud_lock(b, &tm);
    int unlock_b = ud_unlock(b) ? -1 : ud_unlock(b);
    pid_t holder = ud_lock_holder(b);
    int unlock_a = ud_unlock(a);
    int rc_b = ud_lock(b, &tm);
    int busy_a = ud_lock(a, &nb);
    int unlock_b2 = ud_unlock(b);
    if (busy_a == 0)
        ud_unlock(a);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));

    assert_ok(rc_a);
    /* A second handle in the thread that holds the lock shares that hold (test_binding.c
     * checks the exclusion it still gives against other processes). */
    assert_ok(busy_b);
    assert_ok(timed_b);
    assert_ok(unlock_b);
    assert_int_equal(holder, getpid());
    assert_ok(unlock_a);
    assert_ok(rc_b);
    assert_ok(busy_a);
    assert_ok(unlock_b2);
}

/* Closing a handle that holds the lock (even twice, re-entrantly) releases it. */
static void run_close_releases(int lock) {
    char name[64];
    ud_dict *a = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    ud_dict *c = ut_open(name, UD_ATTACH_ONLY, lock, 0);
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.nonblock = true;
    assert_ok(ud_lock(c, NULL));
    assert_ok(ud_lock(c, NULL));
    assert_int_equal(ud_lock_holder(a), getpid());
    assert_ok(ud_close(c));
    assert_int_equal(ud_lock_holder(a), 0);
    assert_int_equal(probe(NULL, name, 0), 0);
    assert_ok(ud_lock(a, &lo));
    assert_ok(ud_unlock(a));
    assert_ok(ud_close(a));
}

/* ---- Threads, one handle each. ---- */

enum { NTHREADS = 4, TINCR = 20000, TRMW = 5000 };

typedef struct thread_arg {
    const char *name;
    int failed;
} thread_arg;

static void *thread_main(void *varg) {
    thread_arg *a = varg;
    ud_dict *d = ut_attach(a->name);
    if (d == NULL) {
        a->failed = 1;
        return NULL;
    }
    for (int i = 0; i < TINCR && !a->failed; i++) {
        if (ud_incr(d, S("n"), 1, NULL) != 0)
            a->failed = 2;
    }
    ud_buf v = UD_BUF_INIT;
    for (int i = 0; i < TRMW && !a->failed; i++) {
        if (ud_lock(d, NULL) != 0) {
            a->failed = 3;
            break;
        }
        int64_t n = 0;
        int rc = ud_get(d, S("m"), &v);
        if (rc == 0 && ut_parse_i64(v.data, v.len, &n) != 0)
            a->failed = 4;
        else if (rc != 0 && rc != UD_ENOTFOUND)
            a->failed = 5;
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", (long long)(n + 1));
        if (ud_set(d, "m", 1, buf, (size_t)len) != 0)
            a->failed = 6;
        if (ud_unlock(d) != 0)
            a->failed = 7;
    }
    ud_buf_free(&v);
    ud_close(d);
    return NULL;
}

static void run_threads(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    pthread_t t[NTHREADS];
    thread_arg args[NTHREADS];
    double t0 = ut_now();
    for (int i = 0; i < NTHREADS; i++) {
        args[i] = (thread_arg){name, 0};
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (args[i].failed)
            fail_msg("thread %d failed at step %d", i, args[i].failed);
    }
    int64_t n = ut_get_i64(d, "n"), m = ut_get_i64(d, "m");
    printf("%s: %d threads x (%d incr + %d locked read-modify-write) in %.3f s\n",
           lock == UD_LOCK_SPIN ? "spin" : "mutex", NTHREADS, TINCR, TRMW, ut_now() - t0);
    assert_int_equal(n, (int64_t)NTHREADS * TINCR);
    assert_int_equal(m, (int64_t)NTHREADS * TRMW);
    assert_ok(ud_close(d));
}

/* ---- Many processes opening one new name at the same moment. ---- */

enum { RACERS = 8, RACE_ROUNDS = 20 };

typedef struct race_shared {
    _Atomic int opened;
    int rc[RACERS];
    int creator[RACERS];
} race_shared;

typedef struct race_arg {
    const char *name;
    race_shared *sh;
    int id;
    int create;
} race_arg;

static int race_child(void *varg) {
    race_arg *a = varg;
    ud_options o = ut_options(a->name);
    o.create = a->create;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    ud_dict *d = NULL;
    int rc = ud_open(&o, &d);
    a->sh->rc[a->id] = rc;
    if (rc == 0) {
        ud_status_info st;
        if (ud_status(d, &st) != 0)
            return 3;
        a->sh->creator[a->id] = st.creator;
    }
    atomic_fetch_add(&a->sh->opened, 1);
    /* Everybody holds the dict open until all have opened it. */
    double deadline = ut_now() + 20;
    while (atomic_load(&a->sh->opened) < RACERS && ut_now() < deadline)
        ut_sleep(0.0005);
    if (rc == 0) {
        char k[16];
        snprintf(k, sizeof k, "p%d", a->id);
        if (ud_set(d, S(k), S("here")) != 0)
            return 4;
        ud_close(d);
    }
    return 0;
}

static void run_open_race(int create) {
    race_shared *sh = ut_shared_alloc(sizeof *sh);
    assert_non_null(sh);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char name[64];
        ut_name(name);
        memset(sh, 0, sizeof *sh);
        int gate[2];
        assert_int_equal(ut_gate_open(gate), 0);
        race_arg args[RACERS];
        pid_t pids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            args[i] = (race_arg){name, sh, i, create};
            pids[i] = ut_fork_gated(gate, race_child, &args[i]);
            assert_true(pids[i] > 0);
        }
        ut_sleep(0.01);
        ut_gate_run(gate, pids, RACERS, WAIT_LIMIT, "open race");
        int ok = 0, creators = 0, eexist = 0;
        for (int i = 0; i < RACERS; i++) {
            ok += sh->rc[i] == 0;
            eexist += sh->rc[i] == UD_EEXIST;
            creators += sh->rc[i] == 0 && sh->creator[i];
            if (sh->rc[i] != 0 && sh->rc[i] != UD_EEXIST)
                fail_msg("round %d: racer %d: ud_open returned %s", round, i,
                         ud_errname(sh->rc[i]));
        }
        if (creators != 1)
            fail_msg("round %d: %d processes believe they created the dict", round, creators);
        if (create == UD_CREATE_ONLY) {
            assert_int_equal(ok, 1);
            assert_int_equal(eexist, RACERS - 1);
        } else {
            assert_int_equal(ok, RACERS);
        }
        /* One dict, holding every racer's key. */
        ud_dict *d = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
        assert_int_equal(ud_len(d), (size_t)ok);
        for (int i = 0; i < RACERS; i++) {
            char k[16];
            snprintf(k, sizeof k, "p%d", i);
            assert_rc(ud_contains(d, S(k)), sh->rc[i] == 0 ? 1 : 0);
        }
        assert_ok(ud_close(d));
        assert_int_equal(ut_unexpected_segments(name), 0);
        assert_ok(ud_unlink_by_name(name));
    }
    ut_shared_free(sh, sizeof *sh);
}

static void test_open_race_create_or_attach(void **state) {
    (void)state;
    run_open_race(UD_CREATE_OR_ATTACH);
}

static void test_open_race_create_only(void **state) {
    (void)state;
    run_open_race(UD_CREATE_ONLY);
}

/* ---- Timeouts too long for a nanosecond clock. ---- */

typedef struct timed_arg {
    const char *name;
    double timeout;
    bool steal;
    int ready[2];
    int gate_w; /* the holder's release gate: closed here, or the holder would never go */
} timed_arg;

/* Locks with the given timeout; exit 0 if it got the lock only after the holder let it go (at
 * least 0.3 s), and nobody else held it meanwhile. */
static int timed_locker(ud_dict *d, void *varg) {
    timed_arg *a = varg;
    close(a->gate_w);
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.timeout = a->timeout;
    lo.steal_after_timeout = a->steal;
    double t0 = ut_now();
    if (ut_ready(a->ready) != 0)
        return 3;
    int rc = ud_lock(d, &lo);
    if (rc != 0)
        return 10 + (rc == UD_ETIMEDOUT) + 2 * (rc == UD_EINVAL);
    if (ut_now() - t0 < 0.3)
        return 4; /* it did not wait for the holder: the lock was taken from it */
    ud_unlock(d);
    ud_close(d);
    return 0;
}

static void run_huge_timeouts(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    const double timeouts[] = {9.3e9, 1e12, 1e300, INFINITY};
    for (size_t i = 0; i < sizeof timeouts / sizeof *timeouts; i++) {
        for (int steal = 0; steal < 2; steal++) {
            ut_holder h;
            ut_holder_start(&h, name, UT_HOLD_UNTIL_RELEASED);
            timed_arg a = {name, timeouts[i], steal != 0, {-1, -1}, h.release[1]};
            pid_t pid = ut_fork_ready(a.name, timed_locker, &a, a.ready);
            ut_sleep(0.5);
            ut_holder_release(&h, WAIT_LIMIT);
            int st = ut_wait(pid, WAIT_LIMIT);
            if (st != 0)
                fail_msg("ud_lock(timeout %g, steal %d) in mode %d: child status %d", timeouts[i],
                         steal, lock, st);
        }
    }
    assert_ok(ud_close(d));
}

UT_MAIN(UT_LOCK_TESTS(test_lock_semantics, run_lock_semantics),
        UT_LOCK_TESTS(test_huge_timeouts, run_huge_timeouts),
        UT_LOCK_TESTS(test_same_process, run_same_process),
        UT_LOCK_TESTS(test_close_releases, run_close_releases),
        UT_LOCK_TESTS(test_threads, run_threads), UT_TEST(test_open_race_create_or_attach),
        UT_TEST(test_open_race_create_only))
