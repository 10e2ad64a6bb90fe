/*
 * py_mapping.c - the mapping protocol of Core: the cache of decoded values, [] and del,
 * len and in, and the dict methods (iteration is in py_iter.c).
 */
#include "py_ultradict.h"

#include <stdlib.h>

void pyud_cache_drop(Core *self) {
    Py_CLEAR(self->last_key);
    Py_CLEAR(self->last_val);
    if (self->cache)
        PyDict_Clear(self->cache);
}

static inline void cache_check(Core *self) {
    uint64_t pos = ud_change_position(self->d);
    if (pos != self->cache_pos) {
        pyud_cache_drop(self);
        self->cache_pos = pos;
    }
}

/* Remembers the latest hit, so that reading the same key object again (a loop over one key, a
 * small int, an interned string) skips even the dict lookup. */
static inline void cache_remember(Core *self, PyObject *key, PyObject *v) {
    Py_INCREF(key);
    Py_INCREF(v);
    Py_XSETREF(self->last_key, key);
    Py_XSETREF(self->last_val, v);
}

void pyud_memo_free(pyud_memo *m) {
    Py_CLEAR(m->obj);
    ud_buf_free(&m->enc);
}

/* Lends the memo's buffer holding o's encoding (encoding o now unless the memo holds o already):
 * 1 and *out set; 0 if the memo is lent out or o is not of a memo type; -1 with an exception. */
static inline int memo_take(Core *self, pyud_memo *m, PyObject *o, bool value, ud_buf **out) {
    /* The hit first: the memo only ever holds an object of a memo type. */
    if (o == m->obj && !m->busy) {
        m->busy = true;
        *out = &m->enc;
        return 1;
    }
    if (m->busy || !(PyLong_CheckExact(o) || PyUnicode_CheckExact(o) || PyBytes_CheckExact(o)))
        return 0;
    if (o != m->obj) {
        Py_CLEAR(m->obj);
        m->enc.len = 0;
        if (value ? pyud_encode_value(self, &m->enc, o) : pyud_encode_key(&m->enc, o))
            return -1;
        Py_INCREF(o);
        m->obj = o;
    }
    m->busy = true;
    *out = &m->enc;
    return 1;
}

/* The key object encoded: the key memo's buffer, or a scratch buffer (see pyud_scratch_get);
 * NULL with an exception set if it cannot be encoded. Give it back with key_put(). */
static ud_buf *scratch_key(Core *self, PyObject *key, ud_buf *local) {
    ud_buf *k = NULL;
    int m = memo_take(self, &self->key_memo, key, false, &k);
    if (m)
        return m > 0 ? k : NULL;
    k = pyud_scratch_get(self, SCRATCH_KEY, local);
    if (pyud_encode_key(k, key) == 0)
        return k;
    pyud_scratch_put(self, SCRATCH_KEY, k);
    return NULL;
}

static void key_put(Core *self, ud_buf *k) {
    if (k == &self->key_memo.enc)
        self->key_memo.busy = false;
    else
        pyud_scratch_put(self, SCRATCH_KEY, k);
}

/* Writes v under the encoded key k: an exact int, str or bytes through the value memo with one
 * ud_set(), anything else through pyud_write_value (nested dicts, the serializer). */
static int write_value(Core *self, const ud_buf *k, PyObject *v) {
    ud_buf *vb = NULL;
    int m = self->plain_pickle ? memo_take(self, &self->val_memo, v, true, &vb) : 0;
    if (m == 0)
        return pyud_write_value(self, self->d, self->recurse, k, v);
    if (m < 0)
        return -1;
    int rc = ud_set(self->d, k->data, k->len, vb->data, vb->len);
    self->val_memo.busy = false;
    if (rc) {
        pyud_raise(rc);
        return -1;
    }
    return 0;
}

/* Looks key up: a new reference, or NULL with KeyError (if `missing_ok` is false) or without an
 * exception set (if true). The cache is filled on the way. */
static PyObject *lookup(Core *self, PyObject *key, bool missing_ok) {
    if (pyud_check_open(self))
        return NULL;
    cache_check(self);
    if (key == self->last_key) {
        Py_INCREF(self->last_val);
        return self->last_val;
    }
    PyObject *v = PyDict_GetItemWithError(self->cache, key);
    if (v) {
        cache_remember(self, key, v);
        Py_INCREF(v);
        return v;
    }
    if (PyErr_Occurred())
        return NULL;
    ud_buf kl, vl;
    ud_buf *k = scratch_key(self, key, &kl);
    if (!k)
        return NULL;
    ud_buf *val = pyud_scratch_get(self, SCRATCH_VAL, &vl);
    int rc = ud_get(self->d, k->data, k->len, val);
    if (rc == 0) {
        /* The decoder may run Python code that uses this dict: the buffers stay marked busy
         * meanwhile, so such a nested call gets buffers of its own. */
        v = pyud_decode_value(self, val->data, val->len);
    } else if (rc == UD_EWRONGTYPE)
        v = pyud_child_for(self, k);
    else if (rc == UD_ENOTFOUND) {
        if (!missing_ok)
            PyErr_SetObject(PyExc_KeyError, key);
    } else
        pyud_raise(rc);
    pyud_scratch_put(self, SCRATCH_VAL, val);
    key_put(self, k);
    /* The value is at least as new as cache_pos, which was read first: if the dict moved in
     * between, the next lookup sees a new position and drops it. */
    if (v && PyDict_SetItem(self->cache, key, v))
        Py_CLEAR(v);
    if (v)
        cache_remember(self, key, v);
    return v;
}

PyObject *core_subscript(PyObject *op, PyObject *key) {
    return lookup((Core *)op, key, false);
}

/* A key and value whose encoding runs no Python code and which decode back to an equal object
 * of the same type, so that the written object itself can stand in the cache. */
static bool write_through(Core *self, PyObject *key, PyObject *v) {
    if (!self->plain_pickle)
        return false;
    if (!PyUnicode_CheckExact(key) && !PyLong_CheckExact(key) && !PyBytes_CheckExact(key))
        return false;
    return PyLong_CheckExact(v) || PyUnicode_CheckExact(v) || PyBytes_CheckExact(v) ||
           PyFloat_CheckExact(v) || PyBool_Check(v) || v == Py_None;
}

/* Keeps the cache across a write that is known to be the only change since the cache was
 * valid: the handle holds the lock (no other process can write) and the position had not moved
 * before the write. `d['n'] += 1` inside `with d.lock:` then reads from the cache instead of
 * calling ud_get() again. */
static void cache_written(Core *self, PyObject *key, PyObject *v) {
    uint64_t pos = ud_change_position(self->d);
    if (PyDict_SetItem(self->cache, key, v)) {
        PyErr_Clear(); /* the write stands; the position moved, so the cache is dropped */
        return;
    }
    self->cache_pos = pos;
    cache_remember(self, key, v);
}

/*
 * The write of a loop over one key and one value: both encodings in their memos already, so
 * nothing of the write runs Python code between the lock and the unlock, and the lock's
 * bookkeeping for close() (pyud_lock_wait's levels) is not needed - no other thread can run
 * until the unlock. Returns 1 if it wrote (*r: 0, or -1 with an exception set), 0 if the write
 * must take the general path: a memo miss, or the lock held by another thread or process (the
 * general path waits for it without the GIL). The hits are checked before anything is done.
 */
static int write_memo_hit(Core *self, PyObject *key, PyObject *v, int *r) {
    static const ud_lock_options once = {.nonblock = true};
    pyud_memo *km = &self->key_memo, *vm = &self->val_memo;
    if (key != km->obj || v != vm->obj || km->busy || vm->busy || !self->plain_pickle)
        return 0;
    /* Both memo objects are exact ints, strs or bytes: the write may stand in the cache
     * (write_through), if nothing else changed since the cache was filled. */
    bool held = pyud_lock_held_here(self);
    bool keep = held || ud_change_position(self->d) == self->cache_pos;
    if (!held) {
        int rc = ud_lock(self->d, &once);
        if (rc == UD_EBUSY)
            return 0;
        if (rc) {
            pyud_raise(rc);
            *r = -1;
            return 1;
        }
    }
    keep = keep && ud_change_position(self->d) == self->cache_pos;
    int rc = ud_set(self->d, km->enc.data, km->enc.len, vm->enc.data, vm->enc.len);
    if (rc == 0 && keep)
        cache_written(self, key, v);
    /* self->d again: a destructor run by the cache's update may have closed the dict. */
    if (!held)
        ud_unlock(self->d);
    *r = rc ? (pyud_raise(rc), -1) : 0;
    return 1;
}

int core_ass_subscript(PyObject *op, PyObject *key, PyObject *v) {
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return -1;
    int r;
    if (v && write_memo_hit(self, key, v, &r))
        return r;
    ud_buf kl;
    ud_buf *k = scratch_key(self, key, &kl);
    if (!k)
        return -1;
    /* Inside `with ultra.lock:` the lock is held already. */
    bool held = pyud_lock_held_here(self);
    /* Whether the written object can stand in the cache afterwards: only if nothing else changed
     * since the cache was filled, which is checked again under the lock. This first look is one
     * load (no hold of this thread to share yet), and a cache found stale here stays stale: it
     * turns the later, dearer look off for writes that follow no read. */
    bool keep = v && write_through(self, key, v) &&
                (held || ud_change_position(self->d) == self->cache_pos);
    /* Every write holds the lock before it calls the library, so that a wait for it lets go of
     * the GIL (see pyud_lock_wait); the write's own lock is then a re-entry. */
    if (!held && pyud_lock(self)) {
        key_put(self, k);
        return -1;
    }
    if (v) {
        /* Under the lock: the write is the only change if the position has not moved. */
        keep = keep && ud_change_position(self->d) == self->cache_pos;
        r = write_value(self, k, v);
        if (r == 0 && keep)
            cache_written(self, key, v);
    } else {
        int rc = ud_del(self->d, k->data, k->len);
        r = 0;
        if (rc == UD_ENOTFOUND) {
            PyErr_SetObject(PyExc_KeyError, key);
            r = -1;
        } else if (rc) {
            pyud_raise(rc);
            r = -1;
        }
    }
    if (!held)
        pyud_unlock(self);
    key_put(self, k);
    return r;
}

Py_ssize_t core_length(PyObject *op) {
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return -1;
    return (Py_ssize_t)ud_len(self->d);
}

int core_contains(PyObject *op, PyObject *key) {
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return -1;
    cache_check(self);
    if (PyDict_GetItemWithError(self->cache, key))
        return 1;
    if (PyErr_Occurred())
        return -1;
    ud_buf k = UD_BUF_INIT;
    if (pyud_encode_new_key(&k, key))
        return -1;
    int rc = ud_contains(self->d, k.data, k.len);
    ud_buf_free(&k);
    if (rc < 0) {
        pyud_raise(rc);
        return -1;
    }
    return rc;
}

/* ---- dict methods. ---- */

/* get(), pop() and setdefault() take a key and an optional default: -1 with TypeError else. */
static int key_and_default(const char *method, Py_ssize_t n) {
    if (n >= 1 && n <= 2)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes a key and an optional default", method);
    return -1;
}

PyObject *core_get(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    if (key_and_default("get", n))
        return NULL;
    PyObject *v = lookup((Core *)op, args[0], true);
    if (v || PyErr_Occurred())
        return v;
    PyObject *def = n == 2 ? args[1] : Py_None;
    Py_INCREF(def);
    return def;
}

/* The entry under an encoded key as a Python value, read under the lock; NULL without an
 * exception if absent. Nested dicts come back as plain dicts (they are being removed). */
static PyObject *take_value(Core *self, const ud_buf *k) {
    ud_buf v = UD_BUF_INIT;
    int rc = ud_get(self->d, k->data, k->len, &v);
    PyObject *r = NULL;
    if (rc == 0)
        r = pyud_decode_value(self, v.data, v.len);
    else if (rc == UD_EWRONGTYPE)
        r = pyud_entry_value(self, k, &v, UD_TYPE_DICT, true);
    else if (rc != UD_ENOTFOUND)
        pyud_raise(rc);
    ud_buf_free(&v);
    return r;
}

PyObject *core_pop(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    Core *self = (Core *)op;
    if (key_and_default("pop", n))
        return NULL;
    if (pyud_check_open(self))
        return NULL;
    ud_buf k = UD_BUF_INIT;
    if (pyud_encode_key(&k, args[0]) || pyud_lock(self)) {
        ud_buf_free(&k);
        return NULL;
    }
    PyObject *r = take_value(self, &k);
    if (r) {
        int rc = ud_del(self->d, k.data, k.len);
        if (rc) {
            Py_CLEAR(r);
            pyud_raise(rc);
        }
    }
    pyud_unlock(self);
    ud_buf_free(&k);
    if (r || PyErr_Occurred())
        return r;
    if (n == 2) {
        Py_INCREF(args[1]);
        return args[1];
    }
    PyErr_SetObject(PyExc_KeyError, args[0]);
    return NULL;
}

/* popitem() when the newest entry is a nested dict: found by a pass under the lock, since its
 * value is read as a child before it goes. */
static PyObject *popitem_nested(Core *self) {
    if (pyud_lock(self))
        return NULL;
    PyObject *r = NULL;
    ud_iter *it = NULL;
    ud_buf k = UD_BUF_INIT, last = UD_BUF_INIT;
    int rc = ud_iter_open(self->d, &it);
    bool found = false;
    while (rc == 0 && (rc = ud_iter_next(it, &k, NULL, NULL)) == 0) {
        ud_buf t = k;
        k = last;
        last = t;
        found = true;
    }
    ud_iter_close(it);
    if (rc != 0 && rc != UD_ENOTFOUND) {
        pyud_raise(rc);
    } else if (!found) {
        PyErr_SetString(PyExc_KeyError, "popitem(): dictionary is empty");
    } else {
        PyObject *key = pyud_decode_key(last.data, last.len);
        PyObject *val = key ? take_value(self, &last) : NULL;
        if (val && (rc = ud_del(self->d, last.data, last.len)) != 0)
            pyud_raise(rc);
        else if (val)
            r = PyTuple_Pack(2, key, val);
        Py_XDECREF(key);
        Py_XDECREF(val);
    }
    pyud_unlock(self);
    ud_buf_free(&k);
    ud_buf_free(&last);
    return r;
}

/* The newest entry, removed and returned by one ud_popitem(): O(1) whatever the size. */
PyObject *core_popitem(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    /* The lock first, as every write takes it: its wait lets go of the GIL (pyud_lock_wait). */
    if (pyud_check_open(self) || pyud_lock(self))
        return NULL;
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    int rc = ud_popitem(self->d, &k, &v);
    PyObject *r = NULL;
    if (rc == 0) {
        PyObject *key = pyud_decode_key(k.data, k.len);
        PyObject *val = key ? pyud_decode_value(self, v.data, v.len) : NULL;
        if (val)
            r = PyTuple_Pack(2, key, val);
        Py_XDECREF(key);
        Py_XDECREF(val);
    } else if (rc == UD_EWRONGTYPE) {
        r = popitem_nested(self);
    } else if (rc == UD_EEMPTY) {
        PyErr_SetString(PyExc_KeyError, "popitem(): dictionary is empty");
    } else {
        pyud_raise(rc);
    }
    pyud_unlock(self);
    ud_buf_free(&k);
    ud_buf_free(&v);
    return r;
}

PyObject *core_setdefault(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    Core *self = (Core *)op;
    if (key_and_default("setdefault", n))
        return NULL;
    PyObject *def = n == 2 ? args[1] : Py_None;
    if (pyud_check_open(self) || pyud_lock(self))
        return NULL;
    PyObject *r = lookup(self, args[0], true);
    if (!r && !PyErr_Occurred()) {
        if (core_ass_subscript(op, args[0], def) == 0)
            r = lookup(self, args[0], false);
    }
    pyud_unlock(self);
    return r;
}

PyObject *core_clear(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (pyud_check_open(self) || pyud_lock(self))
        return NULL;
    int rc = ud_clear(self->d);
    pyud_unlock(self);
    if (rc)
        return pyud_raise(rc);
    Py_RETURN_NONE;
}

/* _update(items): a list of (key, value) pairs, written as one record when no value is a
 * nested dict, else one by one under the lock. */
PyObject *core_update_items(PyObject *op, PyObject *seq) {
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "_update() needs a sequence of pairs");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    ud_item *items = n ? calloc((size_t)n, sizeof *items) : NULL;
    ud_buf *bufs = n ? calloc((size_t)n * 2, sizeof *bufs) : NULL;
    PyObject *ret = NULL;
    bool nested = false;
    if (n && (!items || !bufs)) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "_update() needs (key, value) pairs");
            goto out;
        }
        PyObject *v = PyTuple_GET_ITEM(pair, 1);
        if (PyDict_Check(v) && (self->recurse || PyObject_TypeCheck(v, &pyud_core_type)))
            nested = true;
        if (pyud_encode_key(&bufs[2 * i], PyTuple_GET_ITEM(pair, 0)))
            goto out;
        if (!nested && pyud_encode_value(self, &bufs[2 * i + 1], v))
            goto out;
        items[i] =
            (ud_item){bufs[2 * i].data, bufs[2 * i].len, bufs[2 * i + 1].data, bufs[2 * i + 1].len};
    }
    if (!nested) {
        if (pyud_lock(self))
            goto out;
        int rc = ud_update(self->d, items, (size_t)n);
        pyud_unlock(self);
        if (rc) {
            pyud_raise(rc);
            goto out;
        }
    } else {
        if (pyud_lock(self))
            goto out;
        int bad = 0;
        for (Py_ssize_t i = 0; i < n && !bad; i++)
            bad = pyud_write_value(self, self->d, self->recurse, &bufs[2 * i],
                                   PyTuple_GET_ITEM(PySequence_Fast_GET_ITEM(fast, i), 1));
        pyud_unlock(self);
        if (bad)
            goto out;
    }
    ret = Py_None;
    Py_INCREF(ret);
out:
    for (Py_ssize_t i = 0; bufs && i < 2 * n; i++)
        ud_buf_free(&bufs[i]);
    free(bufs);
    free(items);
    Py_DECREF(fast);
    return ret;
}

PyObject *core_incr(PyObject *op, PyObject *args) {
    Core *self = (Core *)op;
    PyObject *key;
    long long by = 1;
    if (!PyArg_ParseTuple(args, "O|L:incr", &key, &by) || pyud_check_open(self))
        return NULL;
    if (!self->plain_pickle) {
        PyErr_SetString(PyExc_TypeError,
                        "incr() needs the default serializer (ints stored as decimal)");
        return NULL;
    }
    ud_buf k = UD_BUF_INIT;
    if (pyud_encode_new_key(&k, key))
        return NULL;
    if (pyud_lock(self)) {
        ud_buf_free(&k);
        return NULL;
    }
    int64_t result = 0;
    int rc = ud_incr(self->d, k.data, k.len, by, &result);
    pyud_unlock(self);
    ud_buf_free(&k);
    if (rc == UD_ENOTNUM) {
        PyErr_SetString(PyExc_TypeError, "incr(): the value is not an int");
        return NULL;
    }
    if (rc == UD_EOVERFLOW) {
        PyErr_SetString(PyExc_OverflowError, "incr(): the sum does not fit in 64 bits");
        return NULL;
    }
    if (rc)
        return pyud_raise(rc);
    return PyLong_FromLongLong(result);
}
