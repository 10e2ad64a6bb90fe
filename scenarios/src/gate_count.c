/*
 * gate_count.c - the deterministic channel of the gate: instructions per operation of
 * single-process CPU-bound cases (udcount) under cachegrind, in a fixed environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gate_internal.h"
#include "rp_stats.h"

/* The cases of udcount, and how many operations each runs (N, then 2N). */
static const struct {
    const char *name, *backend;
    unsigned long n;
} count_cases[] = {
    {"ud-get", "ultradict:", 2000}, {"ud-set", "ultradict:", 2000}, {"ud-incr", "ultradict:", 2000},
    {"local-get", "local:", 2000},  {"local-set", "local:", 2000},  {"encode", "ultradict:", 20},
    {"decode", "ultradict:", 20},
};

/* Instructions of one run of udcount under cachegrind, in a fixed environment: no address
 * randomisation (setarch -R), a fixed argv, environment and working directory. */
static int count_run(const gate *g, const char *udcount, const char *name, unsigned long n,
                     double *instr) {
    char log[600], nbuf[32];
    snprintf(log, sizeof log, "%s/count.err", g->scratch);
    snprintf(nbuf, sizeof nbuf, "%lu", n);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || chdir(g->scratch))
            _exit(127);
        dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0)
            dup2(nul, 1);
        char *argv[] = {"setarch",
                        "-R",
                        "valgrind",
                        "--tool=cachegrind",
                        "--cache-sim=no",
                        "--cachegrind-out-file=/dev/null",
                        (char *)udcount,
                        (char *)name,
                        nbuf,
                        NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
        execve("/usr/bin/setarch", argv, envp);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "udbench gate: %s %s %lu under valgrind failed (see %s)\n", udcount, name,
                n, log);
        return SC_ETRIAL;
    }
    FILE *f = fopen(log, "r");
    char line[512];
    *instr = -1;
    while (f && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "I   refs:");
        if (!p)
            continue;
        double v = 0;
        for (p += 9; *p; p++)
            if (*p >= '0' && *p <= '9')
                v = v * 10 + (*p - '0');
        *instr = v;
    }
    if (f)
        fclose(f);
    if (*instr < 0)
        fprintf(stderr, "udbench gate: no instruction count in %s\n", log);
    return *instr < 0 ? SC_ETRIAL : 0;
}

/* Instructions per operation: the difference of runs with 2N and N operations, over N. */
static int count_per_op(const gate *g, const char *bin, size_t ci, double *per_op) {
    char udcount[4096];
    const char *slash = strrchr(bin, '/');
    snprintf(udcount, sizeof udcount, "%.*sudcount", slash ? (int)(slash - bin + 1) : 0, bin);
    if (access(udcount, X_OK)) {
        fprintf(stderr, "udbench gate: %s is missing: the build predates the instruction channel\n",
                udcount);
        return SC_ENOTOOL;
    }
    double a, b;
    unsigned long n = count_cases[ci].n;
    int rc = count_run(g, udcount, count_cases[ci].name, n, &a);
    if (!rc)
        rc = count_run(g, udcount, count_cases[ci].name, 2 * n, &b);
    if (rc)
        return rc;
    *per_op = (b - a) / (double)n;
    return 0;
}

int sc_gate_count_channel(gate *g) {
    if (access("/usr/bin/setarch", X_OK) ||
        (access("/usr/bin/valgrind", X_OK) && access("/bin/valgrind", X_OK))) {
        fprintf(stderr, "udbench gate: the instruction channel needs valgrind and setarch\n");
        return SC_ENOTOOL;
    }
    double delta = log1p(g->margin);
    for (size_t ci = 0; ci < sizeof count_cases / sizeof *count_cases; ci++) {
        double base, head;
        int rc = count_per_op(g, g->base_bin, ci, &base);
        if (!rc)
            rc = count_per_op(g, g->head_bin, ci, &head);
        if (rc)
            return rc;
        rp_cmp_item *it = rp_cmp_add_item(g->cmp);
        if (!it || rp_set_string(&it->scenario, "count") ||
            rp_set_string(&it->backend, count_cases[ci].backend) ||
            rp_set_string(&it->op, count_cases[ci].name))
            return -ENOMEM;
        it->merit = rp_merit_of("count", count_cases[ci].name);
        it->base_value = base;
        it->head_value = head;
        it->ratio = it->ratio_lo = it->ratio_hi = base > 0 ? head / base : NAN;
        it->confidence = 1; /* one deterministic count per build */
        it->n_base = it->n_head = 1;
        double d = log(it->ratio);
        it->verdict = isfinite(d) ? rp_verdict(d, d, delta) : RP_VERDICT_INCONCLUSIVE;
        if (g->verbose)
            fprintf(stderr, "  count %s: %.2f -> %.2f instructions per operation\n",
                    count_cases[ci].name, base, head);
    }
    return 0;
}
