/*
 * py_children.c - nested dicts of the UltraDict module: a child object per nested dict
 * (one open handle each, cached by name), and values written as new children.
 */
#include "py_ultradict.h"

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

/* Creates a child of d holding the items of `src`, unpublished. */
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
            ud_close(c);
            return -1;
        }
    }
    ud_buf_free(&kb);
    *out = c;
    return 0;
}

int pyud_write_value(Core *self, ud_dict *d, bool recurse, const ud_buf *k, PyObject *v) {
    int rc;
    if (PyDict_Check(v) && !PyObject_TypeCheck(v, &pyud_core_type) && recurse) {
        ud_dict *c = NULL;
        if (build_child(self, d, v, &c))
            return -1;
        rc = ud_set_child(d, k->data, k->len, c);
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
