"""The worker processes of strato's Python executors (``python -m strato._worker``).

Local compute starts them with the driver's environment (its ``sys.path`` in ``PYTHONPATH``,
its working directory); a worker host starts them with its ``--python`` in a directory
holding the driver's main script. Each takes tasks from the executor's task board. A task is a
cloudpickled ``(setup, function, args, kwargs)``, or, for a pool's map, the pickled
``(setup, function, leading args)`` the map's tasks share, then the rest of the arguments
(``_pickle.task_payload``); its outcome goes back pickled: ``(True, value)``
or ``(False, exception, traceback text)``.
"""

import pickle
import sys
import traceback

from . import _pickle

#: The pools whose initializer already ran in this process.
_initialized = set()
#: How many tasks of each pool this process ran.
_ran = {}


def run(payload):
    """Runs one task; never raises (a failure is the outcome)."""
    try:
        outcome = (True, _call(payload))
    except BaseException as e:  # noqa: BLE001 - the task's failure is its result
        outcome = (False, e, traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - an outcome that cannot travel
        from multiprocessing.pool import MaybeEncodingError

        failure = MaybeEncodingError(e, outcome[1])
        return pickle.dumps((False, failure, traceback.format_exc()))


def _call(payload):
    setup, func, args, kwargs = _pickle.load_task(payload)
    if setup is None:
        return func(*args, **kwargs)
    pool, initializer, initargs, max_tasks = setup
    if pool not in _initialized:
        _initialized.add(pool)
        if initializer is not None:
            initializer(*initargs)
    try:
        return func(*args, **kwargs)
    finally:
        _ran[pool] = _ran.get(pool, 0) + 1
        if max_tasks is not None and _ran[pool] >= max_tasks:
            from . import _native

            _native.retire_after_task()


def main():
    import os

    from . import _native
    from .multiprocessing import _install

    # Loading the driver's main script may take long (or hang): die with the driver
    # meanwhile.
    _native.watch_driver()

    if os.environ.get(_install.ENV) == "1":
        _install.install()
    _pickle.fix_main()

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    _native.worker_main(_native.__file__, version)
    sys.exit("strato._worker: this process was not started as a worker by an executor")


if __name__ == "__main__":
    main()
