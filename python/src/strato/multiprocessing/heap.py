"""``multiprocessing.heap``'s ``BufferWrapper``: a block of bytes every process shares,
here an array of bytes on the engine.

The standard library hands out pieces of a shared memory mapping, which only processes on
one machine can see. Here ``create_memoryview()`` gives a view whose item reads and writes
are calls to the engine: each item (``cast`` to a ``struct`` format) is read or written
atomically, from any process on any machine.
"""

import struct

from .sharedctypes import RawArray

__all__ = ["BufferWrapper"]


class BufferWrapper:
    """``size`` bytes on the engine, zeroed."""

    def __init__(self, size):
        self._bytes = RawArray("B", size)

    def create_memoryview(self):
        return SharedView(self._bytes, "B")


class SharedView:
    """Items of ``format`` over a ``BufferWrapper``'s bytes: ``view[i]``, ``view[i] = x``,
    ``len(view)``, and ``cast`` to another format."""

    def __init__(self, shared_bytes, format):
        self._bytes, self.format = shared_bytes, format
        self.itemsize = struct.calcsize(format)

    def cast(self, format):
        return SharedView(self._bytes, format)

    def __len__(self):
        return len(self._bytes) // self.itemsize

    def _span(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("index out of bounds")
        return slice(index * self.itemsize, (index + 1) * self.itemsize)

    def __getitem__(self, index):
        return struct.unpack(self.format, bytes(self._bytes[self._span(index)]))[0]

    def __setitem__(self, index, value):
        self._bytes[self._span(index)] = struct.pack(self.format, value)
