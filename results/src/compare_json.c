/*
 * compare_json.c - the compare document (udbench-compare/1) in JSON, written and read back, and
 * the text and Markdown reports of a comparison.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rp_compare.h"
#include "rp_stats.h"

/* JSON has no infinity: an unbounded side of an interval is null. */
static json_t *num_or_null(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

static const char *shown_verdict(const rp_cmp_item *it);

/* What the text report shows of an item of a compare of two lockstep runs: the verdict it
 * shows ("not paired", "machine moved" or the verdict), whether the probes say its batches ran
 * in another cache regime in one run, and its group's common shift (a cost ratio). */
static void paired_item_to_json(const rp_cmp_item *it, json_t *o) {
    json_object_set_new(o, "shown_verdict", json_string(shown_verdict(it)));
    json_object_set_new(o, "machine_moved", json_boolean(it->machine_moved));
    json_object_set_new(o, "shift", num_or_null(exp(it->shift)));
}

static json_t *item_to_json(const rp_cmp_item *it, bool paired) {
    json_t *params = json_object();
    for (size_t i = 0; i < it->nparams; i++)
        json_object_set_new(params, it->params[i].key, json_string(it->params[i].value));
    const char *key = rp_figure_key(it->merit.figure);
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:b}", "scenario", it->scenario,
                          "backend", it->backend, "params", params, "op", it->op, "merit",
                          key ? key : "ops_per_sec", "unit", rp_merit_unit(&it->merit),
                          "higher_is_better", it->merit.direction == RP_HIGHER_IS_BETTER);
    json_object_set_new(o, "base", num_or_null(it->base_value));
    json_object_set_new(o, "head", num_or_null(it->head_value));
    json_object_set_new(o, "ratio", num_or_null(it->ratio));
    json_object_set_new(o, "ratio_low", num_or_null(it->ratio_lo));
    json_object_set_new(o, "ratio_high", num_or_null(it->ratio_hi));
    json_object_set_new(o, "confidence", json_real(it->confidence));
    json_object_set_new(o, "n_base", json_integer(it->n_base));
    json_object_set_new(o, "n_head", json_integer(it->n_head));
    json_object_set_new(o, "verdict", json_string(rp_verdict_name(it->verdict)));
    json_object_set_new(o, "gated", json_boolean(it->gated));
    if (paired)
        paired_item_to_json(it, o);
    if (it->npairs) {
        json_object_set_new(o, "p_slow", json_real(it->p_slow));
        json_object_set_new(o, "p_ok", json_real(it->p_ok));
        json_object_set_new(o, "looks", json_integer(it->looks));
        json_t *pairs = json_array();
        for (size_t i = 0; i < it->npairs; i++) {
            const rp_cmp_pair *p = &it->pairs[i];
            json_array_append_new(pairs,
                                  json_pack("{s:f, s:f, s:b, s:i, s:o}", "base", p->base, "head",
                                            p->head, "head_first", p->head_first, "look", p->look,
                                            "dropped", str_or_null(p->dropped)));
        }
        json_object_set_new(o, "pairs", pairs);
    }
    if (it->has_anchors)
        json_object_set_new(o, "anchors",
                            json_pack("{s:b, s:b, s:b, s:f}", "gab110", it->gab110, "gab200",
                                      it->gab200, "utest", it->utest, "utest_p", it->utest_p));
    return o;
}

static json_t *cmp_to_json(const rp_cmp *c) {
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:f, s:f}", "schema", RP_CMP_SCHEMA, "method",
                  c->method ? c->method : "mann-whitney", "channel",
                  c->channel ? c->channel : "time", "margin", c->margin, "alpha", c->alpha);
    json_object_set_new(root, "base",
                        json_pack("{s:o, s:o}", "label", str_or_null(c->base_label), "commit",
                                  str_or_null(c->base_commit)));
    json_object_set_new(root, "head",
                        json_pack("{s:o, s:o}", "label", str_or_null(c->head_label), "commit",
                                  str_or_null(c->head_commit)));
    json_object_set_new(root, "pairs_per_look", json_integer(c->pairs_per_look));
    json_object_set_new(root, "max_looks", json_integer(c->max_looks));
    json_object_set_new(root, "wall_seconds", json_real(c->wall_seconds));
    json_object_set_new(root, "status", json_string(rp_gate_status_name(c->status)));
    if (c->paired) {
        /* What the text of a compare of two lockstep runs opens with. */
        json_object_set_new(root, "machine",
                            json_pack("{s:b, s:f, s:f}", "differed", c->machine_differed,
                                      "base_llc_iterations", c->machine_base, "head_llc_iterations",
                                      c->machine_head));
        json_object_set_new(root, "run_spread",
                            c->run_spread > 0 ? json_real(c->run_spread) : json_null());
    }
    json_t *items = json_array();
    for (size_t i = 0; i < c->nitems; i++)
        json_array_append_new(items, item_to_json(&c->items[i], c->paired));
    json_object_set_new(root, "comparisons", items);
    return root;
}

int rp_cmp_write_file(const rp_cmp *c, FILE *f) {
    json_t *root = cmp_to_json(c);
    if (!root)
        return -ENOMEM;
    /* ASCII only: the strings of the documents compared stay exact, and a C1 control (U+009B
     * is a CSI) reaches a terminal that shows the document as a \u escape, like C0 ones. */
    int rc = json_dumpf(root, f,
                        JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10) |
                            JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc || fputc('\n', f) == EOF)
        return -EIO;
    return 0;
}

int rp_cmp_write(const rp_cmp *c, const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int rc = rp_cmp_write_file(c, f);
    if (fclose(f) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc)
        remove(tmp);
    return rc;
}

/* ---- reading ---- */

typedef struct rd {
    char *err;
    size_t errlen;
    bool failed;
} rd;

static json_t *need(rd *r, json_t *o, const char *key, json_type type, const char *where) {
    json_t *v = json_object_get(o, key);
    if (r->failed)
        return NULL;
    bool ok = v && (json_typeof(v) == type || (type == JSON_REAL && json_is_integer(v)) ||
                    (type == JSON_TRUE && json_is_boolean(v)));
    if (!ok) {
        snprintf(r->err, r->errlen, "%s.%s: %s", where, key, v ? "has the wrong type" : "missing");
        r->failed = true;
        return NULL;
    }
    return v;
}

static double num(rd *r, json_t *o, const char *key, const char *where) {
    json_t *v = json_object_get(o, key);
    if (json_is_null(v))
        return strstr(key, "low") ? -INFINITY : INFINITY;
    v = need(r, o, key, JSON_REAL, where);
    return v ? json_number_value(v) : 0;
}

static char *str(rd *r, json_t *o, const char *key, const char *where) {
    json_t *v = json_object_get(o, key);
    if (json_is_null(v))
        return NULL;
    v = need(r, o, key, JSON_STRING, where);
    return v ? strdup(json_string_value(v)) : NULL;
}

/* The figure the document says it compared ("merit") with its direction ("higher_is_better");
 * a document without a known figure gets rp_merit_of(), and a direction it contradicts the
 * throughput or the latency that has that direction. */
static rp_merit merit_from_json(json_t *o, const char *scenario, const char *op) {
    json_t *key = json_object_get(o, "merit"), *hib = json_object_get(o, "higher_is_better");
    int figure = json_is_string(key) ? rp_figure_parse_key(json_string_value(key)) : RP_EINVAL;
    rp_merit m = rp_merit_of(scenario, op);
    if (figure >= 0)
        m.figure = figure;
    if (!json_is_boolean(hib) || json_is_true(hib) == (m.direction == RP_HIGHER_IS_BETTER))
        return m;
    if (figure < 0)
        m.figure = json_is_true(hib) ? RP_FIGURE_OPS : RP_FIGURE_P50_NS;
    m.direction = json_is_true(hib) ? RP_HIGHER_IS_BETTER : RP_LOWER_IS_BETTER;
    return m;
}

static void item_from_json(rd *r, json_t *o, rp_cmp_item *it, const char *where) {
    it->scenario = str(r, o, "scenario", where);
    it->backend = str(r, o, "backend", where);
    it->op = str(r, o, "op", where);
    json_t *params = need(r, o, "params", JSON_OBJECT, where);
    if (params && json_object_size(params)) {
        it->params = calloc(json_object_size(params), sizeof *it->params);
        const char *k;
        json_t *v;
        json_object_foreach(params, k, v) {
            if (!json_is_string(v) || !it->params) {
                snprintf(r->err, r->errlen, "%s.params.%s: not a string", where, k);
                r->failed = true;
                return;
            }
            it->params[it->nparams].key = strdup(k);
            it->params[it->nparams++].value = strdup(json_string_value(v));
        }
    }
    if (r->failed)
        return;
    it->merit = merit_from_json(o, it->scenario, it->op);
    it->base_value = num(r, o, "base", where);
    it->head_value = num(r, o, "head", where);
    it->ratio = num(r, o, "ratio", where);
    it->ratio_lo = num(r, o, "ratio_low", where);
    it->ratio_hi = num(r, o, "ratio_high", where);
    it->confidence = num(r, o, "confidence", where);
    it->n_base = (int)num(r, o, "n_base", where);
    it->n_head = (int)num(r, o, "n_head", where);
    json_t *g = need(r, o, "gated", JSON_TRUE, where);
    it->gated = json_is_true(g);
    json_t *v = need(r, o, "verdict", JSON_STRING, where);
    if (v && (it->verdict = rp_verdict_parse(json_string_value(v))) < 0) {
        snprintf(r->err, r->errlen, "%s.verdict: unknown verdict \"%s\"", where,
                 json_string_value(v));
        r->failed = true;
    }
    json_t *pairs = json_object_get(o, "pairs");
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p) {
        rp_cmp_pair *pr = rp_cmp_item_add_pair(it);
        if (!pr || !json_is_object(p))
            break;
        pr->base = num(r, p, "base", where);
        pr->head = num(r, p, "head", where);
        pr->look = (int)num(r, p, "look", where);
        pr->head_first = json_is_true(json_object_get(p, "head_first"));
        pr->dropped = str(r, p, "dropped", where);
    }
    if (pairs) {
        it->p_slow = num(r, o, "p_slow", where);
        it->p_ok = num(r, o, "p_ok", where);
        it->looks = (int)num(r, o, "looks", where);
    }
    json_t *moved = json_object_get(o, "machine_moved"), *shift = json_object_get(o, "shift");
    it->machine_moved = json_is_true(moved);
    if (json_is_number(shift) && json_number_value(shift) > 0)
        it->shift = log(json_number_value(shift));
    json_t *a = json_object_get(o, "anchors");
    if (json_is_object(a)) {
        it->has_anchors = true;
        it->gab110 = json_is_true(json_object_get(a, "gab110"));
        it->gab200 = json_is_true(json_object_get(a, "gab200"));
        it->utest = json_is_true(json_object_get(a, "utest"));
        it->utest_p = num(r, a, "utest_p", where);
    }
}

/* A compare of two lockstep runs ("paired-ratio"): the probes' agreement and the run-to-run
 * spread (both optional: documents written before them still read). */
static void read_paired(rd *r, json_t *root, rp_cmp *c) {
    c->paired = c->method && !strcmp(c->method, "paired-ratio");
    json_t *m = json_object_get(root, "machine"), *spread = json_object_get(root, "run_spread");
    if (json_is_object(m)) {
        c->machine_differed = json_is_true(json_object_get(m, "differed"));
        c->machine_base = num(r, m, "base_llc_iterations", "machine");
        c->machine_head = num(r, m, "head_llc_iterations", "machine");
    }
    if (json_is_number(spread))
        c->run_spread = json_number_value(spread);
}

static int cmp_read(const char *path, rp_cmp **out, char *err, size_t errlen) {
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "not valid JSON: %s (line %d)", je.text, je.line);
        return RP_EPARSE;
    }
    json_t *schema = json_object_get(root, "schema");
    if (!json_is_string(schema) || strcmp(json_string_value(schema), RP_CMP_SCHEMA) != 0) {
        snprintf(err, errlen, "not a %s compare document (schema %s%s%s)", RP_CMP_SCHEMA,
                 json_is_string(schema) ? "\"" : "",
                 json_is_string(schema) ? json_string_value(schema) : "missing",
                 json_is_string(schema) ? "\"" : "");
        json_decref(root);
        return RP_ESCHEMA;
    }
    rp_cmp *c;
    if (rp_cmp_new(&c)) {
        json_decref(root);
        return -ENOMEM;
    }
    rd r = {err, errlen, false};
    c->method = str(&r, root, "method", "document");
    c->channel = str(&r, root, "channel", "document");
    c->margin = num(&r, root, "margin", "document");
    c->alpha = num(&r, root, "alpha", "document");
    json_t *b = need(&r, root, "base", JSON_OBJECT, "document");
    json_t *h = need(&r, root, "head", JSON_OBJECT, "document");
    if (b && h) {
        c->base_label = str(&r, b, "label", "base");
        c->base_commit = str(&r, b, "commit", "base");
        c->head_label = str(&r, h, "label", "head");
        c->head_commit = str(&r, h, "commit", "head");
    }
    c->pairs_per_look = (int)num(&r, root, "pairs_per_look", "document");
    c->max_looks = (int)num(&r, root, "max_looks", "document");
    c->wall_seconds = num(&r, root, "wall_seconds", "document");
    read_paired(&r, root, c);
    json_t *items = need(&r, root, "comparisons", JSON_ARRAY, "document");
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        char where[64];
        snprintf(where, sizeof where, "comparisons[%zu]", i);
        rp_cmp_item *it = rp_cmp_add_item(c);
        if (!it || !json_is_object(o)) {
            snprintf(err, errlen, "%s: not an object", where);
            r.failed = true;
            break;
        }
        item_from_json(&r, o, it, where);
        if (r.failed)
            break;
    }
    json_decref(root);
    if (r.failed) {
        rp_cmp_free(c);
        return RP_ESCHEMA;
    }
    rp_cmp_settle(c);
    *out = c;
    return 0;
}

/* Messages quote the document: made safe to print before anyone sees them. */
int rp_cmp_read(const char *path, rp_cmp **out, char *err, size_t errlen) {
    int rc = cmp_read(path, out, err, errlen);
    if (rc && err && errlen)
        rp__safe_inplace(err, errlen);
    return rc;
}

/* ---- reports ---- */

static const char *shown_verdict(const rp_cmp_item *it) {
    static const char *const upper[] = {"same", "FASTER", "SLOWER", "inconclusive"};
    /* compare of two lockstep runs: a figure neither run paired gets no verdict at all. */
    if (!it->gated && it->verdict == RP_VERDICT_INCONCLUSIVE && !it->npairs && !it->n_base)
        return "not paired";
    if (it->machine_moved)
        return "machine moved";
    return upper[it->verdict];
}

static void pct(char *buf, size_t len, double ratio) {
    if (!isfinite(ratio))
        snprintf(buf, len, "%s", ratio < 0 || ratio == 0 ? "-inf" : "inf");
    else
        snprintf(buf, len, "%+.1f%%", (ratio - 1) * 100);
}

static void interval(char *buf, size_t len, const rp_cmp_item *it) {
    char lo[32], hi[32];
    if (!(it->confidence > 0)) {
        snprintf(buf, len, "unbounded (too few trials)");
        return;
    }
    pct(lo, sizeof lo, it->ratio_lo);
    pct(hi, sizeof hi, it->ratio_hi);
    snprintf(buf, len, "[%s, %s] at %.1f%%", lo, hi, it->confidence * 100);
}

/* The heading of the Markdown report. */
static void report_head_md(const rp_cmp *c, bool paired, FILE *f) {
    fprintf(f, "### Performance gate: **%s**\n\n",
            c->status == RP_GATE_FAIL   ? "FAIL"
            : c->status == RP_GATE_PASS ? "PASS"
                                        : "INCONCLUSIVE");
    /* The commits and the channel come from documents: written through rp_fputs_md(). */
    fputs("Base ", f);
    rp_fputs_md(c->base_commit ? c->base_commit : "?", f);
    fputs(", head ", f);
    rp_fputs_md(c->head_commit ? c->head_commit : "?", f);
    fprintf(f, "; %s, ",
            paired ? "paired interleaved trials, sign-test intervals, Holm-corrected"
                   : "repetitions of two runs, Mann-Whitney (Hodges-Lehmann) intervals");
    rp_fputs_md(c->channel ? c->channel : "time", f);
    fprintf(f, " channel; margin %.1f%%, alpha %.3g", c->margin * 100, c->alpha);
    if (c->wall_seconds > 0)
        fprintf(f, "; %.0f s", c->wall_seconds);
    fprintf(f, ".\n\n| verdict | metric | base | head | change | interval | n |\n"
               "|---|---|---:|---:|---:|---|---:|\n");
}

/* "COMMIT LABEL" of one side, both from documents. */
static void side_text(FILE *f, const char *commit, const char *label) {
    rp_fputs_safe(commit ? commit : "?", f);
    if (label) {
        fputc(' ', f);
        rp_fputs_safe(label, f);
    }
}

/* The heading of the text report. */
static void report_head_text(const rp_cmp *c, bool paired, FILE *f) {
    fprintf(f, "udbench %s: %s (margin %.1f%%, alpha %.3g, ", paired ? "gate" : "compare",
            rp_gate_status_name(c->status), c->margin * 100, c->alpha);
    /* Commits, labels and the channel come from documents: written through rp_fputs_safe(). */
    rp_fputs_safe(c->channel ? c->channel : "time", f);
    fputs(" channel)\n  base ", f);
    side_text(f, c->base_commit, c->base_label);
    fputs(", head ", f);
    side_text(f, c->head_commit, c->head_label);
    fputc('\n', f);
}

/* How many trials an item rests on: kept pairs, or repetitions of the two runs. */
static void trial_count(const rp_cmp_item *it, char *n, size_t len) {
    size_t kept = 0, dropped = 0;
    for (size_t j = 0; j < it->npairs; j++)
        it->pairs[j].dropped ? dropped++ : kept++;
    if (it->npairs)
        snprintf(n, len, "%zu pairs%s", kept, dropped ? " +dropped" : "");
    else
        snprintf(n, len, "%d vs %d", it->n_base, it->n_head);
}

/* One row of the report. */
static void report_item(const rp_cmp_item *it, bool md, FILE *f) {
    char name[512], change[32], iv[96], n[64];
    rp_cmp_item_name(it, name, sizeof name);
    rp__safe_inplace(name, sizeof name); /* document text */
    pct(change, sizeof change, it->ratio);
    interval(iv, sizeof iv, it);
    trial_count(it, n, sizeof n);
    if (md) {
        fprintf(f, "| %s%s | ", it->verdict == RP_VERDICT_SLOWER ? ":x: " : "", shown_verdict(it));
        rp_fputs_md(name, f);
        fprintf(f, " | %.4g %s | %.4g %s | %s | %s | %s |\n", it->base_value,
                rp_merit_unit(&it->merit), it->head_value, rp_merit_unit(&it->merit), change, iv,
                n);
    } else
        fprintf(f, "  %-12s %-56s cost %-7s %s  %s\n", shown_verdict(it), name, change, iv, n);
}

int rp_cmp_report(const rp_cmp *c, int format, FILE *f) {
    if (format == RP_CMP_JSON)
        return rp_cmp_write_file(c, f);
    bool md = format == RP_CMP_MD;
    bool paired = c->method && strcmp(c->method, "paired-sign") == 0;
    if (md)
        report_head_md(c, paired, f);
    else
        report_head_text(c, paired, f);
    for (size_t i = 0; i < c->nitems; i++)
        report_item(&c->items[i], md, f);
    if (md)
        fprintf(f, "\nA change is the head's cost (time per operation, or latency) against the "
                   "base's: positive is slower.\n");
    return ferror(f) ? -EIO : 0;
}
