/*
 * runner.c - runs a cell: worker processes, the barrier, the measured phase, the merge.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lockstep.h"
#include "machine.h"
#include "sc.h"
#include "sc_mpi.h"

/* Workers must be warmed up and at the barrier within this time. */
#define SETUP_TIMEOUT_NS (180ull * 1000000000ull)
/* The measured phase of a run in ops mode may take at most this long. */
#define OPS_TIMEOUT_NS (600ull * 1000000000ull)
/* Grace after the deadline in duration mode (an operation in flight, closing). */
#define GRACE_NS (60ull * 1000000000ull)

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

int sc_barrier(sc_worker *w) {
    sc_arena *a = w->arena;
    atomic_fetch_add(&a->ready, 1);
    if (a->ls)
        return sc__ls_first_batch(w);
    while (atomic_load(&a->go) == 0) {
        if (atomic_load(&a->stop))
            return SC_ESTOPPED;
        struct timespec ts = {0, 10000000};
        futex(&a->go, FUTEX_WAIT, 0, &ts);
    }
    sc_probe_run(&w->prober, &w->slot->probe_before);
    w->slot->t_start = w->slot->b_start = sc_now_ns();
    return atomic_load(&a->stop) ? SC_ESTOPPED : 0;
}

uint64_t sc_phase_left(const sc_worker *w, uint64_t done, uint64_t target) {
    uint64_t in_phase = w->arena->ls ? done - w->batch_done0 : done;
    return in_phase < target ? target - in_phase : 0;
}

bool sc_in_lockstep(const sc_worker *w) {
    return w->arena->ls != NULL;
}

uint64_t sc_share(const sc_worker *w, uint64_t total) {
    uint64_t p = (uint64_t)w->cell->p.procs;
    return total / p + ((uint64_t)w->index < total % p ? 1 : 0);
}

bool sc_phase_over(sc_worker *w, uint64_t done, uint64_t target) {
    if (atomic_load_explicit(&w->arena->stop, memory_order_relaxed))
        return true;
    if (w->arena->ls)
        return sc__ls_phase_over(w, done, target);
    if (w->cell->p.ops)
        return done >= target;
    return sc_now_ns() >= w->arena->deadline;
}

int sc_fail(sc_worker *w, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->slot->err, sizeof w->slot->err, fmt, ap);
    va_end(ap);
    w->slot->rc = rc ? rc : SC_EWORKER;
    return w->slot->rc;
}

/* Appends a parameter, unless an earlier step failed (*rc != 0); *rc gets the first failure. */
static void add_param(rp_cell *out, int *rc, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_param(rp_cell *out, int *rc, const char *k, const char *fmt, ...) {
    if (*rc)
        return;
    char v[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    *rc = rp_cell_add_param(out, k, v);
}

/* The cell's scenario, backend, parameters and figure of merit into out. 0, or the RP_E* /
 * -ENOMEM of the first step that failed. */
static int describe(const sc_cell *c, rp_cell *out) {
    int rc = rp_set_string(&out->scenario, c->scenario->id);
    if (!rc)
        rc = rp_set_string(&out->backend, c->label);
    add_param(out, &rc, "procs", "%d", c->p.procs);
    if (c->p.ops)
        add_param(out, &rc, "ops", "%llu", (unsigned long long)c->p.ops);
    else
        add_param(out, &rc, "duration_s", "%g", c->p.duration);
    add_param(out, &rc, "keys", "%llu", (unsigned long long)c->p.keys);
    add_param(out, &rc, "value_size", "%zu", c->p.value_size);
    if (c->p.zipf_theta > 0)
        add_param(out, &rc, "distribution", "zipf:%g", c->p.zipf_theta);
    else
        add_param(out, &rc, "distribution", "uniform");
    if (c->p.entries)
        add_param(out, &rc, "entries", "%llu", (unsigned long long)c->p.entries);
    if (c->p.primitive)
        add_param(out, &rc, "primitive", "%s", c->p.primitive);
    add_param(out, &rc, "repeat", "%d", c->p.repeat);
    add_param(out, &rc, "seed", "%llu", (unsigned long long)c->p.seed);
    if (sc_mpi_size() > 1)
        add_param(out, &rc, "ranks", "%d", sc_mpi_size());
    const sc_merit *m = &c->scenario->merit;
    if (!rc)
        rc = rp_set_string(&out->merit.metric, m->metric);
    out->merit.figure = m->figure;
    out->merit.direction = m->direction;
    return rc;
}

void sc__set_error(rp_cell *out, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    out->status = status;
    /* Out of memory for the reason itself: the cell still ends in error; say why here. */
    if (rp_set_string(&out->reason, msg) != 0)
        fprintf(stderr, "udbench: %s\n", msg);
}

/* The barrier: everyone warmed up (or a worker gave up), then go. Returns the time by which the
 * measured phase must be over. */
static uint64_t release(const sc_cell *c, sc_arena *a, volatile sig_atomic_t *stop) {
    uint64_t limit = sc_now_ns() + SETUP_TIMEOUT_NS;
    while (atomic_load(&a->ready) < (uint32_t)c->p.procs && !atomic_load(&a->stop) &&
           !(stop && *stop) && sc_now_ns() < limit) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    if (stop && *stop)
        atomic_store(&a->stop, 1);
    /* Under MPI the workers of every rank start together; without the other ranks, none. */
    if (sc_mpi_barrier() != 0)
        atomic_store(&a->stop, 1);
    uint64_t now = sc_now_ns();
    a->deadline = c->p.ops ? 0 : now + (uint64_t)(c->p.duration * 1e9);
    atomic_store(&a->go, 1);
    futex(&a->go, FUTEX_WAKE, INT_MAX, NULL);
    return c->p.ops ? now + OPS_TIMEOUT_NS : a->deadline + GRACE_NS;
}

/* What one repetition measured, summed over the workers. */
typedef struct rep_sum {
    uint64_t t0, t1;
    uint64_t ops[SC_MAX_OPS], errors[SC_MAX_OPS], phase[SC_MAX_OPS];
    double rate[SC_MAX_PROCS]; /* each worker's ops/s, for the fairness index */
    rp_probe before, after;    /* the workers' probes, averaged */
} rep_sum;

/* Whether worker i finished well; else says why in out. */
bool sc__worker_ok(const sc_slot *s, int i, bool killed, rp_cell *out) {
    if (atomic_load(&s->state) == 1)
        return true;
    if (out->reason)
        return false;
    if (s->err[0])
        sc__set_error(out, RP_STATUS_ERROR, "%s", s->err);
    else
        sc__set_error(out, RP_STATUS_ERROR, "worker %d %s", i,
                      killed ? "did not finish in time and was killed" : "died");
    return false;
}

/* Sums the workers' slots into *r and their histograms into rep_hist; -EIO if one failed. */
static int merge_slots(const sc_cell *c, sc_arena *a, bool killed, sc_hist *rep_hist, rep_sum *r,
                       rp_cell *out) {
    int rc = 0;
    memset(r, 0, sizeof *r);
    r->t0 = UINT64_MAX;
    for (int o = 0; o < c->nops; o++)
        sc_hist_reset(&rep_hist[o]);
    for (int i = 0; i < c->p.procs; i++) {
        sc_slot *s = &a->slots[i];
        if (!sc__worker_ok(s, i, killed, out))
            rc = -EIO;
        if (s->t_start && s->t_start < r->t0)
            r->t0 = s->t_start;
        if (s->t_end > r->t1)
            r->t1 = s->t_end;
        uint64_t mine = 0;
        for (int o = 0; o < c->nops; o++) {
            r->ops[o] += s->op[o].ops;
            r->errors[o] += s->op[o].errors;
            if (s->op[o].phase_ns > r->phase[o])
                r->phase[o] = s->op[o].phase_ns;
            mine += s->op[o].ops;
            sc_hist_merge(&rep_hist[o], &s->op[o].hist);
        }
        double secs = s->t_end > s->t_start ? (double)(s->t_end - s->t_start) / 1e9 : 0;
        r->rate[i] = secs > 0 ? (double)mine / secs : 0;
    }
    sc__slot_probes(a, c->p.procs, &r->before, &r->after);
    return rc;
}

/* The signals of a disturbed repetition: stolen CPU share, involuntary switches, load. */
typedef struct disturbance {
    double steal, load1;
    uint64_t nivcsw;
} disturbance;

/* Adds this repetition to every metric and merges its histograms into the cell's. 0, or the
 * RP_E* / -ENOMEM of rp_metric_add_rep(). */
static int record_rep(const sc_cell *c, const rep_sum *r, sc_hist *rep_hist, sc_hist *merged,
                      int position, const disturbance *dist, rp_cell *out) {
    double secs = r->t1 > r->t0 ? (double)(r->t1 - r->t0) / 1e9 : 0;
    for (int o = 0; o < c->nops; o++) {
        double t = r->phase[o] ? (double)r->phase[o] / 1e9 : secs;
        rp_rep rep = {.ops = r->ops[o],
                      .seconds = t,
                      .ops_per_sec = t > 0 ? (double)r->ops[o] / t : 0,
                      .errors = r->errors[o],
                      .p50_ns = rep_hist[o].count ? sc_hist_quantile(&rep_hist[o], 0.5) : 0,
                      .round = c->rep,
                      .position = position,
                      .steal_share = dist->steal > 1 ? 1 : dist->steal,
                      .nivcsw = dist->nivcsw,
                      .load1 = dist->load1,
                      .probe_before = r->before,
                      .probe_after = r->after};
        int rc = rp_metric_add_rep(&out->metrics[o], &rep);
        if (rc)
            return rc;
        sc_hist_merge(&merged[o], &rep_hist[o]);
    }
    return 0;
}

/* Jain's fairness index over the workers' throughput (0 with one worker). */
static double fairness_index(const rep_sum *r, int P) {
    double s1 = 0, s2 = 0;
    for (int i = 0; i < P; i++) {
        s1 += r->rate[i];
        s2 += r->rate[i] * r->rate[i];
    }
    return P > 1 && s2 > 0 ? s1 * s1 / (P * s2) : 0;
}

/* Forks the workers, releases them at the barrier and waits for them. Fills *dist. Returns 0,
 * 1 when some had to be killed, or -EAGAIN when fork failed. */
static int run_workers(sc_cell *c, sc_arena *a, volatile sig_atomic_t *stop, disturbance *dist,
                       rp_cell *out) {
    pid_t pids[SC_MAX_PROCS] = {0};
    uint64_t ticks0, steal0, ticks1, steal1;
    sc_cpu_ticks(&ticks0, &steal0);
    int started = sc__start_workers(c, a, pids);
    if (started < c->p.procs) {
        sc__set_error(out, RP_STATUS_ERROR, "fork failed after %d workers", started);
        return -EAGAIN;
    }
    uint64_t end_limit = release(c, a, stop);
    dist->nivcsw = 0;
    int killed = sc__reap(pids, c->p.procs, end_limit, a, stop, &dist->nivcsw);
    sc_cpu_ticks(&ticks1, &steal1);
    double load[1] = {0};
    dist->load1 = getloadavg(load, 1) < 1 ? 0 : load[0];
    dist->steal = ticks1 > ticks0 && steal1 >= steal0
                      ? (double)(steal1 - steal0) / (double)(ticks1 - ticks0)
                      : 0;
    return killed;
}

/* The scenario's setup before a repetition, when it needs one: 0, or its failure (said in out). */
static int run_setup(const sc_cell *c, kv_conn *kv, rp_cell *out) {
    char err[512] = "";
    /* Workloads that leave the store as valid as they found it are set up once per cell. */
    bool setup = c->scenario->setup && (c->rep == 0 || !c->scenario->setup_once);
    int mine = setup ? c->scenario->setup(c, kv, err, sizeof err) : 0;
    /* Under MPI every rank skips a repetition that one rank cannot set up. */
    int rc = sc_mpi_agree(mine);
    if (rc)
        sc__set_error(out, RP_STATUS_ERROR, "setup: %s",
                      !mine    ? "another rank failed"
                      : err[0] ? err
                               : sc_errname(mine));
    return rc;
}

/* One run of the cell. Fills the repetition of every metric and merges the histograms. */
static int run_once(sc_cell *c, kv_conn *kv, rp_cell *out, sc_hist *merged, sc_hist *rep_hist,
                    double *fairness, int position, volatile sig_atomic_t *stop) {
    int P = c->p.procs;
    int rc = run_setup(c, kv, out);
    if (rc)
        return rc;
    size_t size = sizeof(sc_arena) + (size_t)P * sizeof(sc_slot);
    sc_arena *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        rc = -errno;
        sc__set_error(out, RP_STATUS_ERROR, "cannot map the shared arena: %s", strerror(errno));
        return rc;
    }
    for (int i = 0; i < P; i++)
        for (int o = 0; o < SC_MAX_OPS; o++)
            sc_hist_reset(&a->slots[i].op[o].hist);
    disturbance dist;
    int killed = run_workers(c, a, stop, &dist, out);
    rep_sum r = {0};
    /* Under MPI, rank 0 merges the slots of every rank's workers as its own. */
    sc_arena *all = a;
    if (killed < 0)
        rc = killed;
    else if ((rc = sc_mpi_gather_arena(c, a, &all)) != 0)
        sc__set_error(out, RP_STATUS_ERROR, "gathering the ranks' workers: %s", sc_strerror(rc));
    else {
        c->p.procs = P * (all != a ? sc_mpi_size() : 1);
        rc = merge_slots(c, all, killed != 0, rep_hist, &r, out);
    }
    if (rc == 0 && (stop && *stop)) {
        sc__set_error(out, RP_STATUS_ERROR, "interrupted");
        rc = -EINTR;
    }
    if (rc == 0 && (rc = record_rep(c, &r, rep_hist, merged, position, &dist, out)) != 0)
        sc__set_error(out, RP_STATUS_ERROR, "recording the repetition: %s", sc_strerror(rc));
    if (rc == 0) {
        *fairness = fairness_index(&r, c->p.procs);
        if (c->scenario->finish && (rc = c->scenario->finish(c, kv, all, out)) != 0)
            sc__set_error(out, RP_STATUS_ERROR, "checking the outcome: %s: %s", sc_errname(rc),
                          kv_errmsg(kv));
    }
    c->p.procs = P;
    if (all != a)
        free(all);
    /* No rank starts the next setup (a counter reset) before rank 0 has checked this one. */
    int brc = sc_mpi_barrier();
    if (rc == 0 && brc != 0) {
        sc__set_error(out, RP_STATUS_ERROR, "after the repetition: %s", sc_strerror(brc));
        rc = brc;
    }
    munmap(a, size);
    return rc;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Ends the cell before its first round: the error in out and st (st->rc = rc). Without its
 * histograms, sc_cell_end() leaves the cell's metrics alone. */
static int begin_failed(rp_cell *out, sc_cell_state *st, int rc, const char *what) {
    sc__set_error(out, RP_STATUS_ERROR, "%s: %s", what, sc_strerror(rc));
    free(st->merged);
    free(st->rep_hist);
    st->merged = st->rep_hist = NULL;
    st->rc = rc;
    st->done = true;
    return rc;
}

int sc_cell_begin(sc_cell *c, rp_cell *out, sc_cell_state *st) {
    memset(st, 0, sizeof *st);
    /* The probe's working sets, built before any worker is forked (they share its pages); the
     * probe reads zeros without them. */
    (void)sc_probe_init();
    c->nops = 0;
    c->scenario->ops(c);
    int rc = describe(c, out);
    if (rc)
        return begin_failed(out, st, rc, "describing the cell");
    const char *na = c->scenario->not_applicable ? c->scenario->not_applicable(c) : NULL;
    if (na) {
        sc__set_error(out, RP_STATUS_NA, "%s", na);
        st->done = true;
        return 0;
    }
    st->merged = calloc((size_t)c->nops, sizeof *st->merged);
    st->rep_hist = calloc((size_t)c->nops, sizeof *st->rep_hist);
    if (!st->merged || !st->rep_hist)
        return begin_failed(out, st, -ENOMEM, "the cell's histograms");
    /* Metric o of the cell is operation o: the rounds index out->metrics by operation. */
    if (out->nmetrics != 0)
        return begin_failed(out, st, RP_EINVAL, "the cell has metrics already");
    for (int o = 0; o < c->nops; o++) {
        sc_hist_reset(&st->merged[o]);
        if (!rp_cell_add_metric(out, c->op_names[o]))
            return begin_failed(out, st, -ENOMEM, "adding a metric");
    }
    /* The parent's connection lives for the whole cell: it keeps the store (an UltraDict the
     * parent created, say) alive between repetitions. */
    st->rc = sc_mpi_agree(kv_open(c->uri, &st->kv));
    if (st->rc) {
        sc__set_error(out, RP_STATUS_ERROR, "cannot open the backend: %s", kv_errmsg(NULL));
        st->done = true;
    }
    return st->rc;
}

int sc_cell_round(sc_cell *c, rp_cell *out, sc_cell_state *st, int round, int position,
                  volatile sig_atomic_t *stop) {
    if (st->done)
        return st->rc;
    if (stop && *stop) {
        sc__set_error(out, RP_STATUS_ERROR, "interrupted");
        st->rc = -EINTR;
        st->done = true;
        return st->rc;
    }
    c->rep = round;
    double f = 0;
    st->rc = run_once(c, st->kv, out, st->merged, st->rep_hist, &f, position, stop);
    if (st->rc == 0 && st->nfair < 64)
        st->fair[st->nfair++] = f;
    if (st->rc)
        st->done = true;
    return st->rc;
}

/* The merged histogram of a metric: its latency summary and its non-empty buckets. 0, or the
 * RP_E* / -ENOMEM of the results library. */
static int set_latency(rp_metric *m, const sc_hist *h) {
    if (!h->count)
        return 0;
    m->has_latency = true;
    m->latency.count = h->count;
    m->latency.mean = sc_hist_mean(h);
    m->latency.p50 = sc_hist_quantile(h, 0.50);
    m->latency.p90 = sc_hist_quantile(h, 0.90);
    m->latency.p99 = sc_hist_quantile(h, 0.99);
    m->latency.p999 = sc_hist_quantile(h, 0.999);
    m->latency.max = (double)h->max;
    int rc = rp_set_string(&m->hist_scheme, SC_HIST_SCHEME);
    return rc ? rc : rp_metric_set_buckets(m, h->buckets, SC_HIST_BUCKETS);
}

/* The payload bytes one operation moves: a value, or a whole dict for dump. */
static double bytes_per_op(const sc_cell *c) {
    if (c->scenario->payload == SC_PAYLOAD_VALUE)
        return (double)c->p.value_size;
    if (c->scenario->payload == SC_PAYLOAD_DICT)
        return (double)c->p.entries * (double)(11 + c->p.value_size);
    return 0;
}

void sc_cell_end(sc_cell *c, rp_cell *out, rp_doc *doc, sc_cell_state *st) {
    kv_close(st->kv);
    st->kv = NULL;
    if (out->status == RP_STATUS_NA || !st->merged) {
        free(st->rep_hist);
        return;
    }
    if (st->rc == 0)
        out->status = RP_STATUS_OK;
    qsort(st->fair, (size_t)st->nfair, sizeof st->fair[0], cmp_double);
    /* The median repetition's index: the upper middle one of an even count. */
    size_t mid = (size_t)st->nfair / 2;
    for (int o = 0; o < c->nops; o++) {
        rp_metric *m = &out->metrics[o];
        rp_metric_summarise(m, doc->run.noise_threshold);
        m->bytes_per_op = bytes_per_op(c);
        m->fairness = st->nfair ? st->fair[mid] : 0;
        int rc = set_latency(m, &st->merged[o]);
        if (rc && st->rc == 0) {
            sc__set_error(out, RP_STATUS_ERROR, "recording the latency histogram: %s",
                          sc_strerror(rc));
            st->rc = rc;
        }
    }
    rp_cell_summarise_merit(out);
    free(st->merged);
    free(st->rep_hist);
    st->merged = st->rep_hist = NULL;
}

int sc_run_cell(sc_cell *c, rp_cell *out, rp_doc *doc, volatile sig_atomic_t *stop) {
    sc_cell_state st;
    sc_cell_begin(c, out, &st);
    for (int r = 0; r < c->p.repeat && !st.done; r++)
        sc_cell_round(c, out, &st, r, 0, stop);
    sc_cell_end(c, out, doc, &st);
    return st.rc;
}
