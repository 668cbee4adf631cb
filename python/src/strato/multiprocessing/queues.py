"""Queues whose items live on the engine (``multiprocessing.queues``'s names)."""

import pickle
import queue as _queue

from ._handle import Handle

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]


def _dumps(obj):
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


class Queue(Handle):
    """A FIFO queue any process may put to and get from; ``maxsize`` bounds it."""

    _kind = "queue"
    _default_state = 0

    def __init__(self, maxsize=0, *, ctx=None):
        self._maxsize = maxsize if maxsize > 0 else 0
        self._closed = False
        self._open(arg=self._maxsize)

    def _state(self):
        return self._maxsize

    def _restore(self, state):
        self._maxsize, self._closed = state, False

    def put(self, obj, block=True, timeout=None):
        """Puts ``obj``; raises ``queue.Full`` if it stayed full.

        As with the standard library's queue, an object that cannot be pickled is not put
        and does not raise here: it goes to ``_on_queue_feeder_error``, which prints the
        error (a subclass may override it).
        """
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        try:
            item = _dumps(obj)
        except Exception as e:  # noqa: BLE001 - the standard library's feeder does the same
            self._on_queue_feeder_error(e, obj)
            return
        if not self._maxsize:
            # Unbounded: nothing to wait for, as the standard library's feeder thread.
            self._obj.put_async(item)
        elif not self._obj.put(item, block, _nonneg(timeout)):
            raise _queue.Full

    @staticmethod
    def _on_queue_feeder_error(e, obj):
        """Called with an object ``put`` could not pickle; prints the error."""
        import traceback

        traceback.print_exception(e)

    def get(self, block=True, timeout=None):
        """Takes the oldest item; raises ``queue.Empty`` if it stayed empty."""
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        item = self._obj.get(block, _nonneg(timeout))
        if item is None:
            raise _queue.Empty
        return pickle.loads(item)

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        return self._obj.qsize()

    def empty(self):
        return self.qsize() == 0

    def full(self):
        return self._maxsize > 0 and self.qsize() >= self._maxsize

    def close(self):
        """This process will put no more (the items already put stay)."""
        self._closed = True

    def join_thread(self):
        """Nothing to wait for: a put is on the engine when it returns."""

    def cancel_join_thread(self):
        """Nothing to cancel: a put is on the engine when it returns."""


class JoinableQueue(Queue):
    """A queue whose consumers say when each item is done; ``join`` waits for all."""

    def task_done(self):
        try:
            self._obj.task_done()
        except Exception as e:
            raise ValueError("task_done() called too many times") from e

    def join(self):
        self._obj.join()


class SimpleQueue(Handle):
    """An unbounded queue with only ``get``, ``put``, ``empty`` and ``close``."""

    _kind = "queue"

    def __init__(self, *, ctx=None):
        self._open(arg=0)

    def put(self, obj):
        self._obj.put_async(_dumps(obj))

    def get(self):
        return pickle.loads(self._obj.get(True, None))

    def empty(self):
        return self._obj.qsize() == 0

    def close(self):
        pass


def _nonneg(timeout):
    if timeout is not None and timeout < 0:
        return 0.0
    return timeout
