/*
 * test_threads.c - the lock belongs to a thread: threads sharing one handle exclude each other,
 * an unlock from a thread that does not hold the lock fails and changes nothing, one thread can
 * hold any number of dicts' locks and still share each hold with a second handle (and finds a
 * dict it does not hold without scanning them), and a wait asked to be interruptible ends when
 * a signal handler runs. Both lock modes.
 *
 * Children never call cmocka: they _exit() with a status and the parent asserts.
 */
#include "testutil.h"

#include "internal.h" /* ud__held_scanned() */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>

#define WAIT_LIMIT 60.0 /* seconds: the hang guard for a child */

/* ---- Threads sharing one handle: a locked read-modify-write loses nothing. ---- */

enum { RMW_THREADS = 2, RMW_ROUNDS = 150 };

typedef struct rmw_arg {
    ud_dict *d;
    int failed;
} rmw_arg;

/* One locked read-modify-write of "n", with a pause inside the section. 0 or the failed step. */
static int rmw_once(ud_dict *d) {
    if (ud_lock(d, NULL) != 0)
        return 1;
    int64_t n = 0;
    ud_buf v = UD_BUF_INIT;
    int rc = ud_get(d, S("n"), &v);
    int failed =
        rc == 0 ? (ut_parse_i64(v.data, v.len, &n) != 0 ? 2 : 0) : (rc != UD_ENOTFOUND ? 3 : 0);
    ud_buf_free(&v);
    ut_sleep(0.0001);
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%lld", (long long)(n + 1));
    if (!failed && ud_set(d, "n", 1, buf, (size_t)len) != 0)
        failed = 4;
    if (ud_unlock(d) != 0)
        failed = 5;
    return failed;
}

static void *rmw_thread(void *varg) {
    rmw_arg *a = varg;
    for (int i = 0; i < RMW_ROUNDS && !a->failed; i++)
        a->failed = rmw_once(a->d);
    return NULL;
}

/* In a child: can another process take the lock and write at once? 0 if so. */
static int writer_child(ud_dict *d, void *name) {
    (void)name;
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.timeout = 5;
    int rc = ud_lock(d, &o);
    if (rc == 0)
        rc = ud_set(d, S("other"), S("1"));
    if (rc == 0)
        rc = ud_unlock(d);
    ud_close(d);
    return rc == 0 ? 0 : 3;
}

static void assert_free_for_others(const char *name) {
    pid_t pid = ut_fork_on(name, writer_child, NULL);
    assert_true(pid > 0);
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
}

static void run_shared_rmw(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    pthread_t t[RMW_THREADS];
    rmw_arg args[RMW_THREADS];
    for (int i = 0; i < RMW_THREADS; i++) {
        args[i] = (rmw_arg){d, 0};
        assert_int_equal(pthread_create(&t[i], NULL, rmw_thread, &args[i]), 0);
    }
    for (int i = 0; i < RMW_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (args[i].failed)
            fail_msg("thread %d failed at step %d", i, args[i].failed);
    }
    assert_int_equal(ut_get_i64(d, "n"), (int64_t)RMW_THREADS * RMW_ROUNDS);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_int_equal(st.lock_holder, 0);
    assert_free_for_others(name);
    assert_ok(ud_close(d));
}

/* ---- While one thread holds the lock, another sharing the handle neither gets nor frees it. */

typedef struct probe_arg {
    ud_dict *d;
    int nonblock_rc, timeout_rc, unlock_rc;
    double waited;
} probe_arg;

static void *probe_thread(void *varg) {
    probe_arg *a = varg;
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.nonblock = true;
    a->nonblock_rc = ud_lock(a->d, &o);
    o.nonblock = false;
    o.timeout = 0.2;
    double t0 = ut_now();
    a->timeout_rc = ud_lock(a->d, &o);
    a->waited = ut_now() - t0;
    a->unlock_rc = ud_unlock(a->d);
    return NULL;
}

static void run_shared_excludes(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    assert_ok(ud_lock(d, NULL));
    assert_ok(ud_lock(d, NULL)); /* re-entrant for this thread */
    probe_arg a = {d, 1, 1, 1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, probe_thread, &a), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(a.nonblock_rc, UD_EBUSY);
    assert_int_equal(a.timeout_rc, UD_ETIMEDOUT);
    assert_true(a.waited >= 0.19);
    assert_int_equal(a.unlock_rc, UD_ENOTLOCKED);
    /* The other thread's attempts changed nothing: two levels are still ours. */
    assert_int_equal(ud_lock_holder(d), getpid());
    assert_ok(ud_unlock(d));
    assert_int_equal(ud_lock_holder(d), getpid());
    assert_ok(ud_unlock(d));
    assert_rc(ud_unlock(d), UD_ENOTLOCKED);
    assert_int_equal(ud_lock_holder(d), 0);
    assert_free_for_others(name);
    assert_ok(ud_close(d));
}

/* ---- One thread holding many dicts' locks still shares each with a second handle. ---- */

enum { MANY = 40 }; /* past the table's first 16 entries and its first doubling */

typedef struct many_arg {
    char names[MANY][64];
    int lock;
} many_arg;

/* In a child (a hang is a timeout, not a stuck test): locks MANY dicts through one handle
 * each, writes through a second handle of each, then releases all. 0 or the failed step. */
static int many_child(void *varg) {
    many_arg *a = varg;
    ud_dict *h1[MANY], *h2[MANY];
    for (int i = 0; i < MANY; i++) {
        h1[i] = ut_attach(a->names[i]);
        h2[i] = ut_attach(a->names[i]);
        if (!h1[i] || !h2[i])
            return 2;
    }
    /* Each lock really taken (the holder is this process), none shared by mistake. */
    for (int i = 0; i < MANY; i++)
        if (ud_lock(h1[i], NULL) != 0 || ud_lock_holder(h1[i]) != getpid())
            return 3;
    for (int i = 0; i < MANY; i++)
        if (ud_set(h2[i], S("k"), S("v")) != 0)
            return 4;
    /* Released out of order (which moves entries inside the table of holds), each release
     * followed by a section of the released dict's second handle, which must take the lock
     * itself (not share a hold found by mistake), and a write through a dict still held, which
     * must share its hold. */
    for (int k = 0; k < MANY; k++) {
        int i = (k * 7) % MANY, j = (k * 7 + 13) % MANY;
        if (ud_unlock(h1[i]) != 0 || ud_lock_held(h1[i]))
            return 5;
        if (ud_lock(h2[i], NULL) != 0 || ud_lock_holder(h2[i]) != getpid() ||
            ud_set(h2[i], S("k"), S("after")) != 0 || ud_unlock(h2[i]) != 0 ||
            ud_lock_holder(h2[i]) != 0)
            return 6;
        if (ud_lock_held(h1[j]) &&
            (ud_set(h2[j], S("k"), S("shared")) != 0 || !ud_lock_held(h1[j]) ||
             ud_lock_held(h2[j]) || ud_lock_holder(h1[j]) != getpid()))
            return 7;
    }
    for (int i = 0; i < MANY; i++) {
        ud_close(h2[i]);
        ud_close(h1[i]);
    }
    return 0;
}

static void run_many_held(int lock) {
    many_arg *a = ut_shared_alloc(sizeof *a);
    ud_dict *d[MANY];
    for (int i = 0; i < MANY; i++)
        d[i] = ut_open(ut_name(a->names[i]), UD_CREATE_ONLY, lock, 4096);
    pid_t pid = ut_fork(many_child, a);
    assert_true(pid > 0);
    char buf[32];
    int st = ut_wait(pid, 20);
    if (st != 0)
        fail_msg("child: %s", ut_status_str(st, buf, sizeof buf));
    for (int i = 0; i < MANY; i++) {
        ud_buf v = UD_BUF_INIT;
        assert_ok(ud_get(d[i], S("k"), &v));
        assert_string_equal(v.data, "after");
        ud_buf_free(&v);
        assert_int_equal(ud_lock_holder(d[i]), 0);
        ud_lock_options o = UD_LOCK_OPTIONS_INIT;
        o.nonblock = true;
        assert_ok(ud_lock(d[i], &o));
        assert_ok(ud_unlock(d[i]));
        assert_ok(ud_close(d[i]));
    }
    ut_shared_free(a, sizeof *a);
}

/* ---- Finding that a dict is not held does not scan the holds of the others. ---- */

enum { FREE_ROUNDS = 200 };

/* One thread holds MANY dicts' locks and writes and reads another dict FREE_ROUNDS times: each
 * write asks whether the thread holds that dict (its lock) and finds it by the hint of its last
 * entry (its sync and its unlock), each read asks while the others are held (its sync). At most
 * one scan of the MANY entries in all, not one per operation; and the dict, once held, is
 * found held (a second handle shares the hold), so the answer "not held" is dropped with it. */
static void run_not_held_o1(int lock) {
    char names[MANY + 1][64];
    ud_dict *d[MANY + 1];
    for (int i = 0; i <= MANY; i++)
        d[i] = ut_open(ut_name(names[i]), UD_CREATE_ONLY, lock, 1 << 16);
    for (int i = 0; i < MANY; i++)
        assert_ok(ud_lock(d[i], NULL));
    ud_dict *x = d[MANY];
    uint64_t before = ud__held_scanned();
    ud_buf v = UD_BUF_INIT;
    for (int r = 0; r < FREE_ROUNDS; r++) {
        assert_ok(ud_set(x, S("k"), S("v")));
        assert_ok(ud_get(x, S("k"), &v));
    }
    uint64_t scanned = ud__held_scanned() - before;
    printf("%d writes and reads of a dict not held, %d others held: %llu entries compared\n",
           FREE_ROUNDS, MANY, (unsigned long long)scanned);
    assert_true(scanned <= MANY);
    ud_dict *x2 = ut_attach(names[MANY]);
    assert_non_null(x2);
    assert_ok(ud_lock(x, NULL));
    assert_ok(ud_set(x2, S("k"), S("shared")));
    assert_true(ud_lock_held(x) && !ud_lock_held(x2));
    assert_ok(ud_unlock(x));
    assert_int_equal(ud_lock_holder(x), 0);
    assert_ok(ud_get(x2, S("k"), &v));
    assert_string_equal(v.data, "shared");
    ud_buf_free(&v);
    assert_ok(ud_close(x2));
    for (int i = 0; i < MANY; i++)
        assert_ok(ud_unlock(d[i]));
    for (int i = 0; i <= MANY; i++)
        assert_ok(ud_close(d[i]));
}

/* ---- An interruptible wait ends when a signal handler runs. ---- */

static atomic_int alarms;

static void on_alarm(int sig) {
    (void)sig;
    atomic_fetch_add(&alarms, 1);
}

/* A handler with SA_RESTART (the harder case: glibc's own waits restart after it), and a timer
 * that fires every 50 ms; returns the rc of ud_lock(o) and its duration. */
static int lock_under_alarms(ud_dict *d, const ud_lock_options *o, double *took) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {{0, 50000}, {0, 50000}}, off = {{0, 0}, {0, 0}};
    atomic_store(&alarms, 0);
    double t0 = ut_now();
    setitimer(ITIMER_REAL, &it, NULL);
    int rc = ud_lock(d, o);
    setitimer(ITIMER_REAL, &off, NULL);
    *took = ut_now() - t0;
    sigaction(SIGALRM, &old, NULL);
    return rc;
}

static void run_interruptible(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    ut_holder h;
    pid_t pid = ut_holder_start(&h, name, UT_HOLD_UNTIL_RELEASED);

    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.sleep_time = 0.005; /* the spin mode notices a signal during its naps */
    o.timeout = 0.5;
    double took;
    /* Not asked: the handlers run and the wait goes on to its timeout. */
    assert_rc(lock_under_alarms(d, &o, &took), UD_ETIMEDOUT);
    assert_true(took >= 0.45);
    assert_true(atomic_load(&alarms) >= 3);
    /* Asked: the first handler that runs while the wait sleeps ends it. */
    o.interruptible = true;
    o.timeout = 10;
    assert_rc(lock_under_alarms(d, &o, &took), -EINTR);
    assert_true(took < 2.0);
    assert_int_equal(ud_lock_holder(d), pid);

    ut_holder_release(&h, WAIT_LIMIT);
    /* An interruptible wait that is not interrupted takes the lock as any other. */
    assert_ok(ud_lock(d, &o));
    assert_ok(ud_unlock(d));
    assert_ok(ud_close(d));
}

/* ---- An interruptible waiter wakes when the holder dies. ---- */

static void run_owner_dies(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    ut_holder h;
    pid_t pid = ut_holder_start(&h, name, 0.3); /* dies holding the lock */
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.interruptible = true;
    o.timeout = 10;
    double t0 = ut_now();
    assert_ok(ud_lock(d, &o));
    double took = ut_now() - t0;
    assert_true(took < 2.0);
    assert_ok(ud_set(d, S("after"), S("1")));
    assert_ok(ud_unlock(d));
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_int_equal(st.lock_recoveries, 1);
    assert_ok(ud_close(d));
}

/* ---- Interruptible waiters still hand the lock on: no wake-up is lost. ---- */

enum { HAND_PROCS = 4, HAND_ROUNDS = 1000 };

static int handoff_child(ud_dict *d, void *name) {
    (void)name;
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.interruptible = true;
    for (int i = 0; i < HAND_ROUNDS; i++) {
        int rc = ud_lock(d, (i & 1) ? &o : NULL);
        if (rc != 0)
            return 3;
        int64_t n = ut_get_i64(d, "n");
        ut_sleep(0.00005); /* the others queue up meanwhile */
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", (long long)(n + 1));
        if (ud_set(d, "n", 1, buf, (size_t)len) != 0 || ud_unlock(d) != 0)
            return 4;
    }
    ud_close(d);
    return 0;
}

static void test_interruptible_handoff(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 1 << 16);
    assert_ok(ud_set(d, S("n"), S("0")));
    pid_t pids[HAND_PROCS];
    double t0 = ut_now();
    for (int i = 0; i < HAND_PROCS; i++)
        pids[i] = ut_fork_on(name, handoff_child, NULL);
    ut_assert_children(pids, HAND_PROCS, WAIT_LIMIT, "handoff");
    printf("%d processes x %d locked increments (every other wait interruptible): %.3f s\n",
           HAND_PROCS, HAND_ROUNDS, ut_now() - t0);
    assert_int_equal(ut_get_i64(d, "n"), (int64_t)HAND_PROCS * HAND_ROUNDS);
    assert_ok(ud_close(d));
}

UT_MAIN(UT_LOCK_TESTS(test_shared_handle_rmw, run_shared_rmw),
        UT_LOCK_TESTS(test_shared_handle_excludes, run_shared_excludes),
        UT_LOCK_TESTS(test_many_held, run_many_held),
        UT_LOCK_TESTS(test_not_held_o1, run_not_held_o1),
        UT_LOCK_TESTS(test_interruptible, run_interruptible),
        UT_LOCK_TESTS(test_interruptible_owner_dies, run_owner_dies),
        UT_NAMED_TEST(test_interruptible_handoff))
