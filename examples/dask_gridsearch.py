"""
Grid search on a Dask cluster
=============================

scikit-learn parallelizes ``GridSearchCV`` with joblib, and joblib's ``"dask"``
backend sends each (candidate, fold) fit to the workers of a Dask cluster.
``BackpropMLPClassifier`` needs nothing special for it: the estimators are
pickled to the workers, fitted there and their scores sent back. Here the
cluster is a :class:`~dask.distributed.LocalCluster` of worker processes on
this machine; pointing the :class:`~dask.distributed.Client` at a real
scheduler's address is the only change for a cluster of machines.

Needs the ``dask`` extra (``pip install -e ".[dask]"`` in skmlp's folder).
Run with ``--small`` for a quick smaller grid on a subset of the data.
"""

# %%
# Data: scikit-learn's 1797 8x8 digit images, a held-out quarter for the end.
import sys

import joblib
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier

small = "--small" in sys.argv[1:]

X, y = load_digits(return_X_y=True)
if small:
    X, y = X[:600], y[:600]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# The pipeline and the grid: the course's lambda (``alpha``) and the width of
# the hidden layer.
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("mlp", BackpropMLPClassifier(max_iter=1000, random_state=0)),
    ]
)
param_grid = {
    "mlp__alpha": [0.3, 3.0] if small else [0.1, 1.0, 10.0],
    "mlp__hidden_layer_sizes": [(10,), (25,)] if small else [(25,), (50,)],
}
grid = GridSearchCV(pipe, param_grid, cv=3)

# %%
# A local cluster of two single-threaded worker processes, reachable on the
# loopback interface only; its HTTP endpoints take a free port
# (``dashboard_address=None`` would still claim port 8787, and warn and move
# when another cluster holds it). Inside the
# ``parallel_backend("dask")`` block, joblib hands every fit to the cluster;
# ``with`` closes the client, then the cluster, even if the search fails.
# The worker processes import this script again, hence the ``__main__`` guard.
# Then the result: mean cross-validated accuracy of each candidate, the best
# one, and its accuracy on the held-out data.
if __name__ == "__main__":
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"Dask cluster: {len(cluster.workers)} workers at {cluster.scheduler_address}")
        with joblib.parallel_backend("dask"):
            grid.fit(X_train, y_train)

    print("alpha   hidden    mean CV accuracy  (std)")
    for params, mean, std in zip(
        grid.cv_results_["params"],
        grid.cv_results_["mean_test_score"],
        grid.cv_results_["std_test_score"],
    ):
        print(
            f"{params['mlp__alpha']:5g}   {params['mlp__hidden_layer_sizes']!s:8}  "
            f"{mean:.4f}            ({std:.4f})"
        )
    print(f"best parameters: {grid.best_params_}")
    print(f"test accuracy: {grid.score(X_test, y_test):.4f}")
