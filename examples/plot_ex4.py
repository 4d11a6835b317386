"""
The course's exercise 4: digits, the cost J, and backpropagation
=================================================================

Exercise 4 ("Neural Networks Learning") of Andrew Ng's Machine Learning
course, done with skmlp: load 5000 handwritten digits (20x20 pixels), show
100 of them, compute the cost J of the course's trained network with and
without regularization, check the gradient, then train a 400-25-10 network
by backpropagation and show its hidden units and its loss curve.

The digits and the trained network are the exercise's files
``ex4data1.mat`` and ``ex4weights.mat`` (they come with the course's
exercise materials, not with skmlp). Give their folder, or the path of
``ex4data1.mat``, as the first argument, or set ``SKMLP_EX4_DIR``::

    python examples/plot_ex4.py path/to/ex4

Without them it does the same on scikit-learn's 8x8 digits, and says so;
the course's trained weights only fit the 20x20 digits, so that part is
skipped then. The figures open in windows; ``--output-dir pictures`` saves
them as PNG files in ``pictures`` instead (so does a run without a display,
in a temporary folder it names).
"""

# %%
# The data
# --------
# The course's ``X`` holds one image per row with the pixels stored column by
# column (MATLAB order): ``transpose=True`` shows them upright. Its labels are
# 1..10, where 10 stands for the digit 0.
import argparse
import tempfile
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skmlp import BackpropMLPClassifier, check_gradients, pack
from skmlp.ex4 import (
    DATA_FILE,
    ENV_VAR,
    IMAGE_SHAPE,
    WEIGHTS_FILE,
    find_ex4_dir,
    load_ex4_data,
    load_ex4_weights,
)
from skmlp.plotting import plot_digit_grid, plot_hidden_units, plot_loss_curve

parser = argparse.ArgumentParser(description="The course's exercise 4, done with skmlp.")
parser.add_argument(
    "data",
    nargs="?",
    help=f"folder holding {DATA_FILE} and {WEIGHTS_FILE}, or the path of {DATA_FILE} "
    f"(default: ${ENV_VAR})",
)
parser.add_argument(
    "--output-dir", type=Path, help="save the figures there as PNG files instead of showing them"
)
args = parser.parse_args()
figures = {}

folder = find_ex4_dir(args.data)
# A path given on the command line must hold the data (a clear error if not);
# the environment variable may name a folder without them.
use_course_data = args.data is not None or (folder is not None and (folder / DATA_FILE).is_file())
if use_course_data:
    X, y = load_ex4_data(args.data if args.data is not None else folder)
    image_shape, transpose = IMAGE_SHAPE, True
    print(f"The course's digits from {folder}: X {X.shape}, labels {y.min()}..{y.max()}")
else:
    where = f"in {folder}" if folder is not None else f"({ENV_VAR} is not set)"
    print(
        f"{DATA_FILE} not found {where}: running on scikit-learn's 8x8 digits "
        "(load_digits) instead of the course's 20x20 digits."
    )
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target  # pixels 0..16 -> 0..1, like the course's
    image_shape, transpose = (8, 8), False
    print(f"scikit-learn's digits: X {X.shape}, labels {y.min()}..{y.max()}")

display = plot_digit_grid(X, image_shape, n=100, random_state=0, transpose=transpose)
display.ax_.set_title("100 random training digits")
figures["ex4_digits"] = display.figure_

# %%
# The given weights: cost J and training accuracy
# -----------------------------------------------
# ``from_thetas`` builds a fitted classifier from the course's Theta1, Theta2
# (bias column first); ``objective`` is J on given data with the estimator's
# alpha (the course's lambda). The course reports J = 0.287629, regularized
# J = 0.383770 (lambda = 1) and a training accuracy of 97.52%.
if not use_course_data:
    print(
        "Given weights: skipped. The course's trained Theta1, Theta2 "
        f"({WEIGHTS_FILE}) take 20x20 images; the 8x8 digits cannot use them."
    )
elif not (folder / WEIGHTS_FILE).is_file():
    print(f"Given weights: skipped, {WEIGHTS_FILE} not found in {folder}.")
else:
    given = BackpropMLPClassifier.from_thetas(
        load_ex4_weights(folder), classes=np.arange(1, 11), alpha=0
    )
    J = given.objective(X, y)
    J_regularized = given.set_params(alpha=1).objective(X, y)
    print(f"Given weights: J = {J:.6f} (course: 0.287629)")
    print(f"Given weights: regularized J = {J_regularized:.6f} (course: 0.383770)")
    print(f"Given weights: training accuracy {given.score(X, y):.2%} (course: 97.52%)")

# %%
# Gradient checking
# -----------------
# Before training, the course checks the backpropagated gradient against
# central differences of J on a small network and a few examples;
# ``check_gradients`` does it for any configuration. A correct gradient gives
# a relative difference below 1e-9.
rows = np.random.RandomState(0).choice(X.shape[0], size=min(50, X.shape[0]), replace=False)
small = BackpropMLPClassifier(hidden_layer_sizes=(5,), alpha=3.0, random_state=0)
check = check_gradients(small, X[rows], y[rows])
print(
    f"Gradient check on {len(rows)} examples, {check.analytic.size} parameters: "
    f"relative difference {check.relative_difference:.1e}"
)

# %%
# Training a network by backpropagation
# -------------------------------------
# One hidden layer of 25 logistic units, lambda = 1, L-BFGS. The course stops
# after 50 iterations (about 95.3% training accuracy, depending on the random
# start); so does the first fit here. Stopping at the budget raises a
# ConvergenceWarning, expected here: it is caught on purpose and reported.


def fit_with_budget(max_iter):
    """Fit a 25-hidden-unit network for at most `max_iter` iterations."""
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(25,), alpha=1.0, max_iter=max_iter, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    stopped = (
        "stopped at the iteration budget (ConvergenceWarning expected and caught)"
        if clf.n_iter_ >= max_iter
        else "converged"
    )
    print(
        f"max_iter={max_iter}: J = {clf.loss_:.6f}, training accuracy "
        f"{clf.score(X, y):.2%}; {stopped}"
    )
    return clf


short = fit_with_budget(50)
trained = fit_with_budget(200)

# The optimizer sees all weights unrolled into one vector, as the course's
# nn_params; pack() unrolls the course's Theta matrices into one too.
nn_params, shapes = pack(trained.thetas_)
print(f"{nn_params.size} parameters unrolled from Theta shapes {shapes}")

# %%
# What the hidden units look for, and the loss during training
# ------------------------------------------------------------
# Each hidden unit's 400 (or 64) incoming weights, shown as an image.
display = plot_hidden_units(trained, image_shape, transpose=transpose)
display.ax_.set_title("Incoming weights of the hidden units")
figures["ex4_hidden_units"] = display.figure_

# %%
# J after each iteration of the second fit (``loss_curve_``).
display = plot_loss_curve(trained)
figures["ex4_loss_curve"] = display.figure_

# %%
# The figures open in windows. Given ``--output-dir``, or where matplotlib
# cannot show them (no display), they are saved as PNG files.
out = args.output_dir
if out is None and matplotlib.get_backend().lower() != "agg":
    plt.show()
else:
    out = out or Path(tempfile.gettempdir(), "skmlp-examples")
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
    print(f"saved {', '.join(figures)} as PNG files in {out}")
