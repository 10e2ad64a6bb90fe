/*
 * dump.c - full dumps: written by a writer that holds the lock, loaded lock-free by readers.
 *
 * The two dump segments alternate: a writer always rewrites the one that does not hold the
 * published dump (the one at `base`), so a reader copying the published dump is never
 * overwritten by the next dump, only - in the worst case - by the one after it, which the
 * segment's seqlock reveals. Dump segments grow as needed and are reused, never recreated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

#define LOAD_ATTEMPTS 64

static inline ud__dump_hdr *dump_hdr(ud_dict *d, int s) {
    return (ud__dump_hdr *)d->dump[s].addr;
}

/* The slot holding the complete dump at `base`, or -1. */
static int published_slot(ud_dict *d, uint64_t base) {
    for (int s = 0; s < 2; s++) {
        ud__dump_hdr *h = dump_hdr(d, s);
        if (h->magic != UD__DUMP_MAGIC || h->version != UD__LAYOUT_VERSION)
            continue;
        uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
        if (!(seq & 1) && atomic_load_explicit(&h->pos, memory_order_relaxed) == base)
            return s;
    }
    return -1;
}

int ud__dump_locked(ud_dict *d) {
    ud__control *c = d->ctl;
    if (d->unpublished) {
        /* A dump now would publish the section's records before its end: later. */
        d->dump_deferred |= UD__DUMP_ASKED;
        return 0;
    }
    uint64_t end = atomic_load_explicit(&c->end, memory_order_relaxed);
    uint64_t base = atomic_load_explicit(&c->base, memory_order_relaxed);
    int pub = published_slot(d, base);
    if (end == base && pub >= 0)
        return 0; /* nothing happened since the newest dump */
    int s = pub == 0 ? 1 : 0;

    size_t payload = d->table.bytes;
    size_t need = sizeof(ud__dump_hdr) + payload;
    int rc = ud__seg_refresh(&d->dump[s]);
    if (rc)
        return rc;
    if (need > d->dump[s].size) {
        if (c->full_dump_size)
            return UD_EDUMPFULL;
        size_t grow = d->dump[s].size + d->dump[s].size / 2;
        size_t size = need > grow ? need : grow;
        size = (size + 65535) & ~(size_t)65535;
        rc = ud__seg_grow(&d->dump[s], size);
        if (rc)
            return rc;
    }

    ud__dump_hdr *h = dump_hdr(d, s);
    /* A writer that died mid-dump may have left seq odd; start from the next odd value. */
    uint64_t seq = (atomic_load_explicit(&h->seq, memory_order_relaxed) | 1) + 2;
    atomic_store_explicit(&h->seq, seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    /* The header is rewritten whole, which also repairs a damaged one. */
    h->magic = UD__DUMP_MAGIC;
    h->version = UD__LAYOUT_VERSION;
    char *dst = (char *)h + sizeof *h;
    ud__table_encode(&d->table, dst);
    h->len = payload;
    h->count = d->table.count;
    h->check = ud__check(dst, payload, end);
    atomic_store_explicit(&h->pos, end, memory_order_relaxed);
    atomic_store_explicit(&h->seq, seq + 1, memory_order_release);

    /* Publish: from here readers behind `end` load this dump, and the stream restarts. */
    atomic_store(&c->base, end);
    atomic_thread_fence(memory_order_seq_cst);
    atomic_fetch_add_explicit(&c->dump_count, 1, memory_order_relaxed);
    atomic_store_explicit(&c->dump_bytes, payload, memory_order_relaxed);
    return 0;
}

/* One attempt to copy and decode the dump at `base` from slot s. -EAGAIN if it moved. */
static int load_slot(ud_dict *d, int s, uint64_t base, bool locked) {
    ud__dump_hdr *h = dump_hdr(d, s);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_acquire);
    if ((seq & 1) || atomic_load_explicit(&h->pos, memory_order_relaxed) != base ||
        h->magic != UD__DUMP_MAGIC || h->version != UD__LAYOUT_VERSION)
        return -EAGAIN;
    uint64_t len = h->len, count = h->count, check = h->check;
    if (len > SIZE_MAX - sizeof *h)
        return locked ? UD_ECORRUPT : -EAGAIN;
    if (sizeof *h + len > d->dump[s].size) {
        int rc = ud__seg_refresh(&d->dump[s]);
        if (rc)
            return rc;
        h = dump_hdr(d, s);
        if (sizeof *h + len > d->dump[s].size)
            return locked ? UD_ECORRUPT : -EAGAIN;
    }
    /* The new table is built in the spare one, whose memory the previous load left mapped. */
    ud__table_recycle(&d->spare);
    char *arena = ud__table_arena(&d->spare, len);
    if (!arena)
        return -ENOMEM;
    /* Checked as it is copied, from the cache; the result counts only if seq did not move. */
    uint64_t sum = ud__copy_check(arena, (char *)h + sizeof *h, len, base);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&h->seq, memory_order_relaxed) != seq)
        return -EAGAIN;
    if (sum != check)
        return UD_ECORRUPT;
    int rc = ud__table_decode(&d->spare, len, count);
    if (rc)
        return rc;
    ud__table_swap(&d->table, &d->spare);
    ud__table_recycle(&d->spare);
    d->pos = base;
    d->dumps_loaded++;
    return 0;
}

static int load_attempt(ud_dict *d, bool locked) {
    uint64_t base = atomic_load_explicit(&d->ctl->base, memory_order_acquire);
    int rc = -EAGAIN;
    for (int s = 0; s < 2 && rc == -EAGAIN; s++)
        rc = load_slot(d, s, base, locked);
    if (rc == -EAGAIN && locked)
        return UD_ECORRUPT; /* no writer can be moving it: the published dump is missing */
    return rc;
}

int ud__load_dump(ud_dict *d) {
    if (d->unpublished)
        return 0; /* the local copy holds the section's records, newer than any dump */
    bool locked = d->lock_depth > 0 &&
                  d->lock_fork_gen == atomic_load_explicit(&ud__fork_gen, memory_order_relaxed);
    for (int attempt = 0; attempt < LOAD_ATTEMPTS; attempt++) {
        int rc = load_attempt(d, locked);
        if (rc != -EAGAIN)
            return rc;
    }
    int rc = ud__lock(d);
    if (rc)
        return rc;
    rc = load_attempt(d, true);
    ud__unlock(d);
    return rc;
}

int ud_load(ud_dict *d, bool force) {
    UD__CHECK_HANDLE(d);
    uint64_t base = atomic_load_explicit(&d->ctl->base, memory_order_acquire);
    if (!force && d->pos >= base)
        return 0; /* this handle has already got everything the newest dump holds */
    return ud__load_dump(d);
}
