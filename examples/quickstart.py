"""
Quickstart: the backpropagation network on scikit-learn's digits
================================================================

Standardize the 8x8 digit images, pick the course's lambda (``alpha``) by
grid search, cross-validate the chosen pipeline and report held-out accuracy.
It prints a line as each step starts; the whole run takes about 15-20
seconds on two cores.
"""

# %%
# Data: 1797 8x8 images of the digits 0-9, a held-out quarter for the end.
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
print(f"scikit-learn's digits: {len(y_train)} training and {len(y_test)} test images, 8x8")

# %%
# A pipeline and a grid search over alpha, the course's lambda, on two
# processes; ``verbose=1`` makes it say how many fits it runs.
# max_iter=1000: at the default tol=1e-4, L-BFGS needs about 70-200 iterations here.
pipe = make_pipeline(StandardScaler(), BackpropMLPClassifier(max_iter=1000, random_state=0))
grid = GridSearchCV(
    pipe,
    {"backpropmlpclassifier__alpha": [0.1, 0.3, 1.0, 3.0, 10.0]},
    cv=5,
    n_jobs=2,
    verbose=1,
)
print("Grid search over alpha (each fit is a StandardScaler and a 64-25-10 network):")
start = time.perf_counter()
grid.fit(X_train, y_train)
print(f"done in {time.perf_counter() - start:.1f} s")

print("alpha   mean CV accuracy  (std)")
for params, mean, std in zip(
    grid.cv_results_["params"],
    grid.cv_results_["mean_test_score"],
    grid.cv_results_["std_test_score"],
):
    print(f"{params['backpropmlpclassifier__alpha']:5g}   {mean:.4f}           ({std:.4f})")
best_alpha = grid.best_params_["backpropmlpclassifier__alpha"]
print(f"best alpha: {best_alpha:g}")

# %%
# Cross-validate the chosen model, then score it once on the held-out data.
print("Cross-validating the chosen pipeline: 5 more fits")
scores = cross_val_score(grid.best_estimator_, X_train, y_train, cv=5)
print(f"cross_val_score: {scores.round(4)} mean {scores.mean():.4f}")
print(f"test accuracy: {grid.score(X_test, y_test):.4f}")
