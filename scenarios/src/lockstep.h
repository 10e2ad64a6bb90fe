/*
 * lockstep.h - the lockstep rounds of a group of cells (lockstep.c), and the parts of the
 * runner (runner.c) that they share with whole repetitions. Internal to scenarios/.
 */
#ifndef SC_LOCKSTEP_H
#define SC_LOCKSTEP_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sc.h"

/* ---- the worker's side (lockstep.c) ---- */
/* sc_barrier() in lockstep: waits for the member's first batch and begins it. 0, or SC_ESTOPPED
 * when the group ended (or was stopped) first. */
int sc__ls_first_batch(sc_worker *w);
/* sc_phase_over() in lockstep: false while the batch runs; at its end, parks the worker until
 * the member's next batch (false) or the end of the rounds (true). `target` is the worker's
 * share of a batch's operations in ops mode. */
bool sc__ls_phase_over(sc_worker *w, uint64_t done, uint64_t target);

/* ---- the parent's side ---- */
/*
 * Runs the n cells of one group in lockstep: every cell's workers are started at once (after
 * its setup), then p.repeat rounds (after one warm-up round that is not recorded) in which
 * every live cell runs one batch, in an order shuffled per round from `seed`. Each batch of
 * each cell is one repetition of its metrics (round, position, the probes, the steal share).
 * Then the workers end, each cell's `finish` runs, and st[i].merged holds the recorded
 * batches' histograms. A cell that fails is marked in its out and st and leaves the rounds;
 * the others go on. `took[i]` gets the seconds cell i ran.
 */
void sc_lockstep_run(sc_cell *cells, rp_cell *outs, sc_cell_state *st, size_t n, uint64_t seed,
                     double *took, volatile sig_atomic_t *stop);
/*
 * The paired ratios of a group run in lockstep: the reference is the local: cell when it is ok,
 * else the first ok cell that is not null:; each cell's merit metric's repetition of round r
 * gets ratio = its figure of merit / the reference's in round r, and the merit is summarised
 * again with the reference named. Nothing happens without an ok reference.
 */
void sc_pair_ratios(sc_cell *cells, rp_cell *outs, size_t n);
/* The index of the reference cell of a group (as above), or SC_ENOREF. */
int sc_pair_reference(const sc_cell *cells, const rp_cell *outs, size_t n);

/*
 * The same rounds driven from outside the group (`udbench gate-worker`: the gate interleaves
 * the batches of two builds' groups). sc_ls_open() starts every cell's workers and waits until
 * they are warmed up (NULL when out of memory); sc_ls_batch() runs one batch of member i and
 * records it as repetition `round` at `position` (round < 0: a warm-up batch, not recorded),
 * 0, or a negative code when the member failed (it leaves the group); sc_ls_close() ends the
 * workers, runs each live cell's `finish` and frees the group.
 */
typedef struct sc_ls_group sc_ls_group;
/* token NULL: the group's own token; else the gate's (mapped by the caller, alive until
 * sc_ls_close()), on which cell i is member base + i. */
sc_ls_group *sc_ls_open(sc_cell *cells, rp_cell *outs, sc_cell_state *st, size_t n,
                        volatile sig_atomic_t *stop, sc_lockstep *token, uint32_t base);
bool sc_ls_live(const sc_ls_group *g, size_t i);
int sc_ls_batch(sc_ls_group *g, size_t i, int round, int position);
/* With the gate's token, the gate grants the batches itself and the group only watches: a
 * member a worker of which failed leaves the group, its `failed` word is set and `parked` woken
 * (the gate waits there). Returns the number of live members. */
size_t sc_ls_watch(sc_ls_group *g);
void sc_ls_close(sc_ls_group *g);
/* Passes the token to `holder` (a member, or SC_LS_END): its workers run one batch, the last
 * of them sets `parked` to their count (lockstep.c). */
void sc__ls_grant(sc_lockstep *ls, uint32_t holder);

/* ---- lockstep_worker.c ---- */
/* The futex system call on a word of the token (FUTEX_WAIT / FUTEX_WAKE). */
long sc__futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts);
/* A worker's last stretch less the time it waited on a run queue, ns. */
uint64_t sc__slot_busy_ns(const sc_slot *s);

/* ---- workers.c ---- */
/* Forks the cell's P workers into pids[0..P); returns how many started (fewer than P when fork
 * failed, after stopping and reaping those that did). */
int sc__start_workers(sc_cell *c, sc_arena *a, pid_t *pids);
/* Waits for the children in pids (0 entries are skipped, and each is waited for by its pid, so
 * that a child of the process that is not a worker is left alone) until `deadline`, then kills
 * those left; reaped ones become 0. Sets a->stop when *stop is set (a and stop may be NULL).
 * Adds their involuntary context switches to *nivcsw when not NULL. 1 when it killed, else 0. */
int sc__reap(pid_t *pids, int n, uint64_t deadline, sc_arena *a, volatile sig_atomic_t *stop,
             uint64_t *nivcsw);
/* Tells the workers of the arena to stop now, and wakes those at the barrier. */
void sc__stop_workers(sc_arena *a);

/* ---- runner.c ---- */
void sc__set_error(rp_cell *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool sc__worker_ok(const sc_slot *s, int i, bool killed, rp_cell *out);
/* The mean probes before and after of the first n slots. */
void sc__slot_probes(const sc_arena *a, int n, rp_probe *before, rp_probe *after);

#endif /* SC_LOCKSTEP_H */
