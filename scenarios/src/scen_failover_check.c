/*
 * scen_failover_check.c - the end of a failover repetition: the store is read back once it has
 * settled, every key against its last acknowledged version, and the figures are made: the
 * unavailability window per worker and merged, the errors by kind, and the acknowledged writes
 * lost (missing or older on read-back), with how many of them were acknowledged before the
 * kill.
 *
 * Counting: the versions of a key are acknowledged one after the other (a failed write is
 * retried with the same version), so a key whose last acknowledged version is a - 1 carries a
 * acknowledged writes (version 0 is the prefill). Read back with version o, it lost a - 1 - o
 * of them (all a when it is missing or its value fails its check); those acknowledged before
 * the kill are the ones up to the version acknowledged as of the kill.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "scen.h"
#include "scen_failover.h"

/* What the read-back found. */
typedef struct fo_tally {
    uint64_t acked, lost, before, missing, older, torn;
} fo_tally;

/* Reads key k, retrying (with a new connection) while the store does not answer, until
 * `limit`. 0 with the value in b, KV_ENOTFOUND, or the last error. */
static int read_back(const sc_cell *c, kv_conn **kv, uint64_t k, kv_buf *b, uint64_t limit) {
    char key[SC_KEY_MAX];
    size_t klen = sc_key(key, k);
    for (;;) {
        int rc = *kv ? 0 : kv_open(c->uri, kv);
        if (rc == 0) {
            rc = kv_get(*kv, key, klen, b);
            if (rc == 0 || rc == KV_ENOTFOUND)
                return rc;
            kv_close(*kv);
            *kv = NULL;
        }
        if (sc_now_ns() >= limit)
            return rc;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
}

/* Compares key k as read back with what was acknowledged. */
static void tally_key(const sc_cell *c, uint64_t k, int rc, const kv_buf *b, fo_tally *t) {
    uint64_t a = atomic_load(&sc_fo->keys[k].acked), pre = atomic_load(&sc_fo->keys[k].acked_pre);
    uint64_t seen = 0; /* versions acknowledged and still there: o + 1 */
    t->acked += a;
    if (rc == KV_ENOTFOUND) {
        t->missing++;
    } else if (sc_value_check(b->data, b->len, k, c->p.value_size)) {
        t->torn++;
        t->missing++;
    } else {
        uint64_t o;
        memcpy(&o, (const char *)b->data + 8, 8);
        seen = o + 1;
        if (seen < a)
            t->older++;
    }
    if (seen < a) {
        t->lost += a - seen;
        t->before += pre > seen ? pre - seen : 0;
    }
}

/* The windows: per worker (first failure to the first success after its last one; to the end
 * of its phase when it never recovered), merged over the workers. Returns whether all
 * recovered. */
static bool windows(const sc_arena *a, int P, double *per, double *merged) {
    uint64_t first = UINT64_MAX, last = 0;
    bool all = true;
    for (int i = 0; i < P; i++) {
        const fo_wstate *s = &sc_fo->w[i];
        per[i] = 0;
        if (!s->first_fail)
            continue;
        uint64_t end = fo_failing(s) ? a->slots[i].t_end : s->recover;
        all = all && !fo_failing(s);
        if (end < s->first_fail)
            end = s->first_fail;
        per[i] = (double)(end - s->first_fail) / 1e9;
        first = s->first_fail < first ? s->first_fail : first;
        last = end > last ? end : last;
    }
    *merged = last > first ? (double)(last - first) / 1e9 : 0;
    return all;
}

static int add_errors(rp_failover_rep *r, int P, const fo_tally *t) {
    int rc = 0;
    for (int i = 0; i < P && !rc; i++)
        for (int j = 0; j < FO_KINDS && !rc && sc_fo->w[i].kinds[j].count; j++)
            rc = rp_failover_add_error(r, sc_fo_errname(sc_fo->w[i].kinds[j].code),
                                       sc_fo->w[i].kinds[j].count);
    if (!rc && t->torn)
        rc = rp_failover_add_error(r, "SC_ETORN", t->torn);
    return rc;
}

static int record(const sc_cell *c, sc_arena *a, const fo_tally *t, rp_cell *out) {
    rp_failover_rep *r = rp_cell_add_failover_rep(out);
    if (!r)
        return -ENOMEM;
    int P = c->p.procs;
    double per[SC_MAX_PROCS];
    r->recovered = windows(a, P, per, &r->window_s);
    uint64_t t0 = UINT64_MAX, kill = atomic_load(&sc_fo->kill_ns);
    for (int i = 0; i < P; i++)
        t0 = a->slots[i].t_start && a->slots[i].t_start < t0 ? a->slots[i].t_start : t0;
    r->kill_s = kill != UINT64_MAX && kill > t0 ? (double)(kill - t0) / 1e9 : 0;
    r->restart_s = sc_fo->restart_ns > kill && kill != UINT64_MAX
                       ? (double)(sc_fo->restart_ns - kill) / 1e9
                       : -1;
    r->acked_writes = t->acked;
    r->lost_writes = t->lost;
    r->lost_before_kill = t->before;
    r->lost_share = t->acked ? (double)t->lost / (double)t->acked : 0;
    r->keys = sc_fo->nkeys;
    r->missing_keys = t->missing;
    r->older_keys = t->older;
    int rc = rp_set_string(&r->victim, sc_fo->victim[0] ? sc_fo->victim : "nothing (stopped)");
    if (!rc)
        rc = rp_failover_set_windows(r, per, (size_t)P);
    return rc ? rc : add_errors(r, P, t);
}

int sc_failover_finish(const sc_cell *c, kv_conn *kv, sc_arena *a, rp_cell *out) {
    (void)kv; /* broken by the kill of a server: the read-back opens its own */
    if (!sc_fo)
        return KV_EINVAL;
    kv_conn *own = NULL;
    kv_buf b = KV_BUF_INIT;
    fo_tally t = {0};
    int rc = 0;
    /* The store settles: every key gets FO_SETTLE_NS in all to answer. */
    uint64_t limit = sc_now_ns() + 20ull * 1000000000ull;
    for (uint64_t k = 0; k < sc_fo->nkeys; k++) {
        rc = read_back(c, &own, k, &b, limit);
        if (rc && rc != KV_ENOTFOUND)
            break;
        tally_key(c, k, rc, &b, &t);
        rc = 0;
    }
    kv_close(own);
    kv_buf_free(&b);
    return rc ? rc : record(c, a, &t, out);
}
