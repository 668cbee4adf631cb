"""A process pool whose tasks run on strato's worker processes (``multiprocessing.pool``'s
``Pool`` and ``AsyncResult``)."""

import itertools
import json
import os
import pickle
import sys
import threading
import uuid
import warnings
from functools import partial
from multiprocessing import TimeoutError
from multiprocessing.pool import MaybeEncodingError, RemoteTraceback

from .. import _native, _pickle
from .._collector import Collector
from ._handle import _share_state

__all__ = ["Pool", "AsyncResult", "MapResult", "IMapIterator", "MaybeEncodingError"]

#: A pool's states, as the standard library names them.
RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"

_driver_ready = False


def _become_driver():
    """Workers are this interpreter running ``strato._worker`` with this process's
    ``sys.path`` as it is now; the state's address goes to them in ``STRATO_STATE``."""
    global _driver_ready
    paths = [p for p in sys.path if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([os.getcwd()] + paths)
    os.environ[_pickle.ARGV_ENV] = json.dumps(sys.argv)
    main = _pickle.main_reference()
    if main is not None:
        os.environ[_pickle.MAIN_ENV] = main
    else:
        os.environ.pop(_pickle.MAIN_ENV, None)
    if not _driver_ready:
        _share_state()
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        _native.become_driver(_native.__file__, sys.executable, version)
        _driver_ready = True
    _native.set_host_program(*_host_program(main))


def _host_program(main):
    """What worker hosts run for this driver (``STRATO_COMPUTE=hosts``): the main script,
    copied into the workers' directory there, and the environment strato's modules read."""
    from ._install import ENV as INSTALL_ENV

    files, env = [], []
    if main is not None and main.startswith("path:"):
        path = main[len("path:"):]
        with open(path, "rb") as script:
            files.append((os.path.basename(path), script.read()))
        main = "path:" + os.path.basename(path)
    if main is not None:
        env.append((_pickle.MAIN_ENV, main))
    env.append((_pickle.ARGV_ENV, os.environ[_pickle.ARGV_ENV]))
    if os.environ.get(INSTALL_ENV):
        env.append((INSTALL_ENV, os.environ[INSTALL_ENV]))
    return files, env


#: Executors whose tasks all finished, by worker count: the next Pool of that size takes
#: one, so its worker processes are already warm (what is left of a task in a worker, such
#: as a global an initializer set, stays there). A Process always gets a fresh worker: it
#: inherits the parent's standard streams as they are when it starts.
_idle_executors = {}
_idle_lock = threading.Lock()
#: How many idle executors of one size are kept.
_IDLE_KEPT = 4


def _take_executor(workers):
    """An executor of ``workers`` worker processes: an idle (warm) one, or a new one."""
    with _idle_lock:
        idle = _idle_executors.get(workers)
        if idle:
            return idle.pop()
    return _native.Executor(workers)


def _give_back(executor):
    """Keeps ``executor`` (whose tasks all finished) for the next Pool."""
    with _idle_lock:
        idle = _idle_executors.setdefault(executor.worker_count(), [])
        if len(idle) < _IDLE_KEPT:
            idle.append(executor)


def _mapstar(func, chunk):
    return [func(x) for x in chunk]


def _starmapstar(func, chunk):
    return [func(*args) for args in chunk]


def _raw(future, timeout):
    """A task's pickled outcome, once it finished (``TimeoutError`` after ``timeout``
    seconds; ``RuntimeError`` if it ended without one); Ctrl-C interrupts the wait."""
    try:
        raw = future.result(timeout)
    except _native.TaskFailed as e:
        raise RuntimeError(f"strato: {e}") from None
    if raw is None:
        raise TimeoutError
    return raw


def _outcome(future, timeout):
    """The value of a finished task, raising its exception as multiprocessing does."""
    return _value(_raw(future, timeout))


def _value(raw):
    """A task's pickled outcome (what ``strato._worker.run`` returns): its value, or its
    exception raised with the worker's traceback as its cause."""
    outcome = pickle.loads(raw)
    if outcome[0]:
        return outcome[1]
    _, error, text = outcome
    error.__cause__ = RemoteTraceback(text)
    raise error


class AsyncResult:
    """The result of ``apply_async``: ``get``, ``wait``, ``ready``, ``successful``."""

    def __init__(self, futures, combine, callback=None, error_callback=None, collector=None):
        self._futures, self._combine = futures, combine
        self._value, self._error, self._done = None, None, False
        self._lock = threading.Lock()
        # With callbacks, the result is ready once they ran (as in the standard library),
        # in the pool's collector thread.
        self._called = None
        if callback is not None or error_callback is not None:
            self._called = threading.Event()
            # A pool terminated first drops the callbacks; get() then reports the tasks'
            # fate.
            collector.watch(futures, partial(self._notify, callback, error_callback),
                            self._called.set)

    def _settle(self, timeout=None):
        with self._lock:
            if self._done:
                return True
            # Waiting may be interrupted (KeyboardInterrupt goes to the caller); what the
            # tasks raised is kept for get().
            try:
                raws = [_raw(f, timeout) for f in self._futures]
            except TimeoutError:
                return False
            except RuntimeError as e:  # a task ended without an outcome
                raws, self._error = None, e
            if raws is not None:
                try:
                    self._value = self._combine([_value(raw) for raw in raws])
                except BaseException as e:  # noqa: BLE001 - the task's own exception
                    self._error = e
            self._done = True
            return True

    def _notify(self, callback, error_callback):
        try:
            self._settle()
            if self._error is None:
                if callback is not None:
                    callback(self._value)
            elif error_callback is not None:
                error_callback(self._error)
        finally:
            self._called.set()

    def _finish(self, timeout):
        """Waits (at most ``timeout`` seconds) for the outcome and its callbacks; whether
        they are done."""
        if self._called is not None and not self._called.wait(timeout):
            return False
        return self._settle(timeout)

    def ready(self):
        if self._called is not None:
            return self._called.is_set()
        return self._done or all(f.done() for f in self._futures)

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        self._settle()
        return self._error is None

    def wait(self, timeout=None):
        self._finish(timeout)

    def get(self, timeout=None):
        if not self._finish(timeout):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        return self._value


class MapResult(AsyncResult):
    """The result of ``map_async`` and ``starmap_async``: a list."""


def _chunks(iterable, size):
    it = iter(iterable)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class Pool:
    """``multiprocessing.Pool`` on strato: ``processes`` warm worker processes (one per core
    by default) run the tasks; functions and arguments travel cloudpickled, so lambdas and
    ``__main__`` functions work. ``with Pool() as p:`` terminates it on exit."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None):
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if maxtasksperchild is not None and (
            not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0
        ):
            raise ValueError("maxtasksperchild must be a positive int or None")
        _become_driver()
        self._processes = processes or os.cpu_count() or 1
        self._setup = None
        if initializer is not None or maxtasksperchild is not None:
            self._setup = (uuid.uuid4().hex, initializer, tuple(initargs), maxtasksperchild)
        self._executor = _take_executor(self._processes)
        self._state = RUN
        self._pending = []
        self._pruned_at = 0
        self._collector = None

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _payload(self, func, args=(), kwargs=None):
        return _pickle.dumps((self._setup, func, tuple(args), dict(kwargs or {})))

    def _prefix(self, star, func):
        """What every task of one map shares: ``star(func, chunk)`` with this pool's setup."""
        return _pickle.task_prefix(self._setup, star, (func,))

    def _remember(self, futures):
        self._pending.extend(futures)
        if len(self._pending) > 2 * self._pruned_at + 1024:
            self._pending = [f for f in self._pending if not f.done()]
            self._pruned_at = len(self._pending)
        return futures

    def _callbacks(self, callback, error_callback):
        """The collector that runs this pool's callbacks, if these are any (started with
        the first)."""
        if callback is None and error_callback is None:
            return None
        if self._collector is None:
            self._collector = Collector(self._executor, "strato-pool-callbacks")
        return self._collector

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        self._check_running()
        futures = self._remember([self._executor.submit(self._payload(func, args, kwds))])
        return AsyncResult(futures, lambda values: values[0], callback, error_callback,
                           self._callbacks(callback, error_callback))

    def apply(self, func, args=(), kwds={}):
        return self.apply_async(func, args, kwds).get()

    def _map_async(self, star, func, iterable, chunksize, callback, error_callback):
        self._check_running()
        items = list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), self._processes * 4)
            chunksize += bool(extra)
        chunksize = max(1, chunksize)
        prefix = self._prefix(star, func)
        payloads = [_pickle.task_payload(prefix, (chunk,)) for chunk in _chunks(items, chunksize)]
        futures = self._remember(self._executor.map(payloads))
        flatten = lambda values: [x for chunk in values for x in chunk]  # noqa: E731
        return MapResult(futures, flatten, callback, error_callback,
                         self._callbacks(callback, error_callback))

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(_mapstar, func, iterable, chunksize, callback, error_callback)

    def map(self, func, iterable, chunksize=None):
        return self.map_async(func, iterable, chunksize).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None,
                      error_callback=None):
        return self._map_async(_starmapstar, func, iterable, chunksize, callback,
                               error_callback)

    def starmap(self, func, iterable, chunksize=None):
        return self.starmap_async(func, iterable, chunksize).get()

    def imap(self, func, iterable, chunksize=1):
        """Results in order, each as soon as it and those before it are done. If the
        iterable raises, the results before it come first, then its exception."""
        self._check_running()
        payloads, error = [], None
        try:
            prefix = self._prefix(_mapstar, func)
            for chunk in _chunks(iterable, max(1, chunksize)):
                payloads.append(_pickle.task_payload(prefix, (chunk,)))
        except Exception as e:  # noqa: BLE001 - raised in its place among the results
            error = e
        futures = self._remember(self._executor.map(payloads))
        return IMapIterator(futures, error)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Results as ``imap`` gives them (an order the standard library allows too)."""
        return self.imap(func, iterable, chunksize)

    @property
    def _pool(self):
        """The worker processes alive now, each with its ``pid`` (the standard library keeps
        its processes here)."""
        pids = self._executor.worker_pids() if self._executor is not None else []
        return [_WorkerProcess(pid) for pid in pids]

    def _repopulate_pool(self):
        """Nothing to do: strato's compute starts a worker in place of each one that retired
        or died (the standard library's pool does it here)."""

    def close(self):
        """No more tasks; ``join`` then waits for those submitted."""
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self):
        """Stops the workers now if tasks are still running (unfinished tasks are dropped);
        workers with nothing running stay warm for the next pool."""
        self._state = TERMINATE
        finished = all(f.done() for f in self._pending)
        if self._collector is not None:
            self._collector.close(wait=finished, drop=not finished)
            self._collector = None
        if self._executor is not None and finished:
            _give_back(self._executor)
        self._executor = None
        self._pending = []

    def join(self):
        if self._state == RUN:
            raise ValueError("Pool is still running")
        for future in self._pending:
            future.result(None)
        self._pending = []
        if self._collector is not None:  # the callbacks run before join returns
            self._collector.close()
            self._collector = None
        if self._executor is not None:
            _give_back(self._executor)
        self._executor = None

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc):
        self.terminate()

    def __reduce__(self):
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled"
        )

    def __del__(self):
        if getattr(self, "_state", None) == RUN:
            warnings.warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning,
                          source=self)
            self.terminate()


class _WorkerProcess:
    """One of a pool's worker processes, as ``Pool._pool`` lists them."""

    def __init__(self, pid):
        self.pid = pid

    def is_alive(self):
        return True

    def __repr__(self):
        return f"<strato pool worker pid={self.pid}>"


class IMapIterator:
    """The results of ``imap``, in order: ``next(it)``, or ``it.next(timeout)``."""

    def __init__(self, futures, error=None):
        self._futures, self._error = futures, error
        self._index, self._ready = 0, []

    def __iter__(self):
        return self

    def next(self, timeout=None):
        while not self._ready:
            if self._index == len(self._futures):
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopIteration
            self._ready = list(_outcome(self._futures[self._index], timeout))
            self._index += 1
        return self._ready.pop(0)

    __next__ = next
