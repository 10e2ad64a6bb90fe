/*
 * sc.h - the scenario runner of udbench: cells, worker processes, and the scenario catalogue.
 *
 * A cell is one (scenario, backend, parameters) combination, run `repeat` times. Each run of a
 * cell forks `procs` worker processes that open their own connection to the backend, warm up,
 * meet at a barrier in shared memory, run the measured phase, and write their figures into
 * their own slot of that shared memory. The parent merges the slots (histograms by adding
 * counts) into the results document (results/include/rp.h).
 */
#ifndef SC_H
#define SC_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hist.h"
#include "kv.h"
#include "probe.h"
#include "rng.h"
#include "rp.h"

/*
 * Error codes of the scenarios: name, value, message; ud_errgen.h makes the enum, sc_strerror()
 * and sc_errname(). 0 is success; the functions of scenarios/ return these, or the code
 * (KV_E*, RP_E* or -errno) of what failed under them.
 */
#define SC_ERRNO_MAP(XX)                                                                           \
    XX(SC_EUSAGE, -4001, "invalid command line")                                                   \
    XX(SC_EHELP, -4002, "the help was asked for and printed")                                      \
    XX(SC_ESTOPPED, -4003, "the run was stopped")                                                  \
    XX(SC_ETORN, -4004, "the value read back is torn or not the one written")                      \
    XX(SC_ENOCHECK, -4005, "the value is too short to carry a check")                              \
    XX(SC_ENOTFOUND, -4006, "no such scenario")                                                    \
    XX(SC_ESTALE, -4007, "the value read is older than the last acknowledged write")               \
    XX(SC_EMISSING, -4008, "a key acknowledged as written is missing")                             \
    XX(SC_EWORKER, -4009, "a worker process failed")                                               \
    XX(SC_ETIMEDOUT, -4010, "a worker did not finish in time")                                     \
    XX(SC_EMPI, -4011, "an MPI call failed")                                                       \
    XX(SC_ENOOP, -4012, "the cell has no such operation")                                          \
    XX(SC_ENOREF, -4013, "the group has no reference cell")                                        \
    XX(SC_ETRIAL, -4014, "a trial run failed")                                                     \
    XX(SC_ENOTOOL, -4015, "a program this command needs is missing")                               \
    XX(SC_ELOST, -4016, "acknowledged updates were lost")

UD_ERRGEN_ENUM(SC_ERRNO_MAP);

/* The message and the name of any code a function of scenarios/ returns: SC_E*, and by their
 * ranges KV_E* (kv_strerror) and RP_E* (rp_strerror), 0 and -errno. Never NULL; static. */
const char *sc_strerror(int rc);
const char *sc_errname(int rc);

#define SC_MAX_PROCS 64
#define SC_MAX_OPS 3
#define SC_ERR_MAX 240

/* Operation kinds a worker can record. */
typedef struct sc_op_stats {
    uint64_t ops;
    uint64_t errors;
    /* Time spent on this operation when it ran in a phase of its own (0: the operations of the
     * cell interleave, and its throughput is counted over the whole measured phase). */
    uint64_t phase_ns;
    sc_hist hist;
} sc_op_stats;

/* One worker's slot in shared memory. */
typedef struct sc_slot {
    _Atomic int state; /* 0 running, 1 done, 2 failed */
    int rc;
    char err[SC_ERR_MAX];
    uint64_t t_start, t_end; /* the measured phase, CLOCK_MONOTONIC ns */
    sc_op_stats op[SC_MAX_OPS];
    int64_t counters[8]; /* scenario-specific: torn reads, checked reads, ... */
    /* The current (lockstep: the last) stretch of this worker: its bounds and the probes of
     * the machine's state taken just before and just after it. */
    uint64_t b_start, b_end;
    /* Lockstep: the time the worker waited for a CPU (run queue, /proc/self/schedstat) within
     * its last batch, ns: not the backend's time (0 when the kernel does not say). */
    uint64_t b_wait;
    rp_probe probe_before, probe_after;
    /* Lockstep: what the last batch added to each operation's count and phase time, and to
     * the figure of merit's histogram (when the figure is a latency): the member's last worker
     * to end a batch takes the batch's figure from these (sc_lockstep.figure). */
    uint64_t b_ops[SC_MAX_OPS], b_phase[SC_MAX_OPS];
    sc_hist b_hist, b_hist0;
} sc_slot;

/*
 * The token of a lockstep group (lockstep.c), in shared memory seen by the workers of every
 * cell of the group. A grant writes its sequence number into the word of the member (cell)
 * whose batch it is, and wakes that member's workers only. They run one batch until `deadline`
 * (set by the first of them to start; or their share of the batch's operations); each adds
 * itself to `arrived`, the last one writes the batch's figure and sets `parked`, and they wait
 * for the next grant of their member.
 */
#define SC_LS_MEMBERS 256u
#define SC_LS_MIN_OPS 4
#define SC_LS_END (SC_LS_MEMBERS - 1)
#define SC_LS_WORD_END UINT32_MAX
typedef struct sc_lockstep {
    _Atomic uint32_t turn; /* the last grant: seq * SC_LS_MEMBERS + holder */
    /* Futex word of member m's workers: the sequence number of m's last grant, or
     * SC_LS_WORD_END for the end of the rounds. */
    _Atomic uint32_t word[SC_LS_MEMBERS];
    _Atomic uint32_t parked;  /* futex word of the parent: the holder's workers done (0 or P) */
    _Atomic uint32_t arrived; /* the holder's workers that ended the batch; the last sets parked */
    _Atomic uint64_t deadline;
    /* The gate's token (gate_lockstep.c): one mapping for both builds' workers, so that the
     * gate hands a batch to a member's workers and they hand it back, two wake-ups a batch.
     * figure[m]: the figure of merit of member m's last batch, written by its last worker
     * before it sets `parked` (0: none); failed[m]: set by the member's own gate-worker when
     * a worker of it failed, with a wake-up of `parked`. */
    double figure[SC_LS_MEMBERS];
    _Atomic uint32_t failed[SC_LS_MEMBERS];
    /* Set by the gate: no probe of the machine around a batch. The gate reads none, and two
     * probes (0.6 ms, and a 4 MiB read that evicts the cell's working set) weighed a fifth of
     * a 3 ms batch. */
    _Atomic uint32_t no_probe;
} sc_lockstep;

/* The shared memory of one run of a cell. */
typedef struct sc_arena {
    _Atomic uint32_t ready; /* workers that finished warming up */
    _Atomic uint32_t go;    /* the barrier: 1 = start the measured phase */
    _Atomic uint32_t stop;  /* 1 = stop now (Ctrl-C, or a worker failed) */
    uint64_t deadline;      /* duration mode: end of the measured phase (ns), else 0 */
    sc_lockstep *ls;        /* the group's token when the cell runs in lockstep, else NULL */
    int member;             /* this cell's index in the lockstep group */
    sc_slot slots[];
} sc_arena;

/* What a cell runs. */
typedef struct sc_params {
    int procs;
    uint64_t ops;    /* total operations of the measured phase (0: use duration) */
    double duration; /* seconds of the measured phase when ops == 0 */
    uint64_t keys;
    size_t value_size;
    double zipf_theta; /* 0: uniform */
    uint64_t entries;  /* dump: dict size */
    int repeat;
    uint64_t seed;
    int batch;             /* operations per clock read (0: decide by calibration) */
    const char *primitive; /* lock: "auto", "incr", "lock", "none" */
    bool pin;              /* worker i runs on CPU i mod the number of CPUs */
    /* The cells of a group run in lockstep rounds (lockstep.c): `repeat` rounds of one batch
     * of `duration` seconds (or `ops` operations) per backend. False: whole repetitions. */
    bool lockstep;
} sc_params;

typedef struct sc_scenario sc_scenario;

/* A cell as the runner and the workers see it. */
typedef struct sc_cell {
    const sc_scenario *scenario;
    char uri[1024];              /* the backend, with a shared name substituted where needed */
    char label[KV_DESC_URI_MAX]; /* the backend as the user gave it, secrets hidden */
    int role; /* KV_ROLE_*: a store, the baseline (local:) or the floor (null:) */
    unsigned caps;
    sc_params p;
    int rep; /* repetition index */
    const char *op_names[SC_MAX_OPS];
    int nops;
    double timer_overhead_ns;
    size_t group;      /* cells of one group differ only by backend (plan.c) */
    int backend_index; /* in the plan's backend list */
    /* A prefix of the cell's own keys where two runs may share a store (the two builds of a
     * gate on one server: each counts and stamps its own key); empty in `udbench run`. */
    char ns[16];
} sc_cell;

/* A worker's view. */
typedef struct sc_worker {
    const sc_cell *cell;
    sc_arena *arena;
    sc_slot *slot;
    int index;
    kv_conn *kv;
    sc_rng rng;
    kv_buf buf;
    char *value; /* a value buffer of cell->p.value_size bytes */
    sc_prober prober;
    uint32_t ls_seen;     /* lockstep: the last value of its member's word it looked at */
    uint64_t batch_done0; /* lockstep: the scenario's count of operations when the batch began */
    uint64_t wait0;       /* lockstep: the run-queue wait when the batch began */
    /* lockstep: each operation's count and phase time when the batch began */
    uint64_t ops0[SC_MAX_OPS], phase0[SC_MAX_OPS];
} sc_worker;

/* The catalogue entry of a scenario: everything the runner, the plan and the reports need to
 * know about it is here (see scenarios/README.md); nothing elsewhere compares scenario ids. */
enum { SC_PAYLOAD_NONE = 0, SC_PAYLOAD_VALUE, SC_PAYLOAD_DICT };
/* Which suite list a scenario's variants come from: one cell set, one per large value size
 * (keys cut to the suite's large working set), or one per dict size (timed for the duration,
 * one operation at a time). */
enum { SC_VARY_NONE = 0, SC_VARY_VALUE_SIZE, SC_VARY_ENTRIES };
/* Process counts: the suite's list, one process only, or the suite's counts of 2 and more
 * (2 when there are none). */
enum { SC_PROCS_SUITE = 0, SC_PROCS_ONE, SC_PROCS_TWO_PLUS };

/* The operation mix of a key-value workload, in percent. */
typedef struct sc_mix {
    int read, update, rmw;
} sc_mix;

/* What a scenario is judged by: an op of its own, a figure of it (RP_FIGURE_*), and which way
 * is better (RP_HIGHER_IS_BETTER / RP_LOWER_IS_BETTER). */
typedef struct sc_merit {
    const char *metric;
    int figure;
    int direction;
} sc_merit;

struct sc_scenario {
    const char *id;
    const char *summary;
    int payload;     /* what one operation moves: nothing to count, one value, or the whole dict */
    bool setup_once; /* the workload leaves the store valid for the next repetition */
    /* Runs in whole repetitions, never in lockstep rounds (a fault-injection run, not a speed
     * comparison: its figures are not paired with another backend's). */
    bool outside_lockstep;
    /* In lockstep, a batch lasts at least this long (seconds): a scenario whose events are
     * spaced in time (visibility's stamps) needs enough of them in one batch. */
    double batch_min_s;
    /* In lockstep, a worker's batch (duration mode) also lasts at least this many of the
     * scenario's operations (0: SC_LS_MIN_OPS): a batch of a slow store with one operation of
     * a 50/50 mix says nothing about either half. */
    int batch_min_ops;
    sc_merit merit;
    sc_mix mix;        /* key-value workloads: the mix of reads, updates and read-modify-writes */
    int vary;          /* SC_VARY_* */
    int procs;         /* SC_PROCS_* */
    uint64_t keys;     /* fixed number of keys (0: the suite's) */
    size_t value_size; /* fixed value size (0: the suite's) */
    double zipf_theta; /* fixed key distribution (0: the suite's) */
    uint64_t max_ops;  /* in ops mode, at most this many operations (0: no limit) */
    int max_repeat;    /* at most this many of the suite's repetitions (0: all; --repeat wins) */
    /* Backends whose round trip (sc_backend.rtt_ns, measured when probing) is at least
     * slow_rtt_ns run this scenario's SC_VARY_ENTRIES variants with entries / slow_divisor, in
     * groups of their own (with null: and local: for the floor and "x local"): a dump of a
     * remote store without bulk reads takes seconds per thousand entries. 0: no such rule. */
    double slow_rtt_ns;
    uint64_t slow_divisor;
    /* Why this backend cannot run it (caps missing), or NULL. */
    const char *(*not_applicable)(const sc_cell *c);
    /* Operation names, filled into the cell. */
    void (*ops)(sc_cell *c);
    /* In the parent, before the workers start (connection of the parent). */
    int (*setup)(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
    /* In each worker: warm up, wait at the barrier (sc_barrier), run, record. */
    int (*work)(sc_worker *w);
    /* In the parent, after the workers: correctness and extra figures. */
    int (*finish)(const sc_cell *c, kv_conn *kv, sc_arena *a, rp_cell *out);
};

/* ---- clock ---- */
static inline uint64_t sc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* The median cost of one sc_now_ns() call, in ns. */
double sc_timer_overhead(void);
/* The median time of one memcpy() of `size` bytes between two warm buffers, in ns; -1.0 (not
 * measured) when memory runs out. */
double sc_copy_ns(size_t size);

/* ---- runner.c ---- */
/* Marks the worker ready and waits for the start of the measured phase. Returns 0, or
 * SC_ESTOPPED when the run was stopped meanwhile. */
int sc_barrier(sc_worker *w);
/* True when the measured phase is over for this worker (`done` operations so far). */
bool sc_phase_over(sc_worker *w, uint64_t done, uint64_t target);
/* In ops mode, how many of its `target` operations the worker has left in this measured phase
 * (lockstep: in this batch), having done `done` in all. */
uint64_t sc_phase_left(const sc_worker *w, uint64_t done, uint64_t target);
/* The number of operations this worker does in ops mode (its share of p.ops). */
uint64_t sc_share(const sc_worker *w, uint64_t total);
/* True when the worker runs in lockstep batches (the scenario may shape its loop by it). */
bool sc_in_lockstep(const sc_worker *w);
/* Records an error message for the worker (the parent reports it). */
int sc_fail(sc_worker *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Runs every repetition of a cell and fills `out`. `stop` is set by Ctrl-C. */
int sc_run_cell(sc_cell *c, rp_cell *out, rp_doc *doc, volatile sig_atomic_t *stop);

/* The same in steps, for interleaving the repetitions of several cells: begin (n/a, open the
 * parent's connection), one round at a time (round r, at `position` in the round's order),
 * end (summaries, figure of merit). `out` may move between calls (it is passed each time). */
typedef struct sc_cell_state {
    kv_conn *kv;
    sc_hist *merged, *rep_hist;
    double fair[64];
    int nfair;
    int rc;
    bool done; /* n/a, failed or interrupted: later rounds do nothing */
} sc_cell_state;
int sc_cell_begin(sc_cell *c, rp_cell *out, sc_cell_state *st);
int sc_cell_round(sc_cell *c, rp_cell *out, sc_cell_state *st, int round, int position,
                  volatile sig_atomic_t *stop);
void sc_cell_end(sc_cell *c, rp_cell *out, rp_doc *doc, sc_cell_state *st);

/* ---- workload.c ---- */
/* Writes the name of key i ("k" + 10 digits) into buf (12 bytes); returns its length. */
size_t sc_key(char *buf, uint64_t i);
/* The same in the key space `space` (a lower-case letter in place of the "k"). */
size_t sc_key_in(char *buf, uint64_t i, char space);
/* The key space of a working set of `keys` keys of `value_size` bytes on a persistent store: a
 * letter other than "k" (the space of dump and failover, which clear or own the store), the same
 * for the same shape in every run, so that the shapes of a suite keep their working sets side by
 * side instead of clearing each other's. Two shapes may share a letter; the prefill mark of the
 * space tells them apart. */
char sc_key_space(uint64_t keys, size_t value_size);
#define SC_KEY_MAX 16
#define SC_KEY_LEN 11
/* Fills a value of `len` bytes for key i, version v, with a self-check when len >= 24. */
void sc_value_fill(char *val, size_t len, uint64_t i, uint64_t v);
/* Checks a value read for key i: 0 valid, SC_ETORN (torn or foreign), SC_ENOCHECK (shorter than
 * the 24 bytes a check needs). */
int sc_value_check(const char *val, size_t len, uint64_t i, size_t expect_len);
/* Picks a key index by the cell's distribution. */
uint64_t sc_pick_key(sc_worker *w, const sc_zipf *z);
/* Writes keys [0, n) with values of p.value_size, in batches. */
int sc_prefill(kv_conn *kv, const sc_params *p, uint64_t n, char *err, size_t errlen);
/* The same in the key space `space` (sc_key_in()). */
int sc_prefill_in(kv_conn *kv, const sc_params *p, uint64_t n, char space, char *err,
                  size_t errlen);
/* Makes room for element n of the array *v of *cap elements of `size` bytes, doubling it (from
 * `first` elements) when it is full. 0, or -ENOMEM with the array unchanged. */
int sc_grow(void **v, size_t n, size_t *cap, size_t size, size_t first);
/*
 * A number that tells this run apart from every other on the machine, the same in the parent
 * and its workers (fixed at the first call, which the parent makes before it forks): it is in
 * the name of the run's own UltraDict and in the prefill mark, so that a store left behind by
 * another run (one killed, one whose pid this run reuses) is never taken for this run's.
 */
uint64_t sc_run_nonce(void);

/* ---- catalogue.c ---- */
extern const sc_scenario *const sc_catalogue[];
const sc_scenario *sc_find_scenario(const char *id);
/* The figure of merit of a scenario by id: its metric (op), figure (RP_FIGURE_*) and direction
 * (RP_HIGHER_IS_BETTER / RP_LOWER_IS_BETTER). 0, or SC_ENOTFOUND for an unknown id. */
int sc_scenario_merit(const char *id, const char **metric, int *figure, int *direction);

#endif /* SC_H */
