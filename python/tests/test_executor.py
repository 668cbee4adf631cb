"""strato.FunctionExecutor (Lithops' API) and strato.concurrent.futures.ProcessPoolExecutor
on strato's Python workers."""

import collections
import concurrent.futures as cf
import os
import signal
import tempfile
import unittest

import strato
import strato.multiprocessing as mp
from strato.concurrent.futures import ProcessPoolExecutor, as_completed


def add(x, y):
    return x + y


def count_words(obj):
    return collections.Counter(obj.data_stream.read().decode().split())


def merge(results):
    total = collections.Counter()
    for counts in results:
        total.update(counts)
    return dict(total)


def fails(x):
    raise KeyError(x)


def dies_first(attempts):
    with attempts.get_lock():
        attempts.value += 1
        first = attempts.value == 1
    if first:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


def set_tag(value):
    global _tag
    _tag = value


def tag(_):
    return _tag


class FunctionExecutorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fexec = strato.FunctionExecutor(workers=2)
        cls.corpus = tempfile.TemporaryDirectory()
        lines = {"a.txt": ["one two", "two three three"] * 50, "b.txt": ["four"] * 30}
        for name, text in lines.items():
            with open(os.path.join(cls.corpus.name, name), "w") as f:
                f.write("\n".join(text) + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.corpus.cleanup()

    def test_arguments_follow_lithops_conventions(self):
        fexec = self.fexec
        self.assertEqual(fexec.call_async(abs, -3).result(), 3)
        self.assertEqual(fexec.map(add, [(1, 2), [3, 4], {"x": 5, "y": 6}]).get_result(),
                         [3, 7, 11])
        self.assertEqual(fexec.map(add, [1, 2], extra_args=(10,)).get_result(), [11, 12])
        self.assertEqual(fexec.map(lambda x, id: (x, id), "ab").get_result(),
                         [("a", 0), ("b", 1)])
        self.assertEqual(fexec.get_result(fexec.call_async(add, (2, 2))), 4)

    def test_map_reduce_over_a_directory_in_chunks(self):
        futures = self.fexec.map_reduce(count_words, self.corpus.name, merge,
                                        obj_chunk_size=64)
        self.assertEqual(futures.get_result(),
                         {"one": 50, "two": 100, "three": 100, "four": 30})
        maps = [f for f in futures if getattr(f, "_feeds_reducer", False)]
        self.assertGreater(len(maps), 2)

    def test_one_reducer_per_object(self):
        futures = self.fexec.map_reduce(count_words, self.corpus.name, merge,
                                        obj_chunk_number=3, reducer_one_per_object=True)
        self.assertEqual(sorted(sum(r.values()) for r in futures.get_result()), [30, 250])

    def test_obj_chunks_need_an_obj_parameter(self):
        with self.assertRaises(ValueError):
            self.fexec.map(abs, [1], obj_chunk_size=10)

    def test_errors_are_raised_or_kept(self):
        future = self.fexec.call_async(fails, "k")
        with self.assertRaises(KeyError):
            future.result()
        self.assertTrue(future.error and not future.success)
        self.assertIsNone(future.result(throw_except=False))
        with self.assertRaises(KeyError):
            self.fexec.wait([future])
        done, not_done = self.fexec.wait([future], throw_except=False)
        self.assertEqual((len(done), len(not_done)), (1, 0))

    def test_wait_any_and_plot(self):
        futures = self.fexec.map(abs, range(-4, 0))
        done, _ = self.fexec.wait(futures, return_when=strato.ANY_COMPLETED)
        self.assertGreaterEqual(len(done), 1)
        self.fexec.wait(futures)
        with tempfile.TemporaryDirectory() as out:
            paths = self.fexec.plot(futures, out)
            self.assertTrue(paths and all(os.path.getsize(p) > 0 for p in paths))

    def test_a_missing_input_is_a_clear_error(self):
        with self.assertRaises(strato.StratoError):
            self.fexec.map(count_words, "/no/such/corpus")


class ProcessPoolExecutorTest(unittest.TestCase):
    def test_real_futures_as_completed_and_map_in_chunks(self):
        with ProcessPoolExecutor(2) as pool:
            futures = [pool.submit(add, i, i) for i in range(8)]
            self.assertIsInstance(futures[0], cf.Future)
            self.assertEqual(sorted(f.result() for f in as_completed(futures)),
                             [2 * i for i in range(8)])
            self.assertEqual(list(pool.map(add, range(5), range(5), chunksize=2)),
                             [0, 2, 4, 6, 8])

    def test_an_exception_carries_its_remote_traceback(self):
        with ProcessPoolExecutor(1) as pool:
            error = pool.submit(fails, "x").exception(timeout=60)
        self.assertIsInstance(error, KeyError)
        self.assertIn("fails", str(error.__cause__))

    def test_a_call_whose_worker_died_is_run_again(self):
        attempts = mp.Value("i", 0)
        with ProcessPoolExecutor(1) as pool:
            self.assertEqual(pool.submit(dies_first, attempts).result(timeout=120),
                             "survived")
        self.assertEqual(attempts.value, 2)

    def test_initializer_and_shutdown(self):
        pool = ProcessPoolExecutor(1, initializer=set_tag, initargs=("set",))
        self.assertEqual(pool.submit(tag, 0).result(), "set")
        pool.shutdown()
        with self.assertRaises(RuntimeError):
            pool.submit(tag, 0)

    def test_max_tasks_per_child_gives_each_few_calls_a_fresh_process(self):
        with ProcessPoolExecutor(1, max_tasks_per_child=1) as pool:
            pids = [pool.submit(os.getpid).result(timeout=60) for _ in range(3)]
        self.assertEqual(len(set(pids)), 3, pids)

    def test_bad_arguments_are_refused(self):
        with self.assertRaises(ValueError):
            ProcessPoolExecutor(0)
        with self.assertRaises(TypeError):
            ProcessPoolExecutor(1, initializer=3)
        with self.assertRaises(ValueError):
            ProcessPoolExecutor(1, max_tasks_per_child=0)


if __name__ == "__main__":
    unittest.main()
