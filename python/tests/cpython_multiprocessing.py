"""CPython's own multiprocessing test suite (the interpreter's
``test/_test_multiprocessing.py``, not vendored) run against ``strato.multiprocessing``.

Imported as a module, it redirects ``multiprocessing`` to strato's (``install()``, which
strato's workers repeat) and installs the suite's test classes here, so that the classes'
methods pickle by reference into worker processes. Run as a program, it runs the classes
named in ``CLASSES`` and compares the failures with ``KNOWN``: each known failure has its
reason there; a failure not listed, or a listed one that now passes, fails the run.
"""

import os
import sys
import unittest

import strato.multiprocessing

strato.multiprocessing.install()

try:
    import test._test_multiprocessing as _suite
except ImportError:  # an interpreter without its test package
    _suite = None

#: The suite's test classes this run covers.
CLASSES = [
    # queues
    "WithProcessesTestQueue",
    # synchronize
    "WithProcessesTestLock",
    "WithProcessesTestSemaphore",
    "WithProcessesTestCondition",
    "WithProcessesTestEvent",
    "WithProcessesTestBarrier",
    # Value and Array
    "WithProcessesTestValue",
    "WithProcessesTestArray",
    "WithProcessesTestSharedCTypes",
    # Pool
    "WithProcessesTestPool",
    "WithProcessesTestPoolWorkerErrors",
    "WithProcessesTestPoolWorkerLifetime",
    # connection
    "WithProcessesTestConnection",
    "WithProcessesTestPoll",
    "WithProcessesTestPicklingConnections",
    "WithProcessesTestListener",
    "WithProcessesTestListenerClient",
    # managers
    "WithManagerTestQueue",
    "WithManagerTestLock",
    "WithManagerTestSemaphore",
    "WithManagerTestCondition",
    "WithManagerTestEvent",
    "WithManagerTestBarrier",
    "WithManagerTestContainers",
    "WithManagerTestPool",
    "WithManagerTestMyManager",
    "WithManagerTestRemoteManager",
    "WithManagerTestManagerRestart",
]
if os.environ.get("CPYTHON_SUITE_CLASSES"):
    CLASSES = os.environ["CPYTHON_SUITE_CLASSES"].split(",")

if _suite is not None:
    _all = {"__name__": __name__}
    _suite.install_tests_in_module_dict(_all, "spawn")
    setUpModule = _all["setUpModule"]
    tearDownModule = _all["tearDownModule"]
    globals().update({name: _all[name] for name in CLASSES})

_NO_FD = (
    "a strato connection is two channels on the engine, not a file descriptor: fileno() "
    "raises, and descriptors (sockets, files) cannot be sent through it"
)
_STRUCTURES = (
    "Value and Array hold integers, floats and single bytes; a ctypes Structure (the test's "
    "_Foo) is refused with a TypeError"
)

#: Tests that fail on strato, each with its reason.
KNOWN = {
    "WithProcessesTestSharedCTypes.test_copy": _STRUCTURES,
    "WithProcessesTestSharedCTypes.test_sharedctypes": _STRUCTURES,
    "WithProcessesTestSharedCTypes.test_synchronize": _STRUCTURES,
    "WithProcessesTestPool.test_traceback": (
        "the test's function is a classmethod, which cloudpickle sends by value: the "
        "worker's traceback names <dynamic-code> and cannot show the source line"
    ),
    "WithProcessesTestConnection.test_connection": _NO_FD,
    "WithProcessesTestConnection.test_fd_transfer": _NO_FD,
    "WithProcessesTestConnection.test_large_fd_transfer": _NO_FD,
    "WithProcessesTestConnection.test_missing_fd_transfer": _NO_FD,
    "WithProcessesTestPicklingConnections.test_pickling": _NO_FD,
    "WithManagerTestEvent.test_repr": (
        "a manager's Event is the engine's Event itself (as are its queues and locks), "
        "not an EventProxy"
    ),
    "WithManagerTestRemoteManager.test_remote": (
        "serializer='xmlrpclib' is accepted but strato always pickles, so a tuple comes "
        "back a tuple, not the list xmlrpclib would make"
    ),
}


def main():
    if _suite is None:
        print("CPython's test package (test._test_multiprocessing) is not installed: skipped")
        return 0
    import cpython_multiprocessing as module

    module.setUpModule()
    suite = unittest.TestSuite(
        unittest.defaultTestLoader.loadTestsFromTestCase(getattr(module, name))
        for name in CLASSES
    )
    verbosity = int(os.environ.get("CPYTHON_SUITE_VERBOSITY", "1"))
    result = unittest.TextTestRunner(verbosity=verbosity, stream=sys.stdout).run(suite)
    module.tearDownModule()
    failed = {test.id().split(".", 1)[1] for test, _ in result.failures + result.errors}
    unexpected = sorted(failed - KNOWN.keys())
    fixed = sorted(name for name in KNOWN.keys() - failed if name.split(".")[0] in CLASSES)
    print(f"\n{result.testsRun} tests, {len(failed)} failed ({len(failed) - len(unexpected)} "
          f"known), {len(result.skipped)} skipped")
    for name in unexpected:
        print(f"unexpected failure: {name}")
    for name in fixed:
        print(f"known failure now passes (take it off KNOWN): {name}")
    return 1 if unexpected or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
