"""strato.multiprocessing.Pool against real Python worker processes started by strato's
executor (this interpreter running ``strato._worker``)."""

import os
import shutil
import signal
import sys
import tempfile
import unittest
from multiprocessing.pool import RemoteTraceback

import strato.multiprocessing as mp

_seen = []


def sleeps(seconds):
    import time

    time.sleep(seconds)


def square(x):
    return x * x


def add(a, b):
    return a + b


def pid(_):
    return os.getpid()


def fails(x):
    raise ValueError(f"bad item {x}")


def remember(value):
    _seen.append(value)


def seen(_):
    return list(_seen)


def dies_once(counter):
    """SIGKILLs its own worker on the first attempt (the counter says which attempt)."""
    with counter.get_lock():
        attempt = counter.value
        counter.value += 1
    if attempt == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def _apply_to_ten(f):
    return f(10)


def _call_or_keep(x):
    return x() if callable(x) else x


class PoolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pool = mp.Pool(2)

    @classmethod
    def tearDownClass(cls):
        cls.pool.terminate()

    def test_map_keeps_order_and_runs_in_other_processes(self):
        self.assertEqual(self.pool.map(square, range(50)), [x * x for x in range(50)])
        self.assertEqual(self.pool.map(square, range(7), chunksize=3), [x * x for x in range(7)])
        pids = set(self.pool.map(pid, range(20), chunksize=1))
        self.assertNotIn(os.getpid(), pids)

    def test_starmap_apply_and_imap(self):
        self.assertEqual(self.pool.starmap(add, [(1, 2), (3, 4)]), [3, 7])
        self.assertEqual(self.pool.apply(add, (20, 22)), 42)
        self.assertEqual(list(self.pool.imap(square, range(5))), [0, 1, 4, 9, 16])
        self.assertEqual(sorted(self.pool.imap_unordered(square, range(5))), [0, 1, 4, 9, 16])

    def test_lambdas_and_closures_travel_cloudpickled(self):
        offset = 5
        self.assertEqual(self.pool.apply(lambda x: x + offset, (1,)), 6)
        self.assertEqual(self.pool.map(lambda x: -x, [1, 2]), [-1, -2])

    def test_map_items_of_every_kind_travel_as_they_would_alone(self):
        # Plain items (numbers, strings, tuples of them) go through the standard pickler,
        # anything else through cloudpickle; both after the map's shared, pickled function.
        plain = [1, 2.5, "three", b"four", None, True, (5, "six"), [7, [8]]]
        self.assertEqual(self.pool.map(repr, plain, chunksize=3), [repr(x) for x in plain])
        offsets = [lambda x, k=k: x + k for k in range(4)]
        self.assertEqual(self.pool.map(_apply_to_ten, offsets), [10, 11, 12, 13])
        mixed = [3, (lambda: 4), "x"]
        self.assertEqual(self.pool.map(_call_or_keep, mixed, chunksize=2), [3, 4, "x"])
        self.assertEqual(self.pool.starmap(add, [(1, 2), ("a", "b")], chunksize=1), [3, "ab"])

    def test_an_unpicklable_function_fails_the_map_or_its_imap_result(self):
        import threading

        lock = threading.Lock()
        with self.assertRaises(TypeError):
            self.pool.map(lambda x: lock, range(3))
        results = self.pool.imap(lambda x: lock, range(3))
        with self.assertRaises(TypeError):
            next(results)

    def test_a_task_exception_is_raised_by_get_with_the_remote_traceback(self):
        result = self.pool.apply_async(fails, (3,))
        with self.assertRaises(ValueError) as raised:
            result.get(timeout=60)
        self.assertIn("bad item 3", str(raised.exception))
        self.assertIsInstance(raised.exception.__cause__, RemoteTraceback)
        self.assertTrue(result.ready())
        self.assertFalse(result.successful())

    def test_callbacks_and_timeouts(self):
        got, errors = [], []
        done = mp.Event()

        def on_value(v):
            got.append(v)
            done.set()

        self.pool.apply_async(square, (9,), callback=on_value)
        self.assertTrue(done.wait(60))
        self.assertEqual(got, [81])
        failing = self.pool.map_async(fails, [1], error_callback=errors.append)
        with self.assertRaises(ValueError):
            failing.get(60)
        slow = self.pool.apply_async(__import__("time").sleep, (2,))
        with self.assertRaises(mp.TimeoutError):
            slow.get(timeout=0.05)

    def test_callbacks_run_in_one_thread_in_turn_and_one_failing_stops_none(self):
        import threading

        threads, values = set(), []

        def on_value(v):
            threads.add(threading.get_ident())
            values.append(v)
            if v == 4:
                raise RuntimeError("a callback failed")  # printed; the others still run

        results = [self.pool.apply_async(square, (i,), callback=on_value) for i in range(20)]
        results.append(self.pool.map_async(square, range(5), callback=on_value))
        for result in results:
            result.get(60)
        self.assertEqual(len(threads), 1, threads)
        self.assertNotIn(threading.get_ident(), threads)
        self.assertEqual(sorted(v for v in values if isinstance(v, int)),
                         sorted(i * i for i in range(20)))
        self.assertIn([0, 1, 4, 9, 16], values)

    def test_a_result_whose_callback_a_terminate_dropped_reports_the_tasks_fate(self):
        pool = mp.Pool(1)
        called = []
        result = pool.apply_async(sleeps, (30,), callback=called.append)
        pool.terminate()
        with self.assertRaises(RuntimeError):
            result.get(30)
        self.assertEqual(called, [])

    def test_a_task_killed_mid_run_is_run_again(self):
        counter = mp.Value("i", 0)
        self.assertEqual(self.pool.apply(dies_once, (counter,)), "survived")
        self.assertEqual(counter.value, 2)


class PoolLifeTest(unittest.TestCase):
    def test_initializer_runs_in_each_worker_before_its_tasks(self):
        with mp.Pool(1, initializer=remember, initargs=("ready",)) as pool:
            self.assertEqual(pool.apply(seen, (0,)), ["ready"])
            self.assertEqual(pool.apply(seen, (0,)), ["ready"], "once per worker")

    def test_close_then_join_waits_and_a_closed_pool_refuses_work(self):
        pool = mp.Pool(1)
        result = pool.map_async(square, [1, 2, 3])
        pool.close()
        with self.assertRaises(ValueError):
            pool.apply(square, (1,))
        pool.join()
        self.assertEqual(result.get(), [1, 4, 9])

    def test_a_finished_pools_workers_serve_the_next_pool_warm(self):
        with mp.Pool(2) as first:
            first.map(pid, range(8))
            workers = set(first._executor.worker_pids())
        with mp.Pool(2) as second:
            self.assertEqual(set(second._executor.worker_pids()), workers)
            self.assertLessEqual(set(second.map(pid, range(8))), workers)

    def test_terminate_with_a_task_running_stops_its_workers(self):
        pool = mp.Pool(1)
        pool.apply_async(sleeps, (60,))
        busy = set(pool._executor.worker_pids())
        pool.terminate()
        with mp.Pool(1) as fresh:
            self.assertEqual(set(fresh.map(pid, [0])) & busy, set())

    def test_maxtasksperchild_retires_each_worker_after_its_tasks(self):
        with self.assertRaises(ValueError):
            mp.Pool(1, maxtasksperchild=0)
        with mp.Pool(1, maxtasksperchild=2) as pool:
            pids = [pool.apply(os.getpid) for _ in range(6)]
        # One worker slot: a fresh process every two tasks.
        self.assertEqual([len(set(pids[i:i + 2])) for i in range(0, 6, 2)], [1, 1, 1])
        self.assertEqual(len(set(pids)), 3, pids)

    def test_compute_kinds_without_python_workers_are_refused_with_the_reason(self):
        import subprocess

        code = "import strato.multiprocessing as mp\nmp.Pool(1)\n"
        for kind, reason in [
            # Worker hosts run Python workers (crates/strato/tests/netns.rs), once one is
            # connected.
            ("hosts", "no worker hosts are connected"),
            ("lambda", "compute kinds `local` and `hosts` only"),
        ]:
            env = dict(os.environ, STRATO_COMPUTE=kind)
            child = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                   text=True, timeout=60)
            self.assertNotEqual(child.returncode, 0)
            self.assertIn(reason, child.stderr)

    def test_a_function_the_worker_cannot_import_reports_the_import_error(self):
        folder = tempfile.mkdtemp()
        try:
            with open(os.path.join(folder, "vanishing_module.py"), "w") as f:
                f.write("def f(x):\n    return x\n")
            sys.path.insert(0, folder)
            import vanishing_module

            with mp.Pool(1) as pool:
                shutil.rmtree(folder)
                with self.assertRaises(ImportError) as raised:
                    pool.apply(vanishing_module.f, (1,))
                self.assertIn("vanishing_module", str(raised.exception))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            sys.path.remove(folder)


if __name__ == "__main__":
    unittest.main()
