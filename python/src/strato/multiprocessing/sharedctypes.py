"""Shared numbers (``multiprocessing.sharedctypes``' ``Value``, ``RawValue``)."""

from ._handle import Handle
from .synchronize import RLock

__all__ = ["Value", "RawValue"]

#: The type codes of integers and of floats (``array``'s and ``ctypes``' letters).
_INTEGERS = set("bBhHiIlLqQnN?")
_FLOATS = set("fd")


def _typecode(typecode_or_type):
    code = getattr(typecode_or_type, "_type_", typecode_or_type)
    if code in _INTEGERS:
        return "int"
    if code in _FLOATS:
        return "float"
    raise TypeError(
        f"strato Value holds integers and floats (type codes {''.join(sorted(_INTEGERS))}, "
        f"fd), not {typecode_or_type!r}"
    )


class RawValue(Handle):
    """A number on the engine: reading and writing ``value`` are each atomic."""

    def __init__(self, typecode_or_type, *args):
        self._kind = _typecode(typecode_or_type)
        self._typecode = typecode_or_type
        self._open()
        if args:
            self.value = args[0]

    def _state(self):
        return (self._kind, self._typecode)

    def _restore(self, state):
        self._kind, self._typecode = state

    @property
    def value(self):
        return self._obj.load()

    @value.setter
    def value(self, v):
        if self._kind == "int":
            self._obj.store_int(int(v))
        else:
            self._obj.store_float(float(v))

    def __repr__(self):
        return f"<strato {type(self).__name__}({self._typecode!r}, {self.value!r})>"


class Value(RawValue):
    """A number with a lock, as ``multiprocessing.Value``: ``with v.get_lock(): v.value += 1``."""

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
