"""A scikit-learn grid search through joblib: ``GridSearchCV.fit`` with its cross-validation
fits run by joblib's ``Parallel``, on strato's workers or on joblib's own.

    python python/examples/gridsearch.py            # joblib's "strato" backend
    python python/examples/gridsearch.py --stdlib   # joblib's "multiprocessing" backend

Both print the same best parameters and score (needs scikit-learn).
"""

import argparse
import sys
import time

from joblib import parallel_config
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdlib", action="store_true")
    args = parser.parse_args()
    if not args.stdlib:
        import strato.joblib  # noqa: F401 - registers the "strato" backend
    backend = "multiprocessing" if args.stdlib else "strato"
    X, y = load_digits(return_X_y=True)
    grid = {"C": [0.1, 1, 10], "gamma": [1e-4, 1e-3, 1e-2]}
    started = time.perf_counter()
    with parallel_config(backend=backend, n_jobs=2):
        search = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    print(f"best {search.best_params_} score {search.best_score_:.6f} "
          f"fits {len(search.cv_results_['params']) * 3}")
    print(f"backend={backend} elapsed={time.perf_counter() - started:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
