/*
 * ud_bench_cases.c - see ud_bench_cases.h.
 *
 * The baseline is the private table the library itself uses for each process's copy
 * (src/table.h), driven the way the library drives it: the key hashed with ud__hash(key, klen, 0)
 * and a found value copied into a caller's ud_buf. The UltraDict cases time the public API.
 *
 * Keys are "k%08u" (9 bytes). The get/set cases use 8-byte values (the loop counter, so that
 * every write changes the value); the dump/load cases use 100-byte values, the "small entries"
 * of the issue. The payload of a dump is keys + values, without any format overhead.
 */
#include "ud_bench_cases.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ud_bench_internal.h"

#include "hash.h"
#include "table.h"
#include "ultradict.h"

enum {
    NKEYS = 10000,  /* the "10k keys" cases */
    SMALL_VLEN = 8, /* get/set cases */
    LARGE_BUFFER = 64 * 1024,
    LARGE_VLEN = 256 * 1024,
};

static char keys[NKEYS][KEY_SLOT];
static bool keys_made;

static void make_keys(void) {
    if (keys_made)
        return;
    for (unsigned i = 0; i < NKEYS; i++)
        snprintf(keys[i], sizeof keys[i], "k%08u", i);
    keys_made = true;
}

/* Records a failure of `what` in s->error and returns rc, so that callers can `return udb__fail()`.
 */
int udb__fail(udb_state *s, int rc, const char *what) {
    snprintf(s->error, sizeof s->error, "%s: %s (%s)", what, ud_strerror(rc), ud_errname(rc));
    return rc;
}

void udb__add_counter(udb_state *s, const char *name, double value) {
    if (s->ncounters < UDB_COUNTERS_MAX)
        s->counters[s->ncounters++] = (udb_counter){name, value};
}

/*
 * Copies n bytes into b the way the library fills a ud_buf (grown with realloc, NUL after the
 * data), so that the baseline pays for the same copy as ud_get().
 */
static int buf_copy(ud_buf *b, const void *p, size_t n) {
    if (n + 1 > b->cap) {
        size_t cap = n + 1 < 64 ? 64 : n + 1;
        void *q = realloc(b->data, cap);
        if (!q)
            return -ENOMEM;
        b->data = q;
        b->cap = cap;
    }
    memcpy(b->data, p, n);
    ((char *)b->data)[n] = '\0';
    b->len = n;
    return 0;
}

/* ---- The private in-process table (the baseline). ---- */

typedef struct private_fx {
    ud__table table;
    ud_buf buf;
} private_fx;

/* A table holding `nkeys` keys with 8-byte values. */
static int setup_private(udb_state *s, size_t nkeys) {
    make_keys();
    private_fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return udb__fail(s, -ENOMEM, "calloc");
    ud__table_init(&fx->table);
    s->fixture = fx;
    for (uint64_t i = 0; i < nkeys; i++) {
        uint64_t h = ud__hash(keys[i], KLEN, 0);
        int rc = ud__table_put(&fx->table, keys[i], KLEN, h, &i, SMALL_VLEN, UD_TYPE_BYTES);
        if (rc)
            return udb__fail(s, rc, "ud__table_put (setup)");
    }
    return 0;
}

static void teardown_private(udb_state *s) {
    private_fx *fx = s->fixture;
    if (!fx)
        return;
    ud__table_free(&fx->table);
    ud_buf_free(&fx->buf);
    free(fx);
    s->fixture = NULL;
}

static int run_private_lookup(udb_state *s, uint64_t iterations) {
    private_fx *fx = s->fixture;
    const char *key = keys[0];
    for (uint64_t i = 0; i < iterations; i++) {
        uint64_t h = ud__hash(key, KLEN, 0);
        const ud__entry *e = ud__table_find(&fx->table, key, KLEN, h);
        if (!e)
            return udb__fail(s, UD_ENOTFOUND, "ud__table_find");
        int rc = buf_copy(&fx->buf, ud__entry_val(e), e->vlen);
        if (rc)
            return udb__fail(s, rc, "buf_copy");
    }
    return 0;
}

static int run_private_insert_one(udb_state *s, uint64_t iterations) {
    private_fx *fx = s->fixture;
    const char *key = keys[0];
    for (uint64_t i = 0; i < iterations; i++) {
        uint64_t h = ud__hash(key, KLEN, 0);
        int rc = ud__table_put(&fx->table, key, KLEN, h, &i, SMALL_VLEN, UD_TYPE_BYTES);
        if (rc)
            return udb__fail(s, rc, "ud__table_put");
    }
    return 0;
}

static int run_private_insert_10k(udb_state *s, uint64_t iterations) {
    private_fx *fx = s->fixture;
    size_t k = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        uint64_t h = ud__hash(keys[k], KLEN, 0);
        int rc = ud__table_put(&fx->table, keys[k], KLEN, h, &i, SMALL_VLEN, UD_TYPE_BYTES);
        if (rc)
            return udb__fail(s, rc, "ud__table_put");
        if (++k == NKEYS)
            k = 0;
    }
    return 0;
}

/* ---- UltraDict: get, set, incr, lock. ---- */

typedef struct dict_fx {
    ud_dict *d;
    ud_dict *other; /* a second handle on the same dict (UD_ATTACH_ONLY), or NULL */
    ud_buf buf;
    void *big; /* the large value, or NULL */
    int64_t counter;
    uint64_t dumps_before;
    uint64_t applied_before;
} dict_fx;

/*
 * Opens a new dict with a name of our own ("ud_microbench_<pid>_<n>"), so that a crashed run
 * leaves segments that are easy to recognise; the creator unlinks it when it closes.
 */
int udb__open_new_dict(udb_state *s, size_t buffer_size, int lock, ud_dict **out) {
    static unsigned seq;
    char name[64];
    snprintf(name, sizeof name, "ud_microbench_%ld_%u", (long)getpid(), seq++);
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    o.buffer_size = buffer_size;
    o.lock = lock;
    int rc = ud_open(&o, out);
    return rc ? udb__fail(s, rc, "ud_open") : 0;
}

int udb__attach_dict(udb_state *s, ud_dict *d, ud_dict **out) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = ud_name(d);
    o.create = UD_ATTACH_ONLY;
    int rc = ud_open(&o, out);
    return rc ? udb__fail(s, rc, "ud_open (UD_ATTACH_ONLY)") : 0;
}

int udb__status(udb_state *s, ud_dict *d, ud_status_info *st) {
    int rc = ud_status(d, st);
    return rc ? udb__fail(s, rc, "ud_status") : 0;
}

void udb__close(ud_dict *d, const char *which) {
    int rc = ud_close(d);
    if (rc)
        fprintf(stderr, "ud_microbench: ud_close (%s): %s\n", which, ud_strerror(rc));
}

/* Makes s->fixture a dict_fx holding a new dict. */
static int new_dict_fx(udb_state *s, size_t buffer_size, int lock) {
    dict_fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return udb__fail(s, -ENOMEM, "calloc");
    s->fixture = fx;
    return udb__open_new_dict(s, buffer_size, lock, &fx->d);
}

/* Fills d with `nkeys` keys with 8-byte values. */
static int fill_small(udb_state *s, ud_dict *d, size_t nkeys) {
    for (uint64_t i = 0; i < nkeys; i++) {
        int rc = ud_set(d, keys[i], KLEN, &i, SMALL_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set (setup)");
    }
    return 0;
}

/* Remembers the dump count, for finish_writes(). */
static int note_dumps(udb_state *s, dict_fx *fx) {
    ud_status_info st;
    int rc = udb__status(s, fx->d, &st);
    if (rc)
        return rc;
    fx->dumps_before = st.dump_count;
    fx->applied_before = st.local_records_applied;
    return 0;
}

/* A dict (default options: 1 MiB stream, robust mutex) holding `nkeys` keys. */
static int setup_dict(udb_state *s, size_t nkeys) {
    make_keys();
    int rc = new_dict_fx(s, 0, UD_LOCK_MUTEX);
    if (rc)
        return rc;
    dict_fx *fx = s->fixture;
    rc = fill_small(s, fx->d, nkeys);
    return rc ? rc : note_dumps(s, fx);
}

/* Like setup_dict(), plus a second handle attached by name in this process. */
static int setup_dict_pending(udb_state *s, size_t nkeys) {
    int rc = setup_dict(s, nkeys);
    if (rc)
        return rc;
    dict_fx *fx = s->fixture;
    return udb__attach_dict(s, fx->d, &fx->other);
}

static void teardown_dict(udb_state *s) {
    dict_fx *fx = s->fixture;
    if (!fx)
        return;
    /* Close the attached handle first; the creator's close unlinks the segments. */
    udb__close(fx->other, "attached");
    udb__close(fx->d, "creator");
    ud_buf_free(&fx->buf);
    free(fx->big);
    free(fx);
    s->fixture = NULL;
}

/* Reports the full dumps written during the run: a write must not cost a dump. */
static int finish_writes(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    ud_status_info st;
    int rc = udb__status(s, fx->d, &st);
    if (rc)
        return rc;
    double dumps = (double)(st.dump_count - fx->dumps_before);
    udb__add_counter(s, "dump_count", dumps);
    udb__add_counter(s, "dumps_per_1k_writes",
                     iterations ? dumps * 1000.0 / (double)iterations : 0);
    udb__add_counter(s, "stream_capacity", (double)st.stream_capacity);
    return 0;
}

/* Reports how many stream records the reading handle replayed per get (1 is expected). */
static int finish_pending(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    ud_status_info st;
    int rc = udb__status(s, fx->d, &st);
    if (rc)
        return rc;
    double applied = (double)(st.local_records_applied - fx->applied_before);
    udb__add_counter(s, "records_applied_per_get", iterations ? applied / (double)iterations : 0);
    return 0;
}

static int check_small(udb_state *s, const ud_buf *b, const char *what) {
    if (b->len != SMALL_VLEN)
        return udb__fail(s, UD_ECORRUPT, what);
    return 0;
}

static int run_ud_get(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        int rc = ud_get(fx->d, keys[0], KLEN, &fx->buf);
        if (rc)
            return udb__fail(s, rc, "ud_get");
    }
    return check_small(s, &fx->buf, "ud_get returned a value of the wrong length");
}

static int run_ud_get_local(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        int rc = ud_get_local(fx->d, keys[0], KLEN, &fx->buf);
        if (rc)
            return udb__fail(s, rc, "ud_get_local");
    }
    return check_small(s, &fx->buf, "ud_get_local returned a value of the wrong length");
}

/*
 * One iteration is a pair: the other handle writes the key, then this handle reads it and so
 * must replay exactly one pending record. Pausing the timer around the write would cost more
 * than the get itself, so the pair is timed and the report subtracts ud/set_8B/one_key.
 */
static int run_ud_pending_pair(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        uint64_t v = i ^ 0x5555555555555555u;
        int rc = ud_set(fx->other, keys[0], KLEN, &v, SMALL_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set (other handle)");
        rc = ud_get(fx->d, keys[0], KLEN, &fx->buf);
        if (rc)
            return udb__fail(s, rc, "ud_get");
        if (fx->buf.len != SMALL_VLEN || memcmp(fx->buf.data, &v, SMALL_VLEN) != 0)
            return udb__fail(s, UD_ECORRUPT, "ud_get did not see the pending update");
    }
    return 0;
}

static int run_ud_set_one(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        int rc = ud_set(fx->d, keys[0], KLEN, &i, SMALL_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set");
    }
    return 0;
}

static int run_ud_set_10k(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    size_t k = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        int rc = ud_set(fx->d, keys[k], KLEN, &i, SMALL_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set");
        if (++k == NKEYS)
            k = 0;
    }
    return 0;
}

/*
 * A dict with a 64 KiB stream and one key holding a 256 KiB value, plus `others` entries with
 * 100-byte values: the original re-serialised the whole dict at every such write, so the case
 * reports how many full dumps the writes cost (finish_writes).
 */
static int setup_large(udb_state *s, size_t others) {
    make_keys();
    int rc = new_dict_fx(s, LARGE_BUFFER, UD_LOCK_MUTEX);
    if (rc)
        return rc;
    dict_fx *fx = s->fixture;
    fx->big = malloc(LARGE_VLEN);
    if (!fx->big)
        return udb__fail(s, -ENOMEM, "malloc");
    for (size_t i = 0; i < LARGE_VLEN; i++)
        ((unsigned char *)fx->big)[i] = (unsigned char)(i * 131u + 7u);
    rc = ud_set(fx->d, keys[0], KLEN, fx->big, LARGE_VLEN);
    if (rc)
        return udb__fail(s, rc, "ud_set (setup)");
    for (size_t i = 1; i <= others && i < NKEYS; i++) {
        rc = ud_set(fx->d, keys[i], KLEN, fx->big, DUMP_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set (setup)");
    }
    s->bytes_per_iteration = LARGE_VLEN;
    return note_dumps(s, fx);
}

static int run_ud_set_large(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        memcpy(fx->big, &i, sizeof i);
        int rc = ud_set(fx->d, keys[0], KLEN, fx->big, LARGE_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set");
    }
    return 0;
}

static int setup_incr(udb_state *s, size_t unused) {
    (void)unused;
    int rc = new_dict_fx(s, 0, UD_LOCK_MUTEX);
    return rc ? rc : note_dumps(s, s->fixture);
}

static int run_ud_incr(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        int64_t r;
        int rc = ud_incr(fx->d, "counter", 7, 1, &r);
        if (rc)
            return udb__fail(s, rc, "ud_incr");
        if (r != ++fx->counter)
            return udb__fail(s, UD_ECORRUPT, "ud_incr returned a wrong result");
    }
    return 0;
}

static int setup_lock_mutex(udb_state *s, size_t unused) {
    (void)unused;
    return new_dict_fx(s, 0, UD_LOCK_MUTEX);
}

static int setup_lock_spin(udb_state *s, size_t unused) {
    (void)unused;
    return new_dict_fx(s, 0, UD_LOCK_SPIN);
}

static int run_ud_lock_unlock(udb_state *s, uint64_t iterations) {
    dict_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        int rc = ud_lock(fx->d, NULL);
        if (rc)
            return udb__fail(s, rc, "ud_lock");
        rc = ud_unlock(fx->d);
        if (rc)
            return udb__fail(s, rc, "ud_unlock");
    }
    return 0;
}

/* ---- The list. ---- */

#define PRIVATE(name, arg, run)                                                                    \
    { name, UDB_NS, arg, setup_private, run, NULL, teardown_private }
#define DICT(name, setup, arg, run, finish)                                                        \
    { name, UDB_NS, arg, setup, run, finish, teardown_dict }
#define BIGVAL(name, vlen)                                                                         \
    {                                                                                              \
        name, UDB_NS, vlen, udb__setup_bigval, udb__run_bigval, udb__finish_bigval,                \
            udb__teardown_bigval                                                                   \
    }
#define DUMP(name, unit, n, run, finish)                                                           \
    { name, unit, n, udb__setup_dump, run, finish, udb__teardown_dump }

const udb_case udb_cases[] = {
    PRIVATE("private/lookup_8B/one_key", 1, run_private_lookup),
    PRIVATE("private/insert_8B/one_key", 1, run_private_insert_one),
    PRIVATE("private/insert_8B/10k_keys", NKEYS, run_private_insert_10k),
    DICT("ud/get_8B/one_key", setup_dict, 1, run_ud_get, NULL),
    {"ud/get_8B/10k_keys:vs_lean", UDB_NS, 10000, udb__setup_lean, udb__run_vs_lean,
     udb__finish_vs_lean, udb__teardown_lean},
    {"ud/get_8B/10k_keys:vs_lean_k9", UDB_NS, 10000, udb__setup_lean_fixed, udb__run_vs_lean,
     udb__finish_vs_lean, udb__teardown_lean},
    DICT("ud/get_local_8B/one_key", setup_dict, 1, run_ud_get_local, NULL),
    DICT("ud/pair:other_set+get_8B/one_pending_update", setup_dict_pending, 1, run_ud_pending_pair,
         finish_pending),
    DICT("ud/set_8B/one_key", setup_dict, 1, run_ud_set_one, finish_writes),
    DICT("ud/set_8B/10k_keys", setup_dict, NKEYS, run_ud_set_10k, finish_writes),
    DICT("ud/set_256KiB/buffer_64KiB", setup_large, 0, run_ud_set_large, finish_writes),
    DICT("ud/set_256KiB/buffer_64KiB+10k_entries_100B", setup_large, NKEYS - 1, run_ud_set_large,
         finish_writes),
    BIGVAL("ud/update_64KiB/16MiB_dict+memcpy", (size_t)64 * 1024),
    BIGVAL("ud/update_1MiB/16MiB_dict+memcpy", (size_t)1024 * 1024),
    DICT("ud/incr/one_key", setup_incr, 0, run_ud_incr, finish_writes),
    DICT("ud/lock+unlock/mutex", setup_lock_mutex, 0, run_ud_lock_unlock, NULL),
    DICT("ud/lock+unlock/spin", setup_lock_spin, 0, run_ud_lock_unlock, NULL),
    DUMP("ud/set1+dump_k9B_v100B/10000", UDB_US, 10000, udb__run_dump, udb__finish_dump),
    DUMP("ud/load_force+apply_k9B_v100B/10000", UDB_US, 10000, udb__run_load, udb__finish_load),
    DUMP("ud/set1+dump_k9B_v100B/100000", UDB_MS, 100000, udb__run_dump, udb__finish_dump),
    DUMP("ud/load_force+apply_k9B_v100B/100000", UDB_MS, 100000, udb__run_load, udb__finish_load),
    DUMP("ud/set1+dump_k9B_v100B/1000000", UDB_MS, 1000000, udb__run_dump, udb__finish_dump),
    DUMP("ud/load_force+apply_k9B_v100B/1000000", UDB_MS, 1000000, udb__run_load, udb__finish_load),
};

const size_t udb_ncases = sizeof udb_cases / sizeof udb_cases[0];
