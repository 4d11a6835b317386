"""Fits and predictions in the user's threads (issue 24).

Any number of fits and predictions at once, from any threads (a
ThreadPoolExecutor, joblib's threading backend, plain threads, GridSearchCV)
give the bits of a serial run, run BLAS single-threaded (so their results
cannot depend on how many run at once), and leave every BLAS thread count as
it was. BLAS's thread count is process-wide: where a test needs a process no
other test has touched (which thread first set a count matters to
threadpoolctl), it runs in a subprocess. Identities and counts only, never
timings.
"""

import json
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_backend
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info, threadpool_limits

from skmlp import BackpropMLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Products of 600 x 40 by 40 x 25 are large enough that OpenBLAS splits them
# between two threads when it may (then its results differ in the last bits),
# and a fit takes some 30 ms.
N_SAMPLES, N_FEATURES = 600, 40


def data(n_samples=N_SAMPLES):
    return make_classification(
        n_samples, N_FEATURES, n_informative=10, n_classes=3, random_state=0
    )


def blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


class BlasCounts:
    """A fit callback: the BLAS thread counts at the end of each iteration.

    The last iteration's end is reported after the fit released BLAS:
    :meth:`during` leaves it out.
    """

    def __init__(self):
        self.seen = []

    def during(self):
        return set(self.seen[:-1])

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name == "iteration":
            self.seen.append(tuple(blas_threads()))
        return False


def fit(seed, X, y, max_iter=30, callbacks=None):
    clf = BackpropMLPClassifier((25,), max_iter=max_iter, tol=0, random_state=seed)
    if callbacks is not None:
        clf.set_callbacks(callbacks)
    return clf.fit(X, y)


def assert_same_fit(got, expected):
    for a, b in zip(got.coefs_ + got.intercepts_, expected.coefs_ + expected.intercepts_):
        assert_array_equal(a, b)
    assert got.loss_curve_ == expected.loss_curve_


def run_fresh(code):
    """Run `code` in a fresh Python process; the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a fresh interpreter
def test_overlapping_pool_fits_in_a_fresh_process_restore_blas():
    # The first reproducer of issue 24: a fit in one pool thread begins
    # while one in another runs, and ends after it. BLAS was left at one
    # thread for good (threadpoolctl ignored every thread's write but the
    # first's), and the user's own threadpool_limits in the main thread then
    # did nothing either. The order is forced: the small fit begins, waits
    # for the big one to begin, and ends while the big one waits for it.
    got = run_fresh(
        """
        import json, threading, warnings
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np
        from sklearn.datasets import make_classification
        from sklearn.exceptions import ConvergenceWarning
        from threadpoolctl import threadpool_info, threadpool_limits
        from skmlp import BackpropMLPClassifier

        warnings.simplefilter("ignore", ConvergenceWarning)
        X, y = make_classification(600, 40, n_informative=10, n_classes=3, random_state=0)

        def counts():
            return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

        class Steps:  # at the end of iteration k: signal[k].set(), then wait[k].wait()
            def __init__(self, signal=(), wait=()):
                self.signal, self.wait, self.seen = dict(signal), dict(wait), []
            def setup(self, estimator, context): pass
            def teardown(self, estimator, context): pass
            def on_fit_task_begin(self, estimator, context): pass
            def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
                if context.task_name == "iteration":
                    self.seen.append(counts())
                    k = len(self.seen)
                    if k in self.signal:
                        self.signal[k].set()
                    if k in self.wait:
                        assert self.wait[k].wait(60)
                return False

        def fit(seed, max_iter, callback=None):
            clf = BackpropMLPClassifier((25,), max_iter=max_iter, tol=0, random_state=seed)
            if callback is not None:
                clf.set_callbacks(callback)
            return clf.fit(X, y)

        before = counts()
        small_began, big_began, small_ended = (threading.Event() for _ in range(3))
        small = Steps(signal={1: small_began}, wait={1: big_began})
        big = Steps(signal={1: big_began}, wait={2: small_ended})
        pool = ThreadPoolExecutor(2)
        a = pool.submit(fit, 0, 10, small)
        small_began.wait(60)
        b = pool.submit(fit, 1, 30, big)
        a = a.result()
        small_ended.set()
        b = b.result()
        after = counts()
        with threadpool_limits(1, user_api="blas"):
            user_limit = counts()
        serial = [fit(0, 10), fit(1, 30)]
        same = all(
            np.array_equal(p, q)
            for got, ref in zip([a, b], serial)
            for p, q in zip(got.coefs_ + got.intercepts_, ref.coefs_ + ref.intercepts_)
        )
        # The last iteration's end is reported after the fit released BLAS.
        seen = sorted(set(tuple(c) for c in small.seen[:-1] + big.seen[:-1]))
        print(json.dumps({
            "before": before, "after": after, "user_limit": user_limit,
            "seen": seen, "same": same,
        }))
        """
    )
    n = len(got["before"])
    assert got["after"] == got["before"]
    assert got["seen"] == [[1] * n]
    assert got["user_limit"] == [1] * n
    assert got["same"]


def test_eight_concurrent_fits_in_a_pool_equal_serial_fits():
    X, y = data()
    before = blas_threads()
    serial = [fit(seed, X, y) for seed in range(8)]
    counts = [BlasCounts() for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(fit, seed, X, y, 30, counts[seed]) for seed in range(8)]
        concurrent = [f.result() for f in futures]
    assert blas_threads() == before
    assert set().union(*(c.during() for c in counts)) == {(1,) * len(before)}
    for got, expected in zip(concurrent, serial):
        assert_same_fit(got, expected)


def test_joblib_threading_backend_fits_equal_serial_fits():
    X, y = data()
    before = blas_threads()
    serial = [fit(seed, X, y) for seed in range(4)]
    with parallel_backend("threading", n_jobs=4):
        concurrent = Parallel()(delayed(fit)(seed, X, y) for seed in range(4))
    assert blas_threads() == before
    for got, expected in zip(concurrent, serial):
        assert_same_fit(got, expected)


def test_fit_in_a_plain_thread_after_one_in_the_main_thread():
    X, y = data()
    before = blas_threads()
    expected = fit(0, X, y)
    counts = BlasCounts()
    out = []
    thread = threading.Thread(target=lambda: out.append(fit(0, X, y, 30, counts)))
    thread.start()
    thread.join()
    assert blas_threads() == before
    assert counts.during() == {(1,) * len(before)}
    assert_same_fit(out[0], expected)


def test_concurrent_fits_in_pool_threads_inside_the_users_limit():
    # The user's threadpool_limits(3) in the main thread holds around the
    # fits, and is left as it was by them; the fits still run BLAS on one
    # thread.
    X, y = data()
    before = blas_threads()
    serial = [fit(seed, X, y) for seed in range(4)]
    with threadpool_limits(3, user_api="blas"):
        with ThreadPoolExecutor(4) as pool:
            concurrent = list(pool.map(lambda seed: fit(seed, X, y), range(4)))
        assert blas_threads() == [3] * len(before)
    assert blas_threads() == before
    for got, expected in zip(concurrent, serial):
        assert_same_fit(got, expected)


def test_predict_proba_in_pool_threads_equals_the_main_threads():
    X, y = data()
    clf = fit(0, X, y)
    before = blas_threads()
    blocks = [np.random.default_rng(i).standard_normal((2000, N_FEATURES)) for i in range(4)]
    expected = [clf.predict_proba(block) for block in blocks]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(clf.predict_proba, blocks * 3))
    assert blas_threads() == before
    for i, proba in enumerate(got):
        assert_array_equal(proba, expected[i % len(blocks)])


def test_grid_search_with_the_threading_backend_equals_the_serial_one():
    X, y = data(2 * N_SAMPLES)  # each fold trains on N_SAMPLES rows
    before = blas_threads()
    grid = {"alpha": [0.1, 1.0], "hidden_layer_sizes": [(25,), (30,)]}
    est = BackpropMLPClassifier(max_iter=20, tol=0, random_state=0)

    def search(n_jobs):
        return GridSearchCV(est, grid, cv=2, scoring="neg_log_loss", n_jobs=n_jobs).fit(X, y)

    serial = search(1)
    with parallel_backend("threading"):
        threaded = search(2)
    assert blas_threads() == before
    for split in ("split0_test_score", "split1_test_score"):
        assert_array_equal(threaded.cv_results_[split], serial.cv_results_[split])
    assert_same_fit(threaded.best_estimator_, serial.best_estimator_)
