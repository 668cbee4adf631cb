"""strato for Python: the engine's shared objects under Python's own APIs.

``import strato.multiprocessing as multiprocessing`` gives multiprocessing's queues, locks,
semaphores, events, barriers and values, whose state lives on strato's state server (an
embedded one started by the first process, or the one ``STRATO_STATE`` names), so every
process that reaches the state shares them.

``strato.FunctionExecutor`` is Lithops' executor API (``call_async``, ``map``,
``map_reduce`` over data in storage, ``wait``, ``get_result``, ``plot``) on strato's Python
workers. ``strato.Queue`` and ``strato.Barrier`` are the engine's own queue and barrier by
name, in the encoding Rust programs use, so Python and Rust share them; ``import
strato.joblib`` registers a joblib backend, ``"strato"``.
"""

from ._native import StratoError
from .objects import Barrier, Queue
from .executor import (
    ALL_COMPLETED,
    ALWAYS,
    ANY_COMPLETED,
    FunctionExecutor,
    LocalhostExecutor,
    ServerlessExecutor,
    StandaloneExecutor,
)

__all__ = [
    "ALL_COMPLETED",
    "Barrier",
    "Queue",
    "ALWAYS",
    "ANY_COMPLETED",
    "FunctionExecutor",
    "LocalhostExecutor",
    "ServerlessExecutor",
    "StandaloneExecutor",
    "StratoError",
]
