/*
 * scen_lock.c - contention and visibility.
 *
 * lock: P processes increment one counter through the backend's best primitive - an atomic
 * increment where there is one, else its lock around a read-modify-write, else a bare
 * read-modify-write - and the parent compares the final value with the number of increments
 * that reported success: lost updates = expected - observed.
 *
 * visibility: one writer stamps a key with a sequence number and its clock (CLOCK_MONOTONIC is
 * one clock for all processes of a machine); the other processes poll the key and record how
 * long each new stamp took to become visible to them.
 *
 * Against null: (KV_CAP_DISCARDS, the harness floor) both run their loops but judge nothing:
 * lock has no counter to check, so no lost-update verdict; visibility readers cannot see a
 * stamp, so each reader times the harness's own part of the way from a stamp to its sighting:
 * the clock read and the formatting of the writer, the (null) read and the parsing of the
 * reader, and the closing clock read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scen.h"

#define COUNTER "udbench:counter"
#define STAMP "udbench:stamp"
#define LOCK_TIMEOUT_S 30.0
#define STAMP_INTERVAL_NS 100000ull

/* The counter's or the stamp's key of a cell: its backend's index in the run is in the name,
 * because two backends of a group may reach one store (redis over TCP and over its socket) and
 * in lockstep rounds their cells are set up once and run side by side: each must count and
 * stamp its own key. The cell's namespace goes first: the two builds of a gate on one server
 * have the same backend indexes. Returns the key's length. */
static size_t cell_key(const sc_cell *c, const char *base, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s%s%s:%d", c->ns, c->ns[0] ? ":" : "", base, c->backend_index);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}
#define KEY(c, base)                                                                               \
    char key_[64];                                                                                 \
    size_t klen_ = cell_key((c), (base), key_, sizeof key_)

/* Sets the cell's key `base` to `val` before a run ("resetting WHAT: ..." in err on failure). */
static int reset_key(const sc_cell *c, kv_conn *kv, const char *base, const char *val,
                     const char *what, char *err, size_t errlen) {
    KEY(c, base);
    int rc = kv_set(kv, key_, klen_, val, strlen(val));
    if (rc)
        snprintf(err, errlen, "resetting the %s: %s", what, kv_errmsg(kv));
    return rc;
}

static const char *primitive(const sc_cell *c) {
    const char *p = c->p.primitive ? c->p.primitive : "auto";
    if (strcmp(p, "auto") != 0)
        return p;
    if (c->caps & KV_CAP_ATOMIC_INCR)
        return "incr";
    if (c->caps & KV_CAP_LOCK)
        return "lock";
    return "none";
}

/* null: keeps nothing: its figures are the harness's, and nothing it returns is judged. */
static bool discards(const sc_cell *c) {
    return (c->caps & KV_CAP_DISCARDS) != 0;
}

const char *sc_lock_na(const sc_cell *c) {
    if (c->p.procs > 1 && !discards(c) && !(c->caps & KV_CAP_CROSS_PROCESS))
        return "entries are private to each process: nothing is shared to contend for";
    if (!strcmp(primitive(c), "lock") && !(c->caps & KV_CAP_LOCK))
        return "the backend has no lock primitive";
    return NULL;
}

void sc_lock_ops(sc_cell *c) {
    c->p.primitive = primitive(c);
    c->nops = 1;
    c->op_names[0] = "incr";
}

int sc_lock_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen) {
    return reset_key(c, kv, COUNTER, "0", "counter", err, errlen);
}

/* A read-modify-write increment: what a backend without an atomic primitive offers. */
static int rmw_incr(sc_worker *w) {
    KEY(w->cell, COUNTER);
    int rc = kv_get(w->kv, key_, klen_, &w->buf);
    if (rc)
        return rc;
    char num[32];
    long long v = strtoll(w->buf.data, NULL, 10);
    int n = snprintf(num, sizeof num, "%lld", v + 1);
    return kv_set(w->kv, key_, klen_, num, (size_t)n);
}

static int one_incr(sc_worker *w, const char *prim) {
    KEY(w->cell, COUNTER);
    if (prim[0] == 'i')
        return kv_incr(w->kv, key_, klen_, 1, NULL);
    if (prim[0] == 'n')
        return rmw_incr(w);
    int rc = kv_lock(w->kv, LOCK_TIMEOUT_S);
    if (rc)
        return rc;
    rc = rmw_incr(w);
    int urc = kv_unlock(w->kv);
    return rc ? rc : urc;
}

/* Backends whose entries are private to a process (local:) keep the counter per worker. */
static bool shared(const sc_cell *c) {
    return (c->caps & KV_CAP_CROSS_PROCESS) != 0;
}

int sc_lock_work(sc_worker *w) {
    const sc_cell *c = w->cell;
    const char *prim = c->p.primitive;
    if (!shared(c)) {
        char err[256];
        int rc = sc_lock_setup(c, w->kv, err, sizeof err);
        if (rc)
            return sc_fail(w, rc, "worker %d: %s", w->index, err);
    }
    if (sc_barrier(w))
        return 0;
    uint64_t target = c->p.ops ? sc_share(w, c->p.ops) : 0, done = 0;
    uint64_t overhead = (uint64_t)c->timer_overhead_ns;
    sc_op_stats *s = &w->slot->op[0];
    while (!sc_phase_over(w, done, target)) {
        uint64_t t0 = sc_now_ns();
        int rc = one_incr(w, prim);
        uint64_t t1 = sc_now_ns();
        done++;
        if (rc == KV_ENOTLOCKED) {
            /* An advisory lock expired under us: the increment happened but was not
             * protected. Counted as an error; the final value tells whether it was lost. */
            s->errors++;
            s->ops++;
            continue;
        }
        if (rc)
            return sc_fail(w, rc, "worker %d: increment (%s): %s: %s", w->index, prim,
                           kv_errname(rc), kv_errmsg(w->kv));
        s->ops++;
        uint64_t d = t1 - t0;
        sc_hist_add(&s->hist, d > overhead ? d - overhead : 0, 1);
    }
    w->slot->t_end = sc_now_ns();
    if (!shared(c)) {
        KEY(c, COUNTER);
        int rc = kv_get(w->kv, key_, klen_, &w->buf);
        if (rc)
            return sc_fail(w, rc, "worker %d: reading the counter: %s", w->index, kv_errmsg(w->kv));
        w->slot->counters[0] = strtoll(w->buf.data, NULL, 10);
    }
    return 0;
}

int sc_lock_finish(const sc_cell *c, kv_conn *kv, sc_arena *a, rp_cell *out) {
    if (discards(c))
        return 0; /* no counter was kept: lost updates do not apply */
    long long observed = 0;
    int64_t expected = 0;
    for (int i = 0; i < c->p.procs; i++) {
        expected += (int64_t)a->slots[i].op[0].ops;
        observed += a->slots[i].counters[0];
    }
    if (shared(c)) {
        KEY(c, COUNTER);
        kv_buf v = KV_BUF_INIT;
        int rc = kv_get(kv, key_, klen_, &v);
        if (rc) {
            kv_buf_free(&v);
            return rc;
        }
        observed = strtoll(v.data, NULL, 10);
        kv_buf_free(&v);
    }
    rp_correctness *k = &out->correctness;
    k->present = true;
    k->expected += expected;
    k->observed += observed;
    k->lost_updates += expected - observed;
    return 0;
}

/* ---- visibility ---- */

const char *sc_vis_na(const sc_cell *c) {
    if (c->p.procs < 2)
        return "needs at least two processes: one writer and readers";
    if (!discards(c) && !(c->caps & KV_CAP_CROSS_PROCESS))
        return "entries are private to each process: a write is never visible to another";
    return NULL;
}

/* rtt: the cross-core round trip of the same run (scen_rtt.c), what `visible` is compared with. */
void sc_vis_ops(sc_cell *c) {
    c->nops = 3;
    c->op_names[0] = "visible";
    c->op_names[1] = "write";
    c->op_names[2] = "rtt";
}

int sc_vis_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen) {
    return reset_key(c, kv, STAMP, "0 0", "stamp", err, errlen);
}

/* The stamp of a write: its sequence number and the time it was taken. */
static int format_stamp(char *v, size_t len, uint64_t seq, uint64_t stamp) {
    return snprintf(v, len, "%" PRIu64 " %" PRIu64, seq, stamp);
}

static int parse_stamp(sc_worker *w, const char *text, unsigned long long *seq,
                       unsigned long long *stamp) {
    char *end = NULL;
    errno = 0;
    *seq = strtoull(text, &end, 10);
    bool ok = errno == 0 && end != text && *end == ' ';
    if (ok) {
        const char *rest = end + 1;
        *stamp = strtoull(rest, &end, 10);
        ok = errno == 0 && end != rest && *end == '\0';
    }
    if (!ok)
        return sc_fail(w, -1, "reader %d: unexpected stamp \"%.40s\"", w->index, text);
    return 0;
}

/* Spins until the clock passes t (or the run stops). */
static void spin_until(const sc_worker *w, uint64_t t) {
    while (sc_now_ns() < t && !atomic_load_explicit(&w->arena->stop, memory_order_relaxed))
        ;
}

static int vis_writer(sc_worker *w) {
    const sc_cell *c = w->cell;
    KEY(c, STAMP);
    uint64_t target = c->p.ops, seq = 0;
    sc_op_stats *s = &w->slot->op[1];
    bool rtt = sc_rtt_applies(w);
    while (!sc_phase_over(w, seq, target)) {
        char v[64];
        /* The stamp is the time before formatting it (so visibility includes those few ns);
         * the write alone is what `write` times. */
        uint64_t stamp = sc_now_ns();
        int n = format_stamp(v, sizeof v, seq + 1, stamp);
        uint64_t t0 = sc_now_ns();
        int rc = kv_set(w->kv, key_, klen_, v, (size_t)n);
        uint64_t t1 = sc_now_ns();
        if (rc)
            return sc_fail(w, rc, "writer: %s: %s", kv_errname(rc), kv_errmsg(w->kv));
        seq++;
        s->ops++;
        sc_hist_add(&s->hist, t1 - t0, 1);
        /* Space the stamps so that readers can see each one; halfway, long after the readers
         * saw this stamp, time a few round trips with the first reader. */
        spin_until(w, t1 + STAMP_INTERVAL_NS / 2);
        if (rtt)
            sc_rtt_session(w, &w->slot->op[2]);
        spin_until(w, t1 + STAMP_INTERVAL_NS);
    }
    return 0;
}

static int vis_reader(sc_worker *w) {
    const sc_cell *c = w->cell;
    KEY(c, STAMP);
    uint64_t last = 0;
    sc_op_stats *s = &w->slot->op[0];
    /* The last stamp seen counts the writer's stamps: in ops mode, the phase (or batch) is over
     * when the stamps it is made of have all been seen. */
    bool rtt = sc_rtt_applies(w);
    while (!sc_phase_over(w, last, c->p.ops)) {
        if (rtt)
            sc_rtt_answer(w);
        int rc = kv_get(w->kv, key_, klen_, &w->buf);
        uint64_t now = sc_now_ns();
        if (rc)
            return sc_fail(w, rc, "reader %d: %s: %s", w->index, kv_errname(rc), kv_errmsg(w->kv));
        unsigned long long seq = 0, stamp = 0;
        if (parse_stamp(w, w->buf.data, &seq, &stamp))
            return w->slot->rc;
        if (seq > last) {
            last = seq;
            /* A stamp written before this reader's stretch began waited across a pause of the
             * lockstep rounds, not for the backend: it is not a sighting. */
            if (stamp < w->slot->b_start)
                continue;
            s->ops++;
            sc_hist_add(&s->hist, now > stamp ? now - stamp : 0, 1);
        }
    }
    return 0;
}

/* The harness floor of a sighting (null:): the harness's work between a stamp and its sighting
 * with nothing carried in between - stamp, format, read, parse, clock - once per poll. */
static int vis_floor_reader(sc_worker *w) {
    const sc_cell *c = w->cell;
    KEY(c, STAMP);
    sc_op_stats *s = &w->slot->op[0];
    bool rtt = sc_rtt_applies(w);
    for (uint64_t seq = 1; !sc_phase_over(w, seq - 1, c->p.ops); seq++) {
        if (rtt)
            sc_rtt_answer(w);
        char v[64];
        uint64_t stamp = sc_now_ns();
        format_stamp(v, sizeof v, seq, stamp);
        int rc = kv_get(w->kv, key_, klen_, &w->buf);
        if (rc)
            return sc_fail(w, rc, "reader %d: %s: %s", w->index, kv_errname(rc), kv_errmsg(w->kv));
        unsigned long long got = 0, at = 0;
        if (parse_stamp(w, v, &got, &at))
            return w->slot->rc;
        uint64_t now = sc_now_ns();
        s->ops++;
        sc_hist_add(&s->hist, now > at ? now - at : 0, 1);
    }
    return 0;
}

int sc_vis_work(sc_worker *w) {
    if (sc_barrier(w))
        return 0;
    int rc = w->index == 0       ? vis_writer(w)
             : discards(w->cell) ? vis_floor_reader(w)
                                 : vis_reader(w);
    w->slot->t_end = sc_now_ns();
    return rc;
}
