"""strato.multiprocessing.Pipe: connections made of channels on the engine, across
processes."""

import array
import os
import threading
import unittest

import strato.multiprocessing as mp
from strato.multiprocessing.connection import wait

from test_multiprocessing import run_child


def echo_doubled(conn):
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        conn.send(item * 2)


def send_pid_and_close(conn):
    conn.send(os.getpid())
    conn.close()


class PipeTest(unittest.TestCase):
    def test_both_ends_send_and_receive_objects_and_bytes(self):
        a, b = mp.Pipe()
        a.send({"k": [1, 2]})
        self.assertEqual(b.recv(), {"k": [1, 2]})
        b.send_bytes(b"abcdef", 1, 3)
        self.assertEqual(a.recv_bytes(), b"bcd")
        b.send_bytes(b"xyz")
        buf = bytearray(8)
        self.assertEqual(a.recv_bytes_into(buf, 2), 3)
        self.assertEqual(bytes(buf), b"\0\0xyz\0\0\0")

    def test_bad_arguments_and_short_buffers_are_refused(self):
        a, b = mp.Pipe()
        with self.assertRaises(ValueError):
            a.send_bytes(b"abc", 4)
        with self.assertRaises(ValueError):
            a.send_bytes(b"abc", 1, 5)
        a.send_bytes(b"too long")
        with self.assertRaises(mp.BufferTooShort) as caught:
            b.recv_bytes_into(bytearray(3))
        self.assertEqual(caught.exception.args[0], b"too long")
        a.send_bytes(array.array("i", [1, 2]))
        self.assertEqual(array.array("i", b.recv_bytes()).tolist(), [1, 2])
        a.send_bytes(b"12345")
        with self.assertRaises(OSError):
            b.recv_bytes(maxlength=4)
        self.assertTrue(b.closed)

    def test_one_way_pipe_has_a_reader_and_a_writer(self):
        reader, writer = mp.Pipe(duplex=False)
        writer.send(1)
        self.assertEqual(reader.recv(), 1)
        with self.assertRaises(OSError):
            reader.send(2)
        with self.assertRaises(OSError):
            writer.recv()

    def test_poll_waits_for_a_message_without_taking_it(self):
        a, b = mp.Pipe()
        self.assertFalse(b.poll())
        self.assertFalse(b.poll(0.05))
        a.send("x")
        self.assertTrue(b.poll(5))
        self.assertTrue(b.poll())
        self.assertEqual(b.recv(), "x")

    def test_closing_an_end_gives_eof_after_the_messages_and_a_broken_pipe(self):
        a, b = mp.Pipe()
        a.send("last")
        a.close()
        self.assertTrue(b.poll())
        self.assertEqual(b.recv(), "last")
        self.assertTrue(b.poll(1))
        with self.assertRaises(EOFError):
            b.recv()
        with self.assertRaises(BrokenPipeError):
            b.send("nobody")
        with self.assertRaises(OSError):
            a.send("closed")

    def test_an_end_passed_to_a_process_serves_requests_until_closed(self):
        parent, child = mp.Pipe()
        p = mp.Process(target=echo_doubled, args=(child,))
        p.start()
        child.close()
        for item in [1, "ab", [3]]:
            parent.send(item)
            self.assertEqual(parent.recv(), item * 2)
        parent.close()
        p.join(30)
        self.assertEqual(p.exitcode, 0)

    def test_a_process_that_closes_its_end_gives_eof(self):
        parent, child = mp.Pipe()
        p = mp.Process(target=send_pid_and_close, args=(child,))
        p.start()
        child.close()
        self.assertIsInstance(parent.recv(), int)
        with self.assertRaises(EOFError):
            parent.recv()
        p.join(30)

    def test_a_killed_process_disconnects_its_end(self):
        parent, child = mp.Pipe()
        child_process = run_child(
            "import os, signal\nconn, = args\nconn.send('up')\nos.kill(os.getpid(), signal.SIGKILL)",
            child,
            wait=False,
        )
        child.close()
        self.assertEqual(parent.recv(), "up")
        with self.assertRaises(EOFError):
            parent.recv()
        child_process.communicate(timeout=30)

    def test_wait_returns_the_connections_with_something_to_read(self):
        (a, b), (c, d) = mp.Pipe(), mp.Pipe()
        self.assertEqual(wait([b, d], timeout=0.05), [])
        c.send(1)
        self.assertEqual(wait([b, d], timeout=5), [d])
        self.assertEqual(wait([d]), [d])

    def test_wait_on_pipes_whose_sockets_are_here_waits_on_the_sockets(self):
        (a, b), (c, d) = mp.Pipe(), mp.Pipe()
        # On the engine's machine each end has its pipe's socket: wait uses them.
        self.assertIsInstance(b._wait_descriptor(), int)
        self.assertIsInstance(d._wait_descriptor(), int)
        sender = threading.Thread(target=lambda: (a.send("late"), c.close()))
        sender.start()
        got = []
        for _ in range(1000):
            got += [o for o in wait([b, d], timeout=10) if o not in got]
            if len(got) == 2:
                break
        sender.join()
        self.assertEqual(len(got), 2)
        self.assertEqual(b.recv(), "late")
        with self.assertRaises(EOFError):
            d.recv()


class ConditionTest(unittest.TestCase):
    def test_wait_times_out_and_needs_the_lock(self):
        cond = mp.Condition()
        with self.assertRaises(AssertionError):
            cond.wait(0)
        with self.assertRaises(AssertionError):
            cond.notify()
        with cond:
            self.assertFalse(cond.wait(0.05))
            with cond:
                self.assertFalse(cond.wait(0.05))
            cond.notify_all()

    def test_a_notification_wakes_a_waiter_in_another_process(self):
        cond, ready, flag = mp.Condition(mp.Lock()), mp.Event(), mp.Value("i", 0)
        child = run_child(
            "cond, ready, flag = args\n"
            "with cond:\n"
            "    ready.set()\n"
            "    print(cond.wait_for(lambda: flag.value == 1, timeout=30))\n",
            cond,
            ready,
            flag,
            wait=False,
        )
        self.assertTrue(ready.wait(30))
        with cond:
            flag.value = 1
            cond.notify()
        out, err = child.communicate(timeout=30)
        self.assertEqual(out.strip(), "True", err)

    def test_notify_wakes_at_most_n_and_notify_all_the_rest(self):
        cond, asleep, woke = mp.Condition(), mp.Semaphore(0), mp.Semaphore(0)
        code = (
            "cond, asleep, woke = args\n"
            "with cond:\n"
            "    asleep.release()\n"
            "    assert cond.wait(60)\n"
            "woke.release()\n"
        )
        children = [run_child(code, cond, asleep, woke, wait=False) for _ in range(3)]
        for _ in children:
            self.assertTrue(asleep.acquire(timeout=30))
        with cond:
            cond.notify(2)
        self.assertTrue(woke.acquire(timeout=30))
        self.assertTrue(woke.acquire(timeout=30))
        self.assertFalse(woke.acquire(timeout=0.2), "notify(2) woke a third waiter")
        with cond:
            cond.notify_all()
        self.assertTrue(woke.acquire(timeout=30))
        for child in children:
            _, err = child.communicate(timeout=30)
            self.assertEqual(child.returncode, 0, err)


def add_one_to_each(arr):
    with arr.get_lock():
        for i in range(len(arr)):
            arr[i] += 1


def fill_in_rounds(arr, writer):
    for round_ in range(300):
        arr[:] = [writer * 1000 + round_] * len(arr)


class ArrayTest(unittest.TestCase):
    def test_items_slices_and_bytes(self):
        a = mp.Array("d", [1.0, 2.0, 3.0, 4.0])
        self.assertEqual(len(a), 4)
        self.assertEqual(a[-1], 4.0)
        self.assertEqual(a[1:3], [2.0, 3.0])
        self.assertEqual(a[::-2], [4.0, 2.0])
        a[0:2] = [7, 8]
        a[::3] = [0, 9]
        self.assertEqual(list(a), [0.0, 8.0, 3.0, 9.0])
        with self.assertRaises(IndexError):
            a[4]
        with self.assertRaises(ValueError):
            a[0:2] = [1]
        s = mp.Array("c", b"hello")
        s.value = b"hi"
        self.assertEqual((s.value, s.raw), (b"hi", b"hi\0lo"))
        with self.assertRaises(TypeError):
            mp.Array("x", 3)

    def test_slices_written_by_processes_are_never_torn(self):
        # On the embedded default every process maps the server's arena: these slices are
        # read and written in shared memory, each at one instant.
        a = mp.RawArray("q", 64)
        writers = [mp.Process(target=fill_in_rounds, args=(a, w)) for w in (1, 2)]
        for w in writers:
            w.start()
        reads = 0
        while any(w.is_alive() for w in writers) or reads < 100:
            items = a[:]
            self.assertEqual(items, [items[0]] * 64, "a torn slice")
            reads += 1
        for w in writers:
            w.join()
            self.assertEqual(w.exitcode, 0)
        self.assertIn(a[0], (1299, 2299))

    def test_workers_update_one_array(self):
        a = mp.Array("i", 5)
        with mp.Pool(2) as pool:
            pool.map(add_one_to_each, [a] * 6)
        self.assertEqual(a[:], [6] * 5)


if __name__ == "__main__":
    unittest.main()
