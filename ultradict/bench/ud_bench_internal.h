/*
 * ud_bench_internal.h - what the files of the micro-benchmark cases share: the key format and
 * the helpers that record failures and counters and open the dicts (ud_bench_cases.c).
 */
#ifndef UD_BENCH_INTERNAL_H
#define UD_BENCH_INTERNAL_H

#include "ud_bench_cases.h"
#include "ultradict.h"

#include <stdint.h>
#include <time.h>

enum {
    KLEN = 9,        /* strlen("k%08u") */
    KEY_SLOT = 16,   /* room for one key and its NUL */
    DUMP_VLEN = 100, /* the values of the dump/load cases and of the large case's other entries */
};

/* Records a failure of `what` in s->error and returns rc, so that callers can `return fail()`. */
int udb__fail(udb_state *s, int rc, const char *what);
/* Adds a counter to the run's report (up to UDB_COUNTERS_MAX). */
void udb__add_counter(udb_state *s, const char *name, double value);
/* Creates a new dict of this run with the given buffer size and lock mode. */
int udb__open_new_dict(udb_state *s, size_t buffer_size, int lock, ud_dict **out);
/* A second handle on d. */
int udb__attach_dict(udb_state *s, ud_dict *d, ud_dict **out);
/* ud_status(), recording a failure. */
int udb__status(udb_state *s, ud_dict *d, ud_status_info *st);
/* ud_close() at teardown: the run is over, so an error goes to stderr, naming `which` handle. */
void udb__close(ud_dict *d, const char *which);

/* CLOCK_MONOTONIC in ns. Inline: the large-value and lean cases call it inside timed loops. */
static inline uint64_t udb__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The dump and load cases (ud_bench_dump.c). */
int udb__setup_dump(udb_state *s, size_t n);
void udb__teardown_dump(udb_state *s);
int udb__run_dump(udb_state *s, uint64_t iterations);
int udb__run_load(udb_state *s, uint64_t iterations);
int udb__finish_dump(udb_state *s, uint64_t iterations);
int udb__finish_load(udb_state *s, uint64_t iterations);

/* ud_get() against a lean open-addressing table, interleaved (ud_bench_lean.c). */
int udb__setup_lean(udb_state *s, size_t nkeys);
int udb__setup_lean_fixed(udb_state *s, size_t nkeys);
void udb__teardown_lean(udb_state *s);
int udb__run_vs_lean(udb_state *s, uint64_t iterations);
int udb__finish_vs_lean(udb_state *s, uint64_t iterations);
/* The large-value update cases beside one memcpy() of the value (ud_bench_bigval.c). */
int udb__setup_bigval(udb_state *s, size_t vlen);
void udb__teardown_bigval(udb_state *s);
int udb__run_bigval(udb_state *s, uint64_t iterations);
int udb__finish_bigval(udb_state *s, uint64_t iterations);

#endif /* UD_BENCH_INTERNAL_H */
