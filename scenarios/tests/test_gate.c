/*
 * test_gate.c - the gate's looks and Holm step over synthetic pairs, and the lockstep
 * protocol of `udbench gate-worker` (the catalogue's cells in `udbench run`'s lockstep engine)
 * with real forked workers (no cmocka assert in a child).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gate.h"
#include "gate_internal.h"
#include "rp_stats.h"

/* A gate with m items, each with n pairs of d = ln(head cost / base cost) from d_of(i, j). */
static gate *make_gate(size_t m, int n, int looks, double (*d_of)(size_t, int)) {
    static gate g;
    memset(&g, 0, sizeof g);
    g.looks = looks;
    g.margin = 0.02;
    g.alpha = 0.05;
    assert_int_equal(rp_cmp_new(&g.cmp), 0);
    for (size_t i = 0; i < m; i++) {
        rp_cmp_item *it = rp_cmp_add_item(g.cmp);
        assert_non_null(it);
        it->merit = rp_merit_of("read", "read"); /* ops/s: cost is 1 / value */
        it->verdict = RP_VERDICT_INCONCLUSIVE;
    }
    for (size_t i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            rp_cmp_pair *p = rp_cmp_item_add_pair(&g.cmp->items[i]);
            assert_non_null(p);
            p->base = 1e6;
            p->head = 1e6 / exp(d_of(i, j));
            p->look = 1;
        }
    return &g;
}

/* Every pair 10% slower, with a little spread. */
static double d_slow(size_t i, int j) {
    (void)i;
    return log(1.10) + 0.001 * (j % 5);
}

/* Every pair within +-0.5%. */
static double d_same(size_t i, int j) {
    (void)i;
    return 0.005 * ((j % 3) - 1);
}

/* Item 0 slower, item 1 the same. */
static double d_mixed(size_t i, int j) {
    return i == 0 ? d_slow(i, j) : d_same(i, j);
}

static void test_verdicts_of_pairs(void **state) {
    (void)state;
    gate *g = make_gate(2, 16, 3, d_mixed);
    sc_gate_evaluate(g, 1);
    assert_int_equal(g->cmp->items[0].verdict, RP_VERDICT_SLOWER);
    assert_int_equal(g->cmp->items[1].verdict, RP_VERDICT_SAME);
    assert_true(fabs(g->cmp->items[0].ratio - 1.10) < 0.01);
    assert_true(g->cmp->items[0].ratio_lo > 1.02); /* the whole interval beyond the margin */
    rp_cmp_free(g->cmp);
}

/* The alpha split over the looks: 5 of 5 pairs above the margin give p = 1/32 = 0.031, which
 * passes alpha = 0.05 in one look but not alpha / 3 in the first of three. */
static void test_looks_split_alpha(void **state) {
    (void)state;
    gate *g = make_gate(1, 5, 1, d_slow);
    sc_gate_evaluate(g, 1);
    assert_int_equal(g->cmp->items[0].verdict, RP_VERDICT_SLOWER);
    rp_cmp_free(g->cmp);
    g = make_gate(1, 5, 3, d_slow);
    sc_gate_evaluate(g, 1);
    assert_int_equal(g->cmp->items[0].verdict, RP_VERDICT_INCONCLUSIVE);
    /* A second look with 6 more pairs: 11 of 11 above, p = 1/2048 < 0.05 / 3. */
    for (int j = 0; j < 6; j++) {
        rp_cmp_pair *p = rp_cmp_item_add_pair(&g->cmp->items[0]);
        p->base = 1e6;
        p->head = 1e6 / 1.10;
        p->look = 2;
    }
    sc_gate_evaluate(g, 2);
    assert_int_equal(g->cmp->items[0].verdict, RP_VERDICT_SLOWER);
    assert_int_equal(g->cmp->items[0].looks, 2);
    rp_cmp_free(g->cmp);
}

/* Holm over the items: with 2 items, 5 of 5 (p = 0.031) no longer passes 0.05 / 2. */
static void test_holm_over_items(void **state) {
    (void)state;
    gate *g = make_gate(2, 5, 1, d_slow);
    sc_gate_evaluate(g, 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(g->cmp->items[i].verdict, RP_VERDICT_INCONCLUSIVE);
    rp_cmp_free(g->cmp);
}

/* Dropped pairs do not count. */
static void test_dropped_pairs_ignored(void **state) {
    (void)state;
    gate *g = make_gate(1, 16, 1, d_same);
    for (int j = 0; j < 16; j++) {
        rp_cmp_pair *p = rp_cmp_item_add_pair(&g->cmp->items[0]);
        p->base = 1e6;
        p->head = 1e6 / 2; /* twice as slow, but all dropped */
        p->look = 1;
        rp_set_string(&p->dropped, "test");
    }
    sc_gate_evaluate(g, 1);
    assert_int_equal(g->cmp->items[0].verdict, RP_VERDICT_SAME);
    assert_int_equal(g->cmp->items[0].n_base, 16);
    rp_cmp_free(g->cmp);
}

/* Pairs from 5% faster to 1% slower: the head is shown not slower than the 2% margin, but the
 * interval reaches past the margin on the good side, so the costs are not shown the same. */
static double d_straddle(size_t i, int j) {
    (void)i;
    return -0.02 + 0.004 * (j - 7.5);
}

/* Every pair 10% faster. */
static double d_fast(size_t i, int j) {
    (void)i;
    return -log(1.10) + 0.001 * (j % 5);
}

static void test_faster_side_of_margin(void **state) {
    (void)state;
    gate *g = make_gate(1, 16, 1, d_straddle);
    sc_gate_evaluate(g, 1);
    const rp_cmp_item *it = &g->cmp->items[0];
    assert_true(it->p_ok < 0.05 / 16); /* not slower, beyond doubt */
    assert_true(it->ratio_lo < 1 / 1.02 && it->ratio_hi > 1 / 1.02);
    assert_int_equal(it->verdict, RP_VERDICT_INCONCLUSIVE);
    rp_cmp_free(g->cmp);
    g = make_gate(1, 16, 1, d_fast);
    sc_gate_evaluate(g, 1);
    assert_int_equal(g->cmp->items[0].verdict, RP_VERDICT_FASTER);
    rp_cmp_free(g->cmp);
}

/* ---- the lockstep protocol ---- */

typedef struct worker {
    pid_t pid;
    int to, from;
} worker;

/* Forks a worker running sc_gate_worker_main with argv; its stdin and stdout are pipes. */
static worker start_worker_n(char **argv, int argc) {
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    worker w = {.pid = fork()};
    assert_true(w.pid >= 0);
    if (w.pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        _exit(sc_gate_worker_main(argc, argv));
    }
    close(to[0]);
    close(from[1]);
    w.to = to[1];
    w.from = from[0];
    return w;
}

/* argv is an array ending in NULL: its count of arguments. */
#define start_worker(argv) start_worker_n(argv, (int)(sizeof(argv) / sizeof *(argv)) - 1)

static int stop_worker(worker *w, const char *cmd) {
    if (cmd)
        assert_int_equal(write(w->to, cmd, 1), 1);
    close(w->to);
    int st;
    assert_int_equal(waitpid(w->pid, &st, 0), w->pid);
    close(w->from);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double answer(worker *w) {
    double v = -2;
    assert_int_equal(sc_gw_read_full(w->from, &v, sizeof v), 1);
    return v;
}

/* The ready answer: n, then n statuses; each status into st (when not NULL). */
static void ready(worker *w, size_t n, double *st) {
    assert_true(answer(w) == (double)n);
    for (size_t i = 0; i < n; i++) {
        double s = answer(w);
        if (st)
            st[i] = s;
        else
            assert_true(s == 0);
    }
}

/* One batch of member m: its figure of merit. */
static double batch(worker *w, unsigned char m) {
    unsigned char cmd[2] = {'g', m};
    assert_int_equal(write(w->to, cmd, 2), 2);
    return answer(w);
}

static void run_batches(char **argv, int argc, size_t members, int batches) {
    worker w = start_worker_n(argv, argc);
    ready(&w, members, NULL);
    for (int i = 0; i < batches; i++)
        assert_true(batch(&w, (unsigned char)(i % (int)members)) > 0);
    assert_int_equal(stop_worker(&w, "q"), 0);
}

/* The catalogue's cells, any of them: read, write and zipf on two backends at once. */
static void test_worker_protocol(void **state) {
    (void)state;
    char *read_[] = {"gate-worker", "--suite",    "smoke",     "--procs", "1",
                     "--scenario",  "read",       "--backend", "local:",  "--backend",
                     "ultradict:",  "--duration", "0.002",     NULL};
    run_batches(read_, (int)(sizeof read_ / sizeof *read_) - 1, 2, 6);
    char *write_[] = {"gate-worker", "--suite",   "smoke",  "--procs",    "1",     "--scenario",
                      "write",       "--backend", "local:", "--duration", "0.002", NULL};
    run_batches(write_, (int)(sizeof write_ / sizeof *write_) - 1, 1, 3);
    char *zipf[] = {"gate-worker", "--suite",   "smoke",  "--procs",    "1",     "--scenario",
                    "zipf",        "--backend", "local:", "--duration", "0.002", NULL};
    run_batches(zipf, (int)(sizeof zipf / sizeof *zipf) - 1, 1, 3);
    /* dump's figure is bytes/s, whose size per dump is known only at the cell's end. */
    char *dump[] = {"gate-worker", "--suite",   "smoke",      "--procs",    "1",     "--scenario",
                    "dump",        "--backend", "ultradict:", "--duration", "0.002", NULL};
    run_batches(dump, (int)(sizeof dump / sizeof *dump) - 1, 1, 3);
    /* End of input instead of 'q' ends the worker cleanly too. */
    worker w = start_worker(read_);
    ready(&w, 2, NULL);
    assert_int_equal(stop_worker(&w, NULL), 0);
}

/* Two processes in one batch: the lock scenario's check (no lost update) passes at the end;
 * local: cannot run it and says n/a while the other member runs. */
static void test_worker_lock_two_procs(void **state) {
    (void)state;
    char uri[64];
    snprintf(uri, sizeof uri, "ultradict:test_gate_%d", (int)getpid());
    char *argv[] = {"gate-worker", "--suite",    "smoke",     "--scenario", "lock",
                    "--backend",   uri,          "--backend", "local:",     "--procs",
                    "2",           "--duration", "0.002",     NULL};
    worker w = start_worker(argv);
    double st[2];
    ready(&w, 2, st);
    assert_true(st[0] == 0);
    assert_true(st[1] == 1); /* not applicable */
    for (int i = 0; i < 4; i++)
        assert_true(batch(&w, 0) > 0);
    assert_true(batch(&w, 1) < 0); /* a member that does not run has no batch */
    assert_int_equal(stop_worker(&w, "q"), 0);
}

/* Two workers in lockstep: the token goes back and forth and both answer every batch. */
static void test_two_workers_in_turn(void **state) {
    (void)state;
    char *argv[] = {"gate-worker", "--suite",   "smoke",  "--procs",    "1",     "--scenario",
                    "read",        "--backend", "local:", "--duration", "0.002", NULL};
    worker a = start_worker(argv), b = start_worker(argv);
    ready(&a, 1, NULL);
    ready(&b, 1, NULL);
    for (int r = 0; r < 10; r++) {
        worker *first = (r & 1) ? &a : &b, *second = (r & 1) ? &b : &a;
        assert_true(batch(first, 0) > 0);
        assert_true(batch(second, 0) > 0);
    }
    assert_int_equal(stop_worker(&a, "q"), 0);
    assert_int_equal(stop_worker(&b, "q"), 0);
}

/* A worker stopped by SIGTERM while it waits for the token cleans up: its dict is unlinked. */
static void test_worker_cleans_up_on_sigterm(void **state) {
    (void)state;
    char uri[64], seg[96];
    snprintf(uri, sizeof uri, "ultradict:test_gate_term_%d", (int)getpid());
    snprintf(seg, sizeof seg, "/dev/shm/test_gate_term_%d", (int)getpid());
    char *argv[] = {"gate-worker", "--suite",   "smoke", "--procs",    "1",     "--scenario",
                    "write",       "--backend", uri,     "--duration", "0.002", NULL};
    worker w = start_worker(argv);
    ready(&w, 1, NULL);
    assert_int_equal(access(seg, F_OK), 0); /* the dict exists while the worker waits */
    assert_int_equal(kill(w.pid, SIGTERM), 0);
    int st;
    assert_int_equal(waitpid(w.pid, &st, 0), w.pid);
    assert_true(WIFEXITED(st)); /* it exited, not killed by the signal */
    assert_int_equal(access(seg, F_OK), -1);
    close(w.to);
    close(w.from);
}

static void test_worker_refuses_bad_input(void **state) {
    (void)state;
    char *bad_scen[] = {"gate-worker", "--scenario", "nosuch", "--backend", "local:", NULL};
    worker w = start_worker(bad_scen);
    assert_int_equal(stop_worker(&w, NULL), 2);
    char *no_backend[] = {"gate-worker", "--scenario", "read", NULL};
    w = start_worker(no_backend);
    assert_int_equal(stop_worker(&w, NULL), 2);
    char *bad_duration[] = {"gate-worker", "--scenario", "read", "--backend",
                            "local:",      "--duration", "0",    NULL};
    w = start_worker(bad_duration);
    assert_int_equal(stop_worker(&w, NULL), 2);
    /* A backend that cannot be opened: the worker answers -1 instead of ready, and exits 1. */
    char *bad_uri[] = {"gate-worker", "--scenario", "read", "--backend", "nosuch:x", NULL};
    w = start_worker(bad_uri);
    assert_true(answer(&w) < 0);
    assert_int_equal(stop_worker(&w, NULL), 1);
}

/* A cell is a server's when its adapter says the store is not on this host, whatever its URI
 * looks like: redis+unix: has no "://" but is a server; sqlite: with the worker's folder is not.
 * The `@` keeps the gate from opening them (they are the workers' to open). */
static void test_cells_server_by_description(void **state) {
    (void)state;
    static gate g;
    memset(&g, 0, sizeof g);
    g.batch = 0.003;
    g.server_batch = 0.03;
    gate_plan p = {.scenarios = {"read"},
                   .nscenarios = 1,
                   .backends = {"sqlite:@/gate.sqlite", "redis+unix:@/redis.sock", "local:"},
                   .nbackends = 3};
    assert_int_equal(sc_gate_cells(&g, &p), 0);
    assert_int_equal(g.ncells, 3);
    static const bool server[] = {false, true, false};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(g.cells[i].server, server[i]);
        assert_true(g.cells[i].batch == (server[i] ? g.server_batch : g.batch));
    }
    assert_int_equal(g.ngroups, 2); /* servers take turns among themselves */
}

/* Only an `@` right after the scheme's colon is the scratch folder: a password's is the URI's. */
static void test_placeholder_only_after_scheme(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"sqlite:@/g.db?sync=off", "sqlite:/w/b/g.db?sync=off"},
        {"redis+unix:@/redis.sock", "redis+unix:/w/b/redis.sock"},
        {"redis://:pw@127.0.0.1:6379", "redis://:pw@127.0.0.1:6379"},
        {"memcached://u@127.0.0.1:11211", "memcached://u@127.0.0.1:11211"},
        {"local:", "local:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gate_cell c = {0};
        char out[600];
        snprintf(c.backend, sizeof c.backend, "%s", cases[i][0]);
        sc_gate_backend("/w/b", &c, out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts_of_pairs),
        cmocka_unit_test(test_looks_split_alpha),
        cmocka_unit_test(test_holm_over_items),
        cmocka_unit_test(test_dropped_pairs_ignored),
        cmocka_unit_test(test_faster_side_of_margin),
        cmocka_unit_test(test_cells_server_by_description),
        cmocka_unit_test(test_placeholder_only_after_scheme),
        cmocka_unit_test(test_worker_protocol),
        cmocka_unit_test(test_worker_lock_two_procs),
        cmocka_unit_test(test_two_workers_in_turn),
        cmocka_unit_test(test_worker_cleans_up_on_sigterm),
        cmocka_unit_test(test_worker_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
