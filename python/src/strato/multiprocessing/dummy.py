"""``multiprocessing.dummy``: the same API over threads of this process.

Threads share this process's memory, so there is nothing for the engine to do: this is the
standard library's own module, its names re-exported so that ``strato.multiprocessing`` is
laid out like ``multiprocessing``.
"""

import multiprocessing.dummy as _dummy

globals().update({k: v for k, v in vars(_dummy).items() if not k.startswith("__")})
__all__ = list(_dummy.__all__)
