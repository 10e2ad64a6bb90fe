/*
 * history.c - `udbench history FILES...`: change points over the results documents of
 * successive commits (oldest first), to catch slow creep that no single pull request shows.
 * Each series is the median figure of merit of one metric (same scenario, backend, parameters
 * and operation) across the files, in log scale; binary segmentation with Student's t statistic
 * (pooled variance) and a permutation test per split (rp_changepoints). A report, never a gate: the
 * exit status is 0 whether or not changes were found.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rp.h"
#include "rp_compare.h"
#include "rp_stats.h"
#include "sc.h"

#define MAX_FILES 4096

/* The settings of a history run. */
typedef struct history_opts {
    size_t min_seg;
    double pmax;
    bool md;
} history_opts;

static void history_help(void) {
    printf("Usage: udbench history FILE... [--min-segment N] [--p P] [--format text|md]\n"
           "Finds change points in the figures of successive results documents (oldest\n"
           "first): binary segmentation on Student's t, each split kept when its\n"
           "permutation p-value is at most P (default 0.01); segments of at least N\n"
           "documents (default 3). A report only: exit 0 unless the input is unusable.\n");
}

/* One option c: 0 to go on, 2 on a usage error (with a message). */
static int history_option(history_opts *o, int c, const char *arg) {
    char *end = NULL;
    if (c == 'm') {
        long v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > 1000) {
            fprintf(stderr, "udbench history: --min-segment takes 1..1000\n");
            return 2;
        }
        o->min_seg = (size_t)v;
    } else if (c == 'p') {
        o->pmax = strtod(arg, &end);
        if (*end || !(o->pmax > 0 && o->pmax < 1)) {
            fprintf(stderr, "udbench history: --p lies in (0, 1)\n");
            return 2;
        }
    } else if (c == 'f' && (strcmp(arg, "md") == 0 || strcmp(arg, "text") == 0)) {
        o->md = strcmp(arg, "md") == 0;
    } else {
        fprintf(stderr, "Try 'udbench history --help'.\n");
        return 2;
    }
    return 0;
}

/* Parses the options: 0 to run, else the exit status (SC_EHELP after --help). */
static int history_args(history_opts *o, int argc, char **argv) {
    static const struct option opts[] = {{"min-segment", required_argument, NULL, 'm'},
                                         {"p", required_argument, NULL, 'p'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            history_help();
            return SC_EHELP;
        }
        int rc = history_option(o, c, optarg);
        if (rc)
            return rc;
    }
    return 0;
}

/* The figure of merit of the metric of `like` named op in the document of index x, 0 when it
 * has none. */
static double value_in(const rp_match_index *x, const rp_cell *like, const char *op,
                       const rp_merit *merit) {
    const rp_metric *m = rp_match_find(x, like, op, NULL);
    return m ? rp_merit_value(merit, m, -1) : 0;
}

/* The log cost of that metric over the documents (their indexes x), into series: its length,
 * and in *first the document it starts at. A gap ends the series: only contiguous history is
 * compared. */
static size_t series_of(rp_match_index *const *x, size_t nfiles, const rp_cell *like,
                        const char *op, const rp_merit *merit, double *series, size_t *first) {
    size_t n = 0;
    *first = 0;
    for (size_t f = 0; f < nfiles; f++) {
        double v = value_in(x[f], like, op, merit);
        if (v > 0) {
            if (n == 0)
                *first = f;
            series[n++] = log(rp_merit_cost(merit, v));
        } else if (n) {
            break;
        }
    }
    return n;
}

/* Prints the change points of one series; returns how many there are. */
static size_t report_changes(rp_doc *const *docs, const history_opts *o, const char *key,
                             const double *series, size_t n, size_t first) {
    rp_change ch[32];
    size_t nch = 0;
    rp_changepoints(series, n, o->min_seg, o->pmax, 999, 1, ch, 32, &nch);
    for (size_t k = 0; k < nch; k++) {
        const rp_doc *at = docs[first + ch[k].index];
        double change = (exp(ch[k].after - ch[k].before) - 1) * 100;
        const char *commit = at->run.git_commit ? at->run.git_commit : "?";
        /* The key and the commit are document text: written through the safe writers. */
        if (o->md) {
            fputs("| ", stdout);
            rp_fputs_md(key, stdout);
            printf(" | %zu | ", first + ch[k].index + 1);
            rp_fputs_md(commit, stdout);
            printf(" | cost %+.1f%% | %.3f |\n", change, ch[k].p);
        } else {
            fputs("  ", stdout);
            rp_fputs_safe(key, stdout);
            printf(" from document %zu (commit ", first + ch[k].index + 1);
            rp_fputs_safe(commit, stdout);
            printf("): cost %+.1f%% (%s), p %.3f\n", change, change > 0 ? "slower" : "faster",
                   ch[k].p);
        }
    }
    return nch;
}

/* Reads the documents; 0, or 2 with a message. */
static int read_docs(char **paths, size_t nfiles, rp_doc **docs) {
    for (size_t i = 0; i < nfiles; i++) {
        char err[512] = "";
        int rc = rp_doc_read(paths[i], &docs[i], err, sizeof err);
        if (rc) {
            fprintf(stderr, "udbench history: %s: %s\n", paths[i], err[0] ? err : rp_strerror(rc));
            return 2;
        }
    }
    return 0;
}

/* Series are keyed by the metrics of the newest document. */
static void history_report(rp_doc *const *docs, rp_match_index *const *x, size_t nfiles,
                           const history_opts *o, double *series) {
    if (o->md) {
        printf("| metric | at | commit | change | p |\n|---|---:|---|---:|---:|\n");
    } else {
        printf("udbench history: %zu documents, oldest ", nfiles);
        rp_fputs_safe(docs[0]->run.git_commit ? docs[0]->run.git_commit : "?", stdout);
        fputs(", newest ", stdout);
        rp_fputs_safe(docs[nfiles - 1]->run.git_commit ? docs[nfiles - 1]->run.git_commit : "?",
                      stdout);
        fputc('\n', stdout);
    }
    size_t nseries = 0, nchanges = 0;
    const rp_doc *last = docs[nfiles - 1];
    for (size_t ci = 0; ci < last->ncells; ci++) {
        const rp_cell *cell = &last->cells[ci];
        for (size_t mi = 0; cell->status == RP_STATUS_OK && mi < cell->nmetrics; mi++) {
            char key[512];
            rp_metric_key(cell, &cell->metrics[mi], key, sizeof key);
            rp_merit merit = rp_cmp_merit_of_cell(cell, cell->metrics[mi].op);
            size_t first;
            size_t n = series_of(x, nfiles, cell, cell->metrics[mi].op, &merit, series, &first);
            if (n < 2 * o->min_seg)
                continue;
            nseries++;
            nchanges += report_changes(docs, o, key, series, n, first);
        }
    }
    if (!o->md)
        printf("  %zu change points over %zu series\n", nchanges, nseries);
}

int sc_history_main(int argc, char **argv) {
    history_opts o = {.min_seg = 3, .pmax = 0.01, .md = false};
    int rc = history_args(&o, argc, argv);
    if (rc)
        return rc == SC_EHELP ? 0 : rc;
    size_t nfiles = (size_t)(argc - optind);
    if (nfiles < 2 * o.min_seg || nfiles > MAX_FILES) {
        fprintf(stderr,
                "udbench history: needs at least %zu results documents (2 x the minimum "
                "segment), oldest first\n",
                2 * o.min_seg);
        return 2;
    }
    /* At most MAX_FILES documents: their handles and indexes fit on the stack (64 KiB). */
    rp_doc *docs[MAX_FILES] = {0};
    double *series = calloc(nfiles, sizeof *series);
    int status = series ? read_docs(argv + optind, nfiles, docs) : 1;
    /* One index per document: each series finds its metric in log n, not by a scan. */
    rp_match_index *x[MAX_FILES] = {0};
    for (size_t i = 0; !status && i < nfiles; i++)
        if (rp_match_index_new(docs[i], &x[i])) {
            fprintf(stderr, "udbench history: out of memory\n");
            status = 1;
        }
    if (!status)
        history_report(docs, x, nfiles, &o, series);
    for (size_t i = 0; i < nfiles; i++)
        rp_match_index_free(x[i]);
    for (size_t i = 0; i < nfiles; i++)
        rp_doc_free(docs[i]);
    free(series);
    return status;
}
