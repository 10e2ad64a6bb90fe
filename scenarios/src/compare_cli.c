/*
 * compare_cli.c - `udbench compare BASE.json HEAD.json` and `udbench export FILE`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "rp.h"
#include "rp_compare.h"
#include "sc.h"

static int read_results(const char *path, rp_doc **doc) {
    char err[512] = "";
    int rc = rp_doc_read(path, doc, err, sizeof err);
    if (rc)
        fprintf(stderr, "udbench: %s: %s\n", path, err[0] ? err : rp_strerror(rc));
    return rc;
}

static void compare_help(void) {
    printf("Usage: udbench compare BASE.json HEAD.json [--margin 3%%] [--alpha 0.05]\n"
           "                       [--format text|md|json] [--out FILE]\n"
           "Compares every metric present in both results documents (same scenario,\n"
           "backend up to a port or a temporary folder, parameters and operation): the\n"
           "head/base cost ratio, its Hodges-Lehmann interval, and a verdict faster, slower,\n"
           "same or inconclusive against the margin. Two lockstep runs (udbench/3): only the\n"
           "figures paired against the group's reference get a verdict, from their per-round\n"
           "ratios, and none when the probes say the machine differed between the runs.\n"
           "Older documents: from the repetitions (use --repeat 5 or more).\n"
           "Exit status: 0 no metric slower, 1 a metric slower, 3 inconclusive,\n"
           "2 usage error or unusable documents.\n");
}

/* The options of compare. */
typedef struct compare_opts {
    double margin, alpha;
    int format;
    const char *out;
} compare_opts;

/* One option c: 0 to go on, else the exit status (SC_EHELP after --help). */
static int compare_option(compare_opts *o, int c, const char *arg) {
    switch (c) {
    case 'm':
        return sc_opt_margin("compare", arg, &o->margin);
    case 'a':
        return sc_opt_alpha("compare", arg, &o->alpha);
    case 'f':
        return sc_opt_format("compare", arg, &o->format);
    case 'o':
        o->out = arg;
        return 0;
    case 'h':
        compare_help();
        return SC_EHELP;
    default:
        fprintf(stderr, "Try 'udbench compare --help'.\n");
        return 2;
    }
}

/* What the text of a compare of two lockstep runs opens with: whether the machine agreed, and
 * how far the paired figures moved from one run to the other. */
static void print_paired_heading(const rp_cmp *cmp) {
    if (cmp->machine_differed) {
        printf("the machine differed between the runs: no verdict (their probes' median LLC "
               "chase, in compute-loop iterations)\n  base %.1f, head %.1f\n",
               cmp->machine_base, cmp->machine_head);
        return;
    }
    printf("two lockstep runs: verdicts on the figures each run paired against its reference "
           "only\n");
    if (cmp->run_spread > 0)
        printf("  run to run, the paired figures moved by up to %+.1f%% (95th percentile, "
               "beyond their group's shift): a verdict needs a change beyond that\n",
               (cmp->run_spread - 1) * 100);
    else
        printf("  too few paired figures to know how far they move from run to run: no "
               "verdict\n");
}

int sc_compare_main(int argc, char **argv) {
    static const struct option opts[] = {
        {"margin", required_argument, NULL, 'm'}, {"alpha", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'}, {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    compare_opts o = {.margin = 0.03, .alpha = 0.05, .format = RP_CMP_TEXT, .out = NULL};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = compare_option(&o, c, optarg);
        if (rc)
            return rc == SC_EHELP ? 0 : rc;
    }
    if (argc - optind != 2) {
        fprintf(stderr, "udbench compare: expects BASE.json and HEAD.json\n"
                        "Try 'udbench compare --help'.\n");
        return 2;
    }
    rp_doc *base = NULL, *head = NULL;
    if (read_results(argv[optind], &base) || read_results(argv[optind + 1], &head)) {
        rp_doc_free(base);
        return 2;
    }
    rp_cmp *cmp = NULL;
    size_t ob = 0, oh = 0;
    char err[512] = "";
    int rc = rp_compare_docs(base, head, o.margin, o.alpha, &cmp, &ob, &oh, err, sizeof err);
    if (!rc) {
        rp_set_string(&cmp->base_label, argv[optind]);
        rp_set_string(&cmp->head_label, argv[optind + 1]);
    }
    rp_doc_free(base);
    rp_doc_free(head);
    if (rc) {
        fprintf(stderr, "udbench compare: %s\n", err[0] ? err : rp_strerror(rc));
        return 2;
    }
    if (ob || oh)
        fprintf(stderr,
                "udbench compare: %zu metrics only in the base, %zu only in the head "
                "(not compared)\n",
                ob, oh);
    if (o.out && (rc = rp_cmp_write(cmp, o.out)))
        fprintf(stderr, "udbench compare: writing %s: %s\n", o.out, strerror(-rc));
    if (cmp->paired && o.format != RP_CMP_JSON)
        print_paired_heading(cmp);
    rp_cmp_report(cmp, o.format, stdout);
    int status = rc ? 2 : cmp->status;
    rp_cmp_free(cmp);
    return fflush(stdout) ? 2 : status;
}

static void export_help(void) {
    printf("Usage: udbench export FILE --format gab-bigger|gab-smaller|bmf|gbench|junit\n"
           "Converts a results document (udbench/1) or a compare document\n"
           "(udbench-compare/1, from compare or gate) for other CI tools:\n"
           "  gab-bigger, gab-smaller  github-action-benchmark customBiggerIsBetter /\n"
           "                           customSmallerIsBetter ([{name, unit, value, range, "
           "extra}])\n"
           "  bmf                      Bencher Metric Format ({benchmark: {measure: {value, "
           "...}}})\n"
           "  gbench                   Google Benchmark JSON (its compare.py reads it)\n"
           "  junit                    JUnit XML: one test case per metric, a failure per\n"
           "                           regression (or failed cell)\n");
}

/* FILE and --format FMT of export: 0, or 2 with a message. */
static int export_args(int argc, char **argv, const char **file, const char **fmt) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
            *fmt = argv[++i];
        else if (strncmp(argv[i], "--format=", 9) == 0)
            *fmt = argv[i] + 9;
        else if (!*file && argv[i][0] != '-')
            *file = argv[i];
        else {
            fprintf(stderr,
                    "udbench export: unexpected argument '%s'\nTry 'udbench export "
                    "--help'.\n",
                    argv[i]);
            return 2;
        }
    }
    return 0;
}

/* Reads FILE as a compare document, else as a results document: 0, or 2 with a message. */
static int export_read(const char *file, rp_cmp **cmp, rp_doc **doc) {
    char err[512] = "", err2[512] = "";
    int rc = rp_cmp_read(file, cmp, err, sizeof err);
    if (rc == RP_ESCHEMA && !strstr(err, "comparisons") && strncmp(err, "not a", 5) == 0) {
        rc = rp_doc_read(file, doc, err2, sizeof err2);
        if (rc) {
            fprintf(stderr,
                    "udbench export: %s: neither a compare document nor a results "
                    "document: %s\n",
                    file, err2[0] ? err2 : rp_strerror(rc));
            return 2;
        }
    } else if (rc) {
        fprintf(stderr, "udbench export: %s: %s\n", file, err[0] ? err : rp_strerror(rc));
        return 2;
    }
    return 0;
}

int sc_export_main(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        export_help();
        return 0;
    }
    const char *file = NULL, *fmt = NULL;
    if (export_args(argc, argv, &file, &fmt))
        return 2;
    int format = fmt ? rp_export_parse(fmt) : -1;
    if (!file || format < 0) {
        fprintf(stderr, "udbench export: expects FILE and --format gab-bigger, gab-smaller, bmf, "
                        "gbench or junit\n");
        return 2;
    }
    rp_cmp *cmp = NULL;
    rp_doc *doc = NULL;
    if (export_read(file, &cmp, &doc))
        return 2;
    int rc = cmp ? rp_export_cmp(cmp, format, stdout) : rp_export_doc(doc, format, stdout);
    rp_cmp_free(cmp);
    rp_doc_free(doc);
    if (rc || fflush(stdout)) {
        fprintf(stderr, "udbench export: %s\n", rc ? rp_strerror(rc) : strerror(errno));
        return 1;
    }
    return 0;
}
