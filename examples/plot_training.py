"""
Watching a fit: loss curves, early stopping and class weights
=============================================================

Every solver records its loss after each iteration (``loss_curve_``); early
stopping scores a held-out split after each iteration and keeps the best
parameters; ``class_weight="balanced"`` trades majority-class accuracy for
minority-class recall. The three figures open in windows; with a folder
as the first argument they are saved there as PNG files instead.
"""

# %%
import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier

out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
figures = {}
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)

# %%
# Loss curves: J after each iteration, for each solver (60 iterations each).
fig, ax = plt.subplots(figsize=(7, 4.5))
for solver in ["lbfgs", "tnc", "cg", "newton-cg", "trust-ncg", "trust-krylov"]:
    clf = BackpropMLPClassifier(solver=solver, max_iter=60, random_state=0)
    with warnings.catch_warnings():
        # 60 iterations is deliberately short of convergence.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    ax.semilogy(range(1, clf.n_iter_ + 1), clf.loss_curve_, label=solver)
    print(f"{solver:>12}: {clf.n_iter_} iterations, {clf.n_fun_} evaluations, J = {clf.loss_:.5f}")
ax.set(xlabel="iteration", ylabel="J (training)", title="Loss curves on the digits")
ax.legend()
figures["training_loss_curves"] = fig

# %%
# Early stopping: a wide network without penalty overfits a small noisy set;
# the validation accuracy peaks, and the parameters from the peak are kept.
Xo, yo = make_classification(400, 40, n_informative=5, flip_y=0.2, random_state=0)
clf = BackpropMLPClassifier(
    (100,), alpha=0.0, early_stopping=True, n_iter_no_change=15, max_iter=2000, random_state=0
).fit(Xo, yo)
best = clf.validation_scores_.index(clf.best_validation_score_) + 1
print(
    f"early stopping after {clf.n_iter_} iterations; best validation accuracy "
    f"{clf.best_validation_score_:.3f} at iteration {best}"
)
fig, ax1 = plt.subplots(figsize=(7, 4.5))
ax1.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_, color="C0", label="training J")
ax1.set(xlabel="iteration", ylabel="training J")
ax2 = ax1.twinx()
ax2.plot(range(1, clf.n_iter_ + 1), clf.validation_scores_, color="C1", label="validation")
ax2.axvline(best, color="C1", linestyle=":")
ax2.set_ylabel("validation accuracy")
ax1.set_title("Early stopping keeps the parameters of the best validation score")
figures["training_early_stopping"] = fig

# %%
# Class weights on an imbalanced problem (5% positives).
Xi, yi = make_classification(
    2000, 8, weights=[0.95, 0.05], flip_y=0.02, class_sep=0.7, random_state=2
)
X_train, X_test, y_train, y_test = train_test_split(Xi, yi, stratify=yi, random_state=0)
recalls = {}
for class_weight in [None, "balanced"]:
    clf = BackpropMLPClassifier((10,), class_weight=class_weight, max_iter=1000, random_state=0)
    clf.fit(X_train, y_train)
    y_pred = clf.predict(X_test)
    recall = recalls[str(class_weight)] = recall_score(y_test, y_pred, average=None)
    print(f"class_weight={class_weight!s:>8}: recall per class {recall.round(3)}")
fig, ax = plt.subplots(figsize=(6, 4))
for i, recall in enumerate(recalls.values()):
    ax.bar([i - 0.2, i + 0.2], recall, width=0.4, color=["C0", "C3"])
ax.set_xticks(range(len(recalls)), [f"class_weight={k}" for k in recalls])
ax.set(ylabel="recall (blue: majority, red: minority)", ylim=(0, 1.05))
ax.set_title("class_weight='balanced' raises minority recall")
figures["training_class_weight"] = fig

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
