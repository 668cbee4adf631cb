"""strato for Python: the engine's shared objects under Python's own APIs.

``import strato.multiprocessing as multiprocessing`` gives multiprocessing's queues, locks,
semaphores, events, barriers and values, whose state lives on strato's state server (an
embedded one started by the first process, or the one ``STRATO_STATE`` names), so every
process that reaches the state shares them.
"""

from ._native import StratoError

__all__ = ["StratoError"]
