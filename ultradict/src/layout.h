/*
 * layout.h - what lives in shared memory. Only fixed-width integers and offsets, never pointers.
 *
 * A dict NAME has exactly four segments:
 *   /NAME         the control segment: immutable header, the positions, the lock, attachments
 *   /NAME.stream  a small header, then the records streamed since the latest dump
 *   /NAME.dump0   a dump header, then a full dump (the two dump segments alternate, so the
 *   /NAME.dump1   newest dump is never overwritten while the next one is being written)
 * Nested dicts of a recursive dict are named NAME.c<hex> (and their own children
 * NAME.c<hex>.c<hex>): every segment that belongs to NAME starts with "NAME.", and user names
 * cannot contain '.', so unlinking NAME and everything under "NAME." removes the whole tree.
 *
 * Positions are logical byte offsets in the sequence of everything ever streamed: `end` is where
 * the next record goes, `base` is the position of the newest dump, and the record at logical
 * position P sits at offset P - base in the stream segment's record area. A process that has
 * replayed up to `pos` is up to date when pos == end (one load of one word); it replays the
 * stream when base <= pos < end, and loads the dump first when pos < base.
 */
#ifndef UD_LAYOUT_H
#define UD_LAYOUT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "ultradict.h"

#define UD__MAGIC 0x5443494452544c55ull        /* "ULTRDICT" */
#define UD__STREAM_MAGIC 0x4d41525453445523ull /* "#UDSTRAM" */
#define UD__DUMP_MAGIC 0x504d5544445523ull     /* "#UDDUMP" */
/* Raised whenever a segment's layout changes: 2 added the control's per-slot waiter counts, 3
 * gathered the lock, the end and the waiter count into one cache line, 4 checks records and
 * dumps of 256 bytes or more with ud__check()'s block sums instead of ud__hash(). */
#define UD__LAYOUT_VERSION 4u

#define UD__CACHE_LINE 64
#define UD__MAX_ATTACHED 256
/* The longest segment name we produce: a root name plus nesting suffixes and ".stream". */
#define UD__SEG_NAME_MAX 250
_Static_assert(UD_FULL_NAME_MAX == UD__SEG_NAME_MAX - 8, "room for a segment suffix");

enum { UD__FLAG_RECURSE = 1u, UD__FLAG_CHILD = 2u };

typedef struct ud__control {
    /* Written once by the creator before `magic` is published; read-only afterwards. */
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t buffer_size;
    uint64_t full_dump_size;
    uint32_t lock_mode;
    uint32_t flags;
    int32_t creator_pid;
    uint32_t reserved;
    uint64_t creator_start;

    /*
     * The hot line: everything a write touches in the control segment, so that handing the
     * lock to another process moves one cache line instead of four. A write takes the mutex,
     * compares `end` with its position, publishes a new `end`, reads `waiters` and gives the
     * mutex back; holder_pid is set and cleared around the hold. Readers load `end` on every
     * read: a line written once per write anyway. `change_seq` is the futex word that
     * ud_wait() sleeps on (woken only when `waiters` is not 0).
     */
    alignas(UD__CACHE_LINE) pthread_mutex_t mutex;
    _Atomic uint64_t end;
    _Atomic uint32_t change_seq;
    _Atomic uint32_t waiters;
    _Atomic int32_t holder_pid;

    /* Written under the lock, at most once per dump: shared read-only by every writer in
     * between, so reading it costs no transfer. */
    alignas(UD__CACHE_LINE) _Atomic uint64_t base;
    _Atomic uint64_t stream_cap; /* bytes of record area in the stream segment */
    _Atomic uint64_t dump_count;
    _Atomic uint64_t dump_bytes; /* payload bytes of the newest dump */

    /* Rarely written: the entry count (stored only when a write changes it), the spin lock of
     * UD_LOCK_SPIN mode, recoveries. */
    alignas(UD__CACHE_LINE) _Atomic uint64_t entries; /* as the last writer left it (`ls`) */
    _Atomic uint64_t spin_owner; /* UD_LOCK_SPIN: holder identity (pid << 32 | start time), or 0 */
    _Atomic uint64_t lock_recoveries;

    /* Identities of attached processes, for `ultradict ls` (0: free slot). */
    alignas(UD__CACHE_LINE) _Atomic uint64_t attached[UD__MAX_ATTACHED];
    /* ud_wait() callers per attach slot (and those without a slot), so that a writer can tell
     * whether `waiters` still counts anyone alive: a waiter killed while it slept never
     * decrements it. */
    _Atomic uint32_t waiting[UD__MAX_ATTACHED];
    _Atomic uint32_t waiting_unslotted;
} ud__control;

/* The size of a control segment: ud__control rounded up to whole pages. An attacher and the
 * half-created checks compare a segment's size with it. */
static inline size_t ud__control_size(void) {
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    return (sizeof(ud__control) + p - 1) / p * p;
}

/* The stream segment: this header, then stream_cap bytes of records. */
typedef struct ud__stream_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t reserved;
    uint8_t pad[48];
} ud__stream_hdr;

/*
 * A dump segment: this header, then `len` payload bytes (items, see below). `seq` is a seqlock:
 * odd while a writer rewrites the segment, even when it holds the complete dump for `pos`.
 */
typedef struct ud__dump_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t reserved;
    _Atomic uint64_t seq;
    _Atomic uint64_t pos;
    uint64_t len;
    uint64_t count;
    uint64_t check;
    uint64_t pad;
} ud__dump_hdr;

/*
 * A record in the stream, 8-byte aligned. `check` is ud__check over the body seeded with the
 * record's logical position, length and header fields, so that a stale record from an older
 * generation at the same offset, or a torn one, never validates. The body is `nitems` items.
 */
typedef struct ud__rec_hdr {
    uint64_t len;   /* header + body, before padding to 8 */
    uint32_t flags; /* UD__REC_CLEAR: empty the dict before applying the items */
    uint32_t nitems;
    uint64_t check;
} ud__rec_hdr;

enum { UD__REC_CLEAR = 1u };

/*
 * An item: this header, the key, then the value. Items are packed without padding (read with
 * memcpy). The same encoding serves records, dumps and portable snapshots; every integer is
 * little-endian.
 */
typedef struct ud__item_hdr {
    uint32_t klen;
    uint8_t kind; /* UD__ITEM_SET or UD__ITEM_DEL */
    uint8_t type; /* UD_TYPE_BYTES or UD_TYPE_DICT */
    uint16_t reserved;
    uint64_t vlen;
} ud__item_hdr;

enum { UD__ITEM_SET = 1, UD__ITEM_DEL = 2 };

_Static_assert(sizeof(ud__item_hdr) == 16, "item header is 16 bytes");
_Static_assert(sizeof(ud__rec_hdr) == 24, "record header is 24 bytes");
_Static_assert(sizeof(ud__stream_hdr) == 64, "stream header is 64 bytes");
_Static_assert(sizeof(ud__dump_hdr) == 64, "dump header is 64 bytes");
_Static_assert(offsetof(ud__control, holder_pid) + sizeof(int32_t) <=
                   offsetof(ud__control, mutex) + UD__CACHE_LINE,
               "the lock, the end and the waiter count share one cache line");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free in shared memory");

#endif /* UD_LAYOUT_H */
