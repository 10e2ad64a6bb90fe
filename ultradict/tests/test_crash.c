/*
 * test_crash.c - processes killed with SIGKILL: a lock holder (in both lock modes, reaped at
 * once or left a zombie) and writers killed at random moments while dumps are in flight.
 * After every kill the dict must be consistent and usable.
 *
 * Children never call cmocka: they _exit() with a status and the parent asserts.
 */
#include "testutil.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#define GUARD 10.0 /* seconds: the hang guard for one recovery */

/* ---- kill -9 of the lock holder. ---- */

typedef struct crash_shared {
    double taker_waiting; /* when the taker started waiting for the lock */
    double taker_got;     /* when it got the lock */
    int taker_rc;
} crash_shared;

typedef struct holder_arg {
    const char *name;
    int ready[2];
    crash_shared *sh;
} holder_arg;

/* Takes the lock, writes under it, says so, and waits to be killed. */
static int holder_child(ud_dict *d, void *varg) {
    holder_arg *a = varg;
    if (ud_lock(d, NULL) != 0)
        return 3;
    if (ud_set(d, S("holder"), S("was here")) != 0)
        return 4;
    if (ut_ready(a->ready) != 0)
        return 5;
    for (;;)
        pause();
}

/* Waits for the lock (at most GUARD seconds), then carries on writing. */
static int taker_child(ud_dict *d, void *varg) {
    holder_arg *a = varg;
    if (ut_ready(a->ready) != 0)
        return 3;
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.timeout = GUARD;
    a->sh->taker_waiting = ut_now();
    int rc = ud_lock(d, &lo);
    a->sh->taker_got = ut_now();
    a->sh->taker_rc = rc;
    if (rc != 0)
        return 4;
    if (ud_incr(d, S("after"), 1, NULL) != 0)
        return 5;
    if (ud_set(d, S("taker"), S("ok")) != 0)
        return 6;
    if (ud_unlock(d) != 0)
        return 7;
    ud_close(d);
    return 0;
}

static void run_holder_killed(int lock, bool reap_at_once) {
    const char *mode = lock == UD_LOCK_SPIN ? "spin" : "mutex";
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    crash_shared *sh = ut_shared_alloc(sizeof *sh);
    assert_non_null(sh);
    holder_arg a = {name, {-1, -1}, sh};

    pid_t holder = ut_fork_ready(a.name, holder_child, &a, a.ready);
    assert_int_equal(ud_lock_holder(d), holder);
    pid_t taker = ut_fork_ready(a.name, taker_child, &a, a.ready);
    ut_sleep(0.05); /* the taker is now blocked in ud_lock */

    double killed = ut_now();
    assert_int_equal(kill(holder, SIGKILL), 0);
    int hs = -1;
    if (reap_at_once)
        hs = ut_wait(holder, GUARD);
    int ts = ut_wait(taker, GUARD + 5);
    if (!reap_at_once)
        hs = ut_wait(holder, GUARD);
    assert_int_equal(hs, 128 + SIGKILL);
    double recovery = sh->taker_got - killed;
    printf("lock recovery (%s, holder %s): a blocked process got the lock %.3f ms after kill -9 "
           "(rc %s)\n",
           mode, reap_at_once ? "reaped at once" : "left a zombie", recovery * 1000,
           ud_errname(sh->taker_rc));
    if (ts != 0) {
        char buf[64];
        fail_msg("%s: the taker failed: %s, ud_lock returned %s after %.3f s", mode,
                 ut_status_str(ts, buf, sizeof buf), ud_errname(sh->taker_rc),
                 sh->taker_got - sh->taker_waiting);
    }

    /* The taker carried on. The dead holder's section never reached its ud_unlock, so none
     * of it was published: a section is all or nothing. */
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(d, S("taker"), &v));
    assert_buf_eq(&v, "ok", 2);
    assert_ok(ud_get(d, S("after"), &v));
    assert_buf_eq(&v, "1", 1);
    assert_rc(ud_get(d, S("holder"), &v), UD_ENOTFOUND);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_true(st.lock_recoveries >= 1);
    assert_int_equal(ud_lock_holder(d), 0);

    /* The parent takes the lock too, and everything still works. */
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.timeout = GUARD;
    assert_ok(ud_lock(d, &lo));
    assert_ok(ud_incr(d, S("after"), 1, NULL));
    assert_ok(ud_unlock(d));
    assert_ok(ud_get(d, S("after"), &v));
    assert_buf_eq(&v, "2", 1);

    /* A holder killed with nobody waiting: the next ud_lock recovers it. */
    holder = ut_fork_ready(a.name, holder_child, &a, a.ready);
    assert_int_equal(kill(holder, SIGKILL), 0);
    if (reap_at_once)
        assert_int_equal(ut_wait(holder, GUARD), 128 + SIGKILL);
    double t0 = ut_now();
    int rc = ud_lock(d, &lo);
    double el = ut_now() - t0;
    printf("lock recovery (%s, holder %s, nobody waiting): ud_lock took %.3f ms\n", mode,
           reap_at_once ? "reaped at once" : "left a zombie", el * 1000);
    if (!reap_at_once)
        assert_int_equal(ut_wait(holder, GUARD), 128 + SIGKILL);
    assert_ok(rc);
    assert_ok(ud_set(d, S("parent"), S("ok")));
    assert_ok(ud_unlock(d));
    assert_ok(ud_status(d, &st));
    assert_true(st.lock_recoveries >= 2);

    ud_buf_free(&v);
    ut_shared_free(sh, sizeof *sh);
    assert_ok(ud_close(d));
}

static void run_holder_killed_reaped(int lock) {
    run_holder_killed(lock, true);
}

static void run_holder_killed_zombie(int lock) {
    run_holder_killed(lock, false);
}

/* ---- Writers killed at random moments. ---- */

enum { CK = 32, CC = 4, KILLS = 100 };

typedef struct kill_shared {
    int64_t last[CC];  /* the highest value seen for each counter */
    char err[160];     /* why the checker failed */
    uint64_t items;    /* items the checker saw */
    uint64_t checksum; /* its checksum of the dict */
} kill_shared;

/* Writes forever: sets, updates and increments, with values of random sizes (varg: the seed). */
static int crash_writer(ud_dict *d, void *varg) {
    const uint64_t seed = *(const uint64_t *)varg;
    ut_rng r;
    ut_rng_seed(&r, seed);
    static unsigned char vals[4][700];
    for (uint64_t i = 0;; i++) {
        uint64_t pick = ut_rng_below(&r, 10);
        char keys[4][16];
        int n = pick < 4 ? 1 : pick < 7 ? 1 + (int)ut_rng_below(&r, 4) : 0;
        size_t lens[4];
        for (int j = 0; j < n; j++) {
            snprintf(keys[j], sizeof keys[j], "k%02d", (int)ut_rng_below(&r, CK));
            lens[j] = UT_VALUE_MIN + (size_t)ut_rng_below(&r, 600);
            ut_value_make(vals[j], lens[j], keys[j], strlen(keys[j]), seed ^ (i << 3 | j));
        }
        int rc;
        if (pick < 4) {
            rc = ud_set(d, S(keys[0]), vals[0], lens[0]);
        } else if (pick < 7) {
            ud_item items[4];
            for (int j = 0; j < n; j++)
                items[j] = (ud_item){keys[j], strlen(keys[j]), vals[j], lens[j]};
            rc = ud_update(d, items, (size_t)n);
        } else {
            char c[16];
            snprintf(c, sizeof c, "c%d", (int)ut_rng_below(&r, CC));
            rc = ud_incr(d, S(c), 1, NULL);
        }
        if (rc != 0)
            return 3;
    }
}

typedef struct check_arg {
    const char *name;
    kill_shared *sh;
    bool write;
} check_arg;

/*
 * Validates every item of `d`: values self-check, counters are integers that never go back.
 * Returns 0 or a failure code (with sh->err set).
 */
static int validate(ud_dict *d, kill_shared *sh) {
    ud_iter *it = NULL;
    int rc = ud_iter_open(d, &it);
    if (rc != 0) {
        snprintf(sh->err, sizeof sh->err, "ud_iter_open: %s", ud_errname(rc));
        return 10;
    }
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    uint64_t n = 0;
    int fail = 0;
    while (fail == 0 && (rc = ud_iter_next(it, &k, &v, NULL)) == 0) {
        n++;
        const char *key = k.data;
        if (k.len == 2 && key[0] == 'c') {
            int64_t x;
            int c = key[1] - '0';
            if (c < 0 || c >= CC || ut_parse_i64(v.data, v.len, &x) != 0) {
                snprintf(sh->err, sizeof sh->err, "counter %.*s has a bad value", (int)k.len, key);
                fail = 11;
            } else if (x < sh->last[c]) {
                snprintf(sh->err, sizeof sh->err, "counter c%d went back from %lld to %lld", c,
                         (long long)sh->last[c], (long long)x);
                fail = 12;
            } else {
                sh->last[c] = x;
            }
        } else if (k.len == 3 && key[0] == 'k') {
            if (ut_value_check(k.data, k.len, v.data, v.len, NULL) != 0) {
                snprintf(sh->err, sizeof sh->err, "value of %.*s (%zu bytes) is invalid",
                         (int)k.len, key, v.len);
                fail = 13;
            }
        } else if (!(k.len == 5 && memcmp(key, "probe", 5) == 0)) {
            snprintf(sh->err, sizeof sh->err, "unexpected key of %zu bytes", k.len);
            fail = 14;
        }
    }
    ud_iter_close(it);
    if (fail == 0 && rc != UD_ENOTFOUND) {
        snprintf(sh->err, sizeof sh->err, "ud_iter_next: %s", ud_errname(rc));
        fail = 15;
    }
    ud_buf_free(&k);
    ud_buf_free(&v);
    sh->items = n;
    return fail;
}

/* In a child (hang guard): a fresh handle opens the dict, validates it, and writes. */
static int checker_child(void *varg) {
    check_arg *a = varg;
    kill_shared *sh = a->sh;
    ud_dict *d = ut_attach(a->name);
    if (d == NULL) {
        snprintf(sh->err, sizeof sh->err, "a fresh handle could not attach");
        return 2;
    }
    int rc = validate(d, sh);
    if (rc != 0)
        return rc;
    size_t n;
    if (ut_dict_checksum(d, &sh->checksum, &n) != 0)
        return 16;
    if (a->write) {
        rc = ud_incr(d, S("probe"), 1, NULL);
        if (rc != 0) {
            snprintf(sh->err, sizeof sh->err, "a write after the kill failed: %s", ud_errname(rc));
            return 17;
        }
    }
    ud_close(d);
    return 0;
}

static void run_random_kills(int lock) {
    const char *mode = lock == UD_LOCK_SPIN ? "spin" : "mutex";
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    kill_shared *sh = ut_shared_alloc(sizeof *sh);
    assert_non_null(sh);
    ut_rng r;
    ut_rng_seed(&r, 0xC0FFEE + (uint64_t)lock);
    ud_status_info s0, s1;
    assert_ok(ud_status(d, &s0));
    double worst = 0, t_start = ut_now();
    int64_t probes = 0;

    for (int it = 0; it < KILLS; it++) {
        uint64_t seeds[2] = {ut_rng_next(&r), ut_rng_next(&r)};
        pid_t w[2];
        for (int i = 0; i < 2; i++) {
            w[i] = ut_fork_on(name, crash_writer, &seeds[i]);
            assert_true(w[i] > 0);
        }
        ut_sleep(0.002 + (double)ut_rng_below(&r, 13000) * 1e-6);
        int first = (int)ut_rng_below(&r, 2);
        kill(w[first], SIGKILL);
        ut_sleep((double)ut_rng_below(&r, 3000) * 1e-6);
        kill(w[1 - first], SIGKILL);
        for (int i = 0; i < 2; i++) {
            int st = ut_wait(w[i], GUARD);
            if (st != 128 + SIGKILL) {
                char buf[64];
                fail_msg("%s kill %d: writer %d ended with %s before the kill", mode, it, i,
                         ut_status_str(st, buf, sizeof buf));
            }
        }

        /* A fresh handle in a child: validates, then writes. */
        double t0 = ut_now();
        check_arg ca = {name, sh, true};
        sh->err[0] = '\0';
        pid_t c = ut_fork(checker_child, &ca);
        int cs = ut_wait(c, GUARD);
        double el = ut_now() - t0;
        if (el > worst)
            worst = el;
        if (cs != 0) {
            char buf[64];
            fail_msg("%s kill %d: the fresh handle failed (%s): %s", mode, it,
                     ut_status_str(cs, buf, sizeof buf), sh->err);
        }
        probes++;

        /* The parent's long-lived handle follows along and agrees with the fresh handle. */
        assert_ok(ud_apply_update(d));
        int vr = validate(d, sh);
        if (vr != 0)
            fail_msg("%s kill %d: the creator's handle: %s", mode, it, sh->err);
        assert_int_equal(ut_get_i64(d, "probe"), probes);
        check_arg again = {name, sh, false};
        c = ut_fork(checker_child, &again);
        assert_int_equal(ut_wait(c, GUARD), 0);
        uint64_t mine;
        size_t n;
        assert_ok(ut_dict_checksum(d, &mine, &n));
        assert_int_equal(mine, sh->checksum);
    }
    assert_ok(ud_status(d, &s1));
    printf("%s: %d rounds of kill -9 of 2 writers in %.2f s: %llu dumps, %llu lock recoveries, "
           "slowest check %.1f ms; counters reached %lld %lld %lld %lld\n",
           mode, KILLS, ut_now() - t_start, (unsigned long long)(s1.dump_count - s0.dump_count),
           (unsigned long long)s1.lock_recoveries, worst * 1000, (long long)sh->last[0],
           (long long)sh->last[1], (long long)sh->last[2], (long long)sh->last[3]);
    assert_true(s1.dump_count - s0.dump_count >= 5);
    assert_true(sh->last[0] + sh->last[1] + sh->last[2] + sh->last[3] > 0);
    ut_shared_free(sh, sizeof *sh);
    assert_ok(ud_close(d));
}

UT_MAIN(UT_LOCK_TESTS(test_holder_killed, run_holder_killed_reaped),
        UT_LOCK_TESTS(test_holder_killed_zombie, run_holder_killed_zombie),
        UT_LOCK_TESTS(test_random_kills, run_random_kills))
