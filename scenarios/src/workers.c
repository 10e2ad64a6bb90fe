/*
 * workers.c - the worker processes of a cell: forking them, a worker's life, stopping them, and
 * reaping them (each by its own pid: the process may have children that are not workers).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockstep.h"

/* Grace for the workers started before a fork failed to see the stop and end. */
#define GRACE_NS (60ull * 1000000000ull)

void sc__stop_workers(sc_arena *a) {
    atomic_store(&a->stop, 1);
    atomic_store(&a->go, 1);
    syscall(SYS_futex, &a->go, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    if (a->ls) /* lockstep workers wait on their member's word of the token */
        syscall(SYS_futex, &a->ls->word[a->member], FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void worker_main(sc_cell *c, sc_arena *a, int index) {
    sc_worker w;
    memset(&w, 0, sizeof w);
    w.cell = c;
    w.arena = a;
    w.slot = &a->slots[index];
    w.index = index;
    /* The same seed gives every worker of every repetition the same operation sequence. */
    sc_rng_seed(&w.rng,
                c->p.seed ^ sc_mix64((uint64_t)index + 1) ^ sc_mix64(((uint64_t)c->rep + 1) << 20));
    if (c->p.pin) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)(index % (ncpu > 0 ? ncpu : 1)), &set);
        sched_setaffinity(0, sizeof set, &set); /* best effort: a refusal leaves it unpinned */
    }
    int rc = 0;
    w.value = malloc(c->p.value_size ? c->p.value_size : 1);
    if (!w.value) {
        rc = sc_fail(&w, -ENOMEM, "out of memory");
    } else if ((rc = kv_open(c->uri, &w.kv)) != 0) {
        sc_fail(&w, rc, "worker %d: cannot open %s: %s", index, c->label, kv_errmsg(NULL));
    } else {
        rc = c->scenario->work(&w);
        if (rc && !w.slot->err[0])
            sc_fail(&w, rc, "worker %d: %s: %s", index, sc_errname(rc), kv_errmsg(w.kv));
    }
    if (w.slot->t_end == 0)
        w.slot->t_end = sc_now_ns();
    if (!a->ls) {
        /* Lockstep batches take their own probes (lockstep.c). */
        w.slot->b_end = w.slot->t_end;
        sc_probe_run(&w.prober, &w.slot->probe_after);
    }
    kv_close(w.kv);
    kv_buf_free(&w.buf);
    free(w.value);
    atomic_store(&w.slot->state, rc ? 2 : 1);
    /* The others cannot produce a valid figure without this worker: stop them. */
    if (rc)
        sc__stop_workers(a);
    _exit(rc ? 1 : 0);
}

/* Reaps whichever of the children in pids have ended (each by its own pid: a child of this
 * process that is not a worker, a test's or a caller's, is never reaped or counted); their slots
 * become 0. Adds their involuntary context switches to *nivcsw when it is not NULL. Returns how
 * many it reaped. */
static int reap_ended(pid_t *pids, int n, uint64_t *nivcsw) {
    /* One look at all children, reaping none, before a wait4() per pid: the parent polls this
     * every millisecond during the measured phase, and the workers share its CPUs. */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0)
        return 0;
    int reaped = 0;
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        int status;
        struct rusage ru;
        pid_t p = wait4(pids[i], &status, WNOHANG, &ru);
        if (p == 0 || (p < 0 && errno == EINTR))
            continue;
        /* p < 0 (ECHILD): someone else reaped it; it is gone all the same. */
        if (p > 0 && nivcsw)
            *nivcsw += (uint64_t)ru.ru_nivcsw;
        pids[i] = 0;
        reaped++;
    }
    return reaped;
}

static void kill_all(const pid_t *pids, int n) {
    for (int i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGKILL);
}

/* Waits for the children in pids (0 entries are skipped) until `deadline`; kills the remaining
 * ones after it. Adds their involuntary context switches to *nivcsw when it is not NULL. Returns
 * 1 when it killed. */
int sc__reap(pid_t *pids, int n, uint64_t deadline, sc_arena *a, volatile sig_atomic_t *stop,
             uint64_t *nivcsw) {
    int alive = 0, killed = 0;
    for (int i = 0; i < n; i++)
        alive += pids[i] > 0;
    while ((alive -= reap_ended(pids, n, nivcsw)) > 0) {
        if (stop && *stop)
            atomic_store(&a->stop, 1);
        if (sc_now_ns() > deadline && !killed) {
            kill_all(pids, n);
            killed = 1;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return killed;
}

/* Starts the cell's workers; returns how many started (fewer than P when fork failed, after
 * stopping and reaping those that did). */
int sc__start_workers(sc_cell *c, sc_arena *a, pid_t *pids) {
    int P = c->p.procs;
    fflush(stdout);
    fflush(stderr);
    int started = 0;
    for (; started < P; started++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0)
            worker_main(c, a, started);
        pids[started] = pid;
    }
    if (started < P) {
        sc__stop_workers(a);
        sc__reap(pids, started, sc_now_ns() + GRACE_NS, a, NULL, NULL);
    }
    return started;
}
