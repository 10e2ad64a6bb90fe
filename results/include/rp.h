/*
 * rp.h - the results of a udbench run: the in-memory document, its JSON form (schema
 * "udbench/2", see results/README.md), and the reports made from it.
 *
 * Ownership: a document made by rp_doc_new() or rp_doc_read() is freed by rp_doc_free() (which
 * accepts NULL). Every string and array inside a document is owned by it; the rp_doc_add_*
 * functions copy what they are given. Pointers returned by rp_doc_add_* stay valid until the
 * next rp_doc_add_* call on the same parent (the arrays may move) - fill one element, then add
 * the next.
 *
 * Errors: 0 is success; RP_E* codes (below -3000) or -errno. rp_strerror() describes them. The
 * reader never accepts a document it does not fully understand: it names the first field that
 * is missing, has the wrong type or an impossible value, in `err`. Every function below that
 * returns int returns 0 or one of these; functions returning a pointer return NULL on a NULL
 * argument or when memory runs out.
 *
 * Caveats
 *  - A document is not thread-safe; build it in one thread.
 *  - Pointers into a document (rp_doc_add_*, rp_cell_merit, rp_cell_param) are invalidated by
 *    the next rp_doc_add_* / rp_cell_add_* on the same parent and by rp_doc_free().
 *  - The reader refuses a newer schema by name (RP_ESCHEMA) rather than guessing, and reads
 *    every earlier one (udbench/1 documents get the udbench/2 fields' defaults).
 *  - The summaries (median, spread, intervals) of a document are recomputed by the reader and
 *    must match what is stored: edit the repetitions and call rp_metric_summarise() again.
 *  - Reports are computed from the document alone; they never look at the machine they run on.
 *  - Fields whose names start with "x_" are accepted by the reader and not kept: a document
 *    read and written again loses them.
 */
#ifndef RP_H
#define RP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ud_errgen.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The schema this version writes; it also reads RP_SCHEMA_V2 and RP_SCHEMA_V1 documents (see
 * results/README.md). */
#define RP_SCHEMA "udbench/3"
#define RP_SCHEMA_V2 "udbench/2"
#define RP_SCHEMA_V1 "udbench/1"

/*
 * The most a document holds of each, as `udbench run` writes it. The reader refuses a document
 * with more (RP_ESCHEMA, naming the field) before it reads the elements, so that no document
 * can make a reader slow; every reader is linear or n log n within these bounds.
 */
#define RP_MAX_REPS 1000  /* repetitions of a metric, and run.rounds: `--repeat` takes 1 to 1000 */
#define RP_MAX_METRICS 16 /* operations of a cell (the catalogue's scenarios have at most 3) */
#define RP_MAX_PARAMS 32  /* parameters of a cell (the runner writes at most 10) */
#define RP_MAX_BACKENDS 256 /* backends of a run */

/* Error codes: name, value, message. ud_errgen.h makes the enum, rp_strerror() and rp_errname(). */
#define RP_ERRNO_MAP(XX)                                                                           \
    XX(RP_EPARSE, -3001, "the file is not valid JSON")                                             \
    XX(RP_ESCHEMA, -3002, "the document is not a udbench/1, /2 or /3 results document")            \
    XX(RP_EINVAL, -3003, "invalid argument")                                                       \
    XX(RP_EFORMAT, -3004, "unknown report format")

UD_ERRGEN_ENUM(RP_ERRNO_MAP);

/* A message for any return code of this library (0, RP_E* or -errno). Never NULL; static. */
const char *rp_strerror(int rc);
/* The symbolic name of a return code, e.g. "RP_EPARSE" or "ENOENT". Never NULL; static. */
const char *rp_errname(int rc);

/* Status of a cell. */
enum { RP_STATUS_OK = 0, RP_STATUS_NA, RP_STATUS_ERROR };

/*
 * udbench/3: the probe of the machine's state a worker runs on its CPU around a measured
 * stretch (scenarios/src/probe.c): nanoseconds per step of a pointer chase over a working set
 * near the last-level cache's size (llc_ns) and over one that fits in L2 (l2_ns), and per
 * iteration of a dependent floating-point loop (compute_ns). All 0: not measured.
 */
typedef struct rp_probe {
    double llc_ns, l2_ns, compute_ns;
} rp_probe;

/* The cache regime a probe saw (rp_probe_regime): fast, slow, or a stretch whose probe before
 * and after disagree (changed). NONE: not measured. */
enum { RP_REGIME_NONE = 0, RP_REGIME_FAST, RP_REGIME_SLOW, RP_REGIME_CHANGED };
/* Above this many compute-loop iterations per LLC-chase step, the last-level cache the machine
 * leaves us is small: the stretch ran in the slow regime (see README, "Lockstep rounds and the
 * machine's state"). The chase runs through a set the probe has just read (udbench run writes
 * this threshold into the run as probe_slow_ratio). */
#define RP_PROBE_SLOW_RATIO 18.0
/* The threshold of documents without probe_slow_ratio, whose probe chased a cold 8 MiB set. */
#define RP_PROBE_SLOW_RATIO_COLD 10.0

/* One repetition of one measured operation. */
typedef struct rp_rep {
    uint64_t ops;
    double seconds;
    double ops_per_sec;
    uint64_t errors;
    /* udbench/2 (0 in documents read from udbench/1): */
    double p50_ns; /* p50 latency of this repetition alone (0: no histogram) */
    int round;     /* the interleaved round this repetition ran in (0-based) */
    int position;  /* its place in that round's shuffled backend order (0-based) */
    /* Signals of a disturbed measurement, taken around this repetition: the share of CPU time
     * stolen by the hypervisor (/proc/stat), the workers' involuntary context switches, and
     * the 1-minute load average at its end. The same for every metric of one repetition. */
    double steal_share;
    uint64_t nivcsw;
    double load1;
    /* udbench/3 (0 in older documents): the probe before and after the stretch (each the mean
     * over the cell's workers), and, on the figure of merit's metric of a lockstep run, the
     * paired ratio: this batch's figure of merit over the reference backend's in the same round
     * (0: none). The regime is rp_rep_regime() of the two probes. */
    rp_probe probe_before, probe_after;
    double ratio;
    /* The regime as the document classified it (by its run's probe_slow_ratio); 0: none given,
     * rp_rep_regime() classifies the probes by RP_PROBE_SLOW_RATIO. */
    int regime;
} rp_rep;

/* A non-empty bucket of a merged log-linear latency histogram (see sc_hist in scenarios/). */
typedef struct rp_bucket {
    uint32_t index;
    uint64_t count;
} rp_bucket;

/* Latency of one operation in nanoseconds, from the histogram merged over processes and
 * repetitions (never averaged percentiles). */
typedef struct rp_latency {
    uint64_t count;
    double mean, p50, p90, p99, p999, max;
} rp_latency;

/* One operation measured by a cell: "read", "write", "update", "rmw", "incr", "dump", ... */
typedef struct rp_metric {
    char *op;
    rp_rep *reps;
    size_t nreps;
    /* Over the repetitions' ops_per_sec: median, min, max, and spread = (max - min) / median. */
    double median, min, max, spread;
    bool noisy; /* spread above the run's noise threshold */
    /* A distribution-free confidence interval of the median ops/s, from order statistics of
     * the repetitions (rp_median_ci()); ci_level is its exact coverage (0: fewer than 2 reps). */
    double ci_low, ci_high, ci_level;
    double fairness;     /* Jain's index over the processes' throughput (1 = fair); 0 if n/a */
    double bytes_per_op; /* payload bytes per operation, 0 when not meaningful */
    bool has_latency;
    rp_latency latency;
    char *hist_scheme; /* e.g. "log-linear/128" */
    rp_bucket *buckets;
    size_t nbuckets;
} rp_metric;

/* What a correctness check expected and saw. */
typedef struct rp_correctness {
    bool present;
    int64_t expected;
    int64_t observed;
    int64_t lost_updates; /* expected - observed for counters */
    int64_t torn_reads;   /* values that failed their self-check */
} rp_correctness;

/* What a scenario is judged by (its catalogue entry says; see scenarios/README.md). */
enum {
    RP_FIGURE_OPS = 0,   /* median ops/s of the metric */
    RP_FIGURE_P50_NS,    /* median over repetitions of the metric's p50 latency, ns */
    RP_FIGURE_BYTES_SEC, /* median ops/s x bytes_per_op: payload bytes per second */
    RP_FIGURE_LOST,      /* udbench/3: acknowledged writes lost (failover.reps[].lost_writes) */
    /* Instructions per operation under valgrind: the gate's deterministic channel, a figure of
     * comparisons only (no cell of a results document has it). */
    RP_FIGURE_INSTRUCTIONS,
};
enum { RP_LOWER_IS_BETTER = -1, RP_HIGHER_IS_BETTER = 1 };

/* The figure of merit of a cell: which metric, which figure of it (and so its unit:
 * rp_merit_unit()), which way is better, and its value with a confidence interval over the
 * repetitions (same method as rp_metric). The one merit type of results: a comparison's item
 * (rp_compare.h) carries one too, with only figure and direction set. */
typedef struct rp_merit {
    char *metric; /* the op of the metric ("read", "visible", "dump"); NULL: none */
    int figure;   /* RP_FIGURE_* */
    int direction;
    double value, ci_low, ci_high, ci_level;
    /* udbench/3, lockstep runs: the backend the figure was paired with round by round (NULL:
     * not paired), and the median of the per-round ratios with its order-statistics interval
     * (rp_median_ci); the reference's own cell has ratio 1. */
    char *reference;
    double ratio, ratio_low, ratio_high, ratio_level;
} rp_merit;

/* An error kind ("KV_ECONN", "SC_ESTALE") and how many operations met it. */
typedef struct rp_error_kind {
    char *kind;
    uint64_t count;
} rp_error_kind;

/* One repetition of the failover scenario (udbench/3): what was killed, how long the store was
 * unavailable, and which acknowledged writes the read-back found missing or older. */
typedef struct rp_failover_rep {
    char *victim;     /* what was killed: "pid 123 127.0.0.1:6379 server", "worker 1's writer" */
    double kill_s;    /* when, in seconds after the start of the measured phase */
    double restart_s; /* seconds from the kill until it was restarted; < 0: not restarted */
    /* The unavailability window, s: from the first failed operation of any worker to the
     * latest first success after a worker's last failure; 0 when no operation failed. */
    double window_s;
    bool recovered;          /* every worker succeeded again after its last failure */
    double *worker_window_s; /* the same per worker (nworkers entries) */
    size_t nworkers;
    uint64_t acked_writes;     /* writes acknowledged during the repetition (prefill included) */
    uint64_t lost_writes;      /* acknowledged writes missing or older on read-back */
    uint64_t lost_before_kill; /* of which acknowledged before the kill */
    double lost_share;         /* lost_writes / acked_writes (0 when nothing was acked) */
    uint64_t keys, missing_keys, older_keys; /* keys read back; found missing; found older */
    rp_error_kind *errors;                   /* failed operations and failed checks, by kind */
    size_t nerrors;
} rp_failover_rep;

/* The failover figures of a cell, one per repetition (nreps == 0: not a failover cell). */
typedef struct rp_failover {
    rp_failover_rep *reps;
    size_t nreps;
} rp_failover;

/* A parameter of a cell, as text ("procs" = "4", "distribution" = "zipf:0.99"). */
typedef struct rp_param {
    char *key;
    char *value;
} rp_param;

/* One (scenario, backend, parameters) cell. */
typedef struct rp_cell {
    char *scenario;
    char *backend; /* the URI, secrets removed */
    char *backend_name;
    rp_param *params;
    size_t nparams;
    int status;   /* RP_STATUS_* */
    char *reason; /* why n/a, or the error; NULL when ok */
    rp_metric *metrics;
    size_t nmetrics;
    rp_correctness correctness;
    /* udbench/2: the figure of merit (udbench/1 documents get ops/s of the first metric). */
    rp_merit merit;
    /* The harness's own cost per operation for this scenario and these parameters: the
     * merit metric's p50 latency on the null: backend in the same run; < 0 when unknown. */
    double harness_floor_ns;
    /* For scenarios that move values: the median time of one memcpy() of value_size bytes,
     * measured by the run just before the cell's group (a reference for what moving the value
     * costs at least); < 0 when not measured. */
    double value_copy_ns;
    /* udbench/3: the failover scenario's figures (nreps == 0 elsewhere). */
    rp_failover failover;
    /* udbench/3, "backend_desc": what the backend said about itself (kv_describe_uri()): its
     * part in the run, an identity that stays the same from run to run (the URI without a
     * port or a temporary folder), and whether it was a local stand-in for a remote service.
     * RP_ROLE_UNKNOWN and NULL in documents written before; read them through rp_cell_role()
     * and rp_cell_identity(), which fall back to the URI for those. */
    int backend_role;
    char *backend_id;
    bool stand_in;
} rp_cell;

/* The part a cell's backend played (rp_cell.backend_role); the same as kv.h's KV_ROLE_* + 1. */
enum { RP_ROLE_UNKNOWN = 0, RP_ROLE_STORE, RP_ROLE_BASELINE, RP_ROLE_FLOOR };

/* A backend taking part in the run. */
typedef struct rp_backend {
    char *uri;
    char *name;
    char *version;
    char *caps;         /* comma-separated capability names */
    bool local_runtime; /* figures from a local stand-in of a remote service (Cloudflare) */
    bool reachable;
    char *error; /* why it was not reachable, or NULL */
} rp_backend;

typedef struct rp_machine {
    char *cpu;
    int cores;
    char *kernel;
    uint64_t memory_bytes;
    char *compiler;
    double load_before[3];
    double load_after[3];
} rp_machine;

typedef struct rp_run {
    char *started; /* ISO 8601, UTC */
    char *finished;
    char *tool_version;
    char *git_commit;
    char *build_type;
    char *suite;
    char **argv; /* the command line */
    size_t argc;
    uint64_t seed;
    double timer_overhead_ns;
    double noise_threshold; /* spread above which a figure is marked noisy */
    /* udbench/2: repetitions are rounds in which every backend of a group runs once, in an
     * order shuffled per round from `seed`; `pinned`: workers ran on fixed CPUs. */
    int rounds;
    bool pinned;
    /* udbench/3: the host of every MPI rank, by rank (`udbench run --mpi`); none otherwise. */
    char **hosts;
    size_t nhosts;
    /* udbench/3: the cells of a group ran in lockstep (every backend's workers alive at once,
     * one short batch each per round under a token), each repetition being one batch. */
    bool lockstep;
    /* udbench/3: the probes' slow-regime threshold (compute iterations per LLC-chase step) the
     * run classified its batches by; 0 in a run made now (RP_PROBE_SLOW_RATIO). */
    double probe_slow_ratio;
    rp_machine machine;
} rp_run;

typedef struct rp_doc {
    rp_run run;
    rp_backend *backends;
    size_t nbackends;
    rp_cell *cells;
    size_t ncells;
    /* The schema version the document was read from (1: RP_SCHEMA_V1, 2: RP_SCHEMA_V2, 3:
     * RP_SCHEMA); 0 for a document made in memory, which is written as RP_SCHEMA. */
    int schema_version;
} rp_doc;

/* Writes a new, empty document (every field zero / NULL) to *out. 0, RP_EINVAL (out is NULL) or
 * -ENOMEM; *out is untouched on failure. */
int rp_doc_new(rp_doc **out);
/* Frees the document and everything in it. Accepts NULL. */
void rp_doc_free(rp_doc *d);

/*
 * Building a document. Strings are copied (NULL allowed where a field may be NULL).
 * rp_set_string() frees the old string of *field and stores a copy of value (or NULL): 0,
 * RP_EINVAL (field is NULL) or -ENOMEM (the field is then unchanged).
 */
int rp_set_string(char **field, const char *value);
/* Appends a zeroed backend / cell (a cell's floor and copy figures start at -1, "unknown") and
 * returns it, owned by the document; NULL for a NULL document or out of memory. */
rp_backend *rp_doc_add_backend(rp_doc *d);
rp_cell *rp_doc_add_cell(rp_doc *d);
/* Appends the parameter key=value (both copied). 0, RP_EINVAL (a NULL argument) or -ENOMEM. */
int rp_cell_add_param(rp_cell *c, const char *key, const char *value);
/* Appends a metric for operation `op` (copied) and returns it; NULL on a NULL argument or out of
 * memory. */
rp_metric *rp_cell_add_metric(rp_cell *c, const char *op);
/* Appends a copy of one repetition (plain values: nothing is shared). 0, RP_EINVAL or -ENOMEM. */
int rp_metric_add_rep(rp_metric *m, const rp_rep *rep);
/* Replaces the metric's histogram buckets (m->buckets, owned by the document) with the non-empty
 * ones of a dense histogram of n buckets: bucket i holds counts[i] (counts is borrowed). 0,
 * RP_EINVAL (m is NULL, counts is NULL with n > 0, or a non-empty bucket's index is beyond the
 * scheme's, which the reader would refuse) or -ENOMEM; the metric is unchanged on failure. */
int rp_metric_set_buckets(rp_metric *m, const uint64_t *counts, size_t n);
/* Appends a zeroed failover repetition (restart_s -1) and returns it, owned by the cell; NULL on
 * a NULL argument or out of memory. */
rp_failover_rep *rp_cell_add_failover_rep(rp_cell *c);
/* Copies the n per-worker windows into r (replacing any). 0, RP_EINVAL or -ENOMEM. */
int rp_failover_set_windows(rp_failover_rep *r, const double *window_s, size_t n);
/* Adds count to the error kind `kind` (copied) of r, appending it if new. 0, RP_EINVAL, -ENOMEM. */
int rp_failover_add_error(rp_failover_rep *r, const char *kind, uint64_t count);
/* The median and the largest merged window over a cell's failover repetitions (0 with none). */
void rp_failover_window(const rp_cell *c, double *median_s, double *max_s);
/* Computes median, min, max, spread and noisy from the repetitions. The median of an even
 * count is the mean of the two middle ones; when the median is 0 but some repetition did work,
 * the spread is relative to the mean instead, so it stays finite (and marks the figure noisy).
 * No repetitions: every figure 0, not noisy. The reader checks a document's summaries against
 * this function. */
void rp_metric_summarise(rp_metric *m, double noise_threshold);
/* The tightest interval [x(k), x(n+1-k)] of the sorted values v[0..n) that covers their
 * population median with probability >= 0.95 (binomial order statistics), or the widest one,
 * [min, max], when n is too small for 95% (n < 6); *level gets its coverage (the binomial
 * terms through logarithms: good to about 1e-10 for any n; linear in n after the sort). n < 2:
 * low = high = the value (or 0), level 0. v need not be sorted. */
void rp_median_ci(const double *v, size_t n, double *median, double *low, double *high,
                  double *level);
/* Writes text from a document so that it cannot act on the reader's terminal or viewer: each
 * control character (C0, DEL, C1, line separators, bidi controls) becomes a visible escape,
 * "\x1b" or "\u009b", and each byte that is not UTF-8 "\xHH"; the rest is written as it is.
 * Every report writes document strings through it (or its Markdown, CSV and XML forms). */
void rp_fputs_safe(const char *s, FILE *f);
/* The same inside a Markdown table cell or heading: '|' escaped (it would end the cell), and
 * the characters of Markdown's inline syntax and HTML (\ ` * [ ] < >) escaped with a backslash,
 * so that the text shows as it is. */
void rp_fputs_md(const char *s, FILE *f);
/* The figure of merit of repetition `rep` of a cell (by c->merit), or 0. */
double rp_merit_rep_value(const rp_cell *c, size_t rep);
/* The regime one probe saw: RP_REGIME_SLOW when llc_ns / compute_ns exceeds
 * RP_PROBE_SLOW_RATIO, else FAST; NONE when it was not measured. */
int rp_probe_regime(const rp_probe *p);
/* The regime of a stretch from its two probes by a threshold: FAST or SLOW when they agree,
 * CHANGED when not, the one measured when only one was, NONE when neither. */
int rp_regime_of(const rp_probe *before, const rp_probe *after, double slow_ratio);
/* The regime of a repetition: the document's (r->regime), else rp_regime_of() its probes by
 * RP_PROBE_SLOW_RATIO. */
int rp_rep_regime(const rp_rep *r);
/* "fast", "slow", "changed" for RP_REGIME_*; NULL for NONE or an unknown value. Static. */
const char *rp_regime_name(int regime);
/* Recomputes c->merit's value and interval from the repetitions of its metric (for a p50
 * figure, those with at least one operation), and its paired ratio from their ratios (when
 * c->merit.reference is set). */
void rp_cell_summarise_merit(rp_cell *c);
/* The figure of merit of a cell, NULL when it has none (not ok, or no such metric). */
const rp_merit *rp_cell_merit(const rp_cell *c);

/*
 * The part cell c's backend played: its backend_role, or for a document without it (written
 * before backends described themselves) the part its URI's scheme stood for then ("local:" the
 * baseline, "null:" the floor, any other a store). RP_ROLE_UNKNOWN for NULL.
 */
int rp_cell_role(const rp_cell *c);

/*
 * The identity of cell c's backend: its backend_id, or for an older document the URI with each
 * port and temporary folder as "*", written into buf (len bytes). Two cells of two runs with
 * equal identities ran on the same backend. Returns buf ("" for NULL).
 */
const char *rp_cell_identity(const rp_cell *c, char *buf, size_t len);

/* "store", "baseline", "floor" for RP_ROLE_*; NULL for another value. */
const char *rp_role_name(int role);
/* Compares two cells of one scenario by their figure of merit: > 0 when a is better, < 0 when
 * b is, 0 when they cannot be told apart (their confidence intervals overlap, or either has no
 * figure of merit). */
int rp_merit_compare(const rp_cell *a, const rp_cell *b);
/* The name of an RP_FIGURE_* in a results document: "ops/s", "p50 ns", "bytes/s" or "lost
 * writes"; NULL for RP_FIGURE_INSTRUCTIONS or an unknown value. Static. */
const char *rp_figure_name(int figure);
/* The RP_FIGURE_* of a name given by rp_figure_name(), or RP_EINVAL for an unknown one. */
int rp_figure_parse(const char *name);
/* The key of an RP_FIGURE_* in a compare document's "merit" field: "ops_per_sec",
 * "latency_p50", "bytes_per_sec", "lost_writes" or "instructions"; NULL for an unknown value.
 * Static. */
const char *rp_figure_key(int figure);
/* The RP_FIGURE_* of a key given by rp_figure_key(), or RP_EINVAL for an unknown one. */
int rp_figure_parse_key(const char *key);
/* The unit of an RP_FIGURE_*: "ops/s", "ns", "bytes/s", "writes" or "instr/op"; NULL for an
 * unknown value. Static. */
const char *rp_figure_unit(int figure);
/* The unit of a figure of merit (rp_figure_unit() of its figure), "" when unknown. Static. */
const char *rp_merit_unit(const rp_merit *m);
/* "higher" or "lower" for RP_HIGHER_IS_BETTER / RP_LOWER_IS_BETTER; NULL for another value. */
const char *rp_direction_name(int direction);
/* The value of a cell's parameter, or NULL. */
const char *rp_cell_param(const rp_cell *c, const char *key);

/*
 * JSON. rp_doc_write() writes to a temporary file beside `path` and renames it into place, so a
 * reader sees the old file or the new one; rp_doc_write_file() writes to an open stream. Both
 * return 0, RP_EINVAL (a NULL argument, or a value JSON cannot carry), RP_ESCHEMA (the document
 * would not read back: see rp_doc_check), or -errno from the file system.
 */
int rp_doc_write(const rp_doc *d, const char *path);
int rp_doc_write_file(const rp_doc *d, FILE *f);
/*
 * Reads and validates the document at `path` into a new document at *out (free it with
 * rp_doc_free). Returns 0, RP_EINVAL (path or out is NULL), RP_EPARSE (not JSON), RP_ESCHEMA (not a
 * document this reader understands: a missing field, a wrong type, an impossible value, a newer
 * schema) or -errno; on failure *out is untouched and `err` (may be NULL) says what is wrong and
 * where.
 */
int rp_doc_read(const char *path, rp_doc **out, char *err, size_t errlen);
/*
 * Checks that a document would be written and read back, with the reader's message in
 * `err` (may be NULL) when not. rp_doc_write() and rp_doc_write_file() make the same check and
 * write nothing when it fails (RP_ESCHEMA, or RP_EINVAL for a value JSON cannot carry: a number
 * that is not finite, an unsigned integer above INT64_MAX, a status outside RP_STATUS_*), so
 * call this first to learn why. The reader's messages do not name the file: prefix it.
 * Returns 0, RP_EINVAL (d is NULL, or a value JSON cannot carry), RP_ESCHEMA or -ENOMEM.
 */
int rp_doc_check(const rp_doc *d, char *err, size_t errlen);

/* Reports, from a document alone. */
enum { RP_FORMAT_TEXT = 0, RP_FORMAT_MD, RP_FORMAT_CSV, RP_FORMAT_SVG };
/* "text", "md", "csv", "svg" -> RP_FORMAT_*, or RP_EFORMAT. */
int rp_format_parse(const char *name);
/* Writes the report of `format` (RP_FORMAT_*) of the document to f (borrowed; flushed, not
 * closed). 0, RP_EINVAL (a NULL argument), RP_EFORMAT (unknown format), -ENOMEM, or the -errno
 * of a failed write to f (-EIO when the stream does not say). */
int rp_report(const rp_doc *d, int format, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* RP_H */
