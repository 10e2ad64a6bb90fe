/*
 * json_read_failover.c - reading a cell's "failover" block (udbench/3) and checking that its
 * figures agree with each other: lost writes within the acknowledged ones, the share their
 * ratio, the merged window at least every worker's, the keys found missing or older within
 * the keys read back, one repetition per repetition of the cell's metrics.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "json_check.h"

/* "worker_window_s": an array of reals >= 0, none longer than the merged window. */
static int read_windows(rp__jc *r, const json_t *o, rp_failover_rep *x) {
    const json_t *a;
    if (rp__jc_arr(r, o, "worker_window_s", &a))
        return r->rc;
    size_t n = json_array_size(a);
    double v[64];
    if (n > 64)
        return rp__jc_bad_at(r, "worker_window_s", "more than 64 workers (%zu)", n);
    size_t m = rp__jc_enter(r, "worker_window_s");
    for (size_t i = 0; i < n && !r->rc; i++) {
        const json_t *e = json_array_get(a, i);
        size_t mi = rp__jc_enter_index(r, i);
        if (!json_is_number(e) || json_number_value(e) < 0)
            rp__jc_bad(r, "expected a number >= 0");
        else if ((v[i] = json_number_value(e)) > x->window_s && !rp__agree(v[i], x->window_s))
            rp__jc_bad(r, "%g s is longer than the merged window_s (%g s)", v[i], x->window_s);
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    if (!r->rc && rp_failover_set_windows(x, v, n))
        return rp__jc_nomem(r);
    return r->rc;
}

/* "errors": an object of kind -> count (an integer >= 0). */
static int read_errors(rp__jc *r, const json_t *o, rp_failover_rep *x) {
    const json_t *e;
    if (rp__jc_obj(r, o, "errors", false, &e))
        return r->rc;
    const char *kind;
    const json_t *v;
    json_object_foreach((json_t *)e, kind, v) {
        uint64_t count;
        size_t m = rp__jc_enter(r, "errors");
        if (!*kind)
            rp__jc_bad(r, "an error kind must not be empty");
        else if (!rp__jc_uint(r, e, kind, &count) && rp_failover_add_error(x, kind, count))
            rp__jc_nomem(r);
        rp__jc_leave(r, m);
        if (r->rc)
            break;
    }
    return r->rc;
}

/* The figures of one repetition must agree with each other. */
static int check_rep(rp__jc *r, const rp_failover_rep *x) {
    if (x->lost_writes > x->acked_writes)
        return rp__jc_bad_at(r, "lost_writes", "%llu is more than the %llu acknowledged",
                             (unsigned long long)x->lost_writes,
                             (unsigned long long)x->acked_writes);
    if (x->lost_before_kill > x->lost_writes)
        return rp__jc_bad_at(r, "lost_before_kill", "%llu is more than the %llu lost",
                             (unsigned long long)x->lost_before_kill,
                             (unsigned long long)x->lost_writes);
    double share = x->acked_writes ? (double)x->lost_writes / (double)x->acked_writes : 0;
    if (!rp__agree(share, x->lost_share))
        return rp__jc_bad_at(r, "lost_share", "%g, but lost_writes / acked_writes is %g",
                             x->lost_share, share);
    if (x->missing_keys + x->older_keys > x->keys)
        return rp__jc_bad_at(r, "keys", "fewer (%llu) than those found missing or older",
                             (unsigned long long)x->keys);
    return 0;
}

static int add_rep(rp__jc *r, const json_t *o, void *ctx) {
    static const char *const keys[] = {"victim",       "kill_s",      "restart_s",
                                       "window_s",     "recovered",   "worker_window_s",
                                       "acked_writes", "lost_writes", "lost_before_kill",
                                       "lost_share",   "keys",        "missing_keys",
                                       "older_keys",   "errors",      NULL};
    rp_failover_rep *x = rp_cell_add_failover_rep(ctx);
    if (!x)
        return rp__jc_nomem(r);
    if (!json_is_object(o))
        return rp__jc_bad(r, "expected an object");
    if (rp__jc_only_known(r, o, keys) || rp__jc_str(r, o, "victim", &x->victim, RP__JC_REQUIRED) ||
        rp__jc_num(r, o, "kill_s", &x->kill_s))
        return r->rc;
    const json_t *rs = rp__jc_member(r, o, "restart_s");
    if (!rs || (!json_is_null(rs) && rp__jc_num(r, o, "restart_s", &x->restart_s)))
        return r->rc;
    if (rp__jc_num(r, o, "window_s", &x->window_s) ||
        rp__jc_bool(r, o, "recovered", &x->recovered) || read_windows(r, o, x) ||
        rp__jc_uint(r, o, "acked_writes", &x->acked_writes) ||
        rp__jc_uint(r, o, "lost_writes", &x->lost_writes) ||
        rp__jc_uint(r, o, "lost_before_kill", &x->lost_before_kill) ||
        rp__jc_num(r, o, "lost_share", &x->lost_share) || rp__jc_uint(r, o, "keys", &x->keys) ||
        rp__jc_uint(r, o, "missing_keys", &x->missing_keys) ||
        rp__jc_uint(r, o, "older_keys", &x->older_keys) || read_errors(r, o, x))
        return r->rc;
    return check_rep(r, x);
}

int rp__read_failover(rp__jc *r, const json_t *o, rp_cell *c) {
    const json_t *f, *reps;
    if (!rp__jc_has(o, "failover") || rp__jc_obj(r, o, "failover", true, &f) || !f)
        return r->rc;
    static const char *const keys[] = {"reps", NULL};
    size_t m = rp__jc_enter(r, "failover");
    if (!rp__jc_only_known(r, f, keys) && !rp__jc_arr(r, f, "reps", &reps)) {
        if (json_array_size(reps) == 0)
            rp__jc_bad_at(r, "reps", "a failover block needs at least one repetition");
        else if (!rp__jc_each(r, "reps", reps, add_rep, c))
            for (size_t i = 0; i < c->nmetrics && !r->rc; i++)
                if (c->metrics[i].nreps != c->failover.nreps)
                    rp__jc_bad_at(r, "reps", "%zu repetitions, but metric \"%s\" has %zu",
                                  c->failover.nreps, c->metrics[i].op, c->metrics[i].nreps);
    }
    rp__jc_leave(r, m);
    return r->rc;
}
