"""joblib's "strato" backend (``import strato.joblib``): Parallel and scikit-learn's
GridSearchCV on strato's workers."""

import os
import unittest

try:
    from joblib import Parallel, delayed, parallel_config

    import strato.joblib  # noqa: F401 - registers the backend
except ImportError:  # joblib is not installed: scripts/test installs it
    Parallel = None


def pid_and_square(x):
    return os.getpid(), x * x


def fails():
    raise ValueError("in a batch")


@unittest.skipIf(Parallel is None, "joblib is not installed")
class JoblibTest(unittest.TestCase):
    def test_parallel_runs_its_batches_on_strato_workers(self):
        with parallel_config(backend="strato", n_jobs=2):
            out = Parallel()(delayed(pid_and_square)(i) for i in range(20))
        self.assertEqual([square for _, square in out], [i * i for i in range(20)])
        self.assertNotIn(os.getpid(), {pid for pid, _ in out})

    def test_an_exception_in_a_batch_reaches_the_caller(self):
        with parallel_config(backend="strato", n_jobs=2):
            with self.assertRaises(ValueError):
                Parallel()(delayed(fails)() for _ in range(3))

    def test_grid_search_finds_what_the_sequential_backend_finds(self):
        try:
            from sklearn.datasets import load_iris
            from sklearn.model_selection import GridSearchCV
            from sklearn.tree import DecisionTreeClassifier
        except ImportError:
            self.skipTest("scikit-learn is not installed")
        X, y = load_iris(return_X_y=True)
        grid = {"max_depth": [1, 2, 3, None], "min_samples_leaf": [1, 5]}

        def search(backend):
            with parallel_config(backend=backend, n_jobs=2):
                found = GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3)
                return found.fit(X, y)

        on_strato, sequential = search("strato"), search("sequential")
        self.assertEqual(on_strato.best_params_, sequential.best_params_)
        self.assertEqual(on_strato.best_score_, sequential.best_score_)


if __name__ == "__main__":
    unittest.main()
