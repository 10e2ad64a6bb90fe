/*
 * rp_compare.h - comparisons of two builds.
 *
 * A comparison (rp_cmp) is made by `udbench compare` from two results documents
 * (rp_compare_docs()) or by `udbench gate` from paired trials (rp_cmp_new() and the builders
 * below); it is stored as the compare document, schema "udbench-compare/1" (see
 * results/README.md, "Comparisons"), and shown as a text or Markdown report or exported for
 * other CI tools (github-action-benchmark, Bencher BMF, Google Benchmark JSON, JUnit XML).
 *
 * Topics, in the order below: constants; the comparison in memory; figures of merit of a
 * comparison; building a comparison; comparing two results documents; matching metrics across
 * documents; the compare document; reports; exports.
 *
 * Ownership, as in rp.h:
 *  - rp_cmp_new(), rp_cmp_read() and rp_compare_docs() make a comparison that rp_cmp_free()
 *    frees (NULL accepted); every string and array inside (items, their params and pairs, a
 *    pair's `dropped`) is owned by it and freed with it. Set strings with rp_set_string().
 *  - Pointers returned by rp_cmp_add_item() and rp_cmp_item_add_pair() point into arrays that
 *    the next addition may move: use them before adding again.
 *  - Documents, cells, metrics and streams passed in are borrowed for the call; an
 *    rp_match_index borrows its document for its whole life.
 *  - An out-parameter is written only on success.
 *
 * Caveats:
 *  - Every ratio is head / base of a *cost* (time per operation for a throughput, the latency
 *    or the instruction count itself), so a ratio above 1 is always slower, whatever the
 *    direction of the figure of merit.
 *  - A verdict is only as good as the samples under it: 3 against 3 repetitions cannot reach
 *    95% at all, and two runs made separately are compared only on what each paired within
 *    itself (see rp_compare_docs()).
 */
#ifndef RP_COMPARE_H
#define RP_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

#include "rp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Constants ---- */

#define RP_CMP_SCHEMA "udbench-compare/1"

/* The status of a comparison over its gated items (rp_cmp_settle()); the gate's exit codes. */
enum { RP_GATE_PASS = 0, RP_GATE_FAIL = 1, RP_GATE_INCONCLUSIVE = 3 };

/* Formats of rp_cmp_report(). */
enum { RP_CMP_TEXT = 0, RP_CMP_MD, RP_CMP_JSON };

/* Formats of rp_export_doc() and rp_export_cmp(). */
enum {
    RP_EXPORT_GAB_BIGGER = 0, /* github-action-benchmark customBiggerIsBetter */
    RP_EXPORT_GAB_SMALLER,    /* github-action-benchmark customSmallerIsBetter */
    RP_EXPORT_BMF,            /* Bencher Metric Format */
    RP_EXPORT_GBENCH,         /* Google Benchmark JSON (its compare.py reads it) */
    RP_EXPORT_JUNIT           /* JUnit XML */
};

/* ---- The comparison in memory ---- */

/* One pair of trials of the gate: the figure of merit of each build. */
typedef struct rp_cmp_pair {
    double base, head;
    bool head_first; /* the coin flip: the head build ran first */
    int look;        /* 1-based look this pair belongs to */
    char *dropped;   /* why the pair was set aside as disturbed, or NULL */
} rp_cmp_pair;

/* One compared metric: a (scenario, backend, parameters, operation) present on both sides. */
typedef struct rp_cmp_item {
    char *scenario, *backend, *op;
    rp_param *params;
    size_t nparams;
    rp_merit merit;                /* figure and direction only: see rp_cmp_merit_of_cell() */
    double base_value, head_value; /* medians of the figure of merit */
    double ratio, ratio_lo, ratio_hi, confidence; /* cost ratio head/base and its interval */
    int n_base, n_head;
    int verdict; /* RP_VERDICT_* (rp_stats.h) */
    bool gated;  /* takes part in the comparison's status */
    /* compare of two lockstep runs: the probes say this cell's batches ran in another cache
     * regime in one run than in the other (no verdict); `shift` is the log cost change every
     * backend of the item's group shared (the reference's own move), taken out of the ratio. */
    bool machine_moved;
    double shift;
    /* Paired (gate) only: */
    double p_slow, p_ok; /* one-sided sign-test p-values against the margin */
    int looks;
    rp_cmp_pair *pairs;
    size_t npairs;
    /* The anchors replayed on the same trials (gate only): github-action-benchmark's rule on
     * the first pair (ratio above 110% / 200%) and a compare.py-style U test on the first look
     * (p < 0.05 and the head slower). */
    bool has_anchors, gab110, gab200, utest;
    double utest_p;
} rp_cmp_item;

/* A comparison of two builds. */
typedef struct rp_cmp {
    char *method;  /* "mann-whitney" or "paired-ratio" (compare), "paired-sign" (gate) */
    char *channel; /* "time" or "instructions" */
    char *base_label, *head_label, *base_commit, *head_commit;
    double margin, alpha;
    int pairs_per_look, max_looks;
    double wall_seconds;
    int status; /* RP_GATE_* */
    rp_cmp_item *items;
    size_t nitems;
    /* rp_compare_docs() of two lockstep runs (not stored in the compare document): verdicts
     * only on paired figures ("paired-ratio"), and none when the probes say the machine
     * differed between the runs; the median LLC chase of each run, in compute iterations. */
    bool paired, machine_differed;
    double machine_base, machine_head;
    /* Two lockstep runs: the 95th percentile of the paired metrics' cost changes (after their
     * group's common shift), as a ratio >= 1: what the machine moves a paired figure by from
     * one run to the other. A verdict needs a change beyond it (0: not estimated). */
    double run_spread;
} rp_cmp;

/* ---- Figures of merit of a comparison ---- */

/*
 * The figure of merit of operation `op` of scenario `scenario` when no document names one: the
 * catalogue's figure for the few scenarios older documents do not describe (a p50 latency for
 * visibility's "visible"), instructions per operation for the gate's "count" channel, and
 * throughput for every other operation. The one table of scenario names in results (merit.c).
 * scenario and op may be NULL. Returns the figure and direction (metric and reference NULL).
 */
rp_merit rp_merit_of(const char *scenario, const char *op);
/*
 * The figure of merit a comparison uses for operation `op` of cell c: the document's own (its
 * figure and direction, recorded from the catalogue since udbench/2) when c->merit names op,
 * compared as ops/s for a throughput (bytes/s gives the same ratios) and as itself for a
 * latency; else rp_merit_of(). c is borrowed. Returns the figure and direction only.
 */
rp_merit rp_cmp_merit_of_cell(const rp_cell *c, const char *op);
/*
 * The value of the figure of merit m of a metric: in repetition rep, or the median over the
 * repetitions for rep < 0 (a latency comes from the merged histogram, whatever rep). Returns
 * the value, or 0 when there is none (no histogram, rep out of range).
 */
double rp_merit_value(const rp_merit *m, const rp_metric *metric, int rep);
/*
 * The cost of a value of the figure of merit m: its inverse for a figure where higher is
 * better, the value itself otherwise. Returns the cost; INFINITY for a throughput of 0 or less.
 */
double rp_merit_cost(const rp_merit *m, double value);

/* ---- Building a comparison ---- */

/*
 * Makes an empty comparison (margin 3%, alpha 0.05, no items) in *out, to free with
 * rp_cmp_free(). Returns 0 or -ENOMEM.
 */
int rp_cmp_new(rp_cmp **out);
/* Frees a comparison and everything it owns. Accepts NULL. */
void rp_cmp_free(rp_cmp *c);
/*
 * Appends an item, owned by c: inconclusive, gated, with an unbounded interval and p-values
 * of 1. The pointer stays valid until the next rp_cmp_add_item() on c. Returns the item, or
 * NULL on allocation failure (c is unchanged).
 */
rp_cmp_item *rp_cmp_add_item(rp_cmp *c);
/*
 * Appends a zeroed pair to an item, owned by it; the pointer stays valid until the next
 * addition to that item. Returns the pair, or NULL on allocation failure.
 */
rp_cmp_pair *rp_cmp_item_add_pair(rp_cmp_item *it);
/*
 * Sets c->status from the gated items: RP_GATE_FAIL when one is slower, else
 * RP_GATE_INCONCLUSIVE when one is inconclusive, else RP_GATE_PASS.
 */
void rp_cmp_settle(rp_cmp *c);
/* Returns "pass", "fail" or "inconclusive" for an RP_GATE_* status (static strings; any other
 * value reads as "inconclusive"). */
const char *rp_gate_status_name(int status);
/* Writes a one-line name for an item to buf (len bytes, NUL-terminated, truncated to fit):
 * "read ultradict procs=1 keys=1000 [read]". Document text: print it through rp_fputs_safe(). */
void rp_cmp_item_name(const rp_cmp_item *it, char *buf, size_t len);

/* ---- Comparing two results documents ---- */

/*
 * Compares two results documents: every ok metric present in both (same scenario, backend up
 * to a port or a temporary folder, parameters but repeat and seed, and operation) is an item.
 * Two lockstep runs (udbench/3): only the figures of merit paired against the same reference
 * get a verdict, from the Hodges-Lehmann interval of the shift of their per-round log ratios
 * at 1 - alpha / (the number of such items), against margin (0.03 = 3%), and only when the
 * runs' probes of the machine agree; the other items are inconclusive and not gated. Older
 * documents: every item from its repetitions at 1 - alpha. Metrics in one document only are
 * skipped and counted in *only_base / *only_head (either may be NULL). Both documents are
 * borrowed; the new comparison goes to *out (free it with rp_cmp_free()).
 * Returns 0; RP_EINVAL (margin or alpha outside (0, 1)) or RP_ESCHEMA (the documents share no
 * metric), with the reason in err (errlen bytes); or -ENOMEM.
 */
int rp_compare_docs(const rp_doc *base, const rp_doc *head, double margin, double alpha,
                    rp_cmp **out, size_t *only_base, size_t *only_head, char *err, size_t errlen);
/*
 * Whether two backend URIs name the same backend: equal, or equal once ports and temporary
 * folders' names are left out (two runs of one suite). NULL matches only NULL.
 */
bool rp_backend_match(const char *a, const char *b);
/*
 * Whether the probes of the machine's state of two documents agree (see results/README.md,
 * "Comparisons"); *ma and *mb get each run's median LLC chase in compute-loop iterations (0
 * without probes). Returns false too when either document has no probes.
 */
bool rp_doc_machines_agree(const rp_doc *a, const rp_doc *b, double *ma, double *mb);

/* ---- Matching metrics across documents ---- */

/*
 * Writes the name of a cell's metric, as exports and history use it, to buf (len bytes,
 * NUL-terminated, truncated to fit): "read ultradict: procs=1 ... [read]", without the
 * parameters that do not change what is measured (repeat, seed).
 */
void rp_metric_key(const rp_cell *c, const rp_metric *m, char *buf, size_t len);
/*
 * An index of the ok metrics of a document by what compare matches on (scenario, backend,
 * parameters but repeat and seed, operation), so that readers matching two documents
 * (history, stability) find each metric in log n rather than by scanning every cell.
 */
typedef struct rp_match_index rp_match_index;
/*
 * Indexes document d, which is borrowed and must outlive the index, into *out (free it with
 * rp_match_index_free()). Returns 0 or -ENOMEM.
 */
int rp_match_index_new(const rp_doc *d, rp_match_index **out);
/*
 * Finds the first (in document order) ok metric named op whose cell has the scenario, backend
 * (up to a port or a temporary folder) and parameters of `like`; *cell (may be NULL) gets that
 * cell. Returns a pointer into the indexed document, or NULL when there is none (also on
 * allocation failure).
 */
const rp_metric *rp_match_find(const rp_match_index *x, const rp_cell *like, const char *op,
                               const rp_cell **cell);
/* Frees an index (not its document). Accepts NULL. */
void rp_match_index_free(rp_match_index *x);
/*
 * Numbers the cells of d into groups of cells that differ only by backend (same scenario and
 * parameters, repeat and seed aside): group[i] (the caller's array of d->ncells entries) for
 * cell i, equal numbers for one group. n log n in the cells. Returns 0 or -ENOMEM.
 */
int rp_cell_groups(const rp_doc *d, size_t *group);

/* ---- The compare document ---- */

/*
 * Writes c as a compare document (JSON, ASCII only) to the open stream f, which stays open.
 * Returns 0, -ENOMEM, or -EIO when the stream failed.
 */
int rp_cmp_write_file(const rp_cmp *c, FILE *f);
/*
 * Writes c as a compare document to path, through "<path>.tmp" renamed into place, so a reader
 * sees the old file or the new one. Returns 0, -ENOMEM, -EIO or -errno from the file system
 * (the temporary file is removed).
 */
int rp_cmp_write(const rp_cmp *c, const char *path);
/*
 * Reads the compare document at path into *out (free it with rp_cmp_free()); an item without
 * a known "merit" key gets rp_merit_of() of its scenario and operation, with the direction of
 * its "higher_is_better". Returns 0; RP_EPARSE (not JSON) or RP_ESCHEMA (another schema, or a
 * field missing or of the wrong type), with the reason in err (errlen bytes; err may be NULL),
 * made safe to print; or -ENOMEM.
 */
int rp_cmp_read(const char *path, rp_cmp **out, char *err, size_t errlen);

/* ---- Reports ---- */

/*
 * Writes the report of c to f: RP_CMP_TEXT (a line per item), RP_CMP_MD (a table for a pull
 * request comment) or RP_CMP_JSON (the compare document, as rp_cmp_write_file()); any other
 * format is text. Document text goes through rp_fputs_safe() / rp_fputs_md().
 * Returns 0, or -EIO when the stream failed (-ENOMEM for JSON).
 */
int rp_cmp_report(const rp_cmp *c, int format, FILE *f);

/* ---- Exports ---- */

/* Returns the RP_EXPORT_* of "gab-bigger", "gab-smaller", "bmf", "gbench" or "junit", or
 * RP_EFORMAT for another name (NULL too). */
int rp_export_parse(const char *name);
/*
 * Writes the metrics of a results document to f in an export format (RP_EXPORT_*), named by
 * rp_metric_key(); JUnit adds a test case for each cell that is not ok. Returns 0, RP_EFORMAT
 * (an unknown format), -ENOMEM or -EIO.
 */
int rp_export_doc(const rp_doc *d, int format, FILE *f);
/*
 * Writes the items of a comparison to f in an export format (RP_EXPORT_*); JUnit gets one
 * test case per gated item (slower: a failure; inconclusive: skipped). Returns 0, RP_EFORMAT
 * (an unknown format), -ENOMEM or -EIO.
 */
int rp_export_cmp(const rp_cmp *c, int format, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* RP_COMPARE_H */
