"""``concurrent.futures.process``' names: strato's ``ProcessPoolExecutor`` and the
standard library's ``BrokenProcessPool``."""

from concurrent.futures.process import BrokenProcessPool  # noqa: F401

from . import ProcessPoolExecutor  # noqa: F401

__all__ = ["ProcessPoolExecutor", "BrokenProcessPool"]
