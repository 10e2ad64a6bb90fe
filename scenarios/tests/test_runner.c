/*
 * test_runner.c - the runner's care with what is not its own and with what fails under it:
 * a cell run (whole repetitions, and lockstep rounds) while the process has a child that is
 * not a worker counts its own workers and leaves that child alone; and a results call that
 * fails (out of memory) at any point of a cell ends the cell with an error and a reason, never
 * a crash; and the names and messages of the codes.
 *
 * The results calls are made to fail through the linker (-Wl,--wrap, see CMakeLists.txt): the
 * wrappers below count the calls and fail the one numbered `fail_at`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockstep.h"
#include "sc.h"
#include "sc_testutil.h"

/* ---- the failing results calls ---- */

static unsigned long calls, fail_at; /* fail_at 0: nothing fails */

/* Counts a call; true when it is the one to fail. */
static bool failing(void) {
    return fail_at && ++calls == fail_at;
}

int __real_rp_set_string(char **field, const char *value);
int __wrap_rp_set_string(char **field, const char *value);
int __wrap_rp_set_string(char **field, const char *value) {
    return failing() ? -ENOMEM : __real_rp_set_string(field, value);
}

int __real_rp_cell_add_param(rp_cell *c, const char *key, const char *value);
int __wrap_rp_cell_add_param(rp_cell *c, const char *key, const char *value);
int __wrap_rp_cell_add_param(rp_cell *c, const char *key, const char *value) {
    return failing() ? -ENOMEM : __real_rp_cell_add_param(c, key, value);
}

rp_metric *__real_rp_cell_add_metric(rp_cell *c, const char *op);
rp_metric *__wrap_rp_cell_add_metric(rp_cell *c, const char *op);
rp_metric *__wrap_rp_cell_add_metric(rp_cell *c, const char *op) {
    return failing() ? NULL : __real_rp_cell_add_metric(c, op);
}

int __real_rp_metric_add_rep(rp_metric *m, const rp_rep *rep);
int __wrap_rp_metric_add_rep(rp_metric *m, const rp_rep *rep);
int __wrap_rp_metric_add_rep(rp_metric *m, const rp_rep *rep) {
    return failing() ? -ENOMEM : __real_rp_metric_add_rep(m, rep);
}

int __real_rp_metric_set_buckets(rp_metric *m, const uint64_t *counts, size_t n);
int __wrap_rp_metric_set_buckets(rp_metric *m, const uint64_t *counts, size_t n);
int __wrap_rp_metric_set_buckets(rp_metric *m, const uint64_t *counts, size_t n) {
    return failing() ? -ENOMEM : __real_rp_metric_set_buckets(m, counts, n);
}

/* ---- a scenario of two operations on null: ---- */

static void tr_ops(sc_cell *c) {
    c->nops = 2;
    c->op_names[0] = "read";
    c->op_names[1] = "update";
}

/* Slices of about 20 us, alternating between the two operations, each in the histograms. */
static int tr_work(sc_worker *w) {
    if (sc_barrier(w))
        return 0;
    uint64_t done = 0;
    while (!sc_phase_over(w, done, sc_share(w, w->cell->p.ops))) {
        uint64_t until = sc_now_ns() + 20000;
        while (sc_now_ns() < until)
            ;
        sc_op_stats *s = &w->slot->op[done & 1];
        s->ops++;
        sc_hist_add(&s->hist, 20000 + (done & 7) * 1000, 1);
        done++;
    }
    w->slot->t_end = sc_now_ns();
    return 0;
}

static const sc_scenario tr_scenario = SCT_SCENARIO(tr_ops, tr_work);

enum { REPEAT = 3, PROCS = 3 };

/* Cell i: null:, or local: for cell 1 (the reference of the paired ratios). */
static void init_cell(sc_cell *c, size_t i, bool lockstep) {
    memset(c, 0, sizeof *c);
    c->scenario = &tr_scenario;
    snprintf(c->uri, sizeof c->uri, "%s", i == 1 ? "local:" : "null:");
    snprintf(c->label, sizeof c->label, "null:%zu", i);
    c->p.procs = PROCS;
    c->p.repeat = REPEAT;
    c->p.duration = 0.003;
    c->p.seed = 1;
    c->p.lockstep = lockstep;
}

/* One cell in whole repetitions, in a new document. */
static rp_doc *run_whole(void) {
    rp_doc *doc;
    assert_int_equal(rp_doc_new(&doc), 0);
    assert_non_null(rp_doc_add_cell(doc));
    sc_cell c;
    init_cell(&c, 0, false);
    volatile sig_atomic_t stop = 0;
    (void)sc_run_cell(&c, &doc->cells[0], doc, &stop);
    return doc;
}

/* Two cells in lockstep rounds, then their paired ratios, in a new document. */
static rp_doc *run_lockstep(void) {
    rp_doc *doc;
    assert_int_equal(rp_doc_new(&doc), 0);
    sc_cell cells[2];
    sc_cell_state st[2];
    double took[2] = {0};
    for (size_t i = 0; i < 2; i++) {
        init_cell(&cells[i], i, true);
        assert_non_null(rp_doc_add_cell(doc));
    }
    for (size_t i = 0; i < 2; i++)
        sc_cell_begin(&cells[i], &doc->cells[i], &st[i]);
    volatile sig_atomic_t stop = 0;
    sc_lockstep_run(cells, doc->cells, st, 2, 42, took, &stop);
    for (size_t i = 0; i < 2; i++)
        sc_cell_end(&cells[i], &doc->cells[i], doc, &st[i]);
    sc_pair_ratios(cells, doc->cells, 2);
    return doc;
}

/* A cell that ran well: both operations, every repetition, the histograms. */
static void assert_cell_ok(const rp_cell *c, size_t reps) {
    assert_int_equal(c->status, RP_STATUS_OK);
    assert_null(c->reason);
    assert_int_equal(c->nmetrics, 2);
    for (size_t o = 0; o < 2; o++) {
        assert_int_equal(c->metrics[o].nreps, reps);
        assert_true(c->metrics[o].has_latency && c->metrics[o].nbuckets > 0);
    }
}

/* A child of the test process, not a worker, that has exited and not been reaped. */
static pid_t exited_stranger(void) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(7);
    siginfo_t info;
    /* Waits for the exit, leaving the child a zombie that any wait would reap. */
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    return pid;
}

/* The stranger is still there to be reaped, with its own status, and nothing else is. */
static void assert_stranger_left(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, WNOHANG), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_stranger_whole(void **state) {
    (void)state;
    pid_t pid = exited_stranger();
    rp_doc *doc = run_whole();
    assert_cell_ok(&doc->cells[0], REPEAT);
    assert_stranger_left(pid);
    rp_doc_free(doc);
}

static void test_stranger_lockstep(void **state) {
    (void)state;
    pid_t pid = exited_stranger();
    rp_doc *doc = run_lockstep();
    for (size_t i = 0; i < 2; i++)
        assert_cell_ok(&doc->cells[i], REPEAT);
    assert_stranger_left(pid);
    rp_doc_free(doc);
}

/* Fails the 1st, 2nd, ... results call of a run until a run makes fewer calls than that: each
 * run with a failure must end with a cell in error that says why; the run without one is ok. */
static void sweep(rp_doc *(*run)(void), size_t ncells) {
    for (fail_at = 1;; fail_at++) {
        calls = 0;
        rp_doc *doc = run();
        bool failed = calls >= fail_at;
        size_t errors = 0;
        for (size_t i = 0; i < ncells; i++) {
            const rp_cell *c = &doc->cells[i];
            if (c->status == RP_STATUS_ERROR) {
                assert_non_null(c->reason);
                errors++;
            } else {
                assert_cell_ok(c, REPEAT);
            }
        }
        assert_int_equal(errors > 0, failed);
        /* The workers are all reaped, whatever failed. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        rp_doc_free(doc);
        if (!failed)
            break;
    }
    assert_true(fail_at > 10); /* the sweep went through the cell's many calls */
    fail_at = 0;
}

static void test_failing_results_whole(void **state) {
    (void)state;
    sweep(run_whole, 1);
}

static void test_failing_results_lockstep(void **state) {
    (void)state;
    sweep(run_lockstep, 2);
}

/* sc_strerror() and sc_errname() name every code a function of scenarios/ returns, by range. */
static void test_error_names(void **state) {
    (void)state;
    assert_string_equal(sc_errname(SC_EWORKER), "SC_EWORKER");
    assert_string_equal(sc_strerror(SC_ENOREF), "the group has no reference cell");
    assert_string_equal(sc_errname(KV_ENOTFOUND), "KV_ENOTFOUND");
    assert_string_equal(sc_strerror(KV_ENOTFOUND), kv_strerror(KV_ENOTFOUND));
    assert_string_equal(sc_errname(RP_EPARSE), "RP_EPARSE");
    assert_string_equal(sc_strerror(RP_EPARSE), rp_strerror(RP_EPARSE));
    assert_string_equal(sc_errname(-ENOMEM), "ENOMEM");
    assert_string_equal(sc_errname(0), "OK");
    assert_string_equal(sc_errname(-4999), "UNKNOWN");
    assert_string_equal(sc_strerror(-2999), "unknown error");
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_error_names),
               cmocka_unit_test(test_stranger_whole), cmocka_unit_test(test_stranger_lockstep),
               cmocka_unit_test(test_failing_results_whole),
               cmocka_unit_test(test_failing_results_lockstep))
