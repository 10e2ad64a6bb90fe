/*
 * contract_procs.c - the multi-process part of the contract suite: atomic increments from
 * several processes, lock sections from several processes, and the lock's basics (try, timeout,
 * a holder in another process).
 */
#include "contract.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- Several processes. ---- */

#define INCR_PER_CHILD 250

static int incr_child(int index, void *arg) {
    (void)index;
    (void)arg;
    kv_conn *c;
    if (kv_open(contract_uri, &c) < 0) {
        fprintf(stderr, "child: kv_open: %s\n", kv_errmsg(NULL));
        return 10;
    }
    for (int i = 0; i < INCR_PER_CHILD; i++) {
        int rc = kv_incr(c, "shared-counter", 14, 1, NULL);
        if (rc < 0) {
            fprintf(stderr, "child: kv_incr: %s\n", kv_errmsg(c));
            return 11;
        }
    }
    kv_close(c);
    return 0;
}

void test_incr_processes(void **state) {
    (void)state;
    NEED_CONN();
    if (!contract_has(KV_CAP_CROSS_PROCESS))
        skip();
    int64_t r;
    CHECK_RC(kv_set(conn, "shared-counter", 14, "0", 1), 0);
    assert_int_equal(ut_run_children(NPROC, incr_child, NULL, CHILD_TIMEOUT), 0);
    CHECK_RC(kv_incr(conn, "shared-counter", 14, 0, &r), 0);
    if (contract_has(KV_CAP_ATOMIC_INCR))
        assert_int_equal(r, NPROC * INCR_PER_CHILD);
    else
        assert_true(r > 0 && r <= (int64_t)NPROC * INCR_PER_CHILD);
}

/* What the lock children share: a critical-section flag and what they observed. */
struct lock_shared {
    int inside;
    int overlaps;
    int entries;
};

#define LOCK_PER_CHILD 25

static int lock_child(int index, void *arg) {
    struct lock_shared *sh = arg;
    kv_conn *c;
    kv_buf v = KV_BUF_INIT;
    (void)index;

    if (kv_open(contract_uri, &c) < 0) {
        fprintf(stderr, "child: kv_open: %s\n", kv_errmsg(NULL));
        return 10;
    }
    for (int i = 0; i < LOCK_PER_CHILD; i++) {
        if (kv_lock(c, 30.0) < 0) {
            fprintf(stderr, "child: kv_lock: %s\n", kv_errmsg(c));
            return 11;
        }
        if (__atomic_exchange_n(&sh->inside, 1, __ATOMIC_SEQ_CST) != 0)
            __atomic_add_fetch(&sh->overlaps, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&sh->entries, 1, __ATOMIC_SEQ_CST);
        /* A read-modify-write that loses updates unless the lock excludes. */
        long n = 0;
        int rc = kv_get(c, "locked-counter", 14, &v);
        if (rc == 0)
            n = strtol(v.data, NULL, 10);
        else if (rc != KV_ENOTFOUND)
            return 12;
        sleep_us(200);
        char num[24];
        int len = snprintf(num, sizeof(num), "%ld", n + 1);
        if (kv_set(c, "locked-counter", 14, num, (size_t)len) < 0)
            return 13;
        __atomic_store_n(&sh->inside, 0, __ATOMIC_SEQ_CST);
        if (kv_unlock(c) < 0) {
            fprintf(stderr, "child: kv_unlock: %s\n", kv_errmsg(c));
            return 14;
        }
    }
    kv_buf_free(&v);
    kv_close(c);
    return 0;
}

void test_lock_processes(void **state) {
    (void)state;
    NEED_CONN();
    if (!contract_has(KV_CAP_LOCK) || !contract_has(KV_CAP_CROSS_PROCESS))
        skip();
    struct lock_shared *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    memset(sh, 0, sizeof(*sh));
    kv_buf v = KV_BUF_INIT;

    assert_int_equal(ut_run_children(NPROC, lock_child, sh, CHILD_TIMEOUT), 0);
    assert_int_equal(sh->overlaps, 0);
    assert_int_equal(sh->entries, NPROC * LOCK_PER_CHILD);
    CHECK_RC(kv_get(conn, "locked-counter", 14, &v), 0);
    assert_int_equal(strtol(v.data, NULL, 10), NPROC * LOCK_PER_CHILD);
    munmap(sh, sizeof(*sh));
    kv_buf_free(&v);
}

/* The steps of test_lock_basics, in shared memory: parent and child take turns. */
struct lock_steps {
    int child_ready;
    int parent_locked;
    int child_done;
    int parent_released;
};

/*
 * The child opens its connection before the parent takes the lock (forking while a connection
 * holds a lock is a caveat of its own, see kv.h), finds the lock taken (try once: EBUSY; wait
 * 0.3 s: ETIMEDOUT), and takes it as soon as the parent releases it.
 */
static int busy_child(void *arg) {
    struct lock_steps *st = arg;
    kv_conn *c;
    if (kv_open(contract_uri, &c) < 0)
        return 10;
    __atomic_store_n(&st->child_ready, 1, __ATOMIC_SEQ_CST);
    if (!ut_wait_flag(&st->parent_locked, 10))
        return 11;
    if (kv_lock(c, 0) != KV_EBUSY)
        return 12;
    double t0 = ut_now();
    int rc = kv_lock(c, 0.3);
    double dt = ut_now() - t0;
    if (rc != KV_ETIMEDOUT) {
        fprintf(stderr, "child: kv_lock(0.3) returned %s: %s\n", kv_errname(rc), kv_errmsg(c));
        return 13;
    }
    if (dt < 0.25 || dt > 3.0) {
        fprintf(stderr, "child: kv_lock(0.3) took %.3f s\n", dt);
        return 14;
    }
    __atomic_store_n(&st->child_done, 1, __ATOMIC_SEQ_CST);
    if (!ut_wait_flag(&st->parent_released, 10))
        return 15;
    if ((rc = kv_lock(c, 10.0)) != 0) {
        fprintf(stderr, "child: kv_lock after release: %s\n", kv_errmsg(c));
        return 16;
    }
    if (kv_unlock(c) != 0)
        return 17;
    kv_close(c);
    return 0;
}

void test_lock_basics(void **state) {
    (void)state;
    NEED_CONN();
    if (!contract_has(KV_CAP_LOCK)) {
        CHECK_RC(kv_lock(conn, 0), KV_ENOTSUP);
        return;
    }
    struct lock_steps *st =
        mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(st != MAP_FAILED);
    memset(st, 0, sizeof(*st));
    pid_t child = -1;
    if (contract_has(KV_CAP_CROSS_PROCESS)) {
        child = ut_fork(busy_child, st);
        assert_true(child > 0);
        assert_true(ut_wait_flag(&st->child_ready, 10));
    }

    CHECK_RC(kv_unlock(conn), KV_ENOTLOCKED);
    CHECK_RC(kv_lock(conn, 1.0), 0);
    CHECK_RC(kv_lock(conn, 0), KV_ELOCKED);
    /* Operations go on while the lock is held (and join its transaction where there is one). */
    CHECK_RC(kv_set(conn, "under-lock", 10, "1", 1), 0);
    CHECK_RC(kv_incr(conn, "under-lock", 10, 1, NULL), 0);
    if (child > 0) {
        __atomic_store_n(&st->parent_locked, 1, __ATOMIC_SEQ_CST);
        assert_true(ut_wait_flag(&st->child_done, 10));
    }
    CHECK_RC(kv_unlock(conn), 0);
    CHECK_RC(kv_unlock(conn), KV_ENOTLOCKED);
    if (child > 0) {
        __atomic_store_n(&st->parent_released, 1, __ATOMIC_SEQ_CST);
        assert_int_equal(ut_wait(child, CHILD_TIMEOUT), 0);
    }
    kv_buf v = KV_BUF_INIT;
    CHECK_RC(kv_get(conn, "under-lock", 10, &v), 0);
    assert_memory_equal(v.data, "2", 1);
    /* Released: it can be taken again at once. */
    CHECK_RC(kv_lock(conn, 0), 0);
    CHECK_RC(kv_unlock(conn), 0);
    kv_buf_free(&v);
    munmap(st, sizeof(*st));
}
