/*
 * main.c - udbench: runs suites of scenarios against key-value backends and reports the figures.
 *
 *   udbench run [options]        run every (scenario x backend x parameters) cell
 *   udbench list                 the scenarios, and the backends reachable now
 *   udbench report FILE [--format text|md|csv|svg]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gate.h"
#include "machine.h"
#include "sc.h"
#include "sc_mpi.h"
#include "stability.h"
#include "udbench_commit.h"
#ifndef UD_BUILD_TYPE
#define UD_BUILD_TYPE "unknown"
#endif
#define UDBENCH_VERSION "1.0.0"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

/* Prints "udbench: WHAT 'ARG'" (or just WHAT) and a hint; returns the usage exit status. */
static int usage_error(const char *what, const char *arg) {
    if (arg)
        fprintf(stderr, "udbench: %s '%s'\nTry 'udbench --help'.\n", what, arg);
    else
        fprintf(stderr, "udbench: %s\nTry 'udbench --help'.\n", what);
    return 2;
}

static void print_help(void) {
    printf("Usage: udbench COMMAND [OPTIONS]\n"
           "Runs multi-process scenarios against key-value backends and ranks them.\n\n"
           "Commands:\n"
           "  run      run a suite of scenarios against backends; prints the ranking\n"
           "  list     list the scenarios, and the backends with whether they answer now\n"
           "  report   print the reports of a results document\n"
           "  stability  compare two runs of one build (A/A): agreement of the medians\n"
           "  compare  compare two results documents: ratios, intervals, verdicts\n"
           "  gate     paired interleaved trials of two builds: pass, fail or inconclusive\n"
           "  gate-worker  one side of a lockstep pair of the gate (run by gate, not by hand)\n"
           "  export   a results or compare document for other CI tools\n"
           "  history  change points over the results of successive commits\n\n"
           "'udbench COMMAND --help' describes a command.\n");
}

static void print_run_help(void) {
    printf("Usage: udbench run [OPTIONS]\n"
           "Runs every (scenario x backend x parameters) cell, prints the ranking to stdout and\n"
           "progress to stderr, and writes the results document (--out).\n\n"
           "  --suite smoke|default|full   the preset to start from (default: default)\n"
           "  --scenario ID                a scenario to run (repeatable; default: the suite's)\n"
           "  --backend URI                a backend (repeatable; default: local:, ultradict:,\n"
           "                               sqlite: and lmdb: in a temporary folder, plus the URIs\n"
           "                               in $UDBENCH_BACKENDS, separated by spaces)\n"
           "  --procs LIST                 worker processes, e.g. 1,2,4 (at most %d)\n"
           "  --ops N                      operations per batch (lockstep) or per measured\n"
           "                               phase (repetitions), all processes together\n"
           "  --duration S                 seconds per batch (lockstep) or per measured phase\n"
           "                               (repetitions), when --ops is not given\n"
           "  --keys K                     keys in the working set\n"
           "  --value-size V               value size in bytes (suffixes K, M)\n"
           "  --distribution D             uniform or zipf:THETA (e.g. zipf:0.99)\n"
           "  --entries LIST               dict sizes of the dump scenario, e.g. 1000,100000\n"
           "  --repeat R, --rounds R       rounds: each runs every backend of a cell group\n"
           "                               once, in a shuffled order (median, 95%% interval\n"
           "                               of the median, paired ratios against local:)\n"
           "  --method lockstep|repetitions  lockstep (default): the backends of a group are\n"
           "                               alive at once and take turns running one short\n"
           "                               batch each per round; repetitions: each round\n"
           "                               starts every backend's workers anew\n"
           "  --pin                        run worker i on CPU i mod the number of CPUs\n"
           "  --seed N                     seed of the operation sequences\n"
           "  --primitive P                lock scenario: auto, incr, lock or none\n"
           "  --out FILE                   write the results document (JSON, udbench/3) here\n"
           "  --format text|md|csv         the report printed at the end (default text)\n"
           "  --mpi                        under mpirun: every rank runs each cell's workers on\n"
           "                               its host, rank 0 merges and writes the document%s\n\n"
           "Scenarios (udbench list describes them):\n ",
           SC_MAX_PROCS,
           sc_mpi_built() ? "" : "\n                               (not in this build: no MPI)");
    for (int i = 0; sc_catalogue[i]; i++)
        printf(" %s", sc_catalogue[i]->id);
    printf("\n"
           "The null: backend (does nothing) is always added: its figures are the harness floor.\n"
           "Exit status: 0 when every cell ran (n/a cells included), 1 when a cell failed or a\n"
           "backend was unreachable, 2 for a usage error, 130 when interrupted.\n");
}

/* ---- list ---- */

static int cmd_list(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: udbench list\nLists the scenarios, and the default backends with whether "
               "they answer now.\n");
        return 0;
    }
    if (argc > 1)
        return usage_error("list: unexpected argument", argv[1]);
    printf("Scenarios:\n");
    for (int i = 0; sc_catalogue[i]; i++)
        printf("  %-11s %s\n", sc_catalogue[i]->id, sc_catalogue[i]->summary);
    sc_backends bs;
    int rc = sc_default_backends(&bs);
    if (rc)
        return 1;
    printf("\nBackends:\n");
    for (size_t i = 0; i < bs.n; i++) {
        sc_backend *b = &bs.v[i];
        sc_probe(b);
        if (b->reachable) {
            char caps[256];
            printf("  %-40s reachable  %s %s [%s]\n", b->label, b->name, b->version,
                   kv_caps_string(b->caps, caps, sizeof caps));
        } else {
            printf("  %-40s UNREACHABLE  %s\n", b->label, b->error);
        }
    }
    sc_backends_free(&bs);
    return 0;
}

/* ---- report ---- */

static int cmd_report(int argc, char **argv) {
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int format = RP_FORMAT_TEXT, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("Usage: udbench report FILE [--format text|md|csv|svg]\n"
                   "Prints a report made from a results document alone.\n");
            return 0;
        }
        if (c != 'f')
            return usage_error("report: unknown or incomplete option", argv[optind - 1]);
        format = rp_format_parse(optarg);
        if (format < 0)
            return usage_error("report: the format is text, md, csv or svg, not", optarg);
    }
    if (optind != argc - 1)
        return usage_error("report: expects exactly one results file", NULL);
    rp_doc *doc;
    char err[512] = "";
    int rc = rp_doc_read(argv[optind], &doc, err, sizeof err);
    if (rc) {
        fprintf(stderr, "udbench: %s: %s\n", argv[optind], err[0] ? err : rp_strerror(rc));
        return 1;
    }
    rc = rp_report(doc, format, stdout);
    rp_doc_free(doc);
    if (rc || fflush(stdout) != 0) {
        fprintf(stderr, "udbench: report: %s\n", rc ? rp_strerror(rc) : strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- run ---- */

/* Copies argv without --mpi into *plan_argv (the plan does not know the option; the run
 * records the whole command line) and starts MPI when it was there. Returns 0, 1 (out of
 * memory) or 2 (the message was printed). */
static int mpi_start(int argc, char **argv, int *plan_argc, char ***plan_argv) {
    bool asked = false;
    char **v = calloc((size_t)argc + 1, sizeof *v);
    if (!v)
        return 1;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--mpi") == 0)
            asked = true;
        else
            v[n++] = argv[i];
    }
    *plan_argc = n;
    *plan_argv = v;
    char err[256];
    if (asked && sc_mpi_init(NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "udbench: %s\n", err);
        return 2;
    }
    return 0;
}

/* Under MPI with several ranks: the backends every rank can share, or 2 with the reason. The
 * default stores in a private temporary folder are dropped (each rank would have its own). */
static int mpi_backends(sc_plan *plan) {
    if (sc_mpi_size() < 2)
        return 0;
    sc_backends *bs = &plan->backends;
    size_t kept = 0;
    for (size_t i = 0; i < bs->n; i++) {
        const sc_backend *b = &bs->v[i];
        const char *why = sc_mpi_refuse(b->label);
        if (why && b->explicit_) {
            if (sc_mpi_rank() == 0)
                fprintf(stderr, "udbench: --mpi: %s %s (%d ranks on %s%s)\n", b->label, why,
                        sc_mpi_size(), sc_mpi_host(0),
                        sc_mpi_multi_host() ? " and other hosts" : "");
            return 2;
        }
        if (why || b->in_tmpdir)
            continue;
        bs->v[kept++] = *b;
    }
    bs->n = kept;
    return 0;
}

/* Records the host of every rank in the run (udbench/3 run.hosts). 0, or -ENOMEM. */
static int mpi_hosts(rp_run *run) {
    if (!sc_mpi_active())
        return 0;
    if (!(run->hosts = calloc((size_t)sc_mpi_size(), sizeof *run->hosts)))
        return -ENOMEM;
    int rc = 0;
    for (int r = 0; r < sc_mpi_size() && !rc; r++)
        rc = rp_set_string(&run->hosts[run->nhosts++], sc_mpi_host(r));
    return rc;
}

/* The run's own fields: the tool, the command line, the settings, the hosts, the machine. 0,
 * or -ENOMEM. */
static int describe_run(rp_run *run, const sc_plan *plan, int full_argc, char **full_argv) {
    char when[64];
    sc_iso_time(when, sizeof when);
    run->seed = plan->base.seed;
    run->timer_overhead_ns = sc_timer_overhead();
    run->noise_threshold = plan->noise_threshold;
    run->rounds = plan->base.repeat;
    run->pinned = plan->base.pin;
    run->lockstep = plan->base.lockstep;
    if (rp_set_string(&run->started, when) || rp_set_string(&run->tool_version, UDBENCH_VERSION) ||
        rp_set_string(&run->git_commit, UD_GIT_COMMIT) ||
        rp_set_string(&run->build_type, UD_BUILD_TYPE) || rp_set_string(&run->suite, plan->suite))
        return -ENOMEM;
    if (!(run->argv = calloc((size_t)full_argc, sizeof *run->argv)))
        return -ENOMEM;
    int rc = 0;
    for (int i = 0; i < full_argc && !rc; i++)
        rc = rp_set_string(&run->argv[run->argc++], full_argv[i]);
    if (!rc)
        rc = mpi_hosts(run);
    return rc ? rc : sc_machine(&run->machine);
}

/* Under --mpi every rank runs each cell's workers in whole repetitions: the lockstep token
 * lives in one host's shared memory, so the default method becomes repetitions, and an explicit
 * --method lockstep is refused. 0 or 2. */
static int mpi_method(int argc, char **argv, sc_plan *plan) {
    if (!sc_mpi_active())
        return 0;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--method=lockstep") == 0 ||
            (strcmp(argv[i], "--method") == 0 && i + 1 < argc &&
             strcmp(argv[i + 1], "lockstep") == 0)) {
            if (sc_mpi_rank() == 0)
                fprintf(stderr, "udbench: --mpi runs whole repetitions on every rank: it cannot "
                                "be combined with --method lockstep (use --method repetitions)\n");
            return 2;
        }
    plan->base.lockstep = false;
    return 0;
}

/* The end of the run: its time and load, the document written (--out) and the report. Returns
 * the exit status: `status`, or 1 when it was 0 and the document could not be completed or
 * written. */
static int end_run(const sc_plan *plan, rp_doc *doc, int status) {
    rp_run *run = &doc->run;
    char when[64];
    sc_loadavg(run->machine.load_after);
    sc_iso_time(when, sizeof when);
    int rc = rp_set_string(&run->finished, when);
    if (rc) {
        fprintf(stderr, "udbench: the end of the run: %s\n", sc_strerror(rc));
        status = status ? status : 1;
    }
    /* Under MPI only rank 0 holds the merged figures: the other ranks write nothing. */
    bool root = sc_mpi_rank() == 0;
    if (plan->out && root) {
        char err[512] = "";
        rc = rp_doc_check(doc, err, sizeof err);
        if (!rc)
            rc = rp_doc_write(doc, plan->out);
        if (rc) {
            fprintf(stderr, "udbench: writing %s: %s\n", plan->out, err[0] ? err : rp_strerror(rc));
            status = status ? status : 1;
        }
    }
    if (root && doc->ncells > 0) {
        rc = rp_report(doc, plan->format, stdout);
        fflush(stdout);
        if (rc)
            fprintf(stderr, "udbench: report: %s\n", rp_strerror(rc));
    }
    return status;
}

static int run_plan(int argc, char **argv, int full_argc, char **full_argv) {
    sc_plan plan;
    int rc = sc_plan_parse(argc, argv, &plan);
    if (rc == SC_EHELP)
        return 0;
    if (rc)
        return 2;
    if (mpi_method(argc, argv, &plan) || mpi_backends(&plan)) {
        sc_plan_free(&plan);
        return 2;
    }

    rp_doc *doc = NULL;
    if ((rc = rp_doc_new(&doc)) != 0 ||
        (rc = describe_run(&doc->run, &plan, full_argc, full_argv))) {
        fprintf(stderr, "udbench: %s\n", sc_strerror(rc));
        rp_doc_free(doc);
        sc_plan_free(&plan);
        return 1;
    }
    int status = sc_plan_backends(&plan, doc);
    if (status == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        status = sc_plan_execute(&plan, doc, &interrupted);
    }
    status = end_run(&plan, doc, status);
    rp_doc_free(doc);
    sc_plan_free(&plan);
    if (interrupted) {
        fprintf(stderr, "udbench: interrupted; the cells that finished are kept\n");
        return 130;
    }
    return status;
}

static int cmd_run(int argc, char **argv, int full_argc, char **full_argv) {
    int n = 0;
    char **v = NULL;
    int status = mpi_start(argc, argv, &n, &v);
    if (status == 0)
        status = run_plan(n, v, full_argc, full_argv);
    sc_mpi_finalize();
    free(v);
    return status;
}

/* The commands that take their own arguments only (argv[0] is the command's name). */
static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
} commands[] = {
    {"list", cmd_list},
    {"report", cmd_report},
    {"stability", sc_cmd_stability},
    {"compare", sc_compare_main},
    {"gate", sc_gate_main},
    {"gate-worker", sc_gate_worker_main},
    {"export", sc_export_main},
    {"history", sc_history_main},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help();
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help();
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("udbench %s (commit %s, %s build)\n", UDBENCH_VERSION, UD_GIT_COMMIT, UD_BUILD_TYPE);
        return 0;
    }
    if (!strcmp(cmd, "run")) {
        if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            print_run_help();
            return 0;
        }
        return cmd_run(argc - 1, argv + 1, argc, argv);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].main(argc - 1, argv + 1);
    return usage_error("unknown command", cmd);
}
