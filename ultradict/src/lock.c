/*
 * lock.c - the lock of a control segment, in two modes: the mechanism only. Who holds it
 * through which handle and thread, re-entry, and what the outermost unlock publishes are the
 * section's (section.c).
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
 * glibc's pthread_mutex_t, read where POSIX offers no call: the futex word the kernel and glibc
 * share (the holder's tid with the FUTEX_WAITERS and FUTEX_OWNER_DIED marks: an interruptible
 * wait sleeps on it, and a wait that times out reads the holder from it) and the mutex's kind
 * (type, robust and process-shared bits: an attach compares it with a mutex made here). This is
 * the one place that names glibc's private fields. It depends on struct __pthread_mutex_s as
 * glibc 2.28 and later define it in bits/struct_mutex.h on every architecture (__lock an int at
 * offset 0, __kind an int after it); the library also needs glibc 2.30 for
 * pthread_mutex_clocklock(). Another C library, glibc older than 2.30 or a major version other
 * than 2 stops the build here; a moved field stops it at the static assertions below.
 */
#if !defined(__GLIBC__) || __GLIBC__ != 2 || __GLIBC_MINOR__ < 30
#error                                                                                             \
    "lock.c reads glibc's pthread_mutex_t fields (glibc 2.30 or later, major version 2): port glibc_mutex()"
#endif
_Static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0 &&
                   sizeof(((pthread_mutex_t *)0)->__data.__lock) == sizeof(unsigned),
               "glibc's mutex futex word (__data.__lock) is a 32-bit int at offset 0");
_Static_assert(offsetof(pthread_mutex_t, __data.__kind) >
                       offsetof(pthread_mutex_t, __data.__lock) &&
                   offsetof(pthread_mutex_t, __data.__kind) + sizeof(int) <=
                       sizeof(pthread_mutex_t),
               "glibc's mutex kind (__data.__kind) is an int inside the mutex");

typedef struct glibc_mutex_fields {
    unsigned *futex; /* the futex word: holder's tid | FUTEX_* marks */
    const int *kind; /* the type and the robust and process-shared bits */
} glibc_mutex_fields;

static inline glibc_mutex_fields glibc_mutex(const pthread_mutex_t *m) {
    return (glibc_mutex_fields){(unsigned *)&m->__data.__lock, &m->__data.__kind};
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
        kind = *glibc_mutex(&probe.mutex).kind;
        pthread_mutex_destroy(&probe.mutex);
        atomic_store(&expected, kind);
    }
    return *glibc_mutex(&c->mutex).kind == kind ? 0 : UD_ECORRUPT;
}

int ud__lock_result(ud__control *c, int rc) {
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
    return glibc_mutex(&c->mutex).futex;
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
        return ud__lock_result(c, rc);
    if (mutex_spin(c, &rc))
        return ud__lock_result(c, rc);
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
            return ud__lock_result(c, rc);
        pid_t owner = (pid_t)(__atomic_load_n(futex_word(c), __ATOMIC_RELAXED) & FUTEX_TID_MASK);
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

int ud__lock_acquire(ud__control *c, int mode, const ud_lock_options *o) {
    return mode == UD_LOCK_SPIN ? spin_acquire(c, o) : mutex_acquire(c, o);
}

int ud__lock_try_spin(ud__control *c) {
    return spin_try(c, ud__self_ident()) ? 0 : UD_EBUSY;
}

void ud__lock_release_spin(ud__control *c) {
    /* If the lock was stolen from us, it is no longer ours to release. */
    uint64_t me = ud__self_ident();
    atomic_compare_exchange_strong(&c->spin_owner, &me, 0);
}

void ud__lock_steal_spin(ud__control *c) {
    atomic_store(&c->spin_owner, ud__self_ident());
}

int ud__lock_steal_spin_from(ud__control *c, pid_t pid) {
    uint64_t owner = atomic_load(&c->spin_owner);
    /* One compare-and-swap on the exact identity that was read: if the holder released or
     * changed in between, nothing is taken. */
    if (owner == 0 || (pid_t)(owner >> 32) != pid ||
        !atomic_compare_exchange_strong(&c->spin_owner, &owner, ud__self_ident()))
        return UD_EBUSY;
    return 0;
}

pid_t ud__lock_holder(ud__control *c, int mode) {
    if (mode == UD_LOCK_SPIN)
        return (pid_t)(atomic_load(&c->spin_owner) >> 32);
    return (pid_t)atomic_load_explicit(&c->holder_pid, memory_order_relaxed);
}
