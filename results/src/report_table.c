/*
 * report_table.c - the comparison tables: Markdown for people (one table per scenario,
 * parameters and operation, then correctness and what was not measured) and CSV for tools
 * (one row per cell and metric, every figure, nothing rounded beyond 15 digits).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void md_cell(FILE *f, const char *text) {
    rp_fputs_md(text, f);
}

static void md_header(FILE *f, const rp__header *h) {
    fputs("# udbench results\n\n| | |\n|:--|:--|\n", f);
    for (size_t i = 0; i < h->n; i++) {
        fprintf(f, "| %s | ", h->items[i].key);
        md_cell(f, h->items[i].value);
        fputs(" |\n", f);
    }
    fputc('\n', f);
}

/* The heading of a section: its title, harness floor and the cost of one value copy. */
static void md_group_head(FILE *f, const rp__group *g) {
    fputs("## ", f);
    md_cell(f, g->title);
    rp__num fa;
    if (g->floor_ns >= 0)
        fprintf(f, "\n\nHarness floor %s/op.", rp__fmt_ns(&fa, g->floor_ns));
    if (g->copy_ns >= 0)
        fprintf(f, "%sOne memcpy() of a value: %s.", g->floor_ns >= 0 ? " " : "\n\n",
                rp__fmt_ns(&fa, g->copy_ns));
    fprintf(f,
            "\n\n| Backend | %s%s | 95%% interval | spread | factor | × local | p50 | p90 | p99 | "
            "p99.9 | max | notes |\n|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:--|\n",
            g->figure == RP_FIGURE_P50_NS      ? "p50 latency"
            : g->figure == RP_FIGURE_BYTES_SEC ? "bytes/s"
            : g->figure == RP_FIGURE_LOST      ? "lost writes"
                                               : "ops/s",
            g->merit ? " (figure of merit)" : " (median)");
}

/* Appends one note to the notes cell of a row. */
static void md_note(FILE *f, const char **sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void md_note(FILE *f, const char **sep, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs(*sep, f);
    vfprintf(f, fmt, ap);
    va_end(ap);
    *sep = ", ";
}

/* The notes of a row: ties, noise, stand-ins, errors, unfairness, failed checks. */
static void md_row_notes(FILE *f, const rp__row *row) {
    const rp_metric *m = row->metric;
    const char *sep = " ";
    rp__num a;
    if (row->tied)
        md_note(f, &sep, "tied with the row above");
    char text[160];
    if (row->paired ? rp__paired_noisy(row, text, sizeof text) : m->noisy)
        md_note(f, &sep, "noisy");
    if (rp__regime_note(m, text, sizeof text))
        md_note(f, &sep, "%s", text);
    if (row->backend && row->backend->local_runtime)
        md_note(f, &sep, "local runtime");
    uint64_t errors = rp__metric_errors(m);
    if (errors)
        md_note(f, &sep, "%llu error%s", (unsigned long long)errors, errors == 1 ? "" : "s");
    /* Jain's index below 0.9: some processes got much less of the backend than others. */
    if (m->fairness > 0 && m->fairness < 0.9)
        md_note(f, &sep, "fairness %.2f", m->fairness);
    const rp_correctness *k = &row->cell->correctness;
    if (k->present && k->lost_updates != 0)
        md_note(f, &sep, "**%s lost updates**", rp__fmt_int(&a, k->lost_updates));
    if (k->present && k->torn_reads > 0)
        md_note(f, &sep, "**%s torn reads**", rp__fmt_int(&a, k->torn_reads));
}

static void md_row(FILE *f, const rp__group *g, const rp__row *row) {
    const rp_metric *m = row->metric;
    rp__num a, b;
    fputs("| ", f);
    md_cell(f, row->label);
    fprintf(f, " | %s", rp__fmt_value(&a, g, row->value));
    if (row->ci_low != row->ci_high)
        fprintf(f, " | %s – %s", rp__fmt_value(&a, g, row->ci_low),
                rp__fmt_value(&b, g, row->ci_high));
    else
        fputs(" | -", f);
    fprintf(f, " | %s", rp__fmt_pct(&a, m->spread));
    fprintf(f, " | %s", rp__fmt_factor(&a, rp__row_factor(g, row), 1));
    char paired[96];
    if (rp__fmt_paired_local(paired, sizeof paired, g, row))
        fprintf(f, " | %s", paired);
    else
        fprintf(f, " | %s",
                g->local > 0 ? rp__fmt_factor(&a, rp__factor(g, g->local, row->value), 1) : "-");
    if (m->has_latency) {
        const double v[] = {m->latency.p50, m->latency.p90, m->latency.p99, m->latency.p999,
                            m->latency.max};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            fprintf(f, " | %s", rp__fmt_ns(&a, v[k]));
    } else {
        fputs(" | - | - | - | - | -", f);
    }
    fputs(" |", f);
    md_row_notes(f, row);
    fputs(" |\n", f);
}

static void md_group(FILE *f, const rp__group *g) {
    md_group_head(f, g);
    for (size_t i = 0; i < g->nrows; i++)
        md_row(f, g, &g->rows[i]);
    fputc('\n', f);
}

static int md_correctness(FILE *f, const rp_doc *d, const rp__ranking *r) {
    bool any = false;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        const rp_correctness *k = &c->correctness;
        if (!k->present)
            continue;
        if (!any)
            fputs("## Correctness\n\nLost updates = expected − observed; torn reads = values "
                  "that failed their self-check. Both must be 0.\n\n"
                  "| Scenario | Backend | expected | observed | lost updates | torn reads | "
                  "verdict |\n|:--|:--|--:|--:|--:|--:|:--|\n",
                  f);
        any = true;
        const char *title = r->titles[i];
        rp__num e, o, l, t;
        fputs("| ", f);
        md_cell(f, title);
        fputs(" | ", f);
        md_cell(f, r->labels[i]);
        /* A cell that failed part-way counted only part of its updates: no verdict either way. */
        if (c->status == RP_STATUS_ERROR) {
            fputs(" | – | – | – | – | **failed**: ", f);
            md_cell(f, rp__or(c->reason, "no reason given"));
            fputs(" |\n", f);
            continue;
        }
        fprintf(f, " | %s | %s | %s | %s | %s |\n", rp__fmt_int(&e, k->expected),
                rp__fmt_int(&o, k->observed), rp__fmt_int(&l, k->lost_updates),
                rp__fmt_int(&t, k->torn_reads),
                k->lost_updates > 0   ? "**FAIL**: updates lost"
                : k->lost_updates < 0 ? "**FAIL**: more updates seen than made"
                : k->torn_reads > 0   ? "**FAIL**: torn reads"
                                      : "ok");
    }
    if (any && rp__null_beside_verdicts(d))
        fputs("\nnull: keeps nothing, so it has no correctness verdict: its figures are the "
              "harness floor.\n\n",
              f);
    else if (any)
        fputc('\n', f);
    return 0;
}

static int md_not_measured(FILE *f, const rp_doc *d, const rp__ranking *r) {
    bool any = false;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (c->status == RP_STATUS_OK)
            continue;
        if (!any)
            fputs("## Not measured\n\n| Scenario | Backend | status | reason |\n"
                  "|:--|:--|:--|:--|\n",
                  f);
        any = true;
        const char *title = r->titles[i];
        fputs("| ", f);
        md_cell(f, title);
        fputs(" | ", f);
        md_cell(f, r->labels[i]);
        fprintf(f, " | %s | ", rp__or(rp__status_name(c->status), "?"));
        md_cell(f, rp__or(c->reason, ""));
        fputs(" |\n", f);
    }
    if (any)
        fputc('\n', f);
    return 0;
}

static int md_body(const rp_doc *d, const rp__header *h, const rp__ranking *r, FILE *f) {
    int rc = 0;
    md_header(f, h);
    fputs("Throughput is the median ops/s of the repetitions; spread = (max − min) / median; "
          "factor = fastest / this; × local = `local:` / this. Latencies come from the "
          "histograms merged over processes and repetitions (at most 0.8% off).\n\n",
          f);
    for (size_t i = 0; i < r->ngroups; i++)
        md_group(f, &r->groups[i]);
    rc = md_correctness(f, d, r);
    if (!rc)
        rc = rp__failover_md(f, d, r);
    if (!rc)
        rc = md_not_measured(f, d, r);
    return rc;
}

int rp__report_md(const rp_doc *d, FILE *f) {
    return rp__report_with(d, f, md_body);
}

/*
 * One CSV field, quoted as RFC 4180 asks when it holds a comma, a quote or a line break. Text
 * from a document that a spreadsheet would read as a formula (a first character of =, +, -, @,
 * a tab or a carriage return) gets a leading apostrophe and quotes, so that opening the file
 * runs nothing (OWASP's advice on CSV injection); numbers are written as they are.
 */
static void csv_put(FILE *f, const char *text, bool first, bool number) {
    if (!first)
        fputc(',', f);
    if (!text)
        return;
    /* Control characters made visible first (no line break is left to quote). */
    char *safe = rp__safe_dup(text);
    const char *s = safe ? safe : "";
    bool formula = !number && s[0] && strchr("=+-@\t\r", s[0]);
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
    } else {
        fputs(formula ? "\"'" : "\"", f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
    free(safe);
}

static void csv_field(FILE *f, const char *text, bool first) {
    csv_put(f, text, first, false);
}

static void csv_real(FILE *f, double v) {
    rp__num n = {{0}};
    csv_put(f, rp__fmt_real(&n, v), false, true);
}

static void csv_int(FILE *f, long long v) {
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    csv_put(f, s, false, true);
}

static const char *const csv_columns[] = {"scenario",      "op",           "backend",
                                          "backend_name",  "params",       "status",
                                          "reason",        "reps",         "median_ops_per_sec",
                                          "min",           "max",          "spread",
                                          "noisy",         "p50",          "p90",
                                          "p99",           "p999",         "max_ns",
                                          "mean_ns",       "count",        "expected",
                                          "observed",      "lost_updates", "torn_reads",
                                          "errors",        "bytes_per_op", "fairness",
                                          "local_runtime", "merit",        "figure",
                                          "direction",     "value",        "ci_low",
                                          "ci_high",       "ci_coverage",  "harness_floor_ns",
                                          "value_copy_ns", "window_p50_s", "window_max_s",
                                          "acked_writes",  "lost_writes",  "lost_share"};

/* The cell's parameters as one field, "k=v;k=v". Returns a string to free, NULL on failure. */
static char *csv_params(const rp_cell *c) {
    char *params = NULL;
    size_t len = 0;
    FILE *pf = open_memstream(&params, &len);
    if (!pf)
        return NULL;
    for (size_t i = 0; i < c->nparams; i++)
        fprintf(pf, "%s%s=%s", i ? ";" : "", rp__or(c->params[i].key, ""),
                rp__or(c->params[i].value, ""));
    if (fclose(pf) != 0) {
        free(params);
        return NULL;
    }
    return params;
}

static void csv_empty(FILE *f, int n) {
    for (int i = 0; i < n; i++)
        csv_field(f, NULL, false);
}

/* reps .. noisy: the repetitions' summary of ops/s. */
static void csv_summary(FILE *f, const rp_metric *m) {
    if (!m) {
        csv_empty(f, 6);
        return;
    }
    csv_int(f, (long long)m->nreps);
    csv_real(f, m->median);
    csv_real(f, m->min);
    csv_real(f, m->max);
    csv_real(f, m->spread);
    csv_field(f, m->noisy ? "true" : "false", false);
}

/* p50 .. count: the merged latency histogram. */
static void csv_latency(FILE *f, const rp_metric *m) {
    if (!m || !m->has_latency) {
        csv_empty(f, 7);
        return;
    }
    const rp_latency *l = &m->latency;
    const double v[] = {l->p50, l->p90, l->p99, l->p999, l->max, l->mean};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        csv_real(f, v[i]);
    csv_int(f, (long long)l->count);
}

/* expected .. torn_reads: the cell's correctness verdict, empty where none applies. */
static void csv_correctness(FILE *f, const rp_correctness *k) {
    if (!k->present) {
        csv_empty(f, 4);
        return;
    }
    csv_int(f, k->expected);
    csv_int(f, k->observed);
    csv_int(f, k->lost_updates);
    csv_int(f, k->torn_reads);
}

/*
 * merit .. value_copy_ns: whether this row is the cell's figure of merit; the figure this row
 * is judged by (the merit's figure on its own row, ops/s on the others) with its direction,
 * value and 95% interval of the median (ci_coverage: the interval's exact coverage, empty with
 * fewer than two repetitions); the harness floor of its section (ns/op) and one value copy.
 */
static void csv_merit(FILE *f, const rp_doc *d, const rp__kidx *floors, const rp_cell *c,
                      const rp_metric *m) {
    bool merit = m && c->merit.metric && strcmp(c->merit.metric, m->op) == 0;
    if (!m) {
        csv_empty(f, 7);
    } else {
        csv_field(f, merit ? "true" : "false", false);
        csv_field(f, rp_figure_name(merit ? c->merit.figure : RP_FIGURE_OPS), false);
        csv_field(f, rp_direction_name(merit ? c->merit.direction : RP_HIGHER_IS_BETTER), false);
        double v = merit ? c->merit.value : m->median;
        double lo = merit ? c->merit.ci_low : m->ci_low, hi = merit ? c->merit.ci_high : m->ci_high;
        double level = merit ? c->merit.ci_level : m->ci_level;
        csv_real(f, v);
        if (level > 0) {
            csv_real(f, lo);
            csv_real(f, hi);
            csv_real(f, level);
        } else {
            csv_empty(f, 3);
        }
    }
    double floor = m ? rp__section_floor(d, floors, c, m->op, merit) : c->harness_floor_ns;
    if (floor >= 0)
        csv_real(f, floor);
    else
        csv_empty(f, 1);
    if (c->value_copy_ns >= 0)
        csv_real(f, c->value_copy_ns);
    else
        csv_empty(f, 1);
}

/* window_p50_s .. lost_share: the failover figures over the repetitions, empty elsewhere. */
static void csv_failover(FILE *f, const rp_cell *c) {
    if (!c->failover.nreps) {
        csv_empty(f, 5);
        return;
    }
    double p50, max;
    uint64_t acked = 0, lost = 0;
    rp_failover_window(c, &p50, &max);
    for (size_t i = 0; i < c->failover.nreps; i++) {
        acked += c->failover.reps[i].acked_writes;
        lost += c->failover.reps[i].lost_writes;
    }
    csv_real(f, p50);
    csv_real(f, max);
    csv_int(f, (long long)acked);
    csv_int(f, (long long)lost);
    csv_real(f, acked ? (double)lost / (double)acked : 0);
}

/* Writes one row; m is NULL for a cell without metrics (n/a, or an error before any figure). */
static int csv_row(FILE *f, const rp_doc *d, const rp__kidx *floors, const rp_cell *c,
                   const rp_metric *m) {
    char *params = csv_params(c);
    if (!params)
        return -ENOMEM;
    const rp_backend *b = rp__find_backend(d, c->backend);
    csv_field(f, c->scenario, true);
    csv_field(f, m ? m->op : NULL, false);
    csv_field(f, c->backend, false);
    csv_field(f, c->backend_name, false);
    csv_field(f, params, false);
    csv_field(f, rp__status_name(c->status), false);
    csv_field(f, c->reason, false);
    csv_summary(f, m);
    csv_latency(f, m);
    csv_correctness(f, &c->correctness);
    if (m) {
        csv_int(f, (long long)rp__metric_errors(m));
        csv_real(f, m->bytes_per_op);
        csv_real(f, m->fairness);
    } else {
        csv_empty(f, 3);
    }
    csv_field(f, b && b->local_runtime ? "true" : "false", false);
    csv_merit(f, d, floors, c, m);
    csv_failover(f, c);
    fputc('\n', f);
    free(params);
    return 0;
}

/*
 * Lines end in LF rather than RFC 4180's CRLF, so that line tools (grep, cut, awk) work on
 * the file; every CSV reader accepts both.
 */
int rp__report_csv(const rp_doc *d, FILE *f) {
    for (size_t i = 0; i < sizeof csv_columns / sizeof csv_columns[0]; i++)
        csv_field(f, csv_columns[i], i == 0);
    fputc('\n', f);
    rp__kidx floors;
    int rc = rp__floor_index(d, &floors);
    for (size_t i = 0; i < d->ncells && !rc; i++) {
        const rp_cell *c = &d->cells[i];
        if (!c->nmetrics)
            rc = csv_row(f, d, &floors, c, NULL);
        for (size_t j = 0; j < c->nmetrics && !rc; j++)
            rc = csv_row(f, d, &floors, c, &c->metrics[j]);
    }
    rp__kidx_free(&floors);
    return rc;
}
