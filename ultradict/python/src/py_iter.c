/*
 * py_iter.c - keys(), values(), items(), to_dict() and iteration: lists built from one
 * consistent pass over the dict (ud_iter), so that a concurrent writer never shows half a change.
 */
#include "py_ultradict.h"

enum { WANT_KEYS = 1, WANT_VALUES = 2, WANT_ITEMS = 3, WANT_DICT = 4 };

/* The value of one entry (declared in py_ultradict.h). */
PyObject *pyud_entry_value(Core *self, const ud_buf *k, const ud_buf *v, int type, bool plain) {
    if (type != UD_TYPE_DICT)
        return pyud_decode_value(self, v->data, v->len);
    PyObject *c = pyud_child_for(self, k);
    if (!c || !plain)
        return c;
    PyObject *d = pyud_to_dict((Core *)c);
    Py_DECREF(c);
    return d;
}

static PyObject *collect(Core *self, int want) {
    if (pyud_check_open(self))
        return NULL;
    ud_iter *it = NULL;
    int rc = ud_iter_open(self->d, &it);
    if (rc)
        return pyud_raise(rc);
    PyObject *out = want == WANT_DICT ? PyDict_New() : PyList_New(0);
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    int type = 0;
    while (out && (rc = ud_iter_next(it, &k, &v, &type)) == 0) {
        PyObject *key = NULL, *val = NULL, *item = NULL;
        if (want != WANT_VALUES)
            key = pyud_decode_key(k.data, k.len);
        if (want != WANT_KEYS)
            val = pyud_entry_value(self, &k, &v, type, want == WANT_DICT);
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
        pyud_raise(rc);
    }
    return out;
}

PyObject *pyud_to_dict(Core *self) {
    return collect(self, WANT_DICT);
}

PyObject *core_keys(PyObject *op, PyObject *unused) {
    (void)unused;
    return collect((Core *)op, WANT_KEYS);
}
PyObject *core_values(PyObject *op, PyObject *unused) {
    (void)unused;
    return collect((Core *)op, WANT_VALUES);
}
PyObject *core_items(PyObject *op, PyObject *unused) {
    (void)unused;
    return collect((Core *)op, WANT_ITEMS);
}
PyObject *core_to_dict(PyObject *op, PyObject *unused) {
    (void)unused;
    return pyud_to_dict((Core *)op);
}

PyObject *core_iter(PyObject *op) {
    PyObject *keys = collect((Core *)op, WANT_KEYS);
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}
