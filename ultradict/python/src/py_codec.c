/*
 * py_codec.c - keys and values of the UltraDict module as bytes: canonical keys (equal
 * Python keys are one key), values through the serializer, and the per-object scratch buffers.
 */
#include "py_ultradict.h"
#include "py_keyform.h"

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

/* Appends the mark and a tag letter (see py_keyform.h). */
static int add_head(ud_buf *b, char tag) {
    const char head[PYUD_KEY_HEAD] = {PYUD_KEY_MARK0, PYUD_KEY_MARK1, tag};
    return buf_add(b, head, sizeof head);
}

static int add_ll(ud_buf *b, long long v) {
    char tmp[24];
    char *p = pyud_format_ll(tmp + sizeof tmp, v);
    return buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Appends num in decimal and returns 0, or returns 1 (nothing written) if it has more than
 * PYUD_DECIMAL_MAX digits, or -1 on error. */
static int add_decimal(ud_buf *b, PyObject *num) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (!overflow)
        return add_ll(b, v);
    /* 2200 bits are more than 662 digits; below that str() is cheap and within Python's limit
     * on digits (unless a lower one was set, which the ValueError below covers). */
    if (_PyLong_NumBits(num) > 2200)
        return 1;
    PyObject *s = PyObject_Str(num);
    if (!s) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        return 1;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    int rc = !p ? -1 : (size_t)n - (p[0] == '-') > PYUD_DECIMAL_MAX ? 1 : buf_add(b, p, (size_t)n);
    Py_DECREF(s);
    return rc;
}

/* Appends the pickle of obj. */
static int add_pickle(ud_buf *b, PyObject *dumps, PyObject *obj) {
    PyObject *p = PyObject_CallOneArg(dumps, obj);
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

static int add_int_key(ud_buf *b, PyObject *num) {
    size_t at = b->len;
    if (add_head(b, 'i'))
        return -1;
    int rc = add_decimal(b, num);
    if (rc <= 0)
        return rc;
    b->len = at; /* too many digits: the pickle form */
    return add_head(b, 'p') || add_pickle(b, pyud_pickle_dumps, num) ? -1 : 0;
}

static int add_float_key(ud_buf *b, PyObject *k) {
    double v = PyFloat_AS_DOUBLE(k);
    /* The range first: converting a double beyond long long is undefined. */
    if (v > -9.2e18 && v < 9.2e18 && v == (double)(long long)v)
        return add_head(b, 'i') || add_ll(b, (long long)v) ? -1 : 0;
    if (isfinite(v) && v == floor(v)) {
        PyObject *i = PyLong_FromDouble(v);
        if (!i)
            return -1;
        int rc = add_int_key(b, i);
        Py_DECREF(i);
        return rc;
    }
    return add_head(b, 'f') || buf_add(b, &v, sizeof v) ? -1 : 0;
}

/* True if the pickled key p[0..n) (after the head) unpickles in this process. */
static bool pickle_loads(const char *p, size_t n) {
    PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    PyObject *r = b ? PyObject_CallOneArg(pyud_pickle_loads, b) : NULL;
    Py_XDECREF(b);
    Py_XDECREF(r);
    PyErr_Clear();
    return r != NULL;
}

/* Bytes are stored raw unless they would read as an own encoding (see py_keyform.h). A
 * pickled key that does not unpickle here reads back as its bytes (pyud_decode_key), so those
 * bytes stay raw too and find it again. */
static int add_bytes_key(ud_buf *b, PyObject *k) {
    const char *p = PyBytes_AS_STRING(k);
    size_t n = (size_t)PyBytes_GET_SIZE(k);
    int form = pyud_key_form(p, n);
    bool escape = form != PYUD_KEY_FOREIGN &&
                  (form != PYUD_KEY_PICKLE || pickle_loads(p + PYUD_KEY_HEAD, n - PYUD_KEY_HEAD));
    if (escape && add_head(b, 'b'))
        return -1;
    return buf_add(b, p, n);
}

static int add_tuple_key(ud_buf *b, PyObject *k) {
    if (add_head(b, 't'))
        return -1;
    if (Py_EnterRecursiveCall(" while encoding a tuple key"))
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(k) && rc == 0; i++) {
        size_t at = b->len;
        uint32_t n = 0;
        rc = buf_add(b, &n, sizeof n) || pyud_encode_key(b, PyTuple_GET_ITEM(k, i)) ? -1 : 0;
        /* Longer keys than 4 GiB are refused by ud_set() (UD_KEY_MAX) anyway. */
        n = (uint32_t)(b->len - at - sizeof n);
        if (rc == 0)
            memcpy((char *)b->data + at, &n, sizeof n);
    }
    Py_LeaveRecursiveCall();
    return rc;
}

int pyud_encode_key(ud_buf *b, PyObject *k) {
    if (PyUnicode_Check(k)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(k, &n);
        if (!p)
            return -1;
        return add_head(b, 's') || buf_add(b, p, (size_t)n) ? -1 : 0;
    }
    if (PyLong_Check(k)) /* bool included: True == 1 */
        return add_int_key(b, k);
    if (PyBytes_Check(k))
        return add_bytes_key(b, k);
    if (PyFloat_Check(k))
        return add_float_key(b, k);
    if (k == Py_None)
        return add_head(b, 'n');
    if (PyTuple_Check(k))
        return add_tuple_key(b, k);
    if (PyObject_Hash(k) == -1)
        return -1;
    return add_head(b, 'p') || add_pickle(b, pyud_pickle_dumps, k) ? -1 : 0;
}

/* Encodes k into b, a buffer the caller owns and frees; on failure b is freed here. */
int pyud_encode_new_key(ud_buf *b, PyObject *k) {
    if (pyud_encode_key(b, k) == 0)
        return 0;
    ud_buf_free(b);
    return -1;
}

/* A canonical decimal (see pyud_decimal_canonical) as an int. */
static PyObject *decode_decimal(const char *p, size_t n) {
    if (n <= PYUD_DECIMAL_SMALL)
        return PyLong_FromLongLong(pyud_decimal_small(p, n));
    char tmp[PYUD_DECIMAL_MAX + 2];
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return PyLong_FromString(tmp, NULL, 10);
}

static PyObject *decode_tuple(const char *p, size_t n) {
    Py_ssize_t count = 0;
    size_t at = 0, off, len;
    while (pyud_tuple_next(p, n, &at, &off, &len))
        count++;
    PyObject *t = PyTuple_New(count);
    if (!t || Py_EnterRecursiveCall(" while decoding a tuple key")) {
        Py_XDECREF(t);
        return NULL;
    }
    at = 0;
    for (Py_ssize_t i = 0; i < count && pyud_tuple_next(p, n, &at, &off, &len); i++) {
        PyObject *e = pyud_decode_key(p + off, len);
        if (!e) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, e);
    }
    Py_LeaveRecursiveCall();
    return t;
}

/* The object of an own encoding of form `form`, payload p[0..n). */
static PyObject *decode_own_key(int form, const char *p, size_t n) {
    switch (form) {
    case PYUD_KEY_INT:
        return decode_decimal(p, n);
    case PYUD_KEY_STR:
        return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "strict");
    case PYUD_KEY_BYTES:
        return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    case PYUD_KEY_NONE:
        Py_RETURN_NONE;
    case PYUD_KEY_FLOAT: {
        double v;
        memcpy(&v, p, sizeof v);
        return PyFloat_FromDouble(v);
    }
    case PYUD_KEY_TUPLE:
        return decode_tuple(p, n);
    default: {
        PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
        PyObject *r = b ? PyObject_CallOneArg(pyud_pickle_loads, b) : NULL;
        Py_XDECREF(b);
        return r;
    }
    }
}

/* Never fails for the bytes themselves: what is not an own encoding, or does not decode (a
 * pickled key whose class this process cannot import), comes back as bytes, whole. */
PyObject *pyud_decode_key(const char *p, size_t n) {
    int form = pyud_key_form(p, n);
    if (form != PYUD_KEY_FOREIGN) {
        PyObject *r = decode_own_key(form, p + PYUD_KEY_HEAD, n - PYUD_KEY_HEAD);
        if (r || PyErr_ExceptionMatches(PyExc_MemoryError))
            return r;
        PyErr_Clear();
    }
    return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
}

/* ---- Values. ---- */

int pyud_encode_value(Core *self, ud_buf *b, PyObject *v) {
    b->len = 0;
    if (self->plain_pickle && PyLong_CheckExact(v)) {
        int rc = add_decimal(b, v);
        if (rc <= 0)
            return rc;
    }
    int fast = self->plain_pickle ? pyud_fast_dumps(b, v) : 0;
    if (fast)
        return fast < 0 ? -1 : 0;
    return add_pickle(b, self->dumps, v);
}

PyObject *pyud_decode_value(Core *self, const char *p, size_t n) {
    if (self->plain_pickle) {
        int form = pyud_value_form(p, n);
        if (form == PYUD_VAL_INT)
            return decode_decimal(p, n);
        if (form == PYUD_VAL_FOREIGN) /* written by the CLI or a C program */
            return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
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
