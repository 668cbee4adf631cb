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


INITIALIZER_PROGRAM = textwrap.dedent(
    """
    import strato.multiprocessing as multiprocessing


    class Point:
        pass


    def remember(value):
        global remembered
        remembered = value


    def recall(_):
        return remembered, Point.__module__


    if __name__ == "__main__":
        with multiprocessing.Pool(1, initializer=remember, initargs=("kept",)) as pool:
            print(sorted(set(pool.map(recall, range(6), chunksize=1))))
    """
)


ARGV_PROGRAM = textwrap.dedent(
    """
    import sys
    import strato.multiprocessing as multiprocessing


    def arguments(_):
        return sys.argv[1:]


    if __name__ == "__main__":
        with multiprocessing.Pool(1) as pool:
            print(pool.map(arguments, range(2)))
    """
)


class InstallTest(unittest.TestCase):
    def run_program(self, *prefix, program=PROGRAM, args=()):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "program.py")
            with open(path, "w") as f:
                f.write(program)
            done = subprocess.run(
                [sys.executable, *prefix, path, *args], capture_output=True, text=True,
                timeout=120,
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

    def test_a_main_modules_globals_are_one_namespace_in_a_worker(self):
        # Every task sees what the initializer set: the main module's functions go by
        # reference to the worker's copy of the main module, `__mp_main__`, as in the
        # standard library's spawned processes.
        self.assertEqual(self.run_program(program=INITIALIZER_PROGRAM),
                         "[('kept', '__mp_main__')]")

    def test_workers_see_the_drivers_arguments(self):
        # As the standard library's spawned children do: sys.argv is the driver's.
        self.assertEqual(self.run_program(program=ARGV_PROGRAM, args=("--size", "3")),
                         "[['--size', '3'], ['--size', '3']]")

    def test_usage_without_a_program(self):
        done = subprocess.run([sys.executable, "-m", "strato.multiprocessing"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2)
        self.assertIn("usage", done.stderr)


if __name__ == "__main__":
    unittest.main()
