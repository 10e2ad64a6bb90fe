/*
 * report_failover.c - the failover section of the text and Markdown reports: for each failover
 * cell, the unavailability window (median and largest over its repetitions), the acknowledged
 * writes lost (count, share, and how many were acknowledged before the kill), the errors by
 * kind, and what was killed. The ranking itself (by lost writes, then by the window) is the
 * ordinary one, by the cell's figure of merit (report_common.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* The sums of a cell's repetitions. */
typedef struct fo_sum {
    uint64_t acked, lost, before, unrecovered;
    double restart_max;
    double win_p50, win_max;
} fo_sum;

static void sum_cell(const rp_cell *c, fo_sum *s) {
    *s = (fo_sum){.restart_max = -1};
    for (size_t i = 0; i < c->failover.nreps; i++) {
        const rp_failover_rep *r = &c->failover.reps[i];
        s->acked += r->acked_writes;
        s->lost += r->lost_writes;
        s->before += r->lost_before_kill;
        s->unrecovered += !r->recovered;
        if (r->restart_s > s->restart_max)
            s->restart_max = r->restart_s;
    }
    rp_failover_window(c, &s->win_p50, &s->win_max);
}

/* Document text in a line of the section, its control characters (and in Markdown, the table's
 * own characters) escaped. */
static void put_doc_text(FILE *f, const char *s, bool md) {
    if (md)
        rp_fputs_md(s, f);
    else
        rp_fputs_safe(s, f);
}

/* The errors of every repetition by kind, "KV_ECONN 12, SC_ESTALE 1", or "none". */
static void errors_text(FILE *f, const rp_cell *c, bool md) {
    rp_failover_rep all = {0};
    for (size_t i = 0; i < c->failover.nreps; i++)
        for (size_t j = 0; j < c->failover.reps[i].nerrors; j++)
            rp_failover_add_error(&all, c->failover.reps[i].errors[j].kind,
                                  c->failover.reps[i].errors[j].count);
    rp__num n;
    for (size_t j = 0; j < all.nerrors; j++) {
        fputs(j ? ", " : "", f);
        put_doc_text(f, all.errors[j].kind, md);
        fprintf(f, " %s", rp__fmt_int(&n, (int64_t)all.errors[j].count));
    }
    if (!all.nerrors)
        fputs("none", f);
    for (size_t j = 0; j < all.nerrors; j++)
        free(all.errors[j].kind);
    free(all.errors);
}

static bool any_failover(const rp_doc *d) {
    for (size_t i = 0; i < d->ncells; i++)
        if (d->cells[i].failover.nreps)
            return true;
    return false;
}

/* One line of the section: the figures of a cell, as text (md: a Markdown table row). */
static void line(FILE *f, const rp_cell *c, const char *title, const char *label, bool md) {
    fo_sum s;
    sum_cell(c, &s);
    rp__num a, l, b, k;
    const char *lost = rp__fmt_int(&l, (int64_t)s.lost), *acked = rp__fmt_int(&a, (int64_t)s.acked),
               *share = rp__fmt_pct(&b, s.acked ? (double)s.lost / (double)s.acked : 0),
               *before = rp__fmt_int(&k, (int64_t)s.before);
    if (md)
        fprintf(f, "| %s | %s | %zu | %.3g s | %.3g s%s | %s of %s | %s | %s | ", title, label,
                c->failover.nreps, s.win_p50, s.win_max, s.unrecovered ? " (not recovered)" : "",
                lost, acked, share, before);
    else
        fprintf(f,
                "  %s on %s: %zu runs, window p50 %.3g s, max %.3g s%s; lost %s of %s "
                "acknowledged writes (%s; %s acknowledged before the kill); errors: ",
                title, label, c->failover.nreps, s.win_p50, s.win_max,
                s.unrecovered ? " (NOT RECOVERED in some runs)" : "", lost, acked, share, before);
    errors_text(f, c, md);
    fputs(md ? " | " : "; killed: ", f);
    put_doc_text(f, rp__or(c->failover.reps[0].victim, "?"), md);
    fputs(md ? " |\n" : "\n", f);
}

static void section(FILE *f, const rp_doc *d, const rp__ranking *r, const char *head, bool md) {
    if (!any_failover(d))
        return;
    fputs(head, f);
    for (size_t i = 0; i < d->ncells; i++)
        if (d->cells[i].failover.nreps)
            line(f, &d->cells[i], r->titles[i], r->labels[i], md);
    fputc('\n', f);
}

int rp__failover_text(FILE *out, const rp_doc *d, const rp__ranking *r) {
    section(out, d, r,
            "Failover (one node or writer killed at a seeded moment; window = first failed "
            "operation\nto the first success after the last one, median and max over the runs; "
            "lost = acknowledged\nwrites missing or older on read-back):\n",
            false);
    return 0;
}

int rp__failover_md(FILE *f, const rp_doc *d, const rp__ranking *r) {
    section(f, d, r,
            "## Failover\n\nOne node (or, for an embedded store, one writer process) killed by "
            "PID at a seeded moment, restarted, the store read back. Window = first failed "
            "operation to the first success after the last one (median and max over the runs); "
            "lost = acknowledged writes missing or older on read-back.\n\n"
            "| Scenario | Backend | runs | window p50 | window max | lost writes | share | acked "
            "before the kill | errors | killed |\n|:--|:--|--:|--:|--:|--:|--:|--:|:--|:--|\n",
            true);
    return 0;
}
