/*
 * test_kv_timing.c - how the key-value workloads time their operations does not depend on how
 * cold the working set was during the warm-up.
 *
 * A worker's first operations run on a cold working set. The workloads used to choose between
 * timing each operation alone and timing batches of them by the warm-up's median against 20
 * clock reads: a worker whose warm-up ran cold was timed one operation at a time for the whole
 * of its life, 4x slower than the next worker of the same backend. Here every worker's first
 * COLD reads (more than half of the warm-up's 256) take COLD_NS each (through the linker's
 * --wrap of kv_get, see CMakeLists.txt), and the later ones are local:'s own, a few tens of ns:
 * the workers must time their reads in batches. How they were timed is counted through a
 * wrapper of sc_hist_add(): a batch adds its mean once for its BATCH_FAST operations, an
 * operation timed alone adds itself once. Before, every read was timed alone; the trial is a
 * measurement, so on a loaded machine one worker of the three may still decide the other way
 * (a warm-up cut short by its 20 ms bound leaves cold reads in the trial): at least 90% of the
 * reads must be timed in batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scen.h"

#define COLD 150
#define COLD_NS 3000

/* Counted across the workers (shared memory, mapped before they are forked). */
typedef struct counts {
    _Atomic uint64_t alone, batched;
} counts;
static counts *seen;

int __real_kv_get(kv_conn *c, const void *key, size_t klen, kv_buf *val);
int __wrap_kv_get(kv_conn *c, const void *key, size_t klen, kv_buf *val);
int __wrap_kv_get(kv_conn *c, const void *key, size_t klen, kv_buf *val) {
    static pid_t me;
    static unsigned calls;
    if (getpid() != me) {
        me = getpid();
        calls = 0;
    }
    if (calls++ < COLD) {
        uint64_t until = sc_now_ns() + COLD_NS;
        while (sc_now_ns() < until)
            ;
    }
    return __real_kv_get(c, key, klen, val);
}

void __real_sc_hist_add(sc_hist *h, uint64_t value, uint64_t n);
void __wrap_sc_hist_add(sc_hist *h, uint64_t value, uint64_t n);
void __wrap_sc_hist_add(sc_hist *h, uint64_t value, uint64_t n) {
    if (seen)
        atomic_fetch_add(n > 1 ? &seen->batched : &seen->alone, 1);
    __real_sc_hist_add(h, value, n);
}

/* The catalogue's `read` on local: in whole repetitions: every repetition forks a new worker,
 * which warms up and chooses anew. */
static void test_cold_warm_up_still_batches(void **state) {
    (void)state;
    seen = mmap(NULL, sizeof *seen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(seen != MAP_FAILED);
    memset(seen, 0, sizeof *seen);
    rp_doc *doc;
    assert_int_equal(rp_doc_new(&doc), 0);
    assert_non_null(rp_doc_add_cell(doc));
    sc_cell c;
    memset(&c, 0, sizeof c);
    c.scenario = sc_find_scenario("read");
    assert_non_null(c.scenario);
    snprintf(c.uri, sizeof c.uri, "local:");
    snprintf(c.label, sizeof c.label, "local:");
    c.role = KV_ROLE_BASELINE;
    c.timer_overhead_ns = sc_timer_overhead();
    c.p.procs = 1;
    c.p.repeat = 3;
    c.p.duration = 0.02;
    c.p.keys = 1000;
    c.p.value_size = 100;
    c.p.seed = 1;
    volatile sig_atomic_t stop = 0;
    int rc = sc_run_cell(&c, &doc->cells[0], doc, &stop);
    if (rc || doc->cells[0].status != RP_STATUS_OK)
        fail_msg("the cell failed: %s: %s", sc_errname(rc),
                 doc->cells[0].reason ? doc->cells[0].reason : "no reason");
    uint64_t batched = atomic_load(&seen->batched) * 32, alone = atomic_load(&seen->alone);
    if (batched == 0 || batched < 9 * alone)
        fail_msg("reads timed in batches %llu, alone %llu", (unsigned long long)batched,
                 (unsigned long long)alone);
    rp_doc_free(doc);
    munmap(seen, sizeof *seen);
    seen = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_warm_up_still_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
