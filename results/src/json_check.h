/*
 * json_check.h - the checks the reader makes on each JSON value: typed getters that name the
 * field (by its path from the top of the document) in the first error they meet.
 *
 * Each getter returns 0, or the error code it recorded (and every later call returns the first
 * code without doing anything), so a reader can chain them with || and stop at the first
 * problem.
 */
#ifndef RP_JSON_CHECK_H
#define RP_JSON_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The state of one validation: where we are, and the first error. */
typedef struct rp__jc {
    char path[512];
    size_t plen;
    char *err;
    size_t errlen;
    int rc;
    int version;       /* the document's schema: 1, 2 or 3 (udbench/1, /2, /3) */
    double slow_ratio; /* the run's probe_slow_ratio, once the run is read */
} rp__jc;

/* Flags of rp__jc_str(): a string may be null, or may be empty. */
enum { RP__JC_REQUIRED = 0, RP__JC_NULLABLE = 1, RP__JC_EMPTY_OK = 2 };

/* Records the first error (RP_ESCHEMA), prefixed with the current path. Returns r->rc. */
int rp__jc_bad(rp__jc *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for the member `key` of the current object (the path names it). */
int rp__jc_bad_at(rp__jc *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records -ENOMEM. */
int rp__jc_nomem(rp__jc *r);
/* Appends ".key" (or "[i]") to the path; returns the length that rp__jc_leave() restores. */
size_t rp__jc_enter(rp__jc *r, const char *key);
size_t rp__jc_enter_index(rp__jc *r, size_t i);
void rp__jc_leave(rp__jc *r, size_t mark);
/* Refuses any member of obj that is neither in `known` (NULL-terminated) nor an "x_" field. */
int rp__jc_only_known(rp__jc *r, const json_t *obj, const char *const *known);
/* The same for a block whose fields grew with the schema: known lists the fields of the
 * newest version, each version's after the older ones', and the document's version
 * (r->version, 1 to 3) allows the first upto[version - 1] of them. */
int rp__jc_only_known_v(rp__jc *r, const json_t *obj, const char *const *known,
                        const size_t upto[3]);
/* The member `key` of obj; a missing member is an error (NULL, with r->rc set). */
const json_t *rp__jc_member(rp__jc *r, const json_t *obj, const char *key);

/* Whether obj has the member `key`. udbench/3 was written in two forms before its two sets of
 * fields (the failover's, the lockstep engine's) were one schema: a missing field of either set
 * reads as its default (results/README.md, "Schema versions"). */
bool rp__jc_has(const json_t *obj, const char *key);

/* Typed members of obj. Strings are copied (*out is malloc'd, or NULL for a null). */
int rp__jc_str(rp__jc *r, const json_t *obj, const char *key, char **out, int flags);
/* An integer of at least `min`. */
int rp__jc_int(rp__jc *r, const json_t *obj, const char *key, int64_t min, int64_t *out);
int rp__jc_uint(rp__jc *r, const json_t *obj, const char *key, uint64_t *out);
/* A number (an integer is accepted too) that is not negative. */
int rp__jc_num(rp__jc *r, const json_t *obj, const char *key, double *out);
/* The same of a value v already entered (rp__jc_enter, rp__jc_enter_index): 0, or r->rc. */
int rp__jc_nonneg(rp__jc *r, const json_t *v, double *out);
int rp__jc_bool(rp__jc *r, const json_t *obj, const char *key, bool *out);
/* An object (or null when nullable: then *out is NULL). */
int rp__jc_obj(rp__jc *r, const json_t *obj, const char *key, bool nullable, const json_t **out);
int rp__jc_arr(rp__jc *r, const json_t *obj, const char *key, const json_t **out);

/*
 * Calls fn(r, element, ctx) for each element of the array a, the member `key` of the current
 * object (the path names "key[i]"), until the first error; returns r->rc.
 */
int rp__jc_each(rp__jc *r, const char *key, const json_t *a,
                int (*fn)(rp__jc *r, const json_t *v, void *ctx), void *ctx);

/*
 * Whether two figures agree, allowing for what printing with 15 significant digits and
 * recomputing from printed values can change (a few units in the 15th digit).
 */
bool rp__agree(double a, double b);

/* ---- The parts of the reader (json_read.c, json_read_metric.c). ---- */

struct rp_metric;
/*
 * Reads one element of a cell's "metrics" into met (owned by the cell: freed with it, also on
 * an error). need_reps: the cell is "ok", so the metric needs at least one repetition;
 * threshold: run.noise_threshold, against which the summary is checked.
 */
int rp__read_metric(rp__jc *r, const json_t *o, struct rp_metric *met, bool need_reps,
                    double threshold);

struct rp_cell;
/* Reads a cell's "failover" member (udbench/3; null or its figures) into c (json_read_failover.c).
 */
int rp__read_failover(rp__jc *r, const json_t *o, struct rp_cell *c);
/* ---- What udbench/3 added (json_read_v3.c). ---- */

struct rp_rep;
struct rp_merit;
/* A repetition's probes, regime (checked against the probes) and paired ratio. */
int rp__read_rep_v3(rp__jc *r, const json_t *o, struct rp_rep *rep);
/* A merit's "paired" object: its reference into mr, its four figures into got (ratio, ci_low,
 * ci_high, ci_level), to be checked once the merit is summarised (rp__check_paired). */
int rp__read_paired(rp__jc *r, const json_t *o, struct rp_merit *mr, double got[4]);
int rp__check_paired(rp__jc *r, const struct rp_merit *mr, const double got[4]);

#endif /* RP_JSON_CHECK_H */
