"""BLAS's threads: the one process-wide limiter, and effective thread counts.

The chunk executors (:mod:`skmlp._executor`) and prediction run their BLAS
calls single-threaded: parallelism comes from the row chunks, and BLAS's own
idle workers spinning would fight the chunk threads for the cores.
:data:`blas_limiter` is the one place that changes BLAS's thread counts.
"""

import contextlib
import ctypes
import functools
import itertools
import threading

from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import ThreadpoolController


def effective_n_threads(n_jobs=None):
    """Threads for `n_jobs`, as scikit-learn counts them for its threaded estimators.

    None: the CPUs this process may use, within the limits of threadpoolctl
    (``threadpool_limits(n)``), ``OMP_NUM_THREADS`` and a joblib worker's
    inner-thread limit (scikit-learn's ``_openmp_effective_n_threads``);
    negative values count back from there as in joblib (-1: all of them).
    """
    return _openmp_effective_n_threads(n_jobs)


# threadpoolctl's names for OpenBLAS's symbols: scipy-openblas renames them
# (``scipy_openblas_get_num_threads64_``), other builds add a suffix.
_OPENBLAS_PREFIXES = ("", "scipy_")
_OPENBLAS_SUFFIXES = ("", "64_", "_64")
_GET = ctypes.CFUNCTYPE(ctypes.c_int)  # int openblas_get_num_threads(void)
_SET = ctypes.CFUNCTYPE(None, ctypes.c_int)  # void openblas_set_num_threads(int)


class _ThreadCount:
    """Get and set one BLAS library's thread count.

    OpenBLAS built with its own threads (``threading_layer`` "pthreads", as
    numpy's and scipy's wheels are) keeps one count for the whole process:
    ``openblas_set_num_threads`` writes it from any thread, and every BLAS
    call, from any thread, reads it. threadpoolctl (3.8) lets only the first
    thread that set it set it again (``OpenBLASController.set_num_threads``
    silently ignores every other thread's call while that one lives), so the
    count is written here through OpenBLAS's own functions. Other libraries
    (an OpenBLAS on OpenMP, MKL, BLIS, FlexiBLAS) go through threadpoolctl.
    """

    def __init__(self, controller):
        self.controller = controller
        self._get = self._set = None
        if controller.internal_api == "openblas" and controller.threading_layer != "openmp":
            for prefix, suffix in itertools.product(_OPENBLAS_PREFIXES, _OPENBLAS_SUFFIXES):
                try:  # new function objects: threadpoolctl's own stay as they are
                    get = _GET((f"{prefix}openblas_get_num_threads{suffix}", controller.dynlib))
                    set_ = _SET((f"{prefix}openblas_set_num_threads{suffix}", controller.dynlib))
                except AttributeError:
                    continue
                self._get, self._set = get, set_
                break

    def get(self):
        return self._get() if self._get is not None else self.controller.num_threads

    def set(self, n_threads):
        if self._set is not None:
            self._set(n_threads)
        else:
            self.controller.set_num_threads(n_threads)


class BlasLimiter:
    """BLAS limited to one thread while anyone in the process asks for it.

    The first :meth:`acquire` (from any thread) limits every BLAS library
    threadpoolctl finds to one thread, the last :meth:`release` (from any
    thread) restores the counts the first found; a count of users under a
    lock, so that fits and predictions in several threads at once limit BLAS
    once, run their chunks on single-threaded BLAS whatever else runs, and
    restore it once, when the last ends. Use the process-wide instance
    :data:`blas_limiter`.

    Notes
    -----
    numpy's OpenBLAS (0.3.31, pthreads) has one thread count for the process
    (``blas_cpu_number``): a set from any thread holds at once for BLAS
    calls from every thread, and no call of OpenBLAS's changes it behind the
    setter (two million sets from three threads while four others ran
    products: none lost). ``openblas_set_num_threads_local`` is no thread
    limit there: it sets the same process-wide count (and a variable only an
    OpenMP build reads) and returns the old one. So the count is one shared
    resource with one owner, this limiter; it writes it through OpenBLAS's
    own functions (see :class:`_ThreadCount`), once, without retrying.

    Anything else that sets the count while the limiter holds it (a
    ``threadpool_limits`` entered in another thread) breaks the
    single-threaded chunks: each :meth:`acquire` puts the limit back, and
    the last :meth:`release` still restores the counts the first found.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._original = None  # [(library, its thread count)]

    @functools.cached_property
    def _libraries(self):
        # Built once: inspecting the loaded libraries is slow, limiting is not.
        controller = ThreadpoolController().select(user_api="blas")
        return [_ThreadCount(lib) for lib in controller.lib_controllers]

    def acquire(self):
        """Limit BLAS to one thread (if no one else already does)."""
        with self._lock:
            if self._users == 0:
                self._original = [(lib, lib.get()) for lib in self._libraries]
            for lib in self._libraries:
                if self._users == 0 or lib.get() != 1:
                    lib.set(1)
            self._users += 1

    def release(self):
        """Drop one use; the last restores BLAS's original thread counts."""
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for lib, n_threads in self._original:
                    lib.set(n_threads)
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
