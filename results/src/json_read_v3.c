/*
 * json_read_v3.c - what udbench/3 added to a document: the probes of the machine's state around
 * every repetition, their regime (which must be the one the probes give), the paired ratio of a
 * repetition, and the paired figure of a cell's merit (which must be the one the ratios give).
 */
#include <string.h>

#include "internal.h"
#include "json_check.h"

/* One probe: null (not measured) or its three figures, all positive. */
static int read_probe(rp__jc *r, const json_t *o, const char *key, rp_probe *p) {
    static const char *const keys[] = {"llc_ns", "l2_ns", "compute_ns", NULL};
    const json_t *po;
    if (!rp__jc_has(o, key) || rp__jc_obj(r, o, key, true, &po) || !po)
        return r->rc;
    size_t m = rp__jc_enter(r, key);
    if (!rp__jc_only_known(r, po, keys) && !rp__jc_num(r, po, "llc_ns", &p->llc_ns) &&
        !rp__jc_num(r, po, "l2_ns", &p->l2_ns) &&
        !rp__jc_num(r, po, "compute_ns", &p->compute_ns) &&
        !(p->llc_ns > 0 && p->l2_ns > 0 && p->compute_ns > 0))
        rp__jc_bad(r, "a probe's figures are positive nanoseconds");
    rp__jc_leave(r, m);
    return r->rc;
}

/* The probes, regime and ratio may each be missing (rp__jc_has): a udbench/3 document written
 * before the lockstep engine's fields joined the failover's has none of them. */
int rp__read_rep_v3(rp__jc *r, const json_t *o, rp_rep *rep) {
    char *regime = NULL;
    if (read_probe(r, o, "probe_before", &rep->probe_before) ||
        read_probe(r, o, "probe_after", &rep->probe_after) ||
        (rp__jc_has(o, "regime") && rp__jc_str(r, o, "regime", &regime, RP__JC_NULLABLE)))
        return r->rc;
    rep->regime = rp_regime_of(&rep->probe_before, &rep->probe_after,
                               r->slow_ratio > 0 ? r->slow_ratio : RP_PROBE_SLOW_RATIO);
    const char *want = rp_regime_name(rep->regime);
    if (!rp__jc_has(o, "regime"))
        want = NULL;
    if ((want == NULL) != (regime == NULL) || (want && strcmp(want, regime) != 0))
        rp__jc_bad_at(r, "regime", "is not the probes' (%s, not %s)", want ? want : "null",
                      regime ? regime : "null");
    free(regime);
    if (r->rc)
        return r->rc;
    const json_t *ratio = json_object_get(o, "ratio");
    if (!ratio || json_is_null(ratio))
        return r->rc;
    if (rp__jc_num(r, o, "ratio", &rep->ratio))
        return r->rc;
    if (!(rep->ratio > 0))
        return rp__jc_bad_at(r, "ratio", "a paired ratio is positive (got %g)", rep->ratio);
    return 0;
}

int rp__read_paired(rp__jc *r, const json_t *o, rp_merit *mr, double got[4]) {
    static const char *const keys[] = {"reference", "ratio", "ci_low", "ci_high", "ci_level", NULL};
    const json_t *po;
    if (!rp__jc_has(o, "paired") || rp__jc_obj(r, o, "paired", true, &po) || !po)
        return r->rc;
    size_t m = rp__jc_enter(r, "paired");
    if (!rp__jc_only_known(r, po, keys))
        if (!rp__jc_str(r, po, "reference", &mr->reference, RP__JC_REQUIRED) &&
            !rp__jc_num(r, po, "ratio", &got[0]) && !rp__jc_num(r, po, "ci_low", &got[1]))
            if (!rp__jc_num(r, po, "ci_high", &got[2]))
                rp__jc_num(r, po, "ci_level", &got[3]);
    rp__jc_leave(r, m);
    return r->rc;
}

int rp__check_paired(rp__jc *r, const rp_merit *mr, const double got[4]) {
    if (!mr->reference)
        return 0;
    const double want[4] = {mr->ratio, mr->ratio_low, mr->ratio_high, mr->ratio_level};
    static const char *const names[4] = {"ratio", "ci_low", "ci_high", "ci_level"};
    for (int i = 0; i < 4; i++) {
        if (!rp__agree(got[i], want[i])) {
            size_t m = rp__jc_enter(r, "paired");
            rp__jc_bad_at(r, names[i],
                          "does not follow from the repetitions' ratios (%.15g, not %.15g)", got[i],
                          want[i]);
            rp__jc_leave(r, m);
            return r->rc;
        }
    }
    return 0;
}
