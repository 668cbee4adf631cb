"""Processes whose body runs on a strato worker process (``multiprocessing.process``'s
``Process``, ``current_process``, ``active_children``)."""

import itertools
import os
import pickle
import signal
import sys
import traceback
import weakref

from .. import _native, _pickle
from .pool import _become_driver

__all__ = ["Process", "current_process", "parent_process", "active_children"]

_names = itertools.count(1)
#: The processes this process started and has not joined.
_children = set()
#: Every Process object alive in this process (the standard library keeps the same set).
_dangling = weakref.WeakSet()
#: The Process whose body runs in this worker process, if any.
_current = None


class _MainProcess:
    name = "MainProcess"
    daemon = False

    @property
    def pid(self):
        return os.getpid()

    ident = pid


_main = _MainProcess()


def current_process():
    """The Process whose body is running here, or the main process."""
    return _current or _main


def parent_process():
    """None: a body's parent is the driver, which may be on another machine."""
    return None


def _cleanup():
    """Forgets the children that ended (the standard library's hook; joining does it)."""
    active_children()


def active_children():
    """The started processes that are still running (joining those that ended)."""
    for child in list(_children):
        child._settle(0)
    return [c for c in _children if c.is_alive()]


def _run(process):
    """In the worker: runs the body; its exit code is the task's result."""
    global _current
    _current = process
    process._pid = os.getpid()
    try:
        process.run()
        return 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - as the standard library, reported and exit 1
        print(f"Process {process.name}:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        _current = None
        sys.stdout.flush()
        sys.stderr.flush()


class Process:
    """``multiprocessing.Process``: ``start`` runs ``target(*args, **kwargs)`` (or an
    overridden ``run``) on a worker process of its own; ``join`` waits for it, and its
    ``exitcode`` is 0, the code it passed to ``sys.exit``, 1 after an exception, or minus
    the signal that ended it. What the body prints goes to this process's standard output
    and error as it runs (and is kept with the task's logs)."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *,
                 daemon=None):
        if group is not None:
            raise AssertionError("group argument must be None for now")
        self._target, self._args, self._kwargs = target, tuple(args), dict(kwargs or {})
        self._name = name or f"Process-{next(_names)}"
        self.daemon = bool(daemon)
        self._executor = self._future = self._exitcode = self._pid = None
        _dangling.add(self)

    def run(self):
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_executor"] = state["_future"] = None
        return state

    def start(self):
        if self._future is not None or self._exitcode is not None:
            raise AssertionError("cannot start a process twice")
        _become_driver()
        self._executor = _native.Executor(1)
        payload = _pickle.dumps((None, _run, (self,), {}))
        # A process runs once: a body whose worker died is not run again.
        self._future = self._executor.submit(payload, retries=0)
        pids = self._executor.worker_pids()
        self._pid = pids[0] if pids else None
        _children.add(self)

    def _settle(self, timeout):
        """Takes the exit code if the body ended within ``timeout``; whether it did."""
        if self._exitcode is not None:
            return True
        if self._future is None:
            return False
        try:
            raw = self._future.result(timeout)
        except _native.TaskFailed:
            self._finish(-signal.SIGKILL)
            return True
        if raw is None:
            return False
        outcome = pickle.loads(raw)
        self._finish(outcome[1] if outcome[0] else 1)
        return True

    def _finish(self, code):
        self._exitcode = code
        self._executor = self._future = None
        _children.discard(self)

    def join(self, timeout=None):
        if self._future is None and self._exitcode is None:
            raise AssertionError("can only join a started process")
        self._settle(timeout)

    def is_alive(self):
        if self._future is None:
            return False
        return not self._settle(0)

    def terminate(self):
        """Stops the body now (its worker process is stopped); ``exitcode`` is -SIGTERM."""
        if self.is_alive():
            self._future = None
            self._executor = None
            self._exitcode = -signal.SIGTERM
            _children.discard(self)

    def kill(self):
        self.terminate()

    def close(self):
        if self.is_alive():
            raise ValueError("Cannot close a process while it is still running")

    @property
    def exitcode(self):
        if self._future is not None:
            self._settle(0)
        return self._exitcode

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):
        self._name = str(name)

    @property
    def pid(self):
        return self._pid

    ident = pid

    def __repr__(self):
        if self._future is None and self._exitcode is None:
            status = "initial"
        elif self._exitcode is None:
            status = "started"
        else:
            status = f"stopped exitcode={self._exitcode}"
        return f"<strato Process name={self._name!r} {status}>"
