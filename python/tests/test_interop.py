"""A Rust program and a Python process share a barrier and queues by name
(``crates/strato/examples/interop.rs`` against ``strato.Barrier`` and ``strato.Queue``)."""

import os
import subprocess
import threading
import unittest
import uuid

import strato
import strato.multiprocessing  # noqa: F401 - starts the embedded state for the child

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.environ.get("STRATO_INTEROP_EXAMPLE",
                         os.path.join(ROOT, "target", "debug", "examples", "interop"))


class InteropTest(unittest.TestCase):
    def test_a_rust_program_meets_python_at_a_barrier_and_talks_through_queues(self):
        if not os.path.exists(EXAMPLE):
            self.skipTest(f"build it first: cargo build -p strato --example interop ({EXAMPLE})")
        name = f"interop-{uuid.uuid4().hex}"
        barrier = strato.Barrier(f"{name}.barrier", 2)
        to_python, to_rust = strato.Queue(f"{name}.to_python"), strato.Queue(f"{name}.to_rust")
        from strato import _native

        env = dict(os.environ, STRATO_STATE=_native.Object.state_address())
        rust = subprocess.Popen([EXAMPLE, name], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            leader = barrier.wait(timeout=60)
            greeting = to_python.get_str(timeout=60)
            self.assertTrue(greeting.startswith("hello from rust (leader: "))
            self.assertNotEqual(greeting.endswith("true)"), leader, "exactly one leader")
            to_rust.put("hello from python")
            out, err = rust.communicate(timeout=60)
        finally:
            rust.kill()
        self.assertEqual(rust.returncode, 0, err)
        self.assertEqual(out.strip(), "rust got: hello from python")

    def test_items_are_rusts_strings_and_bytes(self):
        q = strato.Queue(f"interop-{uuid.uuid4().hex}")
        q.put("é" * 100)
        q.put(b"\x00\xff")
        self.assertEqual(q.get_str(), "é" * 100)
        self.assertEqual(q.get(), b"\x00\xff")

    def test_a_barrier_timeout_breaks_it_for_everyone(self):
        barrier = strato.Barrier(f"interop-{uuid.uuid4().hex}", 2)
        with self.assertRaises(threading.BrokenBarrierError):
            barrier.wait(timeout=0.05)


if __name__ == "__main__":
    unittest.main()
