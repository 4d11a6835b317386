"""
Levenberg-Marquardt and the evidence: MATLAB's trainlm and trainbr
==================================================================

MATLAB's ``fitnet`` is a network of 10 tanh units trained by ``trainlm``
(Levenberg-Marquardt), or by ``trainbr`` when the weight penalty should be
chosen from the data (MacKay's evidence). In skmlp these are
``solver="lm"`` and ``solver="lm", alpha="evidence"``. This example fits a
noisy curve with both and with L-BFGS, and a 3-class problem (the wine
data) with Levenberg-Marquardt and L-BFGS. A small scikit-learn callback
timestamps each iteration, so the loss curves are drawn against iterations
and against seconds. See :ref:`lm` for when Levenberg-Marquardt pays off.
The figures open in windows; with a folder as the first argument they are
saved there as PNG files instead.
"""

# %%
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier, BackpropMLPRegressor

out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
figures = {}


class IterationTimer:
    """A scikit-learn fit callback: the time at the end of each iteration."""

    def setup(self, estimator, context):
        self.start, self.times = time.perf_counter(), []

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.task_name == "iteration":
            self.times.append(time.perf_counter() - self.start)


def timed_fit(estimator, X, y):
    """Fit with an IterationTimer; returns the seconds at each iteration's end.

    The estimator is fitted twice (the same fit: same initial weights) and
    the second fit is timed: a first fit pays one-time costs (loading
    routines, warming caches) that would shift its curve.
    """
    estimator.fit(X, y)
    timer = IterationTimer()
    estimator.set_callbacks(timer)
    estimator.fit(X, y)
    return np.array(timer.times[: estimator.n_iter_])


# %%
# A noisy curve, fitnet's 10 tanh units
# -------------------------------------
#
# 200 points of ``sin(2x)`` with noise of standard deviation 0.2. Three fits
# from the same initial weights: Levenberg-Marquardt and L-BFGS on the same
# J with a tiny penalty (``alpha=1e-3``: trainlm has none), and
# Levenberg-Marquardt with the penalty chosen by the evidence (trainbr). The
# error against the noise-free curve tells how much of the noise each fit
# learned.
rng = np.random.RandomState(0)
x = np.sort(rng.uniform(-3, 3, 200))
y = np.sin(2 * x) + 0.2 * rng.normal(size=x.size)
X = x[:, None]
grid = np.linspace(-3, 3, 400)

fits = {
    "lm, alpha=1e-3 (trainlm)": BackpropMLPRegressor(
        (10,), "tanh", solver="lm", alpha=1e-3, max_iter=1000, random_state=0
    ),
    "lm, alpha='evidence' (trainbr)": BackpropMLPRegressor(
        (10,), "tanh", solver="lm", alpha="evidence", max_iter=1000, random_state=0
    ),
    "lbfgs, alpha=1e-3": BackpropMLPRegressor(
        (10,), "tanh", solver="lbfgs", alpha=1e-3, max_iter=5000, random_state=0
    ),
}
times = {}
for name, reg in fits.items():
    times[name] = timed_fit(reg, X, y)
    error = np.sqrt(np.mean((reg.predict(grid[:, None]) - np.sin(2 * grid)) ** 2))
    print(
        f"{name:>31}: {reg.n_iter_:4d} iterations, {times[name][-1]:.3f} s, "
        f"J = {reg.loss_:.5f}, alpha_ = {reg.alpha_:.3g}, "
        f"RMS error against sin(2x) = {error:.4f}"
    )
evidence = fits["lm, alpha='evidence' (trainbr)"]
print(
    f"the evidence: alpha_ = {evidence.alpha_:.4f}, "
    f"{evidence.effective_n_params_:.1f} effective weights of 20"
)

# %%
# The fits, and the noise-free curve they estimate.
fig, ax = plt.subplots(figsize=(11, 4.2))
ax.plot(x, y, ".", color="0.6", markersize=4, label="data")
ax.plot(grid, np.sin(2 * grid), "k--", linewidth=1, label="sin(2x)")
for name, reg in fits.items():
    ax.plot(grid, reg.predict(grid[:, None]), label=name)
ax.set(xlabel="x", ylabel="y", title="a noisy sin(2x): the fits")
ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
fig.tight_layout()
figures["lm_curve_fits"] = fig

# %%
# Their loss curves, against iterations and against seconds. The curves of
# the two fits with ``alpha=1e-3`` are the same J and compare directly:
# Levenberg-Marquardt takes far fewer iterations, each much dearer (a dense
# Gauss-Newton matrix and a Cholesky solve). With ``alpha="evidence"`` the
# loss curve is not one function's: each point is J under the penalty in
# force when that step was taken, and the penalty changes after every step
# (it starts from 0), so the curve rises when alpha does.
fig, (by_iter, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
for name, reg in fits.items():
    by_iter.loglog(range(1, reg.n_iter_ + 1), reg.loss_curve_, label=name)
    by_time.loglog(times[name], reg.loss_curve_, label=name)
by_iter.set(xlabel="iteration", ylabel="J (training)", title="sin(2x): per iteration")
by_time.set(xlabel="seconds", title="sin(2x): per wall-clock second")
by_time.legend(fontsize=8)
fig.tight_layout()
figures["lm_curve_loss"] = fig

# %%
# A classifier: the wine data, 10 hidden units
# --------------------------------------------
#
# 13 features, 3 classes, 13-10-3 (173 parameters), the default outputs
# (one sigmoid per class) and the default penalty (``alpha=1``). For
# cross-entropy Levenberg-Marquardt uses the generalized Gauss-Newton matrix
# ``J^T H_out J``.
X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

classifiers = {
    solver: BackpropMLPClassifier((10,), "tanh", solver=solver, max_iter=500, random_state=0)
    for solver in ("lm", "lbfgs")
}
fig, (by_iter, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
for solver, clf in classifiers.items():
    seconds = timed_fit(clf, X_train, y_train)
    by_iter.semilogy(range(1, clf.n_iter_ + 1), clf.loss_curve_, label=solver)
    by_time.semilogy(seconds, clf.loss_curve_, label=solver)
    print(
        f"wine, {solver:>5}: {clf.n_iter_:3d} iterations, {clf.n_fun_:4d} evaluations, "
        f"{seconds[-1]:.3f} s, J = {clf.loss_:.6f}, "
        f"test accuracy {clf.score(X_test, y_test):.3f}"
    )
by_iter.set(xlabel="iteration", ylabel="J (training)", title="wine: per iteration")
by_time.set(xlabel="seconds", title="wine: per wall-clock second")
by_time.legend()
fig.tight_layout()
figures["lm_wine_loss"] = fig

# %%
# On the wine data Levenberg-Marquardt needs a few iterations fewer, but
# each costs several L-BFGS iterations: it makes about three evaluations per
# iteration (the Gauss-Newton matrix, then one trial step rejected for every
# one taken under trainlm's schedule of mu), and the matrix grows as the
# square of the number of parameters (173 here, 31 for the curve, where
# Levenberg-Marquardt was the faster). ``benchmarks/bench_lm.py`` measures
# where the time goes.

# %%
# The figures open in windows. Given a folder as the first argument, or where
# matplotlib cannot show them (no display), they are saved as PNG files.
if out is None and matplotlib.get_backend().lower() != "agg":
    plt.show()
else:
    out = out or Path(tempfile.gettempdir(), "skmlp-examples")
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
    print(f"saved {', '.join(figures)} as PNG files in {out}")
