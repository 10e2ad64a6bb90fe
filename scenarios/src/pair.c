/*
 * pair.c - the paired ratios of a group run in lockstep (lockstep.h): each backend's figure of
 * merit over the reference's, round by round.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lockstep.h"
#include "rp_stats.h"

static bool ok_cell(const rp_cell *o) {
    return o->status == RP_STATUS_OK && rp_cell_merit(o) != NULL;
}

int sc_pair_reference(const sc_cell *cells, const rp_cell *outs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cells[i].role == KV_ROLE_BASELINE && ok_cell(&outs[i]))
            return (int)i;
    for (size_t i = 0; i < n; i++)
        if (cells[i].role != KV_ROLE_FLOOR && ok_cell(&outs[i]))
            return (int)i;
    return SC_ENOREF;
}

/* The merit metric of a cell (its reps carry the ratios), or NULL. */
static rp_metric *merit_metric(rp_cell *o) {
    for (size_t i = 0; o->merit.metric && i < o->nmetrics; i++)
        if (!strcmp(o->metrics[i].op, o->merit.metric))
            return &o->metrics[i];
    return NULL;
}

void sc_pair_ratios(sc_cell *cells, rp_cell *outs, size_t n) {
    int ref = sc_pair_reference(cells, outs, n);
    if (ref < 0)
        return;
    rp_cell *r = &outs[ref];
    const rp_metric *rm = merit_metric(r);
    for (size_t i = 0; rm && i < n; i++) {
        rp_cell *o = &outs[i];
        rp_metric *m = merit_metric(o);
        if (!ok_cell(o) || !m)
            continue;
        for (size_t k = 0; k < m->nreps; k++) {
            m->reps[k].ratio = 0;
            for (size_t j = 0; j < rm->nreps; j++) {
                if (rm->reps[j].round != m->reps[k].round)
                    continue;
                double a = rp_merit_rep_value(o, k), b = rp_merit_rep_value(r, j);
                if (a > 0 && b > 0)
                    m->reps[k].ratio = a / b;
                break;
            }
        }
        int rc = rp_set_string(&o->merit.reference, r->backend);
        if (rc)
            sc__set_error(o, RP_STATUS_ERROR, "naming the reference: %s", sc_strerror(rc));
        rp_cell_summarise_merit(o);
    }
}
