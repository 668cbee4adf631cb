"""A joblib backend on strato's Pool: ``with parallel_config(backend="strato"):``.

Importing this module registers the backend (``register_strato()`` does it again, as
``ray.util.joblib.register_ray`` does for Ray). Then joblib's ``Parallel`` (and everything
built on it: scikit-learn's ``GridSearchCV``, ``cross_val_score``, …) runs its batches on
strato's Python workers:

>>> from joblib import Parallel, delayed, parallel_config
>>> import strato.joblib
>>> with parallel_config(backend="strato", n_jobs=2):
...     Parallel()(delayed(abs)(-i) for i in range(3))
[0, 1, 2]
"""

import joblib
from joblib._parallel_backends import MultiprocessingBackend, SequentialBackend
from joblib.parallel import FallbackToBackend

__all__ = ["StratoBackend", "register_strato"]


class StratoBackend(MultiprocessingBackend):
    """joblib's multiprocessing backend with strato's ``Pool`` in place of the standard
    library's: batches go to warm strato workers (cloudpickled, retried if a worker dies),
    anywhere strato's compute runs them."""

    def configure(self, n_jobs=1, parallel=None, prefer=None, require=None, **pool_kwargs):
        from .multiprocessing import Pool

        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1:
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        self._pool = Pool(n_jobs)
        self.parallel = parallel
        return n_jobs


def register_strato():
    """Registers the backend under the name ``"strato"``."""
    joblib.register_parallel_backend("strato", StratoBackend)


register_strato()
