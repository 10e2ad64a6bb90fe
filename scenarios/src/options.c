/*
 * options.c - `udbench run`'s command line into a plan: the suites' presets, then each option
 * over them, then the checks that span options and the default backends.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- suites ---- */

/* Appends scenario id to the plan. 0 or -ENOMEM. */
static int add_scenario(sc_plan *p, const char *id) {
    if (p->nscenarios == p->cap_scenarios) {
        int cap = p->cap_scenarios ? 2 * p->cap_scenarios : 32;
        const char **v = realloc(p->scenarios, (size_t)cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->scenarios = v;
        p->cap_scenarios = cap;
    }
    p->scenarios[p->nscenarios++] = id;
    return 0;
}

/* Every entry of the catalogue, however many. 0 or -ENOMEM. */
static int add_all_scenarios(sc_plan *p) {
    p->nscenarios = 0;
    int rc = 0;
    for (size_t i = 0; sc_catalogue[i] && !rc; i++)
        rc = add_scenario(p, sc_catalogue[i]->id);
    return rc;
}

/* Sets the preset of a suite. Returns 0, -ENOMEM, or SC_EUSAGE for an unknown suite. */
static int apply_suite(sc_plan *p, const char *suite) {
    if (add_all_scenarios(p))
        return -ENOMEM;
    p->base.ops = 0;
    p->base.keys = 10000;
    p->base.value_size = 100;
    p->base.zipf_theta = 0;
    p->base.seed = 1;
    p->base.batch = 0;
    p->base.primitive = "auto";
    p->large_sizes[0] = 65536;
    p->nlarge = 1;
    p->large_bytes = 16ull << 20;
    p->noise_threshold = 0.25;
    p->base.lockstep = true;
    if (!strcmp(suite, "smoke")) {
        p->procs[0] = 1;
        p->procs[1] = 2;
        p->nprocs = 2;
        p->base.duration = 0.01;
        p->base.repeat = 3;
        p->base.keys = 1000;
        p->entries[0] = 200;
        p->nentries = 1;
        p->large_bytes = 2ull << 20;
        p->noise_threshold = 0.5;
    } else if (!strcmp(suite, "default")) {
        p->procs[0] = 1;
        p->procs[1] = 2;
        p->nprocs = 2;
        /* Lockstep rounds of 5 ms batches: the machine's state changes within a tenth of a
         * second here, and two batches a few ms apart mostly see the same one. 40 rounds give
         * a 95% interval of the median between the 14th and 27th of the paired ratios. */
        p->base.duration = 0.005;
        p->base.repeat = 40;
        /* Larger dicts are in the full suite: a remote store without a bulk primitive
         * (Workers KV) needs about two minutes per 10k-entry dump and load. */
        p->entries[0] = 1000;
        p->nentries = 1;
        p->large_bytes = 8ull << 20;
    } else if (!strcmp(suite, "full")) {
        static const int procs[] = {1, 2, 4, 8};
        memcpy(p->procs, procs, sizeof procs);
        p->nprocs = 4;
        p->base.duration = 0.02;
        p->base.repeat = 60;
        p->base.keys = 100000;
        static const uint64_t entries[] = {1000, 10000, 100000, 1000000};
        memcpy(p->entries, entries, sizeof entries);
        p->nentries = 4;
        p->large_sizes[1] = 1048576;
        p->nlarge = 2;
        p->large_bytes = 64ull << 20;
    } else {
        return SC_EUSAGE;
    }
    p->suite = suite;
    return 0;
}

/* ---- option parsing ---- */

static int bad(const char *what, const char *arg) {
    fprintf(stderr, "udbench: run: %s '%s'\nTry 'udbench run --help'.\n", what, arg);
    return SC_EUSAGE;
}

static int parse_u64(const char *s, uint64_t *out, bool suffixes) {
    if (!s || !*s || *s == '-' || *s == '+')
        return SC_EUSAGE;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return SC_EUSAGE;
    uint64_t mul = 1;
    if (suffixes && *end) {
        if ((*end == 'K' || *end == 'k') && end[1] == '\0')
            mul = 1024;
        else if ((*end == 'M' || *end == 'm') && end[1] == '\0')
            mul = (uint64_t)1024 * 1024;
        else
            return SC_EUSAGE;
    } else if (*end) {
        return SC_EUSAGE;
    }
    if (mul > 1 && v > UINT64_MAX / mul)
        return SC_EUSAGE;
    *out = v * mul;
    return 0;
}

static int parse_double(const char *s, double *out) {
    if (!s || !*s)
        return SC_EUSAGE;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return SC_EUSAGE;
    *out = v;
    return 0;
}

/* A comma-separated list of positive integers, at most `max` of them, each at most `limit`. */
static int parse_list(const char *s, uint64_t *out, int max, uint64_t limit) {
    int n = 0;
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return SC_EUSAGE;
    strcpy(buf, s);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (n == max || parse_u64(tok, &v, false) || v == 0 || v > limit)
            return SC_EUSAGE;
        out[n++] = v;
    }
    return n ? n : -1;
}

/* What the options given so far decided, for the checks that span options. */
typedef struct parse_state {
    bool scenarios_given, ops_given, duration_given;
} parse_state;

/* --suite first, since every other option overrides part of it. */
static const char *find_suite(int argc, char **argv) {
    const char *suite = "default";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--suite") && i + 1 < argc)
            suite = argv[i + 1];
        else if (!strncmp(argv[i], "--suite=", 8))
            suite = argv[i] + 8;
    }
    return suite;
}

/* What runs and where the results go: --scenario, --backend, --out, --format. */
static int plan_option(sc_plan *p, int c, char *arg, parse_state *st) {
    switch (c) {
    case 's':
        if (!sc_find_scenario(arg))
            return bad("unknown scenario", arg);
        if (!st->scenarios_given)
            p->nscenarios = 0;
        st->scenarios_given = true;
        if (add_scenario(p, arg))
            return bad("out of memory at", arg);
        return 0;
    case 'b':
        if (!strchr(arg, ':'))
            return bad("a backend is a URI such as sqlite:/tmp/db, not", arg);
        return sc_add_backend(&p->backends, arg, true) ? SC_EUSAGE : 0;
    case 'o':
        p->out = arg;
        return 0;
    case 'M':
        if (strcmp(arg, "lockstep") != 0 && strcmp(arg, "repetitions") != 0)
            return bad("--method takes lockstep or repetitions, not", arg);
        p->base.lockstep = strcmp(arg, "lockstep") == 0;
        return 0;
    case 'f':
        p->format = rp_format_parse(arg);
        if (p->format < 0 || p->format == RP_FORMAT_SVG)
            return bad("--format takes text, md or csv, not", arg);
        return 0;
    default:
        return SC_ENOTFOUND;
    }
}

/* How long and how often: --ops, --duration, --repeat, --seed. */
static int count_option(sc_plan *p, int c, char *arg, parse_state *st) {
    uint64_t u;
    switch (c) {
    case 'n':
        if (parse_u64(arg, &u, false) || u == 0)
            return bad("--ops takes a positive count, not", arg);
        p->base.ops = u;
        st->ops_given = true;
        return 0;
    case 'd':
        if (parse_double(arg, &p->base.duration) || p->base.duration <= 0 ||
            p->base.duration > 86400)
            return bad("--duration takes seconds (0 < S <= 86400), not", arg);
        st->duration_given = true;
        return 0;
    case 'r':
        if (parse_u64(arg, &u, false) || u == 0 || u > RP_MAX_REPS)
            return bad("--repeat takes 1 to 1000 (RP_MAX_REPS), not", arg);
        p->base.repeat = (int)u;
        p->repeat_given = true;
        return 0;
    case 'x':
        if (parse_u64(arg, &u, false))
            return bad("--seed takes a non-negative integer, not", arg);
        p->base.seed = u;
        return 0;
    default:
        return SC_ENOTFOUND;
    }
}

/* --distribution uniform | zipf:THETA. */
static int distribution_option(sc_plan *p, const char *arg) {
    if (!strcmp(arg, "uniform")) {
        p->base.zipf_theta = 0;
        return 0;
    }
    if (!strncmp(arg, "zipf:", 5) && parse_double(arg + 5, &p->base.zipf_theta) == 0 &&
        p->base.zipf_theta > 0 && p->base.zipf_theta < 1)
        return 0;
    return bad("--distribution takes uniform or zipf:THETA with 0 < THETA < 1, not", arg);
}

/* The shape of the workload: --procs, --keys, --value-size, --entries, --primitive, --pin. */
static int shape_option(sc_plan *p, int c, char *arg) {
    uint64_t u, list[16];
    int n;
    switch (c) {
    case 'p':
        if ((n = parse_list(arg, list, 16, SC_MAX_PROCS)) < 0)
            return bad("--procs takes a list of 1 to 64 processes, e.g. 1,2,4, not", arg);
        for (int i = 0; i < n; i++)
            p->procs[i] = (int)list[i];
        p->nprocs = n;
        return 0;
    case 'e':
        if ((n = parse_list(arg, list, 8, 100000000)) < 0)
            return bad("--entries takes a list of dict sizes, e.g. 1000,100000, not", arg);
        for (int i = 0; i < n; i++)
            p->entries[i] = list[i];
        p->nentries = n;
        return 0;
    case 'k':
        if (parse_u64(arg, &u, false) || u == 0 || u > 100000000)
            return bad("--keys takes 1 to 100000000 keys, not", arg);
        p->base.keys = u;
        return 0;
    case 'v':
        if (parse_u64(arg, &u, true) || u > 64ull * 1024 * 1024)
            return bad("--value-size takes 0 to 64M bytes, not", arg);
        p->base.value_size = (size_t)u;
        p->large_sizes[0] = (size_t)u > 65536 ? (size_t)u : 65536;
        p->nlarge = 1;
        return 0;
    case 'D':
        return distribution_option(p, arg);
    case 'P':
        if (strcmp(arg, "auto") != 0 && strcmp(arg, "incr") != 0 && strcmp(arg, "lock") != 0 &&
            strcmp(arg, "none") != 0)
            return bad("--primitive takes auto, incr, lock or none, not", arg);
        p->base.primitive = arg;
        return 0;
    case 'I':
        p->base.pin = true;
        return 0;
    default:
        return SC_ENOTFOUND;
    }
}

/* The checks across options, the default backends, and null: as the harness floor. */
static int finish_plan(sc_plan *p, const parse_state *st) {
    if (st->ops_given && st->duration_given)
        return bad("give --ops or --duration, not both:", "--ops/--duration");
    if (p->backends.n == 0 && sc_default_backends(&p->backends))
        return SC_EUSAGE;
    /* The harness floor: null: runs in every group like any backend. */
    bool have_null = false;
    for (size_t i = 0; i < p->backends.n; i++)
        have_null = have_null || p->backends.v[i].desc.role == KV_ROLE_FLOOR;
    if (!have_null && sc_add_backend(&p->backends, SC_FLOOR_URI, false))
        return SC_EUSAGE;
    return 0;
}

static int parse_plan(int argc, char **argv, sc_plan *p) {
    static const struct option opts[] = {{"suite", required_argument, NULL, 'S'},
                                         {"scenario", required_argument, NULL, 's'},
                                         {"backend", required_argument, NULL, 'b'},
                                         {"procs", required_argument, NULL, 'p'},
                                         {"ops", required_argument, NULL, 'n'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"keys", required_argument, NULL, 'k'},
                                         {"value-size", required_argument, NULL, 'v'},
                                         {"distribution", required_argument, NULL, 'D'},
                                         {"entries", required_argument, NULL, 'e'},
                                         {"repeat", required_argument, NULL, 'r'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"method", required_argument, NULL, 'M'},
                                         {"seed", required_argument, NULL, 'x'},
                                         {"primitive", required_argument, NULL, 'P'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"pin", no_argument, NULL, 'I'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    memset(p, 0, sizeof *p);
    const char *suite = find_suite(argc, argv);
    int src = apply_suite(p, suite);
    if (src == -ENOMEM)
        return bad("out of memory for suite", suite);
    if (src)
        return bad("unknown suite (smoke, default, full)", suite);

    parse_state st = {false, false, false};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return SC_EHELP;
        if (c == 'S')
            continue;
        int rc = plan_option(p, c, optarg, &st);
        if (rc == SC_ENOTFOUND)
            rc = count_option(p, c, optarg, &st);
        if (rc == SC_ENOTFOUND)
            rc = shape_option(p, c, optarg);
        if (rc == SC_ENOTFOUND)
            return bad("unknown or incomplete option", argv[optind - 1]);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return bad("unexpected argument", argv[optind]);
    return finish_plan(p, &st);
}

int sc_plan_parse(int argc, char **argv, sc_plan *p) {
    int rc = parse_plan(argc, argv, p);
    /* A plan that is not returned owns nothing (the scenario list is allocated). */
    if (rc)
        sc_plan_free(p);
    return rc;
}
