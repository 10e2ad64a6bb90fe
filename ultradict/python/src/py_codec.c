/*
 * py_codec.c - keys and values of the UltraDict module as bytes: canonical keys (equal
 * Python keys are one key), values through the serializer, and the per-object scratch buffers.
 */
#include "py_ultradict.h"

#include <math.h>
#include <string.h>

/* The per-object buffers save two malloc/free pairs per operation. A nested use (a serializer
 * calling back into the same dict) gets a buffer of its own. */
ud_buf *pyud_scratch_get(Core *self, int which, ud_buf *local) {
    if (!self->scratch_busy[which]) {
        self->scratch_busy[which] = true;
        self->scratch[which].len = 0;
        return &self->scratch[which];
    }
    *local = (ud_buf)UD_BUF_INIT;
    return local;
}

void pyud_scratch_put(Core *self, int which, ud_buf *b) {
    if (b == &self->scratch[which]) {
        self->scratch_busy[which] = false;
        if (b->cap > 65536) { /* do not keep a huge value's buffer */
            ud_buf_free(b);
        }
    } else {
        ud_buf_free(b);
    }
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
    PyObject *p = PyObject_CallOneArg(pyud_pickle_dumps, obj);
    if (!p)
        return -1;
    int rc = buf_add(b, &tag, 1) || buf_add(b, PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p));
    Py_DECREF(p);
    return rc ? -1 : 0;
}

int pyud_encode_key(ud_buf *b, PyObject *k) {
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
            if (buf_add(b, &n, sizeof n) || pyud_encode_key(b, PyTuple_GET_ITEM(k, i)))
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

/* Encodes k into b, a buffer the caller owns and frees; on failure b is freed here. */
int pyud_encode_new_key(ud_buf *b, PyObject *k) {
    if (pyud_encode_key(b, k) == 0)
        return 0;
    ud_buf_free(b);
    return -1;
}

PyObject *pyud_decode_key(const char *p, size_t n) {
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
            PyObject *e = pyud_decode_key(p + i, len);
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
        PyObject *r = b ? PyObject_CallOneArg(pyud_pickle_loads, b) : NULL;
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

int pyud_encode_value(Core *self, ud_buf *b, PyObject *v) {
    b->len = 0;
    if (self->plain_pickle && PyLong_CheckExact(v))
        return add_decimal(b, v);
    int fast = self->plain_pickle ? pyud_fast_dumps(b, v) : 0;
    if (fast)
        return fast < 0 ? -1 : 0;
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

PyObject *pyud_decode_value(Core *self, const char *p, size_t n) {
    if (self->plain_pickle && n > 0 && n < 40 && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9'))) {
        char tmp[48];
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        return PyLong_FromString(tmp, NULL, 10);
    }
    if (self->plain_pickle && n > 0 && (unsigned char)p[0] == 0x80) {
        PyObject *fast = pyud_fast_loads(p, n);
        if (fast || PyErr_Occurred())
            return fast;
    }
    PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    if (!b)
        return NULL;
    PyObject *r = PyObject_CallOneArg(self->loads, b);
    Py_DECREF(b);
    return r;
}
