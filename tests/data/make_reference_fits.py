"""Regenerate reference_fits.npz: 20-iteration fits of the README's configurations.

Run once with the engine before the kernel/executor split (main at b13df98):

    PYTHONPATH=. python tests/data/make_reference_fits.py

``tests/test_reference_fits.py`` checks that today's code ends within 1e-9
relative of these coefs, so a refactor of the engine cannot change a fit.
"""

import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skmlp import BackpropMLPClassifier

PATH = Path(__file__).with_name("reference_fits.npz")


def dataset(n_classes=3, n_samples=120, n_features=6, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.randint(n_classes, size=n_samples)
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X, y


def sparse_dataset():
    X, y = dataset()
    X[np.abs(X) < 1.0] = 0.0
    return sp.csr_matrix(X), y


def weights():
    return np.random.RandomState(1).uniform(0.1, 3.0, size=120)


SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]

# name -> (estimator parameters, data maker, sample weights?)
CONFIGS = {
    "default": ({}, dataset, False),
    "binary": ({}, lambda: dataset(n_classes=2), False),
    "softmax": ({"out_activation": "softmax"}, dataset, False),
    "tanh_two_layers": ({"hidden_layer_sizes": (8, 5), "activation": "tanh"}, dataset, False),
    "relu": ({"hidden_layer_sizes": (10,), "activation": "relu"}, dataset, False),
    "identity": ({"activation": "identity"}, dataset, False),
    "sparse": ({}, sparse_dataset, False),
    "sparse_softmax_chunks": (
        {"out_activation": "softmax", "batch_size": 17},
        sparse_dataset,
        False,
    ),
    "float32": ({}, lambda: (dataset()[0].astype(np.float32), dataset()[1]), False),
    "float32_softmax_chunks": (
        {"out_activation": "softmax", "batch_size": 32},
        lambda: (dataset()[0].astype(np.float32), dataset()[1]),
        False,
    ),
    "sample_weight": ({}, dataset, True),
    "batch_size": ({"batch_size": 7}, dataset, False),
    **{
        f"solver_{solver}": (
            {"solver": solver, "hidden_layer_sizes": (6,), "out_activation": "softmax"},
            dataset,
            True,
        )
        for solver in SOLVERS
    },
    "newton-cg_gauss-newton_tanh": (
        {"solver": "newton-cg", "curvature": "gauss-newton", "activation": "tanh"},
        dataset,
        False,
    ),
    "trust-ncg_sparse_chunks": ({"solver": "trust-ncg", "batch_size": 25}, sparse_dataset, False),
}


def fit(name):
    params, make_data, weighted = CONFIGS[name]
    X, y = make_data()
    clf = BackpropMLPClassifier(max_iter=20, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=weights() if weighted else None)
    return np.concatenate([c.ravel() for c in [*clf.coefs_, *clf.intercepts_]])


if __name__ == "__main__":
    np.savez_compressed(PATH, **{name: fit(name) for name in CONFIGS})
    print(f"wrote {len(CONFIGS)} fits to {PATH}")
