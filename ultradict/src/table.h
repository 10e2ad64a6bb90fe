/*
 * table.h - the private, insertion-ordered hash table that holds a process's copy of a dict.
 *
 * Entries live in an array in insertion order (so iteration and popitem follow Python's dict);
 * an open-addressing index of entry positions, with linear probing and backward-shift deletion,
 * finds them. Each index slot also keeps the upper half of the entry's hash, so a probe that
 * passes a different key costs no access to the entry array (at most 2^32 - 2 entries). Each entry
 * owns one allocation holding its key followed by its value, except entries built by a dump load,
 * which borrow their bytes from one arena owned by the table.
 */
#ifndef UD_TABLE_H
#define UD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    UD__ENTRY_DELETED = 1u,  /* a hole left by a deletion, skipped by iteration */
    UD__ENTRY_BORROWED = 2u, /* kv points into the table's arena, not its own allocation */
};

typedef struct ud__entry {
    uint64_t hash;
    char *kv; /* klen key bytes, then vlen value bytes (room for vcap) */
    size_t klen;
    size_t vlen;
    size_t vcap;
    uint32_t type; /* UD_TYPE_BYTES or UD_TYPE_DICT */
    uint32_t flags;
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

/* The live entry for key, or NULL. The pointer is valid until the next change of the table. */
ud__entry *ud__table_find(const ud__table *t, const void *key, size_t klen, uint64_t hash);
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
