"""Every solver side by side: loss against wall time, evaluations, Hv products.

Usage::

    python benchmarks/bench_solvers.py [--budget SECONDS] [--repeats 5]

On the standardized digits (64-25-10) and on make_classification(5000, 400,
10 classes) (400-25-10), alpha=1, logistic units, every solver fits from the
same initial weights until it converges or a wall-time budget runs out (a
scikit-learn callback timestamps each iteration and asks to stop at the
budget). Table 1: per solver, the final loss, time, iterations, objective
evaluations and Hessian-vector products, and the loss reached at equal wall
time (fractions of the budget): whether a Newton-type solver beats L-BFGS at
equal time. Table 2: the cost of one Hessian-vector product (exact and
Gauss-Newton) over one gradient evaluation at the same parameters, median of
`--repeats` timings, products reusing the stored forward pass as they do
inside a Newton iteration. Only numpy, scipy, scikit-learn, threadpoolctl.
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from _machine import machine_description
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier
from skmlp._layout import Layout
from skmlp._problem import make_objective

SOLVERS = ["lbfgs", "tnc", "cg", "newton-cg", "trust-ncg", "trust-krylov"]


class Budget:
    """A scikit-learn fit callback: timestamps iterations, stops at the budget."""

    def __init__(self, seconds):
        self.seconds = seconds

    def setup(self, estimator, context):
        self.start, self.times = time.perf_counter(), []

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.task_name != "iteration":
            return False
        self.times.append(time.perf_counter() - self.start)
        return self.times[-1] > self.seconds


def problems():
    X, y = load_digits(return_X_y=True)
    yield "digits 1797x64", StandardScaler().fit_transform(X), y
    X, y = make_classification(5000, 400, n_informative=40, n_classes=10, random_state=0)
    yield "5000x400", StandardScaler().fit_transform(X), y


def loss_at(times, losses, t):
    """The loss of the last iteration completed by time t (nan before any)."""
    done = [loss for when, loss in zip(times, losses) if when <= t]
    return done[-1] if done else float("nan")


def solver_table(name, X, y, budget):
    fractions = [0.1, 0.25, 0.5, 1.0]
    print(f"\n### {name}: every solver, budget {budget:g} s\n")
    head = "| solver | final J | seconds | iterations | evaluations | Hv products |"
    head += "".join(f" J at {f:g}x |" for f in fractions)
    print(head)
    print("|---" * (6 + len(fractions)) + "|")
    for solver in SOLVERS:
        timer = Budget(budget)
        clf = BackpropMLPClassifier(solver=solver, max_iter=100_000, random_state=0)
        clf.set_callbacks(timer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        times = timer.times[: clf.n_iter_]
        at = [loss_at(times, clf.loss_curve_, f * budget) for f in fractions]
        print(
            f"| {solver} | {clf.loss_:.6f} | {times[-1]:.2f} | {clf.n_iter_} | "
            f"{clf.n_fun_} | {clf.n_hessp_} |" + "".join(f" {v:.6f} |" for v in at)
        )


def hessp_cost(name, X, y, repeats):
    Y = np.eye(10)[y]
    layout = Layout((X.shape[1], 25, 10))
    rng = np.random.RandomState(0)
    theta = layout.init(rng)
    vectors = rng.normal(size=(repeats, layout.n_params))
    print(f"\n### {name}: one Hv product over one gradient evaluation\n")
    print("| curvature | gradient ms | Hv ms | ratio |")
    print("|---|---|---|---|")
    for curvature in ["exact", "gauss-newton"]:
        with make_objective(layout, X, Y, curvature=curvature) as objective:
            grad_times, hv_times = [], []
            for v in vectors:
                start = time.perf_counter()
                objective.loss_and_grad(theta)
                grad_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                objective.hessp(theta, v)
                hv_times.append(time.perf_counter() - start)
        grad, hv = statistics.median(grad_times), statistics.median(hv_times)
        print(f"| {curvature} | {1e3 * grad:.2f} | {1e3 * hv:.2f} | {hv / grad:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per fit")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print("\n".join(machine_description()))
    print(f"- wall-time budget {args.budget:g} s per fit")
    for name, X, y in problems():
        solver_table(name, X, y, args.budget)
        hessp_cost(name, X, y, args.repeats)


if __name__ == "__main__":
    main()
