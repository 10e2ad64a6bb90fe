/*
 * rp_testutil.h - what the results library's tests share: reading a file whole, a report or a
 * document into memory, fixtures read or failed on, and golden files. Each helper fails the
 * running cmocka test rather than returning an error.
 */
#ifndef RP_TESTUTIL_H
#define RP_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rp.h"
#include "rp_compare.h"

/* The whole content of a file, NUL-terminated; *len (may be NULL) gets its length. Free it. */
char *rpt_slurp(const char *path, size_t *len);
/* The report of d in format (RP_FORMAT_*), NUL-terminated. Free it. */
char *rpt_report(const rp_doc *d, int format);
/* Fails the test unless the report of d in format contains each string given (the list ends
 * with NULL), naming the first one it lacks. */
void rpt_report_has(const rp_doc *d, int format, ...) __attribute__((sentinel));
/* A new empty document (rp_doc_new); the test fails when it cannot be made. */
rp_doc *rpt_doc_new(void);
/* A new document with a noise threshold of 0.25 and a start date, as a run writes them. */
rp_doc *rpt_dated_doc(void);
/* A new cell of scenario "read" on uri with `procs` processes, status ok, its merit the ops/s
 * of its metric "read" (returned, empty, in *m): what the lockstep comparisons are fed with. */
rp_cell *rpt_read_cell(rp_doc *d, const char *uri, int procs, rp_metric **m);
/* A factor of 1 +- 1% drawn from *seed (a 64-bit LCG, advanced): the noise of one round. */
double rpt_wobble(uint64_t *seed);
/* The comparison of b and h at a 3% margin and alpha 0.05, which must match every metric of
 * both (no orphan on either side); the test fails otherwise. Free it with rp_cmp_free(). */
rp_cmp *rpt_compare_all(const rp_doc *b, const rp_doc *h);
/* c written to RP_SCRATCH/name and read back, the file then removed (the test fails on an error
 * of the write or the read). Free it. */
rp_cmp *rpt_cmp_round_trip(const rp_cmp *c, const char *name);
/* Fails the test with rp_doc_check()'s message unless d is a valid document. */
void rpt_check_ok(const rp_doc *d);
/* The document at path; the test fails with the reader's message when it cannot be read. */
rp_doc *rpt_read_ok(const char *path);
/* Compares text with the golden file RP_EXPECTED/name; with UPDATE_GOLDEN=1 in the environment
 * rewrites it instead. On a difference the actual text goes to RP_SCRATCH/name and the message
 * gives the diff command to run. */
void rpt_golden(const char *name, const char *text);

#endif /* RP_TESTUTIL_H */
