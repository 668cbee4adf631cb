"""Locks, semaphores, events and barriers whose state lives on the engine
(``multiprocessing.synchronize``'s names and behaviour)."""

import threading

from .. import _native
from ._handle import Handle

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Barrier", "Condition"]


def _timeout(block, timeout):
    if timeout is not None and timeout < 0:
        timeout = 0
    return block, timeout


class _Acquirable(Handle):
    def acquire(self, block=True, timeout=None):
        """Takes it, waiting (at most ``timeout`` seconds) if ``block``; whether it came."""
        return self._obj.acquire(*_timeout(block, timeout))

    def release(self):
        try:
            self._obj.release()
        except _native.StratoError as e:
            raise ValueError("semaphore or lock released too many times") from e

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class Semaphore(_Acquirable):
    """A counter of permits any process may take and give back."""

    _kind = "semaphore"

    def __init__(self, value=1, *, ctx=None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._open(arg=value)

    def get_value(self):
        return self._obj.available()


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses to be released above its initial value."""

    _kind = "bounded_semaphore"


class Lock(_Acquirable):
    """A non-recursive lock; any process may release it, as with ``multiprocessing.Lock``."""

    _kind = "lock"

    def __init__(self, *, ctx=None):
        self._open()


class RLock(Handle):
    """A recursive lock owned by a thread of a process; only its owner releases it."""

    _kind = "rlock"

    def __init__(self, *, ctx=None):
        self._open()

    @staticmethod
    def _owner():
        return threading.get_ident() & 0xFFFF_FFFF_FFFF_FFFF

    def acquire(self, block=True, timeout=None):
        return self._obj.rlock_acquire(self._owner(), *_timeout(block, timeout))

    def release(self):
        try:
            self._obj.rlock_release(self._owner())
        except _native.StratoError as e:
            raise AssertionError("attempt to release recursive lock not owned by thread") from e

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class Event(Handle):
    """A flag processes wait for."""

    _kind = "event"

    def __init__(self, *, ctx=None):
        self._open()

    def is_set(self):
        return self._obj.is_set()

    def set(self):
        self._obj.set()

    def clear(self):
        self._obj.clear()

    def wait(self, timeout=None):
        """Waits until the flag is set; whether it is (False after ``timeout`` seconds)."""
        if timeout is not None and timeout < 0:
            timeout = 0
        return self._obj.wait(timeout)


class Barrier(Handle):
    """``parties`` processes (or threads) meet; each ``wait`` returns once all came.

    ``wait`` returns 0 in one party (the leader, which runs ``action``) and ``parties - 1``
    elsewhere; a party that times out or dies breaks the barrier for all
    (``threading.BrokenBarrierError``).
    """

    _kind = "barrier"

    def __init__(self, parties, action=None, timeout=None, *, ctx=None):
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._parties, self._action, self._timeout = parties, action, timeout
        self._open(arg=parties)

    def _state(self):
        return (self._parties, self._action, self._timeout)

    def _restore(self, state):
        self._parties, self._action, self._timeout = state

    @property
    def parties(self):
        return self._parties

    def wait(self, timeout=None):
        if timeout is None:
            timeout = self._timeout
        leader = self._obj.barrier_wait(timeout)
        if leader is None:
            raise threading.BrokenBarrierError
        if leader:
            if self._action is not None:
                self._action()
            return 0
        return self._parties - 1


class Condition:
    """Not yet on the engine: ``Condition`` comes with the next slice of the Python front."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "strato.multiprocessing.Condition is not available yet; use an Event or a Queue"
        )
