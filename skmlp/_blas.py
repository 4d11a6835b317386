"""BLAS's threads: the one process-wide limiter, and effective thread counts.

The chunk executors (:mod:`skmlp._executor`) and prediction run their BLAS
calls single-threaded: parallelism comes from the row chunks, and BLAS's own
idle workers spinning would fight the chunk threads for the cores.
:data:`blas_limiter` is the one place that changes BLAS's thread counts.
"""

import contextlib
import functools
import os
import threading
import time

from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import ThreadpoolController


def available_cpus():
    """Number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def effective_n_threads(n_jobs=None):
    """Threads for `n_jobs`, as scikit-learn counts them for its threaded estimators.

    None: the CPUs this process may use, within the limits of threadpoolctl
    (``threadpool_limits(n)``), ``OMP_NUM_THREADS`` and a joblib worker's
    inner-thread limit (scikit-learn's ``_openmp_effective_n_threads``);
    negative values count back from there as in joblib (-1: all of them).
    """
    return _openmp_effective_n_threads(n_jobs)


class BlasLimiter:
    """BLAS limited to one thread while anyone in the process asks for it.

    The first :meth:`acquire` limits every BLAS library threadpoolctl finds
    to one thread, the last :meth:`release` restores the counts the first
    found; a count under a lock, so that concurrent users (fits in several
    threads) cannot restore out of order. Use the process-wide instance
    :data:`blas_limiter`.

    Notes
    -----
    Each setting is read back and repeated until it holds (at most
    `SET_ATTEMPTS` times, a millisecond apart): while other threads run BLAS
    calls, OpenBLAS 0.3.31 (numpy's) now and then drops an
    ``openblas_set_num_threads`` (measured: about one restore in 20 with four
    concurrent fits; the repeated call held).
    """

    SET_ATTEMPTS = 100

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._original = None  # [(library controller, its thread count)]

    @functools.cached_property
    def _controller(self):
        # Built once: inspecting the loaded libraries is slow, limiting is not.
        return ThreadpoolController().select(user_api="blas")

    def _set(self, counts):
        for lib, n_threads in counts:
            for _ in range(self.SET_ATTEMPTS):
                lib.set_num_threads(n_threads)
                if lib.num_threads == n_threads:
                    break
                time.sleep(1e-3)

    def acquire(self):
        """Limit BLAS to one thread (if no one else already does)."""
        with self._lock:
            if self._users == 0:
                libs = self._controller.lib_controllers
                self._original = [(lib, lib.num_threads) for lib in libs]
                self._set([(lib, 1) for lib in libs])
            self._users += 1

    def release(self):
        """Drop one use; the last restores BLAS's original thread counts."""
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._set(self._original)
                self._original = None

    @contextlib.contextmanager
    def limited(self):
        """A context in which BLAS runs single-threaded."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


blas_limiter = BlasLimiter()


class BlasHold:
    """One user's hold on :data:`blas_limiter`, from :meth:`hold` to :meth:`release`.

    For an executor that keeps BLAS single-threaded while it is open,
    between evaluations too: :meth:`hold` limits it once however often it
    is called, :meth:`release` gives the hold back once.
    """

    def __init__(self):
        self.held = False

    def hold(self):
        if not self.held:
            blas_limiter.acquire()
            self.held = True

    def release(self):
        if self.held:
            self.held = False
            blas_limiter.release()
