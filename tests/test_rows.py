"""Canonical training rows: a fit depends only on the multiset of weighted rows.

Bit for bit: rows in any order, rows repeated in place of integer weights, or
zero-weight rows removed give the identical model (skmlp/_rows.py).
"""

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _helpers import parameters
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import train_test_split

from skmlp import BackpropMLPClassifier, _rows
from skmlp._problem import build_problem
from skmlp._rows import canonical_rows

SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]
PARAMS = {"hidden_layer_sizes": (4,), "max_iter": 40, "random_state": 0}


def make_data(n=24, n_features=5, target="multiclass", seed=0):
    """Rows with some duplicates (also with another label), integer weights with zeros."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    X[n // 2 :: 3] = X[0]  # duplicates of row 0
    X[:, -1] = np.round(X[:, -1])  # coarse values: ties inside columns
    if target == "multilabel":
        y = (rng.rand(n, 3) < 0.5).astype(int)
        y[:, 0] = 1 - y[:, 1]  # no all-equal column
    else:
        n_classes = 2 if target == "binary" else 3
        y = np.arange(n) % n_classes
        if target == "strings":
            y = np.array(["cat", "dog", "emu"])[y]
    sw = rng.randint(0, 4, size=n)
    sw[:3] = [7, 1, 0]  # 7 copies of c sum to another float than 7 * c
    return X, y, sw


def fit(X, y, sample_weight=None, **params):
    return BackpropMLPClassifier(**{**PARAMS, **params}).fit(X, y, sample_weight)


def assert_same_model(a, b):
    assert_array_equal(parameters(a), parameters(b))
    assert a.n_iter_ == b.n_iter_ and a.loss_curve_ == b.loss_curve_


def weighted_permuted_repeated(X, y, sw, container=None, **params):
    """Fits on (X, y, sw), the rows permuted, and the rows repeated sw times."""
    if container is None:
        container = np.asarray
    perm = np.random.RandomState(1).permutation(len(y))
    return (
        fit(container(X), y, sw, **params),
        fit(container(X[perm]), y[perm], sw[perm], **params),
        fit(container(X.repeat(sw, axis=0)), y.repeat(sw, axis=0), **params),
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("container", [None, sp.csr_matrix], ids=["dense", "sparse"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_permuted_and_repeated_rows_give_the_same_model(solver, container):
    X, y, sw = make_data()
    weighted, permuted, repeated = weighted_permuted_repeated(X, y, sw, container, solver=solver)
    assert_same_model(weighted, permuted)
    assert_same_model(weighted, repeated)
    assert weighted.n_features_in_ == X.shape[1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("target", "class_weight"),
    [
        *itertools.product(["binary", "multiclass", "strings"], [None, "balanced", "dict"]),
        ("multilabel", None),
        ("multilabel", "balanced"),
    ],
)
@pytest.mark.parametrize("container", [None, sp.csr_matrix], ids=["dense", "sparse"])
def test_every_target_and_class_weight(target, class_weight, container):
    X, y, sw = make_data(target=target, seed=2)
    if class_weight == "dict":
        labels = np.unique(y)
        class_weight = {label: 1.0 + 0.7 * k for k, label in enumerate(labels)}
    models = weighted_permuted_repeated(X, y, sw, container, class_weight=class_weight)
    for model in models[1:]:
        assert_same_model(models[0], model)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("container", [None, sp.csr_matrix], ids=["dense", "sparse"])
def test_zero_weights_equal_removing_the_rows(container):
    X, y, _ = make_data()
    sw = np.random.RandomState(3).uniform(0.2, 3.0, size=len(y))
    sw[::4] = 0.0
    kept = sw > 0
    with_zeros = fit(container(X) if container else X, y, sw)
    removed = fit(container(X[kept]) if container else X[kept], y[kept], sw[kept])
    assert_same_model(with_zeros, removed)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["lbfgs", "tnc"])  # trained in float32 / in float64
def test_float32_rows(solver):
    X, y, sw = make_data()
    models = weighted_permuted_repeated(X.astype(np.float32), y, sw, solver=solver)
    for model in models[1:]:
        assert_same_model(models[0], model)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_on_permuted_rows():
    X, y, sw = make_data()
    perm = np.random.RandomState(1).permutation(len(y))
    a = BackpropMLPClassifier(warm_start=True, **PARAMS)
    b = BackpropMLPClassifier(warm_start=True, **PARAMS)
    for _ in range(2):
        a.fit(X, y, sw)
        b.fit(X[perm], y[perm], sw[perm])
        assert_same_model(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_class_weighted_zero_equals_removing_its_rows():
    X, y, _ = make_data()
    zero_class = fit(X, y, class_weight={0: 0.0, 1: 1.0, 2: 1.0})
    zero_weight = fit(X, y, (y != 0).astype(float))
    assert_same_model(zero_class, zero_weight)
    clf = BackpropMLPClassifier(class_weight={0: 0.0, 1: 0.0, 2: 0.0})
    with pytest.raises(ValueError, match="zero weight"):
        clf.fit(X, y)
    assert not hasattr(clf, "n_features_in_")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_negative_zero_is_zero():
    X, y, sw = make_data()
    X[:, 1] = 0.0
    negative = X.copy()
    negative[::2, 1] = -0.0
    assert_same_model(fit(X, y, sw), fit(negative, y, sw))
    assert np.signbit(negative[::2, 1]).all()  # the caller's data are not touched
    rows, *_ = canonical_rows(negative, np.ones((len(y), 1), int))
    assert not np.signbit(rows[:, 1]).any()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sparse_rows_in_any_csr_form_give_the_same_model():
    X, y, sw = make_data()
    X[X < 0] = 0.0
    clean = sp.csr_matrix(X)
    # The same matrix with its entries in reversed order (unsorted indices),
    # each value split into two duplicate entries (summed), and an explicit
    # 0.0 and -0.0 in every row.
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        row = clean[i]
        for value, column in zip(row.data[::-1], row.indices[::-1]):
            data += [value / 2, value / 2]
            indices += [column, column]
        data += [0.0, -0.0]
        indices += [X.shape[1] - 1, 0]
        indptr.append(len(data))
    messy = sp.csr_matrix((data, indices, indptr), shape=X.shape)
    assert not messy.has_canonical_format
    assert_same_model(fit(clean, y, sw), fit(messy, y, sw))
    assert_same_model(fit(clean, y, sw), fit(sp.csc_matrix(X), y, sw))
    Xc, *_ = canonical_rows(messy, np.ones((len(y), 1), int), sw.astype(float))
    assert Xc.has_canonical_format and np.all(Xc.data != 0)


def test_canonical_rows_merge_and_sum():
    """Hand-checked: duplicates merge, labels split them, weights add."""
    X = np.array([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0], [1.0, 2.0], [3.0, 3.0]])
    Y = np.array([[1], [0], [1], [0], [1]])
    sw = np.array([0.5, 1.0, 2.0, 4.0, 0.0])
    Xc, Yc, swc, index = canonical_rows(X, Y, sw)
    got = sorted(zip(map(tuple, Xc), Yc[:, 0], swc))
    assert got == [((0.0, 5.0), 0, 1.0), ((1.0, 2.0), 0, 4.0), ((1.0, 2.0), 1, 2.5)]
    assert_array_equal(X[index], Xc)
    assert_array_equal(Y[index], Yc)
    assert Xc.flags.c_contiguous and Xc.dtype == X.dtype


def test_float_weights_sum_in_an_order_of_their_own():
    """0.1 + 0.2 + 0.3 rounds differently in another order: sums are in ascending order."""
    X = np.ones((3, 2))
    Y = np.zeros((3, 1), int)
    totals = {
        canonical_rows(X, Y, np.array(w))[2].tobytes()
        for w in itertools.permutations([0.1, 0.2, 0.3])
    }
    assert len(totals) == 1
    assert {sum(w) for w in itertools.permutations([0.1, 0.2, 0.3])} != {0.6}  # it matters


@pytest.mark.parametrize("container", [None, sp.csr_matrix], ids=["dense", "sparse"])
def test_colliding_hashes_still_give_a_content_order(container, monkeypatch):
    X, y, sw = make_data(n=40)
    Y = np.eye(3, dtype=int)[y]
    sw = sw.astype(float)
    box = container or np.asarray
    expected = canonical_rows(box(X), Y, sw)
    monkeypatch.setattr(_rows, "_dense_hashes", lambda X, salt=0: np.zeros(X.shape[0], np.uint64))
    monkeypatch.setattr(_rows, "_sparse_hashes", lambda X, salt=0: np.zeros(X.shape[0], np.uint64))
    results = []
    for seed in range(3):
        perm = np.random.RandomState(seed).permutation(len(y))
        results.append(canonical_rows(box(X[perm]), Y[perm], sw[perm]))
    for Xc, Yc, swc, _ in results:
        dense = Xc.toarray() if container else Xc
        first = results[0][0].toarray() if container else results[0][0]
        assert_array_equal(dense, first)
        assert_array_equal(Yc, results[0][1])
        assert_array_equal(swc, results[0][2])

    # the same rows and weights as with the real hash, in another order
    def content(result):
        Xc, Yc, swc, _ = result
        Xc = Xc.toarray() if container else Xc
        return sorted(zip(map(tuple, Xc), map(tuple, Yc), swc))

    assert content(results[0]) == content(expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_data_above_the_size_limit_keep_their_rows(monkeypatch):
    X, y, sw = make_data()
    perm = np.random.RandomState(1).permutation(len(y))
    params = {"hidden_layer_sizes": (4,), "random_state": 0, "tol": 1e-10, "max_iter": 3000}
    canonical = fit(X[perm], y[perm], sw[perm], **params)
    monkeypatch.setattr(_rows, "MAX_CANONICAL_BYTES", X.nbytes - 1)
    Xc, Yc, swc, index = canonical_rows(X, y[:, None], sw)
    assert Xc is X and swc is sw
    assert_array_equal(Yc, y[:, None])
    assert_array_equal(index, np.arange(len(y)))
    problem = build_problem(BackpropMLPClassifier(**PARAMS), X, y, sw)
    assert_array_equal(problem.X, X)
    assert_array_equal(problem.data.sample_weight, sw)
    given = fit(X, y, sw, **params)
    # the same minimum, to the solver's tolerance only
    assert_allclose(given.predict_proba(X), canonical.predict_proba(X), rtol=1e-5)


def test_early_stopping_splits_the_rows_as_given():
    X, y, sw = make_data(n=40)
    clf = BackpropMLPClassifier(early_stopping=True, validation_fraction=0.25, random_state=0)
    problem = build_problem(clf, X, y, sw)
    X_train, X_val, y_train, y_val, sw_train, _ = train_test_split(
        X, y, sw, test_size=10, stratify=y, random_state=np.random.RandomState(0)
    )
    with problem as objective:
        (held_out,) = objective.executor.chunk_set.held_out
    assert_array_equal(held_out.X, X_val)
    assert_array_equal(held_out.y, y_val)
    Xc, _, swc, index = canonical_rows(X_train, np.eye(3, dtype=int)[y_train], sw_train)
    assert_array_equal(problem.X, Xc)
    assert_array_equal(problem.data.y, y_train[index])
    assert_array_equal(problem.data.sample_weight, swc)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_attributes_describe_the_given_data():
    X, y, sw = make_data(target="strings")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    sw_before, X_before = sw.copy(), frame.copy()
    clf = fit(frame, y, sw)
    assert clf.n_features_in_ == X.shape[1]
    assert list(clf.feature_names_in_) == list(frame.columns)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert_array_equal(sw, sw_before)
    pd.testing.assert_frame_equal(frame, X_before)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    n_features=st.integers(1, 4),
    sparse=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_canonical_rows_of_a_multiset(data, n, n_features, sparse, dtype):
    """Any order and any split of weights over repeats give the same arrays."""
    values = st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e300 if dtype == np.float64 else 3e38])
    X = np.array(
        data.draw(
            st.lists(
                st.lists(values, min_size=n_features, max_size=n_features), min_size=n, max_size=n
            )
        ),
        dtype=dtype,
    )
    Y = np.array(
        data.draw(st.lists(st.sampled_from([[0, 1], [1, 0], [1, 1]]), min_size=n, max_size=n))
    )
    counts = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    counts[data.draw(st.integers(0, n - 1))] += 1  # a positive total
    box = sp.csr_matrix if sparse else np.asarray
    perm = np.array(data.draw(st.permutations(range(n))), dtype=int)
    weighted = canonical_rows(box(X[perm]), Y[perm], counts[perm].astype(float))
    repeated = canonical_rows(box(X.repeat(counts, axis=0)), Y.repeat(counts, axis=0))
    for a, b in zip(weighted[:3], repeated[:3]):
        a, b = (a.toarray(), b.toarray()) if sp.issparse(a) else (a, b)
        assert a.dtype == b.dtype
        assert a.tobytes() == b.tobytes()
    # against a dictionary of (row values, label) -> total weight
    totals = {}
    for x, label, count in zip(X + 0.0, Y, counts):
        if count:
            key = (tuple(x), tuple(label))
            totals[key] = totals.get(key, 0) + count
    Xc = weighted[0].toarray() if sparse else weighted[0]
    got = {(tuple(x), tuple(label)): w for x, label, w in zip(Xc, weighted[1], weighted[2])}
    assert got == totals
