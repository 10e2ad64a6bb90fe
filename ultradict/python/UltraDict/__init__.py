"""UltraDict: a dict shared between processes through shared memory, on libultradict.

    from UltraDict import UltraDict
    ultra = UltraDict(name='x')          # create, or attach to an existing 'x'
    ultra['counter'] = 0
    with ultra.lock:
        ultra['counter'] += 1

The public surface follows the original Python UltraDict; see README.md ("Python") for the
differences, all deliberate.
"""
import logging
import os
import pickle
import sys

from . import Exceptions
from . import _ultradict

__all__ = ['UltraDict', 'Exceptions']


def _pid_alive(pid):
    """True if the process exists and is not a zombie (a zombie holds nothing)."""
    if pid <= 0:
        return False
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = stat[stat.rfind(b')') + 2:][:1]
    return state not in (b'Z', b'X', b'x')


class _Lock(_ultradict.Lock):
    """The dict's lock, as a context manager: `with ultra.lock:` or
    `with ultra.lock(block=True, timeout=None, sleep_time=0.000001, steal_after_timeout=False):`.
    Owned by the thread that took it, like multiprocessing.RLock: re-entrant for that thread
    (every lock object of one UltraDict shares its hold), waited for by every other thread and
    process; release() from another thread raises RuntimeError. A wait lets go of the GIL and
    ends with KeyboardInterrupt soon after Ctrl-C. acquire(block=True, sleep_time=0.000001,
    timeout=None, steal_after_timeout=False) raises CannotAcquireLock (block=False) or
    CannotAcquireLockTimeout; steal_after_timeout takes the lock after the timeout from a dead
    holder only. __enter__, __exit__, acquire and release are in C."""

    __slots__ = ()

    def steal(self, from_pid=0, release=False):
        """Takes the lock from `from_pid` (0: whoever holds it), alive or not. True if taken."""
        taken = self._ud._lock_steal(from_pid)
        if taken and release:
            self.release()
        return taken

    def steal_from_dead(self, from_pid=0, release=False):
        """Takes the lock only if its holder (`from_pid`, or the current one) is dead. One
        compare-and-swap on that holder: nobody else's hold is taken. True if taken."""
        ud = self._ud
        pid = from_pid or ud._lock_holder()
        if not pid or _pid_alive(pid):
            return False
        if ud._spin:
            taken = ud._lock_steal(pid)
        else:
            # A robust mutex whose holder died is recovered by the next acquire.
            try:
                taken = ud._lock_acquire(False)
            except Exceptions.CannotAcquireLock:
                taken = False
        if taken and release:
            self.release()
        return bool(taken)

    def get_remote_pid(self):
        return self._ud._lock_holder()

    def status(self):
        return {'holder_pid': self._ud._lock_holder(), 'shared_lock': self._ud._spin,
                'pid': os.getpid()}

    def print_status(self, status=None):
        print(status or self.status())

    def __repr__(self):
        return f'<{type(self).__name__} holder_pid={self._ud._lock_holder()}>'


class UltraDict(_ultradict.Core):
    """A dict shared between processes through shared memory.

    Parameters (as in the original): name (None: a random one), create (None: attach or
    create, True: create only, False: attach only), buffer_size (bytes of the update stream;
    None: 1 MiB; values below 4096 are rounded up), serializer (an object with dumps/loads;
    pickle by default), shared_lock (True: the spin lock that holds the holder's identity;
    default: a robust process-shared mutex), full_dump_size (static size of each full dump;
    None: grows as needed), auto_unlink (None: the creator unlinks at close), recurse (nested
    dicts become UltraDicts), recurse_register (accepted; children are registered by name),
    then initial items and keyword items. When attaching, the creator's buffer_size,
    full_dump_size, lock kind and recurse win."""

    Exceptions = Exceptions
    log = logging

    class RLock(_Lock):
        """The default lock: a robust, process-shared mutex."""
        __slots__ = ()

    class SharedLock(_Lock):
        """The shared_lock=True lock: an atomic word holding the holder's pid and start time."""
        __slots__ = ()

    def __init__(self, *args, name=None, create=None, buffer_size=None, serializer=pickle,
                 shared_lock=None, full_dump_size=None, auto_unlink=None, recurse=None,
                 recurse_register=None, **kwargs):
        if len(args) > 1:
            raise TypeError(f'UltraDict expected at most 1 positional argument, got {len(args)}')
        self._open(name=name,
                   create=-1 if create is None else int(bool(create)),
                   buffer_size=int(buffer_size or 0),
                   full_dump_size=int(full_dump_size or 0),
                   shared_lock=bool(shared_lock),
                   auto_unlink=-1 if auto_unlink is None else int(bool(auto_unlink)),
                   recurse=bool(recurse),
                   serializer=serializer)
        if args or kwargs:
            self.update(*args, **kwargs)

    # ---- mapping helpers ----
    def update(self, other=None, *args, **kwargs):
        items = []
        if other is not None:
            if hasattr(other, 'keys'):
                items.extend((k, other[k]) for k in other.keys())
            else:
                items.extend(other)
        items.extend(kwargs.items())
        if items:
            self._update([tuple(i) for i in items])

    def has_key(self, key):
        return key in self

    # dict's own versions of these would see the (always empty) dict storage underneath.
    def __reversed__(self):
        return reversed(self.keys())

    def __or__(self, other):
        if not isinstance(other, dict):
            return NotImplemented
        out = self._to_dict()
        out.update(other)
        return out

    def __ror__(self, other):
        if not isinstance(other, dict):
            return NotImplemented
        out = dict(other)
        out.update(self._to_dict())
        return out

    def __ior__(self, other):
        self.update(other)
        return self

    @classmethod
    def fromkeys(cls, iterable, value=None, **kwargs):
        return cls(((k, value) for k in iterable), **kwargs)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __reduce__(self):
        if self._is_child:
            raise TypeError('a nested UltraDict cannot be pickled; pass its parent')
        return (_attach, (self.name, self._plain_pickle))

    @property
    def data(self):
        """A plain dict with the contents (nested dicts copied too)."""
        return self._to_dict()

    # ---- status ----
    def status(self):
        return self._status()

    def print_status(self, status=None, stderr=False):
        out = sys.stderr if stderr else sys.stdout
        for k, v in (status or self.status()).items():
            print(f'{k}: {v}', file=out)

    @property
    def buffer_size(self):
        return self._status()['buffer_size']

    @property
    def full_dump_size(self):
        return self._status()['full_dump_size'] or None

    @property
    def full_dump_counter(self):
        return self._status()['dump_count']

    @property
    def shared_lock(self):
        return self._spin

    # ---- lifetime ----
    def close(self, unlink=False):
        """Closes the handle (unlinking if asked, or if this handle auto-unlinks) and returns
        the contents as a plain dict."""
        if self.closed:
            return {}
        data = self._to_dict()
        if unlink:
            self._unlink()
        self._close_handle()
        return data

    def unlink(self):
        """Removes the dict's names (and its children's); attached processes keep working."""
        self._unlink()

    def cleanup(self):
        return self.close()

    @staticmethod
    def unlink_by_name(name, ignore_errors=False):
        """Removes the dict `name` and its nested children. CannotAttachSharedMemory if there is
        nothing to remove, unless ignore_errors."""
        try:
            if _ultradict.unlink_by_name(name):
                return True
        except (ValueError, OSError):
            if not ignore_errors:
                raise
            return False
        if not ignore_errors:
            raise Exceptions.CannotAttachSharedMemory(f'no UltraDict called {name!r}')
        return False


_ultradict._set_lock_classes(UltraDict.RLock, UltraDict.SharedLock)


def _attach(name, plain_pickle=True):
    return UltraDict(name=name, create=False, auto_unlink=False)
