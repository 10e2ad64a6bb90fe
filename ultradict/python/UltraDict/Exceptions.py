"""The exceptions of UltraDict, by the names the original module uses."""
import time


class CannotAttachSharedMemory(Exception):
    """No dict of that name exists (create=False), or it cannot be opened."""


class CannotAcquireLock(Exception):
    """The lock is held by another process: `blocking_pid` names it, `timestamp` says when."""

    def __init__(self, *args, blocking_pid=0, timestamp=None, **kwargs):
        super().__init__('Cannot acquire lock', *args)
        self.blocking_pid = blocking_pid
        self.timestamp = timestamp or time.monotonic()


class CannotAcquireLockTimeout(CannotAcquireLock):
    """The lock could not be taken within the timeout."""

    def __init__(self, *args, time_passed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_passed = time_passed


class ParameterMismatch(Exception):
    """The parameters contradict the existing dict."""


class AlreadyClosed(Exception):
    """The UltraDict was closed."""


class AlreadyExists(Exception):
    """A dict of that name exists already (create=True)."""


class FullDumpMemoryFull(Exception):
    """The full dump does not fit in the static full_dump_size."""


class MissingDependency(Exception):
    """Kept for compatibility: this module has no optional dependencies."""
