"""``strato.Queue`` and ``strato.Barrier``: the engine's own objects by name, in the
encoding Rust programs use, so a Python process and a Rust program can share them.

``strato.multiprocessing``'s objects speak Python (items are pickles; its ``Barrier`` is
``threading.Barrier``'s algorithm). These speak the engine's: a ``Queue`` item is a string
or bytes as Rust's ``strato::sync::Queue<String>`` or ``Queue<Vec<u8>>`` encodes it (a
length, then the bytes), and a ``Barrier`` is the engine's barrier that
``strato::sync::Barrier`` opens, passed in one round trip.

>>> import strato
>>> q = strato.Queue("jobs")
>>> q.put("hello")
>>> q.get_str()
'hello'
"""

import threading

from . import _native
from .multiprocessing._handle import _share_state

__all__ = ["Queue", "Barrier"]


def _encode(item):
    data = item.encode() if isinstance(item, str) else bytes(item)
    n, prefix = len(data), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        prefix.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(prefix) + data


def _decode(blob):
    n = shift = i = 0
    while True:
        byte = blob[i]
        n |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            break
        shift += 7
    if len(blob) != i + n:
        raise ValueError("not a string or bytes item (a Rust Queue<String> or Queue<Vec<u8>>)")
    return bytes(blob[i:])


class Queue:
    """The queue ``name`` (made with ``maxsize`` if absent) of strings or bytes."""

    def __init__(self, name, maxsize=0):
        _share_state()
        self._obj = _native.Object.open("queue", name, maxsize)

    @property
    def name(self):
        return self._obj.name

    def put(self, item, block=True, timeout=None):
        """Puts a ``str`` or ``bytes``; ``queue.Full`` if it stayed full."""
        if not self._obj.put(_encode(item), block, timeout):
            import queue

            raise queue.Full

    def get(self, block=True, timeout=None):
        """The oldest item's bytes; ``queue.Empty`` if none came."""
        item = self._obj.get(block, timeout)
        if item is None:
            import queue

            raise queue.Empty
        return _decode(item)

    def get_str(self, block=True, timeout=None):
        """The oldest item as a string."""
        return self.get(block, timeout).decode()

    def qsize(self):
        return self._obj.qsize()


class Barrier:
    """The engine's barrier ``name`` of ``parties`` (made if absent): ``wait`` returns True
    in one party of each generation (the leader) and False in the others;
    ``threading.BrokenBarrierError`` if a party timed out or died."""

    def __init__(self, name, parties):
        if parties < 1:
            raise ValueError("parties must be >= 1")
        _share_state()
        self._obj = _native.Object.open("barrier", name, parties)

    @property
    def name(self):
        return self._obj.name

    def wait(self, timeout=None):
        leader = self._obj.barrier_wait(timeout)
        if leader is None:
            raise threading.BrokenBarrierError
        return leader
