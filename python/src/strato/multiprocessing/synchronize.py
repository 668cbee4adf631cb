"""Locks, semaphores, events and barriers whose state lives on the engine
(``multiprocessing.synchronize``'s names and behaviour)."""

import sys
import threading
import time
from collections import Counter

from .. import _native
from ._handle import Handle

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Barrier", "Condition"]


#: How many times each thread of this process holds each lock: ``(name, thread) -> count``.
#: ``Condition`` reads it to release a lock fully while it waits.
_held = Counter()


def _note_acquired(lock):
    _held[(lock.name, threading.get_ident())] += 1


def _note_released(lock):
    key = (lock.name, threading.get_ident())
    if _held[key] > 1:
        _held[key] -= 1
    else:
        _held.pop(key, None)


def _held_here(lock):
    """How many times this thread holds ``lock`` (as far as this process has seen)."""
    return _held.get((lock.name, threading.get_ident()), 0)


def _timeout(block, timeout):
    if timeout is not None and timeout < 0:
        timeout = 0
    return block, timeout


class _Acquirable(Handle):
    def acquire(self, block=True, timeout=None):
        """Takes it, waiting (at most ``timeout`` seconds) if ``block``; whether it came."""
        acquired = self._obj.acquire(*_timeout(block, timeout))
        if acquired:
            _note_acquired(self)
        return acquired

    def release(self):
        # Any process may release a Lock or a Semaphore, so what this thread took may have
        # been given back already: wait for the engine's answer, which says so.
        try:
            self._obj.release()
        except _native.StratoError as e:
            raise ValueError("semaphore or lock released too many times") from e
        _note_released(self)

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
        acquired = self._obj.rlock_acquire(self._owner(), *_timeout(block, timeout))
        if acquired:
            _note_acquired(self)
        return acquired

    def release(self):
        # Only its owner releases an RLock, so a thread that holds it knows the release
        # cannot fail: it goes without waiting for the engine's answer.
        held = _held_here(self) > 0
        try:
            self._obj.rlock_release(self._owner(), not held)
        except _native.StratoError as e:
            raise AssertionError("attempt to release recursive lock not owned by thread") from e
        _note_released(self)

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

    def __repr__(self):
        return f"<Event at {id(self):#x} {'set' if self.is_set() else 'unset'}>"

    def wait(self, timeout=None):
        """Waits until the flag is set; whether it is (False after ``timeout`` seconds)."""
        if timeout is not None and timeout < 0:
            timeout = 0
        return self._obj.wait(timeout)


class Condition:
    """A condition variable over a ``Lock`` or ``RLock`` (a new ``RLock`` by default).

    It is the standard library's algorithm on the engine's semaphores: a waiter counts
    itself asleep, releases the lock (every level of an ``RLock``), waits for a wake-up
    permit and counts itself woken; ``notify`` hands out permits to at most ``n`` sleepers
    and waits until they took them, so a notification is never lost and never reaches a
    thread that starts waiting after it. Every wait is on the engine, none polls.
    """

    def __init__(self, lock=None, *, ctx=None):
        self._lock = lock if lock is not None else RLock()
        self._sleeping_count = Semaphore(0)
        self._woken_count = Semaphore(0)
        self._wait_semaphore = Semaphore(0)

    def acquire(self, block=True, timeout=None):
        return self._lock.acquire(block, timeout)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def __repr__(self):
        return f"<strato Condition({self._lock!r})>"

    def wait(self, timeout=None):
        """Releases the lock, waits for a notification (at most ``timeout`` seconds) and
        takes the lock again; whether it was notified."""
        levels = _held_here(self._lock)
        if not levels:
            raise AssertionError("must acquire() condition before using wait()")
        self._sleeping_count.release()
        for _ in range(levels):
            self._lock.release()
        try:
            return self._wait_semaphore.acquire(True, timeout)
        finally:
            self._woken_count.release()
            for _ in range(levels):
                self._lock.acquire()

    def notify(self, n=1):
        """Wakes at most ``n`` waiters (the lock must be held)."""
        if not _held_here(self._lock):
            raise AssertionError("lock is not owned")
        # Sleepers that timed out since the last notify counted themselves woken.
        while self._woken_count.acquire(False):
            self._sleeping_count.acquire(False)
        sleepers = 0
        while sleepers < n and self._sleeping_count.acquire(False):
            self._wait_semaphore.release()
            sleepers += 1
        if sleepers:
            for _ in range(sleepers):
                self._woken_count.acquire()
            # A sleeper that timed out just now left its permit: take it back.
            while self._wait_semaphore.acquire(False):
                pass

    def notify_all(self):
        self.notify(sys.maxsize)

    def wait_for(self, predicate, timeout=None):
        """Waits until ``predicate()`` is true (at most ``timeout`` seconds); its last
        value."""
        result = predicate()
        if result:
            return result
        deadline = None if timeout is None else time.monotonic() + timeout
        while not result:
            left = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
            self.wait(left)
            result = predicate()
        return result


#: The barrier's word on the engine: its epoch (bumped by ``reset``), whether it is broken,
#: and how many parties arrived in this epoch, in one integer that one ``fetch_add`` reads.
_ARRIVED = (1 << 32) - 1
_BROKEN = 1 << 32
_EPOCH = 1 << 33


class Barrier(Handle):
    """``parties`` processes (or threads) meet; each ``wait`` returns once all came.

    ``threading.Barrier``'s interface and semantics (``wait`` returns each party a distinct
    index, the last to come runs ``action`` before any leaves, a default ``timeout``,
    ``n_waiting``, ``broken``, ``abort``, ``reset``, ``threading.BrokenBarrierError``) in
    two round trips per crossing: one ``fetch_add`` on an integer holding the epoch, a
    broken flag and the arrivals, and one wait on the engine's barrier of that epoch.
    Breaking it deletes that barrier, which wakes its waiters; ``reset`` starts a new epoch.
    """

    _kind = "int"

    def __init__(self, parties, action=None, timeout=None, *, ctx=None):
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._open()
        self._restore((parties, action, timeout))

    def _state(self):
        return (self._parties, self._action, self._timeout)

    def _restore(self, state):
        self._parties, self._action, self._timeout = state
        self._crossings = {}  # (epoch, stage) -> this process's reference to the barrier

    def _crossing(self, epoch, stage):
        """The engine barrier of ``epoch`` (``stage`` "a": the one after the action),
        opened once per process. A first opening re-reads the word: a barrier broken
        meanwhile was deleted, and opening it made a fresh one that nobody would ever
        break."""
        key = (epoch, stage)
        barrier = self._crossings.get(key)
        if barrier is None:
            barrier = _native.Object.open("barrier", self._crossing_name(epoch, stage),
                                          self._parties)
            word = self._obj.load()
            if word // _EPOCH != epoch or word & _BROKEN:
                _native.Object.delete(barrier.name)
                raise threading.BrokenBarrierError
            self._crossings = {k: v for k, v in self._crossings.items() if k[0] == epoch}
            self._crossings[key] = barrier
        return barrier

    def _crossing_name(self, epoch, stage=""):
        return f"{self.name}.{epoch}{stage}"

    def wait(self, timeout=None):
        """Waits until all parties called ``wait``; a distinct index in ``range(parties)``
        for each. ``BrokenBarrierError`` if the barrier is or becomes broken (``abort``,
        ``reset``, a party's timeout, a failed ``action``)."""
        if timeout is None:
            timeout = self._timeout
        word = self._obj.add_int(1)
        epoch, index = word // _EPOCH, (word & _ARRIVED) % self._parties
        if word & _BROKEN:
            raise threading.BrokenBarrierError
        try:
            self._cross(epoch, "", timeout)
            if self._action is not None:
                if index == self._parties - 1:
                    self._action()
                self._cross(epoch, "a", timeout)
        except BaseException:
            # As threading.Barrier: whatever stops a party breaks the barrier for all.
            self._break(epoch)
            raise
        return index

    def _cross(self, epoch, stage, timeout):
        try:
            passed = self._crossing(epoch, stage).barrier_wait(timeout)
        except _native.StratoError:  # deleted while it waited: broken, or reset
            passed = None
        if passed is None:
            raise threading.BrokenBarrierError

    def _break(self, epoch):
        """Marks ``epoch`` broken (if it still is the epoch) and wakes its waiters."""
        word = self._obj.load()
        while word // _EPOCH == epoch and not word & _BROKEN:
            done, word = self._obj.cas_int(word, word | _BROKEN)
            if done:
                break
        for stage in ("", "a"):
            _native.Object.delete(self._crossing_name(epoch, stage))

    def abort(self):
        """Breaks the barrier: every party waiting now or later gets BrokenBarrierError
        until ``reset``."""
        self._break(self._obj.load() // _EPOCH)

    def reset(self):
        """Back to its first state: parties waiting now get BrokenBarrierError."""
        word = self._obj.load()
        while True:
            done, had = self._obj.cas_int(word, (word // _EPOCH + 1) * _EPOCH)
            if done:
                break
            word = had
        for stage in ("", "a"):
            _native.Object.delete(self._crossing_name(word // _EPOCH, stage))

    @property
    def parties(self):
        return self._parties

    @property
    def n_waiting(self):
        """How many parties are waiting in the current crossing."""
        word = self._obj.load()
        return 0 if word & _BROKEN else (word & _ARRIVED) % self._parties

    @property
    def broken(self):
        return bool(self._obj.load() & _BROKEN)

    def __repr__(self):
        return f"<strato Barrier parties={self._parties}>"
