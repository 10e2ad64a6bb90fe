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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rp.h"
#include "rp_compare.h"
#include "rp_stats.h"

#define MAX_FILES 4096

int sc_history_main(int argc, char **argv) {
    static const struct option opts[] = {{"min-segment", required_argument, NULL, 'm'},
                                         {"p", required_argument, NULL, 'p'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    size_t min_seg = 3;
    double pmax = 0.01;
    bool md = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        if (c == 'h') {
            printf("Usage: udbench history FILE... [--min-segment N] [--p P] [--format text|md]\n"
                   "Finds change points in the figures of successive results documents (oldest\n"
                   "first): binary segmentation on Student's t, each split kept when its\n"
                   "permutation p-value is at most P (default 0.01); segments of at least N\n"
                   "documents (default 3). A report only: exit 0 unless the input is unusable.\n");
            return 0;
        } else if (c == 'm') {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "udbench history: --min-segment takes 1..1000\n");
                return 2;
            }
            min_seg = (size_t)v;
        } else if (c == 'p') {
            pmax = strtod(optarg, &end);
            if (*end || !(pmax > 0 && pmax < 1)) {
                fprintf(stderr, "udbench history: --p lies in (0, 1)\n");
                return 2;
            }
        } else if (c == 'f' && (!strcmp(optarg, "md") || !strcmp(optarg, "text"))) {
            md = !strcmp(optarg, "md");
        } else {
            fprintf(stderr, "Try 'udbench history --help'.\n");
            return 2;
        }
    }
    size_t nfiles = (size_t)(argc - optind);
    if (nfiles < 2 * min_seg || nfiles > MAX_FILES) {
        fprintf(stderr,
                "udbench history: needs at least %zu results documents (2 x the minimum "
                "segment), oldest first\n",
                2 * min_seg);
        return 2;
    }
    rp_doc **docs = calloc(nfiles, sizeof *docs);
    double *series = calloc(nfiles, sizeof *series);
    if (!docs || !series)
        return 1;
    int status = 0;
    for (size_t i = 0; i < nfiles && !status; i++) {
        char err[512] = "";
        int rc = rp_doc_read(argv[optind + (int)i], &docs[i], err, sizeof err);
        if (rc) {
            fprintf(stderr, "udbench history: %s: %s\n", argv[optind + (int)i],
                    err[0] ? err : rp_strerror(rc));
            status = 2;
        }
    }
    size_t nseries = 0, nchanges = 0;
    if (!status) {
        if (md)
            printf("| metric | at | commit | change | p |\n|---|---:|---|---:|---:|\n");
        else
            printf("udbench history: %zu documents, oldest %s, newest %s\n", nfiles,
                   docs[0]->run.git_commit ? docs[0]->run.git_commit : "?",
                   docs[nfiles - 1]->run.git_commit ? docs[nfiles - 1]->run.git_commit : "?");
    }
    /* Series are keyed by the metrics of the newest document. */
    const rp_doc *last = status ? NULL : docs[nfiles - 1];
    for (size_t ci = 0; last && ci < last->ncells; ci++) {
        const rp_cell *cell = &last->cells[ci];
        for (size_t mi = 0; cell->status == RP_STATUS_OK && mi < cell->nmetrics; mi++) {
            char key[512];
            rp_metric_key(cell, &cell->metrics[mi], key, sizeof key);
            rp_cmp_merit merit = rp_cmp_merit_of_cell(cell, cell->metrics[mi].op);
            size_t n = 0, first = 0;
            for (size_t f = 0; f < nfiles; f++) {
                double v = 0;
                for (size_t cj = 0; cj < docs[f]->ncells && v == 0; cj++) {
                    const rp_cell *o = &docs[f]->cells[cj];
                    for (size_t mj = 0; o->status == RP_STATUS_OK && mj < o->nmetrics; mj++) {
                        char k2[512];
                        rp_metric_key(o, &o->metrics[mj], k2, sizeof k2);
                        if (!strcmp(k2, key))
                            v = rp_merit_value(&merit, &o->metrics[mj], -1);
                    }
                }
                if (v > 0) {
                    if (n == 0)
                        first = f;
                    series[n++] = log(rp_merit_cost(&merit, v));
                } else if (n) {
                    break; /* a gap ends the series: only contiguous history is compared */
                }
            }
            if (n < 2 * min_seg)
                continue;
            nseries++;
            rp_change ch[32];
            size_t nch = 0;
            rp_changepoints(series, n, min_seg, pmax, 999, 1, ch, 32, &nch);
            for (size_t k = 0; k < nch; k++) {
                const rp_doc *at = docs[first + ch[k].index];
                double change = (exp(ch[k].after - ch[k].before) - 1) * 100;
                const char *commit = at->run.git_commit ? at->run.git_commit : "?";
                if (md)
                    printf("| `%s` | %zu | `%s` | cost %+.1f%% | %.3f |\n", key,
                           first + ch[k].index + 1, commit, change, ch[k].p);
                else
                    printf("  %-60s from document %zu (commit %s): cost %+.1f%% (%s), p %.3f\n",
                           key, first + ch[k].index + 1, commit, change,
                           change > 0 ? "slower" : "faster", ch[k].p);
                nchanges++;
            }
        }
    }
    if (!status && !md)
        printf("  %zu change points over %zu series\n", nchanges, nseries);
    for (size_t i = 0; i < nfiles; i++)
        rp_doc_free(docs[i]);
    free(docs);
    free(series);
    return status;
}
