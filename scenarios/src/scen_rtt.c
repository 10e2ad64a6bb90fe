/*
 * scen_rtt.c - the machine's cross-core round trip, measured inside the visibility scenario, so
 * that a sighting's latency and the round trip it is compared with come from the same run, the
 * same processes and the same moments.
 *
 * The writer (worker 0) and the first reader (worker 1) bounce one word each way through shared
 * memory: the writer's ping is a word of its own slot, the reader's pong a word of the reader's
 * slot (two slots: two cache lines, one carried each way). Between two stamps, where the writer
 * only waits, it opens a session: one unmeasured ping that the reader picks up between two of
 * its polls and after which it answers in a tight loop, then SC_RTT_TRIPS timed round trips
 * (clock read, store, spin until the answer, clock read: the two clock reads are part of each
 * figure, as they are of every sighting), then a closing ping. No side ever waits more than
 * SC_RTT_WAIT_NS: a partner that is descheduled, stopped or at the end of its batch costs the
 * session, never a hang. The spins have no pause instruction: in a virtual machine a pause may
 * exit to the hypervisor and take microseconds, longer than what is being timed.
 */
#include <stdbool.h>

#include "scen.h"

#define SC_RTT_TRIPS 8
#define SC_RTT_WAIT_NS 20000ull   /* 20 us: a reader never misses the next stamp for it */
#define SC_RTT_CLOSE (1ull << 62) /* set in the last ping of a session */
#define PING 6                    /* index in the writer's counters */
#define PONG 7                    /* index in the first reader's counters */

static int64_t *word(sc_worker *w, int index, int slot_counter) {
    return &w->arena->slots[index].counters[slot_counter];
}

static void put(int64_t *p, uint64_t v) {
    __atomic_store_n(p, (int64_t)v, __ATOMIC_RELEASE);
}

static uint64_t get(const int64_t *p) {
    return (uint64_t)__atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Spins until *p == v: true, or false after SC_RTT_WAIT_NS or a stop. */
static bool wait_for(sc_worker *w, const int64_t *p, uint64_t v) {
    uint64_t until = 0;
    for (unsigned n = 1; get(p) != v; n++) {
        if ((n & 63) == 0) {
            uint64_t now = sc_now_ns();
            if (!until)
                until = now + SC_RTT_WAIT_NS;
            else if (now > until || atomic_load_explicit(&w->arena->stop, memory_order_relaxed))
                return false;
        }
    }
    return true;
}

bool sc_rtt_applies(const sc_worker *w) {
    return w->cell->p.procs >= 2 && w->index <= 1;
}

void sc_rtt_session(sc_worker *w, sc_op_stats *s) {
    int64_t *ping = word(w, 0, PING);
    const int64_t *pong = word(w, 1, PONG);
    uint64_t seq = get(ping) & ~SC_RTT_CLOSE;
    /* The opening ping: the reader sees it between two polls, at no particular moment. */
    put(ping, ++seq);
    if (!wait_for(w, pong, seq))
        goto close;
    for (int i = 0; i < SC_RTT_TRIPS; i++) {
        uint64_t t0 = sc_now_ns();
        put(ping, ++seq);
        bool ok = wait_for(w, pong, seq);
        uint64_t t1 = sc_now_ns();
        if (!ok)
            goto close;
        s->ops++;
        sc_hist_add(&s->hist, t1 - t0, 1);
    }
close:
    put(ping, ++seq | SC_RTT_CLOSE);
}

void sc_rtt_answer(sc_worker *w) {
    const int64_t *ping = word(w, 0, PING);
    int64_t *pong = word(w, 1, PONG);
    uint64_t p = get(ping);
    if (p == get(pong) || (p & SC_RTT_CLOSE))
        return;
    /* A session is open: answer each ping as soon as it comes, until the closing one. */
    for (;;) {
        put(pong, p);
        uint64_t until = sc_now_ns() + SC_RTT_WAIT_NS;
        uint64_t next;
        unsigned n = 0;
        while ((next = get(ping)) == p) {
            if ((++n & 1023) == 0 && (sc_now_ns() > until ||
                                      atomic_load_explicit(&w->arena->stop, memory_order_relaxed)))
                return;
            __builtin_ia32_pause();
        }
        if (next & SC_RTT_CLOSE) {
            put(pong, next);
            return;
        }
        p = next;
    }
}
