/*
 * gate.c - `udbench gate --base BIN --head BIN`: the performance-regression gate.
 *
 * For every cell of the gate suite, K pairs of trials; a trial is one process of one build
 * (`udbench run` of that single cell, one repetition), the two trials of a pair run back to back
 * in coin-flip order, and the pairs of all cells run in a shuffled order, so a burst of load
 * on this shared machine hits both builds alike. Per pair d = ln(head cost / base cost).
 *
 * Verdicts (see results/README.md for the reasoning): a comparison FAILs when the one-sided
 * sign test rejects "median d <= ln(1 + margin)" - equivalently when the exact order-statistic
 * lower bound of the median lies beyond the margin - and PASSes when it rejects "median d >=
 * ln(1 + margin)". Each look spends alpha / looks (Bonferroni over the looks), and within a look
 * Holm's procedure runs over all comparisons. Comparisons still open get K more pairs, at most
 * `looks` times in all.
 *
 * Disturbed pairs: around each trial the gate records the steal time of the machine
 * (/proc/stat), the trial's involuntary context switches (wait4) and the time of a fixed canary
 * loop right after it. A pair is dropped when either of its trials is disturbed, by one rule
 * for both builds, and replaced by a new pair of the same cell (at most K/2 per cell and look).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"
#include "rp.h"
#include "rp_compare.h"
#include "rp_stats.h"
#include "cli.h"
#include "gate_internal.h"

static void gate_help(void) {
    printf("Usage: udbench gate --base BIN --head BIN [OPTIONS]\n"
           "Runs paired, interleaved trials of two udbench builds and gives the verdict.\n\n"
           "  --base BIN, --head BIN  the udbench programs of the two builds\n"
           "  --scenario ID           a catalogue scenario to gate (repeatable; default: read,\n"
           "                          write, zipf, large and lock)\n"
           "  --backend URI           a backend to gate it on (repeatable; default: local:,\n"
           "                          ultradict:, sqlite:@/gate.sqlite?sync=off,\n"
           "                          lmdb:@/gate.lmdb?sync=off, and\n"
           "                          redis and memcached read/write when they answer); `@` is\n"
           "                          a scratch folder of each build's own\n"
           "  --procs P               processes of every cell (default 1; 2 for lock in the\n"
           "                          default suite and for scenarios that need two)\n"
           "  --batch S               seconds per lockstep batch (default 0.003; ten times it\n"
           "                          for servers, whose cells take turns among themselves)\n"
           "  --keys K                keys of the working set (default 1000)\n"
           "  --suite gate|smoke      the default cells, or read on ultradict: and local:\n"
           "  --channel time|count    timed trials (default), or instructions per operation\n"
           "                          under valgrind for single-process CPU-bound cases\n"
           "                          (udcount beside each udbench; margin default 1%%)\n"
           "  --pairs K               pairs per cell and look (default 16)\n"
           "  --mode lockstep|process lockstep: `udbench run`'s lockstep rounds with both\n"
           "                          builds' workers alive at once, batches of a few ms in\n"
           "                          turn (default when both builds have the catalogue's\n"
           "                          `udbench gate-worker`); process: one whole process per\n"
           "                          trial\n"
           "  --rounds R              lockstep: batches per build and cell in a pair\n"
           "                          (default 21)\n"
           "  --looks L               looks at most; alpha is split over them (default 3)\n"
           "  --margin M              e.g. 2%% or 0.02 (default 2%%)\n"
           "  --alpha A               family-wise false-alarm rate (default 0.05)\n"
           "  --seed N                seed of the coin flips and the shuffle (default: time)\n"
           "  --label-base S, --label-head S, --commit-base S, --commit-head S\n"
           "  --out FILE              the compare document (JSON, %s)\n"
           "  --format text|md|json   the report on stdout (default text)\n"
           "  --verbose               one line per pair on stderr\n\n"
           "Exit status: 0 pass, 1 regression, 3 inconclusive, 2 usage error, 4 when a trial\n"
           "could not run (no verdict).\n",
           RP_CMP_SCHEMA);
}

/* "3%" or "0.03" -> 0.03; -1.0 (a value, not an error code) when it is neither. */
static double parse_margin(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s)
        return -1.0;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    return *end || !(v > 0 && v < 1) ? -1.0 : v;
}

int sc_opt_int(const char *cmd, const char *opt, const char *arg, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "udbench %s: %s takes %d..%d, not '%s'\n", cmd, opt, lo, hi, arg);
        return 2;
    }
    *out = (int)v;
    return 0;
}

int sc_opt_margin(const char *cmd, const char *arg, double *out) {
    double v = parse_margin(arg);
    if (v < 0) {
        fprintf(stderr,
                "udbench %s: the margin is a fraction or a percentage in (0, 100%%), not '%s'\n",
                cmd, arg);
        return 2;
    }
    *out = v;
    return 0;
}

int sc_opt_alpha(const char *cmd, const char *arg, double *out) {
    char *end;
    double v = strtod(arg, &end);
    if (*end || !(v > 0 && v < 1)) {
        fprintf(stderr, "udbench %s: alpha lies in (0, 1), not '%s'\n", cmd, arg);
        return 2;
    }
    *out = v;
    return 0;
}

int sc_opt_format(const char *cmd, const char *arg, int *out) {
    int f = !strcmp(arg, "text")   ? RP_CMP_TEXT
            : !strcmp(arg, "md")   ? RP_CMP_MD
            : !strcmp(arg, "json") ? RP_CMP_JSON
                                   : RP_EFORMAT;
    if (f < 0) {
        fprintf(stderr, "udbench %s: the format is text, md or json, not '%s'\n", cmd, arg);
        return 2;
    }
    *out = f;
    return 0;
}

/* What the command line asks besides the gate's own settings. */
typedef struct gate_args {
    const char *out, *lb, *lh, *cb, *ch;
    int format;
    bool count, margin_set;
    int mode; /* 0 auto, 1 lockstep, 2 process */
    gate_plan plan;
} gate_args;

static void gate_defaults(gate *g) {
    memset(g, 0, sizeof *g);
    g->pairs = 16;
    g->looks = 3;
    g->margin = 0.02;
    g->alpha = 0.05;
    g->canary_limit = 1.5;
    g->steal_limit = 0.05;
    g->csw_factor = 4;
    g->rounds = 21;
    g->batch = 0.003;
    g->server_batch = 0.03;
    g->keys = 1000;
    g->spread_limit = 0.5;
    g->server_steal_limit = 0.2;
    g->server_spread_limit = 2.0;
    g->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

static int set_suite(gate_plan *p, const char *name) {
    if (strcmp(name, "gate") != 0 && strcmp(name, "smoke") != 0) {
        fprintf(stderr, "udbench gate: the suite is gate or smoke, not '%s'\n", name);
        return 2;
    }
    p->smoke = strcmp(name, "smoke") == 0;
    return 0;
}

/* The options of the cells (scenario, backend, procs, batch, keys): 0, or 2 with a message. */
static int set_cells_option(gate *g, gate_plan *p, int c, const char *arg) {
    char *end = NULL;
    errno = 0;
    switch (c) {
    case 'e':
        if (p->nscenarios >= 32) {
            fprintf(stderr, "udbench gate: at most 32 scenarios\n");
            return 2;
        }
        p->scenarios[p->nscenarios++] = arg;
        return 0;
    case 'B':
        if (p->nbackends >= GATE_MAX_CELLS) {
            fprintf(stderr, "udbench gate: at most %d backends\n", GATE_MAX_CELLS);
            return 2;
        }
        p->backends[p->nbackends++] = arg;
        return 0;
    case 'p':
        return sc_opt_int("gate", "--procs", arg, 1, 8, &p->procs);
    case 'n':
        g->batch = strtod(arg, &end);
        g->server_batch = 10 * g->batch;
        if (errno || *end || !(g->batch >= 0.0005 && g->batch <= 1)) {
            fprintf(stderr, "udbench gate: --batch takes 0.0005..1 seconds, not '%s'\n", arg);
            return 2;
        }
        return 0;
    default: /* 'K' */
        g->keys = strtoul(arg, &end, 10);
        if (errno || *end || g->keys < 1 || g->keys > 10000000) {
            fprintf(stderr, "udbench gate: --keys takes 1..10000000, not '%s'\n", arg);
            return 2;
        }
        return 0;
    }
}

/* The options that take a number (k, l, m, a, S): 0, or 2 with a message. */
static int set_number(gate *g, int c, const char *arg) {
    char *end = NULL;
    switch (c) {
    case 'k':
        return sc_opt_int("gate", "--pairs", arg, 3, 500, &g->pairs);
    case 'r':
        return sc_opt_int("gate", "--rounds", arg, 5, 1000, &g->rounds);
    case 'l':
        return sc_opt_int("gate", "--looks", arg, 1, 10, &g->looks);
    case 'm':
        return sc_opt_margin("gate", arg, &g->margin);
    case 'a':
        return sc_opt_alpha("gate", arg, &g->alpha);
    default: /* 'S' */
        g->rng = strtoull(arg, &end, 10);
        if (*end) {
            fprintf(stderr, "udbench gate: bad seed '%s'\n", arg);
            return 2;
        }
        return 0;
    }
}

/* One option c (with optarg): 0 to go on, else the exit status (SC_EHELP after --help). */
static int set_option(gate *g, gate_args *a, int c, const char *arg) {
    /* The options that only keep their argument (checked later, or passed on as they are). */
    const struct {
        int c;
        const char **slot;
    } kept[] = {{'b', &g->base_bin}, {'H', &g->head_bin}, {'o', &a->out}, {1, &a->lb},
                {2, &a->lh},         {3, &a->cb},         {4, &a->ch}};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        if (kept[i].c == c) {
            *kept[i].slot = arg;
            return 0;
        }
    }
    switch (c) {
    case 's':
        return set_suite(&a->plan, arg);
    case 'e':
    case 'B':
    case 'p':
    case 'n':
    case 'K':
        return set_cells_option(g, &a->plan, c, arg);
    case 'M':
        a->mode = !strcmp(arg, "lockstep") ? 1 : !strcmp(arg, "process") ? 2 : -1;
        if (a->mode < 0) {
            fprintf(stderr, "udbench gate: the mode is lockstep or process, not '%s'\n", arg);
            return 2;
        }
        return 0;
    case 'k':
    case 'r':
    case 'l':
    case 'm':
    case 'a':
    case 'S':
        a->margin_set |= c == 'm';
        return set_number(g, c, arg);
    case 'f':
        return sc_opt_format("gate", arg, &a->format);
    case 'v':
        g->verbose = true;
        return 0;
    case 'c':
        if (strcmp(arg, "time") != 0 && strcmp(arg, "count") != 0) {
            fprintf(stderr, "udbench gate: the channel is time or count, not '%s'\n", arg);
            return 2;
        }
        a->count = strcmp(arg, "count") == 0;
        return 0;
    case 'h':
        gate_help();
        return SC_EHELP;
    default:
        fprintf(stderr, "Try 'udbench gate --help'.\n");
        return 2;
    }
}

/* Parses the command line into g and a: 0 to run, else the exit status (SC_EHELP after
 * --help). */
static int parse_gate_args(gate *g, gate_args *a, int argc, char **argv) {
    static const struct option opts[] = {{"base", required_argument, NULL, 'b'},
                                         {"head", required_argument, NULL, 'H'},
                                         {"suite", required_argument, NULL, 's'},
                                         {"scenario", required_argument, NULL, 'e'},
                                         {"backend", required_argument, NULL, 'B'},
                                         {"procs", required_argument, NULL, 'p'},
                                         {"batch", required_argument, NULL, 'n'},
                                         {"keys", required_argument, NULL, 'K'},
                                         {"pairs", required_argument, NULL, 'k'},
                                         {"looks", required_argument, NULL, 'l'},
                                         {"mode", required_argument, NULL, 'M'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"margin", required_argument, NULL, 'm'},
                                         {"alpha", required_argument, NULL, 'a'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"label-base", required_argument, NULL, 1},
                                         {"label-head", required_argument, NULL, 2},
                                         {"commit-base", required_argument, NULL, 3},
                                         {"commit-head", required_argument, NULL, 4},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"channel", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = set_option(g, a, c, optarg);
        if (rc)
            return rc;
    }
    if (optind != argc || !g->base_bin || !g->head_bin) {
        fprintf(stderr, "udbench gate: needs --base BIN and --head BIN and nothing else\n"
                        "Try 'udbench gate --help'.\n");
        return 2;
    }
    if (access(g->base_bin, X_OK) || access(g->head_bin, X_OK)) {
        fprintf(stderr, "udbench gate: %s is not an executable program\n",
                access(g->base_bin, X_OK) ? g->base_bin : g->head_bin);
        return 2;
    }
    return 0;
}

/* The compare document's settings and labels. 0, or -ENOMEM. */
static int gate_setup(gate *g, const gate_args *a) {
    rp_cmp *cmp = g->cmp;
    cmp->margin = g->margin;
    cmp->alpha = g->alpha;
    cmp->pairs_per_look = g->pairs;
    cmp->max_looks = g->looks;
    if (a->count && !a->margin_set)
        g->margin = cmp->margin = 0.01;
    /* rp_set_string fails only for want of memory here (every field is there). */
    if (rp_set_string(&cmp->method, "paired-sign") ||
        rp_set_string(&cmp->channel, a->count ? "instructions" : "time") ||
        rp_set_string(&cmp->base_label, a->lb ? a->lb : g->base_bin) ||
        rp_set_string(&cmp->head_label, a->lh ? a->lh : g->head_bin) ||
        rp_set_string(&cmp->base_commit, a->cb) || rp_set_string(&cmp->head_commit, a->ch))
        return -ENOMEM;
    return 0;
}

int sc_gate_main(int argc, char **argv) {
    static gate g;
    gate_defaults(&g);
    gate_args a = {.format = RP_CMP_TEXT};
    int rc = parse_gate_args(&g, &a, argc, argv);
    if (rc)
        return rc == SC_EHELP ? 0 : rc;
    char scratch[] = "/tmp/udbench-gate-XXXXXX";
    if (!mkdtemp(scratch)) {
        perror("udbench gate: mkdtemp");
        return 1;
    }
    g.scratch = scratch;
    rc = a.count ? 0 : sc_gate_cells(&g, &a.plan);
    if (rc) {
        sc_rmtree(scratch);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN); /* a worker that dies shows as a failed write, not our death */
    if (!a.count && a.mode != 2) {
        int pb = sc_gate_worker_protocol(g.base_bin), ph = sc_gate_worker_protocol(g.head_bin);
        g.lockstep = pb >= 2 && ph >= 2;
        /* UDBENCH_GATE_PIPES: the batches through the workers' pipes (protocol 2), to measure
         * what the shared token saves. */
        g.shared_token = pb >= 3 && ph >= 3 && !getenv("UDBENCH_GATE_PIPES");
        if (!g.lockstep && a.mode == 1) {
            fprintf(stderr, "udbench gate: --mode lockstep: a build has no catalogue `udbench "
                            "gate-worker`\n");
            sc_rmtree(scratch);
            return 2;
        }
        if (!g.lockstep)
            fprintf(stderr, "udbench gate: a build predates the catalogue's lockstep worker; "
                            "whole-process trials\n");
    }
    if ((rc = rp_cmp_new(&g.cmp)) != 0 || (rc = gate_setup(&g, &a)) != 0) {
        fprintf(stderr, "udbench gate: %s\n", sc_strerror(rc));
        rp_cmp_free(g.cmp);
        rmdir(scratch);
        return 1;
    }
    rp_cmp *cmp = g.cmp;
    double t0 = sc_gate_now();
    double cal[9];
    for (int i = 0; i < 9; i++)
        cal[i] = sc_gate_canary();
    g.canary_ref = rp_median_sort(cal, 9);
    for (size_t i = 0; i < g.ncells; i++)
        g.open[i] = true;
    rc = a.count ? sc_gate_count_channel(&g) : sc_gate_time_channel(&g);
    sc_rmtree(scratch);
    if (rc) {
        rp_cmp_free(cmp);
        fprintf(stderr, "udbench gate: a trial failed (%s); no verdict\n", sc_strerror(rc));
        return 4;
    }
    cmp->wall_seconds = sc_gate_now() - t0;
    rp_cmp_settle(cmp);
    if (a.out && rp_cmp_write(cmp, a.out))
        fprintf(stderr, "udbench gate: writing %s: %s\n", a.out, strerror(errno));
    rp_cmp_report(cmp, a.format, stdout);
    fflush(stdout);
    int status = cmp->status;
    rp_cmp_free(cmp);
    return status;
}
