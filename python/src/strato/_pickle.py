"""How tasks travel: cloudpickle, except that what the driver's main module defines at its
top level goes by reference, as the standard library's spawn start method sends it.

A worker runs the driver's main script (or module) once as ``__mp_main__``, its
``if __name__ == "__main__"`` block skipped, and makes it its ``__main__`` (see
``fix_main``). Functions and classes of the main module then keep one module namespace in
the worker: a global an initializer sets is seen by later tasks, and a class is the same
class in every task. What the main module does not define at its top level (a lambda, a
function made inside ``main()``, an interactive session's definitions) goes by value.
"""

import io
import json
import os
import pickle
import runpy
import struct
import sys
import types

import cloudpickle

#: The environment variable naming the driver's main module for its workers:
#: ``path:/abs/script.py`` or ``module:package.name``.
MAIN_ENV = "STRATO_PY_MAIN"
#: The environment variable holding the driver's ``sys.argv`` (JSON), which workers take as
#: theirs, as the standard library's spawned children do.
ARGV_ENV = "STRATO_PY_ARGV"


def main_reference():
    """How workers can load this process's main module, or None (interactive, ``-c``)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        # A package run with -m (its __main__) is not loaded again, as in the standard
        # library: its top level is the program itself.
        if spec.name == "__main__" or spec.name.endswith(".__main__"):
            return None
        if spec.name == "strato._worker":
            return None
        return f"module:{spec.name}"
    path = getattr(main, "__file__", None)
    if path and os.path.isfile(path) and path.endswith(".py"):
        return f"path:{os.path.abspath(path)}"
    return None


def _by_reference(obj):
    """Whether ``obj`` is a function or class the main module defines at its top level."""
    if getattr(obj, "__module__", None) != "__main__" or os.environ.get(MAIN_ENV) is None:
        return False
    main = sys.modules.get("__main__")
    qualname = getattr(obj, "__qualname__", "")
    return "<" not in qualname and "." not in qualname and getattr(main, qualname, None) is obj


class _Pickler(cloudpickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)) and _by_reference(obj):
            return NotImplemented  # the standard pickle: by module and name
        return super().reducer_override(obj)


def dumps(obj):
    """``obj`` pickled for a worker."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def loads(data):
    return cloudpickle.loads(data)


#: The first byte of a task payload in two parts (``task_prefix``); a pickle's first byte is
#: PROTO (0x80), never this.
_SPLIT = b"\x01"
#: How the prefix's length follows ``_SPLIT``.
_LENGTH = struct.Struct("<I")
#: Where the pickled prefix starts.
_HEAD = len(_SPLIT) + _LENGTH.size
#: The types the standard pickler writes as ``dumps`` would, only faster (no Python-level
#: hook per object).
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None)})


def _plain(obj, depth=3):
    """Whether ``obj`` is plain data: a value of a ``_PLAIN`` type, or a list or tuple of
    plain data, ``depth`` levels deep at most."""
    kind = type(obj)
    if kind in _PLAIN:
        return True
    if depth and (kind is list or kind is tuple):
        return all(_plain(x, depth - 1) for x in obj)
    return False


def task_prefix(setup, func, leading):
    """What a map's task payloads share: ``(setup, func, leading args)`` pickled once, where
    pickling them for each chunk (through cloudpickle's per-object hook) took most of the
    driver's time per task. ``task_payload`` completes a payload from it."""
    head = dumps((setup, func, tuple(leading)))
    return _SPLIT + _LENGTH.pack(len(head)) + head


def task_payload(prefix, rest):
    """One task's payload: ``prefix``, then the remaining arguments ``rest`` (a tuple),
    pickled by the standard pickler when they are plain data, else as ``dumps`` does."""
    if _plain(rest):
        return prefix + pickle.dumps(rest, protocol=pickle.HIGHEST_PROTOCOL)
    return prefix + dumps(rest)


def load_task(payload):
    """A task's ``(setup, func, args, kwargs)``, from a payload of ``dumps`` or of
    ``task_payload``."""
    if payload[:1] != _SPLIT:
        return loads(payload)
    end = _HEAD + _LENGTH.unpack_from(payload, len(_SPLIT))[0]
    setup, func, leading = loads(payload[_HEAD:end])
    return setup, func, leading + loads(payload[end:]), {}


#: Whether ``fix_main`` ran (the standard library's multiprocessing already aliases
#: ``__mp_main__`` to ``__main__`` when imported, so that name tells nothing).
_main_fixed = False


def fix_main():
    """In a worker: takes the driver's ``sys.argv``, loads the driver's main module as
    ``__mp_main__`` and makes it this process's ``__main__`` (what ``STRATO_PY_MAIN``
    names; nothing if it names none)."""
    global _main_fixed
    if _main_fixed:
        return
    _main_fixed = True
    argv = os.environ.get(ARGV_ENV)
    if argv:
        sys.argv = json.loads(argv)
    reference = os.environ.get(MAIN_ENV)
    if not reference:
        return
    kind, _, target = reference.partition(":")
    module = types.ModuleType("__mp_main__")
    try:
        if kind == "path":
            module.__dict__.update(runpy.run_path(target, run_name="__mp_main__"))
        elif kind == "module":
            module.__dict__.update(runpy.run_module(target, run_name="__mp_main__",
                                                    alter_sys=True))
        else:
            return
    except BaseException as e:  # noqa: BLE001 - tasks still run, by value
        print(f"strato: the driver's main module ({target}) could not be loaded here: {e!r}",
              file=sys.stderr)
        return
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module
