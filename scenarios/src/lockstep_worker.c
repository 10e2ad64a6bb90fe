/*
 * lockstep_worker.c - the worker's side of lockstep rounds (lockstep.c has the parent's).
 *
 * Two hooks of the runner: sc_barrier() waits for the member's first turn and sc_phase_over()
 * ends each batch, parks the worker and waits for the next turn, so that every scenario's own
 * work() runs in lockstep unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lockstep.h"
#include "machine.h"

long sc__futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* Waits for the next turn of the worker's member: 1 to run a batch, 0 at the end. */
static int wait_turn(sc_worker *w) {
    sc_arena *a = w->arena;
    sc_lockstep *ls = a->ls;
    _Atomic uint32_t *word = &ls->word[a->member];
    for (;;) {
        if (atomic_load(&a->stop))
            return 0;
        uint32_t t = atomic_load(word);
        if (t != w->ls_seen) {
            w->ls_seen = t;
            return t != SC_LS_WORD_END;
        }
        /* The time-out only looks at `stop` again now and then. */
        struct timespec ts = {0, 50000000};
        sc__futex(word, FUTEX_WAIT, t, &ts);
    }
}

/* The time this process has spent waiting for a CPU on a run queue, ns (the second field of
 * /proc/self/schedstat), or 0 when the kernel does not say. The file stays open in the
 * worker: two preads per batch. */
static uint64_t run_delay(void) {
    static int fd = -2;
    if (fd == -2)
        fd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
    char buf[128];
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    (void)strtoull(buf, &end, 10); /* the time on a CPU */
    const char *rest = end;
    unsigned long long wait = strtoull(rest, &end, 10);
    return end != rest ? (uint64_t)wait : 0;
}

uint64_t sc__slot_busy_ns(const sc_slot *s) {
    uint64_t span = s->b_end > s->b_start ? s->b_end - s->b_start : 0;
    return span > s->b_wait ? span - s->b_wait : span / 16;
}

/* The index of the scenario's figure-of-merit operation in the cell, or SC_ENOOP. */
static int merit_op(const sc_cell *c) {
    for (int o = 0; c->scenario->merit.metric && o < c->nops; o++)
        if (!strcmp(c->op_names[o], c->scenario->merit.metric))
            return o;
    return SC_ENOOP;
}

/* What the batch that just ended added to the worker's slot (its own counts: no other process
 * writes them). */
static void end_batch(sc_worker *w) {
    sc_slot *s = w->slot;
    for (int o = 0; o < w->cell->nops; o++) {
        s->b_ops[o] = s->op[o].ops - w->ops0[o];
        s->b_phase[o] = s->op[o].phase_ns - w->phase0[o];
        w->ops0[o] = s->op[o].ops;
        w->phase0[o] = s->op[o].phase_ns;
    }
    int mo = merit_op(w->cell);
    if (mo >= 0 && w->cell->scenario->merit.figure == RP_FIGURE_P50_NS) {
        sc_hist_diff(&s->b_hist, &s->op[mo].hist, &s->b_hist0);
        s->b_hist0 = s->op[mo].hist;
    }
}

/*
 * The figure of merit of the member's batch that just ended, over its workers' slots (the last
 * of them to end calls it, so every slot holds the batch): what the parent's record_batch()
 * takes as the repetition's figure (the operation's count over its phase time, else over the
 * longest of the workers' stretches less their run-queue waits; a latency's p50 from the
 * batch's histograms). 0 when the batch holds none of the figure's operations.
 */
static double batch_figure(const sc_worker *w) {
    const sc_cell *c = w->cell;
    const sc_arena *a = w->arena;
    int mo = merit_op(c);
    if (mo < 0)
        return 0;
    if (c->scenario->merit.figure == RP_FIGURE_P50_NS) {
        static sc_hist h; /* 43 KB: not on a worker's stack */
        sc_hist_reset(&h);
        for (int i = 0; i < c->p.procs; i++)
            sc_hist_merge(&h, &a->slots[i].b_hist);
        return h.count ? sc_hist_quantile(&h, 0.5) : 0;
    }
    uint64_t ops = 0, phase = 0, busy = 0;
    for (int i = 0; i < c->p.procs; i++) {
        const sc_slot *s = &a->slots[i];
        uint64_t b = sc__slot_busy_ns(s);
        ops += s->b_ops[mo];
        phase = s->b_phase[mo] > phase ? s->b_phase[mo] : phase;
        busy = b > busy ? b : busy;
    }
    double t = (double)(phase ? phase : busy) / 1e9;
    return ops && t > 0 ? (double)ops / t : 0;
}

static void begin_batch(sc_worker *w, uint64_t done) {
    if (!atomic_load_explicit(&w->arena->ls->no_probe, memory_order_relaxed))
        sc_probe_run(&w->prober, &w->slot->probe_before);
    w->wait0 = run_delay();
    w->slot->b_start = sc_now_ns();
    /* The batch's time runs from the first of its workers to start, not from the grant: on a
     * loaded machine a worker may wake milliseconds after the token was passed to it. */
    uint64_t none = 0;
    double s = w->cell->p.duration;
    if (s < w->cell->scenario->batch_min_s)
        s = w->cell->scenario->batch_min_s;
    atomic_compare_exchange_strong(&w->arena->ls->deadline, &none,
                                   w->slot->b_start + (uint64_t)(s * 1e9));
    if (!w->slot->t_start)
        w->slot->t_start = w->slot->b_start;
    w->batch_done0 = done;
}

int sc__ls_first_batch(sc_worker *w) {
    sc_hist_reset(&w->slot->b_hist0);
    for (int o = 0; o < w->cell->nops; o++) {
        w->ops0[o] = w->slot->op[o].ops;
        w->phase0[o] = w->slot->op[o].phase_ns;
    }
    if (!wait_turn(w))
        return SC_ESTOPPED;
    begin_batch(w, 0);
    return 0;
}

bool sc__ls_phase_over(sc_worker *w, uint64_t done, uint64_t target) {
    sc_lockstep *ls = w->arena->ls;
    int min_ops = w->cell->scenario->batch_min_ops;
    uint64_t in_batch = done - w->batch_done0;
    bool over = w->cell->p.ops
                    ? in_batch >= target
                    : in_batch >= (uint64_t)(min_ops ? min_ops : SC_LS_MIN_OPS) &&
                          sc_now_ns() >= atomic_load_explicit(&ls->deadline, memory_order_relaxed);
    if (!over)
        return false;
    w->slot->b_end = sc_now_ns();
    uint64_t wait = run_delay();
    w->slot->b_wait = wait > w->wait0 ? wait - w->wait0 : 0;
    if (!atomic_load_explicit(&ls->no_probe, memory_order_relaxed))
        sc_probe_run(&w->prober, &w->slot->probe_after);
    end_batch(w);
    /* The last of the member's workers takes the batch's figure and hands the token back:
     * one wake-up of whoever granted it (the parent, or the gate itself). */
    uint32_t P = (uint32_t)w->cell->p.procs;
    if (atomic_fetch_add(&ls->arrived, 1) + 1 == P) {
        ls->figure[w->arena->member] = batch_figure(w);
        atomic_store(&ls->parked, P);
        sc__futex(&ls->parked, FUTEX_WAKE, INT_MAX, NULL);
    }
    if (!wait_turn(w))
        return true;
    begin_batch(w, done);
    return false;
}
