/*
 * gate_trial.c - one pair of trials of the gate, and the whole-process trials of builds that
 * have no lockstep worker: each trial one `udbench run` of the cell; see gate.c.
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
#include "sc.h"
#include "rp_stats.h"

/* Repetitions inside one trial process; the trial's figure is its best repetition, because
 * interference from other tenants only ever slows a repetition down. */
#define GATE_REPEAT "5"
/* The measured phase of a whole-process trial, seconds. */
#define GATE_PHASE_S "0.1"

uint64_t sc_gate_rand(gate *g) {
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double sc_gate_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A fixed amount of integer work: its time says how much of a core this process gets now. */
double sc_gate_canary(void) {
    double t0 = sc_gate_now();
    volatile uint64_t x = 1;
    for (uint64_t i = 0; i < 2000000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    return sc_gate_now() - t0;
}

const char *sc_gate_placeholder(const char *uri) {
    const char *colon = strchr(uri, ':');
    return colon && colon[1] == '@' ? colon + 1 : NULL;
}

void sc_gate_backend(const char *dir, const gate_cell *c, char *backend, size_t len) {
    const char *at = sc_gate_placeholder(c->backend);
    if (at)
        snprintf(backend, len, "%.*s%s%s", (int)(at - c->backend), c->backend, dir, at + 1);
    else
        snprintf(backend, len, "%s", c->backend);
}

/* The cell of the backend asked for, else the first that is not the floor, else ncells: documents
 * may hold more (udbench/2 measures the harness's own cost on null: beside every group). */
static size_t trial_cell(const rp_doc *doc, const char *backend) {
    for (size_t i = 0; i < doc->ncells; i++)
        if (strcmp(doc->cells[i].backend, backend) == 0)
            return i;
    for (size_t i = 0; i < doc->ncells; i++)
        if (rp_cell_role(&doc->cells[i]) != RP_ROLE_FLOOR)
            return i;
    return doc->ncells;
}

/* Reads the trial's document back and finds its cell. 0, or SC_ETRIAL with a message. */
static int trial_read(const char *bin, const gate_cell *c, const char *backend, const char *out,
                      trial *t) {
    char err[512] = "";
    if (rp_doc_read(out, &t->doc, err, sizeof err)) {
        fprintf(stderr, "udbench gate: %s: %s\n", out, err);
        return SC_ETRIAL;
    }
    t->cell = trial_cell(t->doc, backend);
    const rp_cell *cell = t->cell < t->doc->ncells ? &t->doc->cells[t->cell] : NULL;
    if (!cell || cell->status != RP_STATUS_OK || cell->nmetrics == 0) {
        fprintf(stderr, "udbench gate: %s: the trial of %s on %s did not run: %s\n", bin,
                c->scenario, backend, cell && cell->reason ? cell->reason : "no cell");
        return SC_ETRIAL;
    }
    return 0;
}

/* Runs one trial: BIN run ... --out FILE; reads the document back. 0, or SC_ETRIAL / -errno with a
 * message. */
static int run_trial(gate *g, const char *bin, const gate_cell *c, trial *t) {
    char backend[600], out[512], procs[16], keys[32];
    sc_gate_backend(g->scratch, c, backend, sizeof backend);
    snprintf(out, sizeof out, "%s/trial.json", g->scratch);
    snprintf(procs, sizeof procs, "%d", c->procs);
    snprintf(keys, sizeof keys, "%lu", g->keys);
    char *argv[] = {(char *)bin,  "run",        "--scenario", (char *)c->scenario,
                    "--backend",  backend,      "--procs",    procs,
                    "--duration", GATE_PHASE_S, "--repeat",   "1",
                    "--keys",     keys,         "--format",   "csv",
                    "--out",      out,          NULL};
    uint64_t s0, t0, s1, t1;
    sc_cpu_ticks(&t0, &s0);
    double w0 = sc_gate_now();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
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
        return -errno;
    t->wall = sc_gate_now() - w0;
    sc_cpu_ticks(&t1, &s1);
    t->canary = sc_gate_canary();
    t->steal_frac = t1 > t0 ? (double)(s1 - s0) / (double)(t1 - t0) : 0;
    t->nivcsw_rate = t->wall > 0 ? (double)ru.ru_nivcsw / t->wall : 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "udbench gate: %s run --scenario %s --backend %s failed (status %d)\n", bin,
                c->scenario, backend, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return SC_ETRIAL;
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

/* The items of cell ci: one per op of the trial's cell (whole-process trials), or, without a
 * cell (lockstep), the one op named after the scenario, in operations per second. */
int sc_gate_items(gate *g, size_t ci, const char *scenario, const rp_cell *cell) {
    if (g->nops[ci])
        return 0;
    const char *merit_op = scenario;
    int figure, direction;
    if (!cell && sc_scenario_merit(scenario, &merit_op, &figure, &direction))
        merit_op = scenario;
    size_t nops = cell ? cell->nmetrics : 1;
    for (size_t j = 0; j < nops && j < 4; j++) {
        rp_cmp_item *it = rp_cmp_add_item(g->cmp);
        if (!it)
            return -ENOMEM;
        const char *op = cell ? cell->metrics[j].op : merit_op;
        rp_set_string(&it->scenario, scenario);
        rp_set_string(&it->backend, g->cells[ci].backend);
        rp_set_string(&it->op, op);
        it->params = calloc(2, sizeof *it->params);
        if (!it->params)
            return -ENOMEM;
        char v[32];
        rp_set_string(&it->params[0].key, "procs");
        snprintf(v, sizeof v, "%d", g->cells[ci].procs);
        rp_set_string(&it->params[0].value, v);
        rp_set_string(&it->params[1].key, cell ? "duration_s" : "batch");
        if (cell)
            snprintf(v, sizeof v, "%s", GATE_PHASE_S);
        else
            snprintf(v, sizeof v, "%g s", g->cells[ci].batch);
        rp_set_string(&it->params[1].value, v);
        it->nparams = 2;
        it->merit = cell ? rp_cmp_merit_of_cell(cell, op) : rp_merit_of(scenario, op);
        g->item_of[ci][j] = (int)(g->cmp->nitems - 1);
        g->nops[ci]++;
    }
    return 0;
}

static double trial_value(const rp_merit *m, const trial *t, const char *op) {
    const rp_cell *cell = &t->doc->cells[t->cell];
    for (size_t j = 0; j < cell->nmetrics; j++)
        if (!strcmp(cell->metrics[j].op, op))
            return m->direction == RP_HIGHER_IS_BETTER ? cell->metrics[j].max
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

/* Runs one whole-process pair of cell ci; 1 when it was dropped, 0 kept, or a negative code on
 * failure. */
static int process_pair(gate *g, size_t ci, int look) {
    bool head_first = sc_gate_rand(g) & 1;
    trial tb = {0}, th = {0};
    int rc = head_first ? run_trial(g, g->head_bin, &g->cells[ci], &th)
                        : run_trial(g, g->base_bin, &g->cells[ci], &tb);
    if (!rc)
        rc = head_first ? run_trial(g, g->base_bin, &g->cells[ci], &tb)
                        : run_trial(g, g->head_bin, &g->cells[ci], &th);
    if (!rc)
        rc = sc_gate_items(g, ci, tb.doc->cells[tb.cell].scenario, &tb.doc->cells[tb.cell]);
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

int sc_gate_pair(gate *g, size_t gi, int look) {
    if (g->lockstep)
        return sc_gate_lockstep_pair(g, gi, look);
    int kept = 0, dropped = 0;
    for (size_t ci = 0; ci < g->ncells; ci++) {
        if (g->cells[ci].group != gi || !g->open[ci])
            continue;
        int r = process_pair(g, ci, look);
        if (r < 0)
            return r;
        kept += r == 0;
        dropped += r == 1;
    }
    return dropped && !kept ? 1 : 0;
}
