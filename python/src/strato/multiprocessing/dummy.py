"""``multiprocessing.dummy``: the same API over threads of this process.

Threads share this process's memory, so there is nothing for the engine to do: this is the
standard library's own module, re-exported so that ``strato.multiprocessing`` is laid out
like ``multiprocessing``.
"""

from multiprocessing.dummy import *  # noqa: F401,F403 - the standard library's own names
from multiprocessing.dummy import __all__  # noqa: F401
