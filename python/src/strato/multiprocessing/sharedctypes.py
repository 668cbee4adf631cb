"""Shared numbers and arrays (``multiprocessing.sharedctypes``' ``Value``, ``RawValue``,
``Array``, ``RawArray``)."""

import struct

from ._handle import Handle
from .synchronize import RLock

__all__ = ["Value", "RawValue", "Array", "RawArray", "copy", "synchronized"]

#: The type codes of integers and of floats (``array``'s and ``ctypes``' letters).
_INTEGERS = set("bBhHiIlLqQnN?")
_FLOATS = set("fd")


def _typecode(typecode_or_type):
    """The engine object a value of this type is: an integer or float atomic, or one
    byte (``c``) in a value."""
    code = getattr(typecode_or_type, "_type_", typecode_or_type)
    if code in _INTEGERS:
        return "int"
    if code in _FLOATS:
        return "float"
    if code == "c":
        return "value"
    raise TypeError(
        f"strato Value holds integers, floats and single bytes (type codes "
        f"{''.join(sorted(_INTEGERS))}, fd, c), not {typecode_or_type!r}"
    )


def _check_lock(lock):
    if lock not in (True, False, None) and not hasattr(lock, "acquire"):
        raise AttributeError(f"{lock!r} has no method 'acquire'")


class RawValue(Handle):
    """A number (or one byte, type code ``c``) on the engine: reading and writing
    ``value`` are each atomic."""

    def __init__(self, typecode_or_type, *args):
        self._kind = _typecode(typecode_or_type)
        self._typecode = typecode_or_type
        self._open(value=b"\0" if self._kind == "value" else None)
        if args:
            self.value = args[0]

    def _state(self):
        return (self._kind, self._typecode)

    def _restore(self, state):
        self._kind, self._typecode = state

    @property
    def value(self):
        if self._kind == "value":
            return self._obj.value_get()
        return self._obj.load()

    @value.setter
    def value(self, v):
        # A store cannot fail once its argument converted: it goes without waiting for the
        # engine's answer, which serves this process's later calls (a lock's release
        # included) after it.
        if self._kind == "int":
            self._obj.store_int(int(v), False)
        elif self._kind == "float":
            self._obj.store_float(float(v), False)
        else:
            self._obj.value_set(_one_byte(v), False)

    def __repr__(self):
        return f"<strato {type(self).__name__}({self._typecode!r}, {self.value!r})>"


def _one_byte(v):
    if isinstance(v, int):
        v = bytes([v])
    if not isinstance(v, bytes) or len(v) != 1:
        raise TypeError(f"one character bytes, bytearray or integer expected, not {v!r}")
    return v


class Value(RawValue):
    """A number with a lock, as ``multiprocessing.Value``: ``with v.get_lock(): v.value += 1``.

    With ``lock=False`` it is a ``RawValue``, as in the standard library.
    """

    def __new__(cls, typecode_or_type, *args, lock=True, ctx=None):
        _check_lock(lock)
        if lock is False:
            return RawValue(typecode_or_type, *args)
        return super().__new__(cls)

    def __init__(self, typecode_or_type, *args, lock=True, ctx=None):
        super().__init__(typecode_or_type, *args)
        if lock is True or lock is None:
            lock = RLock()
        self._lock = lock if lock is not False else None

    def _state(self):
        return (self._kind, self._typecode, self._lock)

    def _restore(self, state):
        self._kind, self._typecode, self._lock = state

    def get_lock(self):
        if self._lock is None:
            raise AttributeError("'Value' created with lock=False has no get_lock()")
        return self._lock

    def get_obj(self):
        return self

    def __enter__(self):
        return self.get_lock().__enter__()

    def __exit__(self, *exc):
        return self.get_lock().__exit__(*exc)


#: The type codes an array holds (``struct``'s letters; ``c`` is one byte).
_ARRAY_CODES = set("bBhHiIlLqQnN?fdc")


def _array_code(typecode_or_type):
    code = getattr(typecode_or_type, "_type_", typecode_or_type)
    if code not in _ARRAY_CODES:
        raise TypeError(
            f"strato Array holds the type codes {''.join(sorted(_ARRAY_CODES))}, "
            f"not {typecode_or_type!r}"
        )
    return code


class RawArray(Handle):
    """A fixed-length array of numbers (or of bytes, type code ``c``) on the engine.

    Each item is read and written atomically; a slice is read or written at one instant.
    ``a[i]``, ``a[i:j]``, ``len(a)``, iteration, and for ``c`` arrays ``value`` (the bytes
    up to the first NUL) and ``raw``.
    """

    _kind = "array"

    def __init__(self, typecode_or_type, size_or_initializer):
        code = _array_code(typecode_or_type)
        self._typecode, self._code = typecode_or_type, code
        if isinstance(size_or_initializer, int):
            items = [self._zero()] * size_or_initializer
        else:
            items = list(size_or_initializer)
        self._len = len(items)
        size = struct.calcsize(self._format())
        self._open(arg=size, value=b"".join(self._pack(v) for v in items))

    def _format(self):
        return "=" + self._code

    def _zero(self):
        return b"\0" if self._code == "c" else 0

    def _state(self):
        return (self._typecode, self._code, self._len)

    def _restore(self, state):
        self._typecode, self._code, self._len = state

    def _pack(self, value):
        if self._code == "c" and isinstance(value, int):
            value = bytes([value])
        return struct.pack(self._format(), value)

    def _unpack(self, item):
        return struct.unpack(self._format(), item)[0]

    def _itemsize(self):
        return struct.calcsize(self._format())

    def _pack_all(self, values):
        if self._code == "c":
            return b"".join(self._pack(v) for v in values)
        return struct.pack(f"={len(values)}{self._code}", *values)

    def _unpack_all(self, packed, count):
        return list(struct.unpack(f"={count}{self._code}", packed))

    def _join(self, values):
        return b"".join(values) if self._code == "c" else values

    def __len__(self):
        return self._len

    def _index(self, i):
        i = i.__index__()
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("invalid index")
        return i

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if start >= stop if step > 0 else start <= stop:
                return self._join([])
            low, high = (start, stop) if step > 0 else (stop + 1, start + 1)
            values = self._unpack_all(self._obj.array_get_range(low, high), high - low)
            return self._join(values[start - low :: step] if step > 0 else values[::step])
        return self._unpack(self._obj.array_get(self._index(i)))

    def __setitem__(self, i, value):
        if not isinstance(i, slice):
            self._obj.array_set(self._index(i), self._pack(value))
            return
        indices = range(*i.indices(self._len))
        values = list(value)
        if len(values) != len(indices):
            raise ValueError("Can only assign sequence of same size")
        if not indices:
            return
        if indices.step == 1:
            packed = self._pack_all(values)
            self._obj.array_set_range(indices.start, packed, self._itemsize())
        else:
            for index, value in zip(indices, values):
                self._obj.array_set(index, self._pack(value))

    def __iter__(self):
        return iter(self[:])

    @property
    def raw(self):
        """A ``c`` array's bytes."""
        self._only_bytes()
        return self[:]

    @raw.setter
    def raw(self, data):
        self._only_bytes()
        if len(data) > self._len:
            raise ValueError("byte string too long")
        self[: len(data)] = data

    @property
    def value(self):
        """A ``c`` array's bytes up to the first NUL."""
        return self.raw.split(b"\0", 1)[0]

    @value.setter
    def value(self, data):
        self._only_bytes()
        if len(data) > self._len:
            raise ValueError("byte string too long")
        padded = data + b"\0" if len(data) < self._len else data
        self.raw = padded

    def _only_bytes(self):
        if self._code != "c":
            raise AttributeError("only an Array of type code 'c' has raw and value")

    def __repr__(self):
        return f"<strato {type(self).__name__}({self._typecode!r}, {self[:]!r})>"


class Array(RawArray):
    """An array with a lock, as ``multiprocessing.Array``: ``with a.get_lock(): ...``.

    With ``lock=False`` it is a ``RawArray``, as in the standard library.
    """

    def __new__(cls, typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
        _check_lock(lock)
        if lock is False:
            return RawArray(typecode_or_type, size_or_initializer)
        return super().__new__(cls)

    def __init__(self, typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
        super().__init__(typecode_or_type, size_or_initializer)
        if lock is True or lock is None:
            lock = RLock()
        self._lock = lock if lock is not False else None

    def _state(self):
        return (super()._state(), self._lock)

    def _restore(self, state):
        base, self._lock = state
        super()._restore(base)

    get_lock = Value.get_lock
    get_obj = Value.get_obj
    __enter__ = Value.__enter__
    __exit__ = Value.__exit__


def copy(obj):
    """A new raw value or array holding what ``obj`` holds now."""
    if isinstance(obj, RawArray):
        return RawArray(obj._typecode, obj[:])
    return RawValue(obj._typecode, obj.value)


def synchronized(obj, lock=None, ctx=None):
    """The same value or array (one object on the engine) with a lock: ``lock``, or a new
    ``RLock``."""
    cls = Array if isinstance(obj, RawArray) else Value
    wrapper = object.__new__(cls)
    wrapper.__dict__.update(obj.__dict__)
    wrapper._lock = lock if lock is not None else RLock()
    return wrapper
