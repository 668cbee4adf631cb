"""Handles of engine objects: pickled by reference, valid in any process at any time."""

import os

from .. import _native


def _share_state():
    """Connects (starting the embedded state server if none is configured) and puts its
    address in ``STRATO_STATE`` for the processes this one starts."""
    if "STRATO_STATE" not in os.environ:
        os.environ["STRATO_STATE"] = _native.Object.state_address()


def _adopt(cls, name, state):
    """Rebuilds a handle in the process that unpickles it."""
    handle = object.__new__(cls)
    handle._obj = _native.Object.adopt(name)
    handle._restore(state)
    return handle


class Handle:
    """Base of every shared object: one named object on the state.

    Pickling lends a reference and unpickling adopts it, so the object lives while a
    pickled handle is in flight. Unlike CPython's, these handles pickle at any time (a
    ``Lock`` can go through a ``Queue``): they name the object, they do not hold it.
    """

    _kind = None
    #: What ``_restore`` gets for an object opened by name (see ``_named``).
    _default_state = None

    @classmethod
    def _named(cls, name):
        """The object ``name``, opened (made with this class's defaults if absent)."""
        handle = object.__new__(cls)
        handle._open(name=name)
        handle._restore(cls._default_state)
        return handle

    def _open(self, name=None, arg=None, value=None):
        _share_state()
        self._obj = _native.Object.open(self._kind, name, arg, value)

    @property
    def name(self):
        """The object's name on the state (open it from any process, in any language)."""
        return self._obj.name

    def _state(self):
        return None

    def _restore(self, state):
        pass

    def __reduce__(self):
        return (_adopt, (type(self), self._obj.lend(), self._state()))

    def __repr__(self):
        return f"<strato {type(self).__name__} {self.name!r}>"
