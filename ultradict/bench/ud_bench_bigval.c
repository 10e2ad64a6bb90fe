/*
 * ud_bench_bigval.c - large values at copy speed: updates of 64 KiB and 1 MiB values, each timed
 * on its own, beside one memcpy() of the same size timed in the same process and run, so that
 * the ratios the targets name (update p50 / copy p50, update p99 / update p50) come from one run.
 *
 * The dict holds 16 MiB of such values (256 keys of 64 KiB, 16 of 1 MiB: the working set of
 * udbench's `large` scenario in the default suite) in a dict with the default 1 MiB stream, and
 * the keys are updated in a fixed pseudo-random order. The copy is timed like udbench's
 * value_copy_ns (scenarios/src/machine.c): one buffer into another, both warm.
 *
 * Before the timed runs the keys are updated until the dict has written two dumps, so that the
 * stream has reached the size it keeps (it grows while the dict is young) and the figures are
 * those of a dict in use.
 *
 * Counters: p50_ns and p99_ns of the update, copy_p50_ns, x_copy_p50 (update p50 / copy p50),
 * p99_x_p50, dumps_per_1k_writes (full dumps the writes cost), and cold_copy_p50_ns: one
 * memcpy() of the value into successive places of a buffer as large as the stream, the copy an
 * update must make into memory the caches no longer hold, with x_cold_copy_p50. On a machine
 * shared with other work, the scheduler takes the processor away in the middle of some updates
 * (an involuntary context switch, counted by getrusage() around each update, outside its
 * timing): preempted_per_1k counts those updates, to read the p99 by.
 */
#include "ud_bench_internal.h"

#include <errno.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BIGVAL_DICT_BYTES ((size_t)16 << 20)
/* Copies timed for the reference figure (odd: the median is one of them). */
#define COPY_SAMPLES 301
/* Updates of the warm-up at most (the dumps come every 128 updates or sooner). */
#define WARMUP_MAX 4096

typedef struct bigval_fx {
    ud_dict *d;
    size_t vlen;
    size_t nkeys;
    char *val;    /* the value written (its first 8 bytes change at every write) */
    char *copy;   /* the destination of the reference copies */
    uint64_t *ns; /* one time per update of the current run */
    size_t ns_len, ns_cap;
    uint64_t next; /* pseudo-random key sequence */
    uint64_t dumps_before;
    uint64_t preempted; /* updates during which the process was preempted */
} bigval_fx;

static void bigval_key(char *k, size_t i) {
    snprintf(k, KEY_SLOT, "k%08u", (unsigned)(i % 100000000u));
}

/* The next key of the fixed pseudo-random order (xorshift64). */
static void next_key(bigval_fx *fx, char *k) {
    fx->next ^= fx->next << 13;
    fx->next ^= fx->next >> 7;
    fx->next ^= fx->next << 17;
    bigval_key(k, (size_t)(fx->next % fx->nkeys));
}

/* Updates until two dumps have been written (see above). */
static int warm_up(udb_state *s, bigval_fx *fx) {
    ud_status_info st;
    int rc = udb__status(s, fx->d, &st);
    uint64_t first = st.dump_count;
    for (int i = 0; rc == 0 && i < WARMUP_MAX && st.dump_count < first + 2; i++) {
        char k[KEY_SLOT];
        next_key(fx, k);
        rc = ud_set(fx->d, k, KLEN, fx->val, fx->vlen);
        if (rc)
            return udb__fail(s, rc, "ud_set (warm-up)");
        rc = udb__status(s, fx->d, &st);
    }
    return rc;
}

int udb__setup_bigval(udb_state *s, size_t vlen) {
    bigval_fx *fx = calloc(1, sizeof *fx);
    if (!fx)
        return udb__fail(s, -ENOMEM, "calloc");
    s->fixture = fx;
    fx->vlen = vlen;
    fx->nkeys = BIGVAL_DICT_BYTES / vlen;
    fx->val = malloc(vlen);
    fx->copy = malloc(vlen);
    if (!fx->val || !fx->copy)
        return udb__fail(s, -ENOMEM, "malloc");
    for (size_t i = 0; i < vlen; i++)
        fx->val[i] = (char)(i * 131u + 7u);
    memset(fx->copy, 0, vlen);
    int rc = udb__open_new_dict(s, 0, UD_LOCK_MUTEX, &fx->d);
    if (rc)
        return rc;
    for (size_t i = 0; i < fx->nkeys; i++) {
        char k[KEY_SLOT];
        bigval_key(k, i);
        rc = ud_set(fx->d, k, KLEN, fx->val, vlen);
        if (rc)
            return udb__fail(s, rc, "ud_set (setup)");
    }
    fx->next = 0x2545f4914f6cdd1dull;
    rc = warm_up(s, fx);
    if (rc)
        return rc;
    ud_status_info st;
    rc = udb__status(s, fx->d, &st);
    if (rc)
        return rc;
    fx->dumps_before = st.dump_count;
    s->bytes_per_iteration = vlen;
    return 0;
}

void udb__teardown_bigval(udb_state *s) {
    bigval_fx *fx = s->fixture;
    if (!fx)
        return;
    udb__close(fx->d, "creator");
    free(fx->val);
    free(fx->copy);
    free(fx->ns);
    free(fx);
    s->fixture = NULL;
}

static int reserve_times(bigval_fx *fx, size_t n) {
    if (fx->ns_len + n <= fx->ns_cap)
        return 0;
    size_t cap = fx->ns_len + n;
    uint64_t *p = realloc(fx->ns, cap * sizeof *p);
    if (!p)
        return -ENOMEM;
    fx->ns = p;
    fx->ns_cap = cap;
    return 0;
}

static long involuntary_switches(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : 0;
}

int udb__run_bigval(udb_state *s, uint64_t iterations) {
    bigval_fx *fx = s->fixture;
    if (reserve_times(fx, (size_t)iterations))
        return udb__fail(s, -ENOMEM, "realloc");
    for (uint64_t i = 0; i < iterations; i++) {
        char k[KEY_SLOT];
        next_key(fx, k);
        memcpy(fx->val, &i, sizeof i);
        long switches = involuntary_switches();
        uint64_t t0 = udb__now_ns();
        int rc = ud_set(fx->d, k, KLEN, fx->val, fx->vlen);
        fx->ns[fx->ns_len++] = udb__now_ns() - t0;
        fx->preempted += involuntary_switches() != switches;
        if (rc)
            return udb__fail(s, rc, "ud_set");
    }
    return 0;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The q-quantile (0..1) of n sorted times. */
static double quantile(const uint64_t *v, size_t n, double q) {
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)v[i < n ? i : n - 1];
}

/* One memcpy() of the value's size, warm source and destination: the median of a few hundred. */
static double copy_p50(bigval_fx *fx) {
    uint64_t t[COPY_SAMPLES];
    for (int i = 0; i < COPY_SAMPLES; i++) {
        uint64_t t0 = udb__now_ns();
        memcpy(fx->copy, fx->val, fx->vlen);
        __asm__ __volatile__("" : : "r"(fx->copy) : "memory");
        t[i] = udb__now_ns() - t0;
    }
    qsort(t, COPY_SAMPLES, sizeof t[0], cmp_u64);
    return quantile(t, COPY_SAMPLES, 0.5);
}

/* One memcpy() of the value into successive places of a buffer of `span` bytes (the stream's
 * size), each place last written span bytes of copies ago: the median of a few hundred. */
static double cold_copy_p50(bigval_fx *fx, size_t span) {
    size_t places = span / fx->vlen < 2 ? 2 : span / fx->vlen;
    char *buf = malloc(places * fx->vlen);
    if (!buf)
        return -1;
    /* One untimed pass first: the pages are mapped and the caches hold the buffer's end. */
    for (size_t i = 0; i < places; i++)
        memcpy(buf + i * fx->vlen, fx->val, fx->vlen);
    uint64_t t[COPY_SAMPLES];
    for (int i = 0; i < COPY_SAMPLES; i++) {
        char *dst = buf + (size_t)i % places * fx->vlen;
        uint64_t t0 = udb__now_ns();
        memcpy(dst, fx->val, fx->vlen);
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        t[i] = udb__now_ns() - t0;
    }
    free(buf);
    qsort(t, COPY_SAMPLES, sizeof t[0], cmp_u64);
    return quantile(t, COPY_SAMPLES, 0.5);
}

int udb__finish_bigval(udb_state *s, uint64_t iterations) {
    bigval_fx *fx = s->fixture;
    if (fx->ns_len == 0 || fx->ns_len < iterations)
        return udb__fail(s, UD_ECORRUPT, "fewer update times than updates");
    qsort(fx->ns, fx->ns_len, sizeof fx->ns[0], cmp_u64);
    double p50 = quantile(fx->ns, fx->ns_len, 0.5), p99 = quantile(fx->ns, fx->ns_len, 0.99);
    double copy = copy_p50(fx);
    ud_status_info st;
    int rc = udb__status(s, fx->d, &st);
    if (rc)
        return rc;
    double cold = cold_copy_p50(fx, st.stream_capacity);
    if (cold < 0)
        return udb__fail(s, -ENOMEM, "malloc (cold copies)");
    double dumps = (double)(st.dump_count - fx->dumps_before);
    udb__add_counter(s, "p50_ns", p50);
    udb__add_counter(s, "p99_ns", p99);
    udb__add_counter(s, "copy_p50_ns", copy);
    udb__add_counter(s, "x_copy_p50", copy > 0 ? p50 / copy : 0);
    udb__add_counter(s, "p99_x_p50", p50 > 0 ? p99 / p50 : 0);
    udb__add_counter(s, "dumps_per_1k_writes", dumps * 1000.0 / (double)fx->ns_len);
    udb__add_counter(s, "cold_copy_p50_ns", cold);
    udb__add_counter(s, "x_cold_copy_p50", cold > 0 ? p50 / cold : 0);
    udb__add_counter(s, "preempted_per_1k", (double)fx->preempted * 1000.0 / (double)fx->ns_len);
    return 0;
}
