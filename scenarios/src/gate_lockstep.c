/*
 * gate_lockstep.c - one lockstep pair of the gate: the lockstep rounds of `udbench run`, with
 * the two builds in one group.
 *
 * For a group of cells (one scenario and process count, one cell per backend), each build
 * starts one worker (`udbench gate-worker`, gate_worker.c): `udbench run`'s own engine
 * (lockstep.c) running the catalogue's setup() and work() of the group's open cells, with the
 * token held by the gate. The workers set up one after the other, in coin-flip order (two
 * builds on one server must not clear each other's working set half-way), then the gate runs
 * `rounds` rounds; in each, every member (build, cell) runs one batch of a few milliseconds
 * while all the others wait, in an order shuffled per round. A cell's pair has d = the median
 * over the rounds of ln(head cost / base cost) of the round's two batches of that cell, two
 * figures taken milliseconds apart on the same machine (the paired ratios of `udbench run`).
 *
 * The pair stays the independent unit of the verdict (its batches are not: they share the two
 * processes' memory layouts and the pair's stretch of load); see results/README.md.
 *
 * The token: with workers of protocol 3 the gate makes one shared mapping (an sc_lockstep in a
 * memfd) that both workers map and pass to their cells' workers, with one futex word per
 * member (the base's cells are members 0.., the head's GATE_MAX_CELLS..). The gate grants
 * each batch straight to the member's workers, and the last of them writes the batch's figure
 * into the token and wakes the gate: two wake-ups a batch. (Through the workers' pipes, as
 * protocol 2 does, a batch took four: the gate, the build's worker, the cell's workers and
 * back, which at load 15 cost more than the 3 ms batch itself.)
 *
 * A cell's pair is dropped, by one rule for both builds, when the machine's steal time over
 * the pair passes the limit, or when its per-round ratios spread so much (interquartile range
 * of their logarithms above the limit) that the machine changed within most rounds. A cell that is
 * not applicable to its backend (as `udbench run` would say n/a) is skipped with a line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "gate_internal.h"
#include "lockstep.h"
#include "rp_stats.h"

#define LS_MAX_ROUNDS 1000
/* A short batch of a slow store may hold none of the figure's operations (four updates of a
 * 50/50 mix): it runs again, as one longer turn of the same member, at most this often. */
#define LS_TRIES 16
#define LS_BATCH_LIMIT_NS (120ull * 1000000000ull)

typedef struct ls_side {
    const char *bin;
    char tag; /* 'b' or 'h' */
    pid_t pid;
    int to, from;
    char err[600];               /* the worker's stderr */
    char dir[600];               /* the worker's own scratch folder (`@` in a backend) */
    size_t cell[GATE_MAX_CELLS]; /* member -> the gate's cell */
    bool live[GATE_MAX_CELLS];
    size_t n;
    uint32_t base;    /* the side's members on the token: base + member */
    sc_lockstep *tok; /* the shared token (protocol 3), or NULL: through the pipes */
    int tok_fd;       /* the token's memfd until both workers started, else -1 */
} ls_side;

int sc_gate_worker_protocol(const char *bin) {
    int p[2];
    if (pipe(p))
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return false;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(p[1], 1);
        if (fd >= 0)
            dup2(fd, 2);
        close(p[0]);
        execl(bin, bin, "gate-worker", "--protocol", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[16] = "";
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    int st;
    bool ok = waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    long proto = ok && n > 0 ? strtol(out, NULL, 10) : 0;
    return proto >= 2 && proto < 100 ? (int)proto : 0;
}

/* The command line of a worker for the members of s. */
static void ls_argv(const gate *g, const ls_side *s, unsigned serial, char (*buf)[600],
                    char **argv) {
    const gate_cell *c0 = &g->cells[s->cell[0]];
    int a = 0, b = 0;
    argv[a++] = (char *)s->bin;
    argv[a++] = "gate-worker";
    if (s->tok) {
        snprintf(buf[b], sizeof buf[b], "%d,%u", s->tok_fd, s->base);
        argv[a++] = "--token";
        argv[a++] = buf[b++];
        /* Each build counts and stamps keys of its own on a server both reach. */
        argv[a++] = "--namespace";
        argv[a++] = s->tag == 'b' ? "gate-b" : "gate-h";
    }
    /* The smoke suite's shapes: working sets that stay in the caches (README, "The gate"). */
    argv[a++] = "--suite";
    argv[a++] = "smoke";
    argv[a++] = "--scenario";
    argv[a++] = (char *)c0->scenario;
    snprintf(buf[b], sizeof buf[b], "%d", c0->procs);
    argv[a++] = "--procs";
    argv[a++] = buf[b++];
    snprintf(buf[b], sizeof buf[b], "%g", c0->batch);
    argv[a++] = "--duration";
    argv[a++] = buf[b++];
    snprintf(buf[b], sizeof buf[b], "%u", serial);
    argv[a++] = "--seed";
    argv[a++] = buf[b++];
    snprintf(buf[b], sizeof buf[b], "%lu", g->keys);
    argv[a++] = "--keys";
    argv[a++] = buf[b++];
    for (size_t i = 0; i < s->n; i++) {
        sc_gate_backend(s->dir, &g->cells[s->cell[i]], buf[b], sizeof buf[b]);
        argv[a++] = "--backend";
        argv[a++] = buf[b++];
    }
    argv[a] = NULL;
}

static int ls_spawn(const gate *g, unsigned serial, ls_side *s) {
    static char buf[GATE_MAX_CELLS + 9][600];
    char *argv[2 * GATE_MAX_CELLS + 20];
    snprintf(s->dir, sizeof s->dir, "%s/%c%u", g->scratch, s->tag, serial);
    snprintf(s->err, sizeof s->err, "%s/worker-%c.err", g->scratch, s->tag);
    if (mkdir(s->dir, 0700) && errno != EEXIST)
        return -errno;
    ls_argv(g, s, serial, buf, argv);
    int to[2], from[2];
    if (pipe(to))
        return -errno;
    if (pipe(from)) {
        close(to[0]);
        close(to[1]);
        return -EMFILE;
    }
    s->pid = fork();
    if (s->pid < 0)
        return -errno;
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

/* One answer of a worker: 0 with *v, or SC_EWORKER. */
static int ls_answer(ls_side *s, double *v) {
    return sc_gw_read_full(s->from, v, sizeof *v) == 1 ? 0 : SC_EWORKER;
}

/* Prints the worker's stderr, indented. */
static void ls_messages(const ls_side *s) {
    FILE *f = fopen(s->err, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        fprintf(stderr, "  %s", line);
    if (f)
        fclose(f);
}

/* The worker's ready answer: which members run. A member that is not applicable in a build
 * skips its cell for the rest of the gate. 0, or SC_EWORKER when the worker failed. */
static int ls_ready(gate *g, ls_side *s) {
    double n, st;
    if (ls_answer(s, &n) || n != (double)s->n)
        return SC_EWORKER;
    bool said = false;
    for (size_t i = 0; i < s->n; i++) {
        if (ls_answer(s, &st) || st < 0)
            return SC_EWORKER;
        s->live[i] = st == 0;
        size_t ci = s->cell[i];
        if (st > 0 && !g->skipped[ci]) {
            fprintf(stderr, "udbench gate: %s on %s is not applicable there; skipped\n",
                    g->cells[ci].scenario, g->cells[ci].backend);
            g->skipped[ci] = true;
            g->open[ci] = false;
            if (!said)
                ls_messages(s);
            said = true;
        }
    }
    return 0;
}

/* Whether the worker process of s has exited (it is not reaped here: ls_stop() does). */
static bool ls_exited(const ls_side *s) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

/* Waits until the workers of member `member` of s hand the token back: 0, or SC_EWORKER (a
 * worker failed, or the build's worker exited) or SC_ETIMEDOUT. */
static int ls_wait(const ls_side *s, uint32_t member) {
    sc_lockstep *t = s->tok;
    uint64_t limit = sc_now_ns() + LS_BATCH_LIMIT_NS;
    while (!atomic_load(&t->parked)) {
        if (atomic_load(&t->failed[member]))
            return SC_EWORKER;
        struct timespec ts = {0, 50000000};
        if (sc__futex(&t->parked, FUTEX_WAIT, 0, &ts) == 0 || errno != ETIMEDOUT)
            continue;
        /* Nothing for 50 ms: a worker that died leaves no word behind. */
        if (ls_exited(s))
            return SC_EWORKER;
        if (sc_now_ns() > limit)
            return SC_ETIMEDOUT;
    }
    return 0;
}

/* One batch of member m on the shared token: granted to the member's workers, its figure
 * read from the token. 0, or SC_EWORKER. */
static int ls_batch_token(ls_side *s, size_t m, double *v) {
    uint32_t member = s->base + (uint32_t)m;
    for (int k = 0; k < LS_TRIES; k++) {
        s->tok->figure[member] = 0;
        sc__ls_grant(s->tok, member);
        if (ls_wait(s, member))
            return SC_EWORKER;
        *v = s->tok->figure[member];
        if (*v > 0)
            return 0;
    }
    return SC_EWORKER;
}

/* One batch of member m: the token to the worker and its figure back. 0, or SC_EWORKER. */
static int ls_batch(ls_side *s, size_t m, double *v) {
    if (s->tok)
        return ls_batch_token(s, m, v);
    unsigned char cmd[2] = {'g', (unsigned char)m};
    if (write(s->to, cmd, 2) != 2 || ls_answer(s, v) || !(*v > 0))
        return SC_EWORKER;
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
        ls_messages(s);
    }
    unlink(s->err);
    sc_rmtree(s->dir);
    return ok ? 0 : -1;
}

/* The interquartile range of the sorted v[0..n). */
static double ls_iqr(const double *v, int n) {
    return v[(3 * n) / 4 < n ? (3 * n) / 4 : n - 1] - v[n / 4];
}

/* The figures of one pair: per member of each side, one per round. */
static double vals[2][GATE_MAX_CELLS][LS_MAX_ROUNDS];

/* Runs the rounds of a started pair: each round every live member of both sides once, in a
 * shuffled order. 0, or SC_EWORKER. */
static int ls_rounds(gate *g, ls_side *side[2]) {
    size_t order[2 * GATE_MAX_CELLS];
    for (int r = 0; r < g->rounds; r++) {
        size_t n = 0;
        for (size_t k = 0; k < 2; k++)
            for (size_t m = 0; m < side[k]->n; m++)
                if (side[k]->live[m] && !g->skipped[side[k]->cell[m]])
                    order[n++] = k * GATE_MAX_CELLS + m;
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(sc_gate_rand(g) % i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (size_t i = 0; i < n; i++) {
            size_t k = order[i] / GATE_MAX_CELLS, m = order[i] % GATE_MAX_CELLS;
            if (ls_batch(side[k], m, &vals[k][m][r]))
                return SC_EWORKER;
        }
    }
    return 0;
}

/* Why the pair is dropped, into why (empty when kept). */
static void ls_disturbance(const gate *g, const gate_cell *c, double steal, double iqr, char *why,
                           size_t len) {
    why[0] = 0;
    if (steal > (c->server ? g->server_steal_limit : g->steal_limit))
        snprintf(why, len, "steal time %.1f%%", steal * 100);
    else if (iqr > (c->server ? g->server_spread_limit : g->spread_limit))
        snprintf(why, len, "paired ratios spread %.2f (IQR of ln)", iqr);
}

/* The pair's d of member m: the median over the rounds of ln(head cost / base cost) of the
 * round's two batches, which ran milliseconds apart: what the machine did to both cancels
 * out (measured here at load 17: half the spread of the ratio of the two sides' medians).
 * *iqr gets the interquartile range of those logarithms. */
static double ls_paired_d(const gate *g, const rp_merit *merit, size_t m, double *iqr) {
    static double lr[LS_MAX_ROUNDS];
    for (int r = 0; r < g->rounds; r++)
        lr[r] = log(rp_merit_cost(merit, vals[1][m][r]) / rp_merit_cost(merit, vals[0][m][r]));
    double d = rp_median_sort(lr, (size_t)g->rounds);
    *iqr = ls_iqr(lr, g->rounds);
    return d;
}

/* Adds the kept or dropped pair of member m to its cell's item: 1 dropped, 0 kept, or -ENOMEM. */
static int ls_add(gate *g, const ls_side *b, size_t m, int look, bool head_first, double steal) {
    size_t ci = b->cell[m];
    if (sc_gate_items(g, ci, g->cells[ci].scenario, NULL))
        return -ENOMEM;
    rp_cmp_item *it = &g->cmp->items[g->item_of[ci][0]];
    double iqr, d = ls_paired_d(g, &it->merit, m, &iqr);
    double mb = rp_median_sort(vals[0][m], (size_t)g->rounds);
    double mh = rp_median_sort(vals[1][m], (size_t)g->rounds);
    char why[200];
    ls_disturbance(g, &g->cells[ci], steal, iqr, why, sizeof why);
    rp_cmp_pair *p = rp_cmp_item_add_pair(it);
    if (!p)
        return -ENOMEM;
    /* The base's median batch, and the head's figure at the paired ratio from it, so that
     * ln(cost(head) / cost(base)) is the pair's d. */
    double head_cost = rp_merit_cost(&it->merit, mb) * exp(d);
    p->base = mb;
    p->head = it->merit.direction == RP_HIGHER_IS_BETTER ? 1 / head_cost : head_cost;
    p->head_first = head_first;
    p->look = look;
    if (why[0])
        rp_set_string(&p->dropped, why);
    if (g->verbose)
        fprintf(stderr, "  pair %s %s: base %.4g, head %.4g (median batch %.4g), d %+.4f%s%s\n",
                g->cells[ci].scenario, g->cells[ci].backend, mb, p->head, mh, d,
                why[0] ? ", dropped: " : "", why);
    return why[0] ? 1 : 0;
}

/* Starts the two workers one after the other, in coin-flip order. 0, or SC_EWORKER. */
static int ls_start(gate *g, ls_side *side[2], bool head_first, unsigned serial) {
    ls_side *first = head_first ? side[1] : side[0], *second = head_first ? side[0] : side[1];
    if (ls_spawn(g, serial, first) || ls_ready(g, first))
        return SC_EWORKER;
    return ls_spawn(g, serial, second) || ls_ready(g, second) ? -1 : 0;
}

/* UDBENCH_TIMINGS: where a pair's time went (stderr): the two workers' start (spawn, the
 * scenario's setup, one warm-up batch per cell), the rounds, the stop (finish and checks). */
static void ls_timings(const gate *g, const ls_side *b, bool shared, const uint64_t *w) {
    size_t batches = 0;
    for (size_t m = 0; m < b->n; m++)
        batches += b->live[m] ? 2 * (size_t)g->rounds : 0;
    double rounds = (double)(w[2] - w[1]) / 1e9;
    fprintf(stderr,
            "udbench gate: timings: %s (%zu cells, %s): %.2f s: start %.2f s, %d rounds %.2f s "
            "(%zu batches, %.2f ms each), stop %.2f s\n",
            g->cells[b->cell[0]].scenario, b->n, shared ? "shared token" : "pipes",
            (double)(w[3] - w[0]) / 1e9, (double)(w[1] - w[0]) / 1e9, g->rounds, rounds, batches,
            batches ? rounds * 1e3 / (double)batches : 0.0, (double)(w[3] - w[2]) / 1e9);
}

/* The shared token of a pair (both builds speak protocol 3): a zeroed sc_lockstep in a memfd
 * the workers inherit. 0, or -errno (the pair then goes through the pipes). */
static int ls_token(ls_side *b, ls_side *h) {
    int fd = memfd_create("udbench-gate-token", 0); /* inherited by the workers: no CLOEXEC */
    if (fd < 0)
        return -errno;
    void *p = MAP_FAILED;
    if (ftruncate(fd, sizeof(sc_lockstep)) == 0)
        p = mmap(NULL, sizeof(sc_lockstep), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    b->tok = h->tok = p;
    atomic_store(&b->tok->no_probe, 1);
    b->tok_fd = h->tok_fd = fd;
    b->base = 0;
    h->base = GATE_MAX_CELLS;
    return 0;
}

static void ls_token_free(ls_side *b, ls_side *h) {
    if (b->tok_fd >= 0)
        close(b->tok_fd);
    if (b->tok)
        munmap(b->tok, sizeof(sc_lockstep));
    b->tok = h->tok = NULL;
    b->tok_fd = h->tok_fd = -1;
}

int sc_gate_lockstep_pair(gate *g, size_t gi, int look) {
    static unsigned serial;
    static ls_side b, h;
    b = (ls_side){.bin = g->base_bin, .tag = 'b', .to = -1, .from = -1, .tok_fd = -1};
    h = (ls_side){.bin = g->head_bin, .tag = 'h', .to = -1, .from = -1, .tok_fd = -1};
    for (size_t ci = 0; ci < g->ncells; ci++)
        if (g->cells[ci].group == gi && g->open[ci])
            b.cell[b.n++] = h.cell[h.n++] = ci;
    if (b.n == 0)
        return 0;
    bool head_first = sc_gate_rand(g) & 1;
    serial++;
    ls_side *side[2] = {&b, &h};
    if (g->shared_token && ls_token(&b, &h))
        fprintf(stderr, "udbench gate: no shared token (%s): the batches go through pipes\n",
                strerror(errno));
    uint64_t s0, t0, s1, t1, w[4] = {sc_now_ns()};
    sc_cpu_ticks(&t0, &s0);
    int rc = ls_start(g, side, head_first, serial);
    w[1] = sc_now_ns();
    if (b.tok_fd >= 0) { /* both workers have it now (or failed to start) */
        close(b.tok_fd);
        b.tok_fd = h.tok_fd = -1;
    }
    if (!rc)
        rc = ls_rounds(g, side);
    w[2] = sc_now_ns();
    sc_cpu_ticks(&t1, &s1);
    int rb = ls_stop(&b, rc != 0), rh = ls_stop(&h, rc != 0);
    bool shared = b.tok != NULL;
    ls_token_free(&b, &h);
    w[3] = sc_now_ns();
    if (getenv("UDBENCH_TIMINGS"))
        ls_timings(g, &b, shared, w);
    if (rc || rb || rh) {
        fprintf(stderr, "udbench gate: the lockstep pair of %s (%zu cells) failed\n",
                g->cells[b.cell[0]].scenario, b.n);
        return SC_EWORKER;
    }
    double steal = t1 > t0 ? (double)(s1 - s0) / (double)(t1 - t0) : 0;
    int kept = 0, dropped = 0;
    for (size_t m = 0; m < b.n; m++) {
        if (!b.live[m] || !h.live[m] || g->skipped[b.cell[m]])
            continue;
        int r = ls_add(g, &b, m, look, head_first, steal);
        if (r < 0)
            return r;
        kept += r == 0;
        dropped += r == 1;
    }
    return dropped && !kept ? 1 : 0;
}
