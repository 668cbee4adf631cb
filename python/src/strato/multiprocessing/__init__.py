"""A drop-in for the standard library's ``multiprocessing`` whose objects live on strato's
engine: ``import strato.multiprocessing as multiprocessing``.

What is here so far: ``Process`` and ``Pool`` (their bodies and tasks run on warm Python
worker processes started by strato's executor), ``Queue``, ``SimpleQueue``,
``JoinableQueue``, ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``, ``Event``,
``Condition``, ``Barrier``, ``Value``, ``RawValue``, ``Array``, ``RawArray``, ``Pipe``, the
context functions and the standard library's exceptions. Every object is the engine's: any
process that reaches the same state (``STRATO_STATE``) shares it, by a pickled handle or by
its ``name``. ``Manager()`` starts a manager process whose ``dict``, ``list``, ``Namespace``,
``Value`` and ``Array`` are reached through proxies (``managers``).
"""

from multiprocessing import AuthenticationError, BufferTooShort, ProcessError, TimeoutError

from .connection import Pipe
from .context import (
    cpu_count,
    get_all_start_methods,
    get_context,
    get_start_method,
    set_start_method,
)
from .pool import Pool
from .process import Process, active_children, current_process, parent_process
from .queues import JoinableQueue, Queue, SimpleQueue
from .sharedctypes import Array, RawArray, RawValue, Value
from .synchronize import Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore


def Manager():
    """A started ``SyncManager``: ``with Manager() as m: d = m.dict()``."""
    from .managers import SyncManager

    manager = SyncManager()
    manager.start()
    return manager


def freeze_support():
    """Nothing to do: workers are not frozen executables."""


def set_executable(executable):
    """Nothing to do: workers run this interpreter (``sys.executable``)."""


def set_forkserver_preload(module_names):
    """Nothing to do: there is no fork server."""


def allow_connection_pickling():
    """Nothing to do: connections always pickle (by reference)."""


def get_logger():
    """The standard library's ``multiprocessing`` logger."""
    from multiprocessing import util

    return util.get_logger()


def log_to_stderr(level=None):
    """The standard library's ``log_to_stderr``."""
    from multiprocessing import util

    return util.log_to_stderr(level)


def install():
    """Makes ``import multiprocessing`` give this package, in this process and in the
    worker processes strato starts: an unmodified program then runs on strato (what
    ``python -m strato.multiprocessing program.py`` does)."""
    from ._install import install

    install()


__all__ = [
    "Array",
    "AuthenticationError",
    "Barrier",
    "BoundedSemaphore",
    "BufferTooShort",
    "Condition",
    "Event",
    "JoinableQueue",
    "Lock",
    "Manager",
    "Pipe",
    "Pool",
    "Process",
    "ProcessError",
    "Queue",
    "RLock",
    "RawArray",
    "RawValue",
    "Semaphore",
    "SimpleQueue",
    "TimeoutError",
    "Value",
    "active_children",
    "current_process",
    "cpu_count",
    "freeze_support",
    "get_logger",
    "install",
    "log_to_stderr",
    "set_executable",
    "set_forkserver_preload",
    "allow_connection_pickling",
    "get_all_start_methods",
    "get_context",
    "get_start_method",
    "parent_process",
    "set_start_method",
]
