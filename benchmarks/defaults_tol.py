"""How often does the default ``tol`` warn? skmlp against MLPClassifier/MLPRegressor.

Usage::

    python benchmarks/defaults_tol.py [--tols 1e-5 1e-4] [--seeds 3] [--solvers lbfgs cg ...]
                                      [--only classifier|regressor] [--skip PREFIX ...]
                                      [--select PREFIX ...]

The user guide's tables: ``--solvers lbfgs --tols 1e-5 1e-4 1e-3``; the
other solvers with ``--seeds 1 --skip digits`` and, on the digits swap,
``--seeds 2 --select "digits, (50,)"``.

The evidence for the default ``tol`` (docs/user_guide/from_mlpclassifier.rst,
"The default tol"). A user swapping ``MLPClassifier(**kw)`` for
``BackpropMLPClassifier(**kw)`` keeps their keywords (those both have; the
SGD/Adam ones dropped) and gets skmlp's defaults for the rest: the course's
network (25 logistic units, alpha=1) and ``tol``. On each setting every skmlp
solver fits at each candidate ``tol``; ``MLPClassifier(solver="lbfgs")`` and
the default Adam fit with their default ``tol=1e-4`` on the same keywords.
Each cell: how many of the runs (random_state 0, 1, ... for the bundled
datasets; the test's own random_state for scikit-learn's test problems) emit
a ConvergenceWarning, the median iterations and the median score (held-out
accuracy / R^2 on a 25 % split, or the training score where scikit-learn's
test scores the training rows).

Settings: scikit-learn's bundled datasets (standardized X; regression
targets raw and standardized), make_classification / make_moons /
make_friedman1, and the problems of scikit-learn's own
``sklearn/neural_network/tests/test_mlp.py`` whose ``tol`` is the default
(test_lbfgs_classification for each activation, test_multilabel_classification,
test_predict_proba_multilabel, test_sparse_matrices, test_alpha; the
regression tests all pass their own tol, so there the question is only
whether the default would do). The course's ex4 fit (ex4data1.mat) is added
when ``SKMLP_EX4_DIR`` holds it. 'bfgs' is run on networks of at most 2000
parameters (scipy's BFGS update costs O(n^3) per iteration), 'lm' up to its
3000. Only numpy, scipy, scikit-learn, threadpoolctl.
"""

import argparse
import os
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from _machine import machine_description
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
    make_friedman1,
    make_moons,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import MinMaxScaler, StandardScaler, scale
from threadpoolctl import threadpool_limits

import skmlp
from skmlp import BackpropMLPClassifier, BackpropMLPRegressor
from skmlp._layout import Layout
from skmlp._solvers import SOLVERS

MAX_PARAMS = {"bfgs": 2000, "lm": 3000}
# MLPClassifier keywords skmlp has no counterpart for (SGD/Adam, shuffling).
SK_ONLY = ("shuffle", "learning_rate_init", "momentum", "learning_rate")


@dataclass
class Setting:
    name: str
    kind: str  # "classifier" or "regressor"
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    kw: dict = field(default_factory=dict)
    seeds: tuple | None = None  # None: --seeds random states; else the test's own
    score_on: str = "held-out"


def _split(name, kind, X, y, kw=None, stratify=True):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y if stratify else None
    )
    scaler = StandardScaler().fit(X_train)
    return Setting(
        name, kind, scaler.transform(X_train), y_train, scaler.transform(X_test), y_test, kw or {}
    )


def classification_settings():
    digits = load_digits(return_X_y=True)
    settings = [
        _split("digits, (50,), max_iter=300 (issue 25)", "classifier", *digits,
               {"hidden_layer_sizes": (50,), "max_iter": 300}),
        _split("digits", "classifier", *digits),
        _split("iris", "classifier", *load_iris(return_X_y=True)),
        _split("wine", "classifier", *load_wine(return_X_y=True)),
        _split("breast_cancer", "classifier", *load_breast_cancer(return_X_y=True)),
        _split("make_classification(500, 20)", "classifier",
               *make_classification(500, 20, random_state=0)),
        _split("make_moons(300, noise=0.25)", "classifier",
               *make_moons(300, noise=0.25, random_state=0)),
    ]  # fmt: skip
    # scikit-learn's test_mlp.py problems, with the test's keywords.
    X3, y3 = load_digits(n_class=3, return_X_y=True)
    X2, y2 = load_digits(n_class=2, return_X_y=True)
    multi = MinMaxScaler().fit_transform(X3[:200]), y3[:200]
    binary = MinMaxScaler().fit_transform(X2[:200]), y2[:200]
    for label, (X, y) in (("multi", multi), ("binary", binary)):
        for activation in ("identity", "logistic", "tanh", "relu"):
            kw = {"hidden_layer_sizes": 50, "max_iter": 150, "shuffle": True, "solver": "lbfgs",
                  "activation": activation}  # fmt: skip
            name = f"test_lbfgs_classification {label} {activation}"
            settings.append(
                Setting(name, "classifier", X[:150], y[:150], X[150:], y[150:], kw, (1,))
            )
    Xm, Ym = make_multilabel_classification(n_samples=50, random_state=0, return_indicator=True)
    settings += [
        Setting("test_multilabel_classification", "classifier", Xm, Ym, Xm, Ym,
                {"solver": "lbfgs", "hidden_layer_sizes": 50, "alpha": 1e-5, "max_iter": 150,
                 "activation": "logistic", "learning_rate_init": 0.2}, (0,), "train"),
        Setting("test_predict_proba_multilabel", "classifier", Xm, Ym, Xm, Ym,
                {"solver": "lbfgs", "hidden_layer_sizes": 30}, (0,), "train"),
        Setting("test_sparse_matrices", "classifier", binary[0][:50], binary[1][:50],
                binary[0][:50], binary[1][:50], {"solver": "lbfgs", "hidden_layer_sizes": 15},
                (1,), "train"),
        Setting("test_alpha (alpha=1)", "classifier", binary[0][:100], binary[1][:100],
                binary[0][:100], binary[1][:100], {"hidden_layer_sizes": 10, "alpha": 1},
                (1,), "train"),
    ]  # fmt: skip
    ex4 = _ex4_setting()
    return settings + ([ex4] if ex4 else [])


def _ex4_setting():
    """The course's fit (25 logistic units, alpha=1 = lambda) when its data are at hand."""
    path = os.environ.get("SKMLP_EX4_DIR")
    if not path or not os.path.exists(os.path.join(path, "ex4data1.mat")):
        print("(ex4data1.mat not found in SKMLP_EX4_DIR: the course's fit is not measured)")
        return None
    from skmlp.ex4 import load_ex4_data

    X, y = load_ex4_data(os.path.join(path, "ex4data1.mat"))
    return _split("ex4 (course data, unscaled pixels)", "classifier", X, y)


def regression_settings():
    Xd, yd = load_diabetes(return_X_y=True)
    Xr, yr = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
    yr = scale(yr)
    Xo, yo = make_regression(n_samples=200, n_targets=5, random_state=11)
    settings = [
        _split("diabetes, raw y", "regressor", Xd, yd, stratify=False),
        _split("diabetes, standardized y", "regressor", Xd, (yd - yd.mean()) / yd.std(),
               stratify=False),
        _split("make_friedman1(300)", "regressor",
               *make_friedman1(300, noise=1.0, random_state=0), stratify=False),
    ]  # fmt: skip
    for activation in ("logistic", "relu"):
        kw = {"solver": "lbfgs", "hidden_layer_sizes": 50, "max_iter": 200, "shuffle": True,
              "activation": activation}  # fmt: skip
        settings.append(Setting(f"test_lbfgs_regression {activation} (test: tol=1e-3)",
                                "regressor", Xr, yr, Xr, yr, kw, (1,), "train"))  # fmt: skip
    settings.append(
        Setting("test_multioutput_regression (test: tol=1e-2)", "regressor", Xo, yo, Xo, yo,
                {"solver": "lbfgs", "hidden_layer_sizes": 50, "max_iter": 200}, (1,), "train")
    )  # fmt: skip
    return settings


def n_params(setting, kw):
    sizes = kw.get("hidden_layer_sizes", (25,))
    sizes = (sizes,) if np.isscalar(sizes) else tuple(sizes)
    y = setting.y
    if setting.kind == "classifier" and y.ndim == 1:
        n_classes = len(np.unique(y))
        n_out = 1 if n_classes == 2 else n_classes
    else:
        n_out = 1 if y.ndim == 1 else y.shape[1]
    return Layout((setting.X.shape[1], *sizes, n_out)).n_params


def fit_once(estimator, setting):
    """(warned, n_iter, score, seconds) of one fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(setting.X, setting.y)
        seconds = time.perf_counter() - start
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return warned, estimator.n_iter_, estimator.score(setting.X_test, setting.y_test), seconds


def cell(runs):
    warned = sum(r[0] for r in runs)
    n_iter = statistics.median(r[1] for r in runs)
    score = statistics.median(r[2] for r in runs)
    return f"{warned}/{len(runs)} {n_iter:>5g} {score:.3f}", warned


def measure(setting, seeds, solvers, tols, summary):
    seeds = setting.seeds or tuple(range(seeds))
    ours = BackpropMLPClassifier if setting.kind == "classifier" else BackpropMLPRegressor
    theirs = MLPClassifier if setting.kind == "classifier" else MLPRegressor
    kw_ours = {k: v for k, v in setting.kw.items() if k not in SK_ONLY and k != "solver"}
    kw_theirs = {k: v for k, v in setting.kw.items() if k != "solver"}
    print(f"\n{setting.name}: {setting.X.shape}, keywords {setting.kw or '{}'}, "
          f"score: {setting.score_on}")  # fmt: skip
    columns = " | ".join(f"tol={t:g} warns, iter, score" for t in tols)
    print(f"| {'estimator':<28} | {columns} |")
    print("|---|" + "---|" * len(tols))
    reference = {}
    for solver in ("lbfgs", "adam"):
        runs = [
            fit_once(theirs(solver=solver, random_state=seed, **kw_theirs), setting)
            for seed in seeds
        ]
        text, warned = cell(runs)
        reference[solver] = warned
        label = f"{theirs.__name__}({solver})"
        blank = " |" * (len(tols) - 1)
        print(f"| {label:<28} | (tol=1e-4) {text} |{blank}")
    size = n_params(setting, kw_ours)
    for solver in solvers:
        if size > MAX_PARAMS.get(solver, np.inf):
            print(f"| {solver:<28} | " + " | ".join(["n/a"] * len(tols)) + " |")
            continue
        texts = []
        for tol in tols:
            runs = [
                fit_once(
                    ours(solver=solver, tol=tol, random_state=seed, n_jobs=1, **kw_ours), setting
                )
                for seed in seeds
            ]
            text, warned = cell(runs)
            texts.append(text)
            row = summary.setdefault((setting.kind, solver, tol), [0, 0, 0, 0])
            row[0] += warned
            row[1] += len(runs)
            # Runs in settings where MLP's lbfgs never warned: a swap's surprise.
            if reference["lbfgs"] == 0:
                row[2] += warned
                row[3] += len(runs)
        print(f"| {solver:<28} | " + " | ".join(texts) + " |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-5, 1e-4])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS))
    parser.add_argument("--only", choices=("classifier", "regressor"))
    parser.add_argument("--skip", nargs="*", default=[], help="settings whose name starts so")
    parser.add_argument("--select", nargs="*", default=[], help="only these settings (prefixes)")
    args = parser.parse_args()
    print("\n".join(machine_description()))
    print(f"skmlp from {os.path.dirname(skmlp.__file__)}; one thread each (n_jobs=1, BLAS 1)")
    settings = []
    if args.only != "regressor":
        settings += classification_settings()
    if args.only != "classifier":
        settings += regression_settings()
    settings = [s for s in settings if not s.name.startswith(tuple(args.skip) or ("\0",))]
    if args.select:
        settings = [s for s in settings if s.name.startswith(tuple(args.select))]
    summary = {}
    start = time.perf_counter()
    with threadpool_limits(1):
        for setting in settings:
            measure(setting, args.seeds, args.solvers, args.tols, summary)
    print(f"\nSummary ({time.perf_counter() - start:.0f} s; load {os.getloadavg()[0]:.2f}): "
          "runs that warn, of all runs / of the runs in settings where "
          "MLPClassifier(lbfgs) or MLPRegressor(lbfgs) never warned\n")  # fmt: skip
    print("| estimator | solver | " + " | ".join(f"tol={t:g}" for t in args.tols) + " |")
    print("|---|---|" + "---|" * len(args.tols))
    for kind in ("classifier", "regressor"):
        for solver in args.solvers:
            rows = [summary.get((kind, solver, t)) for t in args.tols]
            if any(r is None for r in rows):
                continue
            cells = [f"{r[0]}/{r[1]}, {r[2]}/{r[3]}" for r in rows]
            print(f"| {kind} | {solver} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
