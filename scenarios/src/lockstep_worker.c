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
    for (;;) {
        if (atomic_load(&a->stop))
            return 0;
        uint32_t t = atomic_load(&ls->turn);
        if (t != w->ls_seen) {
            w->ls_seen = t;
            uint32_t h = t % SC_LS_MEMBERS;
            if (h == SC_LS_END)
                return 0;
            if (h == (uint32_t)a->member)
                return 1;
            continue;
        }
        struct timespec ts = {0, 10000000};
        sc__futex(&ls->turn, FUTEX_WAIT, t, &ts);
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

static void begin_batch(sc_worker *w, uint64_t done) {
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
    sc_probe_run(&w->prober, &w->slot->probe_after);
    atomic_fetch_add(&ls->parked, 1);
    sc__futex(&ls->parked, FUTEX_WAKE, INT_MAX, NULL);
    if (!wait_turn(w))
        return true;
    begin_batch(w, done);
    return false;
}
