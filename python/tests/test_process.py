"""strato.multiprocessing.Process: bodies on worker processes started by strato's executor."""

import os
import sys
import time
import unittest

import strato.multiprocessing as mp


def put_name_and_pid(q):
    q.put((mp.current_process().name, os.getpid()))


def exits_with(code):
    sys.exit(code)


def raises():
    raise RuntimeError("body failed")


def prints(text):
    print(text)


def sleeps():
    time.sleep(60)


class Worker(mp.Process):
    def __init__(self, q):
        super().__init__(name="subclassed")
        self.q = q

    def run(self):
        self.q.put(f"{self.name} ran")


class ProcessTest(unittest.TestCase):
    def test_a_body_runs_in_another_process_with_its_name(self):
        q = mp.Queue()
        p = mp.Process(target=put_name_and_pid, args=(q,), name="reporter")
        self.assertIsNone(p.exitcode)
        p.start()
        name, pid = q.get(timeout=60)
        p.join(60)
        self.assertEqual(name, "reporter")
        self.assertNotEqual(pid, os.getpid())
        self.assertEqual(p.exitcode, 0)
        self.assertFalse(p.is_alive())
        self.assertEqual(mp.current_process().name, "MainProcess")

    def test_exit_codes_follow_the_standard_library(self):
        cases = [(exits_with, (3,), 3), (exits_with, (None,), 0), (raises, (), 1)]
        for target, args, code in cases:
            p = mp.Process(target=target, args=args)
            p.start()
            p.join(60)
            self.assertEqual(p.exitcode, code, target.__name__)
        with self.assertRaises(AssertionError):
            p.start()

    def test_a_subclass_overriding_run(self):
        q = mp.Queue()
        p = Worker(q)
        p.start()
        p.join(60)
        self.assertEqual(q.get(timeout=10), "subclassed ran")

    def test_terminate_stops_a_running_body(self):
        p = mp.Process(target=sleeps, daemon=True)
        p.start()
        self.assertTrue(p.is_alive())
        self.assertIn(p, mp.active_children())
        p.join(0.1)
        self.assertIsNone(p.exitcode)
        p.terminate()
        p.join(10)
        self.assertLess(p.exitcode, 0)
        self.assertFalse(p.is_alive())

    def test_what_a_body_prints_reaches_the_parents_standard_output(self):
        read, write = os.pipe()
        saved = os.dup(1)
        os.dup2(write, 1)
        try:
            p = mp.Process(target=prints, args=("hello from the body",))
            p.start()
            p.join(60)
            sys.stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(write)
        with os.fdopen(read) as output:
            self.assertIn("hello from the body", output.read())


if __name__ == "__main__":
    unittest.main()
