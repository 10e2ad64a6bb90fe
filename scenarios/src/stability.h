/* stability.h - A/A agreement of two results documents (`udbench stability`). */
#ifndef SC_STABILITY_H
#define SC_STABILITY_H

#include <stddef.h>

#include "rp.h"

typedef struct sc_stability_result {
    size_t metrics;                 /* metrics present and ok in both runs */
    double ratio_median, ratio_p95; /* of max(B/A, A/B) of the medians' ops/s */
    size_t pairs, separated, flipped;
    size_t merit_pairs, merit_separated, merit_flipped;
    /* Lockstep runs (udbench/3): the paired factors against the reference (merit.paired.ratio)
     * of every cell paired in both runs, max(B/A, A/B): how many, median and p95; and whether
     * the runs' probes say the machine was in the same state (machine_a, machine_b: median LLC
     * chase in compute-loop iterations). */
    size_t factors;
    double factor_median, factor_p95;
    bool machine_same;
    double machine_a, machine_b;
    /* The ratio of medians over the metrics whose cell's batches ran in the same cache regime
     * in both runs (shares of slow batches within 0.25): how many, median and p95. */
    size_t same_metrics;
    double same_median, same_p95;
    /* The paired factors' run-to-run ratio beyond their group's common shift (the median
     * change of the other backends of the group, that is the reference's own move), for the
     * cells with at least two others in their group: how many, median and p95. */
    size_t shifted;
    double shifted_median, shifted_p95;
} sc_stability_result;

/* Compares run b against run a (see stability.c). 0, or -ENOMEM (or the RP_E* code of the
 * results library). */
int sc_stability(const rp_doc *a, const rp_doc *b, sc_stability_result *out);
/* `udbench stability A.json B.json`; returns the exit status. */
int sc_cmd_stability(int argc, char **argv);

#endif /* SC_STABILITY_H */
