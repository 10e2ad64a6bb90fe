/*
 * lock.c - the dict's lock, in two modes.
 *
 * UD_LOCK_MUTEX: a process-shared robust mutex in the control segment. Every attached process
 * is excluded, however it got there; if the holder dies, the kernel hands the next locker
 * EOWNERDEAD, and since the shared state is consistent at every instant (records and dumps are
 * published by a single store after they are complete), recovery is just marking the mutex
 * consistent again. We spin briefly before sleeping: an uncontended lock costs tens of
 * nanoseconds, a futex round trip microseconds.
 *
 * UD_LOCK_SPIN: the original's shared_lock - an atomic word holding the holder's identity (pid
 * and process start time, so a reused pid is not mistaken for the holder), polled with
 * sleep_time between attempts. A holder that died is detected and the lock taken over.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SPIN_ROUNDS 200
/* The mutex's spin before sleeping: pauses in all, and the longest gap between two looks. */
#define SPIN_PAUSES 800
#define SPIN_BACKOFF_MAX 8

/*
 * The lock belongs to a thread, like the original's multiprocessing.RLock: a handle remembers
 * which thread took it (lock_owner), re-entry counts only for that thread, and any other
 * thread - sharing the handle or not - waits for the lock like another process would. Threads
 * are numbered from a process-wide counter (never reused, unlike a pthread_t or a tid).
 */
static _Atomic uint64_t thread_next = 1;
static _Thread_local uint64_t thread_self;

static inline uint64_t self_thread(void) {
    uint64_t t = thread_self;
    if (__builtin_expect(t == 0, 0))
        t = thread_self = atomic_fetch_add_explicit(&thread_next, 1, memory_order_relaxed);
    return t;
}

/* Whether the calling thread holds the lock through d. Only the owner ever stores its own
 * number there, so a relaxed load answers exactly. */
static inline bool owned_here(const ud_dict *d) {
    return atomic_load_explicit(&d->lock_owner, memory_order_relaxed) == self_thread();
}

bool ud__lock_owned(const ud_dict *d) {
    return owned_here(d);
}

/*
 * The dicts whose lock this thread holds through some handle, by segment identity: a second
 * handle of the same dict in the same thread shares that hold (see acquire()). `owner` is the
 * handle that took the lock; only this thread uses it, and only while it holds. The first
 * HELD_INLINE entries need no allocation; past them the table moves to the heap and doubles as
 * needed (and goes back when the thread holds nothing), so any number of dicts can be held.
 * Entries are kept packed: the first held_n are the holds.
 */
#define HELD_INLINE 16
typedef struct held_ent {
    uint64_t seg_id;
    int holders;
    ud_dict *owner;
} held_ent;
static _Thread_local held_ent held_inline[HELD_INLINE];
static _Thread_local held_ent *held_heap; /* NULL: the table is held_inline */
static _Thread_local int held_n, held_cap;

_Atomic unsigned ud__holds;

static _Thread_local uint64_t held_fork_gen;

static inline held_ent *held_tab(void) {
    return held_heap ? held_heap : held_inline;
}

static int held_find(uint64_t id) {
    /* A child of fork() holds nothing its parent held. */
    uint64_t gen = atomic_load_explicit(&ud__fork_gen, memory_order_relaxed);
    if (held_fork_gen != gen) {
        held_n = 0;
        held_fork_gen = gen;
    }
    held_ent *h = held_tab();
    for (int i = 0; i < held_n; i++)
        if (h[i].seg_id == id)
            return i;
    return -1;
}

static int held_grow(void) {
    int cap = held_heap ? 2 * held_cap : 2 * HELD_INLINE;
    held_ent *t = realloc(held_heap, (size_t)cap * sizeof *t);
    if (!t)
        return -ENOMEM;
    if (!held_heap)
        memcpy(t, held_inline, sizeof held_inline);
    held_heap = t;
    held_cap = cap;
    return 0;
}

/* Records d's hold in this thread's table: 0, or -ENOMEM (nothing recorded). */
static int held_add(ud_dict *d) {
    int i = held_find(d->seg_id);
    if (i < 0) {
        if (held_n == (held_heap ? held_cap : HELD_INLINE) && held_grow() != 0)
            return -ENOMEM;
        i = held_n++;
        held_tab()[i] = (held_ent){d->seg_id, 0, NULL};
        atomic_fetch_add_explicit(&ud__holds, 1, memory_order_relaxed);
    }
    held_tab()[i].owner = d;
    held_tab()[i].holders++;
    return 0;
}

static void held_drop(uint64_t id) {
    int i = held_find(id);
    if (i < 0 || --held_tab()[i].holders > 0)
        return;
    held_tab()[i] = held_tab()[--held_n];
    atomic_fetch_sub_explicit(&ud__holds, 1, memory_order_relaxed);
    if (held_n == 0 && held_heap) {
        free(held_heap);
        held_heap = NULL;
    }
}

void ud__share_hold(const ud_dict *d) {
    if (!d->seg_id)
        return;
    int i = held_find(d->seg_id);
    ud_dict *o = i >= 0 ? held_tab()[i].owner : NULL;
    if (!o || o == d)
        return;
    /* Another handle of this thread holds the lock, maybe with records it has not published:
     * they go out now, before this handle reads or appends at the published end, and the
     * owner publishes every further record at once until its outermost unlock - a section two
     * handles write in is not all-or-nothing. */
    o->hold_shared = true;
    ud__publish_pending(o);
}
#define LIVENESS_PERIOD_NS 1000000LL
#define OWNER_CHECK_NS 500000000LL

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The monotonic deadline `timeout` seconds from now, or 0 for none: no timeout, or one so long
 * (INFINITY, or past the int64 nanosecond range) that it can never pass. */
static int64_t deadline_after(double timeout) {
    if (!(timeout > 0))
        return 0;
    int64_t now = now_ns();
    if (timeout >= (double)(INT64_MAX - now) / 1e9)
        return 0;
    return now + (int64_t)(timeout * 1e9);
}

int ud__lock_init(ud__control *c) {
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc)
        return -rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!rc)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    /* Error checking turns a second handle locking in the same thread into EDEADLK instead of a
     * silent self-deadlock. */
    if (!rc)
        rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    if (!rc)
        rc = pthread_mutex_init(&c->mutex, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;
}

int ud__lock_check(const ud__control *c) {
    /* The mutex's kind as ud__lock_init() leaves it: a damaged one (another kind cannot be
     * robust, so a forged lock word would block for ever) is refused at attach. */
    static _Atomic int expected = -1;
    int kind = atomic_load(&expected);
    if (kind < 0) {
        ud__control probe;
        memset(&probe, 0, sizeof probe);
        if (ud__lock_init(&probe) != 0)
            return 0;
        kind = probe.mutex.__data.__kind;
        pthread_mutex_destroy(&probe.mutex);
        atomic_store(&expected, kind);
    }
    return c->mutex.__data.__kind == kind ? 0 : UD_ECORRUPT;
}

static int mutex_result(ud__control *c, int rc) {
    if (rc == EOWNERDEAD) {
        /* The holder died inside its critical section. Nothing it left half-written is
         * reachable (see layout.h), so the state is consistent as it is. */
        pthread_mutex_consistent(&c->mutex);
        atomic_fetch_add(&c->lock_recoveries, 1);
        return 0;
    }
    if (rc == ETIMEDOUT)
        return UD_ETIMEDOUT;
    /* EDEADLK: another handle in this very thread holds it. Waiting could never end. */
    if (rc == EBUSY || rc == EDEADLK)
        return UD_EBUSY;
    return -rc;
}

/* The mutex's futex word as the kernel sees it: the holder's tid and the FUTEX_* marks. */
static unsigned *futex_word(ud__control *c) {
    return (unsigned *)&c->mutex.__data.__lock;
}

/* One attempt to set the waiters mark on the futex word of a held mutex: true with *word the
 * marked value, false if the mutex was free or the word changed meanwhile. */
static bool mark_waiters(ud__control *c, unsigned *word) {
    unsigned v = __atomic_load_n(futex_word(c), __ATOMIC_RELAXED);
    *word = v | FUTEX_WAITERS;
    return v != 0 && ((v & FUTEX_WAITERS) ||
                      __atomic_compare_exchange_n(futex_word(c), &v, v | FUTEX_WAITERS, false,
                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/*
 * pthread_mutex_clocklock() for an interruptible wait. glibc's own wait restarts after a signal
 * handler has run; this one sleeps on the mutex's futex word itself, which a handler ends with
 * EINTR. As the mutex's waiters do, it sets the waiters mark before sleeping so that the
 * holder's unlock wakes it; trylock takes the lock without that mark, so it is set again once
 * the lock is ours, or a waiter still asleep would not be woken by our unlock. Returns 0 or
 * EOWNERDEAD (taken), ETIMEDOUT at `until` (monotonic ns), EINTR, or another trylock error.
 */
static int mutex_clocklock_intr(ud__control *c, int64_t until) {
    unsigned v;
    for (;;) {
        int rc = pthread_mutex_trylock(&c->mutex);
        if (rc != EBUSY) {
            while ((rc == 0 || rc == EOWNERDEAD) && !mark_waiters(c, &v)) {
            }
            return rc;
        }
        if (!mark_waiters(c, &v))
            continue;
        struct timespec ts = {until / 1000000000LL, until % 1000000000LL};
        /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time; not private: the mutex is
         * shared between processes. */
        if (syscall(SYS_futex, futex_word(c), FUTEX_WAIT_BITSET, v, &ts, NULL,
                    FUTEX_BITSET_MATCH_ANY) == 0 ||
            errno == EAGAIN)
            continue;
        return errno; /* EINTR, ETIMEDOUT, or a failure */
    }
}

/*
 * The spin before sleeping. Each look at the lock pulls its line - the holder's working line
 * (layout.h) - away from the holder, which then waits for it back on its next store: looks
 * back off from one pause to SPIN_BACKOFF_MAX, within a budget of SPIN_PAUSES pauses. true
 * with *rc the trylock's result once the lock is no longer busy.
 */
static bool mutex_spin(ud__control *c, int *rc) {
    for (int paused = 0, gap = 1; paused < SPIN_PAUSES; paused += gap) {
        for (int k = 0; k < gap; k++)
            cpu_relax();
        if (gap < SPIN_BACKOFF_MAX)
            gap *= 2;
        if (atomic_load_explicit(&c->holder_pid, memory_order_relaxed) != 0)
            continue;
        *rc = pthread_mutex_trylock(&c->mutex);
        if (*rc != EBUSY)
            return true;
    }
    return false;
}

static int mutex_acquire(ud__control *c, const ud_lock_options *o) {
    int rc = pthread_mutex_trylock(&c->mutex);
    if (rc != EBUSY)
        return mutex_result(c, rc);
    if (mutex_spin(c, &rc))
        return mutex_result(c, rc);
    if (o->nonblock)
        return UD_EBUSY;
    /* Sleep in bounded rounds: between them, a lock word naming a thread that does not exist
     * (the kernel marks a robust mutex whose owner died, so only damage does that) is
     * UD_ECORRUPT instead of a wait that could never end. */
    int64_t deadline = deadline_after(o->timeout);
    for (;;) {
        int64_t until = now_ns() + OWNER_CHECK_NS;
        if (deadline && deadline < until)
            until = deadline;
        if (o->interruptible) {
            rc = mutex_clocklock_intr(c, until);
            if (rc == EINTR)
                return -EINTR;
        } else {
            struct timespec ts = {until / 1000000000LL, until % 1000000000LL};
            rc = pthread_mutex_clocklock(&c->mutex, CLOCK_MONOTONIC, &ts);
        }
        if (rc != ETIMEDOUT || (deadline && now_ns() >= deadline))
            return mutex_result(c, rc);
        pid_t owner = (pid_t)((unsigned)c->mutex.__data.__lock & FUTEX_TID_MASK);
        if (owner != 0 && kill(owner, 0) != 0 && errno == ESRCH)
            return UD_ECORRUPT;
    }
}

static bool spin_try(ud__control *c, uint64_t me) {
    uint64_t expected = 0;
    return atomic_compare_exchange_strong(&c->spin_owner, &expected, me);
}

/* One round of SPIN_ROUNDS tries, reading before each compare-and-swap. */
static bool spin_round(ud__control *c, uint64_t me) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (atomic_load_explicit(&c->spin_owner, memory_order_relaxed) == 0 && spin_try(c, me))
            return true;
        cpu_relax();
    }
    return false;
}

/* Takes the lock over from `*owner`, a holder found gone; on a lost race *owner is the holder
 * now. */
static bool spin_take_over(ud__control *c, uint64_t *owner, uint64_t me) {
    if (!atomic_compare_exchange_strong(&c->spin_owner, owner, me))
        return false;
    atomic_fetch_add(&c->lock_recoveries, 1);
    return true;
}

/* What a spinning waiter does after a round that did not get the lock. */
typedef enum spin_step {
    SPIN_TAKEN,    /* the lock is ours */
    SPIN_RETRY,    /* spin again at once */
    SPIN_WAIT,     /* nap, then spin again */
    SPIN_TIMEDOUT, /* the deadline passed with a live holder */
} spin_step;

/* The periodic look at the holder (each LIVENESS_PERIOD_NS, or every round without blocking):
 * a holder that is gone is taken over; if another waiter took it first, spin again at once. */
static spin_step spin_check_owner(ud__control *c, const ud_lock_options *o, uint64_t me,
                                  int64_t now, int64_t *last_check) {
    uint64_t owner = atomic_load(&c->spin_owner);
    if (owner == 0 || (!o->nonblock && now - *last_check < LIVENESS_PERIOD_NS))
        return SPIN_WAIT;
    *last_check = now;
    if (ud__ident_alive(owner))
        return SPIN_WAIT;
    return spin_take_over(c, &owner, me) ? SPIN_TAKEN : SPIN_RETRY;
}

/* At the deadline. steal_after_timeout never takes the lock from a live holder - that would
 * make two writers. Only a holder that is gone is taken over (checked once more here, so that
 * a death since the last periodic check is not missed); a lock just released is tried again. */
static spin_step spin_at_deadline(ud__control *c, const ud_lock_options *o, uint64_t me) {
    uint64_t owner = atomic_load(&c->spin_owner);
    if (o->steal_after_timeout && owner != 0 && !ud__ident_alive(owner) &&
        spin_take_over(c, &owner, me))
        return SPIN_TAKEN;
    return owner == 0 ? SPIN_RETRY : SPIN_TIMEDOUT;
}

/* The nap between rounds: sched_yield() for a negative sleep_time, else nanosleep(). true if a
 * signal handler cut the nap short. */
static bool spin_nap(double sleep_time) {
    if (sleep_time < 0) {
        sched_yield();
        return false;
    }
    struct timespec ts = {(time_t)sleep_time, (long)((sleep_time - (time_t)sleep_time) * 1e9)};
    return nanosleep(&ts, NULL) != 0 && errno == EINTR;
}

static int spin_acquire(ud__control *c, const ud_lock_options *o) {
    uint64_t me = ud__self_ident();
    if (spin_try(c, me))
        return 0;
    int64_t last_check = 0;
    int64_t deadline = deadline_after(o->timeout);
    double sleep_time = o->sleep_time == 0 ? 1e-6 : o->sleep_time;
    for (;;) {
        if (spin_round(c, me))
            return 0;
        int64_t now = now_ns();
        spin_step step = spin_check_owner(c, o, me, now, &last_check);
        if (step == SPIN_WAIT && o->nonblock)
            return UD_EBUSY;
        if (step == SPIN_WAIT && deadline && now >= deadline)
            step = spin_at_deadline(c, o, me);
        if (step == SPIN_TAKEN)
            return 0;
        if (step == SPIN_TIMEDOUT)
            return UD_ETIMEDOUT;
        if (step == SPIN_WAIT && spin_nap(sleep_time) && o->interruptible)
            return -EINTR;
    }
}

/* A handle copied into a child by fork() does not hold its parent's lock; the child registers
 * itself as attached the first time it writes. */
static inline void check_fork(ud_dict *d) {
    uint64_t gen = atomic_load_explicit(&ud__fork_gen, memory_order_relaxed);
    if (d->lock_fork_gen != gen) {
        d->lock_fork_gen = gen;
        d->lock_depth = 0;
        atomic_store_explicit(&d->lock_owner, 0, memory_order_relaxed);
        ud__drop_pending(d);
        d->lock_borrowed = false;
        d->hold_shared = false;
        ud__register_attach(d);
    }
}

/* The bookkeeping of a hold just taken, shared or not: the first level, owned by this thread. */
static void hold_taken(ud_dict *d) {
    d->lock_depth = 1;
    atomic_store_explicit(&d->lock_owner, self_thread(), memory_order_relaxed);
}

/* Gives the lock itself back (no bookkeeping). */
static void release_lock(ud_dict *d) {
    ud__control *c = d->ctl;
    atomic_store_explicit(&c->holder_pid, 0, memory_order_relaxed);
    if (d->lock_mode == UD_LOCK_SPIN) {
        /* If the lock was stolen from us, it is no longer ours to release. */
        uint64_t me = ud__self_ident();
        atomic_compare_exchange_strong(&c->spin_owner, &me, 0);
    } else {
        pthread_mutex_unlock(&c->mutex);
    }
}

/* One attempt at the lock, nothing else: 0 (taken), UD_EBUSY, or a failure. */
static int try_once(ud_dict *d) {
    if (d->lock_mode == UD_LOCK_SPIN)
        return spin_try(d->ctl, ud__self_ident()) ? 0 : UD_EBUSY;
    return mutex_result(d->ctl, pthread_mutex_trylock(&d->ctl->mutex));
}

/*
 * Takes the lock; with catch_up, a lock found busy is first waited for by replaying, without
 * it, the records the holder and others appended since this handle's position. The replay
 * under the lock then covers only what the holder appends meanwhile: a write no longer pays,
 * inside the critical section, for every other process's writes. Errors of that replay are
 * left for the sync under the lock to report.
 */
static int take(ud_dict *d, const ud_lock_options *o, bool catch_up) {
    if (catch_up) {
        int rc = try_once(d);
        if (rc != UD_EBUSY)
            return rc;
        (void)ud__sync(d);
    }
    return d->lock_mode == UD_LOCK_SPIN ? spin_acquire(d->ctl, o) : mutex_acquire(d->ctl, o);
}

static int acquire(ud_dict *d, const ud_lock_options *o, bool catch_up) {
    if (d->seg_id && held_find(d->seg_id) >= 0) {
        /* Two handles of one dict used by one thread, e.g. `with a.lock: b[k] = v`: the second
         * shares the first's hold instead of deadlocking or failing. Nesting makes it let go
         * first; it never releases what it did not take. */
        ud__share_hold(d);
        d->lock_borrowed = true;
        hold_taken(d);
        return 0;
    }
    int rc = take(d, o, catch_up);
    if (rc)
        return rc;
    if (d->seg_id && held_add(d) != 0) {
        release_lock(d);
        return -ENOMEM;
    }
    atomic_store_explicit(&d->ctl->holder_pid,
                          atomic_load_explicit(&ud__self_pid, memory_order_relaxed),
                          memory_order_relaxed);
    hold_taken(d);
    return 0;
}

static void release(ud_dict *d) {
    UD__DELAY_LOCK();
    /* Cleared before the lock goes: the next holder, maybe a thread sharing this handle, finds
     * it free. */
    atomic_store_explicit(&d->lock_owner, 0, memory_order_relaxed);
    if (d->lock_borrowed) {
        d->lock_borrowed = false;
        return;
    }
    d->hold_shared = false;
    if (d->seg_id)
        held_drop(d->seg_id);
    release_lock(d);
}

/* Re-entry by the thread holding the lock through d: one more level. */
static inline bool reenter(ud_dict *d) {
    if (!owned_here(d))
        return false;
    d->lock_depth++;
    return true;
}

int ud__lock(ud_dict *d) {
    static const ud_lock_options block = UD_LOCK_OPTIONS_INIT;
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, &block, false);
}

int ud__lock_write(ud_dict *d) {
    static const ud_lock_options block = UD_LOCK_OPTIONS_INIT;
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, &block, true);
}

int ud__lock_for(ud_dict *d, double timeout) {
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.timeout = timeout;
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, &o, false);
}

void ud__unlock(ud_dict *d) {
    if (d->lock_depth == 1)
        ud__publish_pending(d);
    if (d->lock_depth > 0 && --d->lock_depth == 0)
        release(d);
}

int ud_lock(ud_dict *d, const ud_lock_options *o) {
    static const ud_lock_options block = UD_LOCK_OPTIONS_INIT;
    UD__CHECK_HANDLE(d);
    if (o && (o->timeout < 0 || o->timeout != o->timeout))
        return UD_EINVAL;
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, o ? o : &block, false);
}

int ud_unlock(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    check_fork(d);
    /* Only the thread that took the lock gives it back: another thread sharing the handle gets
     * an error and changes nothing. */
    if (!owned_here(d) || d->lock_depth <= 0)
        return UD_ENOTLOCKED;
    ud__unlock(d);
    return 0;
}

/* The bookkeeping of a hold just taken by stealing the spin lock: 0, or -ENOMEM (the lock is
 * given back). */
static int held_after_steal(ud_dict *d) {
    if (d->seg_id && held_add(d) != 0) {
        release_lock(d);
        return -ENOMEM;
    }
    atomic_store_explicit(&d->ctl->holder_pid, (int32_t)(ud__self_ident() >> 32),
                          memory_order_relaxed);
    hold_taken(d);
    return 0;
}

int ud_lock_steal(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    check_fork(d);
    if (reenter(d))
        return 0;
    if (d->lock_mode != UD_LOCK_SPIN) {
        /* A robust mutex cannot be taken from a live thread; a dead one is recovered by
         * ud_lock() anyway. */
        return -ENOTSUP;
    }
    atomic_store(&d->ctl->spin_owner, ud__self_ident());
    return held_after_steal(d);
}

pid_t ud_lock_holder(ud_dict *d) {
    if (!d)
        return 0;
    if (d->lock_mode == UD_LOCK_SPIN)
        return (pid_t)(atomic_load(&d->ctl->spin_owner) >> 32);
    return (pid_t)atomic_load_explicit(&d->ctl->holder_pid, memory_order_relaxed);
}

int ud_lock_steal_from(ud_dict *d, pid_t pid) {
    UD__CHECK_HANDLE(d);
    if (pid <= 0)
        return UD_EINVAL;
    check_fork(d);
    if (d->lock_mode != UD_LOCK_SPIN)
        return -ENOTSUP;
    if (owned_here(d))
        return UD_EBUSY; /* we hold it ourselves */
    uint64_t owner = atomic_load(&d->ctl->spin_owner);
    /* One compare-and-swap on the exact identity that was read: if the holder released or
     * changed in between, nothing is taken. */
    if (owner == 0 || (pid_t)(owner >> 32) != pid ||
        !atomic_compare_exchange_strong(&d->ctl->spin_owner, &owner, ud__self_ident()))
        return UD_EBUSY;
    return held_after_steal(d);
}
