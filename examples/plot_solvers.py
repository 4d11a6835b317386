"""
Solvers compared: loss against iterations and against wall time
===============================================================

Every solver of :class:`skmlp.BackpropMLPClassifier` fits the same network
from the same initial weights, on scikit-learn's digits and on a 5000 x 400
problem the size of the course's. A small scikit-learn callback timestamps
each iteration, so each fit gives J against iterations (``loss_curve_``) and
against seconds. The Newton-type solvers use exact Hessian-vector products.
The figures open in windows; with a folder as the first argument they are
saved there as PNG files instead. ``--quick`` runs fewer iterations.
"""

# %%
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier

SOLVERS = ["lbfgs", "tnc", "cg", "newton-cg", "trust-ncg", "trust-krylov"]
args = [a for a in sys.argv[1:] if a != "--quick"]
quick = "--quick" in sys.argv
out = Path(args[0]) if args else None
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


# %%
X_digits, y_digits = load_digits(return_X_y=True)
X_big, y_big = make_classification(5000, 400, n_informative=40, n_classes=10, random_state=0)
problems = {
    "digits": (StandardScaler().fit_transform(X_digits), y_digits, 150),
    "5000x400": (StandardScaler().fit_transform(X_big), y_big, 60),
}

for name, (X, y, max_iter) in problems.items():
    max_iter = max_iter // 5 if quick else max_iter
    fig, (by_iter, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    print(f"{name}: {X.shape[0]} x {X.shape[1]}, up to {max_iter} iterations")
    for solver in SOLVERS:
        timer = IterationTimer()
        clf = BackpropMLPClassifier(solver=solver, max_iter=max_iter, random_state=0)
        clf.set_callbacks(timer)
        with warnings.catch_warnings():
            # The budget is deliberately short of convergence for some solvers.
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        times = timer.times[: clf.n_iter_]
        by_iter.semilogy(range(1, clf.n_iter_ + 1), clf.loss_curve_, label=solver)
        by_time.semilogy(times, clf.loss_curve_, label=solver)
        print(
            f"  {solver:>12}: {clf.n_iter_:4d} iterations {times[-1]:7.2f} s "
            f"J = {clf.loss_:.6f} ({clf.n_fun_} evaluations, {clf.n_hessp_} Hv products)"
        )
    by_iter.set(xlabel="iteration", ylabel="J (training)", title=f"{name}: per iteration")
    by_time.set(xlabel="seconds", title=f"{name}: per wall-clock second")
    by_time.legend()
    fig.tight_layout()
    figures[f"solvers_{name}"] = fig

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
