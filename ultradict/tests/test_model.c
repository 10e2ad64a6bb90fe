/*
 * test_model.c - randomised writers and readers on one dict, checked against a model: the
 * writers log every write in the order they held the lock, the parent replays the log, and the
 * dict's final contents and every reader's observations must agree with it. Both lock modes.
 *
 * Children never call cmocka: they _exit() with a status (and write figures into shared memory)
 * and the parent asserts.
 */
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>

#define WAIT_LIMIT 60.0 /* seconds: the hang guard for any group of children */

/* ---- Random writers and readers against a model. ---- */

enum { NKEYS = 48, NCOUNTERS = 4, MW = 2, MR = 2, MOPS = 20000, MAXUPD = 4 };
enum { OP_SET, OP_DEL, OP_INCR, OP_UPDATE, OP_POP, OP_SETDEFAULT, OP_CLEAR, OP_GET };

/* One logged write (or locked read), in the order the writers held the lock. */
typedef struct mlog {
    int op;
    int rc;
    int n;
    int key[MAXUPD];
    uint32_t len[MAXUPD];
    uint64_t seq[MAXUPD];
    int64_t by, result;
    uint64_t seen_seq;
    uint32_t seen_len;
} mlog;

typedef struct mshared {
    _Atomic long log_count;
    _Atomic int writers_done;
    _Atomic int phase;
    uint64_t sums[MW + MR];
    uint64_t counts[MW + MR];
    uint64_t reads[MW + MR];
    uint64_t torn[MW + MR];
    char err[MW + MR][160];
    mlog log[MW * MOPS];
} mshared;

typedef struct model_arg {
    const char *name;
    mshared *sh;
    int id;
    int *gate;
} model_arg;

static void key_name(char *buf, int k) {
    snprintf(buf, 16, "k%02d", k);
}

static void counter_name(char *buf, int c) {
    snprintf(buf, 16, "c%d", c);
}

/* Waits for the parent to start the convergence phase, then checksums the dict. */
static int child_converge(ud_dict *d, mshared *sh, int id) {
    double deadline = ut_now() + WAIT_LIMIT;
    while (atomic_load(&sh->phase) == 0) {
        if (ut_now() > deadline)
            return 20;
        ut_sleep(0.001);
    }
    if (ud_apply_update(d) != 0)
        return 21;
    size_t n = 0;
    if (ut_dict_checksum(d, &sh->sums[id], &n) != 0)
        return 22;
    sh->counts[id] = n;
    return 0;
}

#define CFAIL(code, ...)                                                                           \
    do {                                                                                           \
        snprintf(sh->err[id], sizeof sh->err[id], __VA_ARGS__);                                    \
        return (code);                                                                             \
    } while (0)

/* The writers' mix of operations: each op up to its cumulative percentage. */
static int pick_op(ut_rng *r) {
    static const struct {
        int op;
        uint64_t below;
    } mix[] = {{OP_SET, 35}, {OP_DEL, 45},        {OP_INCR, 65},  {OP_UPDATE, 80},
               {OP_POP, 86}, {OP_SETDEFAULT, 92}, {OP_CLEAR, 93}, {OP_GET, 100}};
    uint64_t pick = ut_rng_below(r, 100);
    size_t i = 0;
    while (pick >= mix[i].below)
        i++;
    return mix[i].op;
}

/* The keys and values of writer `id`'s operation number i: its log entry before it runs. */
static void plan_op(ut_rng *r, int id, int i, mlog *e, char keys[][16],
                    unsigned char vals[][1024]) {
    memset(e, 0, sizeof *e);
    e->op = pick_op(r);
    e->n = e->op == OP_UPDATE ? 1 + (int)ut_rng_below(r, MAXUPD) : 1;
    for (int j = 0; j < e->n; j++) {
        e->key[j] = (int)ut_rng_below(r, e->op == OP_INCR ? NCOUNTERS : NKEYS);
        e->seq[j] = (uint64_t)id << 32 | (uint64_t)(i * MAXUPD + j);
        e->len[j] = UT_VALUE_MIN + (uint32_t)ut_rng_below(r, 400);
        if (e->op == OP_INCR)
            counter_name(keys[j], e->key[j]);
        else
            key_name(keys[j], e->key[j]);
        ut_value_make(vals[j], e->len[j], keys[j], strlen(keys[j]), e->seq[j]);
    }
    e->by = (int64_t)ut_rng_below(r, 16) - 5;
}

/* Runs the operation of log entry e; the value it reads (pop, setdefault, get) goes to v. */
static int run_op(ud_dict *d, mlog *e, char keys[][16], unsigned char vals[][1024], ud_buf *v) {
    switch (e->op) {
    case OP_SET:
        return ud_set(d, S(keys[0]), vals[0], e->len[0]);
    case OP_DEL:
        return ud_del(d, S(keys[0]));
    case OP_INCR:
        return ud_incr(d, S(keys[0]), e->by, &e->result);
    case OP_UPDATE: {
        ud_item items[MAXUPD];
        for (int j = 0; j < e->n; j++)
            items[j] = (ud_item){keys[j], strlen(keys[j]), vals[j], e->len[j]};
        return ud_update(d, items, (size_t)e->n);
    }
    case OP_POP:
        return ud_pop(d, S(keys[0]), v);
    case OP_SETDEFAULT:
        return ud_setdefault(d, S(keys[0]), vals[0], e->len[0], v);
    case OP_CLEAR:
        return ud_clear(d);
    default:
        return ud_get(d, S(keys[0]), v);
    }
}

/* One operation of a writer, under the lock, logged in the order of the stream. */
static int writer_step(ud_dict *d, mshared *sh, int id, ut_rng *r, int i, ud_buf *v) {
    static unsigned char vals[MAXUPD][1024];
    char keys[MAXUPD][16];
    mlog e;
    plan_op(r, id, i, &e, keys, vals);
    if (ud_lock(d, NULL) != 0)
        CFAIL(4, "ud_lock failed");
    e.rc = run_op(d, &e, keys, vals, v);
    if ((e.op == OP_POP || e.op == OP_SETDEFAULT || e.op == OP_GET) && e.rc == 0) {
        if (ut_value_check(keys[0], strlen(keys[0]), v->data, v->len, &e.seen_seq) != 0) {
            ud_unlock(d);
            CFAIL(5, "op %d: invalid value read under the lock for %s", e.op, keys[0]);
        }
        e.seen_len = (uint32_t)v->len;
    }
    bool ok =
        e.rc == 0 || (e.rc == UD_ENOTFOUND && (e.op == OP_DEL || e.op == OP_POP || e.op == OP_GET));
    if (!ok) {
        ud_unlock(d);
        CFAIL(6, "op %d on %s: %s", e.op, keys[0], ud_errname(e.rc));
    }
    /* Appended while the lock is held: the log order is the order of the stream. */
    long at = atomic_fetch_add(&sh->log_count, 1);
    sh->log[at] = e;
    if (ud_unlock(d) != 0)
        CFAIL(7, "ud_unlock failed");
    return 0;
}

/* What a writer or a reader does once it has started (model_child). */
typedef int (*model_body)(ud_dict *d, mshared *sh, int id, ut_rng *r);

/* A child: attaches, seeds its generator with seed + id, waits at the gate, and runs body. */
static int model_child(const model_arg *a, uint64_t seed, model_body body) {
    mshared *sh = a->sh;
    int id = a->id;
    ud_dict *d = ut_attach(a->name);
    if (d == NULL)
        CFAIL(2, "attach failed");
    ut_rng r;
    ut_rng_seed(&r, seed + (uint64_t)id);
    if (ut_gate_wait(a->gate) != 0) {
        ud_close(d);
        return 3;
    }
    return body(d, sh, id, &r);
}

static int writer_body(ud_dict *d, mshared *sh, int id, ut_rng *r) {
    int rc = 0;
    ud_buf v = UD_BUF_INIT;
    for (int i = 0; i < MOPS && rc == 0; i++)
        rc = writer_step(d, sh, id, r, i, &v);
    ud_buf_free(&v);
    if (rc != 0)
        return rc;
    atomic_fetch_add(&sh->writers_done, 1);
    rc = child_converge(d, sh, id);
    ud_close(d);
    return rc;
}

/* What a reader has read, and how much of it was torn. */
typedef struct reader_tally {
    uint64_t reads, torn;
} reader_tally;

/* Reads one key (a value with its check, or a counter that must parse) without the lock. */
static int reader_get(ud_dict *d, mshared *sh, int id, const char *key, bool counter, ud_buf *v,
                      reader_tally *t) {
    int rc = ud_get(d, S(key), v);
    if (rc == UD_ENOTFOUND)
        return 0;
    if (rc != 0)
        CFAIL(counter ? 5 : 4, "ud_get %s: %s", key, ud_errname(rc));
    t->reads++;
    int64_t n;
    bool good = counter ? ut_parse_i64(v->data, v->len, &n) == 0
                        : ut_value_check(key, strlen(key), v->data, v->len, NULL) == 0;
    t->torn += !good;
    return 0;
}

/* Iterates over the whole dict, checking every entry. */
static int reader_iterate(ud_dict *d, mshared *sh, int id, ud_buf *k, ud_buf *v, reader_tally *t) {
    ud_iter *it = NULL;
    int rc = ud_iter_open(d, &it);
    if (rc != 0)
        CFAIL(6, "ud_iter_open: %s", ud_errname(rc));
    while ((rc = ud_iter_next(it, k, v, NULL)) == 0) {
        t->reads++;
        int64_t n;
        bool good = k->len > 0 && ((const char *)k->data)[0] == 'c'
                        ? ut_parse_i64(v->data, v->len, &n) == 0
                        : ut_value_check(k->data, k->len, v->data, v->len, NULL) == 0;
        t->torn += !good;
    }
    ud_iter_close(it);
    if (rc != UD_ENOTFOUND)
        CFAIL(7, "ud_iter_next: %s", ud_errname(rc));
    return 0;
}

/* One read of a reader: 70% a value, 25% a counter, 5% a whole iteration. */
static int reader_step(ud_dict *d, mshared *sh, int id, ut_rng *r, ud_buf *k, ud_buf *v,
                       reader_tally *t) {
    char key[16];
    uint64_t pick = ut_rng_below(r, 100);
    if (pick < 70) {
        key_name(key, (int)ut_rng_below(r, NKEYS));
        return reader_get(d, sh, id, key, false, v, t);
    }
    if (pick < 95) {
        counter_name(key, (int)ut_rng_below(r, NCOUNTERS));
        return reader_get(d, sh, id, key, true, v, t);
    }
    return reader_iterate(d, sh, id, k, v, t);
}

static int reader_body(ud_dict *d, mshared *sh, int id, ut_rng *r) {
    int rc = 0;
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    reader_tally t = {0, 0};
    while (rc == 0 && atomic_load(&sh->phase) == 0)
        rc = reader_step(d, sh, id, r, &k, &v, &t);
    ud_buf_free(&k);
    ud_buf_free(&v);
    if (rc != 0)
        return rc;
    sh->reads[id] = t.reads;
    sh->torn[id] = t.torn;
    rc = child_converge(d, sh, id);
    ud_close(d);
    return rc;
}

static int model_writer(void *varg) {
    return model_child(varg, 1000, writer_body);
}

static int model_reader(void *varg) {
    return model_child(varg, 2000, reader_body);
}

typedef struct model {
    bool present[NKEYS];
    uint64_t seq[NKEYS];
    uint32_t len[NKEYS];
    bool cpresent[NCOUNTERS];
    int64_t cval[NCOUNTERS];
} model;

static void model_set(model *m, int k, uint64_t seq, uint32_t len) {
    m->present[k] = true;
    m->seq[k] = seq;
    m->len[k] = len;
}

/* A del, pop or get found the key exactly when the model has it; a read saw the model's value. */
static void replay_found(const model *m, long i, const mlog *e, const char *what) {
    int k = e->key[0];
    if ((e->rc == 0) != m->present[k])
        fail_msg("log %ld: %s k%02d returned %s but the model has it %s", i, what, k,
                 ud_errname(e->rc), m->present[k] ? "present" : "absent");
    if (e->op != OP_DEL && e->rc == 0 && (e->seen_seq != m->seq[k] || e->seen_len != m->len[k]))
        fail_msg("log %ld: read k%02d seq %llx len %u, the model has seq %llx len %u", i, k,
                 (unsigned long long)e->seen_seq, e->seen_len, (unsigned long long)m->seq[k],
                 m->len[k]);
}

static void replay_incr(model *m, long i, const mlog *e) {
    int k = e->key[0];
    int64_t want = (m->cpresent[k] ? m->cval[k] : 0) + e->by;
    if (e->result != want)
        fail_msg("log %ld: incr c%d returned %lld, the model says %lld", i, k, (long long)e->result,
                 (long long)want);
    m->cpresent[k] = true;
    m->cval[k] = want;
}

static void replay_setdefault(model *m, long i, const mlog *e) {
    int k = e->key[0];
    if (m->present[k]) {
        if (e->seen_seq != m->seq[k])
            fail_msg("log %ld: setdefault k%02d returned seq %llx, the model has %llx", i, k,
                     (unsigned long long)e->seen_seq, (unsigned long long)m->seq[k]);
        return;
    }
    if (e->seen_seq != e->seq[0])
        fail_msg("log %ld: setdefault k%02d on a missing key returned seq %llx", i, k,
                 (unsigned long long)e->seen_seq);
    model_set(m, k, e->seq[0], e->len[0]);
}

/* Applies log entry i to the model, checking the result the writer observed. */
static void replay_one(model *m, long i, const mlog *e) {
    int k = e->key[0];
    switch (e->op) {
    case OP_SET:
        model_set(m, k, e->seq[0], e->len[0]);
        break;
    case OP_DEL:
    case OP_POP:
        replay_found(m, i, e, e->op == OP_DEL ? "del" : "pop");
        m->present[k] = false;
        break;
    case OP_INCR:
        replay_incr(m, i, e);
        break;
    case OP_UPDATE:
        for (int j = 0; j < e->n; j++)
            model_set(m, e->key[j], e->seq[j], e->len[j]);
        break;
    case OP_GET:
        replay_found(m, i, e, "get");
        break;
    case OP_SETDEFAULT:
        replay_setdefault(m, i, e);
        break;
    case OP_CLEAR:
        memset(m, 0, sizeof *m);
        break;
    default:
        fail_msg("log %ld: unknown op %d", i, e->op);
    }
}

/* The checksum of the dict the model describes, as ut_dict_checksum() computes it. */
static uint64_t model_checksum(const model *m, size_t *count) {
    static ut_kv items[NKEYS + NCOUNTERS];
    static char keys[NKEYS + NCOUNTERS][16];
    static unsigned char vals[NKEYS][1024];
    static char cvals[NCOUNTERS][32];
    size_t ni = 0;
    for (int k = 0; k < NKEYS; k++) {
        if (!m->present[k])
            continue;
        key_name(keys[ni], k);
        ut_value_make(vals[k], m->len[k], keys[ni], strlen(keys[ni]), m->seq[k]);
        items[ni] = (ut_kv){keys[ni], strlen(keys[ni]), vals[k], m->len[k], UD_TYPE_BYTES};
        ni++;
    }
    for (int c = 0; c < NCOUNTERS; c++) {
        if (!m->cpresent[c])
            continue;
        counter_name(keys[ni], c);
        int l = snprintf(cvals[c], sizeof cvals[c], "%lld", (long long)m->cval[c]);
        items[ni] = (ut_kv){keys[ni], strlen(keys[ni]), cvals[c], (size_t)l, UD_TYPE_BYTES};
        ni++;
    }
    *count = ni;
    return ut_items_checksum(items, ni);
}

/* Replays the log; checks every result the writers observed. Returns the model checksum. */
static uint64_t replay(const mshared *sh, long n, size_t *count) {
    static model m;
    memset(&m, 0, sizeof m);
    for (long i = 0; i < n; i++)
        replay_one(&m, i, &sh->log[i]);
    return model_checksum(&m, count);
}

static void run_model(int lock) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 4096);
    mshared *sh = ut_shared_alloc(sizeof *sh);
    assert_non_null(sh);
    int gate[2];
    assert_int_equal(ut_gate_open(gate), 0);
    model_arg args[MW + MR];
    pid_t pids[MW + MR];
    for (int i = 0; i < MW + MR; i++) {
        args[i] = (model_arg){name, sh, i, gate};
        pids[i] = ut_fork(i < MW ? model_writer : model_reader, &args[i]);
        assert_true(pids[i] > 0);
    }
    ud_status_info s0, s1;
    assert_ok(ud_status(d, &s0));
    double t0 = ut_now();
    ut_gate_release(gate);
    while (atomic_load(&sh->writers_done) < MW && ut_now() - t0 < WAIT_LIMIT) {
        bool dead = false;
        for (int i = 0; i < MW + MR; i++) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            /* Peek without reaping: a child that exits early is reported below. */
            if (waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                si.si_pid == pids[i])
                dead = true;
        }
        if (dead)
            break;
        ut_sleep(0.005);
    }
    double el = ut_now() - t0;
    atomic_store(&sh->phase, 1);
    int status[MW + MR];
    int bad = ut_wait_all(pids, MW + MR, WAIT_LIMIT, status);
    for (int i = 0; i < MW + MR; i++) {
        if (status[i] != 0) {
            char buf[64];
            print_error("model child %d: %s: %s\n", i, ut_status_str(status[i], buf, sizeof buf),
                        sh->err[i]);
        }
    }
    ut_gate_close(gate);
    assert_int_equal(bad, 0);

    long n = atomic_load(&sh->log_count);
    assert_int_equal(n, MW * MOPS);
    assert_ok(ud_status(d, &s1));
    uint64_t reads = 0, torn = 0;
    for (int i = MW; i < MW + MR; i++) {
        reads += sh->reads[i];
        torn += sh->torn[i];
    }
    printf("%s model run: %d writers x %d ops, %d readers: %.2f s, %llu dumps, %llu reads, "
           "%llu torn\n",
           lock == UD_LOCK_SPIN ? "spin" : "mutex", MW, MOPS, MR, el,
           (unsigned long long)(s1.dump_count - s0.dump_count), (unsigned long long)reads,
           (unsigned long long)torn);
    assert_int_equal(torn, 0);
    assert_true(reads > 0);
    assert_true(s1.dump_count - s0.dump_count >= 10); /* the small buffer forced dumps */

    size_t count = 0;
    uint64_t want = replay(sh, n, &count);
    uint64_t mine = 0;
    size_t mcount = 0;
    assert_ok(ut_dict_checksum(d, &mine, &mcount));
    assert_int_equal(mcount, count);
    assert_int_equal(mine, want);
    for (int i = 0; i < MW + MR; i++) {
        if (sh->sums[i] != want || sh->counts[i] != count)
            fail_msg("child %d converged to %zu items (checksum %llx); the model has %zu (%llx)", i,
                     (size_t)sh->counts[i], (unsigned long long)sh->sums[i], count,
                     (unsigned long long)want);
    }
    ut_shared_free(sh, sizeof *sh);
    assert_ok(ud_close(d));
}

UT_MAIN(UT_LOCK_TESTS(test_model, run_model))
