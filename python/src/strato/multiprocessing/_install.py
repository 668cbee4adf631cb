"""``install()``: makes ``import multiprocessing`` give ``strato.multiprocessing``, in this
process and in the worker processes strato starts, so a program runs unmodified
(``python -m strato.multiprocessing program.py``)."""

import os
import sys

#: Set in the environment by ``install()``, so strato's workers install it too.
ENV = "STRATO_MULTIPROCESSING_INSTALL"

#: strato's modules that stand in for the standard library's of the same name.
OURS = [
    "connection",
    "context",
    "dummy",
    "heap",
    "managers",
    "pool",
    "process",
    "queues",
    "sharedctypes",
    "synchronize",
]
#: The standard library's modules that stay (nothing in them holds state strato shares).
KEPT = ["util", "reduction", "resource_tracker", "shared_memory", "forkserver", "spawn",
        "resource_sharer"]


def install():
    """Redirects ``multiprocessing`` and its submodules to strato's, here and in workers."""
    import importlib

    import strato.multiprocessing as ours

    for name in KEPT:
        module = importlib.import_module(f"multiprocessing.{name}")
        setattr(ours, name, module)
    modules = {name: importlib.import_module(f"strato.multiprocessing.{name}") for name in OURS}
    sys.modules["multiprocessing"] = ours
    for name, module in modules.items():
        sys.modules[f"multiprocessing.{name}"] = module
    os.environ[ENV] = "1"


def installed():
    """Whether ``multiprocessing`` is strato's in this process."""
    import strato.multiprocessing as ours

    return sys.modules.get("multiprocessing") is ours
