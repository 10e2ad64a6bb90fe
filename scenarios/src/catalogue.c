/*
 * catalogue.c - the scenarios udbench knows, as data. Each entry says what it runs (its
 * functions and operation mix), how its cells are formed (variants, process counts, fixed
 * parameters) and what it is judged by (its figure of merit and direction). Adding a scenario
 * is one entry here plus its functions (scen.h); see scenarios/README.md.
 */
#include <string.h>

#include "scen.h"

/* Key-value workloads run on every backend: one without cross-process sharing gives each
 * worker a private store of its own, which is exactly the "plain dict" baseline. */
static const char *seed_na(const sc_cell *c) {
    return c->p.procs != 1 ? "the original's test runs in one process" : NULL;
}

/* Every op of an interleaved mix runs at the mix's rate times its share, so ranking by reads
 * is ranking by the mix's throughput. */
#define BY_READS                                                                                   \
    { "read", RP_FIGURE_OPS, RP_HIGHER_IS_BETTER }

#define KV_SCENARIO(ident, name, text, ...)                                                        \
    static const sc_scenario scen_##ident = {.id = name,                                           \
                                             .summary = text,                                      \
                                             .payload = SC_PAYLOAD_VALUE,                          \
                                             .setup_once = true,                                   \
                                             .ops = sc_kv_ops,                                     \
                                             .setup = sc_kv_setup,                                 \
                                             .work = sc_kv_work,                                   \
                                             .finish = sc_kv_finish,                               \
                                             __VA_ARGS__}

static const sc_scenario scen_seed = {
    .id = "seed",
    .summary = "the original's test: one process, key 1, N writes then N reads",
    .payload = SC_PAYLOAD_VALUE,
    .setup_once = true,
    .merit = {"write", RP_FIGURE_OPS, RP_HIGHER_IS_BETTER},
    .procs = SC_PROCS_ONE,
    .keys = 1,
    .value_size = 1,
    .not_applicable = seed_na,
    .ops = sc_seed_ops,
    .setup = sc_seed_setup,
    .work = sc_seed_work};
KV_SCENARIO(read, "read", "reads of existing keys, uniform over K keys", .mix = {100, 0, 0},
            .merit = BY_READS);
KV_SCENARIO(write, "write", "writes, uniform over K keys", .mix = {0, 100, 0},
            .merit = {"update", RP_FIGURE_OPS, RP_HIGHER_IS_BETTER});
KV_SCENARIO(mixed_a, "mixed-a", "YCSB A: 50% reads, 50% updates", .mix = {50, 50, 0},
            .merit = BY_READS);
KV_SCENARIO(mixed_b, "mixed-b", "YCSB B: 95% reads, 5% updates", .mix = {95, 5, 0},
            .merit = BY_READS);
KV_SCENARIO(rmw, "rmw", "YCSB F: 50% reads, 50% read-modify-writes", .mix = {50, 0, 50},
            .merit = BY_READS);
KV_SCENARIO(zipf, "zipf", "YCSB A on zipfian (0.99) hot keys", .mix = {50, 50, 0},
            .zipf_theta = 0.99, .merit = BY_READS);
KV_SCENARIO(large, "large", "YCSB A with large values (64 KiB, 1 MiB)", .mix = {50, 50, 0},
            .vary = SC_VARY_VALUE_SIZE, .merit = BY_READS);
static const sc_scenario scen_dump = {.id = "dump",
                                      .summary =
                                          "full dump and load of the whole dict, by dict size",
                                      .payload = SC_PAYLOAD_DICT,
                                      /* Set up before every round: two URIs of a group may reach
                                       * one store (cloudflare-kv and cloudflare-rest share the
                                       * local runtime's namespace), and the other's round in
                                       * between clears and refills it. */
                                      .setup_once = false,
                                      .merit = {"dump", RP_FIGURE_BYTES_SEC, RP_HIGHER_IS_BETTER},
                                      .vary = SC_VARY_ENTRIES,
                                      .procs = SC_PROCS_ONE,
                                      /* A round trip of a millisecond or more (the local
                                       * Cloudflare runtime: several): a tenth of the entries. */
                                      .slow_rtt_ns = 1e6,
                                      .slow_divisor = 10,
                                      /* One dump (and its load) is a batch's figure. */
                                      .batch_min_ops = 1,
                                      .not_applicable = sc_dump_na,
                                      .ops = sc_dump_ops,
                                      .setup = sc_dump_setup,
                                      .work = sc_dump_work};
/* Lost updates are its correctness verdict (correctness.lost_updates), not its figure. */
static const sc_scenario scen_lock = {
    .id = "lock",
    .summary = "P processes increment one counter: throughput and lost updates",
    .payload = SC_PAYLOAD_NONE,
    .setup_once = false,
    .merit = {"incr", RP_FIGURE_OPS, RP_HIGHER_IS_BETTER},
    .not_applicable = sc_lock_na,
    .ops = sc_lock_ops,
    .setup = sc_lock_setup,
    .work = sc_lock_work,
    .finish = sc_lock_finish};
static const sc_scenario scen_visibility = {
    .id = "visibility",
    .summary = "one writer stamps a key: how long until readers see it",
    .payload = SC_PAYLOAD_NONE,
    .setup_once = false,
    .merit = {"visible", RP_FIGURE_P50_NS, RP_LOWER_IS_BETTER},
    .procs = SC_PROCS_TWO_PLUS,
    .max_ops = 2000,     /* stamps 100 us apart: bounded in time */
    .batch_min_s = 0.02, /* about 200 stamps per batch */
    .not_applicable = sc_vis_na,
    .ops = sc_vis_ops,
    .setup = sc_vis_setup,
    .work = sc_vis_work};

/* Ranked by the acknowledged writes it lost, then (report_common.c) by its window. */
static const sc_scenario scen_failover = {
    .id = "failover",
    .summary = "steady acknowledged writes; one node or writer killed: window, errors, lost writes",
    .payload = SC_PAYLOAD_VALUE,
    .setup_once = false,
    .merit = {"write", RP_FIGURE_LOST, RP_LOWER_IS_BETTER},
    .procs = SC_PROCS_TWO_PLUS,
    .keys = 1000,
    .value_size = 64,
    /* A kill and a restart take seconds and leave the store changed: each repetition is a
     * whole run of its own, never a short batch taking turns with other backends. */
    .outside_lockstep = true,
    /* A repetition is a kill and a restart: a second for an embedded store, several for a
     * server (scripts/services starts it again). Three of them show whether acknowledged
     * writes are lost; with the suite's 40 this one scenario took longer than all the others
     * together in scripts/bench. */
    .max_repeat = 3,
    .not_applicable = sc_failover_na,
    .ops = sc_failover_ops,
    .setup = sc_failover_setup,
    .work = sc_failover_work,
    .finish = sc_failover_finish};

const sc_scenario *const sc_catalogue[] = {
    &scen_seed,  &scen_read, &scen_write, &scen_mixed_a,    &scen_mixed_b,  &scen_rmw, &scen_zipf,
    &scen_large, &scen_dump, &scen_lock,  &scen_visibility, &scen_failover, NULL};

const sc_scenario *sc_find_scenario(const char *id) {
    for (int i = 0; id && sc_catalogue[i]; i++)
        if (!strcmp(sc_catalogue[i]->id, id))
            return sc_catalogue[i];
    return NULL;
}

int sc_scenario_merit(const char *id, const char **metric, int *figure, int *direction) {
    const sc_scenario *s = sc_find_scenario(id);
    if (!s)
        return SC_ENOTFOUND;
    *metric = s->merit.metric;
    *figure = s->merit.figure;
    *direction = s->merit.direction;
    return 0;
}
