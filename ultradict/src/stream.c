/*
 * stream.c - the stream of updates: writing and publishing records, replaying them (items are
 * encoded by item.c), the lock of a write, ud_dump() and ud_wait().
 *
 * Publication protocol (see layout.h for the positions):
 *  - A writer holds the lock, has replayed everything (pos == end), writes a record past `end`
 *    where no reader looks, checksums it, and publishes it with one store of the new `end`. (A
 *    set may skip the replay and write behind its local copy: ud__write_behind().)
 *  - A reader copies [pos, end) out of shared memory into private memory, then re-reads `base`:
 *    if a dump moved it meanwhile, the bytes may have been overwritten and the copy is thrown
 *    away. Every record's checksum (seeded with its logical position) is verified, and its
 *    items parsed to the end, before any of it touches the local copy.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hash.h"
#include "internal.h"

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)
/* After this many lock-free attempts lose a race with writers, a reader takes the lock. */
#define SYNC_ATTEMPTS 64

static uint64_t rec_check(uint64_t at, uint64_t len, uint32_t flags, uint32_t nitems,
                          const char *body, size_t body_len) {
    return ud__check(body, body_len, ud__rec_seed(at, len, flags, nitems));
}

/* Parses all items of a body without applying them. */
static int validate_items(const char *body, size_t len, uint32_t nitems) {
    const char *p = body, *end = body + len;
    for (uint32_t i = 0; i < nitems; i++) {
        ud__item_hdr h;
        const char *k, *v;
        int rc = ud__item_decode(p, (size_t)(end - p), &h, &k, &v);
        if (rc)
            return rc;
        p = v + h.vlen;
    }
    return p == end ? 0 : UD_ECORRUPT;
}

/* Throws the local copy away so that the next sync rebuilds it from the dump and the stream. */
static void reset_local(ud_dict *d) {
    ud__table_clear(&d->table);
    d->pos = 0;
}

/* Applies one decoded item to the local table. */
static int apply_item(ud_dict *d, const ud__item_hdr *h, const char *k, const char *v) {
    uint64_t hash = ud__hash(k, h->klen, 0);
    int rc = 0;
    if (h->kind == UD__ITEM_SET)
        rc = ud__table_put(&d->table, k, h->klen, hash, v, h->vlen, h->type);
    else
        ud__table_del(&d->table, k, h->klen, hash);
    if (rc) {
        /* Out of memory halfway through a record: the local copy no longer matches any
         * position, so it is rebuilt from scratch on the next sync. */
        reset_local(d);
    }
    return rc;
}

int ud__apply_items(ud_dict *d, const char *body, size_t len, uint32_t flags, uint32_t nitems) {
    if (flags & UD__REC_CLEAR)
        ud__table_clear(&d->table);
    const char *p = body;
    for (uint32_t i = 0; i < nitems; i++) {
        ud__item_hdr h;
        const char *k, *v;
        int rc = ud__item_decode(p, len - (size_t)(p - body), &h, &k, &v);
        if (!rc)
            rc = apply_item(d, &h, k, v);
        if (rc)
            return rc;
        p = v + h.vlen;
    }
    return 0;
}

/* Validates and applies a record body. A record of one item - every one-key write - is decoded
 * once: the item must fill the body exactly, as validate_items() demands, before it is applied. */
static int apply_body(ud_dict *d, const char *body, size_t len, uint32_t flags, uint32_t nitems) {
    if (nitems != 1) {
        int rc = validate_items(body, len, nitems);
        return rc ? rc : ud__apply_items(d, body, len, flags, nitems);
    }
    ud__item_hdr h;
    const char *k, *v;
    int rc = ud__item_decode(body, len, &h, &k, &v);
    if (rc)
        return rc;
    if (v + h.vlen != body + len)
        return UD_ECORRUPT;
    if (flags & UD__REC_CLEAR)
        ud__table_clear(&d->table);
    return apply_item(d, &h, k, v);
}

/* Validates and applies the records in buf, which start at logical position d->pos. */
static int apply_records(ud_dict *d, const char *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ud__rec_hdr h;
        if (n - off < sizeof h)
            return UD_ECORRUPT;
        memcpy(&h, buf + off, sizeof h);
        if (h.len < sizeof h || h.len > n - off || ALIGN8(h.len) > n - off)
            return UD_ECORRUPT;
        const char *body = buf + off + sizeof h;
        size_t body_len = h.len - sizeof h;
        if (rec_check(d->pos, h.len, h.flags, h.nitems, body, body_len) != h.check)
            return UD_ECORRUPT;
        int rc = apply_body(d, body, body_len, h.flags, h.nitems);
        if (rc)
            return rc;
        off += ALIGN8(h.len);
        d->pos += ALIGN8(h.len);
        d->records_applied++;
    }
    return 0;
}

static inline char *stream_records(ud_dict *d) {
    return (char *)d->stream.addr + sizeof(ud__stream_hdr);
}

/*
 * Records of this many bytes or more are replayed straight from shared memory, without first
 * copying them into the scratch buffer: a large value is then read twice (its check, its copy
 * into the local table) and written once, instead of copied twice.
 */
#define DIRECT_REPLAY ((size_t)16 * 1024)

/*
 * Unlocked replay of n bytes at src (in the stream, at base's generation) into the local copy.
 * Only a dump moving base lets a writer reuse the bytes, so base unchanged afterwards means
 * that every byte read was the published one; otherwise what was applied (or found corrupt)
 * may be a mix of two generations, and the local copy is thrown away and rebuilt.
 */
static int replay_direct(ud_dict *d, const char *src, size_t n, uint64_t base) {
    int rc = apply_records(d, src, n);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&d->ctl->base, memory_order_relaxed) != base) {
        reset_local(d);
        return -EAGAIN;
    }
    return rc ? rc : -EAGAIN;
}

/* One attempt to catch up. Returns 0 when up to date, -EAGAIN to retry, or an error. */
static int sync_once(ud_dict *d, bool locked) {
    ud__control *c = d->ctl;
    uint64_t end = atomic_load_explicit(&c->end, memory_order_acquire);
    if (end == d->pos)
        return 0;
    uint64_t base = atomic_load_explicit(&c->base, memory_order_acquire);
    if (base > end || end - base > UD__BODY_MAX * 4) {
        /* Unlocked, a dump may have moved base past the end we loaded: load again. Under the
         * lock nothing moves, so contradictory positions are damage. */
        return locked ? UD_ECORRUPT : -EAGAIN;
    }
    if (d->pos < base || d->pos > end) {
        int rc = ud__load_dump(d);
        return rc ? rc : -EAGAIN;
    }
    size_t off = d->pos - base, n = end - d->pos;
    if (sizeof(ud__stream_hdr) + (end - base) > d->stream.size) {
        int rc = ud__seg_refresh(&d->stream);
        if (rc)
            return rc;
        if (sizeof(ud__stream_hdr) + (end - base) > d->stream.size)
            return locked ? UD_ECORRUPT : -EAGAIN;
    }
    const char *src = stream_records(d) + off;
    if (!locked && n >= DIRECT_REPLAY)
        return replay_direct(d, src, n, base);
    if (!locked) {
        int rc = ud__buf_resize(&d->scratch, n);
        if (rc)
            return rc;
        memcpy(d->scratch.data, src, n);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&c->base, memory_order_relaxed) != base)
            return -EAGAIN;
        src = d->scratch.data;
    }
    int rc = apply_records(d, src, n);
    if (rc)
        return rc;
    /* Up to date unless more was published meanwhile: the check the next round would open with,
     * without the round. */
    return atomic_load_explicit(&c->end, memory_order_acquire) == d->pos ? 0 : -EAGAIN;
}

/* Under the lock nothing moves: one dump load and one replay bring any handle up to date, so
 * more rounds than this mean positions that never converge - damage, not a race. */
#define LOCKED_ROUNDS 4

static int sync_locked(ud_dict *d) {
    for (int round = 0; round < LOCKED_ROUNDS; round++) {
        int rc = sync_once(d, true);
        if (rc != -EAGAIN)
            return rc;
    }
    return UD_ECORRUPT;
}

int ud__sync_slow(ud_dict *d) {
    /* Inside a section with unpublished records the local copy is the newest state there is:
     * nobody else can write while we hold the lock. */
    if (d->unpublished)
        return 0;
    if (atomic_load_explicit(&ud__holds, memory_order_relaxed) != 0)
        ud__share_hold(d);
    bool locked = d->lock_depth > 0 &&
                  d->lock_fork_gen == atomic_load_explicit(&ud__fork_gen, memory_order_relaxed);
    if (locked)
        return sync_locked(d);
    for (int attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
        int rc = sync_once(d, false);
        if (rc != -EAGAIN)
            return rc;
    }
    /* Writers keep moving the stream under us: with the lock they cannot. */
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = sync_locked(d);
    ud__unlock(d);
    return rc;
}

/* Maps in the pages of a stream that just grew, in one call now, rather than one fault at a time
 * inside the writes that reach them (each a trap and a page cleared: 16 of them in a 64 KiB
 * value). Best effort: a kernel without MADV_POPULATE_WRITE (before 5.14) leaves them to fault. */
static void prefault(ud_dict *d, size_t from, size_t to) {
#ifdef MADV_POPULATE_WRITE
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    size_t a = (sizeof(ud__stream_hdr) + from) / p * p, b = sizeof(ud__stream_hdr) + to;
    if (b > d->stream.size)
        b = d->stream.size;
    if (b > a)
        (void)madvise((char *)d->stream.addr + a, b - a, MADV_POPULATE_WRITE);
#else
    (void)d;
    (void)from;
    (void)to;
#endif
}

/*
 * Room for a record of padded bytes in a stream of cap bytes that holds *used: a dump, or a
 * larger stream; *used and *end follow a dump. 0, or an error.
 *
 * An ordinary record that does not fit means the stream is full: it is compacted into a dump.
 * A large record - more than a sixteenth of the buffer, so that a full buffer holds at most 16
 * of them - instead grows the stream, and a dump happens only once the stream holds twice as
 * much as the dict itself, and either DUMP_EVERY records of that size or 16 times the dict. A
 * dump rewrites the whole dict, so a large value then costs at most half a byte of dump per
 * byte written, amortised, never a dump of the whole dict every few writes (a 64 KiB value in
 * a 16 MiB dict with the 1 MiB buffer dumped the 16 MiB every 16 writes, and 6% of the writes
 * waited for one); at most one large write in DUMP_EVERY waits for a dump that costs more than
 * 8 of them, so their p99 is a write's, not a dump's; and the stream stays within 16 times the
 * dict's size.
 */
#define DUMP_EVERY 128

/* Whether a stream holding `used` bytes is long enough to be compacted before a large record
 * of `padded` bytes (see make_room). */
static bool long_enough(const ud_dict *d, size_t used, size_t padded) {
    size_t dict = d->table.bytes;
    if (used / 2 < dict)
        return false;
    return used / DUMP_EVERY >= padded || used / 16 >= dict;
}

static int make_room(ud_dict *d, size_t padded, size_t cap, size_t *used, uint64_t *end) {
    ud__control *c = d->ctl;
    /* Inside a section with unpublished records, a dump would publish them (readers load
     * it) and overwrite the stream readers may still be copying: the stream grows instead,
     * and the outermost unlock dumps if one was due (and the stream is past its buffer). */
    bool compact = *used > 0 && (padded <= c->buffer_size / 16 || long_enough(d, *used, padded));
    if (d->unpublished) {
        if (compact)
            d->dump_deferred |= UD__DUMP_IF_LONG;
    } else if (compact) {
        int rc = ud__dump_locked(d);
        if (rc)
            return rc;
        *used = 0;
        *end = atomic_load_explicit(&c->base, memory_order_relaxed);
    }
    if (*used + padded > cap) {
        size_t ncap = cap + cap / 2;
        if (ncap < *used + padded)
            ncap = *used + padded;
        ncap = (ncap + 4095) & ~(size_t)4095;
        int rc = ud__seg_grow(&d->stream, sizeof(ud__stream_hdr) + ncap);
        if (rc)
            return rc;
        prefault(d, cap, ncap);
        atomic_store_explicit(&c->stream_cap, ncap, memory_order_relaxed);
    }
    return 0;
}

int ud__rec_begin(ud_dict *d, size_t body_len, uint32_t flags, uint32_t nitems, ud__rec *rec) {
    ud__control *c = d->ctl;
    if (body_len > UD__BODY_MAX)
        return UD_ETOOBIG;
    size_t total = sizeof(ud__rec_hdr) + body_len;
    size_t padded = ALIGN8(total);
    uint64_t end =
        d->unpublished ? d->pending_end : atomic_load_explicit(&c->end, memory_order_relaxed);
    uint64_t base = atomic_load_explicit(&c->base, memory_order_relaxed);
    size_t cap = atomic_load_explicit(&c->stream_cap, memory_order_relaxed);
    if (base > end || end - base > cap || cap > UD__BODY_MAX * 4)
        return UD_ECORRUPT;
    size_t used = end - base;
    if (used + padded > cap) {
        int rc = make_room(d, padded, cap, &used, &end);
        if (rc)
            return rc;
    }
    if (sizeof(ud__stream_hdr) + used + padded > d->stream.size) {
        int rc = ud__seg_refresh(&d->stream);
        if (rc)
            return rc;
        if (sizeof(ud__stream_hdr) + used + padded > d->stream.size)
            return UD_ECORRUPT;
    }
    rec->body = stream_records(d) + used + sizeof(ud__rec_hdr);
    rec->body_len = body_len;
    rec->flags = flags;
    rec->nitems = nitems;
    rec->at = end;
    return 0;
}

/* Checksums the record and publishes it - or, inside a ud_lock() section (the write's own lock
 * nested in the caller's), leaves it for the outermost unlock, so that the section's records
 * become visible together. */
static uint64_t publish(ud_dict *d, ud__rec *rec, uint64_t check) {
    size_t total = sizeof(ud__rec_hdr) + rec->body_len;
    ud__rec_hdr h = {total, rec->flags, rec->nitems, check};
    memcpy(rec->body - sizeof h, &h, sizeof h);
    uint64_t new_end = rec->at + ALIGN8(total);
    if (d->lock_depth > 1 && !d->lock_borrowed && !d->hold_shared) {
        d->unpublished = true;
        d->pending_end = new_end;
    } else {
        ud__publish_end(d, new_end);
    }
    return new_end;
}

static int committed(ud_dict *d, uint64_t new_end, int rc) {
    if (rc == 0) {
        d->pos = new_end;
        /* Stored only when it changes: an update of an existing key leaves the line alone,
         * so that other writers keep their copy of it. */
        if (atomic_load_explicit(&d->ctl->entries, memory_order_relaxed) != d->table.count)
            atomic_store_explicit(&d->ctl->entries, d->table.count, memory_order_relaxed);
    }
    return rc;
}

static uint64_t body_check(const ud__rec *rec) {
    size_t total = sizeof(ud__rec_hdr) + rec->body_len;
    return rec_check(rec->at, total, rec->flags, rec->nitems, rec->body, rec->body_len);
}

int ud__rec_commit(ud_dict *d, ud__rec *rec) {
    uint64_t new_end = publish(d, rec, body_check(rec));
    /* The record is committed; only now does the local copy change. */
    return committed(d, new_end,
                     ud__apply_items(d, rec->body, rec->body_len, rec->flags, rec->nitems));
}

/* Publishes a record of one item, whose check the writer computed as it wrote the item, and
 * applies the item from the caller's copy of it. */
static int commit_item(ud_dict *d, ud__rec *rec, uint64_t check, int kind, int type,
                       const void *key, size_t klen, const void *val, size_t vlen) {
    uint64_t new_end = publish(d, rec, check);
    /* The writer knows the item it wrote: apply it without decoding the record again. */
    uint64_t hash = ud__hash(key, klen, 0);
    int rc = 0;
    if (kind == UD__ITEM_SET)
        rc = ud__table_put(&d->table, key, klen, hash, val, vlen, (uint32_t)type);
    else
        ud__table_del(&d->table, key, klen, hash);
    if (rc)
        reset_local(d);
    return committed(d, new_end, rc);
}

/*
 * With a static full_dump_size, a write that would leave the dict larger than a dump can hold
 * is refused (UD_EDUMPFULL) before anything is written, even while the stream still has room:
 * the dict then always fits a dump, so the stream can always be compacted, and writes that
 * make it smaller (del, pop, popitem, clear, restore) never fail for lack of room.
 * `add` bytes of items are written, `drop` bytes of existing ones replaced.
 */
int ud__check_dump_room(ud_dict *d, size_t add, size_t drop) {
    size_t limit = d->ctl->full_dump_size;
    if (!limit)
        return 0;
    size_t after = d->table.bytes - (drop < d->table.bytes ? drop : d->table.bytes);
    return ud__size_add(after, add) > limit ? UD_EDUMPFULL : 0;
}

/* Reserves a record of one item and writes the item into it; its check into *check. The value
 * is written once, and checksummed from the cache as it is written. */
static inline int begin_item(ud_dict *d, int kind, int type, const void *key, size_t klen,
                             const void *val, size_t vlen, ud__rec *rec, uint64_t *check) {
    size_t size = ud__item_size(klen, vlen);
    int rc = ud__rec_begin(d, size, 0, 1, rec);
    if (rc)
        return rc;
    *check = ud__item_encode_check(rec->body, kind, type, key, klen, val, vlen,
                                   ud__rec_seed(rec->at, sizeof(ud__rec_hdr) + size, 0, 1));
    return 0;
}

/* Writes one record holding a single item. Caller holds the lock and has synchronised. */
int ud__write_item(ud_dict *d, int kind, int type, const void *key, size_t klen, const void *val,
                   size_t vlen) {
    ud__rec rec;
    size_t size = ud__item_size(klen, vlen);
    if (kind == UD__ITEM_SET && d->ctl->full_dump_size) {
        const ud__entry *e = ud__table_find(&d->table, key, klen, ud__hash(key, klen, 0));
        int rc = ud__check_dump_room(d, size, e ? ud__entry_bytes(e->klen, e->vlen) : 0);
        if (rc)
            return rc;
    }
    uint64_t check;
    int rc = begin_item(d, kind, type, key, klen, val, vlen, &rec, &check);
    return rc ? rc : commit_item(d, &rec, check, kind, type, key, klen, val, vlen);
}

int ud__write_behind(ud_dict *d, int kind, int type, const void *key, size_t klen, const void *val,
                     size_t vlen) {
    ud__control *c = d->ctl;
    uint64_t end = atomic_load_explicit(&c->end, memory_order_relaxed);
    if (end == d->pos || d->lock_depth != 1 || d->unpublished)
        return -EAGAIN;
    size_t size = ud__item_size(klen, vlen);
    uint64_t base = atomic_load_explicit(&c->base, memory_order_relaxed);
    size_t cap = atomic_load_explicit(&c->stream_cap, memory_order_relaxed);
    /* Only a record that fits without a dump: a dump is written from the local copy. */
    if (size > UD__BODY_MAX || base > end || end - base > cap ||
        cap - (end - base) < ALIGN8(sizeof(ud__rec_hdr) + size))
        return -EAGAIN;
    ud__rec rec;
    uint64_t check;
    int rc = begin_item(d, kind, type, key, klen, val, vlen, &rec, &check);
    if (rc)
        return rc;
    (void)publish(d, &rec, check);
    d->behind = true;
    return 0;
}

/*
 * The lock for a write. A lock found busy is first waited for by replaying, without it, the
 * records the holder and others appended since this handle's position; the replay under the
 * lock then covers only what the holder appends meanwhile, so a write no longer pays, inside
 * the critical section, for every other process's writes. Errors of that replay are left for
 * the sync under the lock to report.
 */
int ud__lock_write(ud_dict *d) {
    int rc = ud__lock_once(d);
    if (rc != UD_EBUSY)
        return rc;
    (void)ud__sync(d);
    return ud__lock(d);
}

int ud_dump(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = ud__sync(d);
    if (!rc)
        rc = ud__dump_locked(d);
    ud__unlock(d);
    return rc;
}

int ud_apply_update(ud_dict *d) {
    UD__CHECK_HANDLE(d);
    return ud__sync(d);
}

/* The CLOCK_MONOTONIC time `timeout` seconds from now. */
static struct timespec wait_deadline(double timeout) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double s = (double)deadline.tv_sec + deadline.tv_nsec / 1e9 + timeout;
    deadline.tv_sec = (time_t)s;
    deadline.tv_nsec = (long)((s - (double)(time_t)s) * 1e9);
    return deadline;
}

/* Nanoseconds left until `deadline` (CLOCK_MONOTONIC); zero or less once it has passed. */
static int64_t ns_until(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000LL +
           (deadline->tv_nsec - now.tv_nsec);
}

/* Sleeps on change_seq while it still reads `seq`, until `deadline` if there is one. 0 when
 * woken, interrupted, out of time or already changed; -errno when the futex call failed. */
static int wait_change(ud__control *c, uint32_t seq, const struct timespec *deadline) {
    struct timespec rel, *relp = NULL;
    if (deadline) {
        int64_t ns = ns_until(deadline);
        if (ns < 0)
            ns = 0;
        rel.tv_sec = ns / 1000000000LL;
        rel.tv_nsec = ns % 1000000000LL;
        relp = &rel;
    }
    if (syscall(SYS_futex, &c->change_seq, FUTEX_WAIT, seq, relp, NULL, 0) == 0)
        return 0;
    int err = errno;
    return err == EAGAIN || err == EINTR || err == ETIMEDOUT ? 0 : -err;
}

#define WAIT_AGAIN 1

/* One round of ud_wait: register as a waiter under the lock, sleep unless the stream has
 * already moved, unregister. 0 (synced) or a code when done; WAIT_AGAIN to go round again. */
static int wait_round(ud_dict *d, const struct timespec *deadline) {
    ud__control *c = d->ctl;
    /* Registering under the lock orders us against every writer: a write either happened
     * before (we see the new end) or comes after (the writer sees us and wakes us). The lock
     * is taken within what is left of the timeout: a stopped holder does not make us wait
     * past it. */
    double left = 0;
    if (deadline) {
        int64_t ns = ns_until(deadline);
        if (ns <= 0)
            return UD_ETIMEDOUT;
        left = (double)ns / 1e9;
    }
    int rc = ud__lock_for(d, left);
    if (rc)
        return rc;
    uint32_t seq = atomic_load(&c->change_seq);
    _Atomic uint32_t *mine =
        d->attach_slot >= 0 ? &c->waiting[d->attach_slot] : &c->waiting_unslotted;
    atomic_fetch_add(mine, 1);
    atomic_fetch_add(&c->waiters, 1);
    bool changed = atomic_load(&c->end) != d->pos;
    ud__unlock(d);
    int err = changed ? 0 : wait_change(c, seq, deadline);
    /* The global count first, then ours (see recount_waiters). */
    atomic_fetch_sub(&c->waiters, 1);
    atomic_fetch_sub(mine, 1);
    if (atomic_load(&c->end) != d->pos)
        return ud__sync(d);
    if (err)
        return err;
    if (deadline && ns_until(deadline) <= 0)
        return UD_ETIMEDOUT;
    return WAIT_AGAIN;
}

int ud_wait(ud_dict *d, double timeout) {
    UD__CHECK_HANDLE(d);
    if (timeout != timeout)
        return UD_EINVAL;
    struct timespec until;
    const struct timespec *deadline = NULL;
    if (timeout > 0) {
        until = wait_deadline(timeout);
        deadline = &until;
    }
    int rc;
    while ((rc = wait_round(d, deadline)) == WAIT_AGAIN) {
    }
    return rc;
}
