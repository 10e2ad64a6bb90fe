/*
 * py_type.c - the Core type: opening, dumps, loads and status, closing, and the type's
 * slots and tables.
 */
#include "py_ultradict.h"

/* ---- Dumps, loads, status. ---- */

static PyObject *core_dump(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    /* The lock first, waiting without the GIL (see pyud_lock_wait): nothing is written before
     * the dump in this section, so it runs at once. */
    if (pyud_check_open(self) || pyud_lock(self))
        return NULL;
    int rc = ud_dump(self->d);
    pyud_unlock(self);
    return pyud_rc_none(rc);
}

static PyObject *core_load(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"force", NULL};
    int force = 0;
    Core *self = (Core *)op;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:load", kwlist, &force) || pyud_check_open(self))
        return NULL;
    return pyud_rc_none(ud_load(self->d, force != 0));
}

static PyObject *core_apply_update(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    return pyud_check_open(self) ? NULL : pyud_rc_none(ud_apply_update(self->d));
}

static PyObject *core_status(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return NULL;
    ud_status_info st;
    int rc = ud_status(self->d, &st);
    if (rc)
        return pyud_raise(rc);
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
    if (pyud_check_open(self))
        return NULL;
    return PyLong_FromUnsignedLongLong(ud_change_position(self->d));
}

static PyObject *core_close_handle(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (!self->d)
        Py_RETURN_NONE;
    if (pyud_check_close(self))
        return NULL;
    pyud_close_children(self);
    pyud_cache_drop(self);
    int rc = ud_close(self->d);
    self->d = NULL;
    return pyud_rc_none(rc);
}

static PyObject *core_unlink(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return NULL;
    int rc = ud_unlink(self->d);
    return rc == UD_ENOENT ? (Py_INCREF(Py_None), Py_None) : pyud_rc_none(rc);
}

static PyObject *core_get_name(PyObject *op, void *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (pyud_check_open(self))
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
        Py_INCREF(pyud_pickle_dumps);
        self->dumps = pyud_pickle_dumps;
        Py_INCREF(pyud_pickle_loads);
        self->loads = pyud_pickle_loads;
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
        return pyud_raise(rc);
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
    Py_VISIT(self->lock_obj);
    Py_VISIT(self->lock_bound[0]);
    Py_VISIT(self->lock_bound[1]);
    return PyDict_Type.tp_traverse(op, visit, arg);
}

/* Drops the object's references (not the dict's own storage, which the base type clears). */
static void core_drop_refs(Core *self) {
    Py_CLEAR(self->last_key);
    Py_CLEAR(self->last_val);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->children);
    Py_CLEAR(self->dumps);
    Py_CLEAR(self->loads);
    pyud_lock_drop(self);
}

static int core_clear_refs(PyObject *op) {
    core_drop_refs((Core *)op);
    return PyDict_Type.tp_clear(op);
}

static void core_finalize(PyObject *op) {
    pyud_lock_finalize((Core *)op);
}

static void core_dealloc(PyObject *op) {
    Core *self = (Core *)op;
    /* A subclass's dealloc has run the finalizer already (it runs once). */
    if (PyObject_CallFinalizerFromDealloc(op) < 0)
        return; /* the lock object keeps the dict (pyud_lock_finalize) */
    PyObject_GC_UnTrack(op);
    if (self->d) {
        /* Children first: their handles are the parent's to close. */
        pyud_close_children(self);
        ud_close(self->d);
        self->d = NULL;
    }
    core_drop_refs(self);
    ud_buf_free(&self->scratch[0]);
    ud_buf_free(&self->scratch[1]);
    pyud_memo_free(&self->key_memo);
    pyud_memo_free(&self->val_memo);
    PyDict_Type.tp_dealloc(op);
}

static PyObject *core_richcompare(PyObject *a, PyObject *b, int op) {
    if (op != Py_EQ && op != Py_NE)
        Py_RETURN_NOTIMPLEMENTED;
    if (!PyDict_Check(b))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *da = pyud_to_dict((Core *)a);
    if (!da)
        return NULL;
    PyObject *db =
        PyObject_TypeCheck(b, &pyud_core_type) ? pyud_to_dict((Core *)b) : (Py_INCREF(b), b);
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
    PyObject *d = pyud_to_dict(self);
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

PyTypeObject pyud_core_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "UltraDict._ultradict.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The shared dict over libultradict (use UltraDict.UltraDict).",
    .tp_dealloc = core_dealloc,
    .tp_finalize = core_finalize,
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
