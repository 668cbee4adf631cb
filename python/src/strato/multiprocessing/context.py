"""Contexts and start methods (``multiprocessing.context``'s names).

Every start method name the standard library knows is accepted; they all mean the same
here: objects live on the engine, so no method shares memory with its parent.
"""

import os

_START_METHODS = ["fork", "spawn", "forkserver"]
_chosen = None


class BaseContext:
    """The objects of ``strato.multiprocessing``, as a context object offers them."""

    def __init__(self, method):
        self._method = method

    def get_start_method(self, allow_none=False):
        return self._method

    def __getattr__(self, name):
        from .. import multiprocessing

        try:
            return getattr(multiprocessing, name)
        except AttributeError:
            raise AttributeError(f"strato's multiprocessing context has no {name!r}") from None


def get_context(method=None):
    """A context for ``method`` (any of the standard library's names, or None)."""
    if method is not None and method not in _START_METHODS:
        raise ValueError(f"cannot find context for {method!r}")
    return BaseContext(method or get_start_method())


def get_start_method(allow_none=False):
    if _chosen is None and allow_none:
        return None
    return _chosen or "spawn"


def set_start_method(method, force=False):
    global _chosen
    if method is not None and method not in _START_METHODS:
        raise ValueError(f"cannot find context for {method!r}")
    if _chosen is not None and not force:
        raise RuntimeError("context has already been set")
    _chosen = method


def get_all_start_methods():
    return list(_START_METHODS)


def cpu_count():
    return os.cpu_count() or 1
