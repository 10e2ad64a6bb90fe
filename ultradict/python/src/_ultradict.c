/*
 * _ultradict.c - the CPython core of the UltraDict module, over libultradict.
 *
 * `Core` is a subclass of dict (as the original UltraDict is, so it can stand in for an
 * object's __dict__) whose own dict storage stays empty: every mapping slot goes to the shared
 * dict. Reads are served from an in-process cache of decoded values, which is dropped when the
 * dict's change position (ud_change_position(), one atomic load) moves: a read of a key that
 * nothing changed costs one load and one Python dict lookup.
 *
 * Keys are encoded canonically, so that keys Python considers equal are one key: ints, bools
 * and integral floats share the decimal form ("i42"), other floats are 'f' + 8 bytes, str is
 * 's' + UTF-8, bytes 'b' + raw, None 'n', tuples 't' + length-prefixed elements; any other key
 * is 'p' + pickle (equal only if the pickles are). Values are pickled (or go through the
 * serializer); with the default pickle, ints are stored as decimal ASCII, which the library's
 * ud_incr() and the CLI understand, so `incr()` is an atomic += on them.
 *
 * Nested dicts (recurse) are children created filled before they are published, and each
 * child keeps one open handle, cached by name, instead of being reopened on every access.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ultradict.h"

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
} Core;

/* The per-object buffers save two malloc/free pairs per operation. A nested use (a serializer
 * calling back into the same dict) gets a buffer of its own. */
static ud_buf *scratch_get(Core *self, int which, ud_buf *local) {
    if (!self->scratch_busy[which]) {
        self->scratch_busy[which] = true;
        self->scratch[which].len = 0;
        return &self->scratch[which];
    }
    *local = (ud_buf)UD_BUF_INIT;
    return local;
}

static void scratch_put(Core *self, int which, ud_buf *b) {
    if (b == &self->scratch[which]) {
        self->scratch_busy[which] = false;
        if (b->cap > 65536) { /* do not keep a huge value's buffer */
            ud_buf_free(b);
        }
    } else {
        ud_buf_free(b);
    }
}
enum { SCRATCH_KEY = 0, SCRATCH_VAL = 1 };

static PyTypeObject CoreType;
static PyObject *exc_mod; /* UltraDict.Exceptions */
static PyObject *pickle_dumps, *pickle_loads;

/* ---- Errors. ---- */

static PyObject *exc(const char *name) {
    PyObject *e = exc_mod ? PyObject_GetAttrString(exc_mod, name) : NULL;
    if (!e) {
        PyErr_Clear();
        Py_INCREF(PyExc_RuntimeError);
        return PyExc_RuntimeError;
    }
    return e;
}

static PyObject *raise_ud(int rc) {
    const char *cls = NULL;
    switch (rc) {
    case UD_EEXIST:
        cls = "AlreadyExists";
        break;
    case UD_ENOENT:
        cls = "CannotAttachSharedMemory";
        break;
    case UD_EMISMATCH:
        cls = "ParameterMismatch";
        break;
    case UD_EDUMPFULL:
        cls = "FullDumpMemoryFull";
        break;
    case UD_EBUSY:
    case UD_ETIMEDOUT:
        cls = "CannotAcquireLock";
        break;
    default:
        break;
    }
    if (rc == -ENOMEM)
        return PyErr_NoMemory();
    PyObject *e = cls ? exc(cls) : (Py_INCREF(PyExc_OSError), PyExc_OSError);
    if (cls)
        PyErr_Format(e, "%s (%s)", ud_strerror(rc), ud_errname(rc));
    else
        PyErr_Format(e, "UltraDict: %s (%s)", ud_strerror(rc), ud_errname(rc));
    Py_DECREF(e);
    return NULL;
}

static int check_open(Core *self) {
    if (self->d)
        return 0;
    PyObject *e = exc("AlreadyClosed");
    PyErr_SetString(e, "the UltraDict is closed");
    Py_DECREF(e);
    return -1;
}

/* ---- Canonical keys. ---- */

static int buf_add(ud_buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        void *q = realloc(b->data, cap);
        if (!q) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = q;
        b->cap = cap;
    }
    memcpy((char *)b->data + b->len, p, n);
    b->len += n;
    ((char *)b->data)[b->len] = '\0';
    return 0;
}

static int add_decimal(ud_buf *b, PyObject *num) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (!overflow) {
        /* By hand: snprintf() costs more than the rest of a small write. */
        char tmp[24], *p = tmp + sizeof tmp;
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        return buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
    }
    PyObject *s = PyObject_Str(num);
    if (!s)
        return -1;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    int rc = p ? buf_add(b, p, (size_t)n) : -1;
    Py_DECREF(s);
    return rc;
}

static int add_pickle(ud_buf *b, char tag, PyObject *obj) {
    PyObject *p = PyObject_CallOneArg(pickle_dumps, obj);
    if (!p)
        return -1;
    int rc = buf_add(b, &tag, 1) || buf_add(b, PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p));
    Py_DECREF(p);
    return rc ? -1 : 0;
}

static int encode_key(ud_buf *b, PyObject *k) {
    if (PyLong_Check(k)) /* bool included: True == 1 */
        return buf_add(b, "i", 1) || add_decimal(b, k) ? -1 : 0;
    if (PyUnicode_CheckExact(k) || PyUnicode_Check(k)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(k, &n);
        if (!p)
            return -1;
        return buf_add(b, "s", 1) || buf_add(b, p, (size_t)n) ? -1 : 0;
    }
    if (PyFloat_Check(k)) {
        double v = PyFloat_AS_DOUBLE(k);
        if (isfinite(v) && v == (double)(long long)v && v > -9.2e18 && v < 9.2e18) {
            char tmp[32];
            int n = snprintf(tmp, sizeof tmp, "i%lld", (long long)v);
            return buf_add(b, tmp, (size_t)n);
        }
        if (isfinite(v) && v == floor(v)) {
            PyObject *i = PyLong_FromDouble(v);
            if (!i)
                return -1;
            int rc = buf_add(b, "i", 1) || add_decimal(b, i) ? -1 : 0;
            Py_DECREF(i);
            return rc;
        }
        return buf_add(b, "f", 1) || buf_add(b, &v, sizeof v) ? -1 : 0;
    }
    if (PyBytes_Check(k))
        return buf_add(b, "b", 1) || buf_add(b, PyBytes_AS_STRING(k), (size_t)PyBytes_GET_SIZE(k))
                   ? -1
                   : 0;
    if (k == Py_None)
        return buf_add(b, "n", 1);
    if (PyTuple_Check(k)) {
        if (buf_add(b, "t", 1))
            return -1;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(k); i++) {
            size_t at = b->len;
            uint32_t n = 0;
            if (buf_add(b, &n, sizeof n) || encode_key(b, PyTuple_GET_ITEM(k, i)))
                return -1;
            n = (uint32_t)(b->len - at - sizeof n);
            memcpy((char *)b->data + at, &n, sizeof n);
        }
        return 0;
    }
    if (PyObject_Hash(k) == -1)
        return -1;
    return add_pickle(b, 'p', k);
}

static PyObject *decode_key(const char *p, size_t n) {
    if (n == 0)
        goto bad;
    switch (p[0]) {
    case 'i': {
        char tmp[64];
        if (n - 1 < sizeof tmp) {
            memcpy(tmp, p + 1, n - 1);
            tmp[n - 1] = '\0';
            return PyLong_FromString(tmp, NULL, 10);
        }
        PyObject *s = PyUnicode_FromStringAndSize(p + 1, (Py_ssize_t)(n - 1));
        PyObject *r = s ? PyLong_FromUnicodeObject(s, 10) : NULL;
        Py_XDECREF(s);
        return r;
    }
    case 's':
        return PyUnicode_DecodeUTF8(p + 1, (Py_ssize_t)(n - 1), "strict");
    case 'b':
        return PyBytes_FromStringAndSize(p + 1, (Py_ssize_t)(n - 1));
    case 'n':
        Py_RETURN_NONE;
    case 'f': {
        double v;
        if (n != 1 + sizeof v)
            goto bad;
        memcpy(&v, p + 1, sizeof v);
        return PyFloat_FromDouble(v);
    }
    case 't': {
        PyObject *items = PyList_New(0);
        if (!items)
            return NULL;
        size_t i = 1;
        while (i < n) {
            uint32_t len;
            if (n - i < sizeof len)
                goto bad_list;
            memcpy(&len, p + i, sizeof len);
            i += sizeof len;
            if (len > n - i)
                goto bad_list;
            PyObject *e = decode_key(p + i, len);
            if (!e || PyList_Append(items, e)) {
                Py_XDECREF(e);
                Py_DECREF(items);
                return NULL;
            }
            Py_DECREF(e);
            i += len;
        }
        PyObject *t = PyList_AsTuple(items);
        Py_DECREF(items);
        return t;
    bad_list:
        Py_DECREF(items);
        goto bad;
    }
    case 'p': {
        PyObject *b = PyBytes_FromStringAndSize(p + 1, (Py_ssize_t)(n - 1));
        PyObject *r = b ? PyObject_CallOneArg(pickle_loads, b) : NULL;
        Py_XDECREF(b);
        return r;
    }
    default:
        break;
    }
bad:
    /* A key written by another program (the CLI, C code): hand it back as bytes. */
    return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
}

/* ---- Values. ---- */

static int encode_value(Core *self, ud_buf *b, PyObject *v) {
    b->len = 0;
    if (self->plain_pickle && PyLong_CheckExact(v))
        return add_decimal(b, v);
    PyObject *p = PyObject_CallOneArg(self->dumps, v);
    if (!p)
        return -1;
    if (!PyBytes_Check(p)) {
        PyErr_SetString(PyExc_TypeError, "the serializer's dumps() must return bytes");
        Py_DECREF(p);
        return -1;
    }
    int rc = buf_add(b, PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p));
    Py_DECREF(p);
    return rc;
}

static PyObject *decode_value(Core *self, const char *p, size_t n) {
    if (self->plain_pickle && n > 0 && n < 40 && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9'))) {
        char tmp[48];
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        return PyLong_FromString(tmp, NULL, 10);
    }
    PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    if (!b)
        return NULL;
    PyObject *r = PyObject_CallOneArg(self->loads, b);
    Py_DECREF(b);
    return r;
}

/* ---- Children. ---- */

static PyObject *wrap_child(Core *parent, ud_dict *c) {
    PyObject *empty = PyTuple_New(0);
    if (!empty) {
        ud_close(c);
        return NULL;
    }
    PyTypeObject *tp = Py_TYPE(parent);
    Core *o = (Core *)tp->tp_new(tp, empty, NULL);
    Py_DECREF(empty);
    if (!o) {
        ud_close(c);
        return NULL;
    }
    o->d = c;
    o->cache = PyDict_New();
    o->children = PyDict_New();
    Py_INCREF(parent->dumps);
    o->dumps = parent->dumps;
    Py_INCREF(parent->loads);
    o->loads = parent->loads;
    o->plain_pickle = parent->plain_pickle;
    o->is_child = true;
    o->recurse = true;
    o->spin = parent->spin;
    o->cache_pos = ud_change_position(c) - 1;
    if (!o->cache || !o->children) {
        Py_DECREF(o);
        return NULL;
    }
    return (PyObject *)o;
}

/* The child object for the nested dict under the encoded key. */
static PyObject *child_for(Core *self, const ud_buf *k) {
    ud_buf name = UD_BUF_INIT;
    int rc = ud_child_name(self->d, k->data, k->len, &name);
    if (rc) {
        ud_buf_free(&name);
        return raise_ud(rc);
    }
    PyObject *pyname = PyUnicode_FromStringAndSize(name.data, (Py_ssize_t)name.len);
    if (!pyname) {
        ud_buf_free(&name);
        return NULL;
    }
    PyObject *c = PyDict_GetItemWithError(self->children, pyname);
    if (c) {
        Py_INCREF(c);
    } else if (!PyErr_Occurred()) {
        ud_dict *h = NULL;
        rc = ud_open_child(self->d, name.data, &h);
        if (rc) {
            raise_ud(rc);
        } else if ((c = wrap_child(self, h)) != NULL) {
            if (PyDict_Size(self->children) > 4096)
                PyDict_Clear(self->children);
            if (PyDict_SetItem(self->children, pyname, c))
                Py_CLEAR(c);
        }
    }
    Py_DECREF(pyname);
    ud_buf_free(&name);
    return c;
}

static int write_value(Core *self, ud_dict *d, bool recurse, const ud_buf *k, PyObject *v);

/* Creates a child of d holding the items of `src`, unpublished. */
static int build_child(Core *self, ud_dict *d, PyObject *src, ud_dict **out) {
    ud_dict *c = NULL;
    int rc = ud_child_create(d, &c);
    if (rc) {
        raise_ud(rc);
        return -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    ud_buf kb = UD_BUF_INIT;
    while (PyDict_Next(src, &pos, &k, &v)) {
        kb.len = 0;
        if (encode_key(&kb, k) || write_value(self, c, true, &kb, v)) {
            ud_buf_free(&kb);
            ud_close(c);
            return -1;
        }
    }
    ud_buf_free(&kb);
    *out = c;
    return 0;
}

static int write_value(Core *self, ud_dict *d, bool recurse, const ud_buf *k, PyObject *v) {
    int rc;
    if (PyDict_Check(v) && !PyObject_TypeCheck(v, &CoreType) && recurse) {
        ud_dict *c = NULL;
        if (build_child(self, d, v, &c))
            return -1;
        rc = ud_set_child(d, k->data, k->len, c);
        ud_close(c);
    } else if (PyObject_TypeCheck(v, &CoreType)) {
        /* Another UltraDict as a value: store a copy of its contents. */
        PyObject *copy = PyObject_CallMethod(v, "_to_dict", NULL);
        if (!copy)
            return -1;
        int r = write_value(self, d, recurse, k, copy);
        Py_DECREF(copy);
        return r;
    } else {
        ud_buf vl;
        ud_buf *vb = scratch_get(self, SCRATCH_VAL, &vl);
        if (encode_value(self, vb, v)) {
            scratch_put(self, SCRATCH_VAL, vb);
            return -1;
        }
        rc = ud_set(d, k->data, k->len, vb->data, vb->len);
        scratch_put(self, SCRATCH_VAL, vb);
    }
    if (rc) {
        raise_ud(rc);
        return -1;
    }
    return 0;
}

/* ---- The mapping protocol. ---- */

static void cache_drop(Core *self) {
    Py_CLEAR(self->last_key);
    Py_CLEAR(self->last_val);
    if (self->cache)
        PyDict_Clear(self->cache);
}

static inline void cache_check(Core *self) {
    uint64_t pos = ud_change_position(self->d);
    if (pos != self->cache_pos) {
        cache_drop(self);
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

/* Looks key up: a new reference, or NULL with KeyError (if `missing_ok` is false) or without an
 * exception set (if true). The cache is filled on the way. */
static PyObject *lookup(Core *self, PyObject *key, bool missing_ok) {
    if (check_open(self))
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
    ud_buf *k = scratch_get(self, SCRATCH_KEY, &kl);
    if (encode_key(k, key)) {
        scratch_put(self, SCRATCH_KEY, k);
        return NULL;
    }
    ud_buf *val = scratch_get(self, SCRATCH_VAL, &vl);
    int rc = ud_get(self->d, k->data, k->len, val);
    if (rc == 0) {
        /* The decoder may run Python code that uses this dict: the buffers stay marked busy
         * meanwhile, so such a nested call gets buffers of its own. */
        v = decode_value(self, val->data, val->len);
    } else if (rc == UD_EWRONGTYPE)
        v = child_for(self, k);
    else if (rc == UD_ENOTFOUND) {
        if (!missing_ok)
            PyErr_SetObject(PyExc_KeyError, key);
    } else
        raise_ud(rc);
    scratch_put(self, SCRATCH_VAL, val);
    scratch_put(self, SCRATCH_KEY, k);
    /* The value is at least as new as cache_pos, which was read first: if the dict moved in
     * between, the next lookup sees a new position and drops it. */
    if (v && PyDict_SetItem(self->cache, key, v))
        Py_CLEAR(v);
    if (v)
        cache_remember(self, key, v);
    return v;
}

static PyObject *core_subscript(PyObject *op, PyObject *key) {
    return lookup((Core *)op, key, false);
}

static int core_ass_subscript(PyObject *op, PyObject *key, PyObject *v) {
    Core *self = (Core *)op;
    if (check_open(self))
        return -1;
    ud_buf kl;
    ud_buf *k = scratch_get(self, SCRATCH_KEY, &kl);
    if (encode_key(k, key)) {
        scratch_put(self, SCRATCH_KEY, k);
        return -1;
    }
    int r;
    if (v) {
        r = write_value(self, self->d, self->recurse, k, v);
    } else {
        int rc = ud_del(self->d, k->data, k->len);
        r = 0;
        if (rc == UD_ENOTFOUND) {
            PyErr_SetObject(PyExc_KeyError, key);
            r = -1;
        } else if (rc) {
            raise_ud(rc);
            r = -1;
        }
    }
    scratch_put(self, SCRATCH_KEY, k);
    return r;
}

static Py_ssize_t core_length(PyObject *op) {
    Core *self = (Core *)op;
    if (check_open(self))
        return -1;
    return (Py_ssize_t)ud_len(self->d);
}

static int core_contains(PyObject *op, PyObject *key) {
    Core *self = (Core *)op;
    if (check_open(self))
        return -1;
    cache_check(self);
    if (PyDict_GetItemWithError(self->cache, key))
        return 1;
    if (PyErr_Occurred())
        return -1;
    ud_buf k = UD_BUF_INIT;
    if (encode_key(&k, key)) {
        ud_buf_free(&k);
        return -1;
    }
    int rc = ud_contains(self->d, k.data, k.len);
    ud_buf_free(&k);
    if (rc < 0) {
        raise_ud(rc);
        return -1;
    }
    return rc;
}

/* ---- Iteration: lists built from one consistent pass. ---- */

enum { WANT_KEYS = 1, WANT_VALUES = 2, WANT_ITEMS = 3, WANT_DICT = 4 };

static PyObject *to_dict(Core *self);

static PyObject *entry_value(Core *self, const ud_buf *k, const ud_buf *v, int type, bool plain) {
    if (type != UD_TYPE_DICT)
        return decode_value(self, v->data, v->len);
    PyObject *c = child_for(self, k);
    if (!c || !plain)
        return c;
    PyObject *d = to_dict((Core *)c);
    Py_DECREF(c);
    return d;
}

static PyObject *collect(Core *self, int want) {
    if (check_open(self))
        return NULL;
    ud_iter *it = NULL;
    int rc = ud_iter_open(self->d, &it);
    if (rc)
        return raise_ud(rc);
    PyObject *out = want == WANT_DICT ? PyDict_New() : PyList_New(0);
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    int type = 0;
    while (out && (rc = ud_iter_next(it, &k, &v, &type)) == 0) {
        PyObject *key = NULL, *val = NULL, *item = NULL;
        if (want != WANT_VALUES)
            key = decode_key(k.data, k.len);
        if (want != WANT_KEYS)
            val = entry_value(self, &k, &v, type, want == WANT_DICT);
        int bad = (want != WANT_VALUES && !key) || (want != WANT_KEYS && !val);
        if (!bad) {
            if (want == WANT_DICT)
                bad = PyDict_SetItem(out, key, val);
            else {
                item = want == WANT_KEYS     ? (Py_INCREF(key), key)
                       : want == WANT_VALUES ? (Py_INCREF(val), val)
                                             : PyTuple_Pack(2, key, val);
                bad = !item || PyList_Append(out, item);
            }
        }
        Py_XDECREF(key);
        Py_XDECREF(val);
        Py_XDECREF(item);
        if (bad)
            Py_CLEAR(out);
    }
    ud_iter_close(it);
    ud_buf_free(&k);
    ud_buf_free(&v);
    if (out && rc != UD_ENOTFOUND) {
        Py_CLEAR(out);
        raise_ud(rc);
    }
    return out;
}

static PyObject *to_dict(Core *self) {
    return collect(self, WANT_DICT);
}

static PyObject *core_keys(PyObject *op, PyObject *unused) {
    (void)unused;
    return collect((Core *)op, WANT_KEYS);
}
static PyObject *core_values(PyObject *op, PyObject *unused) {
    (void)unused;
    return collect((Core *)op, WANT_VALUES);
}
static PyObject *core_items(PyObject *op, PyObject *unused) {
    (void)unused;
    return collect((Core *)op, WANT_ITEMS);
}
static PyObject *core_to_dict(PyObject *op, PyObject *unused) {
    (void)unused;
    return to_dict((Core *)op);
}

static PyObject *core_iter(PyObject *op) {
    PyObject *keys = collect((Core *)op, WANT_KEYS);
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

/* ---- dict methods. ---- */

static PyObject *core_get(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "get() takes a key and an optional default");
        return NULL;
    }
    PyObject *v = lookup((Core *)op, args[0], true);
    if (v || PyErr_Occurred())
        return v;
    PyObject *def = n == 2 ? args[1] : Py_None;
    Py_INCREF(def);
    return def;
}

static int lock_internal(Core *self) {
    int rc = ud_lock(self->d, NULL);
    if (rc)
        raise_ud(rc);
    return rc ? -1 : 0;
}

/* The entry under an encoded key as a Python value, read under the lock; NULL without an
 * exception if absent. Nested dicts come back as plain dicts (they are being removed). */
static PyObject *take_value(Core *self, const ud_buf *k) {
    ud_buf v = UD_BUF_INIT;
    int rc = ud_get(self->d, k->data, k->len, &v);
    PyObject *r = NULL;
    if (rc == 0)
        r = decode_value(self, v.data, v.len);
    else if (rc == UD_EWRONGTYPE)
        r = entry_value(self, k, &v, UD_TYPE_DICT, true);
    else if (rc != UD_ENOTFOUND)
        raise_ud(rc);
    ud_buf_free(&v);
    return r;
}

static PyObject *core_pop(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    Core *self = (Core *)op;
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "pop() takes a key and an optional default");
        return NULL;
    }
    if (check_open(self))
        return NULL;
    ud_buf k = UD_BUF_INIT;
    if (encode_key(&k, args[0]) || lock_internal(self)) {
        ud_buf_free(&k);
        return NULL;
    }
    PyObject *r = take_value(self, &k);
    if (r) {
        int rc = ud_del(self->d, k.data, k.len);
        if (rc) {
            Py_CLEAR(r);
            raise_ud(rc);
        }
    }
    ud_unlock(self->d);
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

static PyObject *core_popitem(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self) || lock_internal(self))
        return NULL;
    /* The newest entry, found under the lock; with nested dicts its type decides how its value
     * is read before it goes. */
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
        raise_ud(rc);
    } else if (!found) {
        PyErr_SetString(PyExc_KeyError, "popitem(): dictionary is empty");
    } else {
        PyObject *key = decode_key(last.data, last.len);
        PyObject *val = key ? take_value(self, &last) : NULL;
        if (val && (rc = ud_del(self->d, last.data, last.len)) != 0)
            raise_ud(rc);
        else if (val)
            r = PyTuple_Pack(2, key, val);
        Py_XDECREF(key);
        Py_XDECREF(val);
    }
    ud_unlock(self->d);
    ud_buf_free(&k);
    ud_buf_free(&last);
    return r;
}

static PyObject *core_setdefault(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    Core *self = (Core *)op;
    if (n < 1 || n > 2) {
        PyErr_SetString(PyExc_TypeError, "setdefault() takes a key and an optional default");
        return NULL;
    }
    PyObject *def = n == 2 ? args[1] : Py_None;
    if (check_open(self) || lock_internal(self))
        return NULL;
    PyObject *r = lookup(self, args[0], true);
    if (!r && !PyErr_Occurred()) {
        if (core_ass_subscript(op, args[0], def) == 0)
            r = lookup(self, args[0], false);
    }
    ud_unlock(self->d);
    return r;
}

static PyObject *core_clear(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    int rc = ud_clear(self->d);
    if (rc)
        return raise_ud(rc);
    Py_RETURN_NONE;
}

/* _update(items): a list of (key, value) pairs, written as one record when no value is a
 * nested dict, else one by one under the lock. */
static PyObject *core_update_items(PyObject *op, PyObject *seq) {
    Core *self = (Core *)op;
    if (check_open(self))
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
        if (PyDict_Check(v) && (self->recurse || PyObject_TypeCheck(v, &CoreType)))
            nested = true;
        if (encode_key(&bufs[2 * i], PyTuple_GET_ITEM(pair, 0)))
            goto out;
        if (!nested && encode_value(self, &bufs[2 * i + 1], v))
            goto out;
        items[i] =
            (ud_item){bufs[2 * i].data, bufs[2 * i].len, bufs[2 * i + 1].data, bufs[2 * i + 1].len};
    }
    if (!nested) {
        int rc = ud_update(self->d, items, (size_t)n);
        if (rc) {
            raise_ud(rc);
            goto out;
        }
    } else {
        if (lock_internal(self))
            goto out;
        int bad = 0;
        for (Py_ssize_t i = 0; i < n && !bad; i++)
            bad = write_value(self, self->d, self->recurse, &bufs[2 * i],
                              PyTuple_GET_ITEM(PySequence_Fast_GET_ITEM(fast, i), 1));
        ud_unlock(self->d);
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

static PyObject *core_incr(PyObject *op, PyObject *args) {
    Core *self = (Core *)op;
    PyObject *key;
    long long by = 1;
    if (!PyArg_ParseTuple(args, "O|L:incr", &key, &by) || check_open(self))
        return NULL;
    if (!self->plain_pickle) {
        PyErr_SetString(PyExc_TypeError,
                        "incr() needs the default serializer (ints stored as decimal)");
        return NULL;
    }
    ud_buf k = UD_BUF_INIT;
    if (encode_key(&k, key)) {
        ud_buf_free(&k);
        return NULL;
    }
    int64_t result = 0;
    int rc = ud_incr(self->d, k.data, k.len, by, &result);
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
        return raise_ud(rc);
    return PyLong_FromLongLong(result);
}

/* ---- Dumps, loads, status. ---- */

static PyObject *rc_none(int rc) {
    if (rc)
        return raise_ud(rc);
    Py_RETURN_NONE;
}

static PyObject *core_dump(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    return check_open(self) ? NULL : rc_none(ud_dump(self->d));
}

static PyObject *core_load(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"force", NULL};
    int force = 0;
    Core *self = (Core *)op;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:load", kwlist, &force) || check_open(self))
        return NULL;
    return rc_none(ud_load(self->d, force != 0));
}

static PyObject *core_apply_update(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    return check_open(self) ? NULL : rc_none(ud_apply_update(self->d));
}

static PyObject *core_status(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    ud_status_info st;
    int rc = ud_status(self->d, &st);
    if (rc)
        return raise_ud(rc);
    return Py_BuildValue(
        "{s:s,s:s,s:O,s:O,s:O,s:i,s:i,s:n,s:n,s:n,s:n,s:n,s:n,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:I}",
        "name", st.name, "lock_mode", st.lock_mode == UD_LOCK_SPIN ? "spin" : "mutex", "recurse",
        st.recurse ? Py_True : Py_False, "creator", st.creator ? Py_True : Py_False, "auto_unlink",
        st.auto_unlink ? Py_True : Py_False, "creator_pid", (int)st.creator_pid, "lock_holder",
        (int)st.lock_holder, "len", (Py_ssize_t)st.len, "buffer_size", (Py_ssize_t)st.buffer_size,
        "stream_capacity", (Py_ssize_t)st.stream_capacity, "stream_used",
        (Py_ssize_t)st.stream_used, "full_dump_size", (Py_ssize_t)st.full_dump_size,
        "last_dump_bytes", (Py_ssize_t)st.last_dump_bytes, "end_position",
        (unsigned long long)st.end_position, "dump_position", (unsigned long long)st.dump_position,
        "local_position", (unsigned long long)st.local_position, "dump_count",
        (unsigned long long)st.dump_count, "lock_recoveries",
        (unsigned long long)st.lock_recoveries, "local_dumps_loaded",
        (unsigned long long)st.local_dumps_loaded, "local_records_applied",
        (unsigned long long)st.local_records_applied, "attached", st.attached);
}

static PyObject *core_change_position(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    return PyLong_FromUnsignedLongLong(ud_change_position(self->d));
}

static void close_children(Core *self) {
    if (!self->children)
        return;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->children, &pos, &k, &v)) {
        Core *c = (Core *)v;
        close_children(c);
        ud_close(c->d);
        c->d = NULL;
    }
    PyDict_Clear(self->children);
}

static PyObject *core_close_handle(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (!self->d)
        Py_RETURN_NONE;
    close_children(self);
    cache_drop(self);
    int rc = ud_close(self->d);
    self->d = NULL;
    return rc_none(rc);
}

static PyObject *core_unlink(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    int rc = ud_unlink(self->d);
    return rc == UD_ENOENT ? (Py_INCREF(Py_None), Py_None) : rc_none(rc);
}

static PyObject *core_get_name(PyObject *op, void *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    return PyUnicode_FromString(ud_name(self->d));
}

static PyObject *core_get_closed(PyObject *op, void *unused) {
    (void)unused;
    return PyBool_FromLong(((Core *)op)->d == NULL);
}

static PyObject *core_get_is_child(PyObject *op, void *unused) {
    (void)unused;
    return PyBool_FromLong(((Core *)op)->is_child);
}

static PyObject *core_get_spin(PyObject *op, void *unused) {
    (void)unused;
    return PyBool_FromLong(((Core *)op)->spin);
}

static PyObject *core_get_recurse(PyObject *op, void *unused) {
    (void)unused;
    return PyBool_FromLong(((Core *)op)->recurse);
}

static PyObject *core_get_serializer_default(PyObject *op, void *unused) {
    (void)unused;
    return PyBool_FromLong(((Core *)op)->plain_pickle);
}

/* ---- Locks. ---- */

static PyObject *core_lock_acquire(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"block", "timeout", "sleep_time", "steal_after_timeout", NULL};
    Core *self = (Core *)op;
    int block = 1, steal = 0;
    PyObject *timeout = Py_None;
    double sleep_time = 0.000001;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pOdp:acquire", kwlist, &block, &timeout,
                                     &sleep_time, &steal) ||
        check_open(self))
        return NULL;
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.sleep_time = sleep_time;
    o.steal_after_timeout = steal != 0;
    if (timeout != Py_None) {
        o.timeout = PyFloat_AsDouble(timeout);
        if (o.timeout == -1.0 && PyErr_Occurred())
            return NULL;
        if (o.timeout < 0) {
            PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 or None");
            return NULL;
        }
    }
    /* The uncontended case keeps the GIL; waiting releases it, so other threads of this
     * process can run (and release the lock, if one of them holds it). */
    ud_lock_options nb = o;
    nb.nonblock = true;
    nb.timeout = 0;
    int rc = ud_lock(self->d, &nb);
    if (rc == UD_EBUSY && block) {
        if (o.timeout == 0 && timeout != Py_None)
            o.nonblock = true;
        Py_BEGIN_ALLOW_THREADS rc = ud_lock(self->d, &o);
        Py_END_ALLOW_THREADS
    }
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc != UD_EBUSY && rc != UD_ETIMEDOUT)
        return raise_ud(rc);
    PyObject *cls = exc(rc == UD_ETIMEDOUT ? "CannotAcquireLockTimeout" : "CannotAcquireLock");
    PyObject *kwargs = Py_BuildValue("{s:i}", "blocking_pid", (int)ud_lock_holder(self->d));
    PyObject *empty = PyTuple_New(0);
    PyObject *e = kwargs && empty ? PyObject_Call(cls, empty, kwargs) : NULL;
    if (e)
        PyErr_SetObject(cls, e);
    Py_XDECREF(e);
    Py_XDECREF(empty);
    Py_XDECREF(kwargs);
    Py_DECREF(cls);
    return NULL;
}

static PyObject *core_lock_release(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    int rc = ud_unlock(self->d);
    if (rc == UD_ENOTLOCKED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
        return NULL;
    }
    return rc_none(rc);
}

static PyObject *core_lock_holder(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (check_open(self))
        return NULL;
    return PyLong_FromLong((long)ud_lock_holder(self->d));
}

/* _lock_steal(pid): take the lock from `pid` only (0: from whoever holds it). True if taken. */
static PyObject *core_lock_steal(PyObject *op, PyObject *args) {
    Core *self = (Core *)op;
    int pid = 0;
    if (!PyArg_ParseTuple(args, "|i:_lock_steal", &pid) || check_open(self))
        return NULL;
    int rc = pid > 0 ? ud_lock_steal_from(self->d, pid) : ud_lock_steal(self->d);
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == UD_EBUSY)
        Py_RETURN_FALSE;
    if (rc == -ENOTSUP) {
        PyErr_SetString(PyExc_NotImplementedError,
                        "a robust mutex cannot be stolen (a dead holder is recovered by acquire)");
        return NULL;
    }
    return raise_ud(rc);
}

/* ---- The lock object: `with ultra.lock:` and `with ultra.lock(block, timeout, ...):`. ---- */

typedef struct {
    PyObject_HEAD Core *ud;
    PyObject *args; /* (block, timeout, sleep_time, steal_after_timeout) or NULL */
} Lock;

static PyTypeObject LockType;
static PyObject *lock_classes[2]; /* RLock and SharedLock, set by the Python package */

static PyObject *new_lock(PyTypeObject *tp, Core *ud, PyObject *args) {
    Lock *l = (Lock *)tp->tp_alloc(tp, 0);
    if (!l)
        return NULL;
    Py_INCREF(ud);
    l->ud = ud;
    Py_XINCREF(args);
    l->args = args;
    return (PyObject *)l;
}

static PyObject *core_get_lock(PyObject *op, void *unused) {
    (void)unused;
    Core *self = (Core *)op;
    PyObject *cls = lock_classes[self->spin ? 1 : 0];
    return new_lock(cls ? (PyTypeObject *)cls : &LockType, self, NULL);
}

static void lock_dealloc(PyObject *op) {
    Lock *l = (Lock *)op;
    Py_CLEAR(l->ud);
    Py_CLEAR(l->args);
    Py_TYPE(op)->tp_free(op);
}

static PyObject *lock_call(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"block", "timeout", "sleep_time", "steal_after_timeout", NULL};
    Lock *l = (Lock *)op;
    PyObject *block = Py_True, *timeout = Py_None, *sleep_time = NULL, *steal = Py_False;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO:lock", kwlist, &block, &timeout, &sleep_time,
                                     &steal))
        return NULL;
    PyObject *sl = sleep_time ? (Py_INCREF(sleep_time), sleep_time) : PyFloat_FromDouble(1e-6);
    if (!sl)
        return NULL;
    PyObject *t = PyTuple_Pack(4, block, timeout, sl, steal);
    Py_DECREF(sl);
    if (!t)
        return NULL;
    PyObject *r = new_lock(Py_TYPE(op), l->ud, t);
    Py_DECREF(t);
    return r;
}

static PyObject *lock_enter(PyObject *op, PyObject *unused) {
    (void)unused;
    Lock *l = (Lock *)op;
    if (check_open(l->ud))
        return NULL;
    if (!l->args) {
        /* The common case, `with ultra.lock:`, blocks without parsing anything. */
        ud_lock_options nb = UD_LOCK_OPTIONS_INIT;
        nb.nonblock = true;
        int rc = ud_lock(l->ud->d, &nb);
        if (rc == UD_EBUSY) {
            Py_BEGIN_ALLOW_THREADS rc = ud_lock(l->ud->d, NULL);
            Py_END_ALLOW_THREADS
        }
        if (rc)
            return raise_ud(rc);
    } else {
        PyObject *r = core_lock_acquire((PyObject *)l->ud, l->args, NULL);
        if (!r)
            return NULL;
        Py_DECREF(r);
    }
    Py_INCREF(op);
    return op;
}

static PyObject *lock_exit(PyObject *op, PyObject *const *args, Py_ssize_t n) {
    (void)args;
    (void)n;
    Lock *l = (Lock *)op;
    PyObject *r = core_lock_release((PyObject *)l->ud, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE; /* exceptions inside the block propagate */
}

static PyObject *lock_acquire(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"block", "sleep_time", "timeout", "steal_after_timeout", NULL};
    Lock *l = (Lock *)op;
    PyObject *block = Py_True, *timeout = Py_None, *sleep_time = NULL, *steal = Py_False;
    /* The original's acquire() takes sleep_time before timeout. */
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO:acquire", kwlist, &block, &sleep_time,
                                     &timeout, &steal))
        return NULL;
    PyObject *sl = sleep_time ? (Py_INCREF(sleep_time), sleep_time) : PyFloat_FromDouble(1e-6);
    PyObject *t = sl ? PyTuple_Pack(4, block, timeout, sl, steal) : NULL;
    Py_XDECREF(sl);
    if (!t)
        return NULL;
    PyObject *r = core_lock_acquire((PyObject *)l->ud, t, NULL);
    Py_DECREF(t);
    return r;
}

static PyObject *lock_release(PyObject *op, PyObject *args) {
    (void)args;
    return core_lock_release((PyObject *)((Lock *)op)->ud, NULL);
}

static PyObject *lock_get_ud(PyObject *op, void *unused) {
    (void)unused;
    Lock *l = (Lock *)op;
    Py_INCREF(l->ud);
    return (PyObject *)l->ud;
}

static PyMethodDef lock_methods[] = {
    {"__enter__", lock_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))lock_exit, METH_FASTCALL, NULL},
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_VARARGS | METH_KEYWORDS,
     "acquire(block=True, sleep_time=0.000001, timeout=None, steal_after_timeout=False)"},
    {"release", lock_release, METH_VARARGS, "Releases one level of the lock."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef lock_getset[] = {
    {"_ud", lock_get_ud, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject LockType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "UltraDict._ultradict.Lock",
    .tp_basicsize = sizeof(Lock),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The lock of an UltraDict (re-entrant; shared by every lock object of the dict).",
    .tp_dealloc = lock_dealloc,
    .tp_call = lock_call,
    .tp_methods = lock_methods,
    .tp_getset = lock_getset,
};

static PyObject *mod_set_lock_classes(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "O!O!:_set_lock_classes", &PyType_Type, &a, &PyType_Type, &b))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)a, &LockType) ||
        !PyType_IsSubtype((PyTypeObject *)b, &LockType)) {
        PyErr_SetString(PyExc_TypeError, "lock classes must derive from Lock");
        return NULL;
    }
    Py_INCREF(a);
    Py_INCREF(b);
    Py_XSETREF(lock_classes[0], a);
    Py_XSETREF(lock_classes[1], b);
    Py_RETURN_NONE;
}

/* ---- Opening. ---- */

static int set_serializer(Core *self, PyObject *ser) {
    Py_CLEAR(self->dumps);
    Py_CLEAR(self->loads);
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (!pickle)
        return -1;
    self->plain_pickle = ser == NULL || ser == Py_None || ser == pickle;
    Py_DECREF(pickle);
    if (self->plain_pickle) {
        Py_INCREF(pickle_dumps);
        self->dumps = pickle_dumps;
        Py_INCREF(pickle_loads);
        self->loads = pickle_loads;
        return 0;
    }
    self->dumps = PyObject_GetAttrString(ser, "dumps");
    self->loads = self->dumps ? PyObject_GetAttrString(ser, "loads") : NULL;
    return self->loads ? 0 : -1;
}

/* _open(name, create, buffer_size, full_dump_size, shared_lock, auto_unlink, recurse,
 *       serializer): create -1 attach-or-create, 1 create only, 0 attach only; shared_lock and
 * recurse apply only when this call creates the dict (the creator's values win otherwise). */
static PyObject *core_open(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"name",           "create",      "buffer_size",
                             "full_dump_size", "shared_lock", "auto_unlink",
                             "recurse",        "serializer",  NULL};
    Core *self = (Core *)op;
    const char *name = NULL;
    int create = -1, shared = 0, auto_unlink = -1, recurse = 0;
    Py_ssize_t buffer_size = 0, full_dump_size = 0;
    PyObject *ser = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zinnpipO:_open", kwlist, &name, &create,
                                     &buffer_size, &full_dump_size, &shared, &auto_unlink, &recurse,
                                     &ser))
        return NULL;
    if (self->d) {
        PyErr_SetString(PyExc_RuntimeError, "already open");
        return NULL;
    }
    if (buffer_size < 0 || full_dump_size < 0) {
        PyErr_SetString(PyExc_ValueError, "buffer_size and full_dump_size must be >= 0");
        return NULL;
    }
    if (set_serializer(self, ser))
        return NULL;
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = create < 0 ? UD_CREATE_OR_ATTACH : create ? UD_CREATE_ONLY : UD_ATTACH_ONLY;
    o.buffer_size = (size_t)buffer_size;
    o.full_dump_size = (size_t)full_dump_size;
    o.lock = shared ? UD_LOCK_SPIN : UD_LOCK_MUTEX;
    o.auto_unlink = auto_unlink < 0   ? UD_AUTO_UNLINK_DEFAULT
                    : auto_unlink > 0 ? UD_AUTO_UNLINK_ON
                                      : UD_AUTO_UNLINK_OFF;
    o.recurse = recurse != 0;
    o.attach = UD_ATTACH_CREATOR;
    ud_dict *d = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ud_open(&o, &d);
    Py_END_ALLOW_THREADS if (rc) {
        if (rc == UD_ENAME || rc == UD_EINVAL) {
            PyErr_Format(PyExc_ValueError, "UltraDict: %s (name %R)", ud_strerror(rc),
                         PyTuple_Size(args) > 0 ? PyTuple_GetItem(args, 0) : Py_None);
            return NULL;
        }
        return raise_ud(rc);
    }
    ud_status_info st;
    if (ud_status(d, &st) == 0) {
        self->recurse = st.recurse;
        self->spin = st.lock_mode == UD_LOCK_SPIN;
    }
    self->d = d;
    if (!self->cache)
        self->cache = PyDict_New();
    if (!self->children)
        self->children = PyDict_New();
    if (!self->cache || !self->children)
        return NULL;
    self->cache_pos = ud_change_position(d) - 1;
    Py_RETURN_NONE;
}

/* ---- The type. ---- */

static int core_traverse(PyObject *op, visitproc visit, void *arg) {
    Core *self = (Core *)op;
    Py_VISIT(self->last_key);
    Py_VISIT(self->last_val);
    Py_VISIT(self->cache);
    Py_VISIT(self->children);
    Py_VISIT(self->dumps);
    Py_VISIT(self->loads);
    return PyDict_Type.tp_traverse(op, visit, arg);
}

static int core_clear_refs(PyObject *op) {
    Core *self = (Core *)op;
    Py_CLEAR(self->last_key);
    Py_CLEAR(self->last_val);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->children);
    Py_CLEAR(self->dumps);
    Py_CLEAR(self->loads);
    return PyDict_Type.tp_clear(op);
}

static void core_dealloc(PyObject *op) {
    Core *self = (Core *)op;
    PyObject_GC_UnTrack(op);
    if (self->d) {
        /* Children first: their handles are the parent's to close. */
        close_children(self);
        ud_close(self->d);
        self->d = NULL;
    }
    Py_CLEAR(self->last_key);
    Py_CLEAR(self->last_val);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->children);
    Py_CLEAR(self->dumps);
    Py_CLEAR(self->loads);
    ud_buf_free(&self->scratch[0]);
    ud_buf_free(&self->scratch[1]);
    PyDict_Type.tp_dealloc(op);
}

static PyObject *core_richcompare(PyObject *a, PyObject *b, int op) {
    if (op != Py_EQ && op != Py_NE)
        Py_RETURN_NOTIMPLEMENTED;
    if (!PyDict_Check(b))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *da = to_dict((Core *)a);
    if (!da)
        return NULL;
    PyObject *db = PyObject_TypeCheck(b, &CoreType) ? to_dict((Core *)b) : (Py_INCREF(b), b);
    if (!db) {
        Py_DECREF(da);
        return NULL;
    }
    PyObject *r = PyObject_RichCompare(da, db, op);
    Py_DECREF(da);
    Py_DECREF(db);
    return r;
}

static PyObject *core_repr(PyObject *op) {
    Core *self = (Core *)op;
    if (!self->d)
        return PyUnicode_FromString("<closed UltraDict>");
    PyObject *d = to_dict(self);
    if (!d)
        return NULL;
    PyObject *r = PyObject_Repr(d);
    Py_DECREF(d);
    return r;
}

static PyMappingMethods core_as_mapping = {core_length, core_subscript, core_ass_subscript};
static PySequenceMethods core_as_sequence = {.sq_contains = core_contains};

static PyMethodDef core_methods[] = {
    {"_open", (PyCFunction)(void (*)(void))core_open, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get", (PyCFunction)(void (*)(void))core_get, METH_FASTCALL, "get(key, default=None)"},
    {"keys", core_keys, METH_NOARGS, "The keys, in insertion order (a list)."},
    {"values", core_values, METH_NOARGS, "The values, in insertion order (a list)."},
    {"items", core_items, METH_NOARGS, "The (key, value) pairs, in insertion order (a list)."},
    {"_to_dict", core_to_dict, METH_NOARGS, "A plain dict copy (nested dicts copied too)."},
    {"copy", core_to_dict, METH_NOARGS, "A plain dict copy (nested dicts copied too)."},
    {"pop", (PyCFunction)(void (*)(void))core_pop, METH_FASTCALL, "pop(key[, default])"},
    {"popitem", core_popitem, METH_NOARGS, "Removes and returns the newest (key, value)."},
    {"setdefault", (PyCFunction)(void (*)(void))core_setdefault, METH_FASTCALL,
     "setdefault(key, default=None)"},
    {"clear", core_clear, METH_NOARGS, "Removes every entry (one record)."},
    {"_update", core_update_items, METH_O, NULL},
    {"incr", core_incr, METH_VARARGS, "incr(key, by=1): atomic += on an int value; the result."},
    {"dump", core_dump, METH_NOARGS, "Writes a full dump now."},
    {"load", (PyCFunction)(void (*)(void))core_load, METH_VARARGS | METH_KEYWORDS,
     "load(force=False)"},
    {"apply_update", core_apply_update, METH_NOARGS, "Replays pending updates."},
    {"_status", core_status, METH_NOARGS, NULL},
    {"change_position", core_change_position, METH_NOARGS,
     "The dict's change position (grows with every write)."},
    {"_close_handle", core_close_handle, METH_NOARGS, NULL},
    {"_unlink", core_unlink, METH_NOARGS, NULL},
    {"_lock_acquire", (PyCFunction)(void (*)(void))core_lock_acquire, METH_VARARGS | METH_KEYWORDS,
     NULL},
    {"_lock_release", core_lock_release, METH_NOARGS, NULL},
    {"_lock_holder", core_lock_holder, METH_NOARGS, NULL},
    {"_lock_steal", core_lock_steal, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"name", core_get_name, NULL, "The dict's name.", NULL},
    {"closed", core_get_closed, NULL, "True after close().", NULL},
    {"_is_child", core_get_is_child, NULL, NULL, NULL},
    {"_plain_pickle", core_get_serializer_default, NULL, NULL, NULL},
    {"_spin", core_get_spin, NULL, NULL, NULL},
    {"lock", core_get_lock, NULL, "The dict's lock (see Lock).", NULL},
    {"recurse", core_get_recurse, NULL, "True if nested dicts become UltraDicts.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "UltraDict._ultradict.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The shared dict over libultradict (use UltraDict.UltraDict).",
    .tp_dealloc = core_dealloc,
    .tp_traverse = core_traverse,
    .tp_clear = core_clear_refs,
    .tp_as_mapping = &core_as_mapping,
    .tp_as_sequence = &core_as_sequence,
    .tp_iter = core_iter,
    .tp_richcompare = core_richcompare,
    .tp_repr = core_repr,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_methods = core_methods,
    .tp_getset = core_getset,
};

/* ---- Module functions. ---- */

static PyObject *mod_unlink_by_name(PyObject *m, PyObject *arg) {
    (void)m;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    int rc = ud_unlink_by_name(name);
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == UD_ENOENT)
        Py_RETURN_FALSE;
    if (rc == UD_ENAME) {
        PyErr_Format(PyExc_ValueError, "UltraDict: invalid dict name %R", arg);
        return NULL;
    }
    return raise_ud(rc);
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg) {
    (void)m;
    long rc = PyLong_AsLong(arg);
    if (rc == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(ud_strerror((int)rc));
}

static PyMethodDef mod_methods[] = {
    {"unlink_by_name", mod_unlink_by_name, METH_O,
     "Removes the dict `name` and its nested children; False if nothing was there."},
    {"strerror", mod_strerror, METH_O, "The message of a libultradict return code."},
    {"_set_lock_classes", mod_set_lock_classes, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod_def = {PyModuleDef_HEAD_INIT, "_ultradict",
                                     "The C core of UltraDict, over libultradict.", -1,
                                     mod_methods};

PyMODINIT_FUNC PyInit__ultradict(void) {
    CoreType.tp_base = &PyDict_Type;
    if (PyType_Ready(&CoreType) < 0 || PyType_Ready(&LockType) < 0)
        return NULL;
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (!pickle)
        return NULL;
    pickle_dumps = PyObject_GetAttrString(pickle, "dumps");
    pickle_loads = PyObject_GetAttrString(pickle, "loads");
    Py_DECREF(pickle);
    if (!pickle_dumps || !pickle_loads)
        return NULL;
    exc_mod = PyImport_ImportModule("UltraDict.Exceptions");
    if (!exc_mod)
        return NULL;
    PyObject *m = PyModule_Create(&mod_def);
    if (!m)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&LockType);
    if (PyModule_AddObject(m, "Lock", (PyObject *)&LockType) < 0) {
        Py_DECREF(&LockType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "DEFAULT_BUFFER_SIZE", UD_DEFAULT_BUFFER_SIZE);
    return m;
}
