/*
 * test_plan.c - the pieces of udbench below its main(): option parsing into a plan, the value
 * self-check, the barrier, work shares and phase ends, the catalogue's figures of merit, and the
 * SC_E* codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "sc.h"

/* Parses a NULL-terminated list of options after "run"; frees the plan unless asked to keep it. */
static int parse(sc_plan *p, int keep, ...) {
    char *argv[32] = {"run"};
    int argc = 1;
    va_list ap;
    va_start(ap, keep);
    for (char *a; argc < 31 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    int rc = sc_plan_parse(argc, argv, p);
    if (!keep)
        sc_plan_free(p);
    return rc;
}

static bool has_backend(const sc_plan *p, const char *uri) {
    for (size_t i = 0; i < p->backends.n; i++)
        if (strcmp(p->backends.v[i].uri, uri) == 0)
            return true;
    return false;
}

/* local: is among the backends, and null:, the harness floor that every run has. */
static void assert_local_and_floor(const sc_plan *p) {
    assert_true(has_backend(p, "local:"));
    assert_true(has_backend(p, "null:"));
}

static void test_defaults(void **state) {
    (void)state;
    sc_plan p;
    assert_int_equal(parse(&p, 1, NULL), 0);
    assert_string_equal(p.suite, "default");
    assert_true(p.nscenarios > 0);
    assert_true(p.nprocs > 0);
    /* The embedded backends by default, and null: as the harness floor in every run. */
    assert_local_and_floor(&p);
    sc_plan_free(&p);
}

static void test_options(void **state) {
    (void)state;
    sc_plan p;
    assert_int_equal(parse(&p, 1, "--suite", "smoke", "--scenario", "read", "--scenario", "write",
                           "--procs", "1,2,4", "--backend", "local:", "--ops", "500", NULL),
                     0);
    assert_string_equal(p.suite, "smoke");
    assert_int_equal(p.nscenarios, 2);
    assert_string_equal(p.scenarios[0], "read");
    assert_string_equal(p.scenarios[1], "write");
    assert_int_equal(p.nprocs, 3);
    assert_int_equal(p.procs[2], 4);
    assert_int_equal(p.base.ops, 500);
    assert_local_and_floor(&p);
    assert_false(has_backend(&p, "lmdb:"));
    sc_plan_free(&p);
}

static void test_help_and_usage(void **state) {
    (void)state;
    sc_plan p;
    assert_int_equal(parse(&p, 0, "--help", NULL), SC_EHELP);
    assert_int_equal(parse(&p, 0, "--procs", "0", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--procs", "65", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--procs", "1,,x", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--scenario", "no-such", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--suite", "bogus", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--ops", "10", "--duration", "1", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--backend", "no-colon", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--value-size", "-3", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "stray", NULL), SC_EUSAGE);
    assert_int_equal(parse(&p, 0, "--no-such-option", NULL), SC_EUSAGE);
}

static void test_value_check(void **state) {
    (void)state;
    char v[100];
    sc_value_fill(v, sizeof v, 7, 3);
    assert_int_equal(sc_value_check(v, sizeof v, 7, sizeof v), 0);
    assert_int_equal(sc_value_check(v, sizeof v, 8, sizeof v), SC_ETORN);
    assert_int_equal(sc_value_check(v, sizeof v - 1, 7, sizeof v), SC_ETORN);
    v[50] ^= 1;
    assert_int_equal(sc_value_check(v, sizeof v, 7, sizeof v), SC_ETORN);
    assert_int_equal(sc_value_check(v, 10, 7, 10), SC_ENOCHECK);
}

/* A worker of a one-slot arena, as the runner makes them. */
typedef struct fixture {
    sc_arena *arena;
    sc_cell cell;
    sc_worker w;
} fixture;

static void fixture_init(fixture *f, int procs, int index) {
    size_t size = sizeof(sc_arena) + sizeof(sc_slot);
    f->arena = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(f->arena != MAP_FAILED);
    memset(&f->cell, 0, sizeof f->cell);
    f->cell.p.procs = procs;
    memset(&f->w, 0, sizeof f->w);
    f->w.cell = &f->cell;
    f->w.arena = f->arena;
    f->w.slot = &f->arena->slots[0];
    f->w.index = index;
}

static void fixture_free(fixture *f) {
    munmap(f->arena, sizeof(sc_arena) + sizeof(sc_slot));
}

static void test_barrier(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 1, 0);
    atomic_store(&f.arena->go, 1);
    assert_int_equal(sc_barrier(&f.w), 0);
    assert_int_equal(atomic_load(&f.arena->ready), 1);
    assert_true(f.w.slot->t_start > 0);
    /* A stop before or at the start is reported, so that the worker does not measure. */
    atomic_store(&f.arena->go, 0);
    atomic_store(&f.arena->stop, 1);
    assert_int_equal(sc_barrier(&f.w), SC_ESTOPPED);
    atomic_store(&f.arena->go, 1);
    assert_int_equal(sc_barrier(&f.w), SC_ESTOPPED);
    fixture_free(&f);
}

static void test_share_and_phase(void **state) {
    (void)state;
    fixture f;
    uint64_t sum = 0;
    for (int i = 0; i < 3; i++) {
        fixture_init(&f, 3, i);
        uint64_t s = sc_share(&f.w, 10);
        assert_int_equal(s, i == 0 ? 4 : 3);
        sum += s;
        fixture_free(&f);
    }
    assert_int_equal(sum, 10);

    fixture_init(&f, 1, 0);
    f.cell.p.ops = 5;
    assert_false(sc_phase_over(&f.w, 4, 5));
    assert_true(sc_phase_over(&f.w, 5, 5));
    f.cell.p.ops = 0; /* duration mode: the deadline decides */
    f.arena->deadline = sc_now_ns() + 60ull * 1000000000ull;
    assert_false(sc_phase_over(&f.w, 1000, 0));
    f.arena->deadline = sc_now_ns() - 1;
    assert_true(sc_phase_over(&f.w, 0, 0));
    f.arena->deadline = sc_now_ns() + 60ull * 1000000000ull;
    atomic_store(&f.arena->stop, 1);
    assert_true(sc_phase_over(&f.w, 0, 0));
    fixture_free(&f);
}

static void test_catalogue_and_codes(void **state) {
    (void)state;
    const char *metric;
    int figure, direction;
    assert_int_equal(sc_scenario_merit("no-such", &metric, &figure, &direction), SC_ENOTFOUND);
    for (int i = 0; sc_catalogue[i]; i++) {
        assert_int_equal(sc_scenario_merit(sc_catalogue[i]->id, &metric, &figure, &direction), 0);
        assert_non_null(metric);
        assert_ptr_equal(sc_find_scenario(sc_catalogue[i]->id), sc_catalogue[i]);
    }
    assert_string_equal(sc_errname(SC_EUSAGE), "SC_EUSAGE");
    assert_string_equal(sc_strerror(SC_ESTOPPED), "the run was stopped");
    assert_string_equal(sc_errname(0), "OK");
    assert_string_equal(sc_errname(-2), "ENOENT");
    assert_string_equal(sc_strerror(-4999), "unknown error");
}

/* The plan holds every scenario asked for: no silent limit (it stopped at 32). */
static void test_many_scenarios(void **state) {
    (void)state;
    enum { N = 70 };
    char *argv[2 * N + 1] = {"run"};
    for (int i = 0; i < N; i++) {
        argv[1 + 2 * i] = "--scenario";
        argv[2 + 2 * i] = (char *)sc_catalogue[i % 3]->id;
    }
    sc_plan p;
    assert_int_equal(sc_plan_parse(2 * N + 1, argv, &p), 0);
    assert_int_equal(p.nscenarios, N);
    assert_string_equal(p.scenarios[N - 1], sc_catalogue[(N - 1) % 3]->id);
    sc_plan_free(&p);
    /* A suite takes the whole catalogue, however long. */
    int n = 0;
    while (sc_catalogue[n])
        n++;
    assert_int_equal(parse(&p, 1, "--suite", "smoke", NULL), 0);
    assert_int_equal(p.nscenarios, n);
    sc_plan_free(&p);
}

/* A result cell's backend fields are what the backend's adapter said about itself. */
static void test_cells_from_adapter(void **state) {
    (void)state;
    sc_backends bs;
    memset(&bs, 0, sizeof bs);
    assert_int_equal(sc_add_backend(&bs, "null:?size=4", false), 0);
    assert_int_equal(sc_add_backend(&bs, "local:", false), 0);
    assert_int_equal(sc_add_backend(&bs, "memcached://u:pw@127.0.0.1:1", false), 0);
    assert_int_equal(sc_add_backend(&bs, "ultradict:", false), 0);
    /* A URI no adapter knows (here a typo) is shown without its password all the same. */
    assert_int_equal(sc_add_backend(&bs, "rediss://u:pw@h:1", true), 0);
    assert_string_equal(bs.v[4].desc.uri, "rediss://***@h:1");
    bs.n--;
    static const int roles[] = {RP_ROLE_FLOOR, RP_ROLE_BASELINE, RP_ROLE_STORE, RP_ROLE_STORE};
    for (size_t i = 0; i < bs.n; i++) {
        kv_desc want;
        assert_int_equal(kv_describe_uri(bs.v[i].label, &want), 0);
        snprintf(bs.v[i].name, sizeof bs.v[i].name, "name%zu", i);
        rp_cell c;
        memset(&c, 0, sizeof c);
        assert_int_equal(sc_cell_describe(&bs.v[i], &c), 0);
        assert_int_equal(c.backend_role, roles[i]);
        assert_int_equal(c.backend_role, RP_ROLE_STORE + want.role);
        assert_string_equal(c.backend_id, want.identity);
        assert_string_equal(c.backend_name, bs.v[i].name);
        assert_false(c.stand_in);
        free(c.backend_id);
        free(c.backend_name);
    }
    /* The password never reaches the document; the port is not part of the identity. */
    assert_string_equal(bs.v[2].desc.uri, "memcached://***@127.0.0.1:1");
    assert_string_equal(bs.v[2].desc.identity, "memcached://***@127.0.0.1:*");
    /* An unnamed store is opened under the run's shared name, and shown as given. */
    assert_true(strncmp(bs.v[3].uri, "ultradict:udbench_", 18) == 0);
    assert_string_equal(bs.v[3].desc.uri, "ultradict:");
    sc_backends_free(&bs);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_defaults), cmocka_unit_test(test_options),
               cmocka_unit_test(test_help_and_usage), cmocka_unit_test(test_value_check),
               cmocka_unit_test(test_barrier), cmocka_unit_test(test_share_and_phase),
               cmocka_unit_test(test_catalogue_and_codes), cmocka_unit_test(test_many_scenarios),
               cmocka_unit_test(test_cells_from_adapter))
