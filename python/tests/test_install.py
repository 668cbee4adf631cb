"""``python -m strato.multiprocessing program.py``: an unmodified program that imports the
standard library's ``multiprocessing`` runs on strato, in its driver and its workers."""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

PROGRAM = textwrap.dedent(
    """
    import multiprocessing
    from multiprocessing import Pool, Manager


    def where(x):
        import multiprocessing
        return multiprocessing.__name__, x * x


    if __name__ == "__main__":
        with Pool(2) as pool:
            names, squares = zip(*pool.map(where, range(4)))
        with Manager() as manager:
            d = manager.dict(a=1)
            d["b"] = 2
            items = sorted(d.items())
        print(multiprocessing.__name__, sorted(set(names)), list(squares), items)
    """
)


class InstallTest(unittest.TestCase):
    def run_program(self, *prefix):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "program.py")
            with open(path, "w") as f:
                f.write(PROGRAM)
            done = subprocess.run(
                [sys.executable, *prefix, path], capture_output=True, text=True, timeout=120
            )
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout.strip()

    def test_an_unmodified_program_runs_on_strato_in_driver_and_workers(self):
        self.assertEqual(
            self.run_program("-m", "strato.multiprocessing"),
            "strato.multiprocessing ['strato.multiprocessing'] [0, 1, 4, 9] "
            "[('a', 1), ('b', 2)]",
        )

    def test_the_same_program_without_it_runs_on_the_standard_library(self):
        self.assertEqual(
            self.run_program(),
            "multiprocessing ['multiprocessing'] [0, 1, 4, 9] [('a', 1), ('b', 2)]",
        )

    def test_usage_without_a_program(self):
        done = subprocess.run([sys.executable, "-m", "strato.multiprocessing"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2)
        self.assertIn("usage", done.stderr)


if __name__ == "__main__":
    unittest.main()
