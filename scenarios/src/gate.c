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

/* One cell of a gate suite: a scenario on one backend with its parameters. */
typedef struct gate_cell {
    const char *scenario, *backend, *procs, *ops;
} gate_cell;

/* The focused gate suite: single-process and contended UltraDict paths, and the plain dict as
 * a second backend, each trial about 0.1 s here. `@` in a backend is the run's scratch folder
 * (for file-based backends such as sqlite:@/gate.db). */
static const gate_cell suite_gate[] = {
    {"read", "ultradict:", "1", "200000"}, {"write", "ultradict:", "1", "60000"},
    {"lock", "ultradict:", "2", "40000"},  {"read", "local:", "1", "200000"},
    {"write", "local:", "1", "200000"},
};
static const gate_cell suite_smoke[] = {
    {"read", "ultradict:", "1", "100000"},
    {"read", "local:", "1", "100000"},
};
/* Repetitions inside one trial process; the trial's figure is its best repetition, because
 * interference from other tenants only ever slows a repetition down. */
#define GATE_REPEAT "5"

typedef struct trial {
    size_t cell;  /* the trial's cell in its document (udbench/2 adds the null: floor cells) */
    double value; /* per op of the cell, in cell order; the first op's figure */
    rp_doc *doc;
    double wall, steal_frac, nivcsw_rate, canary;
} trial;

typedef struct gate {
    const char *base_bin, *head_bin, *scratch;
    const gate_cell *cells;
    size_t ncells;
    int pairs, looks;
    double margin, alpha, canary_ref, canary_limit, steal_limit, csw_factor;
    uint64_t rng;
    bool verbose;
    rp_cmp *cmp;
    /* item index of each (cell, op), -1 until the first trial names the ops */
    int item_of[64][4];
    int nops[64];
    bool open[64];
    double csw_rates[64][512];
    double canaries[64]; /* a ring of the last canary times */
    size_t ncanary;
    size_t ncsw[64];
} gate;

static uint64_t next_rand(gate *g) {
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A fixed amount of integer work: its time says how much of a core this process gets now. */
static double canary(void) {
    double t0 = now_s();
    volatile uint64_t x = 1;
    for (uint64_t i = 0; i < 2000000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return now_s() - t0;
}

/* Steal ticks and total ticks of the machine, from the first line of /proc/stat
 * ("cpu user nice system idle iowait irq softirq steal ..."); both 0 when it cannot be read. */
static void cpu_ticks(uint64_t *steal, uint64_t *total) {
    *steal = *total = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    char line[512];
    bool ok = fgets(line, sizeof line, f) && strncmp(line, "cpu ", 4) == 0;
    fclose(f);
    uint64_t v[8], sum = 0;
    char *p = line + 4;
    for (int i = 0; ok && i < 8; i++) {
        char *end = NULL;
        errno = 0;
        unsigned long long x = strtoull(p, &end, 10);
        ok = errno == 0 && end != p;
        v[i] = x;
        sum += x;
        p = end;
    }
    if (ok) {
        *steal = v[7];
        *total = sum;
    }
}

/* The backend URI of cell c, `@` replaced by the run's scratch folder. */
static void trial_backend(const gate *g, const gate_cell *c, char *backend, size_t len) {
    const char *at = strchr(c->backend, '@');
    if (at)
        snprintf(backend, len, "%.*s%s%s", (int)(at - c->backend), c->backend, g->scratch, at + 1);
    else
        snprintf(backend, len, "%s", c->backend);
}

/* The cell of the backend asked for, else the first that is not null:, else ncells: documents
 * may hold more (udbench/2 measures the harness's own cost on null: beside every group). */
static size_t trial_cell(const rp_doc *doc, const char *backend) {
    for (size_t i = 0; i < doc->ncells; i++)
        if (strcmp(doc->cells[i].backend, backend) == 0)
            return i;
    for (size_t i = 0; i < doc->ncells; i++)
        if (strcmp(doc->cells[i].backend, "null:") != 0)
            return i;
    return doc->ncells;
}

/* Reads the trial's document back and finds its cell. 0, or -1 with a message. */
static int trial_read(const char *bin, const gate_cell *c, const char *backend, const char *out,
                      trial *t) {
    char err[512] = "";
    if (rp_doc_read(out, &t->doc, err, sizeof err)) {
        fprintf(stderr, "udbench gate: %s: %s\n", out, err);
        return -1;
    }
    t->cell = trial_cell(t->doc, backend);
    const rp_cell *cell = t->cell < t->doc->ncells ? &t->doc->cells[t->cell] : NULL;
    if (!cell || cell->status != RP_STATUS_OK || cell->nmetrics == 0) {
        fprintf(stderr, "udbench gate: %s: the trial of %s on %s did not run: %s\n", bin,
                c->scenario, backend, cell && cell->reason ? cell->reason : "no cell");
        return -1;
    }
    return 0;
}

/* Runs one trial: BIN run ... --out FILE; reads the document back. 0, or -1 with a message. */
static int run_trial(gate *g, const char *bin, const gate_cell *c, trial *t) {
    char backend[512], out[512];
    trial_backend(g, c, backend, sizeof backend);
    snprintf(out, sizeof out, "%s/trial.json", g->scratch);
    char *argv[] = {(char *)bin,  "run",
                    "--scenario", (char *)c->scenario,
                    "--backend",  backend,
                    "--procs",    (char *)c->procs,
                    "--ops",      (char *)c->ops,
                    "--repeat",   "1",
                    "--keys",     "1000",
                    "--format",   "csv",
                    "--out",      out,
                    NULL};
    uint64_t s0, t0, s1, t1;
    cpu_ticks(&s0, &t0);
    double w0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return -1;
    t->wall = now_s() - w0;
    cpu_ticks(&s1, &t1);
    t->canary = canary();
    t->steal_frac = t1 > t0 ? (double)(s1 - s0) / (double)(t1 - t0) : 0;
    t->nivcsw_rate = t->wall > 0 ? (double)ru.ru_nivcsw / t->wall : 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "udbench gate: %s run --scenario %s --backend %s failed (status %d)\n", bin,
                c->scenario, backend, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    return trial_read(bin, c, backend, out, t);
}

/* Why a trial looks disturbed, into why (empty when it does not). */
static void disturbance(gate *g, size_t ci, const trial *t, char *why, size_t len) {
    why[0] = 0;
    if (t->steal_frac > g->steal_limit) {
        snprintf(why, len, "steal time %.1f%%", t->steal_frac * 100);
        return;
    }
    /* The canary's reference is the median of the recent canaries of this run (both builds
     * alike): the machine's load drifts over a run, and a reference from its start would
     * condemn every trial of a busier stretch. */
    double ref = g->canary_ref;
    if (g->ncanary >= 8) {
        double tmp[64];
        size_t n = g->ncanary < 64 ? g->ncanary : 64;
        memcpy(tmp, g->canaries, n * sizeof *tmp);
        ref = rp_median_sort(tmp, n);
    }
    if (ref > 0 && t->canary > g->canary_limit * ref) {
        snprintf(why, len, "canary loop %.2fx its recent median", t->canary / ref);
        return;
    }
    if (g->ncsw[ci] >= 8) {
        double tmp[512];
        memcpy(tmp, g->csw_rates[ci], g->ncsw[ci] * sizeof *tmp);
        double med = rp_median_sort(tmp, g->ncsw[ci]);
        if (t->nivcsw_rate > g->csw_factor * med && t->nivcsw_rate > 50)
            snprintf(why, len, "%.0f involuntary switches/s (median %.0f)", t->nivcsw_rate, med);
    }
}

static int ensure_items(gate *g, size_t ci, const trial *t) {
    if (g->nops[ci])
        return 0;
    const rp_cell *cell = &t->doc->cells[t->cell];
    for (size_t j = 0; j < cell->nmetrics && j < 4; j++) {
        rp_cmp_item *it = rp_cmp_add_item(g->cmp);
        if (!it)
            return -ENOMEM;
        rp_set_string(&it->scenario, cell->scenario);
        rp_set_string(&it->backend, g->cells[ci].backend);
        rp_set_string(&it->op, cell->metrics[j].op);
        it->params = calloc(2, sizeof *it->params);
        if (!it->params)
            return -ENOMEM;
        rp_set_string(&it->params[0].key, "procs");
        rp_set_string(&it->params[0].value, g->cells[ci].procs);
        rp_set_string(&it->params[1].key, "ops");
        rp_set_string(&it->params[1].value, g->cells[ci].ops);
        it->nparams = 2;
        it->merit = rp_cmp_merit_of_cell(cell, cell->metrics[j].op);
        g->item_of[ci][j] = (int)(g->cmp->nitems - 1);
        g->nops[ci]++;
    }
    return 0;
}

static double trial_value(const rp_cmp_merit *m, const trial *t, const char *op) {
    const rp_cell *cell = &t->doc->cells[t->cell];
    for (size_t j = 0; j < cell->nmetrics; j++)
        if (!strcmp(cell->metrics[j].op, op))
            return m->higher_is_better ? cell->metrics[j].max
                                       : rp_merit_value(m, &cell->metrics[j], -1);
    return 0;
}

/* Why the pair (tb, th) of cell ci is dropped, into why (empty when it is kept). */
static void pair_disturbance(gate *g, size_t ci, const trial *tb, const trial *th, char *why,
                             size_t len) {
    char why_b[128], why_h[128];
    disturbance(g, ci, tb, why_b, sizeof why_b);
    disturbance(g, ci, th, why_h, sizeof why_h);
    why[0] = 0;
    if (why_b[0] || why_h[0])
        snprintf(why, len, "%s%s%s", why_b[0] ? "base: " : "", why_b,
                 why_h[0] ? (why_b[0] ? "; head: " : "head: ") : "");
    if (why_h[0])
        strncat(why, why_h, len - strlen(why) - 1);
}

/* Remembers the switch rates and canaries of the pair for the disturbance rules. */
static void record_load(gate *g, size_t ci, const trial *tb, const trial *th) {
    for (int k = 0; k < 2 && g->ncsw[ci] < 512; k++)
        g->csw_rates[ci][g->ncsw[ci]++] = k ? th->nivcsw_rate : tb->nivcsw_rate;
    g->canaries[g->ncanary++ % 64] = tb->canary;
    g->canaries[g->ncanary++ % 64] = th->canary;
}

/* Adds the pair to every item (op) of cell ci. 0, or -ENOMEM. */
static int add_pairs(gate *g, size_t ci, int look, bool head_first, const trial *tb,
                     const trial *th, const char *why) {
    for (int j = 0; j < g->nops[ci]; j++) {
        rp_cmp_item *it = &g->cmp->items[g->item_of[ci][j]];
        rp_cmp_pair *p = rp_cmp_item_add_pair(it);
        if (!p)
            return -ENOMEM;
        p->base = trial_value(&it->merit, tb, it->op);
        p->head = trial_value(&it->merit, th, it->op);
        p->head_first = head_first;
        p->look = look;
        if (why[0])
            rp_set_string(&p->dropped, why);
        if (!(p->base > 0 && p->head > 0) && !p->dropped)
            rp_set_string(&p->dropped, "a trial measured nothing");
    }
    return 0;
}

/* Runs one pair of cell ci; 1 when it was dropped, 0 kept, -1 on failure. */
static int run_pair(gate *g, size_t ci, int look) {
    bool head_first = next_rand(g) & 1;
    trial tb = {0}, th = {0};
    int rc = head_first ? run_trial(g, g->head_bin, &g->cells[ci], &th)
                        : run_trial(g, g->base_bin, &g->cells[ci], &tb);
    if (!rc)
        rc = head_first ? run_trial(g, g->base_bin, &g->cells[ci], &tb)
                        : run_trial(g, g->head_bin, &g->cells[ci], &th);
    if (!rc)
        rc = ensure_items(g, ci, &tb);
    char why[300] = "";
    if (!rc) {
        pair_disturbance(g, ci, &tb, &th, why, sizeof why);
        record_load(g, ci, &tb, &th);
        rc = add_pairs(g, ci, look, head_first, &tb, &th, why);
        if (g->verbose)
            fprintf(stderr, "  pair %s %s %s%s%s\n", g->cells[ci].scenario, g->cells[ci].backend,
                    head_first ? "head first" : "base first", why[0] ? ", dropped: " : "", why);
    }
    rp_doc_free(tb.doc);
    rp_doc_free(th.doc);
    return rc ? -1 : why[0] ? 1 : 0;
}

/* d = ln(head cost / base cost) of the kept pairs of an item. */
static int item_d(const rp_cmp_item *it, double *d, int max, int upto_look) {
    int n = 0;
    for (size_t i = 0; i < it->npairs && n < max; i++) {
        const rp_cmp_pair *p = &it->pairs[i];
        if (p->dropped || p->look > upto_look)
            continue;
        d[n++] = log(rp_merit_cost(&it->merit, p->head) / rp_merit_cost(&it->merit, p->base));
    }
    return n;
}

/* Evaluates every open item after look `look`. */
static void evaluate(gate *g, int look) {
    size_t m = g->cmp->nitems;
    double a = g->alpha / g->looks, delta = log1p(g->margin);
    double *ps = calloc(m ? m : 1, sizeof *ps), *po = calloc(m ? m : 1, sizeof *po);
    bool *rs = calloc(m ? m : 1, sizeof *rs), *ro = calloc(m ? m : 1, sizeof *ro);
    static double d[8192];
    if (!ps || !po || !rs || !ro)
        goto out;
    for (size_t i = 0; i < m; i++) {
        rp_cmp_item *it = &g->cmp->items[i];
        if (it->verdict == RP_VERDICT_INCONCLUSIVE) {
            int n = item_d(it, d, 8192, look);
            it->p_slow = rp_sign_p_above(d, n, delta);
            it->p_ok = rp_sign_p_below(d, n, delta);
        }
        ps[i] = it->p_slow;
        po[i] = it->p_ok;
    }
    rp_holm(ps, m, a, rs);
    rp_holm(po, m, a, ro);
    for (size_t i = 0; i < m; i++) {
        rp_cmp_item *it = &g->cmp->items[i];
        int n = item_d(it, d, 8192, look);
        double lo, hi, cov;
        rp_median_sort(d, (size_t)n);
        rp_sign_interval(d, n, a / (double)m, &lo, &hi, &cov);
        /* Values of decided items stay as they were at their decision. */
        if (it->verdict != RP_VERDICT_INCONCLUSIVE)
            continue;
        it->looks = look;
        it->n_base = it->n_head = n;
        double med = rp_median_sort(d, (size_t)n);
        it->ratio = exp(med);
        it->ratio_lo = exp(lo);
        it->ratio_hi = exp(hi);
        it->confidence = cov;
        double vb[8192], vh[8192];
        int k = 0;
        for (size_t j = 0; j < it->npairs && k < 8192; j++)
            if (!it->pairs[j].dropped && it->pairs[j].look <= look) {
                vb[k] = it->pairs[j].base;
                vh[k++] = it->pairs[j].head;
            }
        it->base_value = rp_median_sort(vb, (size_t)k);
        it->head_value = rp_median_sort(vh, (size_t)k);
        if (rs[i])
            it->verdict = RP_VERDICT_SLOWER;
        else if (ro[i])
            it->verdict = isfinite(hi) && hi < -delta ? RP_VERDICT_FASTER : RP_VERDICT_SAME;
    }
out:
    free(ps);
    free(po);
    free(rs);
    free(ro);
}

/* The anchors on the same trials: github-action-benchmark's one-run ratio (the first kept
 * pair), and compare.py's U test over the first look's trials. */
static void anchors(gate *g) {
    for (size_t i = 0; i < g->cmp->nitems; i++) {
        rp_cmp_item *it = &g->cmp->items[i];
        double xb[4096], xh[4096];
        int n = 0;
        bool first = true;
        for (size_t j = 0; j < it->npairs && n < 4096; j++) {
            const rp_cmp_pair *p = &it->pairs[j];
            if (p->dropped || p->look != 1)
                continue;
            double cb = rp_merit_cost(&it->merit, p->base), ch = rp_merit_cost(&it->merit, p->head);
            if (first) {
                it->gab110 = ch / cb > 1.10;
                it->gab200 = ch / cb > 2.00;
                first = false;
            }
            xb[n] = cb;
            xh[n++] = ch;
        }
        it->utest_p = rp_mw_p_two_sided(xb, n, xh, n);
        double mb = rp_median_sort(xb, (size_t)n), mh = rp_median_sort(xh, (size_t)n);
        it->utest = n > 0 && it->utest_p < 0.05 && mh > mb;
        it->has_anchors = n > 0;
    }
}

static int shuffle_run(gate *g, int look) {
    size_t *order = malloc(g->ncells * (size_t)g->pairs * sizeof *order), n = 0;
    int *replaced = calloc(g->ncells, sizeof *replaced);
    if (!order || !replaced) {
        free(order);
        free(replaced);
        return -1;
    }
    for (size_t c = 0; c < g->ncells; c++)
        if (g->open[c])
            for (int k = 0; k < g->pairs; k++)
                order[n++] = c;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_rand(g) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int r = run_pair(g, order[i], look);
        /* A dropped pair is replaced right away, by a pair of the same cell. */
        while (r == 1 && replaced[order[i]] < (g->pairs + 1) / 2) {
            replaced[order[i]]++;
            r = run_pair(g, order[i], look);
        }
        rc = r < 0 ? -1 : 0;
    }
    free(order);
    free(replaced);
    return rc;
}

/* ---- the deterministic channel ---- */

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
        return -1;
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
        return -1;
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
    return *instr < 0 ? -1 : 0;
}

/* Instructions per operation: the difference of runs with 2N and N operations, over N. */
static int count_per_op(const gate *g, const char *bin, size_t ci, double *per_op) {
    char udcount[4096];
    const char *slash = strrchr(bin, '/');
    snprintf(udcount, sizeof udcount, "%.*sudcount", slash ? (int)(slash - bin + 1) : 0, bin);
    if (access(udcount, X_OK)) {
        fprintf(stderr, "udbench gate: %s is missing: the build predates the instruction channel\n",
                udcount);
        return -1;
    }
    double a, b;
    unsigned long n = count_cases[ci].n;
    if (count_run(g, udcount, count_cases[ci].name, n, &a) ||
        count_run(g, udcount, count_cases[ci].name, 2 * n, &b))
        return -1;
    *per_op = (b - a) / (double)n;
    return 0;
}

static int count_channel(gate *g) {
    if (access("/usr/bin/setarch", X_OK) ||
        (access("/usr/bin/valgrind", X_OK) && access("/bin/valgrind", X_OK))) {
        fprintf(stderr, "udbench gate: the instruction channel needs valgrind and setarch\n");
        return -1;
    }
    double delta = log1p(g->margin);
    for (size_t ci = 0; ci < sizeof count_cases / sizeof *count_cases; ci++) {
        double base, head;
        if (count_per_op(g, g->base_bin, ci, &base) || count_per_op(g, g->head_bin, ci, &head))
            return -1;
        rp_cmp_item *it = rp_cmp_add_item(g->cmp);
        if (!it)
            return -1;
        rp_set_string(&it->scenario, "count");
        rp_set_string(&it->backend, count_cases[ci].backend);
        rp_set_string(&it->op, count_cases[ci].name);
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

static void gate_help(void) {
    printf("Usage: udbench gate --base BIN --head BIN [OPTIONS]\n"
           "Runs paired, interleaved trials of two udbench builds and gives the verdict.\n\n"
           "  --base BIN, --head BIN  the udbench programs of the two builds\n"
           "  --suite gate|smoke      the cells (default gate)\n"
           "  --channel time|count    timed trials (default), or instructions per operation\n"
           "                          under valgrind for single-process CPU-bound cases\n"
           "                          (udcount beside each udbench; margin default 1%%)\n"
           "  --pairs K               pairs per cell and look (default 12)\n"
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

/* "3%" or "0.03" -> 0.03; -1 when it is neither. */
double sc_parse_margin(const char *s);
double sc_parse_margin(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s)
        return -1;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    return *end || !(v > 0 && v < 1) ? -1 : v;
}

int sc_cmp_format(const char *s);
int sc_cmp_format(const char *s) {
    return !strcmp(s, "text")   ? RP_CMP_TEXT
           : !strcmp(s, "md")   ? RP_CMP_MD
           : !strcmp(s, "json") ? RP_CMP_JSON
                                : -1;
}

/* What the command line asks besides the gate's own settings. */
typedef struct gate_args {
    const char *out, *lb, *lh, *cb, *ch;
    int format;
    bool count, margin_set;
} gate_args;

static void gate_defaults(gate *g) {
    memset(g, 0, sizeof *g);
    g->cells = suite_gate;
    g->ncells = sizeof suite_gate / sizeof *suite_gate;
    g->pairs = 12;
    g->looks = 3;
    g->margin = 0.02;
    g->alpha = 0.05;
    g->canary_limit = 1.5;
    g->steal_limit = 0.05;
    g->csw_factor = 4;
    g->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

static int set_suite(gate *g, const char *name) {
    if (strcmp(name, "gate") == 0) {
        g->cells = suite_gate;
        g->ncells = sizeof suite_gate / sizeof *suite_gate;
    } else if (strcmp(name, "smoke") == 0) {
        g->cells = suite_smoke;
        g->ncells = sizeof suite_smoke / sizeof *suite_smoke;
    } else {
        fprintf(stderr, "udbench gate: the suite is gate or smoke, not '%s'\n", name);
        return 2;
    }
    return 0;
}

/* The options that take a number (k, l, m, a, S): 0, or 2 with a message. */
static int set_number(gate *g, int c, const char *arg) {
    char *end = NULL;
    switch (c) {
    case 'k':
        g->pairs = (int)strtol(arg, &end, 10);
        if (*end || g->pairs < 3 || g->pairs > 500) {
            fprintf(stderr, "udbench gate: --pairs takes 3..500, not '%s'\n", arg);
            return 2;
        }
        return 0;
    case 'l':
        g->looks = (int)strtol(arg, &end, 10);
        if (*end || g->looks < 1 || g->looks > 10) {
            fprintf(stderr, "udbench gate: --looks takes 1..10, not '%s'\n", arg);
            return 2;
        }
        return 0;
    case 'm':
        g->margin = sc_parse_margin(arg);
        if (g->margin < 0) {
            fprintf(stderr,
                    "udbench gate: the margin is a fraction or a percentage in (0, 100%%), not "
                    "'%s'\n",
                    arg);
            return 2;
        }
        return 0;
    case 'a':
        g->alpha = strtod(arg, &end);
        if (*end || !(g->alpha > 0 && g->alpha < 1)) {
            fprintf(stderr, "udbench gate: alpha lies in (0, 1), not '%s'\n", arg);
            return 2;
        }
        return 0;
    default: /* 'S' */
        g->rng = strtoull(arg, &end, 10);
        if (*end) {
            fprintf(stderr, "udbench gate: bad seed '%s'\n", arg);
            return 2;
        }
        return 0;
    }
}

/* One option c (with optarg): 0 to go on, else the exit status (0 after --help is -1). */
static int set_option(gate *g, gate_args *a, int c, const char *arg) {
    switch (c) {
    case 'b':
        g->base_bin = arg;
        return 0;
    case 'H':
        g->head_bin = arg;
        return 0;
    case 's':
        return set_suite(g, arg);
    case 'k':
    case 'l':
    case 'm':
    case 'a':
    case 'S':
        a->margin_set |= c == 'm';
        return set_number(g, c, arg);
    case 'o':
        a->out = arg;
        return 0;
    case 'f':
        a->format = sc_cmp_format(arg);
        if (a->format < 0) {
            fprintf(stderr, "udbench gate: the format is text, md or json, not '%s'\n", arg);
            return 2;
        }
        return 0;
    case 1:
        a->lb = arg;
        return 0;
    case 2:
        a->lh = arg;
        return 0;
    case 3:
        a->cb = arg;
        return 0;
    case 4:
        a->ch = arg;
        return 0;
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
        return -1;
    default:
        fprintf(stderr, "Try 'udbench gate --help'.\n");
        return 2;
    }
}

/* Parses the command line into g and a: 0 to run, else the exit status (-1 after --help). */
static int parse_gate_args(gate *g, gate_args *a, int argc, char **argv) {
    static const struct option opts[] = {{"base", required_argument, NULL, 'b'},
                                         {"head", required_argument, NULL, 'H'},
                                         {"suite", required_argument, NULL, 's'},
                                         {"pairs", required_argument, NULL, 'k'},
                                         {"looks", required_argument, NULL, 'l'},
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

/* The compare document's settings and labels. */
static void gate_setup(gate *g, const gate_args *a) {
    rp_cmp *cmp = g->cmp;
    cmp->margin = g->margin;
    cmp->alpha = g->alpha;
    cmp->pairs_per_look = g->pairs;
    cmp->max_looks = g->looks;
    rp_set_string(&cmp->method, "paired-sign");
    if (a->count && !a->margin_set)
        g->margin = cmp->margin = 0.01;
    rp_set_string(&cmp->channel, a->count ? "instructions" : "time");
    rp_set_string(&cmp->base_label, a->lb ? a->lb : g->base_bin);
    rp_set_string(&cmp->head_label, a->lh ? a->lh : g->head_bin);
    rp_set_string(&cmp->base_commit, a->cb);
    rp_set_string(&cmp->head_commit, a->ch);
}

/* Marks the cells that still have an inconclusive item open; false when none is. */
static bool update_open(gate *g) {
    bool any = false;
    for (size_t ci = 0; ci < g->ncells; ci++) {
        g->open[ci] = false;
        for (int j = 0; j < g->nops[ci]; j++)
            g->open[ci] |= g->cmp->items[g->item_of[ci][j]].verdict == RP_VERDICT_INCONCLUSIVE;
        any |= g->open[ci];
    }
    return any;
}

/* The timed channel: up to g->looks looks of pairs over the open cells. 0, or -1. */
static int time_channel(gate *g) {
    for (int look = 1; look <= g->looks; look++) {
        fprintf(stderr, "udbench gate: look %d of %d\n", look, g->looks);
        if (shuffle_run(g, look))
            return -1;
        evaluate(g, look);
        if (look == 1)
            anchors(g);
        if (!update_open(g))
            break;
    }
    return 0;
}

/* Removes what the trials left in the scratch folder, and the folder. */
static void remove_scratch(const char *scratch) {
    char path[600];
    snprintf(path, sizeof path, "%s/trial.json", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/count.err", scratch);
    unlink(path);
    snprintf(path, sizeof path, "%s/gate.db", scratch);
    unlink(path);
    for (const char *sfx = "-wal\0-shm\0"; *sfx; sfx += strlen(sfx) + 1) {
        snprintf(path, sizeof path, "%s/gate.db%s", scratch, sfx);
        unlink(path);
    }
    rmdir(scratch);
}

int sc_gate_main(int argc, char **argv) {
    static gate g;
    gate_defaults(&g);
    gate_args a = {.format = RP_CMP_TEXT};
    int rc = parse_gate_args(&g, &a, argc, argv);
    if (rc)
        return rc < 0 ? 0 : rc;
    char scratch[] = "/tmp/udbench-gate-XXXXXX";
    if (!mkdtemp(scratch)) {
        perror("udbench gate: mkdtemp");
        return 1;
    }
    g.scratch = scratch;
    if (rp_cmp_new(&g.cmp))
        return 1;
    rp_cmp *cmp = g.cmp;
    gate_setup(&g, &a);
    double t0 = now_s();
    double cal[9];
    for (int i = 0; i < 9; i++)
        cal[i] = canary();
    g.canary_ref = rp_median_sort(cal, 9);
    for (size_t i = 0; i < g.ncells; i++)
        g.open[i] = true;
    rc = a.count ? count_channel(&g) : time_channel(&g);
    remove_scratch(scratch);
    if (rc) {
        rp_cmp_free(cmp);
        fprintf(stderr, "udbench gate: a trial failed; no verdict\n");
        return 4;
    }
    cmp->wall_seconds = now_s() - t0;
    rp_cmp_settle(cmp);
    if (a.out && rp_cmp_write(cmp, a.out))
        fprintf(stderr, "udbench gate: writing %s: %s\n", a.out, strerror(errno));
    rp_cmp_report(cmp, a.format, stdout);
    fflush(stdout);
    int status = cmp->status;
    rp_cmp_free(cmp);
    return status;
}
