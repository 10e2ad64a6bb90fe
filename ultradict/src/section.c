/*
 * section.c - the lock section of a handle, over the mechanism of lock.c: which thread holds
 * the lock through which handle, re-entry (the depth), two handles of one dict sharing one
 * thread's hold, the records a section leaves unpublished until its outermost unlock (and the
 * dump deferred meanwhile: dump.c is a layer above, so dict.c gives its function as a hook), a
 * fork child letting go of its parent's section, and the register of attached processes.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* The dump a section deferred, run at its outermost unlock: ud__dump_locked(), set by the
 * layer above that defines it (ud__section_set_dump()). */
static _Atomic(ud__dump_fn) dump_hook;

void ud__section_set_dump(ud__dump_fn fn) {
    atomic_store_explicit(&dump_hook, fn, memory_order_relaxed);
}

/* ---- Publication ---- */

static long futex_wake_all(_Atomic uint32_t *addr) {
    return syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * A wake that woke nobody while `waiters` says w: either a waiter is between registering and
 * sleeping (its slot says so), or the count is left over from waiters that were killed. We
 * hold the lock, so nobody registers meanwhile; a waiter decrements `waiters` before its slot,
 * so when no live slot counts a wait, every live waiter is done and the rest is dead: reset.
 */
static void recount_waiters(ud__control *c, uint32_t w) {
    if (atomic_load_explicit(&c->waiting_unslotted, memory_order_relaxed) != 0)
        return;
    for (int i = 0; i < UD__MAX_ATTACHED; i++) {
        if (atomic_load_explicit(&c->waiting[i], memory_order_relaxed) == 0)
            continue;
        uint64_t id = atomic_load_explicit(&c->attached[i], memory_order_relaxed);
        if (id != 0 && ud__ident_alive(id))
            return;
    }
    atomic_compare_exchange_strong(&c->waiters, &w, 0);
}

/* Makes everything up to new_end visible with one store, and wakes waiters. */
void ud__publish_end(ud_dict *d, uint64_t new_end) {
    ud__control *c = d->ctl;
    atomic_store_explicit(&c->end, new_end, memory_order_release);
    /* Waiters register under the lock (see ud_wait), so holding it we either see the waiter
     * here, or the waiter saw the new end before it slept. */
    uint32_t w = atomic_load_explicit(&c->waiters, memory_order_relaxed);
    if (w != 0) {
        atomic_fetch_add(&c->change_seq, 1);
        if (futex_wake_all(&c->change_seq) == 0)
            recount_waiters(c, w);
    }
}

/* At the outermost unlock (or when another handle of the thread shares the hold): publishes
 * the section's records, then runs a dump deferred meanwhile. */
static void publish_pending(ud_dict *d) {
    if (d->unpublished) {
        d->unpublished = false;
        ud__publish_end(d, d->pending_end);
    }
    if (d->dump_deferred) {
        bool asked = d->dump_deferred & UD__DUMP_ASKED;
        d->dump_deferred = 0;
        ud__control *c = d->ctl;
        uint64_t used = atomic_load_explicit(&c->end, memory_order_relaxed) -
                        atomic_load_explicit(&c->base, memory_order_relaxed);
        /* Compact what the section grew the stream by; a failure here only leaves the stream
         * longer, as a failed dump always does. */
        ud__dump_fn dump = atomic_load_explicit(&dump_hook, memory_order_relaxed);
        if ((asked || used > c->buffer_size) && dump)
            (void)dump(d);
    }
}

/* In a fork child: the parent's unpublished records are not ours; the local copy is rebuilt
 * from the dump and the stream. */
static void drop_pending(ud_dict *d) {
    if (d->unpublished) {
        ud__table_clear(&d->table);
        d->pos = 0;
    }
    d->unpublished = false;
    d->dump_deferred = 0;
}

/* ---- Threads and their holds ---- */

/*
 * The state of this thread's holds, in one thread-local block: in a shared library (the Python
 * module) every thread-local variable costs a call to find it, and one block is found once per
 * call. The lock belongs to a thread, like the original's multiprocessing.RLock: a handle
 * remembers which thread took it (lock_owner), re-entry counts only for that thread, and any
 * other thread - sharing the handle or not - waits for the lock like another process would.
 * Threads are numbered from a process-wide counter (never reused, unlike a pthread_t or a tid).
 *
 * `tab` holds the dicts whose lock this thread holds through some handle, by segment identity:
 * a second handle of the same dict in the same thread shares that hold (see acquire()). `owner`
 * is the handle that took the lock; only this thread uses it, and only while it holds. The
 * first HELD_INLINE entries need no allocation; past them the table moves to the heap and
 * doubles as needed (and goes back when the thread holds nothing), so any number of dicts can
 * be held. Entries are kept packed: the first `n` are the holds. `last` is the entry found or
 * added last: a write looks its dict up three times (taking, syncing, releasing), so it is
 * checked before the table is scanned - a hint, compared with the entry it names every time,
 * so that moving or dropping entries never makes it wrong, only a miss.
 *
 * `free` answers "not held" without a scan, which every write to a dict the thread does not
 * hold asks (at its lock, and in the sync of a read while other locks are held): a small
 * direct-mapped set of dicts known not to be in the table. A dict goes in when its entry is
 * dropped or a scan misses it, and its slot is cleared when an entry is added, so a slot never
 * names a held dict; a slot taken by another dict of the same slot makes only a miss. The
 * child of a fork empties the table, which keeps every slot true.
 */
#define HELD_INLINE 12
#define HELD_FREE 8 /* a power of two */
typedef struct held_ent {
    uint64_t seg_id;
    int holders;
    ud_dict *owner;
} held_ent;
typedef struct held_state {
    uint64_t thread;   /* this thread's number, 0 until first needed */
    uint64_t fork_gen; /* the fork generation the table belongs to */
    held_ent *tab;     /* held_inline, or a heap block of cap entries */
    int n, cap, last;
    uint64_t scanned;         /* entries compared by scans (ud__held_scanned()) */
    uint64_t free[HELD_FREE]; /* seg_ids not in tab (0: an empty slot) */
    held_ent inline_tab[HELD_INLINE];
} held_state;
static _Atomic uint64_t thread_next = 1;
static _Thread_local held_state holds;

static inline held_state *my_holds(void) {
    held_state *h = &holds;
    /* The block's address found once per call: without this barrier the compiler makes every
     * h-> an access of the thread-local variable of its own, which in the Python module is a
     * call through the TLS descriptor each (seven in one unlock). */
    __asm__("" : "+r"(h));
    if (__builtin_expect(h->thread == 0, 0)) {
        h->thread = atomic_fetch_add_explicit(&thread_next, 1, memory_order_relaxed);
        h->tab = h->inline_tab;
        h->cap = HELD_INLINE;
    }
    return h;
}

/* Whether the calling thread holds the lock through d. Only the owner ever stores its own
 * number there, so a relaxed load answers exactly. */
static inline bool owned_here(const ud_dict *d) {
    uint64_t owner = atomic_load_explicit(&d->lock_owner, memory_order_relaxed);
    /* Nobody holds it through d (the common case) is known without finding this thread. */
    return owner != 0 && owner == my_holds()->thread;
}

bool ud__lock_owned(const ud_dict *d) {
    return owned_here(d);
}

uint64_t ud__held_scanned(void) {
    return my_holds()->scanned;
}

/* The slot of `free` for a segment identity (device high, inode low: the inode's bits vary). */
static inline uint64_t *free_slot(held_state *h, uint64_t id) {
    return &h->free[(id ^ (id >> 40)) & (HELD_FREE - 1)];
}

/* The entry of segment id (never 0) in this thread's table, or -1. */
static inline int held_find(held_state *h, uint64_t id) {
    /* A child of fork() holds nothing its parent held. */
    uint64_t gen = atomic_load_explicit(&ud__fork_gen, memory_order_relaxed);
    if (__builtin_expect(h->fork_gen != gen, 0)) {
        h->n = 0;
        h->fork_gen = gen;
    }
    if (h->last < h->n && h->tab[h->last].seg_id == id)
        return h->last;
    if (h->n == 0)
        return -1;
    uint64_t *f = free_slot(h, id);
    if (*f == id)
        return -1;
    for (int i = 0; i < h->n; i++)
        if (h->tab[i].seg_id == id) {
            h->scanned += (uint64_t)i + 1;
            return h->last = i;
        }
    h->scanned += (uint64_t)h->n;
    *f = id;
    return -1;
}

/* Out of line: a call in held_add()'s common path would make it save registers and find the
 * thread-local block again after the call. */
static __attribute__((noinline)) int held_grow(held_state *h) {
    bool inl = h->tab == h->inline_tab;
    held_ent *t = realloc(inl ? NULL : h->tab, (size_t)h->cap * 2 * sizeof *t);
    if (!t)
        return -ENOMEM;
    if (inl)
        memcpy(t, h->inline_tab, sizeof h->inline_tab);
    h->tab = t;
    h->cap *= 2;
    return 0;
}

/* Records d's hold in this thread's table, at entry i (from held_find(); -1: a new entry): 0,
 * or -ENOMEM (nothing recorded). */
static int held_add(held_state *h, int i, ud_dict *d) {
    if (i < 0) {
        if (h->n == h->cap && held_grow(h) != 0)
            return -ENOMEM;
        *free_slot(h, d->seg_id) = 0;
        h->last = i = h->n++;
        h->tab[i] = (held_ent){d->seg_id, 1, d};
        d->hold_owner = true;
        atomic_fetch_add_explicit(&ud__holds, 1, memory_order_relaxed);
        return 0;
    }
    if (h->tab[i].owner)
        h->tab[i].owner->hold_owner = false;
    h->tab[i].owner = d;
    d->hold_owner = true;
    h->tab[i].holders++;
    return 0;
}

static void held_drop(held_state *h, uint64_t id) {
    int i = held_find(h, id);
    if (i < 0 || --h->tab[i].holders > 0)
        return;
    h->tab[i] = h->tab[--h->n];
    if (h->n > 0) /* an empty table answers "not held" by itself */
        *free_slot(h, id) = id;
    atomic_fetch_sub_explicit(&ud__holds, 1, memory_order_relaxed);
    if (h->n == 0 && h->tab != h->inline_tab) {
        free(h->tab);
        h->tab = h->inline_tab;
        h->cap = HELD_INLINE;
    }
}

void ud__share_hold(const ud_dict *d) {
    /* Held through d, the owner of the hold: nothing to publish, and no need to find this
     * thread's table. (Held through d by another thread: this thread holds nothing of the
     * dict; by a fork parent: the child holds nothing.) */
    if (!d->seg_id || (d->lock_depth > 0 && d->hold_owner))
        return;
    held_state *h = my_holds();
    int i = held_find(h, d->seg_id);
    ud_dict *o = i >= 0 ? h->tab[i].owner : NULL;
    if (!o || o == d)
        return;
    /* Another handle of this thread holds the lock, maybe with records it has not published:
     * they go out now, before this handle reads or appends at the published end, and the
     * owner publishes every further record at once until its outermost unlock - a section two
     * handles write in is not all-or-nothing. */
    o->hold_shared = true;
    publish_pending(o);
}

/* ---- The register of attached processes ---- */

/* Records this process in the control segment's register of attached processes. */
void ud__register_attach(ud_dict *d) {
    uint64_t me = ud__self_ident();
    d->attach_slot = -1;
    for (int pass = 0; pass < 2 && d->attach_slot < 0; pass++) {
        for (int i = 0; i < UD__MAX_ATTACHED; i++) {
            uint64_t cur = atomic_load_explicit(&d->ctl->attached[i], memory_order_relaxed);
            /* First pass: free slots; second pass: slots of processes that died. */
            if (pass == 0 ? cur != 0 : (cur == 0 || ud__ident_alive(cur)))
                continue;
            if (atomic_compare_exchange_strong(&d->ctl->attached[i], &cur, me)) {
                /* A dead owner's waits died with it. */
                atomic_store_explicit(&d->ctl->waiting[i], 0, memory_order_relaxed);
                d->attach_slot = i;
                break;
            }
        }
    }
}

void ud__unregister_attach(ud_dict *d) {
    if (d->attach_slot < 0)
        return;
    /* A child of fork() has another identity and leaves its parent's slot alone. */
    uint64_t me = ud__self_ident();
    atomic_compare_exchange_strong(&d->ctl->attached[d->attach_slot], &me, 0);
    d->attach_slot = -1;
}

unsigned ud__count_attached(const ud__control *c) {
    unsigned n = 0;
    for (int i = 0; i < UD__MAX_ATTACHED; i++) {
        uint64_t id = atomic_load_explicit(&((ud__control *)c)->attached[i], memory_order_relaxed);
        if (id && ud__ident_alive(id))
            n++;
    }
    return n;
}

/* ---- The section ---- */

/* A handle copied into a child by fork() does not hold its parent's lock; the child registers
 * itself as attached the first time it writes. */
static inline void check_fork(ud_dict *d) {
    uint64_t gen = atomic_load_explicit(&ud__fork_gen, memory_order_relaxed);
    if (d->lock_fork_gen != gen) {
        d->lock_fork_gen = gen;
        d->lock_depth = 0;
        atomic_store_explicit(&d->lock_owner, 0, memory_order_relaxed);
        drop_pending(d);
        d->lock_borrowed = false;
        d->hold_shared = false;
        d->hold_owner = false;
        ud__register_attach(d);
    }
}

/* The bookkeeping of a hold just taken, shared or not: the first level, owned by this thread. */
static void hold_taken(held_state *h, ud_dict *d) {
    d->lock_depth = 1;
    atomic_store_explicit(&d->lock_owner, h->thread, memory_order_relaxed);
}

/* Gives the lock itself back (no bookkeeping). */
static void release_lock(ud_dict *d) {
    ud__lock_release(d->ctl, d->lock_mode);
}

/* Takes the lock as o says, or with o NULL tries once. The first attempt is made here, inline:
 * the lock is free for most writes. */
static int take(ud_dict *d, const ud_lock_options *o) {
    int rc = ud__lock_try(d->ctl, d->lock_mode);
    return rc == UD_EBUSY && o ? ud__lock_acquire(d->ctl, d->lock_mode, o) : rc;
}

/* Takes the lock for this thread through d (o: as in take()), or shares this thread's hold of
 * the same dict through another handle. */
static int acquire(ud_dict *d, const ud_lock_options *o) {
    held_state *h = my_holds();
    int i = d->seg_id ? held_find(h, d->seg_id) : -1;
    if (i >= 0) {
        /* Two handles of one dict used by one thread, e.g. `with a.lock: b[k] = v`: the second
         * shares the first's hold instead of deadlocking or failing. Nesting makes it let go
         * first; it never releases what it did not take. */
        ud__share_hold(d);
        d->lock_borrowed = true;
        hold_taken(h, d);
        return 0;
    }
    int rc = take(d, o);
    if (rc)
        return rc;
    /* Still not in the table: taking the lock changed nothing in it. */
    if (d->seg_id && held_add(h, i, d) != 0) {
        release_lock(d);
        return -ENOMEM;
    }
    atomic_store_explicit(&d->ctl->holder_pid,
                          atomic_load_explicit(&ud__self_pid, memory_order_relaxed),
                          memory_order_relaxed);
    hold_taken(h, d);
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
    d->hold_owner = false;
    if (d->seg_id)
        held_drop(my_holds(), d->seg_id);
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
    return reenter(d) ? 0 : acquire(d, &block);
}

int ud__lock_once(ud_dict *d) {
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, NULL);
}

int ud__lock_for(ud_dict *d, double timeout) {
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.timeout = timeout;
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, &o);
}

void ud__unlock(ud_dict *d) {
    if (d->lock_depth == 1)
        publish_pending(d);
    if (d->lock_depth > 0 && --d->lock_depth == 0)
        release(d);
}

int ud_lock(ud_dict *d, const ud_lock_options *o) {
    static const ud_lock_options block = UD_LOCK_OPTIONS_INIT;
    UD__CHECK_HANDLE(d);
    if (o && (o->timeout < 0 || o->timeout != o->timeout))
        return UD_EINVAL;
    check_fork(d);
    return reenter(d) ? 0 : acquire(d, o ? o : &block);
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
    held_state *h = my_holds();
    if (d->seg_id && held_add(h, held_find(h, d->seg_id), d) != 0) {
        release_lock(d);
        return -ENOMEM;
    }
    atomic_store_explicit(&d->ctl->holder_pid, (int32_t)(ud__self_ident() >> 32),
                          memory_order_relaxed);
    hold_taken(h, d);
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
    ud__lock_steal_spin(d->ctl);
    return held_after_steal(d);
}

pid_t ud_lock_holder(ud_dict *d) {
    if (!d)
        return 0;
    return ud__lock_holder(d->ctl, d->lock_mode);
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
    int rc = ud__lock_steal_spin_from(d->ctl, pid);
    return rc ? rc : held_after_steal(d);
}
