/*
 * report_text.c - the ranking for a terminal, in the layout of the original UltraDict's
 * performance test ("Python dict = 16,413,569 (factor 1.0)"): per operation, the backends from
 * fastest to slowest with their factor against the fastest, plus the latency, the factor
 * against the in-process baseline and a warning where a figure is noisy. Then what could not
 * be measured and why, and the correctness checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Display width of UTF-8 text: one column per code point (no wide characters appear here). */
static size_t width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void pad(FILE *f, const char *s, size_t w, bool right) {
    size_t n = width(s);
    if (right)
        for (; n < w; n++)
            fputc(' ', f);
    fputs(s, f);
    if (!right)
        for (; n < w; n++)
            fputc(' ', f);
}

/* Writes a line built in memory without its trailing blanks (padding of empty columns). */
static void put_trimmed(FILE *out, char *line, size_t len) {
    while (len && line[len - 1] == ' ')
        len--;
    fwrite(line, 1, len, out);
    fputc('\n', out);
}

/*
 * Writes text that starts at column `indent`, breaking it at spaces so that lines stay within
 * `limit` columns (a word longer than that gets a line of its own); continuation lines are
 * indented. The command line is wrapped too: it is for reading, not for pasting.
 */
static void wrap(FILE *out, const char *s, size_t indent, size_t limit) {
    size_t col = indent;
    while (*s) {
        const char *end = strchr(s, ' ');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char word[1024];
        snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), s);
        size_t w = width(word);
        if (col > indent && col + 1 + w > limit) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(s, 1, len, out);
        col += w;
        s += len;
        while (*s == ' ')
            s++;
    }
    fputc('\n', out);
}

enum { COL_LABEL, COL_OPS, COL_FACTOR, COL_P50, COL_P99, COL_LOCAL, COL_FLAGS, NCOLS };

/* The columns of one ranking line; the label is borrowed from the ranking. */
typedef struct text_row {
    const char *col[NCOLS];
    char buf[NCOLS][256];
} text_row;

/* Appends text to a column, separated from what is there by two spaces. */
static void flag(char *buf, size_t cap, const char *text) {
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? "  " : "", text);
}

static void fill_row(text_row *t, const rp__group *g, const rp__row *row) {
    const rp_metric *m = row->metric;
    rp__num a;
    memset(t, 0, sizeof *t);
    for (int k = 0; k < NCOLS; k++)
        t->col[k] = t->buf[k];
    t->col[COL_LABEL] = row->label;
    if (g->figure == RP_FIGURE_OPS)
        snprintf(t->buf[COL_OPS], sizeof t->buf[0], "%s", rp__fmt_ops(&a, row->value));
    else
        snprintf(t->buf[COL_OPS], sizeof t->buf[0], "%s%s",
                 g->figure == RP_FIGURE_P50_NS ? "p50 " : "", rp__fmt_value(&a, g, row->value));
    snprintf(t->buf[COL_FACTOR], sizeof t->buf[0], "(factor %s)",
             rp__fmt_factor(&a, rp__row_factor(g, row), 1));
    if (m->has_latency) {
        snprintf(t->buf[COL_P50], sizeof t->buf[0], "p50 %s", rp__fmt_ns(&a, m->latency.p50));
        snprintf(t->buf[COL_P99], sizeof t->buf[0], "p99 %s", rp__fmt_ns(&a, m->latency.p99));
    }
    char text[160];
    if (rp__fmt_paired_local(text, sizeof text, g, row))
        snprintf(t->buf[COL_LOCAL], sizeof t->buf[0], "x local: %s", text);
    else if (g->local > 0 && rp_cell_role(row->cell) != RP_ROLE_BASELINE)
        snprintf(t->buf[COL_LOCAL], sizeof t->buf[0], "x local: %s",
                 rp__fmt_factor(&a, rp__factor(g, g->local, row->value), 1));
    if (row->tied)
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], "tied with the row above");
    if (row->paired) {
        char pct[32];
        if (rp__paired_noisy(row, pct, sizeof pct)) {
            snprintf(text, sizeof text, "noisy (paired %s)", pct);
            flag(t->buf[COL_FLAGS], sizeof t->buf[0], text);
        }
    } else if (m->noisy) {
        snprintf(text, sizeof text, "noisy (spread %s)", rp__fmt_pct(&a, m->spread));
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], text);
    }
    if (row->backend && row->backend->local_runtime)
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], "local runtime");
    if (rp__regime_note(m, text, sizeof text))
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], text);
    uint64_t errors = rp__metric_errors(m);
    if (errors) {
        snprintf(text, sizeof text, "errors: %s",
                 rp__fmt_int(&a, errors > INT64_MAX ? INT64_MAX : (int64_t)errors));
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], text);
    }
    /* A fast figure from a backend that lost updates is not a result: say so on its line. */
    const rp_correctness *k = &row->cell->correctness;
    if (k->present && k->lost_updates != 0) {
        snprintf(text, sizeof text, "LOST UPDATES: %s", rp__fmt_int(&a, k->lost_updates));
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], text);
    }
    if (k->present && k->torn_reads > 0) {
        snprintf(text, sizeof text, "TORN READS: %s", rp__fmt_int(&a, k->torn_reads));
        flag(t->buf[COL_FLAGS], sizeof t->buf[0], text);
    }
}

static int rank_group(FILE *out, const rp__group *g) {
    text_row *rows = calloc(g->nrows ? g->nrows : 1, sizeof *rows);
    size_t w[NCOLS] = {0};
    if (!rows)
        return -ENOMEM;
    for (size_t i = 0; i < g->nrows; i++) {
        fill_row(&rows[i], g, &g->rows[i]);
        for (int k = 0; k < NCOLS; k++)
            if (width(rows[i].col[k]) > w[k])
                w[k] = width(rows[i].col[k]);
    }
    rp__num a;
    fprintf(out, "%s:", g->title);
    if (g->floor_ns >= 0)
        fprintf(out, " harness floor %s/op", rp__fmt_ns(&a, g->floor_ns));
    if (g->copy_ns >= 0)
        fprintf(out, "%s copy of one value %s", g->floor_ns >= 0 ? "," : "",
                rp__fmt_ns(&a, g->copy_ns));
    fputc('\n', out);
    int rc = 0;
    for (size_t i = 0; i < g->nrows; i++) {
        char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f) {
            rc = -ENOMEM;
            break;
        }
        const char *const *c = rows[i].col;
        fputs("  ", f);
        pad(f, c[COL_LABEL], w[COL_LABEL], false);
        fputs(" = ", f);
        pad(f, c[COL_OPS], w[COL_OPS], true);
        fputs(g->figure == RP_FIGURE_OPS ? " ops/s " : " ", f);
        pad(f, c[COL_FACTOR], w[COL_FACTOR], false);
        /* Columns that no row of the group has (no latency, no local:) take no room. */
        for (int k = COL_P50; k < NCOLS; k++) {
            if (!w[k])
                continue;
            fputs("  ", f);
            pad(f, c[k], w[k], false);
        }
        if (fclose(f) != 0) {
            free(line);
            rc = -ENOMEM;
            break;
        }
        put_trimmed(out, line, len);
        free(line);
    }
    fputc('\n', out);
    free(rows);
    return rc;
}

/* Lists the cells of one status with their reasons; nothing when there are none. */
static int list_status(FILE *out, const rp_doc *d, const rp__ranking *r, int status,
                       const char *heading) {
    bool any = false;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (c->status != status)
            continue;
        const char *title = r->titles[i];
        if (!any)
            fprintf(out, "%s:\n", heading);
        any = true;
        fprintf(out, "  %s on %s: ", title, r->labels[i]);
        rp_fputs_safe(rp__or(c->reason, "no reason given"), out);
        fputc('\n', out);
    }
    if (any)
        fputc('\n', out);
    return 0;
}

static int correctness(FILE *out, const rp_doc *d, const rp__ranking *r) {
    bool any = false;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        const rp_correctness *k = &c->correctness;
        if (!k->present)
            continue;
        const char *title = r->titles[i];
        if (!any)
            fputs("Correctness (lost updates = expected - observed; torn reads = values that "
                  "failed their self-check):\n",
                  out);
        any = true;
        /* A cell that failed part-way counted only part of its updates: no verdict either way. */
        if (c->status == RP_STATUS_ERROR) {
            fprintf(out, "  %s on %s: failed (%s): no correctness verdict\n", title, r->labels[i],
                    rp__or(c->reason, "no reason given"));
            continue;
        }
        rp__num e, o, l, t;
        fprintf(out, "  %s on %s: expected %s, observed %s, lost updates %s, torn reads %s", title,
                r->labels[i], rp__fmt_int(&e, k->expected), rp__fmt_int(&o, k->observed),
                rp__fmt_int(&l, k->lost_updates), rp__fmt_int(&t, k->torn_reads));
        if (k->lost_updates > 0)
            fputs("  FAIL: updates were lost", out);
        else if (k->lost_updates < 0)
            fputs("  FAIL: more updates seen than made", out);
        if (k->torn_reads > 0)
            fputs("  FAIL: torn reads", out);
        if (k->lost_updates == 0 && k->torn_reads == 0)
            fputs("  ok", out);
        fputc('\n', out);
    }
    if (any && rp__null_beside_verdicts(d))
        fputs("  null: keeps nothing, so it has no verdict: its figures are the harness floor\n",
              out);
    if (any)
        fputc('\n', out);
    return 0;
}

static int text_body(const rp_doc *d, const rp__header *h, const rp__ranking *r, FILE *out) {
    int rc = 0;

    /* The schema of the document read (a run's own document is written as RP_SCHEMA). */
    fputs(d->schema_version == 1   ? "udbench results (" RP_SCHEMA_V1 ")\n"
          : d->schema_version == 2 ? "udbench results (" RP_SCHEMA_V2 ")\n"
                                   : "udbench results (" RP_SCHEMA ")\n",
          out);
    for (size_t i = 0; i < h->n; i++) {
        fprintf(out, "  %-12s ", h->items[i].key);
        wrap(out, h->items[i].value, 15, 100);
    }
    fputc('\n', out);

    if (r->ngroups)
        fputs(
            "Ranking (each scenario by its figure of merit, the others by median ops/s; factor =\n"
            "how many times worse than the best; x local = the same against local:; \"tied\":\n"
            "the 95% intervals of the medians overlap, the order is not established; harness\n"
            "floor = the null: backend's p50 for the same parameters):\n\n",
            out);
    else
        fputs("Ranking: no cell was measured.\n\n", out);
    for (size_t i = 0; i < r->ngroups && !rc; i++)
        rc = rank_group(out, &r->groups[i]);
    if (!rc)
        rc = list_status(out, d, r, RP_STATUS_NA, "Not applicable");
    if (!rc)
        rc = list_status(out, d, r, RP_STATUS_ERROR, "Errors");
    if (!rc)
        rc = correctness(out, d, r);
    if (!rc)
        rc = rp__failover_text(out, d, r);

    return rc;
}

int rp__report_text(const rp_doc *d, FILE *out) {
    return rp__report_with(d, out, text_body);
}
