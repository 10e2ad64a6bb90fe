/* internal.h - the handle and the functions shared between the library's files. */
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

    int lock_depth;
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

/* ---- error.c ---- */
/* Sets b->len to n after making room for n + 1 bytes (data[n] = NUL). 0 or -ENOMEM. */
int ud__buf_reserve(ud_buf *b, size_t n);
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

/* ---- shm.c ---- */
/* 0 if `name` is a valid user dict name, else UD_ENAME. */
int ud__validate_name(const char *name);
/* Writes "/<base><suffix>" into out (size UD__SEG_NAME_MAX + 2). UD_ENAME if too long. */
int ud__seg_path(char *out, const char *base, const char *suffix);
/* Creates a new segment exclusively, with `mode`, sized `size`, and maps it. */
int ud__seg_create(ud__seg *s, const char *base, const char *suffix, unsigned mode, size_t size);
/* Opens an existing segment and maps all of it (read-write). */
int ud__seg_open(ud__seg *s, const char *base, const char *suffix);
/* Grows the segment's file to at least `size` bytes and remaps it. */
int ud__seg_grow(ud__seg *s, size_t size);
/* Remaps the segment if its file has grown past the mapping. */
int ud__seg_refresh(ud__seg *s);
void ud__seg_close(ud__seg *s);
/* Unlinks one segment; 0, or -ENOENT if it was not there. */
int ud__seg_unlink(const char *base, const char *suffix);
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

/* ---- lock.c ---- */
int ud__lock_init(ud__control *c);
/* Takes the lock for an internal operation (blocking, re-entrant). */
int ud__lock(ud_dict *d);
void ud__unlock(ud_dict *d);

/* ---- stream.c ---- */
int ud__sync_slow(ud_dict *d);
/* Brings the local copy up to date. The common case - nothing new - is one load of one word. */
static inline int ud__sync(ud_dict *d) {
    if (atomic_load_explicit(&d->ctl->end, memory_order_acquire) == d->pos)
        return 0;
    return ud__sync_slow(d);
}
/* Encodes one item at dst; returns the bytes written. */
size_t ud__item_encode(char *dst, int kind, int type, const void *key, size_t klen, const void *val,
                       size_t vlen);
/* Bytes one item takes. */
static inline size_t ud__item_size(size_t klen, size_t vlen) {
    return sizeof(ud__item_hdr) + klen + vlen;
}
/* Decodes the item at p (with `avail` bytes left). 0 or UD_ECORRUPT. */
int ud__item_decode(const char *p, size_t avail, ud__item_hdr *h, const char **key,
                    const char **val);

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
/* ud__rec_commit() for a record of one item, applied from the caller's copy of it. */
int ud__rec_commit_item(ud_dict *d, ud__rec *rec, int kind, int type, const void *key, size_t klen,
                        const void *val, size_t vlen);
/* Applies a validated record body to the local table. */
int ud__apply_items(ud_dict *d, const char *body, size_t len, uint32_t flags, uint32_t nitems);

/* ---- dump.c ---- */
/* Writes a full dump of the (synchronised) local copy; caller holds the lock. */
int ud__dump_locked(ud_dict *d);
/* Loads the newest dump into the local copy; sets d->pos to its position. */
int ud__load_dump(ud_dict *d);
/* Encodes every live entry of t at dst (t->bytes bytes). */
void ud__table_encode(const ud__table *t, char *dst);
/* Builds the (empty) table `out` from the `len` payload bytes in its arena. */
int ud__table_decode(ud__table *out, size_t len, uint64_t count);

/* ---- recurse.c ---- */
/* Unlinks the nested dict whose value (its name) is `val` when `type` says it is a dict. */
void ud__drop_child(ud_dict *d, const char *val, size_t vlen, uint32_t type);
/* Creates a new nested child of d with a fresh random name (written to name). */
int ud__create_child(ud_dict *d, char *name, ud_dict **out);
/* Opens a dict by its full (internal) name, inheriting options from d. */
int ud__open_child(ud_dict *d, const char *name, size_t nlen, int create, ud_dict **out);

/* ---- ops.c ---- */
/* Writes one record with one item; caller holds the lock and has synchronised. */
int ud__write_item(ud_dict *d, int kind, int type, const void *key, size_t klen, const void *val,
                   size_t vlen);

/* ---- status.c ---- */
/* Attached processes still alive. */
unsigned ud__count_attached(const ud__control *c);

/* ---- dict.c ---- */
/* 0 if `name` is a user name or a nested child's name (NAME(.c<hex>)*), else UD_ENAME. */
int ud__validate_full_name(const char *name);
/* Records this process in the dict's table of attached processes (for `ultradict ls`). */
void ud__register_attach(ud_dict *d);
int ud__open_internal(const ud_options *opts, const char *full_name, uint32_t flags, ud_dict **out);

#define UD__CHECK_HANDLE(d)                                                                        \
    do {                                                                                           \
        if (!(d))                                                                                  \
            return UD_EINVAL;                                                                      \
    } while (0)

/*
 * A slowdown for measuring the regression gate, never in a normal build: the CMake options
 * UD_INJECT_DELAY_GET and UD_INJECT_DELAY_LOCK (0, the default, compiles nothing) add a spin of
 * that many loop iterations to every ud_get and to every hold of the dict's lock (writes and
 * incr). See scripts/gate-eval.
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
/* One dependent add per iteration: the empty asm makes x opaque, so the compiler can neither
 * drop the adds nor fold them, even when it unrolls the loop (an empty asm alone would compile
 * to nothing once unrolled). About one cycle and exactly one instruction per iteration. */
static inline void ud__spin(unsigned n) {
    unsigned x = 0;
    for (unsigned i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(x));
        x++;
    }
}

#endif /* UD_INTERNAL_H */
