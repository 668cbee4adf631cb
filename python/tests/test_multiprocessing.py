"""strato.multiprocessing's objects against the real engine: the embedded state server of
this test process, shared with child Python processes through pickled handles."""

import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import strato.multiprocessing as mp


def run_child(code, *handles, wait=True):
    """Runs ``code`` in a new Python process with ``handles`` unpickled as ``args``."""
    prelude = (
        "import pickle, sys\n"
        "args = [pickle.loads(bytes.fromhex(a)) for a in sys.argv[1:]]\n"
    )
    argv = [sys.executable, "-c", prelude + code] + [pickle.dumps(h).hex() for h in handles]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return child
    out, err = child.communicate(timeout=60)
    if child.returncode != 0:
        raise AssertionError(f"child failed ({child.returncode}): {err}")
    return out


class QueueTest(unittest.TestCase):
    def test_items_put_before_a_signal_are_there_when_it_is_seen(self):
        # An unbounded put does not wait for the engine's answer (as the standard library's
        # feeder thread): the engine still serves a process's calls in order, so what the
        # child put before it set the event is in the queue once the event is seen.
        q, done = mp.Queue(), mp.Event()
        code = (
            "q, done = args\n"
            "for i in range(200):\n"
            "    q.put(i)\n"
            "done.set()\n"
        )
        run_child(code, q, done)
        self.assertTrue(done.wait(10))
        self.assertEqual(q.qsize(), 200)
        self.assertEqual([q.get_nowait() for _ in range(200)], list(range(200)))

    def test_fifo_empty_and_full(self):
        q = mp.Queue(maxsize=2)
        q.put("a")
        q.put({"b": 2})
        self.assertTrue(q.full())
        with self.assertRaises(queue.Full):
            q.put("c", timeout=0.05)
        with self.assertRaises(queue.Full):
            q.put_nowait("c")
        self.assertEqual(q.get(), "a")
        self.assertEqual(q.get_nowait(), {"b": 2})
        self.assertTrue(q.empty())
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.05)

    def test_a_pickled_handle_is_the_same_queue_in_another_process(self):
        inbox, outbox = mp.Queue(), mp.Queue()
        inbox.put(21)
        run_child("inbox, outbox = args\noutbox.put(inbox.get() * 2)", inbox, outbox)
        self.assertEqual(outbox.get(timeout=10), 42)
        self.assertTrue(inbox.empty())

    def test_joinable_queue_join_waits_for_task_done(self):
        q = mp.JoinableQueue()
        for i in range(3):
            q.put(i)
        run_child("q, = args\nfor _ in range(3):\n    q.get(); q.task_done()", q)
        q.join()
        with self.assertRaises(ValueError):
            q.task_done()

    def test_simple_queue(self):
        q = mp.SimpleQueue()
        self.assertTrue(q.empty())
        q.put([1, 2])
        self.assertEqual(q.get(), [1, 2])


class LockTest(unittest.TestCase):
    def test_value_with_its_lock_counts_every_increment_of_four_processes(self):
        counter = mp.Value("i", 0)
        code = (
            "counter, = args\n"
            "for _ in range(100):\n"
            "    with counter.get_lock():\n"
            "        counter.value += 1\n"
        )
        children = [run_child(code, counter, wait=False) for _ in range(4)]
        for child in children:
            _, err = child.communicate(timeout=120)
            self.assertEqual(child.returncode, 0, err)
        self.assertEqual(counter.value, 400)

    def test_lock_is_released_by_any_process_and_refuses_a_second_release(self):
        lock = mp.Lock()
        self.assertTrue(lock.acquire())
        self.assertFalse(lock.acquire(timeout=0.05))
        run_child("lock, = args\nlock.release()", lock)
        self.assertTrue(lock.acquire(block=False))
        lock.release()
        with self.assertRaises(ValueError):
            lock.release()

    def test_rlock_is_reentrant_and_owned(self):
        lock = mp.RLock()
        with lock:
            with lock:
                pass
            other = []
            t = threading.Thread(target=lambda: other.append(lock.acquire(timeout=0.05)))
            t.start()
            t.join()
            self.assertEqual(other, [False], "another thread cannot take it")
        with self.assertRaises(AssertionError):
            lock.release()

    def test_semaphores(self):
        s = mp.Semaphore(2)
        self.assertTrue(s.acquire())
        self.assertTrue(s.acquire())
        self.assertFalse(s.acquire(block=False))
        self.assertEqual(s.get_value(), 0)
        s.release()
        self.assertEqual(s.get_value(), 1)
        b = mp.BoundedSemaphore(1)
        with self.assertRaises(ValueError):
            b.release()


class CoordinationTest(unittest.TestCase):
    def test_event_set_in_another_process_wakes_the_waiter(self):
        e = mp.Event()
        self.assertFalse(e.wait(timeout=0.05))
        child = run_child("e, = args\ne.set()", e, wait=False)
        self.assertTrue(e.wait(timeout=30))
        self.assertTrue(e.is_set())
        child.communicate(timeout=30)
        e.clear()
        self.assertFalse(e.is_set())

    def test_barrier_meets_across_processes_and_breaks_on_timeout(self):
        b = mp.Barrier(2)
        child = run_child("b, = args\nprint(b.wait(timeout=30))", b, wait=False)
        mine = b.wait(timeout=30)
        out, _ = child.communicate(timeout=30)
        self.assertEqual(sorted([mine, int(out)]), [0, 1])
        lonely = mp.Barrier(2)
        with self.assertRaises(threading.BrokenBarrierError):
            lonely.wait(timeout=0.05)

    def test_values_hold_numbers_and_bytes_and_refuse_other_types(self):
        f = mp.Value("d", 1.5)
        f.value += 1
        self.assertEqual(f.value, 2.5)
        raw = mp.RawValue("q", 7)
        self.assertEqual(raw.value, 7)
        c = mp.Value("c", b"x")
        c.value = b"y"
        self.assertEqual(c.value, b"y")
        with self.assertRaises(TypeError):
            c.value = b"two"
        with self.assertRaises(TypeError):
            mp.Value("u")
        with self.assertRaises(AttributeError):
            mp.Value("i", 1, lock="not a lock")
        self.assertFalse(hasattr(mp.Value("i", 1, lock=False), "get_lock"))


class InterfaceTest(unittest.TestCase):
    def test_the_standard_exceptions_and_start_methods(self):
        import multiprocessing as std

        self.assertIs(mp.TimeoutError, std.TimeoutError)
        for method in ["fork", "spawn", "forkserver"]:
            self.assertEqual(mp.get_context(method).get_start_method(), method)
        with self.assertRaises(ValueError):
            mp.get_context("teleport")
        self.assertGreaterEqual(mp.cpu_count(), 1)

    def interrupted(self, blocker, *handles):
        """Runs ``blocker`` in a child, sends it Ctrl-C once it blocks: whether it raised
        KeyboardInterrupt in time."""
        code = (
            "import time\n"
            "import strato, strato.multiprocessing as mp\n"
            "from strato.concurrent.futures import ProcessPoolExecutor\n"
            "try:\n"
            "    print('blocking', flush=True)\n"
            f"    {blocker}\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n"
        )
        child = run_child(code, *handles, wait=False)
        self.assertEqual(child.stdout.readline().strip(), "blocking", blocker)
        # Give the child time to enter its call (the outcome is the same if it has not: the
        # interrupt is caught either way; this only makes the blocked path the usual one).
        time.sleep(0.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        self.assertLess(time.monotonic() - sent, 2.0, f"Ctrl-C took too long: {blocker}")
        self.assertEqual(out.strip(), "interrupted", f"{blocker}: {err}")

    def test_ctrl_c_interrupts_a_pool_waiting_for_its_workers_to_start(self):
        # The workers load the main script first; this one's hang there, so the pool
        # waits for them (up to a minute) until Ctrl-C.
        program = (
            "import time\n"
            "import strato.multiprocessing as mp\n"
            "if __name__ == '__mp_main__':\n"
            "    time.sleep(120)\n"
            "if __name__ == '__main__':\n"
            "    try:\n"
            "        print('blocking', flush=True)\n"
            "        mp.Pool(1)\n"
            "    except KeyboardInterrupt:\n"
            "        print('interrupted', flush=True)\n"
        )
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "hangs.py")
            with open(path, "w") as f:
                f.write(program)
            child = subprocess.Popen([sys.executable, path], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
            self.assertEqual(child.stdout.readline().strip(), "blocking")
            time.sleep(1.0)
            sent = time.monotonic()
            child.send_signal(signal.SIGINT)
            self.assertEqual(child.stdout.readline().strip(), "interrupted")
            self.assertLess(time.monotonic() - sent, 2.0, "Ctrl-C took too long")
            self.assertEqual(child.wait(timeout=30), 0)
            # Its hung workers die with it (they watch it from before they load the
            # script): the pipe they inherited closes.
            self.assertEqual(child.stdout.read(), "")
            child.stdout.close()
        self.assertLess(time.monotonic() - sent, 10.0, "the workers outlived the driver")

    def test_a_wait_after_an_interrupted_one_does_not_wait_behind_it(self):
        # A barrier wait runs on a helper thread kept from wait to wait; the one Ctrl-C
        # left still waits there, so the next wait must get a helper of its own.
        code = (
            "import signal, threading\n"
            "from strato import _native\n"
            "stuck = _native.Object.open('barrier', 'test.helper.stuck', 2)\n"
            "alone = _native.Object.open('barrier', 'test.helper.alone', 1)\n"
            "threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,)).start()\n"
            "try:\n"
            "    stuck.barrier_wait(None)\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n"
            "print(alone.barrier_wait(None), alone.barrier_wait(None), flush=True)\n"
        )
        self.assertEqual(run_child(code).split(), ["interrupted", "True", "True"])

    def test_ctrl_c_interrupts_a_blocked_get_join_or_wait_at_once(self):
        self.interrupted("args[0].get()", mp.Queue())
        self.interrupted("args[0].wait()", mp.Event())
        self.interrupted("args[0].acquire(); args[0].acquire()", mp.Lock())
        self.interrupted("args[0].wait()", mp.Barrier(2))
        reader, writer = mp.Pipe(duplex=False)  # the writer kept open: recv blocks
        self.interrupted("args[0].recv()", reader)
        writer.close()
        self.interrupted(
            "p = mp.Process(target=time.sleep, args=(60,)); p.start(); p.join()")
        self.interrupted(
            "pool = mp.Pool(1); pool.apply_async(time.sleep, (60,)).get()")
        self.interrupted(
            "pool = mp.Pool(1); pool.map_async(time.sleep, [60]).wait()")
        self.interrupted(
            "fexec = strato.FunctionExecutor(workers=1); fexec.call_async(time.sleep, 60); "
            "fexec.get_result()")
        self.interrupted(
            "ProcessPoolExecutor(1).submit(time.sleep, 60).result()")

if __name__ == "__main__":
    unittest.main()
