/* table.c - see table.h. */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ultradict.h"

void ud__table_init(ud__table *t) {
    memset(t, 0, sizeof *t);
}

/* Whether e's bytes are an allocation of its own (not inline, borrowed or gone). */
static inline bool owns_block(const ud__entry *e) {
    return !(e->flags & (UD__ENTRY_DELETED | UD__ENTRY_BORROWED | UD__ENTRY_INLINE));
}

/* Points the inline entries of entries[from..used) at their own bytes again after a move. */
static void repoint_inline(ud__table *t, size_t from) {
    for (size_t i = from; i < t->used; i++) {
        ud__entry *e = &t->entries[i];
        if (e->flags & UD__ENTRY_INLINE)
            e->kv = e->inl;
    }
}

/* Moves the entry array to a new block of ncap entries aligned to a cache line, so that each
 * entry is exactly one line (realloc() promises only 16 bytes). 0 or -ENOMEM. */
static int resize_entries(ud__table *t, size_t ncap) {
    ud__entry *e = aligned_alloc(64, ncap * sizeof *e);
    if (!e)
        return -ENOMEM;
    if (t->used)
        memcpy(e, t->entries, t->used * sizeof *e);
    free(t->entries);
    t->entries = e;
    t->cap = ncap;
    repoint_inline(t, 0);
    return 0;
}

static void free_entries(ud__table *t) {
    for (size_t i = 0; i < t->used; i++) {
        ud__entry *e = &t->entries[i];
        if (owns_block(e))
            free(e->kv);
    }
}

void ud__table_free(ud__table *t) {
    free_entries(t);
    free(t->entries);
    free(t->index);
    free(t->arena);
    ud__table_init(t);
}

void ud__table_clear(ud__table *t) {
    uint64_t mutations = t->mutations;
    ud__table_free(t);
    t->mutations = mutations + 1;
}

void ud__table_swap(ud__table *a, ud__table *b) {
    ud__table tmp = *a;
    *a = *b;
    *b = tmp;
    uint64_t m = a->mutations;
    a->mutations = b->mutations + 1;
    b->mutations = m + 1;
}

void ud__table_recycle(ud__table *t) {
    free_entries(t);
    t->used = 0;
    t->count = 0;
    t->bytes = 0;
    if (t->index)
        memset(t->index, 0, (t->mask + 1) * sizeof *t->index);
    t->mutations++;
}

char *ud__table_arena(ud__table *t, size_t len) {
    if (len == 0)
        len = 1;
    if (len > t->arena_cap) {
        free(t->arena);
        t->arena = malloc(len);
        t->arena_cap = t->arena ? len : 0;
    }
    return t->arena;
}

#define TAG(hash) UD__TAG(hash)
#define POS(slot) UD__POS(slot)
#define MAX_ENTRIES 0xfffffffeu

_Static_assert(sizeof(ud__entry) == 64, "an entry is one cache line");

/* Rebuilds the index with `slots` slots (a power of two) from the live entries. */
static int rebuild_index(ud__table *t, size_t slots) {
    uint64_t *index = calloc(slots, sizeof *index);
    if (!index)
        return -ENOMEM;
    size_t mask = slots - 1;
    for (size_t i = 0; i < t->used; i++) {
        if (t->entries[i].flags & UD__ENTRY_DELETED)
            continue;
        uint64_t h = t->entries[i].hash;
        size_t s = h & mask;
        while (index[s])
            s = (s + 1) & mask;
        index[s] = TAG(h) | (i + 1);
    }
    free(t->index);
    t->index = index;
    t->mask = mask;
    return 0;
}

/* Squeezes the holes out of the entry array, keeping the order, and reindexes. */
static int compact(ud__table *t) {
    size_t j = 0;
    for (size_t i = 0; i < t->used; i++) {
        if (t->entries[i].flags & UD__ENTRY_DELETED)
            continue;
        t->entries[j++] = t->entries[i];
    }
    t->used = j;
    repoint_inline(t, 0);
    return rebuild_index(t, t->mask + 1);
}

/* Index slots for n entries: a load factor under 1/2, so that a hit takes about one and a half
 * probes of linear probing (at 2/3 it took two and more). 8 bytes a slot: 10k keys take 256
 * KiB of index. */
static size_t index_slots_for(size_t n) {
    size_t slots = 8;
    while (slots < 2 * n + 1)
        slots <<= 1;
    return slots;
}

int ud__table_reserve(ud__table *t, size_t n) {
    if (n > MAX_ENTRIES)
        return -ENOMEM;
    if (n > t->cap) {
        int rc = resize_entries(t, n);
        if (rc)
            return rc;
    }
    size_t slots = index_slots_for(n);
    if (t->mask == 0 || slots > t->mask + 1)
        return rebuild_index(t, slots);
    return 0;
}

/* Makes room to append one entry. */
static int grow_for_append(ud__table *t) {
    if (t->used == t->cap) {
        if (t->count < t->used - t->used / 4) {
            /* More than a quarter are holes: reuse the array instead of growing it. */
            int rc = compact(t);
            if (rc)
                return rc;
        } else {
            if (t->cap >= MAX_ENTRIES)
                return -ENOMEM;
            size_t ncap = t->cap ? t->cap * 2 : 8;
            if (ncap > MAX_ENTRIES)
                ncap = MAX_ENTRIES;
            int rc = resize_entries(t, ncap);
            if (rc)
                return rc;
        }
    }
    if (t->mask == 0 || (t->count + 1) * 2 >= t->mask + 1)
        return rebuild_index(t, index_slots_for(t->count + 1));
    return 0;
}

ud__entry *ud__table_find_any(const ud__table *t, const void *key, size_t klen, uint64_t hash) {
    if (t->mask == 0)
        return NULL;
    for (size_t s = hash & t->mask;; s = (s + 1) & t->mask) {
        uint64_t slot = t->index[s];
        if (slot == 0)
            return NULL;
        if (TAG(slot) == TAG(hash)) {
            ud__entry *e = &t->entries[POS(slot) - 1];
            if (ud__entry_is(e, key, klen, hash))
                return e;
        }
    }
}

static void insert_index(ud__table *t, size_t pos, uint64_t hash) {
    size_t s = hash & t->mask;
    while (t->index[s])
        s = (s + 1) & t->mask;
    t->index[s] = TAG(hash) | (pos + 1);
}

/* The value room an entry gets: small values a little slack, so that a growing counter rarely
 * reallocates. */
static size_t value_room(size_t vlen) {
    return vlen < 32 ? 32 : vlen;
}

/* A new private key+value block of klen + vcap bytes holding the key and the value. */
static char *kv_block(const void *key, size_t klen, const void *val, size_t vlen, size_t vcap) {
    char *kv = malloc(klen + vcap);
    if (!kv)
        return NULL;
    if (klen)
        memcpy(kv, key, klen);
    if (vlen)
        memcpy(kv + klen, val, vlen);
    return kv;
}

/* Whether a key and value of these lengths fit inside an entry. */
static inline bool fits_inline(size_t klen, size_t vlen) {
    return klen + vlen <= UD__INLINE_BYTES;
}

/* Makes e hold key and val inside itself (they fit). */
static void set_inline(ud__entry *e, const void *key, size_t klen, const void *val, size_t vlen) {
    e->kv = e->inl;
    e->vcap = UD__INLINE_BYTES - klen;
    e->flags = UD__ENTRY_INLINE;
    if (klen)
        memcpy(e->inl, key, klen);
    if (vlen)
        memcpy(e->inl + klen, val, vlen);
}

/* Replaces the value of entry e, in place when it fits. */
static int replace_value(ud__table *t, ud__entry *e, const void *val, size_t vlen, uint32_t type) {
    if (vlen <= e->vcap) {
        /* Borrowed bytes are private to the table too, so they can be overwritten. */
        if (vlen)
            memcpy(e->kv + e->klen, val, vlen);
    } else {
        size_t vcap = value_room(vlen);
        char *kv = kv_block(e->kv, e->klen, val, vlen, vcap);
        if (!kv)
            return -ENOMEM;
        if (owns_block(e))
            free(e->kv);
        e->kv = kv;
        e->vcap = vcap;
        e->flags &= (uint16_t) ~(UD__ENTRY_BORROWED | UD__ENTRY_INLINE);
    }
    t->bytes = t->bytes - e->vlen + vlen;
    e->vlen = vlen;
    e->type = (uint16_t)type;
    t->mutations++;
    return 0;
}

/* Appends the entry of a new key (the index slot aside): inline when it fits, else in a block
 * of its own (allocated before anything changes, so a failure leaves the table as it was). */
static int append_entry(ud__table *t, const void *key, size_t klen, uint64_t hash, const void *val,
                        size_t vlen, uint32_t type, size_t *pos) {
    char *kv = NULL;
    size_t vcap = value_room(vlen);
    if (!fits_inline(klen, vlen)) {
        kv = kv_block(key, klen, val, vlen, vcap);
        if (!kv)
            return -ENOMEM;
    }
    int rc = grow_for_append(t);
    if (rc) {
        free(kv);
        return rc;
    }
    *pos = t->used++;
    ud__entry *e = &t->entries[*pos];
    e->hash = hash;
    e->klen = (uint32_t)klen;
    e->vlen = vlen;
    e->type = (uint16_t)type;
    if (kv) {
        e->kv = kv;
        e->vcap = vcap;
        e->flags = 0;
    } else {
        set_inline(e, key, klen, val, vlen);
    }
    t->count++;
    t->bytes += ud__entry_bytes(klen, vlen);
    t->mutations++;
    return 0;
}

int ud__table_put(ud__table *t, const void *key, size_t klen, uint64_t hash, const void *val,
                  size_t vlen, uint32_t type) {
    ud__entry *e = ud__table_find(t, key, klen, hash);
    if (e)
        return replace_value(t, e, val, vlen, type);
    size_t pos;
    int rc = append_entry(t, key, klen, hash, val, vlen, type, &pos);
    if (!rc)
        insert_index(t, pos, hash);
    return rc;
}

int ud__table_put_borrowed(ud__table *t, char *kv, size_t klen, size_t vlen, uint64_t hash,
                           uint32_t type) {
    int rc = grow_for_append(t);
    if (rc)
        return rc;
    /* One probe both rejects a duplicate and finds the free slot. */
    size_t s = hash & t->mask;
    for (uint64_t slot; (slot = t->index[s]) != 0; s = (s + 1) & t->mask) {
        if (TAG(slot) == TAG(hash)) {
            const ud__entry *e = &t->entries[POS(slot) - 1];
            if (ud__entry_is(e, kv, klen, hash))
                return UD_ECORRUPT;
        }
    }
    size_t pos = t->used++;
    ud__entry *e = &t->entries[pos];
    e->hash = hash;
    e->klen = (uint32_t)klen;
    e->vlen = vlen;
    e->type = (uint16_t)type;
    if (fits_inline(klen, vlen)) {
        set_inline(e, kv, klen, kv + klen, vlen);
    } else {
        e->kv = kv;
        e->vcap = vlen;
        e->flags = UD__ENTRY_BORROWED;
    }
    t->index[s] = TAG(hash) | (pos + 1);
    t->count++;
    t->bytes += ud__entry_bytes(klen, vlen);
    t->mutations++;
    return 0;
}

int ud__table_del(ud__table *t, const void *key, size_t klen, uint64_t hash) {
    if (t->mask == 0)
        return UD_ENOTFOUND;
    size_t s = hash & t->mask, pos;
    for (;;) {
        uint64_t slot = t->index[s];
        if (slot == 0)
            return UD_ENOTFOUND;
        pos = POS(slot);
        ud__entry *e = &t->entries[pos - 1];
        if (TAG(slot) == TAG(hash) && ud__entry_is(e, key, klen, hash))
            break;
        s = (s + 1) & t->mask;
    }
    /* Backward-shift deletion: pull later members of the probe cluster into the gap so that
     * lookups never need tombstones. */
    size_t hole = s, j = s;
    for (;;) {
        j = (j + 1) & t->mask;
        uint64_t p = t->index[j];
        if (p == 0)
            break;
        size_t home = t->entries[POS(p) - 1].hash & t->mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            t->index[hole] = p;
            hole = j;
        }
    }
    t->index[hole] = 0;

    ud__entry *e = &t->entries[pos - 1];
    if (owns_block(e))
        free(e->kv);
    t->bytes -= ud__entry_bytes(e->klen, e->vlen);
    e->kv = NULL;
    e->flags = UD__ENTRY_DELETED;
    t->count--;
    t->mutations++;
    while (t->used > 0 && (t->entries[t->used - 1].flags & UD__ENTRY_DELETED))
        t->used--;
    if (t->count == 0)
        t->used = 0;
    return 0;
}

ud__entry *ud__table_last(const ud__table *t) {
    /* Trailing holes are trimmed on deletion, so the last used entry is live. */
    return t->used ? &t->entries[t->used - 1] : NULL;
}
