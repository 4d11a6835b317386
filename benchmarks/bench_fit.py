"""Fit time of skmlp next to MLPClassifier(solver="lbfgs"), and the BLAS floor.

Usage::

    python benchmarks/bench_fit.py [--repeats 5] [--quick]

Two problems: ``make_classification`` (5000 training rows, 400 features, 10
classes, network 400-25-10) and the standardized digits (64-25-10). Every
method starts from the same initial weights (skmlp's draw, copied into
MLPClassifier through its warm start) and runs 100 L-BFGS iterations (`tol`
tiny so that none stops early), alpha=1, logistic hidden units:

(a) MLPClassifier, BLAS with its default number of threads;
(b) MLPClassifier under ``threadpool_limits(1)``;
(c) skmlp float64 and (d) skmlp float32, both with ``out_activation="softmax"``:
    the same J as MLPClassifier (multinomial cross-entropy + alpha/(2n)
    ||W||^2), so the final losses are comparable;
then skmlp with its default output (one sigmoid per class, the course's J),
and skmlp float64 unchunked (``batch_size=n``) as the reference loss for the
chunked evaluation.

The floor is the time of the two products a fit cannot avoid, ``X @ W1`` and
``X.T @ D1``, at their best BLAS thread count (1 or all CPUs); the ratio
column uses it as written (the "oriented" floor, the same products in the
faster orientation the engine uses, is printed next to it). "fit ms/eval"
is the fit time divided by the number of objective evaluations (it includes
validation and the optimizer's own work); "objective ms/eval" the time spent
inside the objective (loss and gradient) per evaluation, which is what the
floor bounds (the float64 floor for MLPClassifier and skmlp float64, the
float32 floor for skmlp float32). Each row's time is the median over `--repeats`
fits; the methods are interleaved within each repeat so that a noisy
neighbour slows them alike; so are the floor's samples, and each fit and
block of floor samples starts after a rest of `SETTLE` seconds (OpenBLAS
workers spin after a threaded product and would slow whatever follows it).
"threaded evals" counts the evaluations that used the worker threads (skmlp
uses them only while they are faster than the calling thread alone). Peak
memory is
tracemalloc's peak during one extra fit (numpy buffers and Python objects;
not BLAS-internal buffers).
"canonical rows" is the cost of making the training rows canonical (merging
identical rows, sorting them by content: skmlp/_rows.py), timed on its own
between the fits and set against the median fit time, which includes it.
"duplicated rows" fits one-hot coded data in which every distinct row occurs
many times, with the canonical rows (the default) and with the rows kept as
given (the behaviour above the size limit), for the same 100 iterations.
Only numpy, scipy, scikit-learn, threadpoolctl and the standard library.
"""

import argparse
import os
import statistics
import time
import tracemalloc
import warnings

import numpy as np
from _machine import machine_description
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from threadpoolctl import threadpool_limits

from skmlp import BackpropMLPClassifier, _rows
from skmlp._layout import Layout
from skmlp._objective import Objective
from skmlp._problem import make_objective
from skmlp._rows import canonical_rows

TOL = 1e-12  # nobody stops before max_iter
# Seconds of rest before each timed fit and each block of floor samples.
# OpenBLAS's workers spin for a while after a multi-threaded product (here
# ~0.1 s) and would take a core from whatever is timed next: each
# measurement starts from an idle machine, whatever ran before it.
SETTLE = 0.3


def problems(quick):
    """(name, X_train, X_test, y_train, y_test, hidden) for each benchmark problem."""
    X, y = make_classification(
        n_samples=6000,
        n_features=400,
        n_informative=40,
        n_classes=10,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1000, random_state=0)
    yield "classification 5000x400, 400-25-10", X_train, X_test, y_train, y_test, (25,)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    yield "digits 1347x64 (standardized), 64-25-10", X_train, X_test, y_train, y_test, (25,)


class MLPMethod:
    """MLPClassifier from given initial weights, counting its evaluations."""

    def __init__(self, label, coefs, intercepts, max_iter, one_thread):
        self.label, self.one_thread = label, one_thread
        self.coefs, self.intercepts, self.max_iter = coefs, intercepts, max_iter

    def fit(self, X, y):
        hidden = tuple(c.shape[1] for c in self.coefs[:-1])
        mlp = MLPClassifier(
            hidden,
            activation="logistic",
            solver="lbfgs",
            alpha=1.0,
            max_iter=1,
            tol=TOL,
            max_fun=10**6,
            random_state=0,
            warm_start=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X[:50], y[:50])  # sets up the label binarizer; weights replaced next
            mlp.coefs_ = [c.copy() for c in self.coefs]
            mlp.intercepts_ = [b.copy() for b in self.intercepts]
            mlp.max_iter = self.max_iter
            n_fun, inside = [0], [0.0]
            loss_grad = mlp._loss_grad_lbfgs

            def counting(*args, **kwargs):
                start = time.perf_counter()
                result = loss_grad(*args, **kwargs)
                inside[0] += time.perf_counter() - start
                n_fun[0] += 1
                return result

            mlp._loss_grad_lbfgs = counting
            limits = threadpool_limits(1) if self.one_thread else threadpool_limits(None)
            with limits:
                start = time.perf_counter()
                mlp.fit(X, y)
                seconds = time.perf_counter() - start
        return seconds, inside[0], mlp.n_iter_, n_fun[0], float(mlp.loss_), mlp


class SkmlpMethod:
    """BackpropMLPClassifier from the same initial weights."""

    def __init__(
        self, label, coefs, intercepts, max_iter, dtype, out_activation, batch_size, round_to=None
    ):
        self.label, self.dtype, self.round_to = label, dtype, round_to
        self.thetas = Layout([coefs[0].shape[0], *(c.shape[1] for c in coefs)]).to_thetas(
            np.concatenate([c.ravel() for c in coefs] + list(intercepts))
        )
        self.params = {
            "out_activation": out_activation,
            "alpha": 1.0,
            "max_iter": max_iter,
            "tol": TOL,
            "max_fun": 10**6,
            "batch_size": batch_size,
            "warm_start": True,
        }

    def fit(self, X, y):
        if self.round_to is not None:  # the data as a lower precision stores them
            X = X.astype(self.round_to)
        X = X.astype(self.dtype)
        params = dict(self.params)
        if params["batch_size"] == "n":  # one chunk: the unchunked reference
            params["batch_size"] = X.shape[0]
        clf = BackpropMLPClassifier.from_thetas(self.thetas, np.unique(y), **params)
        inside, used = [0.0], []
        loss_and_grad = Objective.loss_and_grad

        def timed(objective, theta):
            start = time.perf_counter()
            result = loss_and_grad(objective, theta)
            inside[0] += time.perf_counter() - start
            used[:] = [objective]
            return result

        Objective.loss_and_grad = timed
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                clf.fit(X, y)
                seconds = time.perf_counter() - start
        finally:
            Objective.loss_and_grad = loss_and_grad
        clf.threaded_ = f"{used[0].executor.n_threaded}/{used[0].n_evaluations}"
        return seconds, inside[0], clf.n_iter_, clf.n_fun_, float(clf.loss_), clf


def floor_times(X, W1, times, n_products=10):
    """Append seconds of ``X @ W1`` plus ``X.T @ D1`` to ``times[(way, n_threads)]``.

    way "plain" is the products as written; "oriented" the same products in
    the orientation skmlp's engine uses, ``(W1^T X^T)^T`` in float64 and
    ``(D1^T X)^T``, which OpenBLAS runs faster here (same sums, other loops).
    """
    rng = np.random.default_rng(0)
    D1 = rng.normal(size=(X.shape[0], W1.shape[1])).astype(X.dtype) / X.shape[0]
    Z = np.empty((X.shape[0], W1.shape[1]), X.dtype)
    Z_t = np.empty((W1.shape[1], X.shape[0]), X.dtype)
    G = np.empty_like(W1)
    G_t = np.empty(W1.shape[::-1], X.dtype)

    def plain():
        np.matmul(X, W1, out=Z)
        np.matmul(X.T, D1, out=G)

    def oriented():
        if X.dtype == np.float64:
            np.matmul(W1.T, X.T, out=Z_t)
        else:
            np.matmul(X, W1, out=Z)
        np.matmul(D1.T, X, out=G_t)

    for n_threads in sorted({1, len(os.sched_getaffinity(0))}):
        with threadpool_limits(n_threads, "blas"):
            for _ in range(n_products):
                for way, products in (("plain", plain), ("oriented", oriented)):
                    start = time.perf_counter()
                    products()
                    times.setdefault((way, n_threads), []).append(time.perf_counter() - start)


def best_floor(times, way="plain"):
    """(median ms, n_threads) at the best thread count."""
    medians = {n: 1e3 * statistics.median(t) for (w, n), t in times.items() if w == way}
    n_threads = min(medians, key=medians.get)
    return medians[n_threads], n_threads


def peak_memory_mb(method, X, y):
    tracemalloc.start()
    try:
        method.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def run(name, X_train, X_test, y_train, y_test, hidden, repeats, max_iter):
    n_classes = len(np.unique(y_train))
    layout = Layout((X_train.shape[1], *hidden, n_classes))
    theta0 = layout.init(np.random.RandomState(0))
    coefs = [c.copy() for c in layout.coefs(theta0)]
    intercepts = [b.copy() for b in layout.intercepts(theta0)]
    methods = [
        MLPMethod("(a) MLPClassifier, default BLAS threads", coefs, intercepts, max_iter, False),
        MLPMethod("(b) MLPClassifier, threadpool_limits(1)", coefs, intercepts, max_iter, True),
        SkmlpMethod(
            "(c) skmlp float64, softmax", coefs, intercepts, max_iter, np.float64, "softmax", None
        ),
        SkmlpMethod(
            "(d) skmlp float32, softmax", coefs, intercepts, max_iter, np.float32, "softmax", None
        ),
        SkmlpMethod(
            "skmlp float64, softmax, unchunked",
            coefs,
            intercepts,
            max_iter,
            np.float64,
            "softmax",
            "n",
        ),
        SkmlpMethod(
            "skmlp float64, default (logistic outputs)",
            coefs,
            intercepts,
            max_iter,
            np.float64,
            "logistic",
            None,
        ),
        SkmlpMethod(
            "skmlp float32, default (logistic outputs)",
            coefs,
            intercepts,
            max_iter,
            np.float32,
            "logistic",
            None,
        ),
    ]
    times = {m.label: [] for m in methods}
    inside = {m.label: [] for m in methods}
    results = {}
    floor_data = {
        dtype: (np.ascontiguousarray(X_train, dtype=dtype), coefs[0].astype(dtype))
        for dtype in (np.float64, np.float32)
    }
    floor_runs = {dtype: {} for dtype in floor_data}
    Y_train = LabelBinarizer().fit_transform(y_train)
    canonical_seconds = {dtype: [] for dtype in floor_data}
    load_before = os.getloadavg()[0]
    for m in methods:  # warm-up: imports, BLAS threads, page faults
        m.fit(X_train, y_train)
    for _ in range(repeats):
        for m in methods:
            time.sleep(SETTLE)
            seconds, seconds_inside, n_iter, n_fun, loss, model = m.fit(X_train, y_train)
            times[m.label].append(seconds)
            inside[m.label].append(seconds_inside)
            results[m.label] = (n_iter, n_fun, loss, model)
            # floor samples spread over the run, under the same load as the fits
            time.sleep(SETTLE)
            for dtype, (X_floor, W1) in floor_data.items():
                floor_times(X_floor, W1, floor_runs[dtype], n_products=3)
                time.sleep(SETTLE)  # not next to BLAS's spinning workers
                start = time.perf_counter()
                canonical_rows(X_floor, Y_train)
                canonical_seconds[dtype].append(time.perf_counter() - start)
    floors = {dtype: best_floor(t) for dtype, t in floor_runs.items()}
    oriented = {dtype: best_floor(t, "oriented") for dtype, t in floor_runs.items()}

    print(f"\n### {name}\n")
    print(
        f"{max_iter} L-BFGS iterations, median of {repeats} fits; 1-minute load "
        f"average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after.\n"
    )
    for dtype, (ms, n_threads) in floors.items():
        ms_oriented, n_oriented = oriented[dtype]
        print(
            f"- floor {np.dtype(dtype).name}: X @ W1 + X.T @ D1 = {ms:.2f} ms "
            f"(best at {n_threads} BLAS thread{'s' if n_threads > 1 else ''}); "
            f"oriented as the engine does them: {ms_oriented:.2f} ms "
            f"({n_oriented} thread{'s' if n_oriented > 1 else ''})"
        )
    print()
    print(
        "| method | fit s | iters | evals | fit ms/eval | objective ms/eval "
        "| objective / floor | threaded evals | final loss | held-out acc | peak MB "
        "| time (a)/x | time (b)/x |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    median = {label: statistics.median(t) for label, t in times.items()}
    ref_a, ref_b = median[methods[0].label], median[methods[1].label]
    for m in methods:
        n_iter, n_fun, loss, model = results[m.label]
        X_test_m = X_test.astype(getattr(m, "dtype", np.float64))
        accuracy = model.score(X_test_m, y_test)
        ms_eval = 1e3 * median[m.label] / n_fun
        ms_objective = 1e3 * statistics.median(inside[m.label]) / n_fun
        dtype = getattr(m, "dtype", np.float64)
        vs_floor = ms_objective / floors[dtype][0]
        peak = peak_memory_mb(m, X_train, y_train)
        print(
            f"| {m.label} | {median[m.label]:.3f} | {n_iter} | {n_fun} | {ms_eval:.2f} | "
            f"{ms_objective:.2f} | {vs_floor:.2f} | {getattr(model, 'threaded_', '-')} | "
            f"{loss:.10f} | {100 * accuracy:.2f}% | "
            f"{peak:.1f} | "
            f"{ref_a / median[m.label]:.2f} | {ref_b / median[m.label]:.2f} |"
        )
    print()
    print("| canonical rows | ms | share of the fit |")
    print("|---|---|---|")
    for dtype, m in zip(floor_data, methods[2:4]):  # (c) float64, (d) float32
        ms = 1e3 * statistics.median(canonical_seconds[dtype])
        print(
            f"| {np.dtype(dtype).name} {X_train.shape[0]}x{X_train.shape[1]} | {ms:.2f} "
            f"| {ms / (10 * median[m.label]):.2f}% of {m.label.split(')')[0]}) |"
        )
    loss = {label: r[2] for label, r in results.items()}
    c, d = methods[2].label, methods[3].label
    unchunked = methods[4].label
    at_start = {}
    Y = LabelBinarizer().fit_transform(y_train)
    for dtype in (np.float64, np.float32):
        with make_objective(
            layout, X_train.astype(dtype), Y, out_activation="softmax"
        ) as objective:
            at_start[dtype] = objective.loss_and_grad(theta0)
    (loss64, grad64), (loss32, grad32) = at_start[np.float64], at_start[np.float32]
    print()
    print(
        f"- float32 vs float64 objective at the initial weights: loss relative "
        f"difference {abs(loss32 - loss64) / loss64:.1e}, gradient "
        f"{np.linalg.norm(grad32 - grad64) / np.linalg.norm(grad64):.1e} (norm-relative)"
    )
    print(
        f"- chunked vs unchunked float64 final loss: relative difference "
        f"{abs(loss[c] - loss[unchunked]) / loss[unchunked]:.1e}"
    )
    rounded = SkmlpMethod(
        "", coefs, intercepts, max_iter, np.float64, "softmax", None, round_to=np.float32
    ).fit(X_train, y_train)[4]
    print(
        f"- float32 vs float64 final loss: relative difference "
        f"{abs(loss[d] - loss[c]) / loss[c]:.1e}; float64 on the data rounded to "
        f"float32 (what the float32 path receives) vs float64: "
        f"{abs(rounded - loss[c]) / loss[c]:.1e} (the fit's sensitivity to a "
        "perturbation of the data)"
    )
    print(
        f"- MLPClassifier vs skmlp float64 final loss: relative difference "
        f"{abs(loss[methods[1].label] - loss[c]) / loss[c]:.1e}"
    )


def duplicated_rows(repeats, max_iter, n_rows=20000, n_distinct=400):
    """Fit time with canonical rows vs the rows as given, on repeated one-hot rows."""
    rng = np.random.RandomState(0)
    codes = rng.randint(0, 5, size=(n_distinct, 8))  # 8 categorical features, 5 levels
    X_distinct = np.zeros((n_distinct, 40))
    X_distinct[np.arange(n_distinct)[:, None], 5 * np.arange(8) + codes] = 1.0
    y_distinct = (codes[:, 0] + codes[:, 1] + rng.randint(0, 2, n_distinct)) % 4
    rows = rng.randint(0, n_distinct, size=n_rows)
    X, y = X_distinct[rows], y_distinct[rows]
    n_unique = len(np.unique(np.column_stack([X, y]), axis=0))
    params = {"max_iter": max_iter, "tol": TOL, "max_fun": 10**6, "random_state": 0}
    limit = _rows.MAX_CANONICAL_BYTES

    def fit(canonical):
        _rows.MAX_CANONICAL_BYTES = limit if canonical else -1
        clf = BackpropMLPClassifier(**params)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                clf.fit(X, y)
                return time.perf_counter() - start, clf
        finally:
            _rows.MAX_CANONICAL_BYTES = limit

    ways = {"canonical rows (default)": True, "rows as given": False}
    times, models = {way: [] for way in ways}, {}
    load_before = os.getloadavg()[0]
    for canonical in ways.values():  # warm-up
        fit(canonical)
    for _ in range(repeats):
        for way, canonical in ways.items():
            time.sleep(SETTLE)
            seconds, models[way] = fit(canonical)
            times[way].append(seconds)
    print(f"\n### duplicated rows: {n_rows}x40 one-hot rows, {n_unique} distinct (row, label)\n")
    print(
        f"{max_iter} L-BFGS iterations (40-25-4), median of {repeats} fits; 1-minute load "
        f"average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after.\n"
    )
    print("| rows | fit s | iters | evals | fit ms/eval | final loss | speedup |")
    print("|---|---|---|---|---|---|---|")
    given = statistics.median(times["rows as given"])
    for way, model in models.items():
        seconds = statistics.median(times[way])
        print(
            f"| {way} | {seconds:.3f} | {model.n_iter_} | {model.n_fun_} | "
            f"{1e3 * seconds / model.n_fun_:.2f} | {model.loss_:.10f} | {given / seconds:.1f} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fits per method (median)")
    parser.add_argument("--quick", action="store_true", help="2 repeats of 20 iterations")
    args = parser.parse_args()
    repeats, max_iter = (2, 20) if args.quick else (args.repeats, 100)
    print("## bench_fit\n")
    print("\n".join(machine_description()))
    for problem in problems(args.quick):
        run(*problem, repeats=repeats, max_iter=max_iter)
    duplicated_rows(repeats, max_iter)


if __name__ == "__main__":
    main()
