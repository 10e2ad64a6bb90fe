/*
 * py_pickle.c - str and bytes values with the default serializer, without calling pickle: the
 * bytes written are exactly those pickle.dumps() gives (protocol 4, one frame), so any reader,
 * this module or plain pickle.loads(), sees the same value; and reading recognises only that
 * exact shape, anything else goes to pickle.loads(). Calling the pickler costs a Pickler object,
 * a frame buffer and a bytes object per value: several times the rest of a write.
 */
#include "py_ultradict.h"

#include <stdlib.h>
#include <string.h>

/* pickle's opcodes, as in Lib/pickle.py. */
enum {
    OP_PROTO = 0x80,
    OP_FRAME = 0x95,
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE = 'X',
    OP_SHORT_BINBYTES = 'C',
    OP_BINBYTES = 'B',
    OP_MEMOIZE = 0x94,
    OP_STOP = '.',
};

/* Below pickle's frame size target (64 KiB), pickle writes the whole value into one frame;
 * above it, its large-value path differs, so those values go through pickle itself. */
#define FAST_MAX 65000u

/* Header: PROTO 4, FRAME u64, then the opcode and its length (1 or 4 bytes). */
#define HEAD_MAX (2 + 9 + 1 + 4)

static void put_le(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int write_pickled(ud_buf *b, bool text, const char *data, size_t n) {
    size_t need = HEAD_MAX + n + 2 + 1;
    if (b->cap < need) {
        void *q = realloc(b->data, need);
        if (!q) {
            PyErr_NoMemory();
            return -1;
        }
        b->data = q;
        b->cap = need;
    }
    unsigned char *p = b->data;
    bool shrt = n < 256;
    int lenw = shrt ? 1 : 4;
    p[0] = OP_PROTO;
    p[1] = 4;
    p[2] = OP_FRAME;
    put_le(p + 3, (uint64_t)(1 + (size_t)lenw + n + 2), 8);
    p[11] = shrt ? (text ? OP_SHORT_BINUNICODE : OP_SHORT_BINBYTES)
                 : (text ? OP_BINUNICODE : OP_BINBYTES);
    put_le(p + 12, n, lenw);
    size_t at = 12 + (size_t)lenw;
    memcpy(p + at, data, n);
    p[at + n] = OP_MEMOIZE;
    p[at + n + 1] = OP_STOP;
    b->len = at + n + 2;
    return 0;
}

int pyud_fast_dumps(ud_buf *b, PyObject *v) {
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        /* A str with lone surrogates has no UTF-8 form: pickle's own path handles it. */
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (!s) {
            PyErr_Clear();
            return 0;
        }
        if ((size_t)n > FAST_MAX)
            return 0;
        return write_pickled(b, true, s, (size_t)n) ? -1 : 1;
    }
    if (PyBytes_CheckExact(v) && (size_t)PyBytes_GET_SIZE(v) <= FAST_MAX)
        return write_pickled(b, false, PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v)) ? -1 : 1;
    return 0;
}

PyObject *pyud_fast_loads(const char *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    if (n < 12 + 1 + 2 || p[0] != OP_PROTO || p[1] != 4 || p[2] != OP_FRAME)
        return NULL;
    if (get_le(p + 3, 8) != n - 11 || p[n - 2] != OP_MEMOIZE || p[n - 1] != OP_STOP)
        return NULL;
    int op = p[11];
    int lenw = op == OP_SHORT_BINUNICODE || op == OP_SHORT_BINBYTES ? 1
               : op == OP_BINUNICODE || op == OP_BINBYTES           ? 4
                                                                    : 0;
    if (!lenw || n < 12 + (size_t)lenw + 2)
        return NULL;
    size_t len = (size_t)get_le(p + 12, lenw);
    const char *s = data + 12 + lenw;
    if (len != n - 12 - (size_t)lenw - 2)
        return NULL;
    if (op == OP_SHORT_BINBYTES || op == OP_BINBYTES)
        return PyBytes_FromStringAndSize(s, (Py_ssize_t)len);
    /* pickle decodes text with "surrogatepass"; a decoding error is pickle's to report. */
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogatepass");
    if (!r)
        PyErr_Clear();
    return r;
}
