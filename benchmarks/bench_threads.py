"""Fits and predictions in the user's threads against the same run one after another.

Usage::

    python benchmarks/bench_threads.py [--repeats 5] [--n-fits 8]

Issue 24: fits and predictions from the user's threads (a
ThreadPoolExecutor here) must give a serial run's bits, leave BLAS's thread
counts as they were, and take no longer in total than the serial run.

Fits: `n_fits` fits (5000 x 200 rows, 10 classes, a 200-25-10 network, 50
L-BFGS iterations, tol=0 so that each does a fixed amount of work, seeds
0..n_fits-1, ``n_jobs=None``) one after another in the main thread, and
all at once in a ThreadPoolExecutor of `n_fits` threads; the two are
interleaved within each repeat, and the table gives the medians of the
total times and their ratio. Predictions: predict_proba of 20,000 rows by
one of those models, one call in the main thread against one call in a pool
thread, and four calls one after another in the main thread against four at
once in four pool threads. Each measurement starts after a rest of `SETTLE`
seconds. The models and probabilities of the threaded runs are checked to
be bit-identical to the serial ones, and BLAS's counts to be as before.
"""

import argparse
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _machine import cpu_model_and_flags, load, machine_description
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

from skmlp import BackpropMLPClassifier

N_SAMPLES, N_FEATURES, N_CLASSES, N_HIDDEN, MAX_ITER = 5000, 200, 10, 25, 50
N_PREDICT = 20_000
# Rest before each measurement: OpenBLAS's workers spin for a while after a
# threaded product (as in bench_fit.py).
SETTLE = 0.3


def blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def fit(seed, X, y):
    clf = BackpropMLPClassifier((N_HIDDEN,), max_iter=MAX_ITER, tol=0, random_state=seed)
    return clf.fit(X, y)


def params(clf):
    return [*clf.coefs_, *clf.intercepts_]


def timed(fn):
    time.sleep(SETTLE)
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-fits", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    n_fits = args.n_fits

    print("## bench_threads\n")
    print("\n".join(machine_description()))
    model, _ = cpu_model_and_flags()
    X, y = make_classification(
        N_SAMPLES, N_FEATURES, n_informative=20, n_classes=N_CLASSES, random_state=0
    )
    X_predict = np.random.default_rng(1).standard_normal((N_PREDICT, N_FEATURES))
    before = blas_threads()
    seeds = range(n_fits)

    def serial_fits():
        return [fit(seed, X, y) for seed in seeds]

    def pool_fits():
        with ThreadPoolExecutor(n_fits) as pool:
            return list(pool.map(lambda seed: fit(seed, X, y), seeds))

    reference = serial_fits()  # warm-up, and the bits the others must give
    clf = reference[0]
    proba = clf.predict_proba(X_predict)
    pool1, pool4 = ThreadPoolExecutor(1), ThreadPoolExecutor(4)

    def main_one():
        return [clf.predict_proba(X_predict)]

    def pool_one():
        return [pool1.submit(clf.predict_proba, X_predict).result()]

    def main_four():
        return [clf.predict_proba(X_predict) for _ in range(4)]

    def pool_four():
        return list(pool4.map(clf.predict_proba, [X_predict] * 4))

    fits = {"serial": serial_fits, "pool": pool_fits}
    predictions = {
        "main 1": main_one,
        "pool 1": pool_one,
        "main 4": main_four,
        "pool 4": pool_four,
    }
    times = {name: [] for name in (*fits, *predictions)}
    identical, counts_kept = True, True
    for _ in range(args.repeats):
        for name, run in fits.items():
            seconds, models = timed(run)
            times[name].append(seconds)
            identical &= all(
                np.array_equal(a, b)
                for got, ref in zip(models, reference)
                for a, b in zip(params(got), params(ref))
            )
            counts_kept &= blas_threads() == before
        for name, run in predictions.items():
            seconds, probas = timed(run)
            times[name].append(seconds)
            identical &= all(np.array_equal(p, proba) for p in probas)
            counts_kept &= blas_threads() == before
    pool1.shutdown()
    pool4.shutdown()
    med = {name: statistics.median(t) for name, t in times.items()}

    print(
        f"\n### {n_fits} fits of {N_SAMPLES}x{N_FEATURES}, "
        f"{N_FEATURES}-{N_HIDDEN}-{N_CLASSES}, {MAX_ITER} iterations; "
        f"predict_proba of {N_PREDICT} rows ({model})\n"
    )
    print(f"medians of {args.repeats} interleaved repeats, {SETTLE} s rest before each\n")
    print("| what | serial (main thread) | in pool threads | pool / serial |")
    print("|---|---|---|---|")
    print(
        f"| {n_fits} fits, total s | {med['serial']:.3f} | {med['pool']:.3f} | "
        f"{med['pool'] / med['serial']:.2f} |"
    )
    print(
        f"| predict_proba, 1 call, ms | {1e3 * med['main 1']:.1f} | {1e3 * med['pool 1']:.1f} | "
        f"{med['pool 1'] / med['main 1']:.2f} |"
    )
    print(
        f"| predict_proba, 4 calls, total ms | {1e3 * med['main 4']:.1f} | "
        f"{1e3 * med['pool 4']:.1f} | {med['pool 4'] / med['main 4']:.2f} |"
    )
    print()
    print(f"- threaded results bit-identical to the serial ones: {identical}")
    print(f"- BLAS thread counts as before ({before}) after every run: {counts_kept}")
    print(f"- load average at the end: {load()}")


if __name__ == "__main__":
    main()
