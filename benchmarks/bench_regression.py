"""Fit time of BackpropMLPRegressor next to MLPRegressor(solver="lbfgs").

Usage::

    python benchmarks/bench_regression.py [--repeats 3] [--quick]

Two problems, logistic hidden units (skmlp's default, and what the course's
network uses), L-BFGS-B for both estimators with the same `max_iter`
(100; `tol` tiny so that neither stops on the gradient), default BLAS
threads, X and y in float64 and in float32:

- "regression": ``make_regression`` (20000 rows, 100 features, 30
  informative, 3 targets), X standardized, targets made nonlinear
  (``tanh`` of the standardized linear targets, plus 0.1 noise) and
  standardized; network 100-64-3.
- "friedman1": ``make_friedman1`` (10000 rows, 10 features, noise 1), X
  and y standardized; network 10-64-1.

`--quick` divides the rows by 10 and runs 2 repeats of 20 iterations.

The objectives (checked against scikit-learn 1.9's
``sklearn/neural_network/_multilayer_perceptron.py`` and ``_base.py``).
With n rows, k outputs, e_i = f(x_i) - y_i and W the weights (not the
intercepts):

- skmlp: ``J(theta; a) = 1/(2n) sum_i ||e_i||^2 + a/(2n) ||W||^2``.
- MLPRegressor's *loss* (``squared_loss`` + the L2 term of ``_backprop``):
  ``L(theta; a) = 1/(2nk) sum_i ||e_i||^2 + a/(2n) ||W||^2``, that is
  ``L(theta; a) = J(theta; k a) / k``.
- MLPRegressor's *gradient* (``deltas[last] = activations[-1] - y``, then
  ``(activations.T @ deltas + a W) / n`` in ``_compute_loss_grad``) is
  ``grad J(theta; a)``: the gradient of the loss *summed* over the outputs,
  not of the loss it returns with it (k times the gradient of L's data
  term: scikit-learn issue #8349, open).

So for k = 1 the mapping is the identity: ``J(.; a) = L(.; a)``, function
and gradient, and L-BFGS-B follows the same iterates from the same initial
weights (up to rounding). For k > 1 no alpha reproduces MLPRegressor's
(loss, gradient) pair: with ``alpha_skmlp = k * alpha_mlp`` the losses
agree up to the factor k but MLPRegressor's gradient is that of another
function; with ``alpha_skmlp = alpha_mlp`` the gradients agree (and
MLPRegressor's fixed points, where its gradient vanishes, are J's) but its
line search tests the sufficient decrease of the loss with the gradient of a
function k times steeper in its data term. The benchmark uses
``alpha_skmlp = alpha_mlp = 1`` on both problems (the identity for k = 1,
the gradient's mapping for k = 3), prints both mappings checked
numerically at the initial weights, and for k = 3 also fits MLPRegressor
with its squared loss summed over the outputs (the fix proposed for #8349:
its loss then is J, its gradient unchanged), which must follow skmlp's path
up to rounding. The optimizers differ only in their stopping tests:
MLPRegressor leaves scipy's ``ftol`` (2.2e-9, a relative-reduction test it
does not expose) and ``maxls`` (20) at their defaults where skmlp passes
64 eps and 50, so the table prints both `n_iter_` and says when
MLPRegressor stopped early.

"same init" fits start from MLPRegressor's own initial draw (its private
``_initialize``, Glorot-uniform with factor 2 for logistic units): the
MLPRegressor is first fitted once on 50 rows with ``warm_start=True`` (to
create its fitted state), then given those weights as ``coefs_`` and
``intercepts_``; the BackpropMLPRegressor is fitted once on 50 rows with
``max_iter=1, warm_start=True``, then its private flat parameter vector
``_theta`` is set to the same weights (all weight matrices ``(fan_in,
fan_out)`` in C order layer by layer, then all intercepts: skmlp's
``Layout`` and MLPRegressor's ``_pack`` use the same layout); both are then
fitted with ``warm_start=True`` (only this fit is timed). In float32 the
initial weights are cast to float32 as ``_initialize`` does for float32 X
(MLPRegressor's x0 is then float32, and scipy's L-BFGS-B evaluates the
objective at its float64 iterates cast to x0's dtype), skmlp getting the
same values (its parameters are float64 whatever the data's dtype). y is
float32 too: with float32 X and float64 y MLPRegressor's output deltas and
gradient are float64 (printed after each problem). "own
init" fits start from each estimator's own initialization
(``random_state=0``); MLPRegressor's own draw is the "same init" weights,
so its "own init" row repeats its "same init" fit without the warm start.
"MLP 1 thread" is MLPRegressor under ``threadpool_limits(1)``: on a
machine with more runnable threads than cores, OpenBLAS's threads (which
spin while they wait) can make the default much slower than one thread, and
the speed-up against one thread is the conservative one.

"J" is skmlp's J (alpha as fitted) evaluated in float64 on the float64 data
at each fit's final parameters, for both estimators, so the losses are on
the same scale whatever dtype or k; "rel. diff" is ``|J_mlp - J_skmlp| /
J_skmlp``. The rounding control fits MLPRegressor from the same initial
weights on the rows in another order (the same J, other rounding): how far
rounding alone moves the final loss after `max_iter` iterations. The
"divergence" lines compare the per-iteration losses of two fits that should
follow the same path (MLPRegressor's recorded through a callback added to
its ``scipy.optimize.minimize`` call, which adds one Python call per
iteration): the first iteration whose losses differ by more than 1e-6
relative. MLPRegressor's evaluations are counted by wrapping its
``_loss_grad_lbfgs`` (as bench_fit.py does). Times are medians over
`--repeats` repeats, the methods interleaved within each repeat, each fit
after a rest of `SETTLE` seconds. Private names of both estimators are used
on purpose (``_initialize``, ``_loss_grad_lbfgs``, ``_theta``). Only numpy,
scipy, scikit-learn, threadpoolctl and the standard library.
"""

import argparse
import contextlib
import os
import statistics
import time
import warnings
from dataclasses import dataclass
from unittest import mock

import numpy as np
import scipy.optimize
from _machine import machine_description
from sklearn.datasets import make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.neural_network import _base as mlp_base
from sklearn.neural_network import _multilayer_perceptron as mlp_module
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from skmlp import BackpropMLPRegressor
from skmlp._layout import Layout
from skmlp._problem import make_objective

TOL = 1e-12  # nobody stops on the gradient before max_iter
MAX_FUN = 10**6
ALPHA = 1.0  # both estimators' alpha (the mapping: see the docstring)
HIDDEN = (64,)
MAX_ITER = 100
PRIME_ROWS = 50  # rows of the untimed fit that creates the fitted state
AGREE = 1e-6  # relative loss difference of "the same path"
# Seconds of rest before each timed fit: OpenBLAS's workers spin for a while
# after a multi-threaded product and would take a core from the next fit.
SETTLE = 0.3
DTYPES = (np.float64, np.float32)


@dataclass
class Fit:
    seconds: float
    n_iter: int
    n_fun: int
    theta: np.ndarray  # final parameters, skmlp's flat float64 layout
    curve: list  # loss after each iteration, on the estimator's own scale


def problems(quick):
    """(name, X, y, network) of each problem; y is 1-D for one output."""
    scale = 10 if quick else 1
    n = 20000 // scale
    X, Y = make_regression(
        n_samples=n, n_features=100, n_informative=30, n_targets=3, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    noise = 0.1 * np.random.RandomState(1).normal(size=Y.shape)
    Y = StandardScaler().fit_transform(np.tanh(Y / Y.std(axis=0)) + noise)
    yield f"regression {n}x100", X, Y, "100-64-3"
    n = 10000 // scale
    X, y = make_friedman1(n_samples=n, n_features=10, noise=1.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    yield f"friedman1 {n}x10", X, y, "10-64-1"


def n_outputs(y):
    return 1 if y.ndim == 1 else y.shape[1]


def layout_of(X, y):
    return Layout((X.shape[1], *HIDDEN, n_outputs(y)))


def mlp_params(**params):
    return {
        "hidden_layer_sizes": HIDDEN,
        "activation": "logistic",
        "solver": "lbfgs",
        "alpha": ALPHA,
        "tol": TOL,
        "max_fun": MAX_FUN,
        "random_state": 0,
        **params,
    }


def skmlp_params(**params):
    return {
        "hidden_layer_sizes": HIDDEN,
        "activation": "logistic",
        "alpha": ALPHA,
        "tol": TOL,
        "max_fun": MAX_FUN,
        "random_state": 0,
        **params,
    }


def mlp_initial_weights(X, y):
    """MLPRegressor's own initial draw (random_state=0), through its private _initialize."""
    mlp = MLPRegressor(**mlp_params())
    mlp._random_state = check_random_state(0)
    mlp._initialize(y.reshape(len(y), -1), list(layout_of(X, y).layer_sizes), np.float64)
    return [c.copy() for c in mlp.coefs_], [b.copy() for b in mlp.intercepts_]


@contextlib.contextmanager
def squared_loss_summed_over_outputs():
    """MLPRegressor's squared loss summed over the outputs, as its gradient is.

    The fix proposed for scikit-learn #8349: with it MLPRegressor's loss is
    skmlp's J (same alpha) and its (loss, gradient) pair is consistent.
    """
    assert mlp_module.LOSS_FUNCTIONS is mlp_base.LOSS_FUNCTIONS
    original = mlp_base.LOSS_FUNCTIONS["squared_error"]

    def summed(y_true, y_pred, sample_weight=None):
        return 0.5 * np.average((y_true - y_pred) ** 2, weights=sample_weight, axis=0).sum()

    mlp_base.LOSS_FUNCTIONS["squared_error"] = summed
    try:
        yield
    finally:
        mlp_base.LOSS_FUNCTIONS["squared_error"] = original


def fit_mlp(X, y, max_iter, init=None, one_thread=False, summed_loss=False):
    """One timed MLPRegressor fit, from `init` = (coefs, intercepts) or its own draw."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if init is None:
            mlp = MLPRegressor(**mlp_params(max_iter=max_iter))
        else:
            mlp = MLPRegressor(**mlp_params(max_iter=1, warm_start=True))
            mlp.fit(X[:PRIME_ROWS], y[:PRIME_ROWS])  # fitted state; weights replaced next
            mlp.coefs_ = [c.copy() for c in init[0]]
            mlp.intercepts_ = [b.copy() for b in init[1]]
            mlp.max_iter = max_iter
        n_fun, curve = [0], []
        loss_grad = mlp._loss_grad_lbfgs

        def counting(*args, **kwargs):
            n_fun[0] += 1
            return loss_grad(*args, **kwargs)

        mlp._loss_grad_lbfgs = counting
        minimize = scipy.optimize.minimize

        def recording(*args, **kwargs):  # MLPRegressor passes no callback of its own
            def callback(intermediate_result):
                curve.append(float(intermediate_result.fun))

            return minimize(*args, callback=callback, **kwargs)

        with contextlib.ExitStack() as stack:
            if one_thread:
                stack.enter_context(threadpool_limits(1))
            if summed_loss:
                stack.enter_context(squared_loss_summed_over_outputs())
            stack.enter_context(mock.patch.object(scipy.optimize, "minimize", recording))
            start = time.perf_counter()
            mlp.fit(X, y)
            seconds = time.perf_counter() - start
    theta = layout_of(X, y).from_arrays(mlp.coefs_, mlp.intercepts_)
    return Fit(seconds, mlp.n_iter_, n_fun[0], theta, curve)


def fit_skmlp(X, y, max_iter, theta0=None):
    """One timed BackpropMLPRegressor fit, from `theta0` or its own draw."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if theta0 is None:
            reg = BackpropMLPRegressor(**skmlp_params(max_iter=max_iter))
        else:
            reg = BackpropMLPRegressor(**skmlp_params(max_iter=1, warm_start=True))
            reg.fit(X[:PRIME_ROWS], y[:PRIME_ROWS])  # fitted state; parameters replaced next
            reg._theta = theta0.copy()  # private: the flat parameter vector
            reg.set_params(max_iter=max_iter)
        start = time.perf_counter()
        reg.fit(X, y)
        seconds = time.perf_counter() - start
    return Fit(seconds, reg.n_iter_, reg.n_fun_, reg._theta.copy(), list(reg.loss_curve_))


class Evaluator:
    """skmlp's J (alpha=ALPHA) of any parameter vector, in float64 on the float64 data."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.reg = BackpropMLPRegressor(**skmlp_params(max_iter=1, warm_start=True))
            self.reg.fit(X[:PRIME_ROWS], y[:PRIME_ROWS])

    def __call__(self, theta):
        self.reg._theta = np.asarray(theta, dtype=np.float64)
        return float(self.reg.objective(self.X, self.y))


def first_divergence(curve_a, curve_b):
    """First iteration (1-based) whose losses differ by more than AGREE relative, or None."""
    for i, (a, b) in enumerate(zip(curve_a, curve_b), start=1):
        if abs(a - b) > AGREE * abs(b):
            return i
    return None


def divergence_line(label, curve_a, curve_b, indent=""):
    i = first_divergence(curve_a, curve_b)
    n = min(len(curve_a), len(curve_b))
    marks = sorted({m for m in (10, 25, 50, 75, n) if m <= n})
    diffs = ", ".join(
        f"{m}: {abs(curve_a[m - 1] - curve_b[m - 1]) / abs(curve_b[m - 1]):.1e}" for m in marks
    )
    where = f"from iteration {i}" if i is not None else f"nowhere in {n} iterations"
    return (
        f"{indent}- {label}: losses differ by more than {AGREE:g} {where} "
        f"(relative difference at {diffs})"
    )


def mapping_check(X, y, coefs, intercepts):
    """MLPRegressor's (loss, gradient) at the initial weights against skmlp's J."""
    k = n_outputs(y)
    layout = layout_of(X, y)
    theta0 = layout.from_arrays(coefs, intercepts)
    Y = y.reshape(len(y), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(**mlp_params(max_iter=1, warm_start=True))
        mlp.fit(X[:PRIME_ROWS], y[:PRIME_ROWS])  # sets _coef_indptr, n_layers_, ...
    n_layers = layout.n_layers
    shapes = layout.coef_shapes
    loss_mlp, grad_mlp = mlp._loss_grad_lbfgs(
        theta0.copy(),
        X,
        Y,
        None,
        [X] + [None] * (n_layers - 1),
        [None] * (n_layers - 1),
        [np.empty(s) for s in shapes],
        [np.empty(s[1]) for s in shapes],
    )
    J = {}
    for alpha in (ALPHA, k * ALPHA):
        with make_objective(
            layout, X, Y, activation="logistic", out_activation="identity", alpha=alpha
        ) as objective:
            J[alpha] = objective.loss_and_grad(theta0)
    (j_a, g_a), (j_ka, g_ka) = J[ALPHA], J[k * ALPHA]

    def rel(g, h):
        return np.linalg.norm(g - h) / np.linalg.norm(h)

    print(f"- mapping at the initial weights (k = {k} output{'s' if k > 1 else ''}):")
    print(
        f"  - loss: L_mlp = {loss_mlp:.12g}; J_skmlp(alpha) = {j_a:.12g}; "
        f"J_skmlp({k}*alpha) / L_mlp = {j_ka / loss_mlp:.12g}"
    )
    print(
        f"  - gradient: |g_mlp - grad J_skmlp(alpha)| / |grad J_skmlp(alpha)| = "
        f"{rel(grad_mlp, g_a):.1e}; |g_mlp - grad L_mlp| / |grad L_mlp| = "
        f"{rel(grad_mlp, g_ka / k):.1e} (grad L_mlp = grad J_skmlp({k}*alpha) / {k})"
    )


def mlp_dtypes(X, y):
    """The dtypes inside MLPRegressor's objective during a short fit on X, y."""
    seen = {"parameters": set(), "activations": set(), "deltas": set(), "gradient": set()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(**mlp_params(max_iter=2))
        loss_grad = mlp._loss_grad_lbfgs

        def recording(packed, X, y, sample_weight, activations, deltas, *args):
            loss, grad = loss_grad(packed, X, y, sample_weight, activations, deltas, *args)
            seen["parameters"].add(packed.dtype.name)
            seen["activations"].update(a.dtype.name for a in activations[1:])
            seen["deltas"].update(d.dtype.name for d in deltas)
            seen["gradient"].add(grad.dtype.name)
            return loss, grad

        mlp._loss_grad_lbfgs = recording
        mlp.fit(X, y)
    return ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in seen.items())


def float32_behaviour(X, y):
    """What MLPRegressor computes in when given float32 X, with y float64 and float32."""
    X32 = X[:500].astype(np.float32)
    return (
        "- MLPRegressor given float32 X (own float32 initial weights; scipy evaluates the "
        "objective at L-BFGS-B's iterates cast to x0's dtype): with y float64: "
        f"{mlp_dtypes(X32, y[:500])}; with y float32: "
        f"{mlp_dtypes(X32, y[:500].astype(np.float32))}"
    )


def run(name, X, y, network, repeats, max_iter):
    k = n_outputs(y)
    coefs, intercepts = mlp_initial_weights(X, y)
    data, targets, inits, thetas = {}, {}, {}, {}
    for dtype in DTYPES:
        # X and y in the dtype; the initial weights as MLPRegressor's _initialize
        # casts them for that dtype (its x0 then has that dtype, and scipy
        # evaluates the objective at the iterates cast to it); skmlp starts from
        # the same values (its parameters are float64 whatever the data).
        data[dtype] = np.ascontiguousarray(X, dtype=dtype)
        targets[dtype] = y.astype(dtype)
        inits[dtype] = ([c.astype(dtype) for c in coefs], [b.astype(dtype) for b in intercepts])
        thetas[dtype] = layout_of(X, y).from_arrays(*inits[dtype])
    methods = {}
    for d in DTYPES:
        Xd, yd, init, theta0 = data[d], targets[d], inits[d], thetas[d]
        methods[d, "same", "skmlp"] = lambda m, a=(Xd, yd, theta0): fit_skmlp(*a[:2], m, a[2])
        methods[d, "same", "mlp"] = lambda m, a=(Xd, yd, init): fit_mlp(*a[:2], m, a[2])
        methods[d, "same", "mlp1"] = lambda m, a=(Xd, yd, init): fit_mlp(*a[:2], m, a[2], True)
        methods[d, "own", "skmlp"] = lambda m, a=(Xd, yd): fit_skmlp(*a, m)
        methods[d, "own", "mlp"] = lambda m, a=(Xd, yd): fit_mlp(*a, m)
    load_before = os.getloadavg()
    for method in methods.values():  # warm-up: imports, BLAS threads, page faults
        method(min(5, max_iter))
    times = {key: [] for key in methods}
    fits = {}
    for _ in range(repeats):
        for key, method in methods.items():
            time.sleep(SETTLE)
            fits[key] = method(max_iter)
            times[key].append(fits[key].seconds)
    load_after = os.getloadavg()
    median = {key: statistics.median(t) for key, t in times.items()}

    # Untimed-in-the-table fits: the rounding control and, for k > 1, the
    # MLPRegressor whose loss is consistent with its gradient.
    permutation = np.random.RandomState(0).permutation(X.shape[0])
    time.sleep(SETTLE)
    init = inits[np.float64]
    control = fit_mlp(data[np.float64][permutation], y[permutation], max_iter, init, True)
    summed = None
    if k > 1:
        time.sleep(SETTLE)
        summed = fit_mlp(data[np.float64], y, max_iter, init, True, summed_loss=True)

    J = Evaluator(data[np.float64], y)
    print(f"\n### {name} -> {network}\n")
    print(
        f"{max_iter} L-BFGS-B iterations asked of each fit, alpha = {ALPHA:g} for both, "
        f"median of {repeats} fits; load average {' '.join(f'{x:.2f}' for x in load_before)} "
        f"before, {' '.join(f'{x:.2f}' for x in load_after)} after.\n"
    )
    print(
        "| shape | dtype | initial weights | skmlp s | MLP s | speed-up MLP/skmlp "
        "| MLP 1 thread s | speed-up MLP 1 thread/skmlp | iters skmlp / MLP "
        "| evals skmlp / MLP | J skmlp | J MLP | rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for dtype in DTYPES:
        for init_name in ("same", "own"):
            sk, ml = fits[dtype, init_name, "skmlp"], fits[dtype, init_name, "mlp"]
            t_sk, t_ml = median[dtype, init_name, "skmlp"], median[dtype, init_name, "mlp"]
            one = (dtype, init_name, "mlp1")
            t_one = median.get(one)
            j_sk, j_ml = J(sk.theta), J(ml.theta)
            diff = abs(j_ml - j_sk) / j_sk
            speedup_one = None if t_one is None else t_one / t_sk
            summary[dtype, init_name] = (t_ml / t_sk, speedup_one, diff)
            iters = f"{sk.n_iter} / {ml.n_iter}"
            if one in fits:
                iters += f" (1 thread: {fits[one].n_iter})"
            print(
                f"| {name.split()[-1]} | {np.dtype(dtype).name} | {init_name} init | "
                f"{t_sk:.3f} | {t_ml:.3f} | {t_ml / t_sk:.1f} | "
                + (f"{t_one:.3f} | {t_one / t_sk:.1f} | " if t_one is not None else "- | - | ")
                + f"{iters} | {sk.n_fun} / {ml.n_fun} | {j_sk:.10f} | {j_ml:.10f} | {diff:.1e} |"
            )
    print()
    short = [
        f"{np.dtype(d).name} {i} init: {label}"
        for (d, i, label), f in fits.items()
        if "mlp" in label and f.n_iter < max_iter
    ]
    if short:
        print(f"- MLPRegressor stopped before max_iter: {'; '.join(short)}")
    else:
        print(f"- every fit ran all {max_iter} iterations")
    same64 = fits[np.float64, "same", "skmlp"]
    if k == 1:
        print(
            divergence_line(
                "float64 same init, MLPRegressor vs skmlp",
                fits[np.float64, "same", "mlp"].curve,
                same64.curve,
            )
        )
    else:
        j_sum = J(summed.theta)
        print(
            f"- float64 same init, MLPRegressor with its loss summed over the outputs "
            f"(#8349's fix; {summed.seconds:.3f} s, 1 thread, one fit): "
            f"{summed.n_iter} iterations, {summed.n_fun} evals, J = {j_sum:.10f}, relative "
            f"difference to skmlp {abs(j_sum - J(same64.theta)) / J(same64.theta):.1e}"
        )
        print(divergence_line("its losses vs skmlp's", summed.curve, same64.curve, "  "))
    j_control, j_reference = J(control.theta), J(fits[np.float64, "same", "mlp1"].theta)
    print(
        f"- rounding control: MLPRegressor float64 same init on the rows permuted vs as "
        f"given (both 1 thread): J {j_control:.10f} vs {j_reference:.10f}, relative "
        f"difference {abs(j_control - j_reference) / j_reference:.1e}"
    )
    j_default = J(fits[np.float64, "same", "mlp"].theta)
    print(
        f"  - the rows as given, 1 thread vs default threads (BLAS's sums split "
        f"otherwise): J {j_reference:.10f} vs {j_default:.10f}, relative difference "
        f"{abs(j_reference - j_default) / j_default:.1e}"
    )
    print(
        divergence_line(
            "its losses vs the rows as given",
            control.curve,
            fits[np.float64, "same", "mlp1"].curve,
            "  ",
        )
    )
    mapping_check(data[np.float64], y, coefs, intercepts)
    if summed is not None:
        summary["summed"] = abs(J(summed.theta) - J(same64.theta)) / J(same64.theta)
    summary["control"] = abs(j_control - j_reference) / j_reference
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per method (median)")
    parser.add_argument(
        "--quick", action="store_true", help="rows / 10, 2 repeats of 20 iterations"
    )
    args = parser.parse_args()
    repeats, max_iter = (2, 20) if args.quick else (args.repeats, MAX_ITER)
    print("## bench_regression\n")
    print("\n".join(machine_description()))
    summaries = {}
    for name, X, y, network in problems(args.quick):
        summaries[name] = run(name, X, y, network, repeats, max_iter)
        print(float32_behaviour(X, y))
    print("\n### targets\n")
    for name, summary in summaries.items():
        for dtype, target in ((np.float64, 3.0), (np.float32, 6.0)):
            speedup, speedup_one, _ = summary[dtype, "same"]
            print(
                f"- {name}, {np.dtype(dtype).name}: speed-up {speedup:.1f}x against "
                f"MLPRegressor (default threads), {speedup_one:.1f}x against one thread; "
                f"target {target:g}x: {'met' if speedup >= target else 'NOT met'} "
                f"(one thread: {'met' if speedup_one >= target else 'NOT met'})"
            )
        diff = summary[np.float64, "same"][2]
        print(
            f"- {name}, float64 same init: final losses {diff:.1e} apart (relative); "
            f"target {AGREE:g}: {'met' if diff <= AGREE else 'NOT met'} (MLPRegressor "
            f"against itself on permuted rows: {summary['control']:.1e}"
            + (
                f"; with its loss summed over the outputs: {summary['summed']:.1e})"
                if "summed" in summary
                else ")"
            )
        )
    print(f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
