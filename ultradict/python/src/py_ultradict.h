/*
 * py_ultradict.h - what the files of the UltraDict module's C core share: the Core object, the
 * key and value codec, errors, children, and the entry points the type's tables name.
 *
 * Files: _ultradict.c (the module: init, module functions, errors), py_codec.c (canonical keys,
 * values, scratch buffers), py_keyform.c (which bytes are the codec's own: plain C, fuzzed),
 * py_pickle.c (str and bytes values without calling pickle), py_children.c (nested dicts),
 * py_mapping.c (the mapping protocol, iteration, dict methods), py_lock.c (the lock methods and
 * the Lock object), py_type.c (opening, dumps and status, the Core type). Everything here is
 * hidden (-fvisibility=hidden):
 * the module's one exported symbol is PyInit__ultradict.
 */
#ifndef PY_ULTRADICT_H
#define PY_ULTRADICT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>

#include "ultradict.h"

/* The encoding of the last key (or value) object used, kept for its next use: a loop over one
 * key encodes it once. Only exact int, str and bytes objects, whose encoding runs no Python
 * code and never changes; `obj` is a strong reference, so its identity cannot be reused. */
typedef struct {
    PyObject *obj;
    ud_buf enc;
    bool busy; /* lent out; a nested use encodes into a scratch buffer instead */
} pyud_memo;

typedef struct {
    PyDictObject base;
    ud_dict *d;
    PyObject *cache;    /* key object -> decoded value (or child object) */
    uint64_t cache_pos; /* change position the cache is valid for */
    PyObject *children; /* child name -> child object */
    PyObject *dumps, *loads;
    bool plain_pickle; /* the default serializer: ints go as decimal ASCII */
    bool is_child;
    bool recurse;
    bool spin;                     /* UD_LOCK_SPIN: the original's shared_lock */
    PyObject *last_key, *last_val; /* the latest cache hit, checked by identity first */
    ud_buf scratch[2];             /* reused key and value buffers (see scratch_get) */
    bool scratch_busy[2];
    int lock_waiters;          /* threads waiting for the lock without the GIL (pyud_lock_wait) */
    int lock_levels;           /* levels of the lock held through this object, by lock_thread */
    unsigned long lock_thread; /* PyThread_get_thread_ident() of the holder */
    pyud_memo key_memo, val_memo; /* see pyud_memo (py_mapping.c) */
    PyObject *lock_obj;           /* the `lock` property's object, made once (py_lock.c) */
    PyObject *lock_bound[2];      /* its __enter__ and __exit__, bound once (py_lock.c) */
} Core;

enum { SCRATCH_KEY = 0, SCRATCH_VAL = 1 };

extern PyTypeObject pyud_core_type, pyud_lock_type;
extern PyObject *pyud_exc_mod; /* UltraDict.Exceptions */
extern PyObject *pyud_pickle_dumps, *pyud_pickle_loads;

/* Errors (_ultradict.c). pyud_exc: a new reference to the exception class `name` of
 * UltraDict.Exceptions (RuntimeError if missing); pyud_raise: sets the exception for a
 * libultradict code and returns NULL; pyud_check_open: -1 with AlreadyClosed if closed;
 * pyud_rc_none: None for 0, else pyud_raise(rc). */
PyObject *pyud_exc(const char *name);
PyObject *pyud_raise(int rc);
int pyud_check_open(Core *self);
PyObject *pyud_rc_none(int rc);

/* Scratch buffers and the codec (py_codec.c). Encoders append to b and return 0, or -1 with
 * an exception set; decoders return a new reference or NULL with an exception set. */
ud_buf *pyud_scratch_get(Core *self, int which, ud_buf *local);
void pyud_scratch_put(Core *self, int which, ud_buf *b);
int pyud_encode_key(ud_buf *b, PyObject *k);
int pyud_encode_new_key(ud_buf *b, PyObject *k);
PyObject *pyud_decode_key(const char *p, size_t n);
int pyud_encode_value(Core *self, ud_buf *b, PyObject *v);
PyObject *pyud_decode_value(Core *self, const char *p, size_t n);

/* str and bytes values with the default serializer, as pickle.dumps() writes them
 * (py_pickle.c). pyud_fast_dumps: 1 if written into b, 0 if v is not one of them (b untouched),
 * -1 with an exception set; pyud_fast_loads: a new reference, or NULL if the bytes are not that
 * exact shape (an exception set only on a memory error). */
int pyud_fast_dumps(ud_buf *b, PyObject *v);
PyObject *pyud_fast_loads(const char *p, size_t n);

/* Nested dicts (py_children.c). */
PyObject *pyud_child_for(Core *self, const ud_buf *k);
int pyud_write_value(Core *self, ud_dict *d, bool recurse, const ud_buf *k, PyObject *v);
void pyud_close_children(Core *self);

/* The mapping protocol and dict methods (py_mapping.c). pyud_memo_free: drops a memo's object
 * and memory (at dealloc). */
void pyud_cache_drop(Core *self);
void pyud_memo_free(pyud_memo *m);
PyObject *pyud_to_dict(Core *self);
/* An entry's value as Python (py_iter.c): a nested dict as its Core, or as a plain dict when
 * `plain`; a new reference, or NULL with an exception. */
PyObject *pyud_entry_value(Core *self, const ud_buf *k, const ud_buf *v, int type, bool plain);
PyObject *core_subscript(PyObject *op, PyObject *key);
int core_ass_subscript(PyObject *op, PyObject *key, PyObject *v);
Py_ssize_t core_length(PyObject *op);
int core_contains(PyObject *op, PyObject *key);
PyObject *core_iter(PyObject *op);
PyObject *core_keys(PyObject *op, PyObject *unused);
PyObject *core_values(PyObject *op, PyObject *unused);
PyObject *core_items(PyObject *op, PyObject *unused);
PyObject *core_to_dict(PyObject *op, PyObject *unused);
PyObject *core_get(PyObject *op, PyObject *const *args, Py_ssize_t n);
PyObject *core_pop(PyObject *op, PyObject *const *args, Py_ssize_t n);
PyObject *core_popitem(PyObject *op, PyObject *unused);
PyObject *core_setdefault(PyObject *op, PyObject *const *args, Py_ssize_t n);
PyObject *core_clear(PyObject *op, PyObject *unused);
PyObject *core_update_items(PyObject *op, PyObject *seq);
PyObject *core_incr(PyObject *op, PyObject *args);

/* Locks (py_lock.c). */
PyObject *core_lock_acquire(PyObject *op, PyObject *args, PyObject *kw);
PyObject *core_lock_release(PyObject *op, PyObject *unused);
PyObject *core_lock_holder(PyObject *op, PyObject *unused);
PyObject *core_lock_steal(PyObject *op, PyObject *args);
PyObject *core_get_lock(PyObject *op, void *unused);
/* Core's tp_finalize: a lock object that outlives its dict takes a reference to it. */
void pyud_lock_finalize(Core *self);
PyObject *pyud_set_lock_classes(PyObject *m, PyObject *args);
/* After PyType_Ready(&pyud_lock_type): __enter__ and __exit__ bound once per dict. 0 or -1. */
int pyud_lock_type_init(void);
/* Drops the dict's lock object and its bound methods (dealloc, tp_clear). */
void pyud_lock_drop(Core *self);
/* pyud_lock_wait() failed with a Python exception set (a signal handler's, e.g. Ctrl-C). */
#define PYUD_LOCK_EXC INT_MIN
/*
 * Takes the lock of self as `o` asks for the calling thread, without the GIL while it waits (a
 * thread of this process may hold the lock and need the GIL to release it), in interruptible
 * slices of at most 100 ms between which the signal handlers run. Returns 0, a ud_lock() code,
 * or PYUD_LOCK_EXC.
 */
int pyud_lock_wait(Core *self, const ud_lock_options *o);
/* pyud_lock_wait() blocking without limit: 0, or -1 with an exception set. */
int pyud_lock(Core *self);
/* Whether the calling thread holds the lock through self (taken by pyud_lock_wait): a write's
 * own lock is then a re-entry that cannot wait. */
static inline bool pyud_lock_held_here(const Core *self) {
    return self->lock_levels > 0 && self->lock_thread == PyThread_get_thread_ident();
}
/* Releases one level taken by pyud_lock_wait() (in the same thread). */
void pyud_unlock(Core *self);
/* 0 if close() may go ahead: no other thread holds the lock through self or waits for it;
 * else -1 with RuntimeError set. */
int pyud_check_close(Core *self);

#endif
