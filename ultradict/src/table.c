/* table.c - see table.h. */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ultradict.h"

void ud__table_init(ud__table *t) {
    memset(t, 0, sizeof *t);
}

static void free_entries(ud__table *t) {
    for (size_t i = 0; i < t->used; i++) {
        ud__entry *e = &t->entries[i];
        if (!(e->flags & (UD__ENTRY_DELETED | UD__ENTRY_BORROWED)))
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

#define TAG(hash) ((hash)&0xffffffff00000000ull)
#define POS(slot) ((size_t)((slot)&0xffffffffu))
#define MAX_ENTRIES 0xfffffffeu

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
    return rebuild_index(t, t->mask + 1);
}

static size_t index_slots_for(size_t n) {
    size_t slots = 8;
    while (slots < n + n / 2 + 1) /* keep the load factor under 2/3 */
        slots <<= 1;
    return slots;
}

int ud__table_reserve(ud__table *t, size_t n) {
    if (n > MAX_ENTRIES)
        return -ENOMEM;
    if (n > t->cap) {
        ud__entry *e = realloc(t->entries, n * sizeof *e);
        if (!e)
            return -ENOMEM;
        t->entries = e;
        t->cap = n;
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
            ud__entry *e = realloc(t->entries, ncap * sizeof *e);
            if (!e)
                return -ENOMEM;
            t->entries = e;
            t->cap = ncap;
        }
    }
    if (t->mask == 0 || (t->count + 1) * 3 > (t->mask + 1) * 2)
        return rebuild_index(t, index_slots_for(t->count + 1 > 8 ? (t->count + 1) * 2 : 8));
    return 0;
}

/* memcmp() with a length of zero may still not be handed NULL. */
static inline bool same_key(const ud__entry *e, const void *key, size_t klen, uint64_t hash) {
    return e->hash == hash && e->klen == klen && (klen == 0 || memcmp(e->kv, key, klen) == 0);
}

ud__entry *ud__table_find(const ud__table *t, const void *key, size_t klen, uint64_t hash) {
    if (t->mask == 0)
        return NULL;
    size_t s = hash & t->mask;
    for (;;) {
        uint64_t slot = t->index[s];
        if (slot == 0)
            return NULL;
        if (TAG(slot) == TAG(hash)) {
            ud__entry *e = &t->entries[POS(slot) - 1];
            if (same_key(e, key, klen, hash))
                return e;
        }
        s = (s + 1) & t->mask;
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
        if (!(e->flags & UD__ENTRY_BORROWED))
            free(e->kv);
        e->kv = kv;
        e->vcap = vcap;
        e->flags &= ~(uint32_t)UD__ENTRY_BORROWED;
    }
    t->bytes = t->bytes - e->vlen + vlen;
    e->vlen = vlen;
    e->type = type;
    t->mutations++;
    return 0;
}

int ud__table_put(ud__table *t, const void *key, size_t klen, uint64_t hash, const void *val,
                  size_t vlen, uint32_t type) {
    ud__entry *e = ud__table_find(t, key, klen, hash);
    if (e)
        return replace_value(t, e, val, vlen, type);
    size_t vcap = value_room(vlen);
    char *kv = kv_block(key, klen, val, vlen, vcap);
    if (!kv)
        return -ENOMEM;
    int rc = grow_for_append(t);
    if (rc) {
        free(kv);
        return rc;
    }
    size_t pos = t->used++;
    t->entries[pos] = (ud__entry){hash, kv, klen, vlen, vcap, type, 0};
    insert_index(t, pos, hash);
    t->count++;
    t->bytes += ud__entry_bytes(klen, vlen);
    t->mutations++;
    return 0;
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
            if (same_key(e, kv, klen, hash))
                return UD_ECORRUPT;
        }
    }
    size_t pos = t->used++;
    t->entries[pos] = (ud__entry){hash, kv, klen, vlen, vlen, type, UD__ENTRY_BORROWED};
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
        if (TAG(slot) == TAG(hash) && same_key(e, key, klen, hash))
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
    if (!(e->flags & UD__ENTRY_BORROWED))
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
