"""The Python group's script of strato-bench (``python/bench/mp_bench.py``) measures what it
says on both implementations (its timings are not checked here)."""

import json
import os
import subprocess
import sys
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "bench", "mp_bench.py")


def measure(implementation, only):
    done = subprocess.run(
        [sys.executable, SCRIPT, "--impl", implementation, "--quick", "--only", only],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    return json.loads(done.stdout)


class BenchScriptTest(unittest.TestCase):
    def test_both_implementations_give_every_asked_metric(self):
        only = "map_overhead_us,queue_rt_1k_us,pipe_rt_1k_us,barrier_2_us"
        for implementation in ("strato", "stdlib"):
            metrics = measure(implementation, only)
            self.assertEqual(sorted(metrics), sorted(only.split(",")))
            self.assertTrue(all(v > 0 for v in metrics.values()), metrics)

    def test_an_unknown_metric_is_refused(self):
        done = subprocess.run([sys.executable, SCRIPT, "--impl", "strato", "--only", "nope"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2)
        self.assertIn("unknown metrics", done.stderr)


if __name__ == "__main__":
    unittest.main()
