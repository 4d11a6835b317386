"""Levenberg-Marquardt (solver='lm') against L-BFGS, and alpha='evidence' against a grid search.

Usage::

    python benchmarks/bench_lm.py [--repeats 3] [--alpha 1e-3] [--quick]

Five small problems, tanh hidden units (the tansig of MATLAB's fitnet and
patternnet), X standardized, and y too for the regressions:

- "sine": 500 points, x uniform on [-3, 3], y = sin(2x) + N(0, 0.2^2);
  1-10-1 (31 parameters), BackpropMLPRegressor;
- "friedman1": ``make_friedman1(2000, noise=1)``; 10-20-1 (241);
- "diabetes": ``load_diabetes`` (442 x 10); 10-10-1 (121);
- "iris" (150 x 4): 4-10-3 (83), BackpropMLPClassifier with its default
  outputs (one sigmoid per class, the course's J);
- "wine" (178 x 13): 13-10-3 (173), the same.

Table 1, time to a loss. Every fit minimizes the same J (``1/S sum_i
loss_i + alpha/(2S) ||W||^2``) with the same `--alpha` (default 1e-3:
nearly unpenalized least squares, what trainlm is for) from the same initial
weights (``random_state=0``), on all the rows:

1. L-BFGS with ``max_iter=2000, tol=0`` gives the target: its final loss L*
   (after 2000 iterations, or fewer when scipy's own relative-reduction test
   ended it); a loss reaches it when it is at most ``L* (1 + 1e-6)``.
2. One untimed fit per solver (``max_iter=2000, tol=0``; for L-BFGS the fit
   of step 1) gives its ``loss_curve_``; k is the first iteration whose loss
   reaches the target (none: "not reached", with the best loss it got).
3. The time is that of a fit with ``max_iter=k, tol=0``: from the same
   weights it follows the same iterates and stops at iteration k (checked:
   its final loss equals the curve's k-th; the relative difference is
   printed), so its wall time, ``fit()`` from call to return with setup and
   validation included, is what reaching the target costs. No per-iteration
   callback adds its overhead (which would weigh on L-BFGS's 2000 cheap
   iterations more than on LM's few dear ones), nothing is interpolated.

Times are medians of `--repeats`, the methods interleaved within each repeat
and each fit after a rest of `SETTLE` seconds, so that a noisy neighbour
slows them alike. Target from the issue: lm at least 5x sooner on the three
regressions.

Table 2, alpha='evidence' against a grid search: the rows split 75/25
(stratified for the classifiers, ``random_state=0``), X (and y) scaled on the
training rows. Evidence: ``solver='lm', alpha='evidence', max_iter=1000``
(trainbr's epochs), the default tol. Grid: ``GridSearchCV`` of the default
solver, L-BFGS (``max_iter=2000``, default tol), over ``alpha`` in
``np.logspace(-4, 2, 13)``, ``cv=5`` (K-fold; stratified for the
classifiers), one process, its refit on the best alpha included. Both from
``random_state=0``. Test R^2 (regressors) or accuracy (classifiers) on the
held-out 25%, and wall time (median of `--repeats`, interleaved). Target
from the issue: the evidence within 0.02 of the grid's test score, at least
5x sooner.

Table 3, where lm's time goes: one more lm fit of table 1's k iterations per
problem, and of each evidence fit of table 2, with timers around the
Gauss-Newton evaluation (``Objective.gauss_newton``: J and its gradient by a
forward and backward pass, then G's pieces, which the executor's threads
share), and inside it the Jacobian (``Network.output_jacobian``) and its
product (the loss's ``gauss_newton``: ``J^T (w H_out) J``,
skmlp/_losses.py ``add_gauss_newton``), both summed over the threads that
ran them (so they can add up to more than G's wall time); the trial
evaluations (``Objective.loss``: J alone, one per step tried, rejected ones
included); the Cholesky solves (``_lm._step``); the evidence's update.
"rest" is the fit's wall time less these (setup, validation, the solver's
Python). In ms per iteration; "L-BFGS its per lm it" is what one lm
iteration costs in L-BFGS iterations of table 1: lm is ahead when it needs
that many times fewer iterations.

Table 4, the fits with one thread and with changes not (yet) in skmlp,
patched in (ms per iteration, median of `--repeats`, interleaved):
"n_jobs=1" runs G's pieces on the calling thread alone (what the threads
bring); "SYRK" computes G's product as ``B^T B`` with ``B = sqrt(w h_k)
J_k``, which numpy hands to BLAS's SYRK (half the multiply-adds of skmlp's
GEMM ``J_k^T (J_k * w h_k)``; the output Hessians h are >= 0 for every
loss); "kept Jacobian" fills a Jacobian buffer kept between calls (skmlp
allocates a new zeroed ``8 k m P``-byte array per call, which in a fit the
allocator may hand back to the system and page-fault in again: the minor
page faults per iteration, from ``getrusage``, are printed). The final
losses of the patched fits are compared with the unpatched one's (rounding
for SYRK and the kept Jacobian). The last column projects table 1's ratio
(or table 2's) with both changes.

Table 5, per call on each problem's own shapes (median of 30 calls, each
checked against skmlp's result; called back to back, the Jacobian's fresh
array reuses the freed one and faults nothing in: its cost shows in the
fits of table 4 only): the prototypes; the evidence's trace of ``H^-1``
as it was (``pinv(H, hermitian=True)``, an eigendecomposition) and as it is
(Cholesky with complete pivoting, LAPACK's ``pstrf``, then ``potri``:
:func:`skmlp._lm.weight_trace_of_inverse`);
a trial as it was (``Objective.loss_and_grad``) and as it is
(``Objective.loss``, J alone).

`--quick`: one repeat, budgets of 200 iterations, a grid of 4 alphas with
cv=3 (a smoke run; its numbers mean nothing). Only numpy, scipy,
scikit-learn, threadpoolctl and the standard library; private names of skmlp
are used on purpose (the timers, the prototypes).
"""

import argparse
import contextlib
import math
import os
import resource
import statistics
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from unittest import mock

import numpy as np
from _machine import machine_description
from scipy.special import expit
from sklearn.datasets import load_diabetes, load_iris, load_wine, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from skmlp import BackpropMLPClassifier, BackpropMLPRegressor
from skmlp import _lm as lm_module
from skmlp import _losses as losses_module
from skmlp._layout import Layout
from skmlp._lm import Evidence, weight_trace_of_inverse
from skmlp._network import Network
from skmlp._objective import Objective
from skmlp._problem import make_objective

# Seconds of rest before each timed fit (see bench_fit.py).
SETTLE = 0.2
RTOL = 1e-6  # a loss reaches the target L* when it is at most L* (1 + RTOL)
SPEED_TARGET = 5.0
SCORE_TARGET = 0.02
# Table 4's columns: the fits as they are and with the prototypes patched in.
VARIANTS = ("as is", "n_jobs=1", "SYRK", "kept Jacobian", "SYRK + kept Jacobian")
LOSSES = (
    losses_module.LogisticLoss,
    losses_module.SoftmaxLoss,
    losses_module.SquaredErrorLoss,
    losses_module.PoissonLoss,
)


@dataclass
class Problem:
    name: str
    estimator: type
    X: np.ndarray
    y: np.ndarray
    hidden: tuple

    @property
    def classification(self):
        return self.estimator is BackpropMLPClassifier

    @property
    def layout(self):
        n_outputs = len(np.unique(self.y)) if self.classification else 1
        return Layout((self.X.shape[1], *self.hidden, n_outputs))

    @property
    def network(self):
        sizes = self.layout.layer_sizes
        return f"{'-'.join(map(str, sizes))} ({self.layout.n_params})"


def problems():
    rng = np.random.RandomState(0)
    x = rng.uniform(-3, 3, size=(500, 1))
    y = np.sin(2 * x[:, 0]) + 0.2 * rng.normal(size=500)
    yield Problem("sine", BackpropMLPRegressor, x, y, (10,))
    X, y = make_friedman1(2000, noise=1.0, random_state=0)
    yield Problem("friedman1", BackpropMLPRegressor, X, y, (20,))
    yield Problem("diabetes", BackpropMLPRegressor, *load_diabetes(return_X_y=True), (10,))
    yield Problem("iris", BackpropMLPClassifier, *load_iris(return_X_y=True), (10,))
    yield Problem("wine", BackpropMLPClassifier, *load_wine(return_X_y=True), (10,))


def scaled(problem, train, test=None):
    """X (and a regression's y) standardized on the `train` rows.

    Returns ``[X_train, y_train]``, plus ``X_test, y_test`` when `test` is given.
    """
    X, y = problem.X, problem.y
    scaler = StandardScaler().fit(X[train])
    out = [scaler.transform(X[train]), y[train]]
    if test is not None:
        out += [scaler.transform(X[test]), y[test]]
    if not problem.classification:
        mean, std = y[train].mean(), y[train].std()
        out[1::2] = [(v - mean) / std for v in out[1::2]]
    return out


def all_rows(problem):
    return scaled(problem, np.arange(len(problem.y)))


def make(problem, **params):
    return problem.estimator(problem.hidden, "tanh", random_state=0, **params)


def quiet_fit(estimator, X, y):
    """fit() and its wall time; budgets end some fits on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(methods, X, y, repeats, warm_up=True):
    """Median seconds and the last fitted estimator of each ``name -> (factory, patches)``.

    The fitted estimators carry ``minor_faults``: the process's minor page
    faults during their fit.
    """
    times = {name: [] for name in methods}
    fitted = {}
    rounds = ([] if not warm_up else [None]) + list(range(repeats))
    for i in rounds:
        for name, (factory, patches) in methods.items():
            with contextlib.ExitStack() as stack:
                for patch in patches():
                    stack.enter_context(patch)
                time.sleep(SETTLE)
                estimator = factory()
                faults = minor_faults()
                seconds = quiet_fit(estimator, X, y)
                estimator.minor_faults = minor_faults() - faults
            if i is not None:
                times[name].append(seconds)
                fitted[name] = estimator
    return {name: statistics.median(t) for name, t in times.items()}, fitted


def no_patches():
    return []


def reached(curve, target):
    """The first iteration (1-based) whose loss is at most target, or None."""
    hits = np.flatnonzero(np.asarray(curve) <= target)
    return int(hits[0]) + 1 if hits.size else None


def load_line(before):
    return f"1-minute load average {before:.2f} before, {os.getloadavg()[0]:.2f} after"


def print_row(cells):
    print("| " + " | ".join(cells) + " |")


# ----------------------------------------------------------------- table 1


def time_to_loss(problem, alpha, budget, repeats):
    """Table 1's row: iterations and seconds each solver needs to reach L-BFGS's loss."""
    X, y = all_rows(problem)
    reference = make(problem, solver="lbfgs", alpha=alpha, max_iter=budget, tol=0)
    quiet_fit(reference, X, y)
    target = reference.loss_ * (1 + RTOL)
    long_lm = make(problem, solver="lm", alpha=alpha, max_iter=budget, tol=0)
    quiet_fit(long_lm, X, y)
    curves = {"lbfgs": reference.loss_curve_, "lm": long_lm.loss_curve_}
    k = {solver: reached(curve, target) for solver, curve in curves.items()}
    methods = {
        solver: (
            lambda s=solver: make(problem, solver=s, alpha=alpha, max_iter=k[s], tol=0),
            no_patches,
        )
        for solver in curves
        if k[solver] is not None
    }
    seconds, fitted = interleaved(methods, X, y, repeats)
    same_path = {
        s: abs(fitted[s].loss_ - curves[s][k[s] - 1]) / abs(curves[s][k[s] - 1]) for s in methods
    }
    return {
        "problem": problem,
        "target": reference.loss_,
        "ref_iter": reference.n_iter_,
        "k": k,
        "curves": curves,
        "seconds": seconds,
        "fitted": fitted,
        "same_path": same_path,
    }


def print_table_1(rows, alpha, budget, repeats, load_before):
    print(f"\n### Table 1: time to L-BFGS's loss after {budget} iterations (alpha={alpha:g})\n")
    print(f"Median of {repeats} fits each; {load_line(load_before)}.\n")
    print(
        "| problem | network (P) | target L* (L-BFGS its) | L-BFGS its / evals / s "
        "| lm its / evals / s | L-BFGS ms/it | lm ms/it | time L-BFGS / lm "
        "| its L-BFGS / lm | same path (rel. diff) |"
    )
    print("|---" * 10 + "|")
    for row in rows:
        p, k, sec, fitted = row["problem"], row["k"], row["seconds"], row["fitted"]
        cells = [p.name, p.network, f"{row['target']:.6g} ({row['ref_iter']})"]
        for s in ("lbfgs", "lm"):
            if k[s] is None:
                best = min(row["curves"][s])
                cells.append(f"not reached in {len(row['curves'][s])} (best {best:.6g})")
            else:
                cells.append(f"{k[s]} / {fitted[s].n_fun_} / {sec[s]:.3f}")
        for s in ("lbfgs", "lm"):
            cells.append(f"{1e3 * sec[s] / k[s]:.3f}" if k[s] else "-")
        if k["lm"] and k["lbfgs"]:
            cells.append(f"**{sec['lbfgs'] / sec['lm']:.2f}**")
            cells.append(f"{k['lbfgs'] / k['lm']:.1f}")
        else:
            cells += ["-", "-"]
        cells.append(", ".join(f"{s} {d:.0e}" for s, d in row["same_path"].items()))
        print_row(cells)


# ----------------------------------------------------------------- table 2


def evidence_vs_grid(problem, repeats, quick):
    """Table 2's row: the evidence's fit and the grid search, timed and scored."""
    rows = np.arange(len(problem.y))
    stratify = problem.y if problem.classification else None
    train, test = train_test_split(rows, test_size=0.25, random_state=0, stratify=stratify)
    X_train, y_train, X_test, y_test = scaled(problem, train, test)
    alphas = np.logspace(-4, 2, 4 if quick else 13)
    budget = 200 if quick else 1000

    def evidence():
        return make(problem, solver="lm", alpha="evidence", max_iter=budget)

    def grid():
        estimator = make(problem, solver="lbfgs", max_iter=2 * budget)
        return GridSearchCV(estimator, {"alpha": alphas}, cv=3 if quick else 5)

    methods = {"evidence": (evidence, no_patches), "grid": (grid, no_patches)}
    seconds, fitted = interleaved(methods, X_train, y_train, repeats, warm_up=False)
    return {
        "problem": problem,
        "seconds": seconds,
        "scores": {name: est.score(X_test, y_test) for name, est in fitted.items()},
        "evidence": fitted["evidence"],
        "grid": fitted["grid"],
        "factory": evidence,
        "data": (X_train, y_train),
        "n_alphas": len(alphas),
    }


def print_table_2(rows, repeats, load_before):
    n_alphas = rows[0]["n_alphas"]
    cv = rows[0]["grid"].cv
    print(
        f"\n### Table 2: alpha='evidence' (lm) against GridSearchCV (L-BFGS, {n_alphas} "
        f"alphas, cv={cv})\n"
    )
    print(f"Median of {repeats} fits each; {load_line(load_before)}.\n")
    print(
        "| problem | score | evidence: test score / s / its / alpha_ / gamma (of P_W) "
        "| grid: test score / s / best alpha | score evidence - grid | time grid / evidence |"
    )
    print("|---" * 6 + "|")
    for row in rows:
        p, ev, gs = row["problem"], row["evidence"], row["grid"]
        sec, score = row["seconds"], row["scores"]
        print_row(
            [
                p.name,
                "accuracy" if p.classification else "R^2",
                f"{score['evidence']:.4f} / {sec['evidence']:.3f} / {ev.n_iter_} / "
                f"{ev.alpha_:.3g} / {ev.effective_n_params_:.1f} (of {p.layout.n_coefs})",
                f"{score['grid']:.4f} / {sec['grid']:.2f} / {gs.best_params_['alpha']:.3g}",
                f"**{score['evidence'] - score['grid']:+.4f}**",
                f"**{sec['grid'] / sec['evidence']:.1f}**",
            ]
        )


# ----------------------------------------------------------------- table 3


class Timers:
    """Seconds and calls per name of wrapped functions."""

    def __init__(self):
        self.seconds, self.calls = Counter(), Counter()

    def wrap(self, name, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed


def timer_patches(timers):
    return [
        mock.patch.object(Objective, "gauss_newton", timers.wrap("G", Objective.gauss_newton)),
        mock.patch.object(Objective, "loss", timers.wrap("trial", Objective.loss)),
        mock.patch.object(
            Network, "output_jacobian", timers.wrap("jacobian", Network.output_jacobian)
        ),
        mock.patch.object(lm_module, "_step", timers.wrap("cholesky", lm_module._step)),
        mock.patch.object(Evidence, "update", timers.wrap("evidence", Evidence.update)),
        *(
            mock.patch.object(loss, "gauss_newton", timers.wrap("product", loss.gauss_newton))
            for loss in LOSSES
        ),
    ]


def profile_row(label, problem, estimator, X, y, lbfgs_ms):
    """Table 3's row: one fit with timers around LM's parts."""
    timers = Timers()
    with contextlib.ExitStack() as stack:
        for patch in timer_patches(timers):
            stack.enter_context(patch)
        time.sleep(SETTLE)
        seconds = quiet_fit(estimator, X, y)
    n, calls = estimator.n_iter_, timers.calls
    ms = {name: 1e3 * s / n for name, s in timers.seconds.items()}
    total = 1e3 * seconds / n
    rest = total - sum(ms.get(name, 0.0) for name in ("G", "trial", "cholesky", "evidence"))
    rejected = calls["trial"] - n  # each iteration is one accepted trial
    print_row(
        [
            label,
            problem.network,
            f"{n}",
            f"{(calls['G'] + calls['trial']) / n:.2f} ({calls['G'] / n:.2f} G + "
            f"{calls['trial'] / n:.2f} trials)",
            f"{rejected} ({100 * rejected / max(calls['trial'], 1):.0f}%)",
            f"{ms['G']:.3f} = {ms['jacobian']:.3f} + {ms['product']:.3f} + "
            f"{ms['G'] - ms['jacobian'] - ms['product']:.3f}",
            f"{ms['trial']:.3f}",
            f"{ms['cholesky']:.3f}",
            f"{ms.get('evidence', 0.0):.3f}",
            f"{rest:.3f}",
            f"{total:.3f}",
            f"{100 * ms['G'] / total:.0f}%",
            f"{total / lbfgs_ms:.1f}" if lbfgs_ms else "-",
        ]
    )


def print_table_3_head():
    print("\n### Table 3: where lm's time goes (ms per iteration, one profiled fit each)\n")
    print(
        "| fit | network (P) | its | evals/it | rejected steps | G eval = Jacobian + product "
        "+ pass | trials | Cholesky | evidence | rest | total | G's share "
        "| L-BFGS its per lm it |"
    )
    print("|---" * 13 + "|")


# ------------------------------------------------------- tables 4 and 5: prototypes


def gauss_newton_syrk(h, w, J, G):
    """``G += sum_k B_k^T B_k`` with ``B_k = sqrt(w h_k) J_k`` (h >= 0): numpy's SYRK."""
    for k in range(J.shape[0]):
        B = J[k] * np.sqrt(w * h[:, k])[:, None]
        G += B.T @ B


def jacobian_into(network, block, acts, start, stop, out):
    """skmlp's ``Network.output_jacobian`` transcribed to fill `out`, a kept buffer.

    Every entry is written (each column is some layer's weight or
    intercept), so the buffer needs no zeroing; each weight block is
    multiplied straight into its place.
    """
    m = stop - start
    k = network.layout.layer_sizes[-1]
    J = out[:, :m]
    positions = np.arange(network.layout.n_params)
    W_at, b_at = network.layout.coefs(positions), network.layout.intercepts(positions)
    D = np.zeros((k, m, k), network.dtype)
    D[np.arange(k), :, np.arange(k)] = 1
    for i in range(len(network.coefs) - 1, -1, -1):
        A = block.X[start:stop] if i == 0 else acts.z_t(i - 1, block.n_rows)[:, start:stop].T
        fan_in, fan_out = network.coefs[i].shape
        view = J[:, :, W_at[i][0, 0] : W_at[i][-1, -1] + 1].reshape(k, m, fan_in, fan_out)
        np.multiply(A[None, :, :, None], D[:, :, None, :], out=view)
        J[:, :, b_at[i][0] : b_at[i][-1] + 1] = D
        if i > 0:
            D = D @ network.coefs[i].T
            slope = np.ones_like(A)
            network._derivative(A, slope)
            D *= slope
    return J


def kept_jacobian():
    """``Network.output_jacobian`` into one kept buffer per thread and block size."""
    buffers = {}

    def output_jacobian(network, block, acts, start, stop):
        key = (threading.get_ident(), id(network), stop - start)
        out = buffers.get(key)
        if out is None:
            shape = (network.layout.layer_sizes[-1], stop - start, network.layout.n_params)
            out = buffers[key] = np.empty(shape, network.dtype)
        return jacobian_into(network, block, acts, start, stop, out)

    return output_jacobian


_pinv = np.linalg.pinv


def prototype_patches(syrk=False, kept=False):
    def patches():
        out = []
        if syrk:
            out.append(mock.patch.object(losses_module, "add_gauss_newton", gauss_newton_syrk))
        if kept:
            out.append(mock.patch.object(Network, "output_jacobian", kept_jacobian()))
        return out

    return patches


def prototypes_row(label, factory, X, y, repeats, reference_seconds):
    """Table 4's row: a fit as it is, on one thread and with the proposed changes patched in."""
    variants = {
        "as is": (factory, no_patches),
        "n_jobs=1": (lambda: factory().set_params(n_jobs=1), no_patches),
        "SYRK": (factory, prototype_patches(syrk=True)),
        "kept Jacobian": (factory, prototype_patches(kept=True)),
        "SYRK + kept Jacobian": (factory, prototype_patches(syrk=True, kept=True)),
    }
    seconds, fitted = interleaved(variants, X, y, repeats)
    base = fitted["as is"]
    n = base.n_iter_
    cells = [label, f"{n}"]
    for name in VARIANTS:
        ms = 1e3 * seconds[name] / fitted[name].n_iter_
        speedup = "" if name == "as is" else f" ({seconds['as is'] / seconds[name]:.2f}x)"
        cells.append(f"{ms:.3f}{speedup}")
    gaps = [abs(f.loss_ - base.loss_) / abs(base.loss_) for f in fitted.values()]
    cells.append(f"{max(gaps):.0e}")
    last = "SYRK + kept Jacobian"
    faults = [fitted[name].minor_faults / fitted[name].n_iter_ for name in ("as is", last)]
    cells.append(f"{faults[0]:.0f} -> {faults[1]:.0f}")
    cells.append(
        f"{reference_seconds / seconds['as is']:.2f} -> {reference_seconds / seconds[last]:.2f}"
        if reference_seconds
        else "-"
    )
    print_row(cells)


def print_table_4_head(repeats):
    print(
        "\n### Table 4: one thread, and changes not in skmlp patched in (ms per iteration, "
        f"speed-up over as is; median of {repeats})\n"
    )
    print("lm fits of table 1 (its k iterations), then the evidence fits of table 2.\n")
    print(
        "| fit | its | as is | n_jobs=1 | SYRK | kept Jacobian | SYRK + kept Jacobian "
        "| final loss vs as is (max rel. diff) | minor page faults/it: as is -> both "
        "| ratio of table 1 or 2: as is -> both |"
    )
    print("|---" * 10 + "|")


def median_ms(function, n=30):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def per_call_row(problem, alpha):
    """Table 5's row: each prototype against skmlp's way, per call, on this problem's shapes."""
    X, y = all_rows(problem)
    Y = LabelBinarizer().fit_transform(y) if problem.classification else y[:, None]
    layout = problem.layout
    estimator = make(problem, solver="lm", alpha=alpha, max_iter=5, tol=0)
    quiet_fit(estimator, X, y)
    theta = estimator._theta.copy()  # a point on the way, not the start
    seen = {}
    original = Network.output_jacobian

    def capture(network, block, acts, start, stop):
        seen.update(network=network, block=block, acts=acts, start=start, stop=stop)
        return original(network, block, acts, start, stop)

    with make_objective(
        layout,
        X,
        Y,
        activation="tanh",
        out_activation="logistic" if problem.classification else "identity",
        alpha=alpha,
        curvature="gauss-newton",
        batch_size=X.shape[0],
    ) as objective:
        with mock.patch.object(Network, "output_jacobian", capture):
            _, _, G_fit = objective.gauss_newton(theta)
        network, block, acts = seen["network"], seen["block"], seen["acts"]
        a, b = seen["start"], seen["stop"]
        J = original(network, block, acts, a, b)
        buffer = np.empty_like(J)
        same_jacobian = np.array_equal(jacobian_into(network, block, acts, a, b, buffer), J)
        fresh = median_ms(lambda: original(network, block, acts, a, b))
        kept = median_ms(lambda: jacobian_into(network, block, acts, a, b, buffer))
        logits = acts.logits_t(b - a).T
        p = expit(logits)
        h = p * (1 - p) if problem.classification else np.ones_like(logits)
        w = np.ones(b - a)
        G1, G2 = np.zeros_like(G_fit), np.zeros_like(G_fit)
        losses_module.add_gauss_newton(h, w, J, G1)
        gauss_newton_syrk(h, w, J, G2)
        same_G = np.allclose(G1, G2, rtol=1e-12, atol=1e-12 * np.abs(G1).max())
        gemm = median_ms(lambda: losses_module.add_gauss_newton(h, w, J, G1))
        syrk = median_ms(lambda: gauss_newton_syrk(h, w, J, G2))
        # The evidence's H (beta = 1) at this point, alpha = max(alpha, 1) for a safe margin.
        n_w = layout.n_coefs
        H = G_fit * objective.penalty.sum_weights
        H[np.arange(n_w), np.arange(n_w)] += 1.0
        trace = np.diag(_pinv(H, hermitian=True))[:n_w].sum()
        same_trace = math.isclose(weight_trace_of_inverse(H, n_w), trace, rel_tol=1e-8)
        pinv = median_ms(lambda: np.diag(_pinv(H, hermitian=True))[:n_w].sum())
        cholesky = median_ms(lambda: weight_trace_of_inverse(H, n_w))
        loss_and_grad = median_ms(lambda: objective.loss_and_grad(theta))
        loss_only = median_ms(lambda: objective.loss(theta))
        same_loss = objective.loss(theta) == objective.loss_and_grad(theta)[0]

    def pair(before, after, same=True):
        checked = "" if same else " DIFFERS"
        return f"{before:.3f} -> {after:.3f} ({before / after:.1f}x){checked}"

    print_row(
        [
            problem.name,
            f"{X.shape[0]} x {layout.n_params} x {Y.shape[1]}",
            pair(gemm, syrk, same_G),
            pair(fresh, kept, same_jacobian),
            pair(pinv, cholesky, same_trace),
            pair(loss_and_grad, loss_only, same_loss),
        ]
    )


def print_table_5_head():
    print("\n### Table 5: the prototypes per call (ms, median of 30 calls)\n")
    print(
        "| problem | rows x P x outputs | G's product: GEMM -> SYRK | Jacobian: new array -> "
        "kept buffer | evidence's trace: pinv (was) -> pivoted Cholesky + potri (is) "
        "| trial: loss and gradient (was) -> J alone (is) |"
    )
    print("|---" * 6 + "|")


# ----------------------------------------------------------------- verdicts


def verdicts(table_1, table_2):
    print("\n### Targets\n")
    parts = []
    for row in table_1:
        if row["problem"].classification:
            continue
        k, sec = row["k"], row["seconds"]
        if k["lm"] is None:
            parts.append(f"{row['problem'].name} not reached (missed)")
            continue
        ratio = sec["lbfgs"] / sec["lm"]
        verdict = "met" if ratio >= SPEED_TARGET else f"missed by {SPEED_TARGET / ratio:.2f}x"
        parts.append(f"{row['problem'].name} {ratio:.2f}x ({verdict})")
    print(f"- lm >= {SPEED_TARGET:g}x sooner to L-BFGS's loss (regressions): " + "; ".join(parts))
    parts = []
    for row in table_2:
        diff = row["scores"]["evidence"] - row["scores"]["grid"]
        ratio = row["seconds"]["grid"] / row["seconds"]["evidence"]
        misses = ([] if diff >= -SCORE_TARGET else [f"score {diff:+.4f}"]) + (
            [] if ratio >= SPEED_TARGET else [f"speed {ratio:.1f}x"]
        )
        verdict = "missed: " + ", ".join(misses) if misses else "met"
        parts.append(f"{row['problem'].name} {diff:+.4f}, {ratio:.1f}x ({verdict})")
    print(
        f"- evidence within {SCORE_TARGET:g} of the grid's test score and >= "
        f"{SPEED_TARGET:g}x sooner: " + "; ".join(parts)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per method (median)")
    parser.add_argument("--alpha", type=float, default=1e-3, help="alpha of table 1's fits")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 200 its")
    args = parser.parse_args()
    repeats, budget = (1, 200) if args.quick else (args.repeats, 2000)
    print("## bench_lm\n")
    print("\n".join(machine_description()))
    all_problems = list(problems())

    load_before = os.getloadavg()[0]
    table_1 = [time_to_loss(p, args.alpha, budget, repeats) for p in all_problems]
    print_table_1(table_1, args.alpha, budget, repeats, load_before)

    load_before = os.getloadavg()[0]
    table_2 = [evidence_vs_grid(p, repeats, args.quick) for p in all_problems]
    print_table_2(table_2, repeats, load_before)

    load_before = os.getloadavg()[0]
    print_table_3_head()
    lm_fits = []  # (label, factory, X, y, table 1's L-BFGS seconds or table 2's grid seconds)
    for row in table_1:
        p, k = row["problem"], row["k"]
        if k["lm"] is None:
            continue

        def factory(p=p, k=k):
            return make(p, solver="lm", alpha=args.alpha, max_iter=k["lm"], tol=0)

        lbfgs = row["seconds"].get("lbfgs")
        lm_fits.append((f"{p.name}, lm", p, factory, *all_rows(p), lbfgs, False))
        lbfgs_ms = 1e3 * lbfgs / k["lbfgs"] if k["lbfgs"] else None
        profile_row(f"{p.name}, lm", p, factory(), *all_rows(p), lbfgs_ms)
    for row in table_2:
        p = row["problem"]
        label = f"{p.name}, lm + evidence"
        grid = row["seconds"]["grid"]
        lm_fits.append((label, p, row["factory"], *row["data"], grid, True))
        profile_row(label, p, row["factory"](), *row["data"], None)
    print(f"\n{load_line(load_before)}.")

    load_before = os.getloadavg()[0]
    print_table_4_head(repeats)
    for label, _, factory, X, y, reference, _ in lm_fits:
        prototypes_row(label, factory, X, y, repeats, reference)
    print(f"\n{load_line(load_before)}.")

    print_table_5_head()
    for p in all_problems:
        per_call_row(p, args.alpha)
    verdicts(table_1, table_2)
    print(f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
