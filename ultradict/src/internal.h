/*
 * internal.h - the handle and the functions shared between the library's files.
 *
 * The files form layers, lowest first. A file calls only files of lower layers, never one of
 * its own layer or above; where a lower layer must start work of an upper one, the upper layer
 * sets a hook (ud__section_set_dump()). scripts/layers checks the object files against this
 * table (and ARCHITECTURE.md's copy of it):
 *
 * layer 0: error.c hash.c table.c - buffers and error strings, the hash, the local table
 * layer 1: item.c - the item codec shared by records, dumps and snapshots
 * layer 2: shm.c - segments, names, process identity and fork state, unlinking a tree
 * layer 3: lock.c - the lock mechanism of a control segment (mutex or spin; glibc's fields)
 * layer 4: section.c - the lock section of a handle (depth, shared holds, publication), attaches
 * layer 5: dump.c - full dumps and loads
 * layer 6: stream.c - records, replay, the write lock's catch-up, waits, ud_dump()
 * layer 7: dict.c - open, attach, close, unlink by handle
 * layer 8: recurse.c - nested dicts
 * layer 9: ops.c snapshot.c iter.c status.c list.c - the dict protocol, snapshots, iteration
 *
 * layout.h (the shared-memory layout, with the control size), table.h and hash.h are headers of
 * layer 0. The declarations below follow the same order.
 */
#ifndef UD_INTERNAL_H
#define UD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "layout.h"
#include "table.h"
#include "ultradict.h"

/* A mapped segment. */
typedef struct ud__seg {
    int fd;
    void *addr;
    size_t size;
} ud__seg;

#define UD__SEG_INIT                                                                               \
    { -1, NULL, 0 }

struct ud_dict {
    char name[UD__SEG_NAME_MAX + 1];
    ud__seg control;
    ud__seg stream;
    ud__seg dump[2];
    ud__control *ctl;

    ud__table table;  /* the local copy */
    ud__table spare;  /* memory kept for the next dump load */
    uint64_t pos;     /* logical position replayed into `table` */
    ud_buf scratch;   /* records copied out of shared memory before they are validated */
    ud_buf codec_buf; /* values passing through the codec */

    const ud_codec *codec;
    unsigned mode;
    bool recurse;
    bool creator;
    bool auto_unlink;
    int lock_mode;

    int lock_depth;              /* levels held by the thread lock_owner names */
    _Atomic uint64_t lock_owner; /* the thread holding the lock through this handle, or 0 */
    /* Records written inside a ud_lock() section wait here for the outermost unlock, which
     * publishes them with one store (and then runs a dump asked for meanwhile). */
    bool unpublished;
    /* This handle wrote records behind its local copy (ud__write_behind()): ud_get_local()
     * catches up once before it reads, so that it still sees the handle's own writes. */
    bool behind;
    uint8_t dump_deferred; /* UD__DUMP_IF_LONG: the stream filled; UD__DUMP_ASKED: ud_dump() */
    uint64_t pending_end;
    bool lock_borrowed; /* the lock is held by another handle of this thread (see lock.c) */
    bool hold_shared;   /* another handle of this thread uses our hold: publish at once */
    bool hold_owner;    /* the owner of its thread's hold of the dict, while it holds */
    uint64_t seg_id;    /* identity of the control segment (device and inode), for lock.c */
    uint64_t lock_fork_gen;
    uint64_t open_fork_gen; /* fork generation when opened: forked copies never unlink */
    int attach_slot;        /* index in ctl->attached, or -1 */

    uint64_t dumps_loaded;
    uint64_t records_applied;
};

struct ud_iter {
    ud_dict *d;
    size_t next;
    uint64_t mutations;
};

/* ---- error.c: buffers ---- */
/*
 * Sets b->len to n after making room for n + 1 bytes (data[n] = NUL); the first min(len, n)
 * bytes are kept. 0 or -ENOMEM. (kv__buf_reserve() in adapters/ only makes room and leaves len:
 * "reserve" never changes len, "resize" does, in both modules.)
 */
int ud__buf_resize(ud_buf *b, size_t n);
/* Copies n bytes into b (NUL-terminated). 0 or -ENOMEM. */
int ud__buf_set(ud_buf *b, const void *p, size_t n);
/* ud__buf_set() with the common case - the buffer is big enough - inlined into the read path. */
static inline int ud__buf_put(ud_buf *b, const void *p, size_t n) {
    if (n >= b->cap)
        return ud__buf_set(b, p, n);
    memcpy(b->data, p, n);
    ((char *)b->data)[n] = '\0';
    b->len = n;
    return 0;
}

/* ---- item.c: the item codec ---- */
/* a + b, or SIZE_MAX when the sum does not fit: a saturated size is refused as UD_ETOOBIG. */
static inline size_t ud__size_add(size_t a, size_t b) {
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}
/* The largest record body a writer accepts (far beyond any real mapping, far from overflow:
 * every position and size computed from it still fits in 64 bits). */
#define UD__BODY_MAX ((size_t)1 << 46)
/* Bytes one item takes (saturated at SIZE_MAX). */
static inline size_t ud__item_size(size_t klen, size_t vlen) {
    return ud__size_add(ud__size_add(sizeof(ud__item_hdr), klen), vlen);
}
/* Encodes one item at dst; returns the bytes written. */
size_t ud__item_encode(char *dst, int kind, int type, const void *key, size_t klen, const void *val,
                       size_t vlen);
/* Decodes the item at p (with `avail` bytes left). 0 or UD_ECORRUPT. */
int ud__item_decode(const char *p, size_t avail, ud__item_hdr *h, const char **key,
                    const char **val);
/* The checksum of a record's body or a dump's payload (see item.c): ud__hash() below this many
 * bytes, sums of 64-byte blocks at the speed of the loads from there on. */
#define UD__CHECK_SUMMED 256
uint64_t ud__check(const void *p, size_t len, uint64_t seed);
/* memcpy(dst, src, len), returning ud__check(dst, len, seed) from the same pass over the bytes. */
uint64_t ud__copy_check(void *dst, const void *src, size_t len, uint64_t seed);
/* ud__item_encode(), returning ud__check() of the item it wrote (one pass over the value). */
uint64_t ud__item_encode_check(char *dst, int kind, int type, const void *key, size_t klen,
                               const void *val, size_t vlen, uint64_t seed);
/* The seed of a record's check: its logical position, length and header fields. */
static inline uint64_t ud__rec_seed(uint64_t at, uint64_t len, uint32_t flags, uint32_t nitems) {
    return at ^ (len * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)flags << 32 | nitems);
}
/* Encodes every live entry of t at dst (t->bytes bytes): a dump's payload. */
void ud__table_encode(const ud__table *t, char *dst);
/* Builds the (empty) table `out` from the `len` payload bytes in its arena. */
int ud__table_decode(ud__table *out, size_t len, uint64_t count);

/* ---- shm.c: segments, names, process identity ---- */
/* How long an attacher waits for a creator still initialising the control segment. */
#define UD__INIT_WAIT_NS 1000000000LL
/* How long a create waits for a creator that has the name but not yet its identity in it. */
#define UD__IDENT_WAIT_NS 100000000LL
/* 0 if `name` is a valid user dict name, else UD_ENAME. */
int ud__validate_name(const char *name);
/* 0 if `name` is a user name or a nested child's name (NAME(.c<hex>)*), else UD_ENAME. */
int ud__validate_full_name(const char *name);
/* Writes "/<base><suffix>" into out (size UD__SEG_NAME_MAX + 2). UD_ENAME if too long. */
int ud__seg_path(char *out, const char *base, const char *suffix);
/* Creates a new segment exclusively, with `mode`, sized `size`, and maps it. */
int ud__seg_create(ud__seg *s, const char *base, const char *suffix, unsigned mode, size_t size);
/* shm_open() that never blocks (a FIFO planted in /dev/shm) and never follows a link, and
 * accepts only a regular file: the descriptor, or a negative code (UD_EBADMAGIC for something
 * that is not a file, UD_ENOENT, or -errno). */
int ud__shm_open_file(const char *path, int flags);
/* Opens an existing segment and maps all of it (read-write). */
int ud__seg_open(ud__seg *s, const char *base, const char *suffix);
/* Grows the segment's file to at least `size` bytes and remaps it. */
int ud__seg_grow(ud__seg *s, size_t size);
/* Remaps the segment if its file has grown past the mapping. */
int ud__seg_refresh(ud__seg *s);
void ud__seg_close(ud__seg *s);
/* Unlinks one segment; 0, or -ENOENT if it was not there. */
int ud__seg_unlink(const char *base, const char *suffix);
/*
 * A control segment whose creator died inside ud_open(), before publishing the magic: 1 if the
 * segment open as fd is one (magic still 0, size 0 or the control size, and its creator gone -
 * or, when the creator had not even written its identity, older than the creator's
 * initialisation window), else 0.
 */
int ud__half_created_dead(int fd);
/* ud__half_created_dead() for the control segment of `name`. */
int ud__half_created_name(const char *name);
/* 1 if the process that created the dict `name` is still alive (or, before it wrote its
 * identity, still within the initialisation window), 0 if it is gone or `name` is unreadable. */
int ud__creator_alive_name(const char *name);
/* 1 if the control segment of `name` exists and carries no magic yet (its creator at work, or
 * dead with its name not yet known to be debris), else 0. */
int ud__unpublished_name(const char *name);
/* ud__unpublished_name(), and its creator has not written its whole identity either: nobody
 * can tell yet whether it is alive. */
int ud__nameless_creator_name(const char *name);
/* Unlinks the control segment `name` if it is a dead creator's half-created one (checked on
 * the very file the name refers to). 1 if it did, 0 if not. */
int ud__reclaim_half_created(const char *name);
/* ud__unlink_tree() without checking that `name` is a dict: for a nested child the parent
 * knows is its own (a half-created one has no magic yet). */
int ud__unlink_tree_unchecked(const char *name);
/* Whether the name base+suffix still is segment s (same device and inode): 0 if it is,
 * UD_ENOENT when it is another file now, UD_ENAME, or -errno (-ENOENT when the name is gone). */
int ud__seg_is_named(const ud__seg *s, const char *base, const char *suffix);
/* Unlinks segment base+suffix only while that name still is segment s (same inode): 0,
 * UD_ENOENT when the name is gone or now another dict's, or -errno. */
int ud__seg_unlink_own(const ud__seg *s, const char *base, const char *suffix);
/* Serialises a creator replacing a name's parts with a closer removing its own parts by identity
 * (their check and their unlink would otherwise interleave): an advisory lock on /dev/shm
 * itself, held for a few system calls and released by the kernel if its holder dies. Returns
 * the descriptor for ud__shm_unlock(), or -1 (the work then runs unserialised). */
int ud__shm_lock(void);
void ud__shm_unlock(int fd);
/* Unlinks the segments of the nested children of the dict `name` (name.c<hex>...), not its own. */
int ud__unlink_children(const char *name);
/* Unlinks the dict `name` and every segment whose name starts with "name.". */
int ud__unlink_tree(const char *name);
/* This process's identity for lock ownership and the attach register: pid << 32 | start time. */
uint64_t ud__self_ident(void);
/* 1 if the process with identity `ident` is alive, 0 if it is gone. */
int ud__ident_alive(uint64_t ident);
/* Bumped in the child at every fork(), so handles notice they changed process. */
extern _Atomic uint64_t ud__fork_gen;
/* getpid(), cached (and refreshed in fork children); valid after ud__init_process(). */
extern _Atomic int32_t ud__self_pid;
void ud__init_process(void);

/* ---- lock.c: the lock mechanism of a control segment ---- */
int ud__lock_init(ud__control *c);
/* 0 if the lock in an attached control segment is as ud__lock_init() made it, else
 * UD_ECORRUPT. */
int ud__lock_check(const ud__control *c);
/* Takes the lock of c in `mode` (UD_LOCK_MUTEX or UD_LOCK_SPIN) as o says, recovering it from a
 * dead holder: 0, UD_EBUSY (nonblock), UD_ETIMEDOUT, UD_ECORRUPT (a lock word naming a thread
 * that does not exist), -EINTR (interruptible), or -errno. No bookkeeping (see section.c). */
int ud__lock_acquire(ud__control *c, int mode, const ud_lock_options *o);
/* A pthread_mutex_*lock() result on c's mutex as a return code: 0 (also for a dead holder's
 * mutex, recovered), UD_EBUSY, UD_ETIMEDOUT, or -errno. */
int ud__lock_result(ud__control *c, int rc);
/* ud__lock_try() and ud__lock_release() of UD_LOCK_SPIN. */
int ud__lock_try_spin(ud__control *c);
void ud__lock_release_spin(ud__control *c);
/* One attempt, without spinning: 0 (taken), UD_EBUSY, or a failure. Inline with its release:
 * the uncontended mutex is the lock of every write. */
static inline int ud__lock_try(ud__control *c, int mode) {
    if (mode == UD_LOCK_SPIN)
        return ud__lock_try_spin(c);
    int rc = pthread_mutex_trylock(&c->mutex);
    return rc == 0 ? 0 : ud__lock_result(c, rc);
}
/* Gives the lock back (a spin lock stolen from us is left to its new holder). */
static inline void ud__lock_release(ud__control *c, int mode) {
    atomic_store_explicit(&c->holder_pid, 0, memory_order_relaxed);
    if (mode == UD_LOCK_SPIN)
        ud__lock_release_spin(c);
    else
        pthread_mutex_unlock(&c->mutex);
}
/* UD_LOCK_SPIN: takes the lock whoever holds it. */
void ud__lock_steal_spin(ud__control *c);
/* UD_LOCK_SPIN: takes the lock only if `pid` holds it now: 0 or UD_EBUSY. */
int ud__lock_steal_spin_from(ud__control *c, pid_t pid);
/* The pid of the holder now, or 0. */
pid_t ud__lock_holder(ud__control *c, int mode);

/* ---- section.c: the lock section of a handle, and the attach register ---- */
/* Takes the lock for an internal operation (blocking, re-entrant). */
int ud__lock(ud_dict *d);
/* ud__lock() waiting at most `timeout` seconds (0: no limit): UD_ETIMEDOUT after that. */
int ud__lock_for(ud_dict *d, double timeout);
/* ud__lock() with one attempt at a lock held elsewhere: 0 (taken, re-entered or shared),
 * UD_EBUSY, or a failure. */
int ud__lock_once(ud_dict *d);
/* One level less; the outermost unlock publishes the section's records (and runs a deferred
 * dump through the hook) before it gives the lock back. */
void ud__unlock(ud_dict *d);
/* Whether the calling thread holds the lock through d. */
bool ud__lock_owned(const ud_dict *d);
/* How many entries of the calling thread's table of holds its lookups have compared so far (a
 * count for the tests: finding that a dict is not held compares none). */
uint64_t ud__held_scanned(void);
/* How many dicts' locks the threads of this process hold (defined in shm.c, whose fork handler
 * resets it). */
extern _Atomic unsigned ud__holds;
/* If another handle of d's dict holds the lock in this thread, publishes its pending records and
 * makes it publish at once from now on, so that d sees them and never writes over them. */
void ud__share_hold(const ud_dict *d);
/* Makes everything up to new_end visible with one store, and wakes ud_wait() sleepers. The
 * caller holds the lock. */
void ud__publish_end(ud_dict *d, uint64_t new_end);
/* ud_dict.dump_deferred: why a section deferred a dump (the stream filled, or ud_dump()). */
enum { UD__DUMP_IF_LONG = 1, UD__DUMP_ASKED = 2 };
/* The dump an outermost unlock runs when its section deferred one (ud__dump_locked()). */
typedef int (*ud__dump_fn)(ud_dict *d);
void ud__section_set_dump(ud__dump_fn fn);
/* Records this process in the dict's table of attached processes (for `ultradict ls`). */
void ud__register_attach(ud_dict *d);
/* Frees this process's slot in that table (a fork child leaves its parent's alone). */
void ud__unregister_attach(ud_dict *d);
/* Attached processes still alive. */
unsigned ud__count_attached(const ud__control *c);

/* ---- dump.c: full dumps and loads ---- */
/* Writes a full dump of the (synchronised) local copy; caller holds the lock. Inside a section
 * with unpublished records it is deferred to the outermost unlock instead. */
int ud__dump_locked(ud_dict *d);
/* Loads the newest dump into the local copy; sets d->pos to its position. */
int ud__load_dump(ud_dict *d);

/* ---- stream.c: records, replay, waits ---- */
int ud__sync_slow(ud_dict *d);
/* Brings the local copy up to date. The common case - nothing new - is one load of one word. */
static inline int ud__sync(ud_dict *d) {
    if (atomic_load_explicit(&d->ctl->end, memory_order_acquire) == d->pos &&
        atomic_load_explicit(&ud__holds, memory_order_relaxed) == 0)
        return 0;
    return ud__sync_slow(d);
}
/* ud__lock() for a write: while another process holds the lock, the wait first replays its
 * records without the lock (see stream.c). Only for a call the caller does not overlap with
 * other calls on the handle - never for ud_lock(), whose wait other threads may share. */
int ud__lock_write(ud_dict *d);

/*
 * A record under construction by a writer who holds the lock: ud__rec_begin() reserves `body`
 * bytes in the stream (dumping or growing first if needed), the caller encodes items at
 * rec->body, and ud__rec_commit() checksums and publishes it, then applies it to the local copy.
 */
typedef struct ud__rec {
    char *body;
    size_t body_len;
    uint32_t flags;
    uint32_t nitems;
    uint64_t at; /* logical position */
} ud__rec;
int ud__rec_begin(ud_dict *d, size_t body_len, uint32_t flags, uint32_t nitems, ud__rec *rec);
int ud__rec_commit(ud_dict *d, ud__rec *rec);
/* Applies a validated record body to the local table. */
int ud__apply_items(ud_dict *d, const char *body, size_t len, uint32_t flags, uint32_t nitems);
/* With a static full_dump_size: UD_EDUMPFULL if writing `add` bytes of items over `drop` bytes
 * of existing ones would leave the dict larger than a dump, else 0. */
int ud__check_dump_room(ud_dict *d, size_t add, size_t drop);
/*
 * Writes one record with one item without synchronising first, when the local copy is behind
 * the stream (another process wrote since): the record goes out, the local copy is left as it
 * is, and the next read replays the handle's own record with the others'. The caller holds the
 * lock at depth 1 and needs nothing from the local copy. 0, an error, or -EAGAIN when this does
 * not apply (the handle is up to date, so a plain write costs nothing more; or the record needs
 * a dump first, which needs the local copy): the caller then synchronises and writes.
 */
int ud__write_behind(ud_dict *d, int kind, int type, const void *key, size_t klen, const void *val,
                     size_t vlen);
/* Writes one record with one item; caller holds the lock and has synchronised. */
int ud__write_item(ud_dict *d, int kind, int type, const void *key, size_t klen, const void *val,
                   size_t vlen);

/* ---- dict.c: open, attach, close ---- */
/* Set in ud_options.mode (internally) when the caller left the mode to the default 0600. */
#define UD__MODE_DEFAULTED 0x10000u
int ud__open_internal(const ud_options *opts, const char *full_name, uint32_t flags, ud_dict **out);

/* ---- recurse.c: nested dicts ---- */
/* Unlinks the nested dict whose value (its name) is `val` when `type` says it is a dict. */
void ud__drop_child(ud_dict *d, const char *val, size_t vlen, uint32_t type);
/* Creates a new nested child of d with a fresh random name (written to name). */
int ud__create_child(ud_dict *d, char *name, ud_dict **out);
/* ud__create_child(), for a child that is filled before it is published (`detached`: made
 * outside the parent's lock, and so protected from orphan reclaim while its creator lives). */
int ud__create_child_named(ud_dict *d, char *name, bool detached, ud_dict **out);
/* Opens a dict by its full (internal) name, inheriting options from d. */
int ud__open_child(ud_dict *d, const char *name, size_t nlen, int create, ud_dict **out);
/* Unlinks every direct child in /dev/shm that d does not reference (caller holds the lock and
 * has synchronised). Returns how many, or an error. */
int ud__reclaim_orphans(ud_dict *d);

#define UD__CHECK_HANDLE(d)                                                                        \
    do {                                                                                           \
        if (!(d))                                                                                  \
            return UD_EINVAL;                                                                      \
    } while (0)

/*
 * A slowdown for measuring the regression gate, never in a normal build: the CMake options
 * UD_INJECT_DELAY_GET and UD_INJECT_DELAY_LOCK (0, the default, compiles nothing) add a spin of
 * that many dependent adds to every ud_get and to every hold of the dict's lock (writes and
 * incr); UD_INJECT_DELAY_SET and UD_INJECT_DELAY_INCR to ud_set's and ud_incr's lock hold only,
 * so that one knob can slow the catalogue's read, write and lock cells by the same share (one
 * spin in every hold weighs twice as much in a write as in an incr). See scripts/gate-eval and
 * the README ("the slowdown knob").
 */
#if defined(UD_INJECT_DELAY_GET) && UD_INJECT_DELAY_GET > 0
#define UD__DELAY_GET() ud__spin(UD_INJECT_DELAY_GET)
#else
#define UD__DELAY_GET() ((void)0)
#endif
#if defined(UD_INJECT_DELAY_LOCK) && UD_INJECT_DELAY_LOCK > 0
#define UD__DELAY_LOCK() ud__spin(UD_INJECT_DELAY_LOCK)
#else
#define UD__DELAY_LOCK() ((void)0)
#endif
#if defined(UD_INJECT_DELAY_SET) && UD_INJECT_DELAY_SET > 0
#define UD__DELAY_SET() ud__spin(UD_INJECT_DELAY_SET)
#else
#define UD__DELAY_SET() ((void)0)
#endif
#if defined(UD_INJECT_DELAY_INCR) && UD_INJECT_DELAY_INCR > 0
#define UD__DELAY_INCR() ud__spin(UD_INJECT_DELAY_INCR)
#else
#define UD__DELAY_INCR() ((void)0)
#endif
/* One dependent add per iteration: the empty asm makes x opaque, so the compiler can neither
 * drop the adds nor fold them, even when it unrolls the loop (an empty asm alone would compile
 * to nothing once unrolled). About one cycle and exactly one instruction per iteration.
 * Unrolled whatever n: GCC unrolled up to 16 iterations and kept a loop above, whose exit the
 * branch predictor missed at every call, so the slowdown was a staircase in n (+2.5% of the
 * catalogue's read at 16, +27% at 30) instead of a line. */
static inline void ud__spin(unsigned n) {
    unsigned x = 0;
#pragma GCC unroll 4096
    for (unsigned i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(x));
        x++;
    }
}

#endif /* UD_INTERNAL_H */
