"""Chunked prediction: an independent reference, threads, memory, bad input.

Correctness only: the speed claims live in benchmarks/bench_predict.py.
"""

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import log_softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score

import skmlp._executor as executor
from skmlp import BackpropMLPClassifier
from skmlp._executor import prediction_batch_size, prediction_threads
from skmlp._losses import LogisticLoss, SoftmaxLoss, log_softmax_rows

ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]


def random_thetas(sizes, rng, scale=1.0):
    return [
        rng.uniform(-scale, scale, (fan_out, fan_in + 1))
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]


def reference_logits(X, thetas, activation):
    """Plain numpy forward pass over all rows at once, from the course's Thetas."""
    f = {
        "logistic": lambda a: 1 / (1 + np.exp(-a)),
        "tanh": np.tanh,
        "relu": lambda a: np.maximum(a, 0),
        "identity": lambda a: a,
    }[activation]
    A = np.asarray(X, dtype=np.float64)
    for i, theta in enumerate(thetas):
        A = A @ theta[:, 1:].T + theta[:, 0]
        if i < len(thetas) - 1:
            A = f(A)
    return A


def reference_proba(logits, kind):
    """Probabilities from logits: softmax, normalized sigmoids, binary, multilabel."""
    if kind == "softmax":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    p = 1 / (1 + np.exp(-logits))
    if kind == "binary":
        return np.hstack([1 - p, p])
    if kind == "multilabel":
        return p
    return p / p.sum(axis=1, keepdims=True)


def estimator_and_thetas(kind, activation, rng, n_features=12, hidden=(7, 5)):
    if kind == "multilabel":
        X = rng.normal(size=(60, n_features))
        Y = (rng.random((60, 3)) < 0.5).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = BackpropMLPClassifier(
                hidden_layer_sizes=hidden, activation=activation, max_iter=3
            ).fit(X, Y)
        return clf, clf.thetas_
    n_outputs = 1 if kind == "binary" else 4
    n_classes = 2 if kind == "binary" else 4
    thetas = random_thetas((n_features, *hidden, n_outputs), rng)
    out = "softmax" if kind == "softmax" else "logistic"
    clf = BackpropMLPClassifier.from_thetas(
        thetas, np.arange(n_classes), activation=activation, out_activation=out
    )
    return clf, thetas


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 64 rows and threads from the first multiply-add on."""
    monkeypatch.setattr(executor, "PREDICT_WORKSPACE_BYTES", 1)
    monkeypatch.setattr(executor, "PREDICT_THREAD_MIN_WORK", 0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["softmax", "logistic", "binary", "multilabel"])
def test_outputs_match_an_independent_forward_pass(kind, activation, small_chunks):
    rng = np.random.default_rng(3)
    clf, thetas = estimator_and_thetas(kind, activation, rng)
    X = rng.normal(size=(300, 12))  # five chunks of 64 rows and one of 44
    logits = reference_logits(X, thetas, activation)
    proba = reference_proba(logits, kind)
    for n_jobs in (1, 2):
        clf.set_params(n_jobs=n_jobs)
        decision = clf.decision_function(X)
        # Logits near 0 are sums that cancel: an absolute tolerance there.
        expected_logits = logits.ravel() if kind == "binary" else logits
        np.testing.assert_allclose(decision, expected_logits, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-11)
        if kind == "multilabel":
            expected = (logits > 0).astype(int)
        elif kind == "binary":
            expected = (logits.ravel() > 0).astype(int)
        else:
            expected = logits.argmax(axis=1)
        np.testing.assert_array_equal(clf.predict(X), expected)
        assert clf.score(X, expected) == accuracy_score(expected, clf.predict(X))


def all_outputs(clf, X):
    return [
        clf.decision_function(X),
        clf.predict_log_proba(X),
        clf.predict_proba(X),
        clf.predict(X),
    ]


def assert_identical(first, second):
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("above_threshold", [False, True])
def test_identical_for_any_n_jobs(dtype, above_threshold, monkeypatch):
    rng = np.random.default_rng(0)
    sizes = (30, 16, 6)
    clf = BackpropMLPClassifier.from_thetas(
        random_thetas(sizes, rng), np.arange(6), out_activation="softmax"
    )
    X = rng.normal(size=(1000, 30)).astype(dtype)
    # Chunks of 64 rows; threads above the threshold, none below.
    monkeypatch.setattr(executor, "PREDICT_WORKSPACE_BYTES", 1)
    work = X.shape[0] * (30 * 16 + 16 * 6)
    monkeypatch.setattr(executor, "PREDICT_THREAD_MIN_WORK", work if above_threshold else work + 1)
    n_chunks = -(-X.shape[0] // prediction_batch_size(X.shape[0], 1, 1))
    assert n_chunks == 16
    assert prediction_threads(2, work, n_chunks) == (2 if above_threshold else 1)
    outputs = {
        n_jobs: all_outputs(clf.set_params(n_jobs=n_jobs), X) for n_jobs in (1, 2, -1, None)
    }
    for n_jobs in (2, -1, None):
        assert_identical(outputs[1], outputs[n_jobs])
    assert outputs[1][0].dtype == dtype
    # Against one block of all rows (the default chunking of so small an input).
    monkeypatch.undo()
    assert prediction_batch_size(X.shape[0], 1000, 600) == X.shape[0]
    one_block = all_outputs(clf.set_params(n_jobs=1), X)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for chunked, whole in zip(outputs[1][:3], one_block[:3]):
        np.testing.assert_allclose(chunked, whole, rtol=rtol, atol=rtol)


def test_sparse_rows_chunked_are_bit_identical(small_chunks):
    # scipy's sparse products are row by row: chunking cannot change a bit.
    # CSC input is converted to CSR once and gives the same bits too.
    rng = np.random.default_rng(1)
    clf = BackpropMLPClassifier.from_thetas(random_thetas((40, 9, 3), rng), np.arange(3))
    for dtype in (np.float64, np.float32):
        X = sp.random(500, 40, density=0.2, format="csr", random_state=2, dtype=dtype)
        chunked = all_outputs(clf.set_params(n_jobs=2), X)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(executor, "PREDICT_WORKSPACE_BYTES", 1 << 30)
            m.setattr(executor, "AUTO_MIN_CHUNK_WORK", 1 << 60)
            whole = all_outputs(clf.set_params(n_jobs=1), X)
        assert_identical(chunked, whole)
        assert_identical(chunked, all_outputs(clf, X.tocsc()))
        np.testing.assert_allclose(chunked[2], clf.predict_proba(X.toarray()), rtol=1e-5)


def test_memory_is_the_output_plus_chunk_buffers():
    rng = np.random.default_rng(0)
    n_samples, sizes = 60_000, (20, 50, 10)
    clf = BackpropMLPClassifier.from_thetas(random_thetas(sizes, rng), np.arange(10), n_jobs=2)
    X = rng.normal(size=(n_samples, 20))
    clf.predict_proba(X[:10])  # imports and caches outside the measurement
    # Two threads' chunk buffers and slack; the whole hidden layer alone
    # (n_samples x 50 float64) would take 24 MB.
    bound = 2 * executor.PREDICT_WORKSPACE_BYTES + (1 << 20)
    for method in ("predict_proba", "predict_log_proba", "decision_function", "predict"):
        tracemalloc.start()
        try:
            result = getattr(clf, method)(X)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak - result.nbytes <= bound, (method, peak - result.nbytes)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_non_finite_input_gets_scikit_learns_error(bad, method, small_chunks):
    rng = np.random.default_rng(0)
    thetas = random_thetas((8, 5, 3), rng)
    thetas[0][:, 1 + 6] = 0.0  # feature 6 has no weight: NaN * 0 is not seen
    clf = BackpropMLPClassifier.from_thetas(thetas, np.arange(3), n_jobs=2)
    message = "Input X contains NaN" if np.isnan(bad) else "Input X contains infinity"
    for feature in (2, 6):
        X = rng.normal(size=(500, 8))
        X[433, feature] = bad
        with pytest.raises(ValueError, match=message):
            getattr(clf, method)(X)


def test_huge_finite_input_is_predicted(small_chunks):
    # Overflowing pre-activations send the finiteness check to scikit-learn's,
    # which passes: the chunks are then predicted as usual, without a warning.
    rng = np.random.default_rng(0)
    clf = BackpropMLPClassifier.from_thetas(random_thetas((8, 5, 3), rng), np.arange(3))
    X = rng.normal(size=(300, 8))
    X[100] = 1e308
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(proba[:64], clf.predict_proba(X[:64]))


def test_objective_is_identical_for_any_n_jobs():
    rng = np.random.default_rng(0)
    clf = BackpropMLPClassifier.from_thetas(
        random_thetas((10, 6, 3), rng), np.arange(3), batch_size=50
    )
    X, y = rng.normal(size=(400, 10)), rng.integers(0, 3, 400)
    values = {n_jobs: clf.set_params(n_jobs=n_jobs).objective(X, y) for n_jobs in (1, 2, -1)}
    assert values[1] == values[2] == values[-1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_rows_is_scipys_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    Z = (rng.normal(size=(500, 10)) * rng.choice([1, 30, 1000], (500, 1))).astype(dtype)
    Z[3, 4], Z[7] = np.inf, -np.inf  # an infinite logit; a row of -inf (all NaN)
    with np.errstate(invalid="ignore"):
        expected = log_softmax(Z, axis=1)
        result = log_softmax_rows(Z.copy())
    np.testing.assert_array_equal(result, expected, strict=True)


@pytest.mark.parametrize("loss", [SoftmaxLoss(), LogisticLoss()])
def test_log_proba_into_rows_from_transposed_logits_is_bit_identical(loss):
    # How prediction calls it: the engine's (outputs x rows) logits, viewed
    # as rows, written into the output rows.
    rng = np.random.default_rng(1)
    logits_t = rng.normal(size=(6, 300)) * 20
    out = np.empty((300, 6))
    loss.log_proba(logits_t.T, out=out)
    expected = loss.log_proba(np.ascontiguousarray(logits_t.T))
    np.testing.assert_array_equal(out, expected, strict=True)


@pytest.mark.parametrize(
    ("n_classes", "out_activation"), [(2, "logistic"), (3, "logistic"), (3, "softmax")]
)
def test_float32_probabilities_of_confident_logits_are_their_logs_exponentials(
    n_classes, out_activation
):
    # Logits of 10 to 40: in float32 a probability within 6e-8 of 1 rounds to
    # 1, whose log 0 is not predict_log_proba's -1e-8 (scikit-learn's
    # check_classifiers_train asks for 1e-9 with float32 X). The
    # probabilities of float32 logits are computed in float64.
    rng = np.random.default_rng(3)
    n_outputs = 1 if n_classes == 2 else n_classes
    clf = BackpropMLPClassifier.from_thetas(
        random_thetas((4, 6, n_outputs), rng, scale=15.0),
        np.arange(n_classes),
        out_activation=out_activation,
    )
    X = rng.normal(size=(500, 4)).astype(np.float32)
    logits = clf.decision_function(X)
    assert logits.dtype == np.float32 and np.abs(logits).max() > 20
    log_proba, proba = clf.predict_log_proba(X), clf.predict_proba(X)
    assert log_proba.dtype == proba.dtype == np.float64
    np.testing.assert_allclose(log_proba, np.log(proba), rtol=1e-12, atol=1e-15)
    # The float64 transform of the float32 logits: the float64 data's, to float32's precision.
    np.testing.assert_allclose(proba, clf.predict_proba(X.astype(np.float64)), atol=1e-5)
