/*
 * gate_lockstep.c - one lockstep pair of the gate.
 *
 * Both builds' workers (`udbench gate-worker`, gate_worker.c) are started at once, in
 * coin-flip order, and set up their cell (open the backend, seed the keys, warm up). Then the
 * gate runs `rounds` rounds; in each, a coin flip says which build goes first, and each build
 * runs one batch of a few milliseconds while the other waits for the token (the gate writes a
 * byte to one worker and waits for its answer before it writes to the other). The pair's
 * figures are the medians of each build's batch times, so d = ln(median head batch / median
 * base batch): a change of the machine's load between the two builds' measurements now happens
 * within milliseconds, not between two processes run seconds apart.
 *
 * The pair stays the independent unit of the verdict (its batches are not: they share the two
 * processes' memory layouts and the pair's stretch of load); see results/README.md.
 *
 * A pair is dropped, by one rule for both builds, when the machine's steal time over the pair
 * passes the limit, or when either build's batches spread so much (interquartile range over
 * the median) that a quarter or more of them were hit, which makes its median unsafe.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kv.h>

#include "gate_internal.h"
#include "rp_stats.h"

#define LS_MAX_ROUNDS 1000

typedef struct ls_side {
    const char *bin;
    pid_t pid;
    int to, from;
    char err[600]; /* the worker's stderr */
} ls_side;

bool sc_gate_has_worker(const char *bin) {
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, bin, "gate-worker", "--help", (char *)NULL);
        _exit(127);
    }
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The worker's backend: an unnamed store (kv_desc.unnamed) gets a name of its own per worker
 * (each build its own store; two builds must never share one), else the cell's URI. */
static void ls_backend(const gate *g, const gate_cell *c, char side, unsigned serial, char *uri,
                       size_t len) {
    char tag[64];
    snprintf(tag, sizeof tag, "udgate_%d_%c%u", (int)getpid(), side, serial);
    kv_desc d;
    if (kv_describe_uri(c->backend, &d) == 0 && d.unnamed &&
        kv_shared_uri(c->backend, tag, uri, len) == 0)
        return;
    sc_gate_backend(g, c, uri, len);
}

static int ls_spawn(gate *g, const gate_cell *c, char side, unsigned serial, ls_side *s) {
    char uri[600], seed[32];
    ls_backend(g, c, side, serial, uri, sizeof uri);
    snprintf(seed, sizeof seed, "%u", serial);
    snprintf(s->err, sizeof s->err, "%s/worker-%c.err", g->scratch, side);
    int to[2], from[2];
    if (pipe(to))
        return -1;
    if (pipe(from)) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    char *argv[] = {(char *)s->bin,
                    "gate-worker",
                    "--scenario",
                    (char *)c->scenario,
                    "--backend",
                    uri,
                    "--procs",
                    (char *)c->procs,
                    "--batch",
                    (char *)c->batch,
                    "--keys",
                    "1000",
                    "--seed",
                    seed,
                    NULL};
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        int fd = open(s->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execv(s->bin, argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    s->to = to[1];
    s->from = from[0];
    return 0;
}

/* One answer of a worker: 0 with *v, or -1. */
static int ls_answer(ls_side *s, double *v) {
    return sc_gw_read_full(s->from, v, sizeof *v) == 1 ? 0 : -1;
}

/* One batch: the token to the worker and its answer back. 0 with ns per op, or -1. */
static int ls_batch(ls_side *s, double *ns) {
    if (write(s->to, "g", 1) != 1 || ls_answer(s, ns) || !(*ns > 0))
        return -1;
    return 0;
}

/* Ends the worker; 0 when it exited 0, else -1 with its messages on stderr. */
static int ls_stop(ls_side *s, bool failed) {
    if (s->pid <= 0)
        return 0;
    if (s->to >= 0) {
        ssize_t w = write(s->to, "q", 1);
        (void)w;
        close(s->to);
    }
    int st = 0;
    pid_t r;
    while ((r = waitpid(s->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    close(s->from);
    bool ok = r == s->pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok || failed) {
        fprintf(stderr, "udbench gate: the lockstep worker of %s failed:\n", s->bin);
        FILE *f = fopen(s->err, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            fprintf(stderr, "  %s", line);
        if (f)
            fclose(f);
    }
    unlink(s->err);
    return ok ? 0 : -1;
}

/* The interquartile range of v over its median (sorts v). */
static double ls_spread(double *v, int n, double *median) {
    *median = rp_median_sort(v, (size_t)n);
    double q1 = v[n / 4], q3 = v[(3 * n) / 4 < n ? (3 * n) / 4 : n - 1];
    return *median > 0 ? (q3 - q1) / *median : INFINITY;
}

/* Runs the rounds of a started pair: 0 with the batch times, or -1. */
static int ls_rounds(gate *g, ls_side *b, ls_side *h, double *vb, double *vh) {
    double ready;
    if (ls_answer(b, &ready) || ready != 0 || ls_answer(h, &ready) || ready != 0)
        return -1;
    for (int r = 0; r < g->rounds; r++) {
        bool head_first = sc_gate_rand(g) & 1;
        ls_side *first = head_first ? h : b, *second = head_first ? b : h;
        double *v1 = head_first ? &vh[r] : &vb[r], *v2 = head_first ? &vb[r] : &vh[r];
        if (ls_batch(first, v1) || ls_batch(second, v2))
            return -1;
    }
    return 0;
}

/* Why the pair is dropped, into why (empty when kept). */
static void ls_disturbance(const gate *g, double steal, double sb, double sh, char *why,
                           size_t len) {
    why[0] = 0;
    if (steal > g->steal_limit)
        snprintf(why, len, "steal time %.1f%%", steal * 100);
    else if (sb > g->spread_limit || sh > g->spread_limit)
        snprintf(why, len, "batches spread %.0f%% (base) / %.0f%% (head) of the median", sb * 100,
                 sh * 100);
}

/* Adds the kept or dropped pair to the cell's item. 0, or -ENOMEM. */
static int ls_add(gate *g, size_t ci, int look, bool head_first, double mb, double mh,
                  const char *why) {
    rp_cmp_item *it = &g->cmp->items[g->item_of[ci][0]];
    rp_cmp_pair *p = rp_cmp_item_add_pair(it);
    if (!p)
        return -ENOMEM;
    p->base = 1e9 / mb; /* operations per second of the median batch */
    p->head = 1e9 / mh;
    p->head_first = head_first;
    p->look = look;
    if (why[0])
        rp_set_string(&p->dropped, why);
    return 0;
}

int sc_gate_lockstep_pair(gate *g, size_t ci, int look) {
    static unsigned serial;
    static double vb[LS_MAX_ROUNDS], vh[LS_MAX_ROUNDS];
    const gate_cell *c = &g->cells[ci];
    bool head_first = sc_gate_rand(g) & 1;
    ls_side b = {.bin = g->base_bin, .to = -1, .from = -1};
    ls_side h = {.bin = g->head_bin, .to = -1, .from = -1};
    serial++;
    int rc = head_first ? ls_spawn(g, c, 'h', serial, &h) : ls_spawn(g, c, 'b', serial, &b);
    if (!rc)
        rc = head_first ? ls_spawn(g, c, 'b', serial, &b) : ls_spawn(g, c, 'h', serial, &h);
    uint64_t s0, t0, s1, t1;
    sc_cpu_ticks(&t0, &s0);
    if (!rc)
        rc = ls_rounds(g, &b, &h, vb, vh);
    sc_cpu_ticks(&t1, &s1);
    int rb = ls_stop(&b, rc != 0), rh = ls_stop(&h, rc != 0);
    if (rc || rb || rh) {
        fprintf(stderr, "udbench gate: the lockstep pair of %s on %s failed\n", c->scenario,
                c->backend);
        return -1;
    }
    if (sc_gate_items(g, ci, c->scenario, NULL))
        return -1;
    double mb, mh;
    double sb = ls_spread(vb, g->rounds, &mb), sh = ls_spread(vh, g->rounds, &mh);
    double steal = t1 > t0 ? (double)(s1 - s0) / (double)(t1 - t0) : 0;
    char why[200];
    ls_disturbance(g, steal, sb, sh, why, sizeof why);
    if (ls_add(g, ci, look, head_first, mb, mh, why))
        return -1;
    if (g->verbose)
        fprintf(stderr, "  pair %s %s: base %.2f ns/op, head %.2f ns/op, d %+.4f%s%s\n",
                c->scenario, c->backend, mb, mh, log(mh / mb), why[0] ? ", dropped: " : "", why);
    return why[0] ? 1 : 0;
}
