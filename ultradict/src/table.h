/*
 * table.h - the private, insertion-ordered hash table that holds a process's copy of a dict.
 *
 * Entries live in an array in insertion order (so iteration and popitem follow Python's dict);
 * an open-addressing index of entry positions, with linear probing and backward-shift deletion,
 * finds them. Each index slot also keeps the upper half of the entry's hash, so a probe that
 * passes a different key costs no access to the entry array (at most 2^32 - 2 entries).
 *
 * An entry is one 64-byte cache line (the array is aligned to 64): a key and value of up to
 * UD__INLINE_BYTES together live inside it (UD__ENTRY_INLINE), so a lookup of a small item
 * touches two lines, its index slot and its entry, as a lean table of pointers does. Larger
 * entries own one allocation holding the key followed by the value, except entries built by a
 * dump load, which borrow their bytes from one arena owned by the table. `kv` always points at
 * the bytes; for an inline entry the table points it again whenever it moves the entry.
 */
#ifndef UD_TABLE_H
#define UD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
    UD__ENTRY_DELETED = 1u,  /* a hole left by a deletion, skipped by iteration */
    UD__ENTRY_BORROWED = 2u, /* kv points into the table's arena, not its own allocation */
    UD__ENTRY_INLINE = 4u,   /* kv points at inl, inside the entry */
};

/* Key and value bytes an entry holds inside itself. */
#define UD__INLINE_BYTES 24

typedef struct ud__entry {
    uint64_t hash;
    char *kv; /* klen key bytes, then vlen value bytes (room for vcap) */
    size_t vlen;
    size_t vcap;
    uint32_t klen;  /* at most UD_KEY_MAX */
    uint16_t type;  /* UD_TYPE_BYTES or UD_TYPE_DICT */
    uint16_t flags; /* UD__ENTRY_* */
    char inl[UD__INLINE_BYTES];
} ud__entry;

typedef struct ud__table {
    ud__entry *entries;
    size_t used;        /* entries[0..used) are live or holes */
    size_t cap;         /* allocated entries */
    size_t count;       /* live entries */
    size_t bytes;       /* what the live entries take as dump items: header, key and value each */
    uint64_t *index;    /* slot -> (hash >> 32) << 32 | (entry position + 1); 0 is an empty slot */
    size_t mask;        /* index size - 1 (a power of two), or 0 before the first insert */
    uint64_t mutations; /* bumped by every change; iterators compare it */
    char *arena;        /* the block that borrowed entries point into */
    size_t arena_cap;
} ud__table;

/* Bytes an entry takes in a dump or snapshot (see ud__item_hdr in layout.h). */
static inline size_t ud__entry_bytes(size_t klen, size_t vlen) {
    return 16 + klen + vlen;
}

static inline const char *ud__entry_val(const ud__entry *e) {
    return e->kv + e->klen;
}

/* Makes an empty table; no allocation until the first insert. */
void ud__table_init(ud__table *t);
/* Frees every entry, the index and the arena. The table is empty and reusable afterwards. */
void ud__table_free(ud__table *t);
/* Removes every entry (keeps nothing allocated). */
void ud__table_clear(ud__table *t);
/* Exchanges two tables (each keeps counting its own mutations). */
void ud__table_swap(ud__table *a, ud__table *b);
/*
 * Empties the table but keeps its entry array, index and arena allocated, so that the next
 * build of a table of similar size touches memory that is already mapped instead of faulting
 * in fresh pages (the dominant cost of loading a large dump).
 */
void ud__table_recycle(ud__table *t);
/* Makes the arena at least `len` bytes (its old contents are lost) and returns it. */
char *ud__table_arena(ud__table *t, size_t len);
/* Reserves room for `n` entries in total. Returns 0 or -ENOMEM. */
int ud__table_reserve(ud__table *t, size_t n);

#define UD__TAG(hash) ((hash)&0xffffffff00000000ull)
#define UD__POS(slot) ((size_t)((slot)&0xffffffffu))

/* Whether e holds key (whose hash is `hash`). memcmp() with a length of zero may still not be
 * handed NULL. */
static inline bool ud__entry_is(const ud__entry *e, const void *key, size_t klen, uint64_t hash) {
    return e->hash == hash && e->klen == klen && (klen == 0 || memcmp(e->kv, key, klen) == 0);
}

/* The 8 bytes at p as a word in the machine's order (only ever compared for equality). */
static inline uint64_t ud__word(const char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* ud__table_find() of a key of any length, out of line. */
ud__entry *ud__table_find_any(const ud__table *t, const void *key, size_t klen, uint64_t hash);

/*
 * The live entry for key, or NULL. The pointer is valid until the next change of the table.
 * A key of 8 to 16 bytes - the common case, and most of a get - is found in line: its first and
 * last 8 bytes are read once, and a slot whose 32-bit tag matches is checked against them with
 * two loads from the entry (a key equal in length and in both words is equal).
 */
__attribute__((always_inline)) static inline ud__entry *
ud__table_find(const ud__table *t, const void *key, size_t klen, uint64_t hash) {
    if (klen - 8 > 8)
        return ud__table_find_any(t, key, klen, hash);
    const char *k = key;
    uint64_t k0 = ud__word(k), k1 = ud__word(k + klen - 8);
    for (size_t s = hash & t->mask; t->mask; s = (s + 1) & t->mask) {
        uint64_t slot = t->index[s];
        if (slot == 0)
            return NULL;
        if (UD__TAG(slot) == UD__TAG(hash)) {
            ud__entry *e = &t->entries[UD__POS(slot) - 1];
            if (e->klen == klen && ud__word(e->kv) == k0 && ud__word(e->kv + klen - 8) == k1)
                return e;
        }
    }
    return NULL;
}

/*
 * Inserts key with a copy of val, or replaces the value of an existing key in place (keeping its
 * position in the order, as Python does). Returns 0 or -ENOMEM (the table is unchanged then).
 */
int ud__table_put(ud__table *t, const void *key, size_t klen, uint64_t hash, const void *val,
                  size_t vlen, uint32_t type);
/*
 * Appends a new entry whose key and value bytes live at `kv` inside t->arena (set by the caller).
 * The key must not be present yet: returns UD_ECORRUPT on a duplicate, -ENOMEM, or 0.
 */
int ud__table_put_borrowed(ud__table *t, char *kv, size_t klen, size_t vlen, uint64_t hash,
                           uint32_t type);
/* Removes key. Returns 0 or UD_ENOTFOUND. */
int ud__table_del(ud__table *t, const void *key, size_t klen, uint64_t hash);
/* Hints the cache that `hash` is about to be looked up. */
static inline void ud__table_prefetch(const ud__table *t, uint64_t hash) {
    if (t->mask)
        __builtin_prefetch(&t->index[hash & t->mask]);
}
/* The most recently inserted live entry, or NULL when empty. */
ud__entry *ud__table_last(const ud__table *t);

#endif /* UD_TABLE_H */
