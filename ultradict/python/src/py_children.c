/*
 * py_children.c - nested dicts of the UltraDict module: a child object per nested dict
 * (one open handle each, cached by name), and values written as new children.
 */
#include "py_ultradict.h"

#include <string.h>

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
PyObject *pyud_child_for(Core *self, const ud_buf *k) {
    ud_buf name = UD_BUF_INIT;
    int rc = ud_child_name(self->d, k->data, k->len, &name);
    if (rc) {
        ud_buf_free(&name);
        return pyud_raise(rc);
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
            pyud_raise(rc);
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

int pyud_write_value(Core *self, ud_dict *d, bool recurse, const ud_buf *k, PyObject *v);

/* What a child's name adds to its parent's: ".c" and 16 hex digits (ud_child_create). */
#define CHILD_SUFFIX 18

static bool is_plain_dict(PyObject *v) {
    return PyDict_Check(v) && !PyObject_TypeCheck(v, &pyud_core_type);
}

/* The nesting depth of plain dicts in v (1 for a dict of plain values), counted no further
 * than limit + 1 (so a dict that contains itself ends the walk). */
static Py_ssize_t nesting_depth(PyObject *v, Py_ssize_t limit) {
    if (!is_plain_dict(v))
        return 0;
    Py_ssize_t deepest = 0, pos = 0;
    PyObject *k, *e;
    while (limit > 0 && deepest < limit && PyDict_Next(v, &pos, &k, &e)) {
        Py_ssize_t n = nesting_depth(e, limit - 1);
        if (n > deepest)
            deepest = n;
    }
    return deepest + 1;
}

/* Creates a child of d holding the items of `src`, unpublished. On failure nothing of it is
 * left: its levels are unlinked (their names share its prefix, so one call removes them). */
static int build_child(Core *self, ud_dict *d, PyObject *src, ud_dict **out) {
    ud_dict *c = NULL;
    int rc = ud_child_create(d, &c);
    if (rc) {
        pyud_raise(rc);
        return -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    ud_buf kb = UD_BUF_INIT;
    while (PyDict_Next(src, &pos, &k, &v)) {
        kb.len = 0;
        if (pyud_encode_key(&kb, k) || pyud_write_value(self, c, true, &kb, v)) {
            ud_buf_free(&kb);
            ud_unlink(c);
            ud_close(c);
            return -1;
        }
    }
    ud_buf_free(&kb);
    *out = c;
    return 0;
}

/* Refuses, before creating anything, a value nested deeper than the names of d's children
 * allow (see UD_FULL_NAME_MAX). */
static int check_depth(ud_dict *d, PyObject *v) {
    size_t len = strlen(ud_name(d));
    Py_ssize_t room =
        len < UD_FULL_NAME_MAX ? (Py_ssize_t)((UD_FULL_NAME_MAX - len) / CHILD_SUFFIX) : 0;
    Py_ssize_t depth = nesting_depth(v, room);
    if (depth <= room)
        return 0;
    PyErr_Format(PyExc_OSError,
                 "UltraDict: %s (UD_ENAMETOOLONG): under a dict named with %zu characters, at "
                 "most %zd levels of nested dicts fit",
                 ud_strerror(UD_ENAMETOOLONG), len, room);
    return -1;
}

int pyud_write_value(Core *self, ud_dict *d, bool recurse, const ud_buf *k, PyObject *v) {
    int rc;
    if (is_plain_dict(v) && recurse) {
        ud_dict *c = NULL;
        if (check_depth(d, v) || build_child(self, d, v, &c))
            return -1;
        rc = ud_set_child(d, k->data, k->len, c);
        if (rc)
            ud_unlink(c); /* never published: nobody else knows it */
        ud_close(c);
    } else if (PyObject_TypeCheck(v, &pyud_core_type)) {
        /* Another UltraDict as a value: store a copy of its contents. */
        PyObject *copy = PyObject_CallMethod(v, "_to_dict", NULL);
        if (!copy)
            return -1;
        int r = pyud_write_value(self, d, recurse, k, copy);
        Py_DECREF(copy);
        return r;
    } else {
        ud_buf vl;
        ud_buf *vb = pyud_scratch_get(self, SCRATCH_VAL, &vl);
        if (pyud_encode_value(self, vb, v)) {
            pyud_scratch_put(self, SCRATCH_VAL, vb);
            return -1;
        }
        rc = ud_set(d, k->data, k->len, vb->data, vb->len);
        pyud_scratch_put(self, SCRATCH_VAL, vb);
    }
    if (rc) {
        pyud_raise(rc);
        return -1;
    }
    return 0;
}

void pyud_close_children(Core *self) {
    if (!self->children)
        return;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->children, &pos, &k, &v)) {
        Core *c = (Core *)v;
        pyud_close_children(c);
        ud_close(c->d);
        c->d = NULL;
    }
    PyDict_Clear(self->children);
}
