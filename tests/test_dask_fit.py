"""One model fitted on data spread over a Dask cluster (skmlp._dask).

All tests share one loopback LocalCluster of two single-threaded worker
processes; the tests that kill a worker run last.
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp
from _callbacks import StopAfter
from _helpers import parameters
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from threadpoolctl import threadpool_info, threadpool_limits

import skmlp
from skmlp import BackpropMLPClassifier, WorkerLostError
from skmlp._network import forward_logits
from skmlp._problem import build_problem
from skmlp._rows import canonical_rows, data_bytes
from skmlp._solvers import run_solver

# dask is an optional dependency (the "dask" extra): without it, skip.
pytest.importorskip("dask")
pytest.importorskip("distributed")

import dask
import dask.array as da
import dask.dataframe as dd
import pandas as pd

import skmlp._dask.problem as cluster_problem
from skmlp._dask import (
    ALIGNMENT,
    BLOCK_OFFSET,
    DATA_CONFIG,
    WORKERS_CONFIG,
    ChunkWorker,
    aligned_copy,
    canonical_csr,
)
from skmlp._dask.executor import WorkerLostError as RaisedOnTheCluster

pytestmark = [
    pytest.mark.slow,  # a cluster of worker processes
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

CHUNK = 100
SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]


def in_canonical_order(X, y):
    """X, y in the order canonical rows give them (skmlp._rows).

    The in-memory fit sorts its rows so; the cluster keeps its chunks' rows
    as given. Fed rows in that order, both sum the same rows in the same
    order, which the comparisons at 1e-10 need (solvers such as TNC amplify
    a reordering's rounding to 1e-3 in 30 iterations).
    """
    order = canonical_rows(X, LabelBinarizer().fit_transform(y))[3]
    return X[order], y[order]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=600, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    return in_canonical_order(X, y)


def small(**params):
    params = {"hidden_layer_sizes": (6,), "alpha": 0.1, "random_state": 0, **params}
    return BackpropMLPClassifier(**params)


def on_cluster(X, y=None, chunk=CHUNK):
    Xd = da.from_array(X, chunks=(chunk, X.shape[1]))
    return Xd if y is None else (Xd, da.from_array(y, chunks=chunk))


def assert_same_coefs(a, b, rtol=0.0):
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        if rtol:
            assert_allclose(ca, cb, rtol=rtol, atol=0)
        else:
            assert_array_equal(ca, cb)


def workers(client):
    return sorted(client.nthreads())


# ------------------------------------------------------------- the fit


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"out_activation": "softmax", "class_weight": "balanced"},
        {"activation": "tanh", "hidden_layer_sizes": (5, 4)},
    ],
)
def test_cluster_fit_equals_in_memory_fit(client, data, params):
    X, y = data
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    local = small(max_iter=30, batch_size=CHUNK, **params).fit(X, y, sample_weight=weights)
    Xd, yd = on_cluster(X, y)
    remote = small(max_iter=30, **params).fit(Xd, yd, sample_weight=da.from_array(weights, CHUNK))
    assert remote.n_iter_ == local.n_iter_ == 30
    assert_same_coefs(remote, local, rtol=1e-10)
    assert_allclose(remote.loss_curve_, local.loss_curve_, rtol=1e-12)
    assert_array_equal(remote.classes_, local.classes_)
    assert remote.n_features_in_ == 8


def test_cluster_objective_equals_in_memory_objective(client, data):
    """Per evaluation: J, dJ and H v agree with the in-memory engine."""
    X, y = data
    clf = small(solver="newton-cg")
    local = build_problem(small(solver="newton-cg", batch_size=CHUNK), X, y)
    Xd, yd = on_cluster(X, y)
    remote = build_problem(clf, Xd, yd, None)
    theta = local.theta0
    v = np.random.default_rng(1).standard_normal(theta.size)
    with local as lo, remote as ro:
        loss, grad = ro.loss_and_grad(theta)
        loss_ref, grad_ref = lo.loss_and_grad(theta)
        assert_allclose(loss, loss_ref, rtol=1e-12)
        assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-12 * np.abs(grad_ref).max())
        product, product_ref = ro.hessp(theta, v), lo.hessp(theta, v)
        assert_allclose(product, product_ref, rtol=1e-12, atol=1e-12 * np.abs(product_ref).max())


def test_rows_in_any_order_agree_per_evaluation(client, data):
    """The in-memory fit sorts its rows, the cluster keeps them: J and dJ agree to 1e-12."""
    X, y = data
    order = np.random.default_rng(5).permutation(len(y))
    X, y = X[order], y[order]
    weights = np.random.default_rng(6).uniform(0.5, 2.0, len(y))
    local = build_problem(small(batch_size=CHUNK), X, y, weights)
    Xd, yd = on_cluster(X, y)
    remote = build_problem(small(), Xd, yd, da.from_array(weights, CHUNK))
    theta = local.theta0
    with local as lo, remote as ro:
        for point in (theta, 3 * theta):
            loss, grad = ro.loss_and_grad(point)
            loss_ref, grad_ref = lo.loss_and_grad(point)
            assert_allclose(loss, loss_ref, rtol=1e-12)
            assert_allclose(grad, grad_ref, rtol=0, atol=1e-12 * np.abs(grad_ref).max())


def test_float32_chunks(client, data):
    X, y = data
    X32, y = in_canonical_order(X.astype(np.float32), y)  # float32 bits order otherwise
    local = small(max_iter=30, batch_size=CHUNK).fit(X32, y)
    remote = small(max_iter=30).fit(*on_cluster(X32, y))
    assert_same_coefs(remote, local, rtol=1e-10)


def _sparse_data(data):
    """The data with 70% of X's entries zero, as CSR, in canonical order."""
    X, y = data
    X = np.where(np.random.default_rng(3).random(X.shape) < 0.7, 0.0, X)
    X, y = in_canonical_order(X, y)
    return sp.csr_matrix(X), y


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_sparse_chunks_equal_the_in_memory_sparse_fit(client, data, solver):
    X, y = _sparse_data(data)
    local = small(solver=solver, max_iter=20, batch_size=CHUNK).fit(X, y)
    Xd = da.from_array(X, chunks=(CHUNK, X.shape[1]), asarray=False)
    remote = small(solver=solver, max_iter=20).fit(Xd, da.from_array(y, CHUNK))
    assert_same_coefs(remote, local, rtol=1e-10)
    # CSC chunks with duplicate and explicit zero entries: the same rows.
    messy = []
    for i in range(0, X.shape[0], CHUNK):
        block = X[i : i + CHUNK].tocoo()
        rows = np.concatenate([block.row, block.row[:5], [0]])
        cols = np.concatenate([block.col, block.col[:5], [1]])
        vals = np.concatenate([block.data, np.zeros(5), [0.0]])
        vals[:5] *= 0.5  # half here, half in the duplicate
        vals[len(block.data) : len(block.data) + 5] = block.data[:5] * 0.5
        messy.append(sp.csc_matrix((vals, (rows, cols)), shape=block.shape))
    Xm = da.concatenate([da.from_array(b, chunks=b.shape, asarray=False) for b in messy], axis=0)
    same = small(solver=solver, max_iter=20).fit(Xm, da.from_array(y, CHUNK))
    assert_same_coefs(same, local, rtol=1e-10)
    # All chunks on one worker, or alternating over two: the same bits.
    w0, w1 = workers(client)
    placed = []
    for placement in ([w0], [w1, w0]):
        with dask.config.set({WORKERS_CONFIG: placement}):
            placed.append(small(solver=solver, max_iter=20).fit(Xd, da.from_array(y, CHUNK)))
    assert_same_coefs(placed[0], placed[1])
    assert_same_coefs(placed[0], remote)


def test_canonical_csr_copies_only_what_it_must():
    X = sp.csr_matrix(np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]))
    assert np.shares_memory(canonical_csr(X).data, X.data)  # used in place, not copied
    messy = sp.csr_matrix(
        (np.array([1.0, 0.5, 0.5, -0.0]), np.array([2, 0, 0, 1]), np.array([0, 3, 4])),
        shape=(2, 3),
    )
    data = messy.data.copy()
    out = canonical_csr(messy)
    assert_array_equal(messy.data, data)  # the given chunk is never modified
    assert out.has_canonical_format and np.all(out.data)
    assert_array_equal(out.indices, [0, 2])  # sorted, the duplicate summed, -0.0 dropped
    assert_array_equal(out.data, [1.0, 1.0])
    assert_array_equal(out.indptr, [0, 2, 2])
    assert_array_equal(out.toarray(), messy.toarray())
    csc = canonical_csr(X.tocsc())
    assert csc.format == "csr" and isinstance(csc, sp.csr_matrix)
    assert_array_equal(csc.toarray(), X.toarray())


def test_sparse_chunks_in_place_streamed_and_predicted(client, data, monkeypatch):
    X, y = _sparse_data(data)
    Xd = da.from_array(X, chunks=(CHUNK, X.shape[1]), asarray=False)
    yd = da.from_array(y, CHUNK)
    clf = small(max_iter=20).fit(Xd.persist(), yd)
    with dask.config.set({DATA_CONFIG: "stream"}):
        streamed = small(max_iter=20).fit(Xd, yd)
    assert_same_coefs(streamed, clf)
    problem = build_problem(small(), Xd.persist(), yd, None)
    with problem as objective:
        stats = objective.executor.stats()
    nbytes = sum(data_bytes(X[i : i + CHUNK]) for i in range(0, X.shape[0], CHUNK))
    assert sum(s["resident_X_bytes"] for s in stats.values()) == nbytes
    # "auto" keeps sparse chunks in memory: dask's size of X is the dense one.
    monkeypatch.setattr(cluster_problem, "STREAM_MEMORY_SHARE", 0.0)
    problem = build_problem(small(), Xd, yd, None)
    with problem as objective:
        stats = objective.executor.stats()
    assert sum(s["resident_X_bytes"] for s in stats.values()) == nbytes
    for method in ("predict", "predict_proba", "decision_function"):
        lazy = getattr(clf, method)(Xd)
        assert isinstance(lazy, da.Array)
        assert_array_equal(lazy.compute(), getattr(clf, method)(X))
    assert clf.score(Xd, yd) == clf.score(X, y)


def test_independent_of_workers_and_placement(client, data):
    """All chunks on one worker, alternating over two, or swapped: the same model."""
    X, y = data
    Xd, yd = on_cluster(X, y)
    w0, w1 = workers(client)
    models = []
    for placement, n_actors in (([w0], 1), ([w0, w1], 2), ([w1, w0], 2)):
        with dask.config.set({WORKERS_CONFIG: placement}):
            problem = build_problem(small(solver="lbfgs"), Xd, yd, None)
            with problem as objective:
                holders = {h.address: h.chunks for h in objective.executor.holders}
            assert len(holders) == n_actors
            assert holders[placement[0]] == list(range(0, 6, len(placement)))
            models.append(small(max_iter=20).fit(Xd, yd))
    # All chunks loaded on one worker, then balanced: half move to the other.
    on_one = client.persist(Xd, workers=[w0])
    with build_problem(small(), on_one, yd, None) as objective:
        assert sorted(len(h.chunks) for h in objective.executor.holders) == [3, 3]
    models.append(small(max_iter=20).fit(on_one, yd))
    for other in models[1:]:
        assert_same_coefs(other, models[0])
        assert other.loss_curve_ == models[0].loss_curve_


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver(client, data, solver):
    X, y = data
    local = small(solver=solver, max_iter=5, batch_size=CHUNK).fit(X, y)
    remote = small(solver=solver, max_iter=5).fit(*on_cluster(X, y))
    assert remote.n_iter_ == local.n_iter_
    assert remote.n_hessp_ == local.n_hessp_
    assert_same_coefs(remote, local, rtol=1e-10)


def test_dataframe_with_string_labels(client, data):
    X, y = data
    names = [f"f{i}" for i in range(X.shape[1])]
    labels = np.array(["ant", "bee", "cat"], dtype=object)[y]
    frame = pd.DataFrame(X, columns=names).assign(label=labels)
    ddf = dd.from_pandas(frame, npartitions=6)
    local = small(max_iter=30, batch_size=CHUNK).fit(frame[names], frame["label"])
    remote = small(max_iter=30).fit(ddf[names], ddf["label"])
    assert_array_equal(remote.classes_, ["ant", "bee", "cat"])
    assert_array_equal(remote.feature_names_in_, names)
    assert_same_coefs(remote, local, rtol=1e-10)
    predicted = remote.predict(ddf[names])
    assert isinstance(predicted, da.Array)
    assert_array_equal(predicted.compute(), local.predict(frame[names]))
    assert remote.score(ddf[names], ddf["label"]) == local.score(frame[names], frame["label"])


def test_multilabel_targets(client, data):
    X, y = data
    X, Y = in_canonical_order(X, np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int))
    local = small(max_iter=20, batch_size=CHUNK).fit(X, Y)
    Xd = on_cluster(X)
    remote = small(max_iter=20).fit(Xd, da.from_array(Y, chunks=(CHUNK, 3)))
    assert_array_equal(remote.classes_, [0, 1, 2])
    assert_same_coefs(remote, local)
    assert_array_equal(remote.predict(Xd).compute(), local.predict(X))
    assert remote.score(Xd, Y) == local.score(X, Y)
    # 'balanced' per label, multiplied over the labels, as in memory.
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(Y))
    params = {"max_iter": 20, "class_weight": "balanced"}
    local = small(batch_size=CHUNK, **params).fit(X, Y, sample_weight=weights)
    Yd = da.from_array(Y, chunks=(CHUNK, 3))
    remote = small(**params).fit(Xd, Yd, sample_weight=da.from_array(weights, CHUNK))
    assert_same_coefs(remote, local, rtol=1e-10)
    with pytest.raises(ValueError, match="Multilabel targets need out_activation='logistic'"):
        small(out_activation="softmax").fit(Xd, Y)


def test_lazy_predict_equals_in_memory_predict(client, data):
    X, y = data
    clf = small(max_iter=30).fit(*on_cluster(X, y))
    Xd = on_cluster(X, chunk=150)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        lazy = getattr(clf, method)(Xd)
        assert isinstance(lazy, da.Array)
        assert lazy.chunks[0] == Xd.chunks[0]
        assert_allclose(lazy.compute(), getattr(clf, method)(X), rtol=1e-12, atol=1e-14)
    binary = small(max_iter=10).fit(*on_cluster(X, (y == 1).astype(int)))
    scores = binary.decision_function(Xd)
    assert scores.shape == (len(X),) and scores.chunks == Xd.chunks[:1]
    assert_allclose(scores.compute(), binary.decision_function(X), rtol=1e-12)
    assert clf.score(Xd, da.from_array(y, 150)) == clf.score(X, y)
    weights = np.arange(len(y)) % 3
    assert_allclose(clf.score(Xd, y, sample_weight=weights), clf.score(X, y, weights), rtol=1e-12)
    with pytest.raises(ValueError, match="X has 3 features, but BackpropMLPClassifier"):
        clf.predict(Xd[:, :3])


# ---------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
    ],
)
def test_bad_chunk_is_named(client, data, bad, match):
    X, y = data
    X = X.copy()
    X[250, 3] = bad
    clf = small()
    with pytest.raises(ValueError, match=match) as info:
        clf.fit(*on_cluster(X, y))
    assert "in chunk 2, rows 200 to 299" in str(info.value)
    assert not hasattr(clf, "n_features_in_")


def test_bad_input_errors(client, data, monkeypatch):
    X, y = data
    Xd, yd = on_cluster(X, y)
    # The first bad chunk in chunk order, whichever worker found its error first.
    with pytest.raises(ValueError, match=r"Unknown label type.*in chunk 0, rows 0 to 99"):
        small().fit(Xd, da.from_array(y + 0.5, CHUNK))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        small().fit(Xd, yd, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        small().fit(Xd, y[:-1])
    with pytest.raises(ValueError, match=r"only one class: 0\.0\.$"):
        small().fit(Xd, np.zeros(len(y)))
    with pytest.raises(ValueError, match=r"class_weight must be non-negative.*class 0: -1"):
        small(class_weight={0: -1.0, 1: 1.0, 2: 1.0}).fit(Xd, yd)
    frame = dd.from_pandas(pd.DataFrame({"a": X[:, 0], "b": ["x"] * len(X)}), npartitions=3)
    with pytest.raises(ValueError, match="could not convert string to float"):
        small().fit(frame, yd)
    with pytest.raises(ValueError, match=r"needs a dask\.distributed Client"):
        monkeypatch.setattr(cluster_problem, "get_client", _no_client)
        small().fit(Xd, yd)
    monkeypatch.undo()
    scalar = small(max_iter=3).fit(Xd, yd, sample_weight=2.0)
    assert_same_coefs(scalar, small(max_iter=3, batch_size=CHUNK).fit(X, y, sample_weight=2.0))
    fitted = small(max_iter=5, warm_start=True).fit(Xd, yd)
    with pytest.raises(ValueError, match="X has 4 features"):
        fitted.fit(Xd[:, :4], yd)


def _no_client():
    raise ValueError("No clients found")


# --------------------------------------------------------- training features


def test_early_stopping_on_the_workers(client, data):
    X, y = data
    Xd, yd = on_cluster(X, y)
    params = {"early_stopping": True, "n_iter_no_change": 3, "max_iter": 200, "tol": 1e-3}
    first = small(**params).fit(Xd, yd)
    with dask.config.set({WORKERS_CONFIG: workers(client)[:1]}):
        again = small(**params).fit(Xd, yd)
    assert_same_coefs(first, again)
    assert first.validation_scores_ == again.validation_scores_
    assert len(first.validation_scores_) == first.n_iter_ < 200
    assert first.best_validation_score_ == max(first.validation_scores_) > 0.6
    other_seed = small(**{**params, "random_state": 1}).fit(Xd, yd)
    assert other_seed.validation_scores_ != first.validation_scores_


def held_out_rows(objective):
    """The rows (of the whole data) the cluster objective's actors hold out."""
    rows = [
        index * CHUNK + positions
        for holder in objective.executor.holders
        for index, positions in holder.actor.held_out_rows().result()
    ]
    return np.sort(np.concatenate(rows))


def balanced_by_hand(y, w):
    """'balanced' class weights of each row, fitted on (y, w): S / (n_classes * S_c),
    per label and multiplied over the labels for an indicator matrix."""
    out = np.ones(len(y))
    for column in np.reshape(y, (len(y), -1)).T:
        classes = np.unique(column)
        sums = np.array([w[column == c].sum() for c in classes])
        out *= (sums.sum() / (len(classes) * sums))[np.searchsorted(classes, column)]
    return out


def test_stratified_split_holds_out_what_train_test_split_would(client, data):
    """Per class the counts of scikit-learn's stratified split, whatever the placement."""
    X, y = data
    y = y.copy()
    y[[5, 150, 420, 590]] = 3  # a rare class
    Xd, yd = on_cluster(X, y)
    problem = build_problem(small(early_stopping=True), Xd, yd, None)
    with problem as objective:
        rows = held_out_rows(objective)
        seed = objective.executor.spec.validation_seed
    _, y_val = train_test_split(
        y, test_size=60, stratify=y, random_state=np.random.RandomState(seed)
    )
    with build_problem(small(early_stopping=True), X, y) as local:
        (held_out,) = local.executor.chunk_set.held_out
    assert len(rows) == len(held_out.y) == 60
    assert_array_equal(np.bincount(y[rows], minlength=4), np.bincount(y_val, minlength=4))
    with dask.config.set({WORKERS_CONFIG: workers(client)[:1]}):
        again = build_problem(small(early_stopping=True), Xd, yd, None)
        with again as objective:
            assert_array_equal(held_out_rows(objective), rows)
    # Multilabel: unstratified, as many rows as in memory.
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    problem = build_problem(small(early_stopping=True), Xd, Y, None)
    with problem as objective:
        assert len(held_out_rows(objective)) == 60
        assert objective.executor.n_val == 60


@pytest.mark.parametrize("multilabel", [False, True])
def test_early_stopping_class_weights_and_score_from_the_training_rows(client, data, multilabel):
    """'balanced' from the training rows with their weights, as in memory; the
    validation accuracy weighted by sample and class weights."""
    X, y = data
    if multilabel:
        X, y = in_canonical_order(X, np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int))
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    clf = small(early_stopping=True, class_weight="balanced")
    Xd = on_cluster(X)
    yd = da.from_array(y, chunks=(CHUNK, *y.shape[1:]))
    problem = build_problem(clf, Xd, yd, da.from_array(weights, CHUNK))
    theta = problem.theta0
    with problem as objective:
        val = held_out_rows(objective)
        train = np.setdiff1d(np.arange(len(X)), val)
        loss, grad = objective.loss_and_grad(theta)
        score = problem.validation_score(theta)
    # The in-memory objective of the same training rows (no split of its own).
    local = build_problem(
        small(class_weight="balanced", batch_size=CHUNK), X[train], y[train], weights[train]
    )
    with local as lo:
        loss_ref, grad_ref = lo.loss_and_grad(theta)
    assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-12 * np.abs(grad_ref).max())
    # The held-out rows weighted by their sample weights times the class
    # weights fitted on the training rows.
    by_hand = balanced_by_hand(y[train], weights[train])
    column_weights = np.ones(len(X))
    for column in np.reshape(y, (len(y), -1)).T:
        classes = np.unique(column[train])
        sums = np.array([weights[train][column[train] == c].sum() for c in classes])
        column_weights *= (sums.sum() / (len(classes) * sums))[np.searchsorted(classes, column)]
    assert_allclose(column_weights[train], by_hand, rtol=1e-13)
    logits = forward_logits(problem.layout, theta, X[val], "logistic")
    y_pred = problem.targets.binarizer.inverse_transform(logits, threshold=0.0)
    expected = accuracy_score(y[val], y_pred, sample_weight=weights[val] * column_weights[val])
    assert_allclose(score, expected, rtol=1e-12)
    unweighted = accuracy_score(y[val], y_pred)
    assert abs(score - unweighted) > 1e-6  # the weights matter here


def test_early_stopping_errors_as_in_memory(client, data):
    X, y = data
    Xd, yd = on_cluster(X, y)
    problem = build_problem(small(early_stopping=True), Xd, yd, None)
    with problem as objective:
        val = held_out_rows(objective)
    # The held-out rows are the same whatever the weights.
    weights = np.ones(len(y))
    weights[val] = 0.0
    clf = small(early_stopping=True)
    with pytest.raises(ValueError, match="validation samples of positive weight"):
        clf.fit(Xd, yd, sample_weight=da.from_array(weights, CHUNK))
    assert not hasattr(clf, "n_features_in_")
    with pytest.raises(ValueError, match="sample_weight must not be all zero"):
        clf.fit(Xd, yd, sample_weight=da.from_array(1.0 - weights, CHUNK))
    zero = {0: 0.0, 1: 0.0, 2: 0.0}
    for fit_X, fit_y in ((X, y), (Xd, yd)):
        with pytest.raises(ValueError, match="class_weight gives every sample zero weight"):
            small(class_weight=zero).fit(fit_X, fit_y)
    # Two rows: one held out, as in memory.
    two = small(early_stopping=True, max_iter=3).fit(*on_cluster(X[:2], np.array([0, 1]), 1))
    assert len(two.validation_scores_) == two.n_iter_ > 0
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    for fit_X in (X, Xd):
        with pytest.raises(ValueError, match="For multi-output, class_weight should be"):
            small(class_weight={0: 1.0, 1: 2.0}).fit(fit_X, Y)
    for fit_X in (X[:1], on_cluster(X[:1])):
        with pytest.raises(ValueError, match="needs at least 2 samples to hold some out"):
            small(early_stopping=True).fit(fit_X, Y[:1])


def test_validation_score_of_a_fit_without_iterations(client, data):
    """Stopped before the first iteration: the score of what is returned."""
    X, y = data
    Xd, yd = on_cluster(X, y)
    clf = small(early_stopping=True, tol=1e3).fit(Xd, yd)
    assert clf.n_iter_ == 0 and clf.validation_scores_ == []
    problem = build_problem(small(early_stopping=True), Xd, yd, None)
    with problem:
        expected = problem.validation_score(problem.theta0)
    assert clf.best_validation_score_ == expected > 0


class _FailsToBegin(StopAfter):
    def on_fit_task_begin(self, estimator, context):
        raise RuntimeError("setup failed")


def _n_actors(client):
    def count(dask_worker):
        return sum(isinstance(a, ChunkWorker) for a in dask_worker.state.actors.values())

    return sum(client.run(count).values())


def test_failing_callback_setup_leaves_no_actors(client, data):
    X, y = data
    Xd, yd = on_cluster(X, y)
    for _ in range(100):  # the earlier fits' actors are released asynchronously
        if _n_actors(client) == 0:
            break
        time.sleep(0.05)
    assert _n_actors(client) == 0
    clf = small(max_iter=5).set_callbacks(_FailsToBegin(1))
    with pytest.raises(RuntimeError, match="setup failed"):
        clf.fit(Xd, yd)
    assert _n_actors(client) == 0
    assert not hasattr(clf, "n_features_in_") and not hasattr(clf, "coefs_")


def test_verbose_callbacks_and_warm_start(client, data, capsys):
    X, y = data
    Xd, yd = on_cluster(X, y)
    clf = small(max_iter=5, verbose=1).fit(Xd, yd)
    out = capsys.readouterr().out
    assert out.count("Iteration ") == 5 and "lbfgs: max_iter after 5 iterations" in out
    assert len(clf.loss_curve_) == 5
    warm = small(max_iter=5, warm_start=True).fit(Xd, yd)
    first_loss = warm.loss_
    warm.fit(Xd, yd)
    local = small(max_iter=5, warm_start=True, batch_size=CHUNK).fit(X, y).fit(X, y)
    assert warm.loss_ < first_loss
    assert_allclose(warm.loss_curve_, local.loss_curve_, rtol=1e-10)

    stopper = StopAfter(3)
    clf = small(max_iter=50).set_callbacks(stopper).fit(Xd, yd)
    assert clf.n_iter_ == 3 == stopper.ends


def _blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_client_blas_single_threaded_while_the_objective_is_open(client, data):
    """The solver's BLAS calls on the client must not spin threads on the workers' cores."""
    X, y = data
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        problem = build_problem(small(), *on_cluster(X, y), None)
        with problem as objective:
            assert _blas_threads() == [1] * len(before)
            objective.loss_and_grad(problem.theta0)
            assert _blas_threads() == [1] * len(before)
        assert _blas_threads() == before


def _at_offset(X, offset):
    buffer = np.empty(X.nbytes + ALIGNMENT, np.uint8)
    start = (offset - buffer.ctypes.data) % ALIGNMENT
    out = buffer[start : start + X.nbytes].view(X.dtype).reshape(X.shape)
    out[...] = X
    return out


@pytest.mark.parametrize("offset", [0, 8, 10, 16, 40])
def test_blocks_start_at_one_offset_from_a_64_byte_boundary(offset):
    X = np.random.default_rng(0).standard_normal((50, 7))
    placed = _at_offset(X, offset)
    out = aligned_copy(placed)
    assert out.ctypes.data % ALIGNMENT == BLOCK_OFFSET
    assert_array_equal(out, X)
    assert (out is placed) == (offset == BLOCK_OFFSET)


def test_persisted_chunks_are_used_in_place(client):
    """A persisted X computed on its worker is not copied: it is not held twice."""
    w0 = workers(client)[0]
    X = da.random.RandomState(0).standard_normal((4096, 16), chunks=(2048, 16))
    y = (X[:, 0] > 0).astype(int)
    X, y = client.persist([X, y], workers=[w0])

    def in_place(dask_worker):
        blocks = [v for v in dask_worker.data.values() if getattr(v, "ndim", 0) == 2]
        actors = [a for a in dask_worker.state.actors.values() if isinstance(a, ChunkWorker)]
        parts = [p for actor in actors for p in actor.parts]
        return [any(np.shares_memory(p.X, b) for b in blocks) for p in parts]

    with dask.config.set({WORKERS_CONFIG: [w0]}):
        problem = build_problem(small(), X, y, None)
        with problem:
            assert client.run(in_place, workers=[w0])[w0] == [True, True]


# ---------------------------------------------------------- data from files


def test_streamed_chunks_from_memmaps(client, data, tmp_path, monkeypatch):
    """Not persisted and streamed: read chunk by chunk, the same model."""
    X, y = data
    paths = []
    for i in range(0, len(X), CHUNK):
        path = tmp_path / f"chunk{i}.npy"
        np.save(path, X[i : i + CHUNK])
        paths.append(str(path))
    blocks = [
        da.from_delayed(dask.delayed(np.load)(p, mmap_mode="r"), (CHUNK, X.shape[1]), X.dtype)
        for p in paths
    ]
    Xd = da.concatenate(blocks)
    yd = da.from_array(y, CHUNK)
    in_memory = small(max_iter=20).fit(Xd, yd)
    with dask.config.set({DATA_CONFIG: "stream"}):
        streamed = small(max_iter=20).fit(Xd, yd)
        with pytest.raises(ValueError, match="but X is persisted"):
            small().fit(Xd.persist(), yd)
    assert_same_coefs(streamed, in_memory)
    # "auto" streams an X that is not persisted and larger than a share of
    # the workers' memory (here: any X).
    monkeypatch.setattr(cluster_problem, "STREAM_MEMORY_SHARE", 0.0)
    problem = build_problem(small(solver="newton-cg"), Xd, yd, None)
    with problem as objective:
        objective.loss_and_grad(problem.theta0)
        objective.hessp(problem.theta0, problem.theta0)
        stats = objective.executor.stats()
    assert sum(s["resident_X_bytes"] for s in stats.values()) == 0
    assert sum(s["n_reads"] for s in stats.values()) == 2 * len(paths)
    persisted = build_problem(small(solver="newton-cg"), Xd.persist(), yd, None)
    with persisted as objective:
        stats = objective.executor.stats()
    assert sum(s["resident_X_bytes"] for s in stats.values()) == X.nbytes


# ---------------------------------------------------------------- faults


def test_worker_lost_error_is_public_without_importing_dask():
    assert WorkerLostError is RaisedOnTheCluster
    assert "WorkerLostError" in skmlp.__all__
    code = "import skmlp, sys; skmlp.WorkerLostError; assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)


def _kill_worker(client, address):
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


def _killing_at(iteration, client, address):
    """A solver's `on_iteration` that kills the worker at `address` after `iteration`."""

    def on_iteration(n_iter, loss, theta, grad, info=None):
        if n_iter == iteration:
            _kill_worker(client, address)

    return on_iteration


def _run(estimator, problem, objective, on_iteration=None):
    """The solver run of `estimator`'s fit on the open `problem` (as train() runs it)."""
    return run_solver(
        estimator.solver,
        objective.loss_and_grad,
        problem.theta0,
        hessp=objective.hessp if problem.curvature else None,
        max_iter=estimator.max_iter,
        max_fun=estimator.max_fun,
        tol=estimator.tol,
        on_iteration=on_iteration,
    )


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_worker_killed_mid_fit_gives_the_same_model(client, data, solver):
    X, y = data
    client.wait_for_workers(2, timeout=60)
    Xd, yd = on_cluster(X, y)
    victim, other = workers(client)
    with dask.config.set({WORKERS_CONFIG: [victim, other]}):  # an actor on each
        undisturbed = small(solver=solver, max_iter=12).fit(Xd, yd)
        clf = small(solver=solver, max_iter=12)
        clf.set_callbacks(StopAfter(4, action=lambda: _kill_worker(client, victim)))
        clf.fit(Xd, yd)
    # Killed during the fit (a restarted worker has a new address).
    assert victim not in workers(client)
    assert clf.n_iter_ == undisturbed.n_iter_
    assert_same_coefs(clf, undisturbed)
    assert clf.loss_curve_ == undisturbed.loss_curve_
    # The same run on the fit's problem, where the executor is seen: one
    # recovery, of the killed worker alone, and still the same model.
    client.wait_for_workers(2, timeout=60)
    victim, other = workers(client)
    clf = small(solver=solver, max_iter=12)
    with dask.config.set({WORKERS_CONFIG: [victim, other]}):
        problem = build_problem(clf, Xd, yd, None)
        with problem as objective:
            run = _run(clf, problem, objective, _killing_at(4, client, victim))
            n_recoveries = objective.executor.n_recoveries
            lost_workers = list(objective.executor.lost_workers)
    assert n_recoveries == 1
    assert lost_workers == [victim]
    assert run.n_iter == undisturbed.n_iter_
    assert_array_equal(run.x, parameters(undisturbed))
    assert run.loss_curve == undisturbed.loss_curve_


def _scattered_to(client, worker, X):
    """X as a dask array of chunks scattered to `worker`: no source to rebuild them from."""
    parts = client.scatter([X[i : i + CHUNK] for i in range(0, len(X), CHUNK)], workers=[worker])
    return da.concatenate([da.from_delayed(p, (CHUNK, X.shape[1]), X.dtype) for p in parts])


def test_worker_killed_with_unrecoverable_chunks_raises(client, data):
    X, y = data
    client.wait_for_workers(2, timeout=60)
    victim = workers(client)[0]
    Xd = _scattered_to(client, victim, X)
    clf = small(max_iter=30).set_callbacks(
        StopAfter(3, action=lambda: _kill_worker(client, victim))
    )
    # All six chunks on the victim, lost with it: the one recovery fails.
    lost = rf"Worker {re.escape(victim)} died during the fit, holding chunks \[0, 1, 2, 3, 4, 5\]"
    with (
        dask.config.set({WORKERS_CONFIG: [victim]}),
        pytest.raises(WorkerLostError, match=lost),
    ):
        clf.fit(Xd, y)
    assert not hasattr(clf, "coefs_")
    # On the fit's problem, where the executor is seen: the victim is the one
    # worker lost, and no recovery succeeded.
    client.wait_for_workers(2, timeout=60)
    victim = workers(client)[0]
    Xd = _scattered_to(client, victim, X)
    with dask.config.set({WORKERS_CONFIG: [victim]}):
        problem = build_problem(small(), Xd, y, None)
        with problem as objective:
            objective.loss_and_grad(problem.theta0)
            _kill_worker(client, victim)
            with pytest.raises(WorkerLostError, match=f"Worker {re.escape(victim)} died"):
                objective.loss_and_grad(problem.theta0)
            assert objective.executor.lost_workers == [victim]
            assert objective.executor.n_recoveries == 0
    client.wait_for_workers(2, timeout=60)
