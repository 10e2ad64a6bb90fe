/*
 * gate_internal.h - the state of one `udbench gate` run, shared by its files:
 *   gate.c          the command line, the run, the report
 *   gate_trial.c    one pair: two lockstep workers (gate_lockstep.c) or two whole processes
 *   gate_lockstep.c the lockstep pair: both builds' workers alive at once, a token between them
 *   gate_verdict.c  the sign-test bound, Holm, looks, the anchors, the shuffled schedule
 *   gate_count.c    the deterministic channel (instructions under cachegrind)
 *   gate_worker.c   the worker side of a lockstep pair (`udbench gate-worker`)
 */
#ifndef SC_GATE_INTERNAL_H
#define SC_GATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rp.h"
#include "machine.h"
#include "rp_compare.h"
#include "sc.h"

/* One cell of a gate: a catalogue scenario on one backend with P processes. Cells of one
 * group share scenario and P: in a lockstep pair each build runs one worker for the group's
 * open cells, and the group's members are (build, cell). */
#define GATE_MAX_CELLS 64
typedef struct gate_cell {
    const char *scenario;
    char backend[512]; /* `@` is the worker's own scratch folder (file-based backends) */
    int procs;
    double batch; /* seconds per lockstep batch: the group's */
    size_t group;
    bool server; /* a store behind a server: round trips through the kernel and another process */
} gate_cell;

/* Repetitions inside one trial process; the trial's figure is its best repetition, because
 * interference from other tenants only ever slows a repetition down. */
#define GATE_REPEAT "5"

typedef struct trial {
    size_t cell;  /* the trial's cell in its document (udbench/2 adds the null: floor cells) */
    double value; /* per op of the cell, in cell order; the first op's figure */
    rp_doc *doc;
    double wall, steal_frac, nivcsw_rate, canary;
} trial;

typedef struct gate {
    const char *base_bin, *head_bin, *scratch;
    gate_cell cells[GATE_MAX_CELLS];
    size_t ncells, ngroups;
    int pairs, looks;
    double margin, alpha, canary_ref, canary_limit, steal_limit, csw_factor;
    uint64_t rng;
    bool verbose;
    bool lockstep;       /* both builds have the catalogue's gate-worker (else whole processes) */
    bool shared_token;   /* both speak protocol 3: the gate grants batches on a shared token */
    int rounds;          /* lockstep: rounds of one batch per (build, cell) in a pair */
    double batch;        /* seconds per lockstep batch of an embedded backend */
    double server_batch; /* the same of a server (not on_host): a few hundred round trips */
    unsigned long keys;  /* keys of the working set */
    double spread_limit; /* lockstep: the IQR of a pair's per-round ln ratios that drops it */
    /* The same two limits for a server's cells, whose batches spread more by nature: a round
     * trip to a server on this host is fast or several times slower depending on whether the
     * client and the server share a CPU, and the server's own CPU time is the machine's too. */
    double server_steal_limit, server_spread_limit;
    rp_cmp *cmp;
    /* item index of each (cell, op), -1 until the first trial names the ops */
    int item_of[GATE_MAX_CELLS][4];
    int nops[GATE_MAX_CELLS];
    bool open[GATE_MAX_CELLS];
    bool skipped[GATE_MAX_CELLS]; /* not applicable to the backend: no item */
    double csw_rates[GATE_MAX_CELLS][512];
    double canaries[64]; /* a ring of the last canary times */
    size_t ncanary;
    size_t ncsw[GATE_MAX_CELLS];
} gate;

/* The cells the command line asks for (gate_cells.c). */
typedef struct gate_plan {
    const char *scenarios[32];
    int nscenarios;
    const char *backends[GATE_MAX_CELLS];
    int nbackends;
    int procs; /* 0: by the scenario */
    bool smoke;
} gate_plan;
/* Fills g's cells and groups from p: the named scenarios on the named backends, or the
 * default suite. 0, 2 (a usage error, said on stderr) or 4 (a named backend does not answer). */
int sc_gate_cells(gate *g, const gate_plan *p);

uint64_t sc_gate_rand(gate *g);
double sc_gate_now(void);
double sc_gate_canary(void);
/* The scratch-folder placeholder of a backend URI: an `@` right after the scheme's colon
 * (`sqlite:@/g.db`), or NULL. An `@` anywhere else belongs to the URI (`redis://:pw@host`). */
const char *sc_gate_placeholder(const char *uri);
/* The backend URI of cell c, its placeholder replaced by the folder dir. */
void sc_gate_backend(const char *dir, const gate_cell *c, char *backend, size_t len);

/* One pair of the open cells of group gi in look `look`: 1 when every pair was dropped, 0
 * when some were kept, -1 on failure. */
int sc_gate_pair(gate *g, size_t gi, int look);
/* The lockstep pair (gate_lockstep.c), with the same result. */
int sc_gate_lockstep_pair(gate *g, size_t gi, int look);
/* The gate-worker protocol of BIN: 2 (the catalogue's lockstep worker, batches through its
 * pipes), 3 (and the gate's shared token, --namespace), or 0 when it has none. */
int sc_gate_worker_protocol(const char *bin);
/* The items of cell ci, made at its first pair: one per op of a whole-process trial's cell,
 * or (cell NULL, lockstep) the one op of the scenario's figure of merit. 0, or -ENOMEM. */
int sc_gate_items(gate *g, size_t ci, const char *scenario, const rp_cell *cell);

/* Evaluates every open item after look `look`: the one-sided sign tests against the margin at
 * alpha / looks, Holm over the items; sets verdicts, ratios and intervals (gate_verdict.c). */
void sc_gate_evaluate(gate *g, int look);
/* The timed channel: up to g->looks looks of pairs over the open cells. 0, or -1. */
int sc_gate_time_channel(gate *g);
/* The deterministic channel. 0, or -1. */
int sc_gate_count_channel(gate *g);

/* Reads exactly n bytes: 1, 0 at end of input, -errno on error (gate_worker.c). */
int sc_gw_read_full(int fd, void *buf, size_t n);

#endif /* SC_GATE_INTERNAL_H */
