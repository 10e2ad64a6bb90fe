/*
 * _ultradict.c - the CPython core of the UltraDict module, over libultradict: the module
 * itself (init, module functions) and the mapping of libultradict codes to exceptions.
 *
 * `Core` is a subclass of dict (as the original UltraDict is, so it can stand in for an
 * object's __dict__) whose own dict storage stays empty: every mapping slot goes to the shared
 * dict. Reads are served from an in-process cache of decoded values, which is dropped when the
 * dict's change position (ud_change_position(), one atomic load) moves: a read of a key that
 * nothing changed costs one load and one Python dict lookup.
 *
 * Keys are encoded canonically, so that keys Python considers equal are one key: ints, bools
 * and integral floats share the decimal form, other floats are 8 bytes, str is UTF-8, None and
 * tuples have forms of their own, any other key is pickled (equal only if the pickles are).
 * Each starts with a mark that text never starts with; bytes keys are stored raw, and bytes
 * the module did not encode (the CLI's, a C program's) read back as bytes (py_keyform.h).
 * Values are pickled (or go through the serializer); with the default pickle, ints are stored
 * as decimal ASCII, which the library's ud_incr() and the CLI understand, so `incr()` is an
 * atomic += on them, and other programs' values read back as bytes.
 *
 * Nested dicts (recurse) are children created filled before they are published, and each
 * child keeps one open handle, cached by name, instead of being reopened on every access.
 *
 * The other files of the core are listed in py_ultradict.h.
 */
#include "py_ultradict.h"

#include <errno.h>

PyObject *pyud_exc_mod;
PyObject *pyud_pickle_dumps, *pyud_pickle_loads;

/* ---- Errors. ---- */

PyObject *pyud_exc(const char *name) {
    PyObject *e = pyud_exc_mod ? PyObject_GetAttrString(pyud_exc_mod, name) : NULL;
    if (!e) {
        PyErr_Clear();
        Py_INCREF(PyExc_RuntimeError);
        return PyExc_RuntimeError;
    }
    return e;
}

PyObject *pyud_raise(int rc) {
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
    PyObject *e = cls ? pyud_exc(cls) : (Py_INCREF(PyExc_OSError), PyExc_OSError);
    if (cls)
        PyErr_Format(e, "%s (%s)", ud_strerror(rc), ud_errname(rc));
    else
        PyErr_Format(e, "UltraDict: %s (%s)", ud_strerror(rc), ud_errname(rc));
    Py_DECREF(e);
    return NULL;
}

int pyud_check_open(Core *self) {
    if (self->d)
        return 0;
    PyObject *e = pyud_exc("AlreadyClosed");
    PyErr_SetString(e, "the UltraDict is closed");
    Py_DECREF(e);
    return -1;
}

PyObject *pyud_rc_none(int rc) {
    if (rc)
        return pyud_raise(rc);
    Py_RETURN_NONE;
}

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
    return pyud_raise(rc);
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
    {"_set_lock_classes", pyud_set_lock_classes, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod_def = {PyModuleDef_HEAD_INIT, "_ultradict",
                                     "The C core of UltraDict, over libultradict.", -1,
                                     mod_methods};

PyMODINIT_FUNC PyInit__ultradict(void) {
    pyud_core_type.tp_base = &PyDict_Type;
    if (PyType_Ready(&pyud_core_type) < 0 || PyType_Ready(&pyud_lock_type) < 0 ||
        pyud_lock_type_init() < 0)
        return NULL;
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (!pickle)
        return NULL;
    pyud_pickle_dumps = PyObject_GetAttrString(pickle, "dumps");
    pyud_pickle_loads = PyObject_GetAttrString(pickle, "loads");
    Py_DECREF(pickle);
    if (!pyud_pickle_dumps || !pyud_pickle_loads)
        return NULL;
    pyud_exc_mod = PyImport_ImportModule("UltraDict.Exceptions");
    if (!pyud_exc_mod)
        return NULL;
    PyObject *m = PyModule_Create(&mod_def);
    if (!m)
        return NULL;
    Py_INCREF(&pyud_core_type);
    if (PyModule_AddObject(m, "Core", (PyObject *)&pyud_core_type) < 0) {
        Py_DECREF(&pyud_core_type);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&pyud_lock_type);
    if (PyModule_AddObject(m, "Lock", (PyObject *)&pyud_lock_type) < 0) {
        Py_DECREF(&pyud_lock_type);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "DEFAULT_BUFFER_SIZE", UD_DEFAULT_BUFFER_SIZE);
    return m;
}
