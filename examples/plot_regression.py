"""
Regression: BackpropMLPRegressor on the Friedman #1 problem
===========================================================

:class:`skmlp.BackpropMLPRegressor` is the course's network with an identity
output unit and half the squared error as its loss. This example fits it in
a Pipeline with a ``StandardScaler`` on scikit-learn's Friedman #1 problem
(generated, nothing downloaded), plots its predictions against the true
values of held-out rows and its training loss, and fits
``MLPRegressor(solver="lbfgs")`` with the same network and ``alpha`` for
comparison. The figures open in windows; with a folder as the first
argument they are saved there as PNG files instead.
"""

# %%
# Data: ``y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise``
# from ten uniform features, five of which play no part; the noise has
# standard deviation 1, so no model explains more than about 96% of y's
# variance on new rows.
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from sklearn.base import clone
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skmlp import BackpropMLPRegressor
from skmlp.plotting import LossCurveDisplay

out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
figures = {}
X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
print(f"{len(y_train)} training rows, {len(y_test)} test rows, {X.shape[1]} features")

# %%
# The course's network: 25 logistic hidden units and L-BFGS. ``alpha=3``
# (the course's lambda) converges in under 1000 iterations at the default
# ``tol=1e-4``; ``max_iter=3000`` leaves room, so no ConvergenceWarning.
reg = make_pipeline(
    StandardScaler(),
    BackpropMLPRegressor(hidden_layer_sizes=(25,), alpha=3.0, max_iter=3000, random_state=0),
)
start = time.perf_counter()
reg.fit(X_train, y_train)
ours_seconds = time.perf_counter() - start
mlp = reg[-1]
print(f"BackpropMLPRegressor: {mlp.n_iter_} iterations, J = {mlp.loss_:.5f}")
print(f"test R^2: {reg.score(X_test, y_test):.4f}")

# %%
# Predicted against true values on the test rows: the points would lie on
# the diagonal for a perfect model; the noise alone keeps them about 1 away.
y_pred = reg.predict(X_test)
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(y_test, y_pred, s=12, alpha=0.6)
lims = [min(y_test.min(), y_pred.min()), max(y_test.max(), y_pred.max())]
ax.plot(lims, lims, color="black", linewidth=1, label="predicted = true")
ax.set(xlabel="true y", ylabel="predicted y", aspect="equal")
ax.set_title(f"Test rows: $R^2$ = {reg.score(X_test, y_test):.3f}")
ax.legend(loc="upper left")
figures["regression_predictions"] = fig

# %%
# MLPRegressor with the same network and ``alpha``. With one output both
# minimize the same J, so its ``loss_`` compares with ours; they start from
# different initial weights and stop by different rules (its L-BFGS also
# stops once J falls by less than a relative 2.2e-9 per iteration, ours only
# by ``tol`` on the gradient), hence different iteration counts: compare
# the time per iteration. Its default ``max_iter=200`` is too few here.
# MLPRegressor runs twice: with BLAS's default threads, and under
# ``threadpool_limits(1)`` (skmlp limits BLAS to one thread during its fits,
# see :ref:`performance`); on a machine whose cores are busy, the first is
# several times slower. The times are this run's.
sk = make_pipeline(
    StandardScaler(),
    MLPRegressor(
        hidden_layer_sizes=(25,),
        activation="logistic",
        solver="lbfgs",
        alpha=3.0,
        max_iter=3000,
        random_state=0,
    ),
)
start = time.perf_counter()
sk.fit(X_train, y_train)
sk_seconds = time.perf_counter() - start
with threadpool_limits(1):
    start = time.perf_counter()
    sk1 = clone(sk).fit(X_train, y_train)
    sk1_seconds = time.perf_counter() - start
print("                         iterations  seconds  ms/iteration  final J   test R^2")
for name, model, seconds in [
    ("BackpropMLPRegressor", reg, ours_seconds),
    ("MLPRegressor(lbfgs)", sk, sk_seconds),
    ("  same, 1 BLAS thread", sk1, sk1_seconds),
]:
    last = model[-1]
    print(
        f"{name:<24} {last.n_iter_:>10}  {seconds:7.2f}  {1e3 * seconds / last.n_iter_:12.2f}"
        f"  {last.loss_:.5f}  {model.score(X_test, y_test):.4f}"
    )

# %%
# The training loss after each iteration, with MLPRegressor's final J for
# reference (it keeps no ``loss_curve_`` for L-BFGS). Both axes are
# logarithmic: J falls steeply in the first 50 iterations, then the fit
# refines it for hundreds more.
fig, ax = plt.subplots(figsize=(7, 4.5))
LossCurveDisplay.from_estimator(reg, ax=ax, name="BackpropMLPRegressor")
ax.axhline(sk[-1].loss_, color="C1", linestyle="--", label="MLPRegressor's final J")
ax.set(xscale="log", yscale="log", xlabel="iteration (log scale)", ylabel="J (log scale)")
ax.set_title("Training loss J of the Friedman #1 fit")
ax.legend()
figures["regression_loss_curve"] = fig

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
