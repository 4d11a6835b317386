"""Weights at the float limits, the stored-state check behind every fitted
accessor, objective() weighed as fit, and a client closed under a cluster fit."""

import warnings

import numpy as np
import pytest
from _callbacks import StopAfter
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skmlp import BackpropMLPClassifier


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(
    ("params", "weight", "match"),
    [
        ({}, 1e307, "The sum of sample_weight overflows"),
        ({"class_weight": {0: 1e308, 1: 1e308, 2: 1.0}}, None, "times the class weights"),
        ({"class_weight": {0: 1e200, 1: 1.0, 2: 1.0}}, 1e200, "times the class weights"),
        ({"class_weight": {0: np.inf, 1: 1.0, 2: 1.0}}, None, "finite"),
        ({"class_weight": {0: np.nan, 1: 1.0, 2: 1.0}}, None, "finite"),
        ({}, 1e-300, r"alpha / S = .* is too large"),
        ({"alpha": 1e300}, None, r"alpha / S = .* is too large"),
    ],
)
def test_weights_at_the_float_limits_are_clear_errors(iris, params, weight, match):
    X, y = iris
    clf = BackpropMLPClassifier(random_state=0, **params)
    w = None if weight is None else np.full(len(y), weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning leaks either
        with pytest.raises(ValueError, match=match):
            clf.fit(X, y, sample_weight=w)
    assert not hasattr(clf, "coefs_") or not hasattr(clf, "n_iter_")


def test_tiny_weights_reach_the_minimum_or_say_what_dominates(iris):
    X, y = iris
    # J's data term depends on the weights' ratios only; the penalty on their
    # sum: weights of c scale alpha by 1 / c. The Newton-type solver reaches
    # the minimum of that J (weights near zero), as with weights 1, alpha / c.
    c = 1e-14
    tiny = BackpropMLPClassifier(solver="trust-ncg", random_state=0).fit(
        X, y, sample_weight=np.full(len(y), c)
    )
    same = BackpropMLPClassifier(solver="trust-ncg", alpha=1 / c, random_state=0).fit(X, y)
    assert tiny.loss_ == pytest.approx(same.loss_, rel=1e-9)
    assert np.abs(tiny.coefs_[0]).max() < 1e-10
    # L-BFGS stalls short of it: the warning names the penalty's scale, not
    # "increase alpha".
    with pytest.warns(ConvergenceWarning, match=r"alpha / S = .* dwarfs") as caught:
        BackpropMLPClassifier(random_state=0).fit(X, y, sample_weight=np.full(len(y), c))
    assert "increase alpha" not in str(caught[0].message)


def damaged(clf, name, value):
    setattr(clf, name, value)
    return clf


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda c: damaged(c, "_theta", c.coefs_[0].ravel().copy()), "_theta has"),
        (lambda c: damaged(c, "classes_", np.array([0, 0, 2])), "differ|repeat"),
        (lambda c: damaged(c, "_label_binarizer", object()), "must be a LabelBinarizer"),
    ],
)
@pytest.mark.parametrize("accessor", ["coefs_", "intercepts_", "thetas_", "predict", "objective"])
def test_one_stored_state_check_behind_every_fitted_accessor(iris, damage, match, accessor):
    X, y = iris
    clf = damage(BackpropMLPClassifier((5,), max_iter=500, random_state=0).fit(X, y))
    with pytest.raises(ValueError, match=f"stored state is inconsistent: .*({match})"):
        if accessor == "predict":
            clf.predict(X)
        elif accessor == "objective":
            clf.objective(X, y)
        else:
            getattr(clf, accessor)


def test_duplicate_classes_in_the_binarizer_too(iris):
    X, y = iris
    clf = BackpropMLPClassifier((5,), max_iter=500, random_state=0).fit(X, y)
    clf.classes_ = np.array([0, 0, 2])
    clf._label_binarizer.classes_ = np.array([0, 0, 2])  # the damage
    with pytest.raises(ValueError, match="repeat a label"):
        clf.predict(X)


def test_objective_weighs_and_validates_as_fit(iris):
    X, y = iris
    y = (y == 0).astype(int)
    clf = BackpropMLPClassifier((5,), class_weight="balanced", max_iter=500, random_state=0)
    clf.fit(X, y)
    assert clf.objective(X, y) == pytest.approx(clf.loss_, rel=1e-12)
    clf.set_params(alpha=-5)
    with pytest.raises(InvalidParameterError, match="alpha"):
        clf.objective(X, y)
    clf.set_params(alpha=1.0, n_jobs="x")
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        clf.objective(X, y)


@pytest.mark.slow
def test_client_closed_mid_fit_says_so_and_changes_nothing(iris):
    pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    from dask.distributed import Client, LocalCluster

    X, y = iris

    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        client = Client(cluster)
        clf = BackpropMLPClassifier((5,), max_iter=50, random_state=0)
        clf.set_callbacks(StopAfter(2, action=client.close))  # closes it at iteration 2
        before = dict(vars(clf))
        with pytest.raises(RuntimeError, match="Client was closed during the fit"):
            clf.fit(da.from_array(X, 50), da.from_array(y, 50))
        assert set(vars(clf)) == set(before)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "weight", "match"),
    [
        ({}, 1e307, "The sum of sample_weight overflows"),
        ({"class_weight": {0: 1e308, 1: 1e308, 2: 1.0}}, None, "times the class weights"),
        ({}, 1e-300, r"alpha / S = .* is too large"),
    ],
)
def test_weights_at_the_float_limits_on_the_cluster(client, iris, params, weight, match):
    da = pytest.importorskip("dask.array")
    X, y = iris
    clf = BackpropMLPClassifier(random_state=0, **params)
    w = None if weight is None else da.from_array(np.full(len(y), weight), 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            clf.fit(da.from_array(X, 50), da.from_array(y, 50), sample_weight=w)


@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_memory_does_not_grow_with_rows_times_classes(out_activation):
    """Targets are kept as where their ones are, chunk by chunk: 8000 more rows
    of 1000 classes would take 64 MB as a dense float64 target matrix."""
    import tracemalloc

    def peak(n_rows, n_classes=1000):
        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(n_rows, 4)), np.arange(n_rows) % n_classes
        clf = BackpropMLPClassifier((8,), out_activation=out_activation, max_iter=2)
        tracemalloc.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    dense_growth = 8000 * 1000 * 8
    assert peak(12000) - peak(4000) < dense_growth / 10


def test_a_fit_holds_x_once_more_plus_bounded_chunk_buffers():
    """The documented peak (docs/user_guide/performance.rst): beyond X, its
    canonical copy, each thread's chunk buffers (at most AUTO_WORKSPACE_BYTES)
    and a few per-row arrays."""
    import tracemalloc

    from skmlp._blas import effective_n_threads
    from skmlp._executor import AUTO_MAX_THREADS, AUTO_WORKSPACE_BYTES

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40000, 100)).astype(np.float32)
    y = rng.randint(10, size=len(X))
    clf = BackpropMLPClassifier((25,), max_iter=3, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        extra = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_row = 200  # bytes: weights, hashes, order, the targets' positions
    threads = min(AUTO_MAX_THREADS, effective_n_threads())  # what n_jobs=None uses
    assert extra <= X.nbytes + threads * AUTO_WORKSPACE_BYTES + per_row * len(X)


def test_a_binarizer_edited_to_multilabel_is_caught_where_the_labels_tell(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = BackpropMLPClassifier((5,), max_iter=500, random_state=0).fit(X, names)
    clf._label_binarizer.y_type_ = "multilabel-indicator"  # the damage
    with pytest.raises(ValueError, match="label indices"):
        clf.predict(X)
