/*
 * ud_bench_cases.h - the micro-benchmark cases of UltraDict, written in C.
 *
 * Each case is a setup, a timed run of a given number of iterations, an optional finish that
 * turns what happened into counters, and a teardown. bench_main.cc (the only C++ in the tree)
 * registers every case of udb_cases[] with Google Benchmark; nothing here knows about C++.
 *
 * All cases live in one binary so that the ratios the issue asks for (UltraDict vs the private
 * in-process table) come from one run on one machine state.
 *
 * Errors: every function returns 0 or the failing return code, and then writes a one-line
 * message naming the failed call into udb_state.error; the runner reports it with
 * SkipWithError. Nothing is ignored.
 */
#ifndef UD_BENCH_CASES_H
#define UD_BENCH_CASES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDB_COUNTERS_MAX 9
#define UDB_ERROR_MAX 256

/* A named figure reported next to the timings (e.g. the dumps written during a run). */
typedef struct udb_counter {
    const char *name; /* static storage */
    double value;
} udb_counter;

/* The state of one benchmark run, zeroed by the runner before setup. */
typedef struct udb_state {
    void *fixture;                /* the case's own data, owned by the case */
    uint64_t bytes_per_iteration; /* payload bytes one iteration processes; 0 if not meaningful */
    size_t ncounters;
    udb_counter counters[UDB_COUNTERS_MAX];
    char error[UDB_ERROR_MAX]; /* set when a function returns non-zero */
} udb_state;

/* Time units for the report, as Google Benchmark spells them. */
enum { UDB_NS = 0, UDB_US, UDB_MS };

typedef struct udb_case {
    const char *name;
    int unit;   /* UDB_NS, UDB_US or UDB_MS */
    size_t arg; /* passed to setup, e.g. a number of entries */
    /* Builds the fixture (untimed). On failure the runner still calls teardown. */
    int (*setup)(udb_state *s, size_t arg);
    /* The timed part: `iterations` repetitions of the operation. */
    int (*run)(udb_state *s, uint64_t iterations);
    /* Optional (may be NULL), untimed: fills s->counters after the run. */
    int (*finish)(udb_state *s, uint64_t iterations);
    /* Frees the fixture; must accept a fixture that setup left partly built or NULL. */
    void (*teardown)(udb_state *s);
} udb_case;

/* Every case, in the order they are reported. */
extern const udb_case udb_cases[];
extern const size_t udb_ncases;

/* Releases the fixtures that are kept across runs (the large dump dicts). Call once at exit. */
void udb_cleanup(void);

#ifdef __cplusplus
}
#endif

#endif /* UD_BENCH_CASES_H */
