"""BackpropMLPRegressor on a Dask cluster: the same chunk code as in memory."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skmlp import BackpropMLPRegressor  # noqa: E402
from skmlp._rows import canonical_rows  # noqa: E402

pytestmark = pytest.mark.slow  # a cluster of worker processes

CHUNK = 50


@pytest.fixture(scope="module")
def data():
    """Rows in the order the in-memory fit's canonical rows give them.

    The in-memory fit sorts its rows (skmlp._rows); the cluster keeps its
    chunks' rows as given. In that order both add the same rows in the same
    order, which the comparisons at 1e-10 need.
    """
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 5))
    Y = np.column_stack([np.tanh(X[:, 0] - X[:, 1]), X[:, 2] ** 2 / 4])
    Y += 0.05 * rng.normal(size=Y.shape)
    w = rng.uniform(0.5, 2.0, size=len(Y))
    order = canonical_rows(X, Y, w)[3]
    return X[order], Y[order], w[order]


def fitted(X, Y, w, **params):
    reg = BackpropMLPRegressor((6,), alpha=0.1, max_iter=25, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reg.fit(X, Y, sample_weight=w)


@pytest.mark.parametrize(
    "params", [{}, {"solver": "newton-cg", "activation": "tanh"}, {"loss": "poisson"}]
)
def test_cluster_fit_equals_in_memory_fit(client, data, params):
    X, Y, w = data
    if params.get("loss") == "poisson":
        Y = np.abs(Y)
    local = fitted(X, Y, w, batch_size=CHUNK, **params)
    remote = fitted(
        da.from_array(X, CHUNK), da.from_array(Y, CHUNK), da.from_array(w, CHUNK), **params
    )
    assert remote.n_iter_ == local.n_iter_
    for a, b in zip([*remote.coefs_, *remote.intercepts_], [*local.coefs_, *local.intercepts_]):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(remote.loss_curve_, local.loss_curve_, rtol=1e-12)
    assert remote.n_outputs_ == 2 and remote.out_activation_ == local.out_activation_


def test_lazy_predict_and_score_equal_in_memory(client, data):
    X, Y, w = data
    reg = fitted(X, Y[:, 0], w)
    Xd = da.from_array(X, CHUNK)
    lazy = reg.predict(Xd)
    assert isinstance(lazy, da.Array)
    # One output: the last product is a matrix-vector product, which OpenBLAS
    # rounds by a row's place in the block (50-row blocks here, one 300-row
    # block in memory), whatever the layout: a few ulps apart at most.
    assert_allclose(lazy.compute(), reg.predict(X), rtol=4 * np.finfo(float).eps, atol=0)
    yd, wd = da.from_array(Y[:, 0], CHUNK), da.from_array(w, CHUNK)
    assert reg.score(Xd, yd, wd) == pytest.approx(reg.score(X, Y[:, 0], w), rel=1e-10)
    two = fitted(X, Y, None)
    assert two.score(Xd, da.from_array(Y, CHUNK)) == pytest.approx(two.score(X, Y), rel=1e-10)


def test_early_stopping_on_the_cluster_scores_r2(client, data):
    X, Y, w = data
    reg = fitted(
        da.from_array(X, CHUNK),
        da.from_array(Y, CHUNK),
        da.from_array(w, CHUNK),
        early_stopping=True,
        n_iter_no_change=np.inf,
    )
    assert len(reg.validation_scores_) == reg.n_iter_ == 25
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert -1 < reg.best_validation_score_ <= 1


def test_poisson_refuses_negative_targets_on_the_cluster(client, data):
    X, Y, _ = data
    with pytest.raises(ValueError, match="non-negative targets"):
        BackpropMLPRegressor(loss="poisson").fit(da.from_array(X, CHUNK), da.from_array(Y, CHUNK))


def test_cluster_lm_fit_equals_in_memory_fit(client, data):
    X, Y, w = data
    local = fitted(X, Y, w, batch_size=CHUNK, solver="lm")
    remote = fitted(
        da.from_array(X, CHUNK), da.from_array(Y, CHUNK), da.from_array(w, CHUNK), solver="lm"
    )
    assert remote.n_iter_ == local.n_iter_
    for a, b in zip([*remote.coefs_, *remote.intercepts_], [*local.coefs_, *local.intercepts_]):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_allclose(remote.loss_curve_, local.loss_curve_, rtol=1e-12)
