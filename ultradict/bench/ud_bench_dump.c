/*
 * ud_bench_dump.c - the dump and load cases of the micro-benchmarks: 10k, 100k and 1M small
 * entries, on fixtures built once per run (see ud_bench_cases.h).
 */
#include "ud_bench_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The stream buffer of the dump fixtures: large enough that filling 1M entries triggers only a
 * couple of automatic dumps (a 1 MiB buffer would rewrite the growing dict ~130 times), so that
 * building the 1M fixture, once per run, takes a few seconds. */
#define DUMP_FILL_BUFFER ((size_t)64 * 1024 * 1024)

/* ---- UltraDict: dump and load of 10k / 100k / 1M small entries. ---- */

/*
 * Filling a million entries takes longer than dumping them, and Google Benchmark calls a case
 * several times (to choose the iteration count, then once per repetition, possibly interleaved
 * with other cases), so each size's fixture is built once and kept until udb_cleanup(): the
 * dump case and the load case of one size share it. `writer` created and filled the dict;
 * `reader` is a second handle that loads its dumps.
 */
typedef struct dump_fx {
    size_t n; /* 0: free slot */
    ud_dict *writer;
    ud_dict *reader;
    uint64_t dumps_before; /* the writer's dump_count when a run starts */
    double first_load_ms;  /* the reader's first load, into memory it never touched */
} dump_fx;

enum { DUMP_SIZES = 3 }; /* 10k, 100k, 1M */
static dump_fx dump_cache[DUMP_SIZES];

static void dump_fx_free(dump_fx *fx) {
    udb__close(fx->reader, "reader");
    udb__close(fx->writer, "writer");
    *fx = (dump_fx){0, NULL, NULL, 0, 0};
}

void udb_cleanup(void) {
    for (int i = 0; i < DUMP_SIZES; i++)
        dump_fx_free(&dump_cache[i]);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int build_dump_fx(udb_state *s, dump_fx *fx, size_t n) {
    int rc = udb__open_new_dict(s, DUMP_FILL_BUFFER, UD_LOCK_MUTEX, &fx->writer);
    if (rc)
        return rc;
    char key[KEY_SLOT], val[DUMP_VLEN];
    memset(val, 'v', sizeof val);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%08u", (unsigned)i);
        memcpy(val, &i, sizeof i); /* distinct values, so nothing can be shared */
        rc = ud_set(fx->writer, key, KLEN, val, DUMP_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set (fill)");
    }
    rc = udb__attach_dict(s, fx->writer, &fx->reader);
    if (rc)
        return rc;
    /*
     * Warm up: two dumps size both dump segments, and loads map them in the reader and fault in
     * the memory its tables are built in (the library recycles it from load to load), so the
     * timed iterations measure the steady state. Page faults are expensive on this virtual
     * machine (~10 us each), so the first load, which pays them, is reported separately.
     */
    for (int i = 0; i < 2; i++) {
        memset(val, 'w', sizeof val);
        memcpy(val, &i, sizeof i);
        rc = ud_set(fx->writer, "k00000000", KLEN, val, DUMP_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set (warm-up)");
        rc = ud_dump(fx->writer);
        if (rc)
            return udb__fail(s, rc, "ud_dump (warm-up)");
    }
    for (int i = 0; i < 3; i++) {
        double t0 = now_ms();
        rc = ud_load(fx->reader, true);
        if (rc)
            return udb__fail(s, rc, "ud_load (warm-up)");
        if (i == 0)
            fx->first_load_ms = now_ms() - t0;
    }
    fx->n = n;
    return 0;
}

int udb__setup_dump(udb_state *s, size_t n) {
    dump_fx *fx = NULL;
    for (int i = 0; i < DUMP_SIZES && !fx; i++)
        if (dump_cache[i].n == n)
            fx = &dump_cache[i];
    for (int i = 0; i < DUMP_SIZES && !fx; i++) {
        if (dump_cache[i].n == 0) {
            int rc = build_dump_fx(s, &dump_cache[i], n);
            if (rc) {
                dump_fx_free(&dump_cache[i]);
                return rc;
            }
            fx = &dump_cache[i];
        }
    }
    if (!fx)
        return udb__fail(s, UD_EINVAL, "more dump sizes than DUMP_SIZES");
    s->fixture = fx;
    s->bytes_per_iteration = (uint64_t)n * (KLEN + DUMP_VLEN);
    ud_status_info st;
    int rc = udb__status(s, fx->writer, &st);
    if (rc)
        return rc;
    fx->dumps_before = st.dump_count;
    return 0;
}

/* The fixture is kept for the next run; udb_cleanup() frees it. */
void udb__teardown_dump(udb_state *s) {
    s->fixture = NULL;
}

/*
 * ud_dump() returns at once when nothing changed since the newest dump, so each iteration first
 * overwrites one entry (same sizes): the set costs ~0.1 us against a dump of 10k+ entries.
 */
int udb__run_dump(udb_state *s, uint64_t iterations) {
    dump_fx *fx = s->fixture;
    char val[DUMP_VLEN];
    memset(val, 'w', sizeof val);
    for (uint64_t i = 0; i < iterations; i++) {
        memcpy(val, &i, sizeof i);
        int rc = ud_set(fx->writer, "k00000000", KLEN, val, DUMP_VLEN);
        if (rc)
            return udb__fail(s, rc, "ud_set");
        rc = ud_dump(fx->writer);
        if (rc)
            return udb__fail(s, rc, "ud_dump");
    }
    return 0;
}

int udb__run_load(udb_state *s, uint64_t iterations) {
    dump_fx *fx = s->fixture;
    for (uint64_t i = 0; i < iterations; i++) {
        int rc = ud_load(fx->reader, true);
        if (rc)
            return udb__fail(s, rc, "ud_load");
        rc = ud_apply_update(fx->reader);
        if (rc)
            return udb__fail(s, rc, "ud_apply_update");
    }
    return 0;
}

/* Reports the size of a dump against its payload, and checks that every iteration dumped. */
int udb__finish_dump(udb_state *s, uint64_t iterations) {
    dump_fx *fx = s->fixture;
    ud_status_info st;
    int rc = udb__status(s, fx->writer, &st);
    if (rc)
        return rc;
    if (st.len != fx->n)
        return udb__fail(s, UD_ECORRUPT, "the writer lost entries");
    if (st.dump_count - fx->dumps_before != iterations)
        return udb__fail(s, UD_ECORRUPT, "ud_dump did not write one dump per iteration");
    udb__add_counter(s, "entries", (double)st.len);
    udb__add_counter(s, "dump_bytes", (double)st.last_dump_bytes);
    udb__add_counter(s, "dump_bytes_per_payload_byte",
                     (double)st.last_dump_bytes / (double)s->bytes_per_iteration);
    return 0;
}

int udb__finish_load(udb_state *s, uint64_t iterations) {
    (void)iterations;
    dump_fx *fx = s->fixture;
    ud_status_info st;
    int rc = udb__status(s, fx->reader, &st);
    if (rc)
        return rc;
    if (st.len != fx->n)
        return udb__fail(s, UD_ECORRUPT, "the reader did not load every entry");
    udb__add_counter(s, "entries", (double)st.len);
    udb__add_counter(s, "first_load_ms", fx->first_load_ms);
    return 0;
}
