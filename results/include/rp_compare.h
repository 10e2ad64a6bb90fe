/*
 * rp_compare.h - comparisons of two builds: the compare document (schema "udbench-compare/1",
 * see results/README.md), made by `udbench compare` from two results documents or by `udbench
 * gate` from paired trials; its reports (text, Markdown, JSON); and the exports other CI tools
 * read (github-action-benchmark, Bencher BMF, Google Benchmark JSON, JUnit XML).
 *
 * Ownership as in rp.h: rp_cmp_new()/rp_cmp_read()/rp_compare_docs() make a comparison that
 * rp_cmp_free() frees (NULL accepted); every string inside is owned by it.
 *
 * Every ratio is head / base of a cost (time per operation for a throughput, the latency itself
 * for a latency), so a ratio above 1 is always slower, whatever the figure of merit's direction.
 */
#ifndef RP_COMPARE_H
#define RP_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

#include "rp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RP_CMP_SCHEMA "udbench-compare/1"

/* The figure of merit of one measured operation, and its direction. */
typedef struct rp_cmp_merit {
    const char *name; /* "ops_per_sec", "latency_p50" or "instructions" */
    const char *unit; /* "ops/s", "ns" or "instr/op" */
    bool higher_is_better;
} rp_cmp_merit;

/* The figure of merit of operation `op` of scenario `scenario` (every scenario of the
 * catalogue is known, and "count", the gate's instruction channel; an unknown one gets
 * throughput). */
rp_cmp_merit rp_merit_of(const char *scenario, const char *op);
/* The figure of merit of operation `op` of a cell: the one its document names (udbench/2's
 * catalogue), else rp_merit_of(). */
rp_cmp_merit rp_cmp_merit_of_cell(const rp_cell *c, const char *op);
/* The value of a metric's figure of merit in one repetition i, or its median (i < 0); 0 when
 * there is none. */
double rp_merit_value(const rp_cmp_merit *m, const rp_metric *metric, int rep);
/* The cost of a value: its inverse for a higher-is-better figure, itself otherwise. */
double rp_merit_cost(const rp_cmp_merit *m, double value);

/* One pair of trials of the gate (figures of merit). */
typedef struct rp_cmp_pair {
    double base, head;
    bool head_first; /* the coin flip: the head build ran first */
    int look;        /* 1-based look this pair belongs to */
    char *dropped;   /* why the pair was set aside as disturbed, or NULL */
} rp_cmp_pair;

enum { RP_GATE_PASS = 0, RP_GATE_FAIL = 1, RP_GATE_INCONCLUSIVE = 3 };

typedef struct rp_cmp_item {
    char *scenario, *backend, *op;
    rp_param *params;
    size_t nparams;
    rp_cmp_merit merit;
    double base_value, head_value;                /* medians of the figure of merit */
    double ratio, ratio_lo, ratio_hi, confidence; /* cost ratio head/base and its interval */
    int n_base, n_head;
    int verdict; /* RP_VERDICT_* */
    bool gated;  /* takes part in the gate's status */
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

typedef struct rp_cmp {
    char *method;  /* "mann-whitney" (compare) or "paired-sign" (gate) */
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

int rp_cmp_new(rp_cmp **out);
void rp_cmp_free(rp_cmp *c);
rp_cmp_item *rp_cmp_add_item(rp_cmp *c);
rp_cmp_pair *rp_cmp_item_add_pair(rp_cmp_item *it);
/* Sets status from the gated items: FAIL when one is slower, else INCONCLUSIVE when one is
 * inconclusive, else PASS. */
void rp_cmp_settle(rp_cmp *c);
/* "pass", "fail", "inconclusive". */
const char *rp_gate_status_name(int status);

/*
 * Compares two results documents: every ok metric present in both (same scenario, backend up
 * to a port or a temporary folder, parameters and operation) is an item. Two lockstep runs
 * (udbench/3): only the figures of merit paired against the same reference get a verdict, from
 * the Hodges-Lehmann interval of the shift of their per-round log ratios at 1 - alpha / (the
 * number of such items), against margin (0.03 = 3%), and only when the runs' probes of the
 * machine agree; the other items are inconclusive and not gated. Older documents: every item
 * from its repetitions at 1 - alpha. Refuses (RP_ESCHEMA, with the reason in err) documents
 * that share no metric. Metrics in one document only are skipped and counted in *only_base /
 * *only_head (may be NULL).
 */
int rp_compare_docs(const rp_doc *base, const rp_doc *head, double margin, double alpha,
                    rp_cmp **out, size_t *only_base, size_t *only_head, char *err, size_t errlen);

/* JSON (the compare document) and reports. */
int rp_cmp_write_file(const rp_cmp *c, FILE *f);
int rp_cmp_write(const rp_cmp *c, const char *path);
int rp_cmp_read(const char *path, rp_cmp **out, char *err, size_t errlen);
enum { RP_CMP_TEXT = 0, RP_CMP_MD, RP_CMP_JSON };
int rp_cmp_report(const rp_cmp *c, int format, FILE *f);
/* Whether two backend URIs name the same backend: equal, or equal once ports and temporary
 * folders' names are left out (two runs of one suite). */
bool rp_backend_match(const char *a, const char *b);
/* Whether the probes of the machine's state of two documents agree (see results/README.md,
 * "Comparisons"); *ma and *mb get each run's median LLC chase in compute-loop iterations (0
 * without probes; then false). */
bool rp_doc_machines_agree(const rp_doc *a, const rp_doc *b, double *ma, double *mb);
/* The name of a cell's metric, as exports and history use it: "read ultradict: procs=1 ...
 * [read]", without the parameters that do not change what is measured (repeat, seed). */
void rp_metric_key(const rp_cell *c, const rp_metric *m, char *buf, size_t len);
/*
 * An index of the ok metrics of a document by what compare matches on (scenario, backend,
 * parameters but repeat and seed, operation), so that readers matching two documents (history,
 * stability) find each metric in log n rather than by scanning every cell. The index borrows
 * the document, which must outlive it. 0 or -ENOMEM; *out written on success only.
 */
typedef struct rp_match_index rp_match_index;
int rp_match_index_new(const rp_doc *d, rp_match_index **out);
/* The first (in document order) ok metric named op whose cell has the scenario, backend and
 * parameters of `like`, or NULL (also on ENOMEM); *cell (may be NULL) gets that cell. */
const rp_metric *rp_match_find(const rp_match_index *x, const rp_cell *like, const char *op,
                               const rp_cell **cell);
void rp_match_index_free(rp_match_index *x);
/* Numbers the cells of d into groups of cells that differ only by backend (same scenario and
 * parameters, repeat and seed aside): group[i] for cell i, equal numbers for one group. 0 or
 * -ENOMEM. n log n in the cells. */
int rp_cell_groups(const rp_doc *d, size_t *group);

/* A one-line name for an item: "read ultradict procs=1 keys=1000 [read]". */
void rp_cmp_item_name(const rp_cmp_item *it, char *buf, size_t len);

/* Exports. */
enum {
    RP_EXPORT_GAB_BIGGER = 0, /* github-action-benchmark customBiggerIsBetter */
    RP_EXPORT_GAB_SMALLER,    /* github-action-benchmark customSmallerIsBetter */
    RP_EXPORT_BMF,            /* Bencher Metric Format */
    RP_EXPORT_GBENCH,         /* Google Benchmark JSON (its compare.py reads it) */
    RP_EXPORT_JUNIT           /* JUnit XML */
};
/* "gab-bigger", "gab-smaller", "bmf", "gbench", "junit" -> RP_EXPORT_*, or RP_EFORMAT. */
int rp_export_parse(const char *name);
int rp_export_doc(const rp_doc *d, int format, FILE *f);
int rp_export_cmp(const rp_cmp *c, int format, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* RP_COMPARE_H */
