/*
 * compare.c - the comparison model and `udbench compare`'s statistics over two results
 * documents (rp_compare.h); the figure of merit of each operation comes from merit.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rp_compare.h"
#include "rp_stats.h"

int rp_cmp_new(rp_cmp **out) {
    rp_cmp *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->margin = 0.03;
    c->alpha = 0.05;
    *out = c;
    return 0;
}

void rp_cmp_free(rp_cmp *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->nitems; i++) {
        rp_cmp_item *it = &c->items[i];
        free(it->scenario);
        free(it->backend);
        free(it->op);
        rp__params_free(it->params, it->nparams);
        for (size_t j = 0; j < it->npairs; j++)
            free(it->pairs[j].dropped);
        free(it->pairs);
    }
    free(c->items);
    free(c->method);
    free(c->channel);
    free(c->base_label);
    free(c->head_label);
    free(c->base_commit);
    free(c->head_commit);
    free(c);
}

rp_cmp_item *rp_cmp_add_item(rp_cmp *c) {
    rp_cmp_item *it = rp__array_push((void **)&c->items, &c->nitems, sizeof *it);
    if (it) {
        it->verdict = RP_VERDICT_INCONCLUSIVE;
        it->gated = true;
        it->ratio_lo = -INFINITY;
        it->ratio_hi = INFINITY;
        it->p_slow = it->p_ok = 1;
    }
    return it;
}

rp_cmp_pair *rp_cmp_item_add_pair(rp_cmp_item *it) {
    return rp__array_push((void **)&it->pairs, &it->npairs, sizeof *it->pairs);
}

void rp_cmp_settle(rp_cmp *c) {
    bool fail = false, open = false;
    for (size_t i = 0; i < c->nitems; i++) {
        if (!c->items[i].gated)
            continue;
        fail |= c->items[i].verdict == RP_VERDICT_SLOWER;
        open |= c->items[i].verdict == RP_VERDICT_INCONCLUSIVE;
    }
    c->status = fail ? RP_GATE_FAIL : open ? RP_GATE_INCONCLUSIVE : RP_GATE_PASS;
}

const char *rp_gate_status_name(int status) {
    return status == RP_GATE_PASS ? "pass" : status == RP_GATE_FAIL ? "fail" : "inconclusive";
}

void rp_cmp_item_name(const rp_cmp_item *it, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "%s %s", it->scenario, it->backend);
    for (size_t i = 0; i < it->nparams && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, " %s=%s", it->params[i].key, it->params[i].value);
    if (n < len)
        snprintf(buf + n, len - n, " [%s]", it->op);
}

/* ---- udbench compare ---- */

void rp_metric_key(const rp_cell *c, const rp_metric *m, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "%s %s", c->scenario, c->backend);
    for (size_t i = 0; i < c->nparams && n < len; i++)
        if (!rp__cmp_ignored_param(c->params[i].key))
            n += (size_t)snprintf(buf + n, len - n, " %s=%s", c->params[i].key, c->params[i].value);
    if (n < len)
        snprintf(buf + n, len - n, " [%s]", m->op);
}

/* Whether the metric pair is paired in both runs against the same reference. */
static bool both_paired(const rp_doc *bd, const rp_cell *bc, const rp_metric *bm, const rp_doc *hd,
                        const rp_cell *hc, const rp_metric *hm) {
    return rp__is_paired(bc, bm) && rp__is_paired(hc, hm) && rp__same_reference(bd, bc, hd, hc);
}

static int copy_item_key(rp_cmp_item *it, const rp_cell *cell, const char *op) {
    int rc = rp_set_string(&it->scenario, cell->scenario);
    rc = rc ? rc : rp_set_string(&it->backend, cell->backend);
    rc = rc ? rc : rp_set_string(&it->op, op);
    if (!rc && cell->nparams) {
        it->params = calloc(cell->nparams, sizeof *it->params);
        if (!it->params)
            return -ENOMEM;
        for (size_t i = 0; i < cell->nparams && !rc; i++) {
            if (rp__cmp_ignored_param(cell->params[i].key))
                continue;
            rp_param *p = &it->params[it->nparams++];
            rc = rp_set_string(&p->key, cell->params[i].key);
            rc = rc ? rc : rp_set_string(&p->value, cell->params[i].value);
        }
    }
    return rc;
}

/* Log costs of the repetitions of a metric (the histogram's p50 once, for a latency). */
static int log_costs(const rp_merit *m, const rp_metric *metric, double *out, int max) {
    int n = 0;
    if (m->figure == RP_FIGURE_P50_NS) {
        if (metric->has_latency && metric->latency.p50 > 0)
            out[n++] = log(metric->latency.p50);
        return n;
    }
    for (size_t i = 0; i < metric->nreps && n < max; i++)
        if (metric->reps[i].ops_per_sec > 0)
            out[n++] = log(1.0 / metric->reps[i].ops_per_sec);
    return n;
}

static int compare_metric(rp_cmp *c, const rp_cell *cell, const rp_metric *bm, const rp_cell *hcell,
                          const rp_metric *hm, bool paired, double paired_alpha) {
    rp_cmp_item *it = rp_cmp_add_item(c);
    if (!it || copy_item_key(it, cell, bm->op))
        return -ENOMEM;
    it->merit = rp_cmp_merit_of_cell(cell, bm->op);
    it->base_value = rp_merit_value(&it->merit, bm, -1);
    it->head_value = rp_merit_value(&it->merit, hm, -1);
    if (c->paired) {
        /* Two separate runs: only what each paired within itself is compared. */
        it->gated = paired;
        if (!paired || c->machine_differed) {
            double bc = rp_merit_cost(&it->merit, it->base_value);
            double hc = rp_merit_cost(&it->merit, it->head_value);
            it->ratio = bc > 0 && isfinite(bc) && isfinite(hc) ? hc / bc : NAN;
            return 0;
        }
        int rc = rp__compare_paired(it, cell, bm, hcell, hm, paired_alpha, c->margin);
        /* The batches of this cell ran in another cache regime in one run than in the other:
         * what its figure changed by may be the machine's. */
        double sb = 0, sh = 0;
        if (rp__cell_slow_share(bm, &sb) && rp__cell_slow_share(hm, &sh) &&
            fabs(sb - sh) > RP__MACHINE_SHARE) {
            it->machine_moved = true;
            it->verdict = RP_VERDICT_INCONCLUSIVE;
        }
        return rc;
    }
    double xb[256], xh[256];
    it->n_base = log_costs(&it->merit, bm, xb, 256);
    it->n_head = log_costs(&it->merit, hm, xh, 256);
    double bc = rp_merit_cost(&it->merit, it->base_value);
    double hc = rp_merit_cost(&it->merit, it->head_value);
    it->ratio = bc > 0 && isfinite(bc) && isfinite(hc) ? hc / bc : NAN;
    double lo, hi, est;
    int rc = rp_mw_shift_interval(xb, it->n_base, xh, it->n_head, c->alpha, &lo, &hi, &est);
    if (rc == -2)
        return -ENOMEM;
    it->confidence = rc == 0 ? 1 - c->alpha : 0;
    it->ratio_lo = exp(lo);
    it->ratio_hi = exp(hi);
    it->verdict = rp_verdict(lo, hi, log1p(c->margin));
    return 0;
}

/* The number of metrics paired in both runs (the Bonferroni divisor of alpha), in *n. */
static int count_paired(const rp_doc *base, const rp_doc *head, const rp_match_index *x,
                        size_t *n) {
    int rc = 0;
    for (size_t i = 0; i < base->ncells && !rc; i++) {
        const rp_cell *cell = &base->cells[i], *hc = NULL;
        for (size_t j = 0; cell->status == RP_STATUS_OK && j < cell->nmetrics && !rc; j++) {
            const rp_metric *hm = rp__match_find(x, cell, cell->metrics[j].op, &hc, &rc);
            *n += hm && both_paired(base, cell, &cell->metrics[j], head, hc, hm);
        }
    }
    return rc;
}

/* Compares every metric of base that head has too; *only_base counts those it has not. */
static int compare_shared(rp_cmp *c, const rp_doc *base, const rp_doc *head, size_t *only_base) {
    rp_match_index *x = NULL;
    int rc = rp_match_index_new(head, &x);
    size_t npaired = 0;
    if (!rc && c->paired)
        rc = count_paired(base, head, x, &npaired);
    double paired_alpha = c->alpha / (double)(npaired ? npaired : 1);
    for (size_t i = 0; i < base->ncells && !rc; i++) {
        const rp_cell *cell = &base->cells[i];
        if (cell->status != RP_STATUS_OK)
            continue;
        for (size_t j = 0; j < cell->nmetrics && !rc; j++) {
            const rp_cell *hc = NULL;
            const rp_metric *hm = rp__match_find(x, cell, cell->metrics[j].op, &hc, &rc);
            if (hm)
                rc = compare_metric(c, cell, &cell->metrics[j], hc, hm,
                                    both_paired(base, cell, &cell->metrics[j], head, hc, hm),
                                    paired_alpha);
            else if (!rc)
                (*only_base)++;
        }
    }
    rp_match_index_free(x);
    return rc;
}

/* The metrics of head that base does not have (in *n). */
static int count_only(const rp_doc *head, const rp_doc *base, size_t *n) {
    rp_match_index *x = NULL;
    int rc = rp_match_index_new(base, &x);
    for (size_t i = 0; i < head->ncells && !rc; i++) {
        const rp_cell *cell = &head->cells[i];
        for (size_t j = 0; cell->status == RP_STATUS_OK && j < cell->nmetrics && !rc; j++)
            if (!rp__match_find(x, cell, cell->metrics[j].op, NULL, &rc) && !rc)
                (*n)++;
    }
    rp_match_index_free(x);
    return rc;
}

int rp_compare_docs(const rp_doc *base, const rp_doc *head, double margin, double alpha,
                    rp_cmp **out, size_t *only_base, size_t *only_head, char *err, size_t errlen) {
    if (!(margin > 0 && margin < 1) || !(alpha > 0 && alpha < 1)) {
        snprintf(err, errlen, "the margin and alpha must lie between 0 and 1");
        return RP_EINVAL;
    }
    rp_cmp *c;
    int rc = rp_cmp_new(&c);
    if (rc)
        return rc;
    c->margin = margin;
    c->alpha = alpha;
    c->paired = base->run.lockstep && head->run.lockstep;
    if (c->paired)
        c->machine_differed = !rp__machines_agree(base, head, &c->machine_base, &c->machine_head);
    rc = rp_set_string(&c->method, c->paired ? "paired-ratio" : "mann-whitney");
    rc = rc ? rc : rp_set_string(&c->channel, "time");
    rc = rc ? rc : rp_set_string(&c->base_commit, base->run.git_commit);
    rc = rc ? rc : rp_set_string(&c->head_commit, head->run.git_commit);
    size_t ob = 0, oh = 0;
    if (!rc)
        rc = compare_shared(c, base, head, &ob);
    if (!rc && c->paired)
        rp__paired_shifts(c);
    if (!rc)
        rc = count_only(head, base, &oh);
    if (!rc && c->nitems == 0) {
        snprintf(err, errlen,
                 "the two documents share no metric (same scenario, backend, parameters and "
                 "operation): %zu in the base only, %zu in the head only",
                 ob, oh);
        rc = RP_ESCHEMA;
    }
    if (rc) {
        rp_cmp_free(c);
        return rc;
    }
    if (only_base)
        *only_base = ob;
    if (only_head)
        *only_head = oh;
    rp_cmp_settle(c);
    *out = c;
    return 0;
}
