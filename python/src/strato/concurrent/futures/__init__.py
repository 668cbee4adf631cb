"""``concurrent.futures`` with a ``ProcessPoolExecutor`` whose tasks run on strato's Python
workers: ``from strato.concurrent.futures import ProcessPoolExecutor``.

Everything else (``Future``, ``wait``, ``as_completed``, ``ThreadPoolExecutor``, the
constants and exceptions) is the standard library's own, so the futures this executor
returns are real ``concurrent.futures.Future`` objects.

>>> from strato.concurrent.futures import ProcessPoolExecutor
>>> with ProcessPoolExecutor(2) as pool:
...     list(pool.map(abs, [-1, -2]))
[1, 2]
"""

import concurrent.futures as _futures
import itertools
import threading
import uuid
from concurrent.futures import *  # noqa: F401,F403 - the standard library's names
from concurrent.futures import __all__ as _std_all
from functools import partial

from ... import _native, _pickle
from ..._collector import Collector
from ...multiprocessing.pool import _become_driver, _value

__all__ = list(_std_all)

def _process_chunk(fn, chunk):
    return [fn(*args) for args in chunk]


def _chunks(iterables, size):
    it = zip(*iterables)
    while chunk := tuple(itertools.islice(it, size)):
        yield chunk


class ProcessPoolExecutor(_futures.Executor):
    """``concurrent.futures.ProcessPoolExecutor`` on strato: ``max_workers`` warm Python
    worker processes (one per core by default) run the calls; functions and arguments are
    cloudpickled (lambdas and ``__main__`` functions work), and a call whose worker died is
    run again. ``mp_context`` is accepted and not used."""

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(), *,
                 max_tasks_per_child=None):
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int) or max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        _become_driver()
        self._native = _native.Executor(max_workers)
        self._max_workers = self._native.worker_count()
        self._setup = None
        if initializer is not None or max_tasks_per_child is not None:
            self._setup = (uuid.uuid4().hex, initializer, tuple(initargs), max_tasks_per_child)
        self._lock = threading.Lock()
        self._futures = []  # those submitted, for shutdown(cancel_futures=True)
        self._pruned_at = 0
        self._shutdown = False
        self._collector = Collector(self._native, "strato-futures-collector")

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            payload = _pickle.dumps((self._setup, fn, args, kwargs))
            future = _futures.Future()
            native = self._native.submit(payload)
            self._collector.watch([native], partial(_settle, native, future))
            self._futures.append(future)
            if len(self._futures) > 2 * self._pruned_at + 1024:
                self._futures = [f for f in self._futures if not f.done()]
                self._pruned_at = len(self._futures)
        return future

    submit.__doc__ = _futures.Executor.submit.__doc__

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """As ``Executor.map``; ``chunksize`` items go to a worker as one task."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        results = super().map(partial(_process_chunk, fn), _chunks(iterables, chunksize),
                              timeout=timeout)
        return itertools.chain.from_iterable(results)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for future in self._futures:
                    future.cancel()
        self._collector.close(wait)

    shutdown.__doc__ = _futures.Executor.shutdown.__doc__


def _settle(native, future):
    if not future.set_running_or_notify_cancel():
        return
    try:
        raw = native.result(0)
    except _native.TaskFailed as e:
        future.set_exception(_futures.process.BrokenProcessPool(f"strato: {e}"))
        return
    try:
        future.set_result(_value(raw))
    except BaseException as e:  # noqa: BLE001 - the task's exception, or an unreadable outcome
        future.set_exception(e)


__all__ += ["ProcessPoolExecutor"]
