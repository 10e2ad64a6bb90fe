/*
 * ud_lock.h - the dict's lock (ud_lock() sections, waiting, stealing) and what a language
 * binding builds on it (the change position, whether this thread holds the lock). A part of
 * ultradict.h, which includes it in its place among its topics: include ultradict.h, whose
 * rules (ownership, return codes, threads) hold here too.
 *
 * Contention: every process applies every write to its private copy. A write that finds the
 * lock held first replays, without the lock, the records already published, then waits; under
 * the lock it replays only what was appended meanwhile, so the critical section holds one
 * write's work, not every other writer's too. The lock word, the stream's end and the waiter
 * count share one cache line (layout 3), so a handoff between processes moves that line and
 * the record and nothing else. ud_lock() itself never replays while it waits (other threads
 * may use the handle meanwhile); the writes inside its section replay under it.
 *
 * Write-behind: a ud_set() needs nothing from the local copy (outside a ud_lock() section, on
 * a dict that is not recursive and has no static full_dump_size). When others wrote since the
 * handle last synchronised, it appends its record under the lock without replaying theirs
 * first, and leaves the local copy behind; its next read replays the others' records and its
 * own. The critical section is then the record and its publication only: what the holder
 * appended while this writer waited is not replayed under the lock any more. A full stream is
 * dumped from the local copy, so the writer that finds it full catches up under the lock (one
 * writer replays the stream for the dump, not every writer that found it full) and writes as
 * before. Nothing in shared memory changes: a process killed at any point leaves what a killed
 * writer always left.
 */
#ifndef UD_LOCK_H
#define UD_LOCK_H

#ifndef ULTRADICT_H
#error "ud_lock.h is a part of ultradict.h: include ultradict.h"
#endif

/* ---- Locks. ---- */

/*
 * How ud_lock() waits. A zeroed struct (or NULL) blocks until the lock is taken.
 *  - nonblock: try once; UD_EBUSY if another process holds the lock.
 *  - timeout: seconds to wait at most (0, INFINITY, or any value beyond the ~292 years a
 *    monotonic nanosecond clock can count: no limit); UD_ETIMEDOUT when it passes.
 *  - sleep_time: seconds to sleep between attempts in UD_LOCK_SPIN mode after a short spin
 *    (0: 1 microsecond, the original's default; a negative value busy-waits).
 *  - steal_after_timeout: when the timeout passes, check the holder once more and take the
 *    lock over if it has died instead of failing. A live holder's lock is never taken (that
 *    would make two writers): the timeout then ends in UD_ETIMEDOUT, as it always does in
 *    UD_LOCK_MUTEX mode. Use ud_lock_steal() to take the lock from a holder known to be stuck.
 *  - interruptible: a signal handler that runs while the wait sleeps ends it: -EINTR, without
 *    the lock (a handler installed with SA_RESTART too). Without it the wait goes on after
 *    the handler, as pthread_mutex_lock() does. In UD_LOCK_SPIN mode the wait sleeps only
 *    between short spins (and not at all with a negative sleep_time), and a handler that runs
 *    during a spin rather than a sleep is not noticed: a caller that must not miss a signal
 *    also waits in slices (a timeout) and checks a flag its handler sets, as the Python module
 *    does.
 * In both modes a holder that died is detected (robust mutex, or pid plus process start time)
 * and the lock is recovered automatically: the shared state is consistent at every instant.
 */
typedef struct ud_lock_options {
    bool nonblock;
    double timeout;
    double sleep_time;
    bool steal_after_timeout;
    bool interruptible;
} ud_lock_options;

#define UD_LOCK_OPTIONS_INIT                                                                       \
    { false, 0.0, 0.0, false, false }

/*
 * Takes the dict's lock for the calling thread through this handle. Re-entrant for that thread:
 * every ud_lock() needs one ud_unlock() from it. Another thread waits, even one sharing the
 * handle (see Threads at the top).
 * While held, this handle's operations form one atomic step for all other processes: the
 * records written inside the section are published together by the outermost ud_unlock() (a
 * dump asked for or needed inside the section runs then; the stream grows meanwhile). If the
 * process dies inside the section, none of it becomes visible.
 * A second handle of the same dict used by the same thread shares the hold: it neither waits
 * nor fails, and each handle sees the other's writes. From the first use of such a second
 * handle until the outermost ud_unlock(), records are published as they are written, so that
 * section is no longer all-or-nothing if the process dies inside it. Release the handles in
 * nested order (the one that locked first unlocks last).
 * Returns 0, UD_EBUSY, UD_ETIMEDOUT, -EINTR (interruptible), -ENOMEM, or another error.
 */
UD_EXPORT int ud_lock(ud_dict *d, const ud_lock_options *o);
/* Releases one level of the lock. Returns 0, or UD_ENOTLOCKED if the calling thread does not
 * hold it through this handle (nothing changes). */
UD_EXPORT int ud_unlock(ud_dict *d);
/*
 * Takes the lock whoever holds it (the original's steal). Use only on a stuck holder.
 * UD_LOCK_SPIN only. Returns 0 with the lock held by this handle, or -ENOTSUP in
 * UD_LOCK_MUTEX mode (see steal_after_timeout).
 */
UD_EXPORT int ud_lock_steal(ud_dict *d);
/*
 * Takes the lock only if the process `pid` holds it now (one compare-and-swap: no window
 * between checking the holder and taking it). UD_LOCK_SPIN only (-ENOTSUP otherwise). Returns
 * 0 with the lock held by this handle, or UD_EBUSY if `pid` is not the holder (any more).
 */
UD_EXPORT int ud_lock_steal_from(ud_dict *d, pid_t pid);
/* Returns the pid of the process holding the lock now, or 0. A hint: it may change at once. */
UD_EXPORT pid_t ud_lock_holder(ud_dict *d);

/* ---- For bindings: caching what the local copy holds. ---- */

/*
 * The dict's change position: a 64-bit number that grows with every write any process makes
 * and never repeats for the life of the dict. Equal positions mean "nothing changed", so a
 * binding can cache decoded values and drop them when the position moves. One atomic load; it
 * neither locks nor synchronises the handle. Inside a ud_lock() section, the handle's own writes
 * (not yet visible to others) move it for this handle; another handle of the same dict used in
 * the thread holding the lock first makes the holder publish them. A binding keeps decoded
 * values of its own this way. Returns the position, or 0 for NULL.
 */
UD_EXPORT uint64_t ud_change_position(const ud_dict *d);
/*
 * Whether the calling thread holds this handle's lock (a ud_lock() section: no other process or
 * thread can write until it leaves). With ud_change_position() read just before one of its own
 * writes and again after it, a binding knows that the write is the only change in between and
 * can keep its cache. Returns true if held; false for NULL, for another thread sharing the
 * handle, and in a child of fork() (it holds nothing its parent held).
 */
UD_EXPORT bool ud_lock_held(const ud_dict *d);

#endif /* UD_LOCK_H */
