/*
 * py_lock.c - the lock of an UltraDict in Python: Core's lock methods and the Lock object
 * (`with ultra.lock:` and `with ultra.lock(block, timeout, ...):`).
 */
#include "py_ultradict.h"

#include <errno.h>
#include <limits.h>
#include <time.h>

/* ---- Locks. ---- */

/* The longest a waiting thread goes without running the signal handlers. */
#define WAIT_SLICE 0.1

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One slice of a wait, without the GIL; `left` is the time left of the caller's timeout. */
static int wait_slice(Core *self, const ud_lock_options *o, double left) {
    ud_lock_options s = *o;
    s.interruptible = true;
    s.timeout = left < WAIT_SLICE ? left : WAIT_SLICE;
    /* Only the last slice may take a dead holder's lock over at its end. */
    s.steal_after_timeout = o->steal_after_timeout && left <= WAIT_SLICE;
    ud_dict *d = self->d;
    int rc;
    self->lock_waiters++;
    Py_BEGIN_ALLOW_THREADS rc = ud_lock(d, &s);
    Py_END_ALLOW_THREADS self->lock_waiters--;
    return rc;
}

/* Counts a level taken through self (close() must not free the handle under its holder). */
static int note_taken(Core *self, int rc) {
    if (rc == 0 && self->lock_levels++ == 0)
        self->lock_thread = PyThread_get_thread_ident();
    return rc;
}

void pyud_unlock(Core *self) {
    if (ud_unlock(self->d) == 0)
        self->lock_levels--;
}

int pyud_check_close(Core *self) {
    if (self->lock_waiters ||
        (self->lock_levels > 0 && self->lock_thread != PyThread_get_thread_ident())) {
        PyErr_SetString(PyExc_RuntimeError,
                        "close(): another thread holds or waits for the lock of this UltraDict");
        return -1;
    }
    self->lock_levels = 0; /* ud_close() releases what this thread holds */
    return 0;
}

static int lock_wait(Core *self, const ud_lock_options *o) {
    /* The uncontended case keeps the GIL. */
    ud_lock_options nb = *o;
    nb.nonblock = true;
    nb.timeout = 0;
    int rc = ud_lock(self->d, &nb);
    if (rc != UD_EBUSY || o->nonblock)
        return rc;
    double deadline = o->timeout > 0 ? mono_now() + o->timeout : 0;
    for (;;) {
        double left = deadline ? deadline - mono_now() : INFINITY;
        if (left < 1e-6)
            return UD_ETIMEDOUT;
        rc = wait_slice(self, o, left);
        if (rc != -EINTR && (rc != UD_ETIMEDOUT || left <= WAIT_SLICE))
            return rc;
        if (PyErr_CheckSignals() < 0)
            return PYUD_LOCK_EXC;
    }
}

int pyud_lock_wait(Core *self, const ud_lock_options *o) {
    return note_taken(self, lock_wait(self, o));
}

int pyud_lock(Core *self) {
    static const ud_lock_options block = UD_LOCK_OPTIONS_INIT;
    int rc = pyud_lock_wait(self, &block);
    if (rc == 0)
        return 0;
    if (rc != PYUD_LOCK_EXC)
        pyud_raise(rc);
    return -1;
}

PyObject *core_lock_acquire(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"block", "timeout", "sleep_time", "steal_after_timeout", NULL};
    Core *self = (Core *)op;
    int block = 1, steal = 0;
    PyObject *timeout = Py_None;
    double sleep_time = 0.000001;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pOdp:acquire", kwlist, &block, &timeout,
                                     &sleep_time, &steal) ||
        pyud_check_open(self))
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
    o.nonblock = !block || (o.timeout == 0 && timeout != Py_None);
    int rc = pyud_lock_wait(self, &o);
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == PYUD_LOCK_EXC)
        return NULL;
    if (rc != UD_EBUSY && rc != UD_ETIMEDOUT)
        return pyud_raise(rc);
    PyObject *cls = pyud_exc(rc == UD_ETIMEDOUT ? "CannotAcquireLockTimeout" : "CannotAcquireLock");
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

PyObject *core_lock_release(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return NULL;
    int rc = ud_unlock(self->d);
    if (rc == 0)
        self->lock_levels--;
    if (rc == UD_ENOTLOCKED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot release un-acquired lock");
        return NULL;
    }
    return pyud_rc_none(rc);
}

PyObject *core_lock_holder(PyObject *op, PyObject *unused) {
    (void)unused;
    Core *self = (Core *)op;
    if (pyud_check_open(self))
        return NULL;
    return PyLong_FromLong((long)ud_lock_holder(self->d));
}

/* _lock_steal(pid): take the lock from `pid` only (0: from whoever holds it). True if taken. */
PyObject *core_lock_steal(PyObject *op, PyObject *args) {
    Core *self = (Core *)op;
    int pid = 0;
    if (!PyArg_ParseTuple(args, "|i:_lock_steal", &pid) || pyud_check_open(self))
        return NULL;
    int rc = note_taken(self, pid > 0 ? ud_lock_steal_from(self->d, pid) : ud_lock_steal(self->d));
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == UD_EBUSY)
        Py_RETURN_FALSE;
    if (rc == -ENOTSUP) {
        PyErr_SetString(PyExc_NotImplementedError,
                        "a robust mutex cannot be stolen (a dead holder is recovered by acquire)");
        return NULL;
    }
    return pyud_raise(rc);
}

/* ---- The lock object: `with ultra.lock:` and `with ultra.lock(block, timeout, ...):`. ---- */

/*
 * `with ultra.lock:` reads the property on every entry, so its object is made once per dict
 * (allocating and freeing one cost ~300 instructions, a tenth of a locked increment). The dict
 * holds that object, and the object only borrows the dict back, so that no cycle keeps a
 * deleted dict open; when the dict goes while the object is still referenced elsewhere, its
 * finalizer hands the object a reference of its own (pyud_lock_finalize). Objects made by
 * `ultra.lock(...)` carry arguments and always hold their dict.
 */
typedef struct {
    PyObject_HEAD Core *ud;
    PyObject *args; /* (block, timeout, sleep_time, steal_after_timeout) or NULL */
    bool owns_ud;   /* false: the dict's own lock object, which borrows it (see above) */
} Lock;

static PyObject *lock_classes[2]; /* RLock and SharedLock, set by the Python package */

static PyObject *new_lock(PyTypeObject *tp, Core *ud, PyObject *args, bool owns_ud) {
    Lock *l = (Lock *)tp->tp_alloc(tp, 0);
    if (!l)
        return NULL;
    if (owns_ud)
        Py_INCREF(ud);
    l->ud = ud;
    l->owns_ud = owns_ud;
    Py_XINCREF(args);
    l->args = args;
    return (PyObject *)l;
}

PyObject *core_get_lock(PyObject *op, void *unused) {
    (void)unused;
    Core *self = (Core *)op;
    PyObject *cls = lock_classes[self->spin ? 1 : 0];
    PyTypeObject *tp = cls ? (PyTypeObject *)cls : &pyud_lock_type;
    if (self->lock_obj && Py_TYPE(self->lock_obj) == tp) {
        Py_INCREF(self->lock_obj);
        return self->lock_obj;
    }
    /* A dict reopened with the other lock kind keeps its first object (someone may hold it)
     * and hands out owning ones. */
    if (self->lock_obj)
        return new_lock(tp, self, NULL, true);
    self->lock_obj = new_lock(tp, self, NULL, false);
    Py_XINCREF(self->lock_obj);
    return self->lock_obj;
}

void pyud_lock_drop(Core *self) {
    Py_CLEAR(self->lock_bound[0]);
    Py_CLEAR(self->lock_bound[1]);
    Py_CLEAR(self->lock_obj);
}

void pyud_lock_finalize(Core *self) {
    Lock *l = (Lock *)self->lock_obj;
    if (!l)
        return;
    /* Who else holds the object (the dict and its bound methods aside), or a bound method. */
    Py_ssize_t ours = 1, theirs = 0;
    for (int i = 0; i < 2; i++) {
        if (self->lock_bound[i]) {
            ours++;
            theirs += Py_REFCNT(self->lock_bound[i]) - 1;
        }
    }
    if (Py_REFCNT(l) == ours && theirs == 0)
        return;
    /* Referenced beyond the dict: the object keeps the dict alive from now on, which undoes
     * this deallocation, and the dict lets go of the object (no cycle). The dict is freed
     * with the object's last reference; a finalizer runs once, so it does not come back here. */
    Py_INCREF(self);
    l->owns_ud = true;
    pyud_lock_drop(self);
}

static void lock_dealloc(PyObject *op) {
    Lock *l = (Lock *)op;
    if (l->owns_ud)
        Py_CLEAR(l->ud);
    l->ud = NULL;
    Py_CLEAR(l->args);
    Py_TYPE(op)->tp_free(op);
}

/* The arguments of Core._lock_acquire (block, timeout, sleep_time, steal_after_timeout); a
 * missing sleep_time is the original's 0.000001. */
static PyObject *acquire_args(PyObject *block, PyObject *timeout, PyObject *sleep_time,
                              PyObject *steal) {
    PyObject *sl = sleep_time ? (Py_INCREF(sleep_time), sleep_time) : PyFloat_FromDouble(1e-6);
    PyObject *t = sl ? PyTuple_Pack(4, block, timeout, sl, steal) : NULL;
    Py_XDECREF(sl);
    return t;
}

static PyObject *lock_call(PyObject *op, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"block", "timeout", "sleep_time", "steal_after_timeout", NULL};
    Lock *l = (Lock *)op;
    PyObject *block = Py_True, *timeout = Py_None, *sleep_time = NULL, *steal = Py_False;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO:lock", kwlist, &block, &timeout, &sleep_time,
                                     &steal))
        return NULL;
    PyObject *t = acquire_args(block, timeout, sleep_time, steal);
    if (!t)
        return NULL;
    PyObject *r = new_lock(Py_TYPE(op), l->ud, t, true);
    Py_DECREF(t);
    return r;
}

static PyObject *lock_enter(PyObject *op, PyObject *unused) {
    (void)unused;
    Lock *l = (Lock *)op;
    if (pyud_check_open(l->ud))
        return NULL;
    if (!l->args) {
        /* The common case, `with ultra.lock:`, blocks without parsing anything. */
        if (pyud_lock(l->ud))
            return NULL;
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
    PyObject *t = acquire_args(block, timeout, sleep_time, steal);
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

PyTypeObject pyud_lock_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "UltraDict._ultradict.Lock",
    .tp_basicsize = sizeof(Lock),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The lock of an UltraDict (owned by a thread, re-entrant for it; shared by every "
              "lock object of the dict).",
    .tp_dealloc = lock_dealloc,
    .tp_call = lock_call,
    .tp_methods = lock_methods,
    .tp_getset = lock_getset,
};

/*
 * `with` looks __enter__ and __exit__ up on the type and binds them to the object: two method
 * objects made and freed per `with` (~400 instructions). For the dict's own lock object the
 * type's entries are these descriptors, which hand out the bound methods the dict keeps (a
 * reference from the dict, not from the object: no cycle); any other object, and the class
 * itself (contextlib.ExitStack calls type(cm).__exit__(cm, ...)), get the plain method.
 */
typedef struct {
    PyObject_HEAD PyObject *plain; /* the ordinary method descriptor */
    int slot;                      /* index into Core.lock_bound */
} BoundOnce;

static PyObject *bound_once_get(PyObject *op, PyObject *obj, PyObject *type) {
    BoundOnce *b = (BoundOnce *)op;
    descrgetfunc get = Py_TYPE(b->plain)->tp_descr_get;
    /* The dict's own object is always of one of the package's two classes. */
    PyTypeObject *tp = obj ? Py_TYPE(obj) : NULL;
    if (!tp || (tp != (PyTypeObject *)lock_classes[0] && tp != (PyTypeObject *)lock_classes[1]))
        return get(b->plain, obj, type);
    Lock *l = (Lock *)obj;
    if (l->owns_ud || !l->ud || l->ud->lock_obj != obj)
        return get(b->plain, obj, type);
    PyObject **slot = &l->ud->lock_bound[b->slot];
    if (!*slot)
        *slot = get(b->plain, obj, type);
    Py_XINCREF(*slot);
    return *slot;
}

static void bound_once_dealloc(PyObject *op) {
    Py_CLEAR(((BoundOnce *)op)->plain);
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject bound_once_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "UltraDict._ultradict.BoundOnce",
    .tp_basicsize = sizeof(BoundOnce),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = bound_once_dealloc,
    .tp_descr_get = bound_once_get,
};

int pyud_lock_type_init(void) {
    static const char *const names[2] = {"__enter__", "__exit__"};
    if (PyType_Ready(&bound_once_type) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        PyObject *plain = PyDict_GetItemString(pyud_lock_type.tp_dict, names[i]);
        BoundOnce *b = plain ? PyObject_New(BoundOnce, &bound_once_type) : NULL;
        if (!b)
            return -1;
        Py_INCREF(plain);
        b->plain = plain;
        b->slot = i;
        int rc = PyDict_SetItemString(pyud_lock_type.tp_dict, names[i], (PyObject *)b);
        Py_DECREF(b);
        if (rc)
            return -1;
    }
    PyType_Modified(&pyud_lock_type);
    return 0;
}

PyObject *pyud_set_lock_classes(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "O!O!:_set_lock_classes", &PyType_Type, &a, &PyType_Type, &b))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)a, &pyud_lock_type) ||
        !PyType_IsSubtype((PyTypeObject *)b, &pyud_lock_type)) {
        PyErr_SetString(PyExc_TypeError, "lock classes must derive from Lock");
        return NULL;
    }
    Py_INCREF(a);
    Py_INCREF(b);
    Py_XSETREF(lock_classes[0], a);
    Py_XSETREF(lock_classes[1], b);
    Py_RETURN_NONE;
}
