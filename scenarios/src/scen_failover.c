/*
 * scen_failover.c - failover: P workers write and read acknowledged, self-checking values at a
 * steady rate while one node of the backend is killed by PID at a seeded moment, restarted,
 * and the store read back (scen_failover_check.c).
 *
 * Each worker ticks FO_RATE_HZ times a second: it writes the next of its own keys (version =
 * the last acknowledged one + 1, recorded once acknowledged) and reads one of its keys at
 * random, checking the value (torn: SC_ETORN; older than acknowledged: SC_ESTALE; gone:
 * SC_EMISSING). A failed operation drops the connection; the next tick opens a new one. After
 * the measured phase a worker that is still failing keeps trying for up to FO_SETTLE_NS, so
 * that its window closes when the store is back.
 *
 * The fault: worker V (seeded) runs its loop in a child process - its writer - and acts as the
 * fault injector. At the seeded moment (30-50% into the phase) it either kills that writer with
 * SIGKILL and forks a new one (ultradict:, sqlite:, lmdb:: the "node" of an embedded store is a
 * process that writes to it), or kills one node of the server (nodes.c: only a node the service
 * layer listed, checked to serve this backend) and restarts it with UDBENCH_RESTART_CMD.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nodes.h"
#include "sc_mpi.h"
#include "scen.h"
#include "scen_failover.h"

#define FO_RATE_HZ 500
#define FO_MIN_PHASE_S 1.0
#define FO_SETTLE_NS (20ull * 1000000000ull)
#define FO_MAX_NODES 32

fo_shared *sc_fo;
static size_t fo_size;

const char *sc_fo_errname(int code) {
    if (code <= -4000 && code > -5000)
        return sc_errname(code);
    return code ? kv_errname(code) : "other";
}

static bool discards(const sc_cell *c) {
    return (c->caps & KV_CAP_DISCARDS) != 0;
}

const char *sc_failover_na(const sc_cell *c) {
    if (sc_mpi_size() > 1)
        return "runs on one host: the kill and the read-back are not spread over MPI ranks";
    if (discards(c))
        return "keeps nothing: there is no acknowledged write to lose";
    if (!(c->caps & KV_CAP_CROSS_PROCESS))
        return "entries are private to each process: a restarted writer starts empty";
    if (sc_backend_on_host(c->uri))
        return NULL;
    sc_node nodes[FO_MAX_NODES];
    int n = 0;
    char err[256] = "";
    if (sc_nodes_list(c->uri, nodes, FO_MAX_NODES, &n, err, sizeof err) != 0) {
        static char reason[300];
        snprintf(reason, sizeof reason, "no node to kill: %s", err);
        return reason;
    }
    if (n == 0)
        return "no node of this backend was handed over to kill (UDBENCH_NODES_CMD lists the "
               "nodes the service layer started; see scenarios/README.md)";
    return NULL;
}

void sc_failover_ops(sc_cell *c) {
    c->nops = 2;
    c->op_names[0] = "write";
    c->op_names[1] = "read";
    /* Timed, at a steady rate: a kill needs time before it and time to recover after it. */
    c->p.ops = 0;
    if (c->p.duration < FO_MIN_PHASE_S)
        c->p.duration = FO_MIN_PHASE_S;
}

/* Opens the backend, retrying while it is down for up to FO_SETTLE_NS (a restarted server, a
 * cluster electing a new primary). */
static int open_settled(const char *uri, kv_conn **out) {
    uint64_t limit = sc_now_ns() + FO_SETTLE_NS;
    int rc;
    while ((rc = kv_open(uri, out)) != 0 && sc_now_ns() < limit) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

/* The repetition's seed: which worker is the victim, when it strikes, which node. */
static uint64_t rep_seed(const sc_cell *c) {
    return sc_mix64(c->p.seed ^ sc_mix64(((uint64_t)c->rep + 1) * 0x9e3779b97f4a7c15ull));
}

/* Picks the node to kill (by the repetition's seed) among those listed for the backend. */
static int choose_node(const sc_cell *c, char *err, size_t errlen) {
    sc_node nodes[FO_MAX_NODES];
    int n = 0;
    char why[256] = "";
    int rc = sc_nodes_list(c->uri, nodes, FO_MAX_NODES, &n, why, sizeof why);
    if (rc || n == 0) {
        snprintf(err, errlen, "failover: %s", rc ? why : "no node to kill");
        return rc ? rc : -ESRCH;
    }
    sc_fo->node = nodes[(rep_seed(c) >> 7) % (uint64_t)n];
    return 0;
}

int sc_failover_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen) {
    (void)kv; /* the parent's connection may be one the last repetition's kill broke */
    if (sc_fo)
        munmap(sc_fo, fo_size);
    sc_fo = NULL;
    size_t size = sizeof(fo_shared) + c->p.keys * sizeof(fo_key);
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the failover state: %s", strerror(errno));
        return -errno;
    }
    sc_fo = m;
    fo_size = size;
    sc_fo->nkeys = c->p.keys;
    sc_fo->procs = c->p.procs;
    atomic_store(&sc_fo->kill_ns, UINT64_MAX);
    /* The node is chosen now: listing the nodes can take longer than the time to the kill. */
    if (!sc_backend_on_host(c->uri)) {
        int rc = choose_node(c, err, errlen);
        if (rc)
            return rc;
    }
    kv_conn *own = NULL;
    int rc = open_settled(c->uri, &own);
    if (rc) {
        snprintf(err, errlen, "cannot open the backend: %s", kv_errmsg(NULL));
        return rc;
    }
    /* Version 0 of every key, acknowledged before anything is killed. */
    rc = sc_prefill(own, &c->p, c->p.keys, err, errlen);
    kv_close(own);
    for (uint64_t k = 0; rc == 0 && k < c->p.keys; k++) {
        atomic_store(&sc_fo->keys[k].acked, 1);
        atomic_store(&sc_fo->keys[k].acked_pre, 1);
    }
    return rc;
}

/* Counts one error of kind `code` for the worker. */
static void count_kind(fo_wstate *s, int code) {
    int i = 0;
    while (i < FO_KINDS - 1 && s->kinds[i].count && s->kinds[i].code != code)
        i++;
    if (i == FO_KINDS - 1 && s->kinds[i].code != code)
        code = 0;
    s->kinds[i].code = code;
    s->kinds[i].count++;
}

/* An operation failed at time t: the window opens (or stays open). */
static void op_failed(fo_wstate *s, sc_op_stats *op, uint64_t t, int code) {
    op->errors++;
    count_kind(s, code);
    if (!s->first_fail)
        s->first_fail = t;
    s->last_fail = t;
}

/* An operation succeeded at time t: the first success after a failure closes the window. */
static void op_done(fo_wstate *s, sc_op_stats *op, uint64_t t0, uint64_t t1, uint64_t overhead) {
    op->ops++;
    uint64_t d = t1 - t0;
    sc_hist_add(&op->hist, d > overhead ? d - overhead : 0, 1);
    if (fo_failing(s))
        s->recover = t1;
}

typedef struct fo_loop {
    sc_worker *w;
    fo_wstate *s;
    uint64_t mine; /* how many keys the worker owns */
    uint64_t overhead;
} fo_loop;

/* The key index of the worker's j-th key. */
static uint64_t own_key(const fo_loop *l, uint64_t j) {
    return (uint64_t)l->w->index + (uint64_t)l->w->cell->p.procs * (j % l->mine);
}

/* A failure other than a missing key leaves the connection in doubt: drop it. */
static void drop_on(sc_worker *w, int rc) {
    if (rc && rc != KV_ENOTFOUND) {
        kv_close(w->kv);
        w->kv = NULL;
    }
}

static void write_one(fo_loop *l) {
    sc_worker *w = l->w;
    uint64_t k = own_key(l, l->s->cursor);
    fo_key *fk = &sc_fo->keys[k];
    uint64_t v = atomic_load(&fk->acked); /* the next version: last acknowledged + 1 */
    char key[SC_KEY_MAX];
    size_t klen = sc_key(key, k);
    sc_value_fill(w->value, w->cell->p.value_size, k, v);
    uint64_t t0 = sc_now_ns();
    int rc = kv_set(w->kv, key, klen, w->value, w->cell->p.value_size);
    uint64_t t1 = sc_now_ns();
    if (rc) {
        op_failed(l->s, &w->slot->op[0], t1, rc);
        drop_on(w, rc);
        return;
    }
    atomic_store(&fk->acked, v + 1);
    if (t1 < atomic_load(&sc_fo->kill_ns))
        atomic_store(&fk->acked_pre, v + 1);
    l->s->cursor++;
    op_done(l->s, &w->slot->op[0], t0, t1, l->overhead);
}

/* Checks a value read for key k against what was acknowledged: 0 or an SC_E* code. */
static int check_read(const sc_worker *w, uint64_t k, const kv_buf *b) {
    if (sc_value_check(b->data, b->len, k, w->cell->p.value_size))
        return SC_ETORN;
    uint64_t ver;
    memcpy(&ver, (const char *)b->data + 8, 8);
    return ver + 1 < atomic_load(&sc_fo->keys[k].acked) ? SC_ESTALE : 0;
}

static void read_one(fo_loop *l) {
    sc_worker *w = l->w;
    uint64_t k = own_key(l, sc_rng_below(&w->rng, l->mine));
    char key[SC_KEY_MAX];
    size_t klen = sc_key(key, k);
    uint64_t t0 = sc_now_ns();
    int rc = kv_get(w->kv, key, klen, &w->buf);
    uint64_t t1 = sc_now_ns();
    sc_op_stats *op = &w->slot->op[1];
    if (rc && rc != KV_ENOTFOUND) {
        op_failed(l->s, op, t1, rc);
        drop_on(w, rc);
        return;
    }
    /* The store answered: available. What it answered is checked apart from the window. */
    op_done(l->s, op, t0, t1, l->overhead);
    int bad = rc == KV_ENOTFOUND ? SC_EMISSING : check_read(w, k, &w->buf);
    if (bad) {
        op->errors++;
        count_kind(l->s, bad);
    }
}

/* Sleeps until t (ns, CLOCK_MONOTONIC) or the stop word. */
static void sleep_until(sc_worker *w, uint64_t t) {
    uint64_t now = sc_now_ns();
    if (t <= now || atomic_load_explicit(&w->arena->stop, memory_order_relaxed))
        return;
    struct timespec ts = {(time_t)((t - now) / 1000000000ull), (long)((t - now) % 1000000000ull)};
    nanosleep(&ts, NULL);
}

/* Whether the loop is over: stopped, or past the phase and not failing (or settled too long). */
static bool loop_over(const fo_loop *l, uint64_t now) {
    if (atomic_load_explicit(&l->w->arena->stop, memory_order_relaxed))
        return true;
    uint64_t end = l->w->arena->deadline;
    return now >= end && (!fo_failing(l->s) || now >= end + FO_SETTLE_NS);
}

/* The steady loop of one worker (its own process, or the writer child of the victim). */
static int run_loop(sc_worker *w) {
    fo_loop l = {
        .w = w, .s = &sc_fo->w[w->index], .overhead = (uint64_t)w->cell->timer_overhead_ns};
    uint64_t P = (uint64_t)w->cell->p.procs;
    l.mine = (sc_fo->nkeys - (uint64_t)w->index + P - 1) / P;
    if (l.mine == 0)
        return sc_fail(w, KV_EINVAL, "worker %d owns no key (keys < procs)", w->index);
    const uint64_t interval = 1000000000ull / FO_RATE_HZ;
    uint64_t next = sc_now_ns();
    for (uint64_t now = next; !loop_over(&l, now); now = sc_now_ns()) {
        sleep_until(w, next);
        /* No catching up in bursts after a stall: the rate stays steady. */
        next = next + interval > sc_now_ns() ? next + interval : sc_now_ns();
        if (!w->kv) {
            int rc = kv_open(w->cell->uri, &w->kv);
            if (rc) {
                op_failed(l.s, &w->slot->op[0], sc_now_ns(), rc);
                continue;
            }
        }
        write_one(&l);
        if (w->kv)
            read_one(&l);
    }
    w->slot->t_end = sc_now_ns();
    return 0;
}

/* Forks the victim's writer: a process of its own that runs the loop on its own connection. */
static pid_t spawn_writer(sc_worker *w) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* The supervisor's connection is not this process's to use or to close. */
        w->kv = NULL;
        int rc = run_loop(w);
        kv_close(w->kv);
        _exit(rc ? 1 : 0);
    }
    return pid;
}

/* Kills the node chosen in setup and restarts it. 0, or a negative code with w's slot told. */
static int kill_node(sc_worker *w) {
    const sc_node *v = &sc_fo->node;
    char err[256] = "";
    snprintf(sc_fo->victim, sizeof sc_fo->victim, "pid %d %s %s, kill -9", (int)v->pid, v->hostport,
             v->role);
    int pidfd, rc;
    if ((rc = sc_node_pin(v, &pidfd, err, sizeof err)) != 0)
        return sc_fail(w, rc, "failover: %s", err);
    atomic_store(&sc_fo->kill_ns, sc_now_ns());
    if ((rc = sc_node_kill(v, pidfd, err, sizeof err)) != 0)
        return sc_fail(w, rc, "failover: %s", err);
    rc = sc_node_restart(v, err, sizeof err);
    if (rc < 0)
        return sc_fail(w, rc, "failover: %s", err);
    if (rc == 0)
        sc_fo->restart_ns = sc_now_ns();
    return 0;
}

/* Waits for the writer; 0 when it exited 0. */
static int reap_writer(sc_worker *w, pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return sc_fail(w, -errno, "worker %d: waiting for its writer: %s", w->index,
                           strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    return w->slot->rc ? w->slot->rc : sc_fail(w, -ECHILD, "worker %d: its writer died", w->index);
}

/* The victim worker: runs its loop in a writer process and injects the fault. */
static int supervise(sc_worker *w, uint64_t seed) {
    pid_t pid = spawn_writer(w);
    if (pid < 0)
        return sc_fail(w, -errno, "worker %d: fork: %s", w->index, strerror(errno));
    const sc_cell *c = w->cell;
    double frac = 0.3 + 0.2 * (double)(sc_mix64(seed) >> 11) / 9007199254740992.0;
    uint64_t at = w->slot->t_start + (uint64_t)(frac * c->p.duration * 1e9);
    sleep_until(w, at);
    if (atomic_load(&w->arena->stop))
        return reap_writer(w, pid);
    if (!sc_backend_on_host(c->uri)) {
        int rc = kill_node(w);
        int wrc = reap_writer(w, pid);
        return rc ? rc : wrc;
    }
    snprintf(sc_fo->victim, sizeof sc_fo->victim, "worker %d's writer process, kill -9", w->index);
    atomic_store(&sc_fo->kill_ns, sc_now_ns());
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = spawn_writer(w);
    if (pid < 0)
        return sc_fail(w, -errno, "worker %d: restarting its writer: %s", w->index,
                       strerror(errno));
    sc_fo->restart_ns = sc_now_ns();
    return reap_writer(w, pid);
}

int sc_failover_work(sc_worker *w) {
    if (!sc_fo)
        return sc_fail(w, KV_EINVAL, "failover: no shared state (setup did not run)");
    if (sc_barrier(w))
        return 0;
    uint64_t seed = rep_seed(w->cell);
    if ((uint64_t)w->index == seed % (uint64_t)w->cell->p.procs)
        return supervise(w, seed >> 8);
    return run_loop(w);
}
