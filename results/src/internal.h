/*
 * internal.h - what the files of the results library share and nobody else sees: the JSON tree
 * conversions, the reader's validator, and the helpers every report uses (grouping cells into
 * ranked tables, formatting numbers and latencies, labelling backends).
 */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rp.h"

/* The one histogram scheme this version understands (see results/README.md). */
#define RP__HIST_SCHEME "log-linear/128"
/* The largest bucket index of that scheme: the bucket that ends at 2^64 ns. */
#define RP__HIST_MAX_INDEX 7423u

/*
 * Appends one zeroed element of `size` bytes to the array *arr of *n elements (which must have
 * been grown only by this function). Returns the element, or NULL on ENOMEM with the array
 * unchanged.
 */
void *rp__array_push(void **arr, size_t *n, size_t size);
/* rp__array_push() of an element that is to own `owned` (memory just allocated, which the
 * caller then stores in it): NULL when owned is NULL or on ENOMEM, owned being freed then. */
void *rp__array_push_owner(void **arr, size_t *n, size_t size, void *owned);
/* Frees n parameters (their keys and values) and their array. Accepts NULL with n = 0. */
void rp__params_free(rp_param *params, size_t n);
/* Frees the failover figures of a cell and zeroes them (failover.c). */
void rp__failover_clear(rp_failover *f);

/* The status names of the document, indexed by RP_STATUS_*; NULL for an unknown status. */
const char *rp__status_name(int status);

/*
 * Converts a document to a jansson tree (a new reference in *out, on success only). Fails with
 * RP_EINVAL when a value cannot be represented: an unsigned integer above INT64_MAX, a number
 * that is not finite, a status outside RP_STATUS_*.
 */
int rp__doc_to_json(const rp_doc *d, json_t **out);

/*
 * Serialises a document to its canonical text (the exact bytes rp_doc_write() stores), in a
 * malloc'd NUL-terminated string the caller frees. The text is checked with the reader before
 * it is returned, so nothing is ever written that rp_doc_read() would refuse: a document that
 * fails the check gives RP_ESCHEMA and the reader's message in err (may be NULL).
 */
int rp__doc_to_text(const rp_doc *d, char **out, size_t *outlen, char *err, size_t errlen);

/*
 * Validates a jansson tree against the udbench/1 schema and builds the document (in *out, on
 * success only). On failure err says which field is wrong and why.
 */
int rp__doc_from_json(const json_t *root, rp_doc **out, char *err, size_t errlen);

/* Writes text escaped for XML, cut to `max` code points (0: no limit) ending in an ellipsis
 * (report_svg.c; the JUnit export uses it too). */
void rp__xml_text(FILE *f, const char *s, size_t max);

/* ---- Sorted indexes over cells (index.c): lookups in log n, never a scan per cell. ---- */

/* What a cell key holds besides the scenario and the parameters (sorted by name). */
enum { RP__KEY_BACKEND = 1, RP__KEY_OP = 2 };

/*
 * The key of a cell: its scenario, (RP__KEY_BACKEND) its backend, its parameters sorted by
 * name, leaving out those skip() names (skip may be NULL), and (RP__KEY_OP) op; each field
 * length-prefixed, so two cells have equal keys exactly when those fields are equal. Malloc'd
 * (its length in *len), NULL on ENOMEM.
 */
char *rp__cell_key(const rp_cell *c, unsigned what, const char *op, bool (*skip)(const char *),
                   size_t *len);

/* One entry of an index: a key and where it came from (cell pos, metric sub). */
typedef struct rp__kent {
    char *key;
    size_t len;
    size_t pos, sub;
} rp__kent;

typedef struct rp__kidx {
    rp__kent *e;
    size_t n;
} rp__kidx;

/* Adds key (taken over, freed on failure too; NULL gives -ENOMEM). 0 or -ENOMEM. */
int rp__kidx_add(rp__kidx *x, char *key, size_t len, size_t pos, size_t sub);
/* Sorts by key, then by (pos, sub): equal keys end up adjacent, in document order. */
void rp__kidx_sort(rp__kidx *x);
/* The first entry (lowest pos, sub) with this key in a sorted index, or NULL. */
const rp__kent *rp__kidx_find(const rp__kidx *x, const char *key, size_t len);
bool rp__kent_same(const rp__kent *a, const rp__kent *b);
void rp__kidx_free(rp__kidx *x);
/*
 * A sorted index of every metric of the cells of d that want() accepts (want may be NULL):
 * the key rp__cell_key(cell, what | RP__KEY_OP, metric op, skip), pos the cell's index, sub the
 * metric's. 0 or -ENOMEM (x then empty).
 */
int rp__metric_index(const rp_doc *d, unsigned what, bool (*skip)(const char *),
                     bool (*want)(const rp_cell *), rp__kidx *x);

/* The parameters that do not change what is measured (repeat, seed): compare ignores them. */
bool rp__cmp_ignored_param(const char *key);

/* ---- Document text made safe to print (text_safe.c; rp_fputs_safe() in rp.h). ---- */

/* A malloc'd copy of s as rp_fputs_safe() writes it; NULL on ENOMEM. */
char *rp__safe_dup(const char *s);
/* Makes the NUL-terminated text in buf (cap bytes) safe in place, cut to fit. */
void rp__safe_inplace(char *buf, size_t cap);

/* ---- Report helpers (report_common.c). ---- */

/* A row of a ranking: one metric of one ok cell. */
typedef struct rp__row {
    const rp_cell *cell;
    const rp_metric *metric;
    const rp_backend *backend; /* NULL when the cell names a backend the document does not list */
    const char *label;         /* borrowed from the rp__ranking */
    double value;              /* what the group ranks by: the figure of merit, or ops/s */
    double ci_low, ci_high;    /* its interval (equal to value when unknown) */
    bool tied;                 /* its interval overlaps the row above's: not told apart */
    /* udbench/3, lockstep: the median paired ratio of the figure of merit against the
     * group's reference, with its interval (report_paired.c). */
    bool paired;
    double ratio, ratio_low, ratio_high;
} rp__row;

/* The cells of one (scenario, parameters, op) group, fastest first. */
typedef struct rp__group {
    const char *scenario;
    const char *op;
    const rp_cell *first; /* the parameters of the group are those of any of its cells */
    char *title;          /* "read (procs=4, keys=10000, value=100 B)" */
    rp__row *rows;
    size_t nrows;
    double fastest; /* the value of the first (best) row */
    double local;   /* the value of the local: backend, or 0 when it is not in the group */
    /* The group of the scenario's figure of merit ranks by it (figure, direction); the other
     * ops of a cell rank by median ops/s, higher first. */
    bool merit;
    int figure, direction;
    /* The harness floor of these parameters (null: in the same run), ns/op; < 0 unknown. */
    double floor_ns;
    double copy_ns; /* one memcpy() of a value, ns; < 0 unknown */
} rp__group;

typedef struct rp__ranking {
    rp__group *groups;
    size_t ngroups;
    const rp_cell *cells; /* the document's, to find a cell's index */
    char **labels;        /* per cell: the backend's label */
    char **titles;        /* per cell: "scenario (k=v, ...)" */
    bool *full;           /* per cell: its titles show every parameter */
    size_t nlabels;       /* slots in labels, titles and full (the number of cells) */
    rp__kidx floors;      /* rp__floor_index() of the document */
} rp__ranking;

/* Whether a null: cell ran in a scenario whose other cells have a correctness verdict (the
 * reports then say that null: has none). */
bool rp__null_beside_verdicts(const rp_doc *d);
/* The index of the null: floors of d: every metric with a latency of its ok null: cells. */
int rp__floor_index(const rp_doc *d, rp__kidx *x);
/* The harness floor of the section of cell c and operation op, ns/op: the p50 of op on the
 * first null: cell of the same scenario and parameters (found in floors), else (when op is c's
 * figure of merit) the floor c recorded; < 0 when unknown. */
double rp__section_floor(const rp_doc *d, const rp__kidx *floors, const rp_cell *c, const char *op,
                         bool merit);
/*
 * Groups the metrics of the ok cells of a document by (scenario, parameters, op), in the order
 * the groups first appear, and sorts each group by median ops/s, fastest first (ties by label,
 * so the order never depends on the sort). The ranking borrows from the document, which must
 * outlive it; rp__ranking_free() releases what it owns.
 */
int rp__ranking_build(const rp_doc *d, rp__ranking *r);
void rp__ranking_free(rp__ranking *r);
/* The failover section of the text and Markdown reports (nothing without failover cells). */
int rp__failover_text(FILE *out, const rp_doc *d, const rp__ranking *r);
int rp__failover_md(FILE *f, const rp_doc *d, const rp__ranking *r);

/* ---- Paired figures and the machine's state (report_paired.c). ---- */

/* A paired interval wider than this share of its ratio (half-width) marks the row noisy. */
#define RP__PAIRED_NOISY 0.10
/* Fills row->paired and its ratio from its cell's merit (merit groups of lockstep runs). */
void rp__row_paired(rp__row *row, const rp__group *g);
/* Whether two paired rows of one group cannot be told apart (their ratio intervals overlap);
 * false when either is not paired. */
bool rp__paired_tied(const rp__row *a, const rp__row *b);
/* The row's factor against the fastest row of its group, from the paired ratios when both are
 * paired (else from the values). */
double rp__row_factor(const rp__group *g, const rp__row *row);
/* "x local" of a paired row whose reference is local:, as "F [LO-HI]"; NULL otherwise. */
const char *rp__fmt_paired_local(char *buf, size_t len, const rp__group *g, const rp__row *row);
/* Whether the paired interval is too wide to trust (RP__PAIRED_NOISY), with "±X%" in buf. */
bool rp__paired_noisy(const rp__row *row, char *buf, size_t len);
/* When the repetitions of a metric ran in different cache regimes (the probes disagree), a note
 * with the count and median LLC chase of each regime in buf; false when they agree. */
bool rp__regime_note(const rp_metric *m, char *buf, size_t len);

/* ---- Comparing two lockstep runs (compare_paired.c). ---- */

/* Two runs ran on a machine in the same state when the shares of their probes in the slow
 * regime differ by at most RP__MACHINE_SHARE and their median LLC chases (in compute-loop
 * iterations) by at most a factor RP__MACHINE_FACTOR. */
#define RP__MACHINE_SHARE 0.25
#define RP__MACHINE_FACTOR 1.5
struct rp_cmp_item;
struct rp_cmp;
/* A backend URI without what changes from run to run: a port, a temporary folder's name. */
void rp__uri_key(const char *uri, char *buf, size_t len);
/* Whether two URIs name the same backend (equal, or equal without ports and temporary folders). */
bool rp__same_backend(const char *a, const char *b);
/* rp_match_find, with *rc = -ENOMEM when a key could not be made (index.c). */
struct rp_match_index;
const rp_metric *rp__match_find(const struct rp_match_index *m, const rp_cell *like, const char *op,
                                const rp_cell **cell, int *rc);
/* The median LLC chase over compute loop of every probe of a document and its share in the
 * slow regime; false when the document has no probe. */
bool rp__doc_machine(const rp_doc *d, double *median, double *slow_share);
/* Whether two runs' probes agree (see above); *ma and *mb get their medians. */
bool rp__machines_agree(const rp_doc *a, const rp_doc *b, double *ma, double *mb);
/* Whether cell bc of document bd and cell hc of hd were paired against the same reference:
 * the same backend by its identity (the reference cell's "backend_desc"), as the rest of
 * compare matches backends, so that URIs that differ only in a port or a temporary path match. */
bool rp__same_reference(const rp_doc *bd, const rp_cell *bc, const rp_doc *hd, const rp_cell *hc);
/* Whether metric m of cell c carries paired ratios against another backend. */
bool rp__is_paired(const rp_cell *c, const rp_metric *m);
/* The share of the batches of cell c's metric m in the slow regime (a changed batch counts
 * half); false when none was probed. */
bool rp__cell_slow_share(const rp_metric *m, double *share);
/* Takes each paired item's group's common shift (the median log cost change of the other
 * gated items of its scenario and parameters) out of its ratio and interval and gives the
 * verdict again; an item with fewer than two others in its group gets none. Then sets
 * c->run_spread, and keeps a FASTER or SLOWER only beyond it (none with fewer than
 * RP__SPREAD_MIN paired items: the spread is not known). */
#define RP__SPREAD_MIN 10
void rp__paired_shifts(struct rp_cmp *c);
/* The verdict of a paired metric from the two runs' per-round ratios. 0 or -ENOMEM. */
int rp__compare_paired(struct rp_cmp_item *it, const rp_cell *bc, const rp_metric *bm,
                       const rp_cell *hc, const rp_metric *hm, double alpha, double margin);

/* ---- A cell's backend (cell_backend.c). ---- */

/* RP_ROLE_* for "store", "baseline", "floor"; RP_ROLE_UNKNOWN for anything else. */
int rp__role_parse(const char *name);
/* Whether two cells (of one run or two) ran on the same backend: equal URIs or identities. */
bool rp__same_cell_backend(const rp_cell *a, const rp_cell *b);

/* The backend of a cell, or NULL. */
const rp_backend *rp__find_backend(const rp_doc *d, const char *uri);
/*
 * The name a report shows for a cell's backend: its name, or "name (uri)" when several
 * backends of the document share that name. Malloc'd; NULL on ENOMEM.
 */
char *rp__backend_label(const rp_doc *d, const rp_cell *c);
/*
 * "scenario op (k=v, ...)" for a cell and op (NULL: no op); malloc'd; NULL on ENOMEM. Unless
 * `full`, parameters that only say how the cell was measured (ops, repeat, seed, a uniform
 * distribution) are left out.
 */
char *rp__group_title(const rp_cell *c, const char *op, bool full);
/* "k=v, k=v" with friendly units (same rule for `full`); malloc'd; NULL on ENOMEM. */
char *rp__params_text(const rp_cell *c, bool full);

/* Fixed-size text buffers for formatted numbers: every rp__fmt_* fills and returns buf. */
typedef struct rp__num {
    char s[48];
} rp__num;

/* 16413569.4 -> "16,413,569"; below 100, one decimal ("42.5"). */
const char *rp__fmt_ops(rp__num *buf, double ops_per_sec);
/* An integer with thousands separators. */
const char *rp__fmt_int(rp__num *buf, int64_t v);
/* The original's factor style: two decimals without trailing zeros, at least one ("1.0",
 * "34.2", "398.62"); "-" when the factor is not finite. */
const char *rp__fmt_factor(rp__num *buf, double fastest, double value);
/* A latency in nanoseconds in a human unit: "45 ns", "1.23 µs", "12.3 ms", "1.50 s". */
const char *rp__fmt_ns(rp__num *buf, double ns);
/* A ratio as a percentage: 0.0312 -> "3.1%". */
const char *rp__fmt_pct(rp__num *buf, double ratio);
/* A byte count in binary units: "7.8 GiB". */
const char *rp__fmt_bytes(rp__num *buf, uint64_t bytes);
/* A number in the shortest of %.15g that reads back as itself (for CSV). */
const char *rp__fmt_real(rp__num *buf, double v);

/* How many times worse than `best` a row's value is (>= 1 for rows below it), by direction. */
double rp__factor(const rp__group *g, double best, double value);
/* A group's value in its unit: ops/s, a latency, or bytes/s ("1.2 GB/s"). */
const char *rp__fmt_value(rp__num *buf, const rp__group *g, double v);

/* The sum of the repetitions' error counts. */
uint64_t rp__metric_errors(const rp_metric *m);

/* The facts a report opens with, as (key, text) items: "machine", "load", "run", "build",
 * "command", then any "warning", "unreachable" and "note" items. */
typedef struct rp__header_item {
    const char *key;
    char *value;
} rp__header_item;

typedef struct rp__header {
    rp__header_item *items;
    size_t n;
} rp__header;

int rp__header_build(const rp_doc *d, rp__header *h);
void rp__header_free(rp__header *h);

/*
 * The frame every report shares: builds the header lines and the ranking of `d`, calls body with
 * them, and frees them. Returns what body returned, or the error of building them.
 */
typedef int (*rp__report_body)(const rp_doc *d, const rp__header *h, const rp__ranking *r, FILE *f);
int rp__report_with(const rp_doc *d, FILE *f, rp__report_body body);

/* The individual reports; each writes the whole report to f. */
int rp__report_text(const rp_doc *d, FILE *f);
int rp__report_md(const rp_doc *d, FILE *f);
int rp__report_csv(const rp_doc *d, FILE *f);
int rp__report_svg(const rp_doc *d, FILE *f);

/* A string or a placeholder for a missing one. */
static inline const char *rp__or(const char *s, const char *dflt) {
    return s && *s ? s : dflt;
}

#endif /* RP_INTERNAL_H */
