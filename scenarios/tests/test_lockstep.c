/*
 * test_lockstep.c - the lockstep rounds (lockstep.c): the token passes from cell to cell so that
 * no two cells' batches overlap, every cell runs once per round in a shuffled order, a
 * multi-process cell runs all its workers in its batch, a failing cell leaves the rounds while
 * the others go on; and the paired ratios against the group's reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lockstep.h"
#include "sc.h"
#include "sc_testutil.h"

/* What the workers of the test scenario write: one event per slice of work. */
typedef struct event {
    uint64_t t;
    int member, worker, batch;
} event;

#define MAX_EVENTS 200000
typedef struct event_log {
    _Atomic uint64_t n;
    event ev[MAX_EVENTS];
} event_log;

static event_log *log_;
static int fail_member = -1; /* this member's worker 0 fails in its third batch */

static void tl_ops(sc_cell *c) {
    c->nops = 1;
    c->op_names[0] = "read";
}

/* Slices of about 20 us, each logged with the worker's member; one op per slice. */
static int tl_work(sc_worker *w) {
    if (sc_barrier(w))
        return 0;
    uint64_t done = 0, batches = 0, last_start = 0;
    while (!sc_phase_over(w, done, 0)) {
        if (w->slot->b_start != last_start) {
            last_start = w->slot->b_start;
            batches++;
        }
        if (w->arena->member == fail_member && w->index == 0 && batches == 3)
            return sc_fail(w, -5, "worker %d: failing on purpose", w->index);
        uint64_t until = sc_now_ns() + 20000;
        while (sc_now_ns() < until)
            ;
        uint64_t k = atomic_fetch_add(&log_->n, 1);
        if (k < MAX_EVENTS)
            log_->ev[k] = (event){sc_now_ns(), w->arena->member, w->index, (int)w->ls_seen};
        w->slot->op[0].ops++;
        sc_hist_add(&w->slot->op[0].hist, 20000, 1);
        done++;
    }
    w->slot->t_end = sc_now_ns();
    return 0;
}

static const sc_scenario tl_scenario = SCT_SCENARIO(tl_ops, tl_work);

enum { ROUNDS = 6 };

/* A group of n cells on null: with P[i] processes, run in lockstep; returns the document. */
static rp_doc *run_group(size_t n, const int *procs, sc_cell *cells) {
    rp_doc *doc;
    assert_int_equal(rp_doc_new(&doc), 0);
    sc_cell_state st[8];
    double took[8] = {0};
    for (size_t i = 0; i < n; i++) {
        memset(&cells[i], 0, sizeof cells[i]);
        cells[i].scenario = &tl_scenario;
        snprintf(cells[i].uri, sizeof cells[i].uri, "null:");
        snprintf(cells[i].label, sizeof cells[i].label, "null:%zu", i);
        cells[i].role = KV_ROLE_FLOOR;
        cells[i].p.procs = procs[i];
        cells[i].p.repeat = ROUNDS;
        cells[i].p.duration = 0.002;
        cells[i].p.seed = 1;
        cells[i].p.lockstep = true;
        assert_non_null(rp_doc_add_cell(doc));
    }
    for (size_t i = 0; i < n; i++)
        sc_cell_begin(&cells[i], &doc->cells[i], &st[i]);
    volatile sig_atomic_t stop = 0;
    atomic_store(&log_->n, 0);
    sc_lockstep_run(cells, doc->cells, st, n, 42, took, &stop);
    for (size_t i = 0; i < n; i++)
        sc_cell_end(&cells[i], &doc->cells[i], doc, &st[i]);
    return doc;
}

static int cmp_event(const void *a, const void *b) {
    const event *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

/* The batches seen in the log (member, batch number) with their first and last event; checks
 * that no two overlap in time and returns how many each member ran in per_member. */
static void check_batches(size_t *per_member, size_t n) {
    enum { MAXB = 128 }; /* grants are numbered across the group (a member word holds the number) */
    uint64_t first[8][MAXB], last[8][MAXB];
    memset(first, 0xff, sizeof first);
    memset(last, 0, sizeof last);
    size_t k = atomic_load(&log_->n);
    assert_true(k < MAX_EVENTS);
    qsort(log_->ev, k, sizeof log_->ev[0], cmp_event);
    for (size_t i = 0; i < k; i++) {
        const event *e = &log_->ev[i];
        assert_true(e->member < (int)n && e->batch < MAXB);
        if (e->t < first[e->member][e->batch])
            first[e->member][e->batch] = e->t;
        if (e->t > last[e->member][e->batch])
            last[e->member][e->batch] = e->t;
    }
    memset(per_member, 0, n * sizeof *per_member);
    for (size_t m = 0; m < n; m++)
        for (int b = 0; b < MAXB; b++) {
            if (!last[m][b])
                continue;
            per_member[m]++;
            for (size_t o = 0; o < n; o++)
                for (int c = 0; o != m && c < MAXB; c++)
                    if (last[o][c])
                        assert_true(last[m][b] < first[o][c] || last[o][c] < first[m][b]);
        }
}

static void test_token_alternates(void **state) {
    (void)state;
    const int procs[3] = {1, 2, 1};
    sc_cell cells[3];
    rp_doc *doc = run_group(3, procs, cells);
    size_t per[3];
    /* No two cells' batches overlap; ROUNDS + the warm-up round per cell. */
    check_batches(per, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(per[i], ROUNDS + 1);
    /* Both workers of the two-process cell worked in its batches. */
    bool w1 = false;
    for (size_t i = 0; i < atomic_load(&log_->n); i++)
        w1 = w1 || (log_->ev[i].member == 1 && log_->ev[i].worker == 1);
    assert_true(w1);
    /* Each round: every cell once, at distinct positions; the orders differ between rounds. */
    int pos[ROUNDS][3];
    for (int c = 0; c < 3; c++) {
        const rp_metric *m = &doc->cells[c].metrics[0];
        assert_int_equal(doc->cells[c].status, RP_STATUS_OK);
        assert_int_equal(m->nreps, ROUNDS);
        for (size_t k = 0; k < m->nreps; k++) {
            assert_int_equal(m->reps[k].round, (int)k);
            pos[k][c] = m->reps[k].position;
            assert_true(m->reps[k].ops > 0 && m->reps[k].seconds > 0);
            assert_int_not_equal(rp_rep_regime(&m->reps[k]), RP_REGIME_NONE);
        }
    }
    bool differ = false;
    for (int r = 0; r < ROUNDS; r++) {
        assert_true(pos[r][0] != pos[r][1] && pos[r][1] != pos[r][2] && pos[r][0] != pos[r][2]);
        differ = differ || memcmp(pos[r], pos[0], sizeof pos[0]) != 0;
    }
    assert_true(differ);
    rp_doc_free(doc);
}

static void test_failed_cell_leaves(void **state) {
    (void)state;
    const int procs[3] = {1, 1, 1};
    sc_cell cells[3];
    fail_member = 1;
    rp_doc *doc = run_group(3, procs, cells);
    fail_member = -1;
    assert_int_equal(doc->cells[1].status, RP_STATUS_ERROR);
    assert_non_null(strstr(doc->cells[1].reason, "failing on purpose"));
    for (int c = 0; c < 3; c += 2) {
        assert_int_equal(doc->cells[c].status, RP_STATUS_OK);
        assert_int_equal(doc->cells[c].metrics[0].nreps, ROUNDS);
    }
    rp_doc_free(doc);
}

/* A cell of a paired group: its backend and the ops/s of its rounds (0: no repetition). */
static void fake_cell(rp_doc *d, sc_cell *c, const char *uri, const double *v, size_t n) {
    rp_cell *o = rp_doc_add_cell(d);
    assert_non_null(o);
    memset(c, 0, sizeof *c);
    snprintf(c->uri, sizeof c->uri, "%s", uri);
    kv_desc desc;
    assert_int_equal(kv_describe_uri(uri, &desc), 0); /* the role is the adapter's word */
    c->role = desc.role;
    rp_set_string(&o->backend, uri);
    rp_set_string(&o->merit.metric, "read");
    o->merit.figure = RP_FIGURE_OPS;
    o->merit.direction = RP_HIGHER_IS_BETTER;
    rp_metric *m = rp_cell_add_metric(o, "read");
    for (size_t k = 0; k < n; k++) {
        if (v[k] <= 0)
            continue;
        rp_rep r = {.ops = (uint64_t)v[k], .seconds = 1, .ops_per_sec = v[k], .round = (int)k};
        rp_metric_add_rep(m, &r);
    }
    rp_metric_summarise(m, 0.25);
    rp_cell_summarise_merit(o);
}

static void test_pair_ratios(void **state) {
    (void)state;
    rp_doc *d;
    assert_int_equal(rp_doc_new(&d), 0);
    sc_cell cells[3];
    const double nul[] = {1000, 1000, 1000, 1000};
    const double a[] = {100, 200, 0, 400}; /* round 2 is missing */
    const double loc[] = {50, 100, 150, 100};
    fake_cell(d, &cells[0], "null:", nul, 4);
    fake_cell(d, &cells[1], "sqlite:/x", a, 4);
    fake_cell(d, &cells[2], "local:", loc, 4);
    assert_int_equal(sc_pair_reference(cells, d->cells, 3), 2);
    sc_pair_ratios(cells, d->cells, 3);
    const rp_metric *m = &d->cells[1].metrics[0];
    assert_int_equal(m->nreps, 3);
    assert_true(m->reps[0].ratio == 2.0 && m->reps[1].ratio == 2.0 && m->reps[2].ratio == 4.0);
    assert_string_equal(d->cells[1].merit.reference, "local:");
    assert_true(d->cells[1].merit.ratio == 2.0);
    assert_true(d->cells[2].merit.ratio == 1.0);
    /* Without local:, the first backend that is not null: is the reference. */
    d->cells[2].status = RP_STATUS_ERROR;
    assert_int_equal(sc_pair_reference(cells, d->cells, 3), 1);
    d->cells[1].status = RP_STATUS_ERROR;
    assert_int_equal(sc_pair_reference(cells, d->cells, 3), SC_ENOREF);
    rp_doc_free(d);
}

static int setup(void **state) {
    (void)state;
    log_ = mmap(NULL, sizeof *log_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return log_ == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    munmap(log_, sizeof *log_);
    return 0;
}

UT_CMOCKA_MAIN(setup, teardown, cmocka_unit_test(test_token_alternates),
               cmocka_unit_test(test_failed_cell_leaves), cmocka_unit_test(test_pair_ratios))
