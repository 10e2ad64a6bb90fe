/*
 * ultradict.h - a dict shared between processes through shared memory.
 *
 * Every process keeps a private copy of the dict. Writers append checksummed records to a shared
 * *stream of updates*; readers replay only the records they have not seen. When the stream fills,
 * the writer publishes a *full dump* of the whole dict and resets the stream; a reader that fell
 * behind the dump loads it and carries on with the stream. No manager process runs.
 *
 * Ownership and lifetimes (one rule set for the whole API):
 *  - Every handle that is opened (ud_open, ud_iter_open) has a close (ud_close, ud_iter_close)
 *    that accepts NULL. A handle comes back through an out-parameter that is written only on
 *    success.
 *  - Inputs (keys, values, names, options) are borrowed for the duration of the call only.
 *  - Outputs are copied into a caller-owned ud_buf, which the callee grows with realloc() as
 *    needed; free it with ud_buf_free(). A ud_buf may be reused across calls. No pointer into
 *    shared memory ever leaves the library.
 *  - 0 is success. Errors are negative: the UD_E* codes below (all below -1000), or -errno for a
 *    failure of the operating system (e.g. -ENOMEM, -EACCES). ud_strerror() describes both.
 *
 * Threads (ud_lock.h has the lock itself, and how it behaves under contention): the lock belongs to
 * the thread that took it, as a threading.RLock does. It excludes every other thread - of this
 * process or another, through this handle or another - and is re-entrant for its holder only;
 * ud_unlock() from a thread that does not hold it returns UD_ENOTLOCKED and changes nothing. The
 * simplest use is one handle per thread. A handle may also be shared by threads whose calls on it
 * do not overlap (a mutex of the caller's, or Python's GIL), with one exception: ud_lock() may wait
 * while other threads use the handle, so take the lock with ud_lock() outside that serialisation
 * before writing while another thread may hold it (a write's own wait for the lock is not such an
 * exception). Each operation is then atomic; the local copy is the handle's, so another thread
 * reading through the handle sees a section's writes before its outermost ud_unlock() publishes
 * them to other processes. Close a handle only when no other thread holds its lock.
 * Processes: a handle survives fork(); parent and child then each own an independent copy of
 * it (the child never inherits a lock the parent held).
 *
 * Caveats
 *  - Segments live in /dev/shm (RAM) until they are unlinked. The creator unlinks them when it
 *    closes (auto_unlink); a dict whose creator crashed stays until `ultradict unlink NAME` or
 *    ud_unlink_by_name(). `ultradict ls` shows such orphans.
 *  - After unlink, processes that are still attached keep working; new processes cannot attach.
 *  - Keys are at most UD_KEY_MAX bytes. A single value may be larger than the stream buffer:
 *    the stream then grows to hold it instead of forcing a full dump per write. Values of more
 *    than a sixteenth of the buffer grow it too, until it holds twice the dict and 128 such
 *    values (or 16 times the dict): so a dump of the whole dict comes at most once per 128
 *    large writes, not every few of them.
 *  - Reads through ud_get_local() do not look at the stream: they are fast and possibly stale.
 *  - With a static full_dump_size, a write that would make the dict larger than a dump can
 *    hold fails with UD_EDUMPFULL and changes nothing (ud_update counts the values it replaces
 *    as kept). The dict therefore always fits a dump, and writes that shrink it (del, pop,
 *    popitem, clear, a smaller restore) always succeed.
 *  - Truncating a live segment (ftruncate by a process with write access to it) is not
 *    guarded: a process touching a page past the new end gets SIGBUS. Attaching checks sizes
 *    (a segment too small for its header is UD_ECORRUPT), and a stream or dump whose recorded
 *    length exceeds the mapping after a refresh is UD_ECORRUPT, but a mapping already made is
 *    trusted. Only the dict's own user can truncate it (see mode in ud_options).
 *  - Values are bytes. ud_incr() treats a value as a decimal ASCII integer (like Redis and
 *    memcached) and does not pass through the codec.
 *  - Calls on a handle shared by threads must not overlap (see Threads above), and a lock held
 *    across fork() belongs to the parent only. A thread that ends while holding a UD_LOCK_MUTEX
 *    lock has it recovered like a dead process's; a UD_LOCK_SPIN lock names the process, so
 *    it stays held until the process ends.
 *  - The names a dict uses are NAME plus suffixes (see `ultradict ls`): two dicts whose names
 *    differ only by such a suffix collide (UD_EEXIST / UD_ENAME).
 */
#ifndef ULTRADICT_H
#define ULTRADICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ud_errgen.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UD_BUILDING_LIBRARY)
#define UD_EXPORT __attribute__((visibility("default")))
#else
#define UD_EXPORT
#endif

#define UD_VERSION_MAJOR 1
#define UD_VERSION_MINOR 0
#define UD_VERSION_PATCH 0
#define UD_VERSION_STRING "1.0.0"

/* The longest key, in bytes. */
#define UD_KEY_MAX 65535
/* The longest dict name (without the leading '/'). Names use [A-Za-z0-9_-] only. */
#define UD_NAME_MAX 200
/* Room for any dict's full name: nested dicts are called "<parent>.c<hex>". */
#define UD_FULL_NAME_BUF 256
/*
 * The longest full name of a nested dict (the system allows 255 bytes per /dev/shm name, and a
 * dict adds suffixes such as ".stream"). A child's name is its parent's plus ".c" and 8 hex
 * digits (ud_set_dict) or 16 (ud_child_create), so the depth a root name allows is about
 * (UD_FULL_NAME_MAX - root length) / 18: two levels under a 200-character name, twelve under a
 * 20-character one. Deeper nesting fails with UD_ENAMETOOLONG before anything is created.
 * The names are kept whole rather than hashed down to a bound: each is its parent's name plus a
 * suffix, and that prefix is the register that finds a whole subtree, even after a crash.
 */
#define UD_FULL_NAME_MAX 242
/* The default size of the stream buffer, in bytes. */
#define UD_DEFAULT_BUFFER_SIZE ((size_t)1024 * 1024)

/* ---- Return codes. ---- */

/*
 * Error codes: name, value, message. ud_errgen.h makes the enum, ud_strerror() and ud_errname().
 * -1004 and -1007 are retired (a closed dict and a dead lock owner were never reported: a handle
 * is freed by ud_close(), and a dead owner's lock is recovered); values are never reused.
 */
#define UD_ERRNO_MAP(XX)                                                                           \
    XX(UD_ENOTFOUND, -1001, "key not found")                                                       \
    XX(UD_EEXIST, -1002, "a dict with this name already exists")                                   \
    XX(UD_ENOENT, -1003, "no dict with this name")                                                 \
    XX(UD_EBUSY, -1005, "the lock is held by another process")                                     \
    XX(UD_ETIMEDOUT, -1006, "timed out")                                                           \
    XX(UD_EMISMATCH, -1008, "the options do not match the existing dict")                          \
    XX(UD_EDUMPFULL, -1009, "the full dump does not fit in full_dump_size")                        \
    XX(UD_EBADMAGIC, -1010, "not an UltraDict segment or snapshot")                                \
    XX(UD_EVERSION, -1011, "unsupported layout or snapshot version")                               \
    XX(UD_ECORRUPT, -1012, "corrupt shared memory or snapshot")                                    \
    XX(UD_EINVAL, -1013, "invalid argument")                                                       \
    XX(UD_ENAME, -1014, "invalid dict name")                                                       \
    XX(UD_ETOOBIG, -1015, "key or value too large")                                                \
    XX(UD_ENOTNUM, -1016, "the value is not a decimal integer")                                    \
    XX(UD_EOVERFLOW, -1017, "integer overflow")                                                    \
    XX(UD_EWRONGTYPE, -1018, "the value has the wrong type (nested dict vs. bytes)")               \
    XX(UD_ENOTRECURSIVE, -1019, "the dict was not opened with recurse")                            \
    XX(UD_ENOTLOCKED, -1020, "the lock is not held by this thread through this handle")            \
    XX(UD_ECODEC, -1021, "the value codec failed")                                                 \
    XX(UD_EEMPTY, -1022, "the dict is empty")                                                      \
    XX(UD_ECHANGED, -1023, "the dict changed during iteration")                                    \
    XX(UD_EFOREIGN, -1024,                                                                         \
       "the dict belongs to another user or is writable by others (attach with an explicit mode)") \
    XX(UD_EINCOMPLETE, -1025,                                                                      \
       "the dict was never completely created (its creator died in ud_open)")                      \
    XX(UD_ENAMETOOLONG, -1026,                                                                     \
       "nested too deep: a nested dict's full name would pass UD_FULL_NAME_MAX (242 characters)")  \
    XX(UD_ECREATING, -1027, "the dict is being created or half-created; try again in a second")

UD_ERRGEN_ENUM(UD_ERRNO_MAP);

/* Returns a message for any return code of this library (UD_E* or -errno). Never NULL; static
 * storage. */
UD_EXPORT const char *ud_strerror(int rc);
/* Returns the symbolic name of a return code, e.g. "UD_ENOTFOUND" or "ENOMEM". Never NULL. */
UD_EXPORT const char *ud_errname(int rc);

/* ---- Buffers and value codecs. ---- */

/*
 * A caller-owned, growable output buffer. Start with {0} (or {NULL, 0, 0}); the library grows
 * `data` with realloc() and sets `len`. For convenience data[len] is always a NUL byte after a
 * successful call, so textual values can be printed directly (len does not count it).
 */
typedef struct ud_buf {
    void *data;
    size_t len;
    size_t cap;
} ud_buf;

#define UD_BUF_INIT                                                                                \
    { NULL, 0, 0 }

/* Frees the memory of `b` and resets it to empty. Accepts NULL. Returns nothing. */
UD_EXPORT void ud_buf_free(ud_buf *b);

/*
 * A value codec, the counterpart of the original's `serializer`: encode() runs on every value
 * written through ud_set() and friends before it enters shared memory; decode() runs on every
 * value read back through ud_get() and friends. Both write into `out` (grown with realloc) and
 * return 0 or a negative code (which the library reports as UD_ECODEC). Keys are not encoded.
 * The codec must be the same, or compatible, in every process that uses the dict.
 */
typedef struct ud_codec {
    int (*encode)(void *ctx, const void *in, size_t len, ud_buf *out);
    int (*decode)(void *ctx, const void *in, size_t len, ud_buf *out);
    void *ctx;
} ud_codec;

/* ---- Options, opening, closing and unlinking. ---- */

/* ud_options.create */
enum { UD_CREATE_OR_ATTACH = 0, UD_CREATE_ONLY, UD_ATTACH_ONLY };
/* ud_options.lock */
enum { UD_LOCK_MUTEX = 0, UD_LOCK_SPIN };
/* ud_options.auto_unlink: zero means "the creator unlinks at close, attachers do not". */
enum { UD_AUTO_UNLINK_DEFAULT = 0, UD_AUTO_UNLINK_ON, UD_AUTO_UNLINK_OFF };
/*
 * ud_options.attach: what an attacher's buffer_size, full_dump_size and lock mean.
 *  - UD_ATTACH_STRICT (0): they must be 0 or equal to the creator's (else UD_EMISMATCH).
 *  - UD_ATTACH_CREATOR: "whatever the creator chose": when the dict exists, the creator's values
 *    win and the attacher's are ignored (the original's behaviour); they apply only when this
 *    call creates the dict.
 */
enum { UD_ATTACH_STRICT = 0, UD_ATTACH_CREATOR = 1 };

/*
 * Options for ud_open(). A zeroed struct (or UD_OPTIONS_INIT, or passing NULL) gives the
 * defaults: a random name, create-or-attach, a 1 MiB stream buffer, dynamic dumps, the robust
 * mutex, the creator unlinks at close, no recursion, segments readable only by their owner.
 *  - name: 1..UD_NAME_MAX characters of [A-Za-z0-9_-]; NULL for a random name ("ud_" + hex).
 *  - create: UD_CREATE_OR_ATTACH, UD_CREATE_ONLY (UD_EEXIST if the name is taken) or
 *    UD_ATTACH_ONLY (UD_ENOENT if it is not).
 *  - buffer_size: bytes of the stream buffer (0: UD_DEFAULT_BUFFER_SIZE). Smaller values than
 *    4096 are accepted and rounded up to 4096 (the original's examples use 100). Fixed by the
 *    creator; attachers may pass 0 or the same value (else UD_EMISMATCH), or set `attach`.
 *  - full_dump_size: 0 for dump segments that grow as needed; otherwise a static size for each of
 *    the two dump segments, reserved at creation (the original's full_dump_size).
 *  - lock: UD_LOCK_MUTEX (process-shared robust mutex, the default) or UD_LOCK_SPIN (the
 *    original's shared_lock: an atomic word holding the owner's identity, polled with
 *    sleep_time). Fixed by the creator; attachers must pass the same value or 0.
 *  - auto_unlink: see the enum above. With ON, this handle unlinks the dict when it closes.
 *  - recurse: nested dicts (ud_set_dict) are allowed. Children are registered under the
 *    parent's name ("<name>.c<hex>"), so that unlinking the dict removes every descendant, even
 *    after a crash. Fixed by the creator (an attacher's value is ignored).
 *  - mode: permission bits of the segments (0: 0600). With the default, ud_open attaches only
 *    to a dict of this user that is not group- or world-writable (UD_EFOREIGN otherwise), so
 *    another user cannot pre-create the name; an explicit mode accepts any dict it may open.
 *  - codec: optional value codec (see ud_codec); borrowed, must outlive the handle.
 *  - attach: UD_ATTACH_STRICT or UD_ATTACH_CREATOR (see the enum above): whether an attacher's
 *    buffer_size, full_dump_size and lock must match the creator's or give way to them.
 */
typedef struct ud_options {
    const char *name;
    int create;
    size_t buffer_size;
    size_t full_dump_size;
    int lock;
    int auto_unlink;
    bool recurse;
    unsigned mode;
    const ud_codec *codec;
    int attach; /* UD_ATTACH_STRICT or UD_ATTACH_CREATOR */
} ud_options;

#define UD_OPTIONS_INIT                                                                            \
    { NULL, UD_CREATE_OR_ATTACH, 0, 0, UD_LOCK_MUTEX, 0, false, 0, NULL, 0 }

typedef struct ud_dict ud_dict;

/*
 * Creates or attaches the dict described by `opts` (NULL: all defaults) and writes a new handle
 * to *out. Returns 0 or an error: UD_EEXIST, UD_ENOENT (see create), UD_ENAME, UD_EINVAL,
 * UD_EMISMATCH, UD_EBADMAGIC / UD_EVERSION / UD_ECORRUPT (the name exists but is not a compatible
 * dict), UD_ECREATING (UD_CREATE_ONLY on a name whose creator has not even written its
 * identity into it for 0.1 s: killed inside ud_open() less than a second ago, or stalled there),
 * -errno from the system. *out is untouched on failure.
 */
UD_EXPORT int ud_open(const ud_options *opts, ud_dict **out);

/*
 * Closes the handle and frees everything it owns; unlinks the dict if the handle is set to
 * auto-unlink (see ud_options). Accepts NULL. Releases the lock if this handle holds it.
 * Returns 0 or the error of the unlink (the handle is freed in every case).
 */
UD_EXPORT int ud_close(ud_dict *d);

/*
 * Like ud_close(), but first brings the local copy up to date and writes a portable snapshot of
 * it (see ud_save) into `snapshot` (NULL: no snapshot, a plain ud_close()): the original's
 * close() that hands back the data. The handle is closed in every case. Returns 0, the error of
 * ud_save() (the snapshot is then incomplete), else the error of ud_close(); UD_EINVAL for a
 * NULL handle.
 */
UD_EXPORT int ud_close_save(ud_dict *d, ud_buf *snapshot);

/*
 * Removes the dict's names from the system, and every nested child's. Attached processes keep
 * working; nobody new can attach. The handle stays usable and no longer unlinks at close.
 * Returns 0, UD_ENOENT if the name is gone or now belongs to another dict, or an error of
 * ud_unlink_by_name().
 */
UD_EXPORT int ud_unlink(ud_dict *d);

/*
 * Removes every segment of the dict called `name` and of its nested children, whether or not
 * any process uses it. Only segments that carry this library's magic (or belong to such a
 * dict by name) are removed. Returns 0, UD_ENAME, UD_ENOENT if nothing is there, UD_EBADMAGIC if
 * `name` is somebody else's file, UD_ECREATING if its creator is inside ud_open() or died there
 * less than a second ago (a second later it is a dict, or debris that is removed), or -errno (e.g.
 * -EACCES for another user's dict).
 */
UD_EXPORT int ud_unlink_by_name(const char *name);

/* Returns the dict's name (without the leading '/'), valid as long as the handle; NULL for a
 * NULL handle. */
UD_EXPORT const char *ud_name(const ud_dict *d);

/* Returns 1 if a dict segment called `name` exists, 0 if not, negative on error (e.g.
 * UD_ENAME). */
UD_EXPORT int ud_exists(const char *name);

/*
 * ---- The dict protocol. Every operation first brings the local copy up to date. ----
 *
 * Errors every operation below can give besides those named with it: UD_EINVAL (a NULL handle
 * or key, an empty key, a NULL value with a length), UD_ECORRUPT (the shared memory fails its
 * checks: nothing is applied), UD_ECODEC (the value codec failed), -ENOMEM. Writes (set, del,
 * pop, popitem, setdefault, update, clear, incr) can also give UD_ETOOBIG (a key over UD_KEY_MAX
 * or a record over the stream's limit), UD_EDUMPFULL (a static full_dump_size is too small for
 * the dump the write needs; nothing changes) and the errors of ud_lock() without options.
 */

/*
 * Sets key to value (copied; both borrowed for the call). One record in the stream: other
 * processes see it at their next operation. Returns 0 or one of the common errors above.
 * The one write that may leave the local copy behind: when other processes wrote since this
 * handle last synchronised (and the dict is not recursive, has no static full_dump_size, and
 * no lock is held by this thread), the record goes out without their records being replayed
 * first, and the handle's next read - ud_get_local() included - replays them and its own. A
 * second writer then no longer doubles every write's work (see ud_lock.h).
 */
UD_EXPORT int ud_set(ud_dict *d, const void *key, size_t klen, const void *val, size_t vlen);
/* Copies the value of key into *val. Returns 0, UD_ENOTFOUND if absent, UD_EWRONGTYPE for a
 * nested dict, or a common error. */
UD_EXPORT int ud_get(ud_dict *d, const void *key, size_t klen, ud_buf *val);
/* Like ud_get(), but copies `def` into *val when the key is absent. Returns what ud_get()
 * returns, except 0 (not UD_ENOTFOUND) for an absent key. */
UD_EXPORT int ud_get_default(ud_dict *d, const void *key, size_t klen, const void *def, size_t dlen,
                             ud_buf *val);
/*
 * Reads the local copy only, without looking for updates: the original's `.data` access. As
 * fast as a private hash table, and as stale as the last call that synchronised this handle.
 * Returns what ud_get() returns, without the errors of synchronising (no UD_ECORRUPT from the
 * stream) - except once after a ud_set() that left the local copy behind, when it catches up
 * first, so that it still sees this handle's own writes.
 */
UD_EXPORT int ud_get_local(ud_dict *d, const void *key, size_t klen, ud_buf *val);
/* Removes key. Returns 0, UD_ENOTFOUND if absent, or a common error. */
UD_EXPORT int ud_del(ud_dict *d, const void *key, size_t klen);
/* Returns 1 if key is present, 0 if not, negative on error. */
UD_EXPORT int ud_contains(ud_dict *d, const void *key, size_t klen);
/* Returns the number of entries (after synchronising; on a synchronisation error, the local
 * count). */
UD_EXPORT size_t ud_len(ud_dict *d);
/* Removes key and copies its value into *val, atomically. Returns 0, UD_ENOTFOUND if absent,
 * or a common error. */
UD_EXPORT int ud_pop(ud_dict *d, const void *key, size_t klen, ud_buf *val);
/*
 * Removes the most recently inserted entry and copies it into *key and *val (either may be
 * NULL), atomically. Returns 0, UD_EEMPTY on an empty dict, or a common error.
 */
UD_EXPORT int ud_popitem(ud_dict *d, ud_buf *key, ud_buf *val);
/*
 * If key is present, copies its value into *val; otherwise sets it to `def` and copies `def`
 * into *val. Atomic. *val may be NULL. Returns 0 (present or set) or a common error.
 */
UD_EXPORT int ud_setdefault(ud_dict *d, const void *key, size_t klen, const void *def, size_t dlen,
                            ud_buf *val);

/* One item of ud_update(). */
typedef struct ud_item {
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} ud_item;

/*
 * Sets the n items (borrowed) as one record: other processes see all of them or none. n may be
 * 0 (nothing happens). A key that appears twice takes its last value. Returns 0 or one of the
 * common errors; on an error nothing is set.
 */
UD_EXPORT int ud_update(ud_dict *d, const ud_item *items, size_t n);
/*
 * Removes every entry, as one record. Nested children are unlinked. Returns 0 or one of the
 * common errors; on an error the dict is unchanged.
 */
UD_EXPORT int ud_clear(ud_dict *d);
/*
 * Adds `by` to the decimal integer stored at key (a missing key counts from 0) and stores the
 * result, atomically; writes it to *result if not NULL. UD_ENOTNUM if the value is not a decimal
 * integer, UD_EOVERFLOW if the sum does not fit in int64_t. Returns 0, one of those, or a common
 * error.
 */
UD_EXPORT int ud_incr(ud_dict *d, const void *key, size_t klen, int64_t by, int64_t *result);

/* ---- Iteration over keys, values and items, in insertion order. ---- */

typedef struct ud_iter ud_iter;

/* The type of a value. */
enum { UD_TYPE_BYTES = 0, UD_TYPE_DICT = 1 };

/*
 * Starts an iteration over the dict as it is now (the handle is synchronised once). Writing
 * through the same handle while iterating makes ud_iter_next() return UD_ECHANGED. Returns 0
 * with the iterator in *out (close it with ud_iter_close()), UD_EINVAL, -ENOMEM, or an error of
 * ud_apply_update(); *out is untouched on failure.
 */
UD_EXPORT int ud_iter_open(ud_dict *d, ud_iter **out);
/*
 * Copies the next entry into *key and *val (either may be NULL) and its type (UD_TYPE_*) into
 * *type (may be NULL). Returns 0, UD_ENOTFOUND at the end, or UD_ECHANGED.
 */
UD_EXPORT int ud_iter_next(ud_iter *it, ud_buf *key, ud_buf *val, int *type);
/* Ends an iteration. Accepts NULL. Returns nothing. */
UD_EXPORT void ud_iter_close(ud_iter *it);

/* ---- Nested dicts (recurse). ---- */

/*
 * Creates a new, empty nested dict stored under key (replacing and unlinking any previous
 * value) and, if `child` is not NULL, opens it into *child. The child inherits buffer_size,
 * lock and codec from `d`. UD_ENOTRECURSIVE unless `d` was opened with recurse;
 * UD_ENAMETOOLONG (nothing created, nothing changed) if the child's name would pass
 * UD_FULL_NAME_MAX. Returns 0, one of those, or a common error; *child is written only on
 * success.
 */
UD_EXPORT int ud_set_dict(ud_dict *d, const void *key, size_t klen, ud_dict **child);
/* Opens the nested dict stored under key into *child (close it with ud_close()). Returns 0,
 * UD_ENOTFOUND, UD_EWRONGTYPE if the value is plain bytes, UD_ENOENT if the child is gone, or a
 * common error; *child is written only on success. */
UD_EXPORT int ud_get_dict(ud_dict *d, const void *key, size_t klen, ud_dict **child);
/*
 * The full name of the nested dict stored under key, copied into *name (NUL-terminated).
 * Returns 0, UD_ENOTFOUND if absent, UD_EWRONGTYPE if the value is plain bytes, UD_ECORRUPT if
 * the stored name is not a child of `d`, or a common error.
 */
UD_EXPORT int ud_child_name(ud_dict *d, const void *key, size_t klen, ud_buf *name);
/*
 * Opens the nested dict of `d` whose full name is `name` (as ud_child_name() gives it), so a
 * binding can keep one handle per child instead of reopening it on every access. Returns 0,
 * UD_EINVAL, UD_ECORRUPT if the name is not a child of `d`, UD_ENOENT if it is gone, or an error
 * of ud_open(); *child is written only on success.
 */
UD_EXPORT int ud_open_child(ud_dict *d, const char *name, ud_dict **child);
/*
 * Creates a new, empty nested dict of `d` that nobody else can see yet: fill it, then publish it
 * under a key with ud_set_child(). Other processes never see it empty. If it is never published
 * it is removed with `d` (its name is in d's register), or by ud_clear()/ud_reclaim() of `d`
 * once the process that created it has exited. UD_ENAMETOOLONG (nothing created) if the
 * child's name would pass UD_FULL_NAME_MAX: check the depth a value needs before creating its
 * first level, or ud_unlink() the unpublished levels already made when a deeper one fails.
 * Returns 0 with the child in *child, UD_EINVAL, UD_ENOTRECURSIVE unless `d` was opened with
 * recurse, UD_ENAMETOOLONG, or an error of ud_open(); *child is written only on success.
 */
UD_EXPORT int ud_child_create(ud_dict *d, ud_dict **child);
/*
 * Stores `child` (from ud_child_create() or ud_open_child() of this dict) under key, as one
 * record, replacing and unlinking any previous nested value. The handle stays open. Returns 0,
 * UD_EINVAL (also for a child that is not of this dict), UD_ENOTRECURSIVE, UD_ETOOBIG, or a
 * common error.
 */
UD_EXPORT int ud_set_child(ud_dict *d, const void *key, size_t klen, ud_dict *child);

/*
 * Recovery for a recursive dict: removes the nested dicts in /dev/shm that it no longer
 * references - left by a process killed while it created or replaced one. A child made by
 * ud_child_create() is removed only once the process that created it has exited, so one that a
 * live process is still filling is left alone. Returns how many were removed, or an error.
 * ud_clear() does the same. 0 for a dict without recurse.
 */
UD_EXPORT int ud_reclaim(ud_dict *d);
/* Returns the type (UD_TYPE_*) of the value at key, UD_ENOTFOUND, or a common error. */
UD_EXPORT int ud_type(ud_dict *d, const void *key, size_t klen);

/* ---- Locks, and the change position bindings build on (declared in ud_lock.h). ---- */

#include "ud_lock.h"

/* ---- Dumps, loads and the stream. ---- */

/*
 * Writes a full dump now and resets the stream, under the lock. Returns 0, UD_EDUMPFULL (a static
 * full_dump_size is too small: the stream stays as it was), UD_ECORRUPT, -ENOMEM, or an error of
 * ud_lock().
 */
UD_EXPORT int ud_dump(ud_dict *d);
/*
 * Loads the latest full dump unless this handle already has everything it holds (force: in any
 * case, discarding the local copy), and then nothing else: call ud_apply_update() to replay the
 * stream after it. Returns 0, UD_ECORRUPT (the dump fails its checksum: the local copy is kept),
 * UD_ECODEC, or -ENOMEM.
 */
UD_EXPORT int ud_load(ud_dict *d, bool force);
/*
 * Replays every pending update (loading a dump first if this handle fell behind one). Returns 0,
 * UD_ECORRUPT (a record or dump fails its checks: it is not applied), UD_ECODEC, or -ENOMEM.
 */
UD_EXPORT int ud_apply_update(ud_dict *d);
/*
 * Waits until the dict changes (another process writes) or `timeout` seconds pass (<= 0: no
 * limit), then applies the update. Returns 0 on a change, UD_ETIMEDOUT otherwise.
 */
UD_EXPORT int ud_wait(ud_dict *d, double timeout);

/* ---- Status. ---- */

typedef struct ud_status_info {
    char name[UD_FULL_NAME_BUF];
    int lock_mode; /* UD_LOCK_MUTEX or UD_LOCK_SPIN */
    bool recurse;
    bool creator;     /* this handle created the dict */
    bool auto_unlink; /* this handle unlinks at close */
    pid_t creator_pid;
    pid_t lock_holder;              /* 0 if free */
    size_t len;                     /* entries in the local copy */
    size_t buffer_size;             /* configured stream size */
    size_t stream_capacity;         /* current stream segment size (grows for oversized values) */
    size_t stream_used;             /* bytes of records since the last dump */
    size_t full_dump_size;          /* 0: dynamic */
    size_t dump_capacity[2];        /* sizes of the two dump segments */
    size_t last_dump_bytes;         /* bytes of the latest dump */
    uint64_t end_position;          /* logical end of the stream (bytes ever streamed) */
    uint64_t dump_position;         /* logical position of the latest dump */
    uint64_t local_position;        /* how far this handle has replayed */
    uint64_t dump_count;            /* full dumps written, by all processes */
    uint64_t lock_recoveries;       /* locks recovered from dead holders */
    uint64_t local_dumps_loaded;    /* full dumps this handle loaded */
    uint64_t local_records_applied; /* stream records this handle replayed */
    unsigned attached;              /* processes attached, as far as the register knows */
} ud_status_info;

/* Fills *st (caller-owned) after synchronising. Returns 0, UD_EINVAL (NULL argument), or an
 * error of ud_apply_update(). */
UD_EXPORT int ud_status(ud_dict *d, ud_status_info *st);
/* Prints the status, one "key: value" a line, to `f`. Returns 0, an error of ud_status(), or
 * -EIO when writing to `f` fails. */
UD_EXPORT int ud_print_status(ud_dict *d, FILE *f);

/* ---- The dicts on this machine. ---- */

typedef struct ud_dict_info {
    char name[UD_FULL_NAME_BUF];
    int segments;   /* segments found in /dev/shm for this dict */
    uint64_t bytes; /* their total size */
    size_t len;     /* entries, as the last writer that was up to date left them (writes
                     * behind a local copy, see ud_set(), count from the next such write) */
    pid_t creator_pid;
    bool creator_alive;
    unsigned attached_alive; /* registered processes still running */
    bool orphaned;           /* no live process is attached and the creator is gone */
    bool is_child;           /* a nested dict (its name is "<parent>.c<hex>") */
    int error; /* 0, or why the control segment could not be read (then the rest is 0) */
} ud_dict_info;

/*
 * Calls fn for every dict found in /dev/shm (also damaged ones, with `error` set). fn returns 0
 * to go on, non-zero to stop (that value is returned).
 */
typedef int (*ud_list_fn)(void *ctx, const ud_dict_info *info);
/*
 * Walks /dev/shm and calls fn once per dict (a parent and each nested child separately), with
 * `info` valid only during the call. Segments that are not ours are skipped. Returns 0 after
 * the last dict, the first non-zero value fn returned, UD_EINVAL (fn is NULL), or -errno when
 * /dev/shm cannot be read.
 */
UD_EXPORT int ud_list(ud_list_fn fn, void *ctx);

/* ---- Portable snapshots (declared in ud_snapshot.h). ---- */

#include "ud_snapshot.h"

#ifdef __cplusplus
}
#endif

#endif /* ULTRADICT_H */
