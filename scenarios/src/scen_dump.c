/*
 * scen_dump.c - dump and load of a whole dict of `entries` entries.
 *
 * A backend with a native dump (KV_CAP_NATIVE_DUMP; UltraDict: ud_dump, after changing one entry
 * so there is something to dump, then ud_load(force) + ud_apply_update) uses it through kv.h.
 * Other backends: what they offer to read and write everything - an export of
 * every entry, and a clear followed by an import of them all. Backends that cannot enumerate
 * get "n/a".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scen.h"

const char *sc_dump_na(const sc_cell *c) {
    if (c->caps & KV_CAP_NATIVE_DUMP)
        return NULL;
    if (!(c->caps & KV_CAP_ENUMERATE))
        return "the backend cannot enumerate its entries";
    return NULL;
}

/* One dump (op 0) and one load (op 1), each timed on its own. */
static void record_pair(sc_slot *s, uint64_t dump_ns, uint64_t load_ns) {
    s->op[0].ops++;
    s->op[0].phase_ns += dump_ns;
    sc_hist_add(&s->op[0].hist, dump_ns, 1);
    s->op[1].ops++;
    s->op[1].phase_ns += load_ns;
    sc_hist_add(&s->op[1].hist, load_ns, 1);
}

void sc_dump_ops(sc_cell *c) {
    c->nops = 2;
    c->op_names[0] = "dump";
    c->op_names[1] = "load";
}

/* Whether the value read for entry i is the one sc_prefill writes (any version of it). */
static bool entry_ok(const sc_cell *c, const kv_buf *v, int rc, uint64_t i) {
    if (rc != 0 || v->len != c->p.value_size)
        return false;
    int check = sc_value_check(v->data, v->len, i, c->p.value_size);
    return check == 0 || check == SC_ENOCHECK;
}

/*
 * Whether the store already holds the dict a round starts from: exactly `entries` entries, the
 * first and the last as sc_prefill writes them, read through the batch read that the export
 * uses. Every round leaves the store so (its load imports what its dump exported), so only the
 * first round, or one after a failure, writes it: on a remote store without bulk writes that
 * is seconds per round. Another URI that reaches the same store may have written it in its
 * round: the entries are then the same, unless the two paths encode values differently,
 * which the check of the two entries catches (the store is then written again).
 */
static bool already_filled(const sc_cell *c, kv_conn *kv) {
    uint64_t n = 0;
    if (!(c->caps & KV_CAP_COUNT) || kv_count(kv, &n) != 0 || n != c->p.entries || n == 0)
        return false;
    char k0[SC_KEY_MAX], k1[SC_KEY_MAX];
    kv_key keys[2] = {{k0, sc_key(k0, 0)}, {k1, sc_key(k1, n - 1)}};
    kv_buf v[2] = {KV_BUF_INIT, KV_BUF_INIT};
    int rcs[2] = {-1, -1};
    bool ok = kv_get_many(kv, keys, 2, v, rcs) == 0 && entry_ok(c, &v[0], rcs[0], 0) &&
              entry_ok(c, &v[1], rcs[1], n - 1);
    kv_buf_free(&v[0]);
    kv_buf_free(&v[1]);
    return ok;
}

int sc_dump_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen) {
    if (already_filled(c, kv))
        return 0;
    int rc = kv_clear(kv);
    if (rc && rc != KV_ENOTSUP) {
        snprintf(err, errlen, "clear: %s", kv_errmsg(kv));
        return rc;
    }
    return sc_prefill(kv, &c->p, c->p.entries, err, errlen);
}

/* A backend with a native dump: set one entry (so there is something new), dump, reload. */
static int native_loop(sc_worker *w) {
    int rc = kv_load_native(w->kv);
    if (!rc && sc_barrier(w) == 0) {
        uint64_t done = 0, i = 0;
        while (!rc && (done == 0 || !sc_phase_over(w, done, w->cell->p.ops))) {
            size_t vlen = w->cell->p.value_size;
            sc_value_fill(w->value, vlen, 0, ++i);
            uint64_t t0 = sc_now_ns();
            rc = kv_set(w->kv, "k0000000000", 11, w->value, vlen);
            if (!rc)
                rc = kv_dump_native(w->kv);
            uint64_t t1 = sc_now_ns();
            if (!rc)
                rc = kv_load_native(w->kv);
            uint64_t t2 = sc_now_ns();
            if (rc)
                break;
            record_pair(w->slot, t1 - t0, t2 - t1);
            done++;
        }
    }
    if (rc)
        sc_fail(w, rc, "%s", kv_errmsg(w->kv));
    return rc;
}

/* The entries of an export, kept to be imported again. */
typedef struct captured {
    kv_item *items;
    size_t n, cap;
    char *bytes;
    size_t used, size;
} captured;

static int capture(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    captured *c = ctx;
    /* Inside the timed export: the call only when the array is full. */
    int rc =
        c->n == c->cap ? sc_grow((void **)&c->items, c->n, &c->cap, sizeof *c->items, 1024) : 0;
    if (rc)
        return rc;
    if (c->used + klen + vlen > c->size)
        return -ENOBUFS;
    char *p = c->bytes + c->used;
    memcpy(p, key, klen);
    memcpy(p + klen, val, vlen);
    /* `bytes` is sized for the whole dict up front and never moves. */
    c->items[c->n++] = (kv_item){p, klen, p + klen, vlen};
    c->used += klen + vlen;
    return 0;
}

static int kv_loop(sc_worker *w) {
    const sc_params *p = &w->cell->p;
    captured cap = {0};
    cap.size = (size_t)p->entries * (SC_KEY_MAX + p->value_size) + 1;
    cap.bytes = malloc(cap.size);
    if (!cap.bytes)
        return sc_fail(w, -ENOMEM, "out of memory for %llu entries",
                       (unsigned long long)p->entries);
    int rc = 0;
    if (!(w->cell->caps & KV_CAP_CROSS_PROCESS)) {
        /* A private store (local:): the worker's own connection holds the entries. */
        char err[256];
        rc = sc_prefill(w->kv, p, p->entries, err, sizeof err);
        if (rc)
            sc_fail(w, rc, "%s", err);
    }
    if (!rc && sc_barrier(w) == 0) {
        uint64_t done = 0;
        /* At least one dump and load, however long it takes. */
        while (!rc && (done == 0 || !sc_phase_over(w, done, p->ops))) {
            cap.n = cap.used = 0;
            uint64_t t0 = sc_now_ns();
            rc = kv_export(w->kv, capture, &cap);
            uint64_t t1 = sc_now_ns();
            if (rc)
                break;
            rc = kv_clear(w->kv);
            if (!rc)
                rc = kv_import(w->kv, cap.items, cap.n);
            uint64_t t2 = sc_now_ns();
            if (rc)
                break;
            if (cap.n != p->entries) {
                rc = sc_fail(w, -EIO, "the export returned %zu entries, not %llu", cap.n,
                             (unsigned long long)p->entries);
                break;
            }
            record_pair(w->slot, t1 - t0, t2 - t1);
            done++;
        }
    }
    free(cap.items);
    free(cap.bytes);
    return rc;
}

int sc_dump_work(sc_worker *w) {
    int rc = w->cell->caps & KV_CAP_NATIVE_DUMP ? native_loop(w) : kv_loop(w);
    w->slot->t_end = sc_now_ns();
    return rc;
}
