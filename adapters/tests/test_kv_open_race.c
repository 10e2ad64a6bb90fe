/*
 * test_kv_open_race.c - several processes open one new store at the same moment.
 *
 * The first open of a file store sets it up (SQLite: the WAL journal, the table). Processes
 * that start together, as the ranks of `mpirun udbench run --mpi` do, all set it up at once;
 * every one of them must get a connection (SQLite answered "database is locked" to the
 * journal-mode switch of some of them, without waiting for its busy timeout).
 */
#include "kv.h"
#include "testutil.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define NPROC 6
#define TRIALS 12

/* What the children of one trial share: the URI and a start line. */
struct race {
    char uri[512];
    int ready;
    int go;
};

static int open_child(int index, void *arg) {
    struct race *r = arg;
    (void)index;
    __atomic_add_fetch(&r->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST))
        sched_yield();
    kv_conn *c;
    if (kv_open(r->uri, &c) < 0) {
        fprintf(stderr, "child: kv_open(%s): %s\n", r->uri, kv_errmsg(NULL));
        return 10;
    }
    int rc = kv_set(c, "k", 1, "v", 1);
    kv_close(c);
    return rc < 0 ? 11 : 0;
}

/* The starter: lets the children go once all of them wait at the line. */
static int start_line(void *arg) {
    struct race *r = arg;
    while (__atomic_load_n(&r->ready, __ATOMIC_SEQ_CST) < NPROC)
        sched_yield();
    __atomic_store_n(&r->go, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Runs TRIALS races of NPROC processes opening a new store (SCHEME:DIR/raceN EXT). */
static void race(const char *scheme, const char *ext) {
    if (!kv_adapter_built(scheme))
        skip();
    char dir[] = "/tmp/kv-open-race-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct race *r =
        mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(r != MAP_FAILED);
    int failed = 0;
    for (int t = 0; t < TRIALS; t++) {
        memset(r, 0, sizeof *r);
        snprintf(r->uri, sizeof r->uri, "%s:%s/race%d%s", scheme, dir, t, ext);
        pid_t starter = ut_fork(start_line, r);
        assert_true(starter > 0);
        failed += ut_run_children(NPROC, open_child, r, 60.0);
        assert_int_equal(ut_wait(starter, 10.0), 0);
    }
    munmap(r, sizeof *r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(failed, 0);
}

static void test_sqlite_open_race(void **state) {
    (void)state;
    race("sqlite", ".db");
}

static void test_lmdb_open_race(void **state) {
    (void)state;
    race("lmdb", "");
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_sqlite_open_race),
               cmocka_unit_test(test_lmdb_open_race))
