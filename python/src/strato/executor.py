"""``strato.FunctionExecutor``: Lithops' executor API on strato's engine.

A program written for ``lithops.FunctionExecutor`` runs on strato when it imports
``strato`` instead: ``call_async``, ``map`` and ``map_reduce`` submit tasks to strato's
Python workers, ``wait`` and ``get_result`` collect them, ``plot`` draws what they did.

Lithops' conventions hold: an item of ``iterdata`` that is a tuple or list gives the
function's positional arguments, a dict its keyword arguments, anything else its one
argument; a function with a parameter named ``id`` gets the call's index, and one with a
parameter named ``obj`` gets a piece of a dataset. For ``obj``, ``iterdata`` names the data
(a path, a directory, a glob, a ``file://`` or ``s3://`` URL, or a list of them), cut into
pieces of ``obj_chunk_size`` bytes or ``obj_chunk_number`` pieces per object, each reading
whole lines (Lithops' partitioner).

>>> import strato
>>> with strato.FunctionExecutor() as fexec:
...     fexec.map(lambda x: x + 1, [1, 2, 3]).get_result()
[2, 3, 4]
"""

import inspect
import io
import os
import tempfile
import threading
from multiprocessing import TimeoutError

from . import _native, _pickle
from .multiprocessing.pool import _become_driver, _outcome

__all__ = [
    "ALWAYS",
    "ANY_COMPLETED",
    "ALL_COMPLETED",
    "FunctionExecutor",
    "LocalhostExecutor",
    "ServerlessExecutor",
    "StandaloneExecutor",
    "ResponseFuture",
    "FuturesList",
    "DataObject",
]

#: ``wait``'s ``return_when``: at once, once any future is done, once all are (Lithops').
ALWAYS, ANY_COMPLETED, ALL_COMPLETED = 0, 1, 2
_WHEN = {ALWAYS: "always", ANY_COMPLETED: "any", ALL_COMPLETED: "all"}


class DataObject:
    """What a function's ``obj`` parameter gets: one piece of one object.

    ``key``, ``bucket`` (the storage), ``part`` and ``total_parts``, ``data_byte_range``,
    ``chunk_size``, ``size``, and ``data_stream``, a file object over the piece's bytes
    (whole lines, for text), read when first used.
    """

    def __init__(self, partition):
        self._partition = partition
        self._stream = None

    @property
    def key(self):
        return self._partition.key

    @property
    def bucket(self):
        return self._partition.storage

    @property
    def path(self):
        return self._partition.storage.rstrip("/") + "/" + self.key

    @property
    def part(self):
        return self._partition.part

    @property
    def total_parts(self):
        return self._partition.total_parts

    @property
    def data_byte_range(self):
        return self._partition.range

    @property
    def chunk_size(self):
        start, end = self._partition.range
        return end - start

    @property
    def size(self):
        return self._partition.object_size

    @property
    def data_stream(self):
        if self._stream is None:
            self._stream = io.BytesIO(self._partition.read())
        return self._stream

    def __getstate__(self):
        return {"_partition": self._partition, "_stream": None}

    def __repr__(self):
        start, end = self.data_byte_range
        return f"<DataObject {self.path} [{start}, {end}) part {self.part}>"


def _call(func, item, extra_args, call_id):
    """Runs in the worker: Lithops' argument conventions, then the function."""
    args, kwargs = _arguments(item, extra_args)
    if _takes(func, "id"):
        kwargs["id"] = call_id
    return func(*args, **kwargs)


def _arguments(item, extra_args):
    if isinstance(item, dict):
        kwargs = dict(item)
        if isinstance(extra_args, dict):
            kwargs.update(extra_args)
        return list(extra_args or ()) if not isinstance(extra_args, dict) else [], kwargs
    args = list(item) if isinstance(item, (tuple, list)) else [item]
    if isinstance(extra_args, dict):
        return args, dict(extra_args)
    return args + list(extra_args or ()), {}


def _takes(func, name):
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _reduce(reduce_function, map_futures):
    """Runs in the worker: the reducer gets the map results, in order."""
    return reduce_function([f.result() for f in map_futures])


class ResponseFuture:
    """The future result of one call: ``result()``, and ``done``, ``success``, ``error``."""

    def __init__(self, native, call_id, executor):
        self._native, self.call_id, self._executor = native, call_id, executor
        self._outcome = None

    @property
    def done(self):
        return self._native is None or self._native.done()

    ready = done

    @property
    def running(self):
        return not self.done

    def _settle(self, timeout=None):
        """The outcome ``(True, value)`` or ``(False, exception)``, waiting at most
        ``timeout`` seconds (``TimeoutError`` then)."""
        if self._outcome is None:
            if isinstance(self._native, _Pending) and not self._native.ready.wait(timeout):
                raise TimeoutError
            try:
                value = _outcome(self._native, timeout)
            except TimeoutError:
                raise
            except BaseException as e:  # noqa: BLE001 - kept for result()
                self._outcome = (False, e)
            else:
                self._outcome = (True, value)
        return self._outcome

    @property
    def success(self):
        return self.done and self._settle()[0]

    @property
    def error(self):
        return self.done and not self._settle()[0]

    def result(self, throw_except=True, timeout=None):
        """The call's value; its exception is raised (or, with ``throw_except=False``,
        returned as None)."""
        ok, value = self._settle(timeout)
        if ok:
            return value
        if throw_except:
            raise value
        return None

    def logs(self):
        """What the call printed: ``(stdout, stderr)``, once it finished."""
        return self._native.logs()

    def __reduce__(self):
        # It travels (into a reducer) with its outcome, waiting for it first.
        return (_settled, (self._settle(),))

    def __repr__(self):
        state = "done" if self.done else "running"
        return f"<strato ResponseFuture call {self.call_id} {state}>"


def _settled(outcome):
    """A future that crossed into a task (a reducer's input), carrying its outcome."""
    future = ResponseFuture(None, None, None)
    future._outcome = outcome
    return future


class FuturesList(list):
    """The futures of one ``map`` or ``map_reduce``: ``get_result()``, ``wait()``."""

    def __init__(self, futures, executor):
        super().__init__(futures)
        self._executor = executor

    def get_result(self, throw_except=True, timeout=None):
        return self._executor.get_result(self, throw_except, timeout)

    def wait(self, throw_except=True, return_when=ALL_COMPLETED, timeout=None):
        return self._executor.wait(self, throw_except, return_when, timeout=timeout)


class FunctionExecutor:
    """Lithops' ``FunctionExecutor`` on strato: its tasks run on ``workers`` Python worker
    processes (one per core by default) started through strato's compute.

    Lithops' configuration arguments (``config``, ``backend``, ``storage``, ``runtime``,
    ``runtime_memory``, ``log_level``, …) are accepted and not used: strato's own settings
    (``STRATO_STATE``, ``STRATO_COMPUTE``) choose where it runs.
    """

    def __init__(self, workers=None, **lithops_config):
        _become_driver()
        self._native = _native.Executor(workers)
        self._futures = []
        self._calls = 0

    # -- submitting

    def _submit_all(self, calls):
        payloads = [_pickle.dumps((None, _call, call, {})) for call in calls]
        if not payloads:
            return []
        natives = self._native.map(payloads)
        futures = []
        for native, (_, _, _, call_id) in zip(natives, calls):
            futures.append(ResponseFuture(native, call_id, self))
        self._futures.extend(futures)
        return futures

    def call_async(self, func, data, extra_args=None, extra_env=None, include_modules=None,
                   exclude_modules=None):
        """Runs ``func`` on ``data`` as one task; its future."""
        return self._submit_all([(func, data, extra_args, 0)])[0]

    def _items(self, func, iterdata, obj_chunk_size, obj_chunk_number):
        if _takes(func, "obj"):
            inputs = [iterdata] if isinstance(iterdata, (str, os.PathLike)) else list(iterdata)
            parts = _native.Partition.split(
                [os.fspath(i) for i in inputs], obj_chunk_size, obj_chunk_number
            )
            return [{"obj": DataObject(p)} for p in parts], parts
        if obj_chunk_size is not None or obj_chunk_number is not None:
            raise ValueError("obj_chunk_size and obj_chunk_number need a function with an "
                             "'obj' parameter")
        return list(iterdata), None

    def map(self, map_function, map_iterdata, chunksize=None, extra_args=None,
            extra_env=None, runtime_memory=None, obj_chunk_size=None, obj_chunk_number=None,
            obj_newline="\n", timeout=None, include_modules=None, exclude_modules=None):
        """Runs ``map_function`` on each item of ``map_iterdata`` (or each piece of the data
        it names), one task each; their futures, in order."""
        items, _ = self._items(map_function, map_iterdata, obj_chunk_size, obj_chunk_number)
        calls = [(map_function, item, extra_args, i) for i, item in enumerate(items)]
        futures = self._submit_all(calls)
        for future in futures:
            future._kind = "map"
        return FuturesList(futures, self)

    def map_reduce(self, map_function, map_iterdata, reduce_function, chunksize=None,
                   extra_args=None, extra_env=None, map_runtime_memory=None,
                   reduce_runtime_memory=None, obj_chunk_size=None, obj_chunk_number=None,
                   obj_newline="\n", timeout=None, reducer_one_per_object=False,
                   spawn_reducer=100, include_modules=None, exclude_modules=None):
        """``map``, then ``reduce_function(results)`` as one more task once the maps are
        done (one per object with ``reducer_one_per_object``). Its futures are the maps'
        and the reducers'; ``get_result`` gives the reducers' results."""
        items, parts = self._items(map_function, map_iterdata, obj_chunk_size,
                                   obj_chunk_number)
        calls = [(map_function, item, extra_args, i) for i, item in enumerate(items)]
        maps = self._submit_all(calls)
        for future in maps:
            future._feeds_reducer = True
        groups = [maps]
        if reducer_one_per_object and parts is not None:
            by_object = {}
            for future, part in zip(maps, parts):
                by_object.setdefault(part.object_index, []).append(future)
            groups = list(by_object.values())
        reducers = [self._reducer(reduce_function, group) for group in groups]
        return FuturesList(maps + reducers, self)

    def _reducer(self, reduce_function, maps):
        """A future for ``reduce_function`` over ``maps``' results, submitted as a task once
        they are done (by a thread of this process)."""
        future = ResponseFuture(None, len(self._futures), self)
        future._ready = threading.Event()
        future._native = _Pending(future._ready)

        def submit():
            self.wait(maps, throw_except=False)
            payload = _pickle.dumps((None, _reduce, (reduce_function, maps), {}))
            future._native = self._native.submit(payload)
            future._ready.set()

        threading.Thread(target=submit, daemon=True).start()
        self._futures.append(future)
        return future

    # -- collecting

    def wait(self, fs=None, throw_except=True, return_when=ALL_COMPLETED,
             download_results=False, timeout=None, threadpool_size=None, wait_dur_sec=None,
             show_progressbar=None):
        """Waits until ``return_when`` holds for ``fs`` (every future of this executor by
        default), at most ``timeout`` seconds; ``(done, not_done)``. With
        ``throw_except``, a done future's exception is raised."""
        futures = self._futures if fs is None else _as_list(fs)
        for f in futures:
            if isinstance(f._native, _Pending) and return_when == ALL_COMPLETED:
                f._native.ready.wait(timeout)
        natives = [f for f in futures if not isinstance(f._native, (_Pending, type(None)))]
        flags = self._native.wait([f._native for f in natives], _WHEN[return_when], timeout)
        done_natives = {id(f) for f, d in zip(natives, flags) if d}
        done = [f for f in futures if f._native is None or id(f) in done_natives]
        not_done = [f for f in futures if f not in done]
        if throw_except:
            for f in done:
                f.result()
        return done, not_done

    def get_result(self, fs=None, throw_except=True, timeout=None, threadpool_size=None,
                   wait_dur_sec=None, show_progressbar=None):
        """The results of ``fs`` (every future of this executor by default), in order; one
        result for one future."""
        futures = self._futures if fs is None else _as_list(fs)
        # A map_reduce's maps feed its reducer: their results are not its results.
        futures = [f for f in futures if not getattr(f, "_feeds_reducer", False)]
        self.wait(futures, throw_except=False, timeout=timeout)
        results = [f.result(throw_except, timeout) for f in futures]
        # As Lithops: one result comes bare, unless it is a map's.
        if len(results) == 1 and getattr(futures[0], "_kind", None) != "map":
            return results[0]
        return results

    def plot(self, fs=None, dst=None):
        """Draws the tasks of ``fs`` (every future by default): a timeline and a histogram
        of tasks at once, PNG and SVG, into the directory ``dst`` (a new temporary one by
        default); their paths."""
        futures = [f for f in (self._futures if fs is None else _as_list(fs))
                   if f._native is not None and not isinstance(f._native, _Pending)]
        directory = dst or tempfile.mkdtemp(prefix="strato-plots-")
        return [str(p) for p in self._native.plot([f._native for f in futures], directory)]

    def clean(self, fs=None, cs=None, clean_cloudobjects=True, clean_fn=False, force=False,
              on_exit=False):
        """Forgets finished futures (strato keeps nothing in storage to clean up)."""
        if fs is None:
            self._futures = [f for f in self._futures if not f.done]
        else:
            gone = {id(f) for f in _as_list(fs)}
            self._futures = [f for f in self._futures if id(f) not in gone]

    def job_summary(self, cloud_objects_n=0):
        """How many calls this executor made and how many are done."""
        done = sum(1 for f in self._futures if f.done)
        return {"calls": len(self._futures), "done": done}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.clean()


class _Pending:
    """A reducer's native future before its maps are done."""

    def __init__(self, ready):
        self.ready = ready

    def done(self):
        return False


def _as_list(fs):
    return [fs] if isinstance(fs, ResponseFuture) else list(fs)


#: Lithops' other executors: the same here (strato's settings choose where tasks run).
LocalhostExecutor = ServerlessExecutor = StandaloneExecutor = FunctionExecutor
