/* catalogue.c - the scenarios udbench knows. */
#include <string.h>

#include "scen.h"

/* Key-value workloads run on every backend: one without cross-process sharing gives each
 * worker a private store of its own, which is exactly the "plain dict" baseline. */
static const char *seed_na(const sc_cell *c) {
    return c->p.procs != 1 ? "the original's test runs in one process" : NULL;
}

#define KV_SCENARIO(ident, text, pl)                                                               \
    static const sc_scenario scen_##ident = {                                                      \
        #ident, text, pl, true, NULL, sc_kv_ops, sc_kv_setup, sc_kv_work, sc_kv_finish}

static const sc_scenario scen_seed = {
    "seed",
    "the original's test: one process, key 1, N writes then N reads",
    SC_PAYLOAD_VALUE,
    true,
    seed_na,
    sc_seed_ops,
    sc_seed_setup,
    sc_seed_work,
    NULL};
KV_SCENARIO(read, "reads of existing keys, uniform over K keys", SC_PAYLOAD_VALUE);
KV_SCENARIO(write, "writes, uniform over K keys", SC_PAYLOAD_VALUE);
static const sc_scenario scen_mixed_a = {"mixed-a",
                                         "YCSB A: 50% reads, 50% updates",
                                         SC_PAYLOAD_VALUE,
                                         true,
                                         NULL,
                                         sc_kv_ops,
                                         sc_kv_setup,
                                         sc_kv_work,
                                         sc_kv_finish};
static const sc_scenario scen_mixed_b = {"mixed-b",
                                         "YCSB B: 95% reads, 5% updates",
                                         SC_PAYLOAD_VALUE,
                                         true,
                                         NULL,
                                         sc_kv_ops,
                                         sc_kv_setup,
                                         sc_kv_work,
                                         sc_kv_finish};
KV_SCENARIO(rmw, "YCSB F: 50% reads, 50% read-modify-writes", SC_PAYLOAD_VALUE);
KV_SCENARIO(zipf, "YCSB A on zipfian (0.99) hot keys", SC_PAYLOAD_VALUE);
KV_SCENARIO(large, "YCSB A with large values (64 KiB, 1 MiB)", SC_PAYLOAD_VALUE);
static const sc_scenario scen_dump = {"dump",
                                      "full dump and load of the whole dict, by dict size",
                                      SC_PAYLOAD_DICT,
                                      true,
                                      sc_dump_na,
                                      sc_dump_ops,
                                      sc_dump_setup,
                                      sc_dump_work,
                                      NULL};
static const sc_scenario scen_lock = {
    "lock",          "P processes increment one counter: throughput and lost updates",
    SC_PAYLOAD_NONE, false,
    sc_lock_na,      sc_lock_ops,
    sc_lock_setup,   sc_lock_work,
    sc_lock_finish};
static const sc_scenario scen_visibility = {
    "visibility",
    "one writer stamps a key: how long until readers see it",
    SC_PAYLOAD_NONE,
    false,
    sc_vis_na,
    sc_vis_ops,
    sc_vis_setup,
    sc_vis_work,
    NULL};

const sc_scenario *const sc_catalogue[] = {
    &scen_seed, &scen_read,  &scen_write, &scen_mixed_a, &scen_mixed_b,    &scen_rmw,
    &scen_zipf, &scen_large, &scen_dump,  &scen_lock,    &scen_visibility, NULL};

const sc_scenario *sc_find_scenario(const char *id) {
    for (int i = 0; sc_catalogue[i]; i++)
        if (!strcmp(sc_catalogue[i]->id, id))
            return sc_catalogue[i];
    return NULL;
}
