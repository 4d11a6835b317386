"""Threads: fits in the user's threads, and the adaptive thread schedule.

Usage::

    python benchmarks/bench_threads.py [--sections pool,schedule,transitions]
                                       [--repeats 5] [--n-fits 8] [--shapes 5000x400,...]

Section "pool", issue 24: fits and predictions from the user's threads (a
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

Section "schedule", issue 22: for each shape of bench_matrix.py (but the
60000-row one) and 2000x200-64-10, in float64 and float32, the time of
`N_EVALUATIONS` evaluations (``objective.loss_and_grad``, bench_matrix's
data, default chunks) on a new objective with 1 thread, with 2 threads and
with the adaptive schedule (``n_threads=None``), interleaved over the
repeats (the big shape: at most `BIG_REPEATS`), each after a rest of `SETTLE`
seconds; medians, how many of the adaptive run's evaluations ran threaded,
and the ratio of the adaptive time to the better fixed one. The last
evaluation's loss and gradient are checked to be bit-identical every way.

Section "transitions": why the threaded evaluations right after the
calling thread ran alone can be slow. Two threads, forced: the median wall
and CPU time of the 1st, 2nd, ... threaded evaluation after 3 evaluations
on the calling thread alone, after the calling thread spun for as long (the
second core idle, no data touched) and after it slept for as long (both
idle), against threaded evaluations in a row.

The AVX2 code paths on an AVX-512 machine (numpy's and OpenBLAS's)::

    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" OPENBLAS_CORETYPE=Haswell \
        python benchmarks/bench_threads.py --sections schedule
"""

import argparse
import os
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _machine import cpu_model_and_flags, load, machine_description
from bench_matrix import SHAPES, Shape, make_data
from numpy._core._multiarray_umath import __cpu_features__
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from threadpoolctl import threadpool_info

from skmlp import BackpropMLPClassifier
from skmlp._executor import Clock
from skmlp._layout import Layout
from skmlp._problem import make_objective

N_SAMPLES, N_FEATURES, N_CLASSES, N_HIDDEN, MAX_ITER = 5000, 200, 10, 25, 50
N_PREDICT = 20_000
# Rest before each measurement: OpenBLAS's workers spin for a while after a
# threaded product (as in bench_fit.py).
SETTLE = 0.3

# The schedule section.
N_EVALUATIONS = 100
BIG_REPEATS = 3  # interleaved repeats of shapes of a million rows x features or more
SCHEDULE_SHAPES = [shape for shape in SHAPES if shape.n_samples <= 20_000] + [
    Shape("2000x200", "2000x200-64-10", 2000, 200, (64,), 10, "logistic", "logistic", 0, 0)
]
WAYS = {"1 thread": 1, "2 threads": 2, "adaptive": None}
# The transitions section: threaded evaluations timed after each interlude.
TRANSITION_SHAPES = ("5000x400", "2000x200")
TRANSITION_AFTER = 6


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


def dispatch():
    """numpy's x86 dispatch targets as they run, and the variable that can switch them off."""
    targets = ("X86_V3", "X86_V4", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR")
    state = " ".join(
        f"{name} {'on' if __cpu_features__[name] else 'off'}"
        for name in targets
        if name in __cpu_features__
    )
    disabled = os.environ.get("NPY_DISABLE_CPU_FEATURES", "unset")
    return f"- numpy dispatch targets: {state} (NPY_DISABLE_CPU_FEATURES {disabled})"


def problem(shape, dtype):
    """bench_matrix's data of `shape` in `dtype`, its layout, and the initial parameters."""
    X, y = make_data(shape)[:2]
    layout = Layout((X.shape[1], *shape.hidden, shape.n_classes))
    Y = LabelBinarizer().fit_transform(y).astype(float)
    return layout, X.astype(dtype), Y, layout.init(np.random.RandomState(0))


def objective(shape, layout, X, Y, **params):
    return make_objective(
        layout, X, Y, activation=shape.activation, out_activation=shape.out_activation, **params
    )


def evaluation_loop(shape, layout, X, Y, theta, n_threads):
    """Seconds of N_EVALUATIONS evaluations on a new objective; threaded ones; the last result."""
    with objective(shape, layout, X, Y, n_threads=n_threads) as J:
        time.sleep(SETTLE)
        start = time.perf_counter()
        for _ in range(N_EVALUATIONS):
            result = J.loss_and_grad(theta)
        seconds = time.perf_counter() - start
        return seconds, J.executor.n_threaded, J.executor.chunk_set.n_chunks, result


def schedule_section(shapes, repeats):
    print(f"\n### {N_EVALUATIONS} evaluations: 1 thread, 2 threads, the adaptive schedule\n")
    print(f"medians of {repeats} interleaved repeats ({BIG_REPEATS} for the big shape), ")
    print(f"a new objective and a {SETTLE} s rest before each\n")
    print("| shape | dtype | chunks | 1 thread s | 2 threads s | adaptive s | threaded | "
          "adaptive / best fixed | same bits |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        for dtype in (np.float64, np.float32):
            layout, X, Y, theta = problem(shape, dtype)
            big = X.shape[0] * X.shape[1] >= 10**7
            times = {way: [] for way in WAYS}
            threaded, results = [], {}
            for _ in range(min(repeats, BIG_REPEATS) if big else repeats):
                for way, n_threads in WAYS.items():
                    seconds, n_threaded, n_chunks, results[way] = evaluation_loop(
                        shape, layout, X, Y, theta, n_threads
                    )
                    times[way].append(seconds)
                    if n_threads is None:
                        threaded.append(n_threaded)
            loss, grad = results["1 thread"]
            same = all(r[0] == loss and np.array_equal(r[1], grad) for r in results.values())
            med = {way: statistics.median(t) for way, t in times.items()}
            best = min(med["1 thread"], med["2 threads"])
            print(
                f"| {shape.name} | {np.dtype(dtype).name} | {n_chunks} | "
                f"{med['1 thread']:.3f} | {med['2 threads']:.3f} | {med['adaptive']:.3f} | "
                f"{statistics.median(threaded):.0f}/{N_EVALUATIONS} | "
                f"{med['adaptive'] / best:.3f} | {same} |",
                flush=True,
            )
    print(f"\n- load average at the end: {load()}")


class Forced:
    """A schedule that goes the way it is told, and keeps the times."""

    def __init__(self):
        self.clock, self.way, self.times = Clock(), True, []

    def threaded(self):
        return self.way

    def record(self, threaded, seconds, cpu_seconds):
        self.times.append((seconds, cpu_seconds))


def timed_run(J, theta, schedule, way, n):
    schedule.way, schedule.times = way, []
    for _ in range(n):
        J.loss_and_grad(theta)
    return schedule.times


def transitions(shape, dtype, repeats):
    """Median wall and CPU ms of the k-th threaded evaluation after each interlude."""
    layout, X, Y, theta = problem(shape, dtype)
    after = {"in a row": [], "alone": [], "spin": [], "sleep": []}
    schedule = Forced()
    with objective(shape, layout, X, Y, n_threads=2, schedule=schedule) as J:
        timed_run(J, theta, schedule, True, 10)
        for _ in range(4 * repeats):
            for interlude, samples in after.items():
                timed_run(J, theta, schedule, True, 8)
                if interlude == "alone":
                    pause = sum(wall for wall, _ in timed_run(J, theta, schedule, False, 3))
                elif interlude == "spin":
                    start = time.perf_counter()
                    while time.perf_counter() - start < pause:
                        pass
                elif interlude == "sleep":
                    time.sleep(pause)
                samples.append(timed_run(J, theta, schedule, True, TRANSITION_AFTER))
    return {
        interlude: [tuple(1e3 * statistics.median(x) for x in zip(*col)) for col in zip(*runs)]
        for interlude, runs in after.items()
    }


def transitions_section(shapes, repeats):
    print("\n### Threaded evaluations after the calling thread ran alone, spun or slept\n")
    print(
        f"median wall / CPU ms (both threads' CPU time) of the k-th threaded evaluation "
        f"after each, {4 * repeats} times: a wake-up shows in the wall time alone, "
        f"cold caches in the CPU time too\n"
    )
    header = " | ".join(f"k={k + 1}" for k in range(TRANSITION_AFTER))
    print(f"| shape | dtype | after | {header} |")
    print("|---|---|---|" + "---|" * TRANSITION_AFTER)
    for shape in shapes:
        if shape.key not in TRANSITION_SHAPES:
            continue
        for dtype in (np.float64, np.float32):
            for interlude, ms in transitions(shape, dtype, repeats).items():
                cells = " | ".join(f"{wall:.2f} / {cpu:.2f}" for wall, cpu in ms)
                print(f"| {shape.name} | {np.dtype(dtype).name} | {interlude} | {cells} |")
    print(f"\n- load average at the end: {load()}")


def pool_section(args):
    n_fits = args.n_fits
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="pool,schedule")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-fits", type=int, default=8)
    parser.add_argument("--shapes", default=",".join(s.key for s in SCHEDULE_SHAPES))
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    sections = args.sections.split(",")
    shapes = [shape for shape in SCHEDULE_SHAPES if shape.key in args.shapes.split(",")]

    print("## bench_threads\n")
    print("\n".join(machine_description()))
    print(dispatch())
    if "pool" in sections:
        pool_section(args)
    if "schedule" in sections:
        schedule_section(shapes, args.repeats)
    if "transitions" in sections:
        transitions_section(shapes, args.repeats)


if __name__ == "__main__":
    main()
