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

/* One cell of a gate suite: a scenario on one backend with its parameters. */
typedef struct gate_cell {
    const char *scenario, *backend, *procs, *ops;
    const char *batch; /* lockstep: operations per batch (a few ms) */
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
    const gate_cell *cells;
    size_t ncells;
    int pairs, looks;
    double margin, alpha, canary_ref, canary_limit, steal_limit, csw_factor;
    uint64_t rng;
    bool verbose;
    bool lockstep;       /* both builds have `udbench gate-worker` (else whole-process trials) */
    int rounds;          /* lockstep: rounds of one batch per build in a pair */
    double spread_limit; /* lockstep: a side's batch IQR over its median that drops a pair */
    rp_cmp *cmp;
    /* item index of each (cell, op), -1 until the first trial names the ops */
    int item_of[64][4];
    int nops[64];
    bool open[64];
    double csw_rates[64][512];
    double canaries[64]; /* a ring of the last canary times */
    size_t ncanary;
    size_t ncsw[64];
} gate;

uint64_t sc_gate_rand(gate *g);
double sc_gate_now(void);
double sc_gate_canary(void);
/* The backend URI of cell c, `@` replaced by the run's scratch folder. */
void sc_gate_backend(const gate *g, const gate_cell *c, char *backend, size_t len);

/* One pair of cell ci in look `look`: 1 when it was dropped, 0 kept, or the (negative) code of
 * the failure (SC_ETRIAL, SC_EWORKER, -errno, -ENOMEM ...), said on stderr. */
int sc_gate_pair(gate *g, size_t ci, int look);
/* The lockstep pair (gate_lockstep.c), with the same result. */
int sc_gate_lockstep_pair(gate *g, size_t ci, int look);
/* Whether BIN has the lockstep worker. */
bool sc_gate_has_worker(const char *bin);
/* The items (one per op) of cell ci, made at its first pair. 0, or -ENOMEM. */
int sc_gate_items(gate *g, size_t ci, const char *scenario, const rp_cell *cell);

/* Evaluates every open item after look `look`: the one-sided sign tests against the margin at
 * alpha / looks, Holm over the items; sets verdicts, ratios and intervals (gate_verdict.c). */
void sc_gate_evaluate(gate *g, int look);
/* The timed channel: up to g->looks looks of pairs over the open cells. 0, or the code of the
 * pair that failed. */
int sc_gate_time_channel(gate *g);
/* The deterministic channel. 0, or SC_ENOTOOL (no valgrind, setarch or udcount), SC_ETRIAL (a
 * count failed), -errno or -ENOMEM. */
int sc_gate_count_channel(gate *g);

/* Reads exactly n bytes: 1, 0 at end of input, -errno on error (gate_worker.c). */
int sc_gw_read_full(int fd, void *buf, size_t n);

#endif /* SC_GATE_INTERNAL_H */
