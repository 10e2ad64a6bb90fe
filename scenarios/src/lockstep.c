/*
 * lockstep.c - the cells of a group in lockstep rounds.
 *
 * On a shared VM the speed of a memory-bound process changes from one process to the next and
 * within a tenth of a second (README, "Lockstep rounds"). Whole repetitions of a second, in
 * separate processes, see different machines; so every backend of a group has its workers alive
 * at once, and the backends take turns under a token in shared memory (sc_lockstep, sc.h):
 * one batch of a few milliseconds each per round, in a shuffled order, on the same CPUs. Two
 * batches of one round are milliseconds apart and mostly see the same machine, and the ratio
 * of a backend's figure to the reference's in the same round is paired: what the machine did
 * to both cancels out.
 *
 * The worker's side (lockstep_worker.c) is two hooks of the runner: sc_barrier() waits for the
 * first batch and sc_phase_over() ends each batch, so every scenario's own work() runs in
 * lockstep unchanged; the paired ratios are in pair.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lockstep.h"
#include "machine.h"
#include "rp_stats.h"

/* Workers must be warmed up within this time; a batch must end within BATCH_LIMIT_NS. */
#define SETUP_TIMEOUT_NS (180ull * 1000000000ull)
#define BATCH_LIMIT_NS (120ull * 1000000000ull)
#define GRACE_NS (60ull * 1000000000ull)
/* A group stops its rounds after this long once it has MIN_ROUNDS (slow dumps, remote stores:
 * a dump through the local Cloudflare runtime takes about a second). */
#define GROUP_BUDGET_NS (5ull * 1000000000ull)
#define MIN_ROUNDS 6
/* A group also stops once it has SETTLE_ROUNDS and every backend's paired ratio is known
 * within SETTLE_WIDTH (the half-width of its 95% interval over the ratio): more rounds would
 * narrow an interval that is already far inside what the reports call noisy (10%). */
#define SETTLE_ROUNDS 16
#define SETTLE_WIDTH 0.05

/* ---- the parent's side ---- */

/* One cell of the group as the rounds see it. */
typedef struct member {
    sc_cell *c;
    rp_cell *out;
    sc_cell_state *st;
    sc_arena *a;
    size_t asize;
    pid_t pids[SC_MAX_PROCS];
    bool live;
    double setup_s; /* the scenario's setup in the parent */
    /* What the slots held after the last batch, to take each batch's share. */
    uint64_t ops[SC_MAX_PROCS][SC_MAX_OPS], errors[SC_MAX_PROCS][SC_MAX_OPS];
    uint64_t phase[SC_MAX_PROCS][SC_MAX_OPS];
    sc_hist *prev, *cur;
} member;

void sc__slot_probes(const sc_arena *a, int n, rp_probe *before, rp_probe *after) {
    rp_probe b[SC_MAX_PROCS], f[SC_MAX_PROCS];
    for (int i = 0; i < n && i < SC_MAX_PROCS; i++) {
        b[i] = a->slots[i].probe_before;
        f[i] = a->slots[i].probe_after;
    }
    sc_probe_mean(b, (size_t)n, before);
    sc_probe_mean(f, (size_t)n, after);
}

static void member_fail(member *m, const char *why) {
    if (!m->out->reason)
        sc__set_error(m->out, RP_STATUS_ERROR, "%s", why);
    m->st->rc = m->st->rc ? m->st->rc : -EIO;
    m->st->done = true;
    m->live = false;
    if (m->a)
        sc__stop_workers(m->a);
}

/* Setup in the parent, the arena, the workers. */
static void member_start(member *m, sc_lockstep *ls, int index) {
    sc_cell *c = m->c;
    char err[512] = "";
    c->rep = 0;
    uint64_t t0 = sc_now_ns();
    int rc = c->scenario->setup ? c->scenario->setup(c, m->st->kv, err, sizeof err) : 0;
    m->setup_s = (double)(sc_now_ns() - t0) / 1e9;
    if (rc) {
        sc__set_error(m->out, RP_STATUS_ERROR, "setup: %s", err[0] ? err : sc_errname(rc));
        m->st->rc = rc;
        m->st->done = true;
        return;
    }
    int P = c->p.procs;
    m->asize = sizeof(sc_arena) + (size_t)P * sizeof(sc_slot);
    m->a = mmap(NULL, m->asize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    m->prev = calloc((size_t)c->nops, sizeof *m->prev);
    m->cur = calloc((size_t)c->nops, sizeof *m->cur);
    if (m->a == MAP_FAILED || !m->prev || !m->cur) {
        if (m->a == MAP_FAILED)
            m->a = NULL;
        member_fail(m, "out of memory for the shared arena");
        return;
    }
    m->a->ls = ls;
    m->a->member = index;
    for (int i = 0; i < P; i++)
        for (int o = 0; o < SC_MAX_OPS; o++)
            sc_hist_reset(&m->a->slots[i].op[o].hist);
    for (int o = 0; o < c->nops; o++)
        sc_hist_reset(&m->prev[o]);
    m->live = true;
    if (sc__start_workers(c, m->a, m->pids) < P)
        member_fail(m, "fork failed");
}

/* Whether a worker of m has exited (it only does at the end, or when it failed); the message
 * of a failed one becomes the cell's reason. */
static bool member_broken(member *m) {
    bool broken = atomic_load(&m->a->stop) != 0;
    for (int i = 0; i < m->c->p.procs; i++)
        if (atomic_load(&m->a->slots[i].state) != 0) {
            if (atomic_load(&m->a->slots[i].state) == 2)
                sc__worker_ok(&m->a->slots[i], i, false, m->out);
            broken = true;
        }
    return broken;
}

/* Waits until every live member's workers are at the barrier. */
static void wait_ready(member *ms, size_t n, volatile sig_atomic_t *stop) {
    uint64_t limit = sc_now_ns() + SETUP_TIMEOUT_NS;
    for (size_t i = 0; i < n; i++) {
        member *m = &ms[i];
        while (m->live && atomic_load(&m->a->ready) < (uint32_t)m->c->p.procs) {
            if (member_broken(m))
                member_fail(m, "a worker failed while warming up");
            else if (sc_now_ns() > limit || *stop)
                member_fail(m, *stop ? "interrupted" : "the workers did not warm up in time");
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Passes the token to `holder` (a member, or SC_LS_END). */
void sc__ls_grant(sc_lockstep *ls, uint32_t holder) {
    atomic_store(&ls->parked, 0);
    atomic_store(&ls->arrived, 0);
    atomic_store(&ls->deadline, 0);
    uint32_t seq = atomic_load(&ls->turn) / SC_LS_MEMBERS + 1;
    atomic_store(&ls->turn, seq * SC_LS_MEMBERS + holder);
    /* Only the holder's workers wake: each member's workers sleep on a word of their own (one
     * word for all woke every worker of every member at every grant). */
    atomic_store(&ls->word[holder], holder == SC_LS_END ? SC_LS_WORD_END : seq);
    sc__futex(&ls->word[holder], FUTEX_WAKE, INT_MAX, NULL);
}

/* The end of the rounds for members base .. base + n - 1 only: on the gate's token the other
 * build's workers go on. */
static void end_members(sc_lockstep *ls, uint32_t base, size_t n) {
    for (size_t i = 0; i < n; i++) {
        atomic_store(&ls->word[base + i], SC_LS_WORD_END);
        sc__futex(&ls->word[base + i], FUTEX_WAKE, INT_MAX, NULL);
    }
}

/* One batch of member m: the token, then wait until all its workers parked. 0, or SC_EWORKER
 * (a worker failed), SC_ESTOPPED (interrupted) or SC_ETIMEDOUT (the batch did not end in time),
 * m having left the rounds. */
static int run_batch(sc_lockstep *ls, member *m, int index, volatile sig_atomic_t *stop) {
    uint32_t P = (uint32_t)m->c->p.procs;
    uint64_t now = sc_now_ns();
    sc__ls_grant(ls, (uint32_t)index);
    uint64_t limit = now + BATCH_LIMIT_NS;
    for (;;) {
        uint32_t k = atomic_load(&ls->parked);
        if (k >= P)
            return 0;
        if (member_broken(m)) {
            member_fail(m, "a worker failed");
            return SC_EWORKER;
        }
        if (*stop || sc_now_ns() > limit) {
            member_fail(m, *stop ? "interrupted" : "a batch did not end in time");
            return *stop ? SC_ESTOPPED : SC_ETIMEDOUT;
        }
        struct timespec ts = {0, 1000000};
        sc__futex(&ls->parked, FUTEX_WAIT, k, &ts);
    }
}

/* The histogram of op o over m's workers now into m->cur[o]. */
static void sum_hist(member *m, int o) {
    sc_hist_reset(&m->cur[o]);
    for (int i = 0; i < m->c->p.procs; i++)
        sc_hist_merge(&m->cur[o], &m->a->slots[i].op[o].hist);
}

/*
 * The length of the last batch over m's workers, in seconds: the longest of their stretches,
 * each less the time its worker waited for a CPU. On a machine shared with other tenants a
 * worker of a 5 ms batch may spend most of it on a run queue (measured here at load 10: 2 to
 * 4.5 ms of 5); that time is the other tenants', not the backend's, and it is what made two
 * runs' figures disagree. A worker waiting for a server sleeps, which is not a run-queue wait,
 * so a server's own time stays in.
 */
static double batch_seconds(const member *m) {
    uint64_t longest = 0;
    for (int i = 0; i < m->c->p.procs; i++) {
        uint64_t busy = sc__slot_busy_ns(&m->a->slots[i]);
        longest = busy > longest ? busy : longest;
    }
    return (double)longest / 1e9;
}

/* Takes the last batch's share of every slot; records it as a repetition unless `warm`. A
 * repetition the document cannot take (out of memory) ends the member's part in the rounds. */
static void record_batch(member *m, int round, int position, double steal, bool warm) {
    const sc_cell *c = m->c;
    double span = batch_seconds(m), load[1] = {0};
    rp_probe before, after;
    sc__slot_probes(m->a, c->p.procs, &before, &after);
    double load1 = getloadavg(load, 1) < 1 ? 0 : load[0];
    for (int o = 0; o < c->nops; o++) {
        uint64_t ops = 0, errors = 0, phase = 0;
        for (int i = 0; i < c->p.procs; i++) {
            const sc_op_stats *s = &m->a->slots[i].op[o];
            ops += s->ops - m->ops[i][o];
            errors += s->errors - m->errors[i][o];
            uint64_t ph = s->phase_ns - m->phase[i][o];
            phase = ph > phase ? ph : phase;
            m->ops[i][o] = s->ops;
            m->errors[i][o] = s->errors;
            m->phase[i][o] = s->phase_ns;
        }
        sum_hist(m, o);
        sc_hist delta;
        sc_hist_diff(&delta, &m->cur[o], &m->prev[o]);
        m->prev[o] = m->cur[o];
        if (warm)
            continue;
        double t = phase ? (double)phase / 1e9 : span;
        rp_rep rep = {.ops = ops,
                      .seconds = t,
                      .ops_per_sec = t > 0 ? (double)ops / t : 0,
                      .errors = errors,
                      .p50_ns = delta.count ? sc_hist_quantile(&delta, 0.5) : 0,
                      .round = round,
                      .position = position,
                      .steal_share = steal > 1 ? 1 : steal,
                      .load1 = load1,
                      .probe_before = before,
                      .probe_after = after};
        int rc = rp_metric_add_rep(&m->out->metrics[o], &rep);
        if (rc) {
            sc__set_error(m->out, RP_STATUS_ERROR, "recording a batch: %s", sc_strerror(rc));
            m->st->rc = rc;
            member_fail(m, "recording a batch failed");
            return;
        }
        sc_hist_merge(&m->st->merged[o], &delta);
    }
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The figure of merit of m's batch of round r, or 0 when it has none. */
static double merit_in_round(const member *m, int r) {
    const rp_cell *o = m->out;
    const rp_metric *mm = NULL;
    for (size_t i = 0; o->merit.metric && i < o->nmetrics; i++)
        if (!strcmp(o->metrics[i].op, o->merit.metric))
            mm = &o->metrics[i];
    for (size_t k = mm ? mm->nreps : 0; k-- > 0;)
        if (mm->reps[k].round == r)
            return rp_merit_rep_value(o, k);
    return 0;
}

/* Whether member m's paired ratios over the reference's in rounds 0..nr-1 are settled. */
static bool member_settled(const member *m, const member *ref, int nr, double *v) {
    int n = 0;
    for (int r = 0; r < nr; r++) {
        double a = merit_in_round(m, r), b = merit_in_round(ref, r);
        if (a > 0 && b > 0)
            v[n++] = a / b;
    }
    double lo, hi, coverage;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    if (n < SETTLE_ROUNDS || rp_sign_interval(v, n, 0.05, &lo, &hi, &coverage))
        return false;
    double mid = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return mid > 0 && (hi - lo) / 2 / mid <= SETTLE_WIDTH;
}

/* Whether every live member but the reference (the baseline, else the first that is not the
 * floor) has
 * its paired ratio settled after nr rounds. */
static bool group_settled(const member *ms, size_t n, int nr) {
    const member *ref = NULL;
    for (size_t i = 0; i < n && !ref; i++)
        if (ms[i].live && ms[i].c->role == KV_ROLE_BASELINE)
            ref = &ms[i];
    for (size_t i = 0; i < n && !ref; i++)
        if (ms[i].live && ms[i].c->role != KV_ROLE_FLOOR)
            ref = &ms[i];
    double *v = ref ? malloc((size_t)nr * sizeof *v) : NULL;
    bool settled = v != NULL;
    for (size_t i = 0; settled && i < n; i++)
        if (ms[i].live && &ms[i] != ref && ms[i].c->role != KV_ROLE_FLOOR)
            settled = member_settled(&ms[i], ref, nr, v);
    free(v);
    return settled;
}

/* The rounds: round -1 warms up (not recorded), then p.repeat rounds within the budget.
 * Returns the number of recorded rounds. */
static int rounds(sc_lockstep *ls, member *ms, size_t n, uint64_t seed, double *took,
                  volatile sig_atomic_t *stop) {
    size_t order[SC_MAX_PROCS * 4 > 256 ? SC_MAX_PROCS * 4 : 256];
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    int repeat = ms[0].c->p.repeat;
    uint64_t begin = sc_now_ns();
    int r = -1;
    for (; r < repeat && !*stop; r++) {
        if (r >= MIN_ROUNDS && sc_now_ns() - begin > GROUP_BUDGET_NS)
            break;
        if (r >= SETTLE_ROUNDS && group_settled(ms, n, r))
            break;
        sc_rng_shuffle(&rng, order, n);
        for (size_t k = 0; k < n && !*stop; k++) {
            member *m = &ms[order[k]];
            if (!m->live)
                continue;
            uint64_t ticks0, steal0, ticks1, steal1, t0 = sc_now_ns();
            sc_cpu_ticks(&ticks0, &steal0);
            int rc = run_batch(ls, m, (int)order[k], stop);
            sc_cpu_ticks(&ticks1, &steal1);
            took[order[k]] += (double)(sc_now_ns() - t0) / 1e9;
            double steal = ticks1 > ticks0 && steal1 >= steal0
                               ? (double)(steal1 - steal0) / (double)(ticks1 - ticks0)
                               : 0;
            if (rc == 0)
                record_batch(m, r, (int)k, steal, r < 0);
        }
    }
    return r < 0 ? 0 : r;
}

/* Jain's index over the workers' operations (they ran for the same batches). */
static void member_fairness(member *m) {
    const sc_cell *c = m->c;
    double s1 = 0, s2 = 0;
    for (int w = 0; w < c->p.procs; w++) {
        double x = 0;
        for (int o = 0; o < c->nops; o++)
            x += (double)m->a->slots[w].op[o].ops;
        s1 += x;
        s2 += x * x;
    }
    if (c->p.procs > 1 && s2 > 0 && m->st->nfair < 64)
        m->st->fair[m->st->nfair++] = s1 * s1 / (c->p.procs * s2);
}

/* A live member after its workers ended: their state, the scenario's finish, fairness. */
static void member_finish(member *m, bool killed, volatile sig_atomic_t *stop) {
    bool ok = true;
    for (int w = 0; w < m->c->p.procs; w++)
        ok = sc__worker_ok(&m->a->slots[w], w, killed, m->out) && ok;
    if (!ok || *stop) {
        member_fail(m, "interrupted");
        return;
    }
    sc_cell *c = m->c;
    int rc = c->scenario->finish ? c->scenario->finish(c, m->st->kv, m->a, m->out) : 0;
    if (rc) {
        sc__set_error(m->out, RP_STATUS_ERROR, "checking the outcome: %s: %s", sc_errname(rc),
                      kv_errmsg(m->st->kv));
        member_fail(m, "checking the outcome failed");
        return;
    }
    member_fairness(m);
}

/* Ends the rounds and reaps every member's workers (they all end at the grant, so one grace
 * period covers them all). Returns whether some had to be killed. */
static bool end_rounds(sc_lockstep *ls, member *ms, size_t n, uint32_t base) {
    end_members(ls, base, n);
    uint64_t deadline = sc_now_ns() + GRACE_NS;
    int killed = 0;
    for (size_t i = 0; i < n; i++)
        if (ms[i].a)
            killed |= sc__reap(ms[i].pids, ms[i].c->p.procs, deadline, NULL, NULL, NULL);
    return killed != 0;
}

/* Ends the rounds, reaps every member's workers and finishes each live member. */
static void finish_all(sc_lockstep *ls, member *ms, size_t n, uint32_t base,
                       volatile sig_atomic_t *stop) {
    bool killed = end_rounds(ls, ms, n, base);
    for (size_t i = 0; i < n; i++)
        if (ms[i].a && ms[i].live)
            member_finish(&ms[i], killed, stop);
}

/* UDBENCH_TIMINGS: where a group's time went (stderr), to tune the suite's length. */
static void print_timings(const member *ms, size_t n, uint64_t t0, const uint64_t *t, int nr) {
    double setup = 0, slowest = 0;
    size_t which = 0;
    for (size_t i = 0; i < n; i++) {
        setup += ms[i].setup_s;
        if (ms[i].setup_s > slowest) {
            slowest = ms[i].setup_s;
            which = i;
        }
    }
    fprintf(stderr,
            "udbench: timings: %s procs=%d: %.2f s: setup %.2f s (slowest %s %.2f s), "
            "start %.2f s, %d rounds %.2f s, finish %.2f s\n",
            ms[0].c->scenario->id, ms[0].c->p.procs, (double)(t[3] - t0) / 1e9, setup,
            ms[which].c->label, slowest, (double)(t[1] - t0) / 1e9 - setup, nr,
            (double)(t[2] - t[1]) / 1e9, (double)(t[3] - t[2]) / 1e9);
}

void sc_lockstep_run(sc_cell *cells, rp_cell *outs, sc_cell_state *st, size_t n, uint64_t seed,
                     double *took, volatile sig_atomic_t *stop) {
    member *ms = calloc(n, sizeof *ms);
    sc_lockstep *ls =
        mmap(NULL, sizeof *ls, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!ms || ls == MAP_FAILED || n >= SC_LS_END) {
        for (size_t i = 0; i < n; i++)
            if (!st[i].done) {
                sc__set_error(&outs[i], RP_STATUS_ERROR, "out of memory");
                st[i].done = true;
                st[i].rc = -ENOMEM;
            }
        free(ms);
        if (ls != MAP_FAILED)
            munmap(ls, sizeof *ls);
        return;
    }
    uint64_t t0 = sc_now_ns();
    /* Turn 0 names member 0 with sequence 0: the workers start with ls_seen 0 and wait. */
    atomic_store(&ls->turn, 0);
    for (size_t i = 0; i < n; i++) {
        ms[i] = (member){.c = &cells[i], .out = &outs[i], .st = &st[i]};
        if (!st[i].done)
            member_start(&ms[i], ls, (int)i);
    }
    uint64_t t[4] = {sc_now_ns()};
    wait_ready(ms, n, stop);
    t[1] = sc_now_ns();
    int nr = rounds(ls, ms, n, seed, took, stop);
    t[2] = sc_now_ns();
    finish_all(ls, ms, n, 0, stop);
    t[3] = sc_now_ns();
    for (size_t i = 0; i < n; i++)
        took[i] += ms[i].setup_s;
    if (getenv("UDBENCH_TIMINGS"))
        print_timings(ms, n, t0, t, nr);
    for (size_t i = 0; i < n; i++) {
        if (ms[i].a)
            munmap(ms[i].a, ms[i].asize);
        free(ms[i].prev);
        free(ms[i].cur);
    }
    munmap(ls, sizeof *ls);
    free(ms);
}

/* ---- batches driven from outside: `udbench gate-worker` ---- */

struct sc_ls_group {
    sc_lockstep *ls;
    bool own_ls;   /* mapped here (else the gate's, mapped by the caller) */
    uint32_t base; /* member i of the group is member base + i of the token */
    member *ms;
    size_t n;
    volatile sig_atomic_t *stop;
};

static void group_release(sc_ls_group *g) {
    for (size_t i = 0; g->ms && i < g->n; i++) {
        if (g->ms[i].a)
            munmap(g->ms[i].a, g->ms[i].asize);
        free(g->ms[i].prev);
        free(g->ms[i].cur);
    }
    if (g->own_ls && g->ls && g->ls != MAP_FAILED)
        munmap(g->ls, sizeof *g->ls);
    free(g->ms);
    free(g);
}

sc_ls_group *sc_ls_open(sc_cell *cells, rp_cell *outs, sc_cell_state *st, size_t n,
                        volatile sig_atomic_t *stop, sc_lockstep *token, uint32_t base) {
    sc_ls_group *g = base + n < SC_LS_END ? calloc(1, sizeof *g) : NULL;
    if (!g)
        return NULL;
    g->n = n;
    g->stop = stop;
    g->base = base;
    g->ms = calloc(n ? n : 1, sizeof *g->ms);
    g->own_ls = token == NULL;
    g->ls = token ? token
                  : mmap(NULL, sizeof *g->ls, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                         -1, 0);
    if (!g->ms || g->ls == MAP_FAILED) {
        group_release(g);
        return NULL;
    }
    /* The gate's token starts at turn 0 when it is made, and another build's workers may hold
     * it already: only a token of the group's own starts here. */
    if (g->own_ls)
        atomic_store(&g->ls->turn, 0);
    for (size_t i = 0; i < n; i++) {
        g->ms[i] = (member){.c = &cells[i], .out = &outs[i], .st = &st[i]};
        if (!st[i].done)
            member_start(&g->ms[i], g->ls, (int)(base + i));
    }
    wait_ready(g->ms, n, stop);
    return g;
}

bool sc_ls_live(const sc_ls_group *g, size_t i) {
    return i < g->n && g->ms[i].live;
}

int sc_ls_batch(sc_ls_group *g, size_t i, int round, int position) {
    if (!sc_ls_live(g, i))
        return SC_EWORKER;
    uint64_t ticks0, steal0, ticks1, steal1;
    sc_cpu_ticks(&ticks0, &steal0);
    if (run_batch(g->ls, &g->ms[i], (int)(g->base + i), g->stop))
        return SC_EWORKER;
    sc_cpu_ticks(&ticks1, &steal1);
    double steal = ticks1 > ticks0 && steal1 >= steal0
                       ? (double)(steal1 - steal0) / (double)(ticks1 - ticks0)
                       : 0;
    record_batch(&g->ms[i], round, position, steal, round < 0);
    return 0;
}

size_t sc_ls_watch(sc_ls_group *g) {
    size_t live = 0;
    for (size_t i = 0; i < g->n; i++) {
        member *m = &g->ms[i];
        if (m->live && member_broken(m)) {
            member_fail(m, "a worker failed");
            atomic_store(&g->ls->failed[g->base + i], 1);
            sc__futex(&g->ls->parked, FUTEX_WAKE, INT_MAX, NULL);
        }
        live += m->live;
    }
    return live;
}

void sc_ls_close(sc_ls_group *g) {
    if (!g)
        return;
    finish_all(g->ls, g->ms, g->n, g->base, g->stop);
    group_release(g);
}
