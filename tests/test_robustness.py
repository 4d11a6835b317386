"""Robustness under hostile input: property tests, the non-finite path, threads.

Every fit on whatever data either succeeds, with finite parameters and finite
probabilities whose rows sum to one, or raises a ValueError/TypeError from
input validation, never from inside the engine. No RuntimeWarning (overflow,
divide, invalid) may escape: pytest turns warnings into errors. A
ConvergenceWarning is legitimate on such data at max_iter=30, so the tests
that fit hostile data ignore exactly that category.

The bugs these tests found are fixed; each minimal input stays as a
regression test at the end of this file.
"""

import threading
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import parameters
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import skmlp
from skmlp import BackpropMLPClassifier
from skmlp._objective import Objective
from skmlp._problem import build_problem

SKMLP_DIR = Path(skmlp.__file__).resolve().parent
# Where a bad-input error may come from inside skmlp: validation code, not
# the engine, the layout or the solver driver.
VALIDATING_MODULES = {"_classifier.py", "_validation.py", "_targets.py", "_problem.py"}

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)

# ConvergenceWarning: max_iter=30 on random, constant or extreme data.
ignore_convergence = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FLOAT_DTYPES = [np.float64, np.float32, np.float16]
DTYPES = [*FLOAT_DTYPES, np.int64, np.int32, np.uint8, np.bool_, object]

# Magnitudes per dtype. The extremes stay a few orders below the dtype's
# maximum so that the data themselves are representable; values at the very
# top of the range are tested in test_values_near_the_dtype_maximum.
MAGNITUDES = {
    np.float64: [1.0, 1e300, 1e-300, 5e-324, 1e-3],
    np.float32: [1.0, 1e30, 1e-30, 1e-45, 1e-3],
    np.float16: [1.0, 6e4, 6e-8],
    np.int64: [1, 10**15],
    np.int32: [1, 10**9],
    np.uint8: [1, 255],
}

LABEL_KINDS = [
    "int",
    "str",
    "bool",
    "float-integral",
    "mixed-int-float-list",
    "object-str",
    "multilabel",
    # Invalid targets: these must fail with a clear message.
    "continuous",
    "mixed-str-int",
]


@st.composite
def hostile_data(draw):
    """(X, y, expected error regex or None, description) of hostile data."""
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 30))
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(DTYPES))

    # Base values in [-1, 1]: a scale then sets the magnitude.
    base = rng.uniform(-1, 1, size=(n, d))
    if draw(st.booleans()):  # constant columns
        cols = rng.rand(d) < 0.4
        base[:, cols] = rng.uniform(-1, 1)
    if draw(st.booleans()) and n > 1:  # duplicated rows
        rows = rng.randint(0, n, size=n // 2)
        base[rng.randint(0, n, size=n // 2)] = base[rows]
    if draw(st.booleans()):  # all-zero rows
        base[rng.rand(n) < 0.3] = 0.0
    corrupt = draw(st.sampled_from([None] * 8 + ["nan", "inf", "-inf"]))

    if dtype is np.bool_:
        X = base > 0
    elif dtype is object:
        # Python numbers of mixed types in an object array.
        X = base.astype(object)
        X[::2] = np.round(base[::2] * 10).astype(int).astype(object)
    else:
        scale = draw(st.sampled_from(MAGNITUDES[dtype]))
        if np.issubdtype(dtype, np.integer):
            X = np.round(base * scale).astype(dtype)
        else:
            X = (base * scale).astype(dtype)
    sparse = None
    if X.dtype.kind in "fib" and X.dtype != np.float16:
        sparse = draw(st.sampled_from([None, None, "csr", "csc"]))
        if sparse is not None:
            X = np.where(rng.rand(n, d) < 0.5, X, X.dtype.type(0))
            X[rng.rand(n) < 0.3] = 0  # empty rows
    if corrupt is not None and X.dtype.kind == "f":
        X[rng.randint(n), rng.randint(d)] = float(corrupt)
    else:
        corrupt = None
    if sparse is not None:
        X = sp.csr_matrix(X) if sparse == "csr" else sp.csc_matrix(X)

    kind = draw(st.sampled_from(LABEL_KINDS))
    n_classes = draw(st.sampled_from([1, 2, 2, 2, 3, 3, 4, 5]))
    codes = rng.randint(0, n_classes, size=n)
    names = np.array(["cat", "dog", "emu", "fox", "gnu"])
    if kind == "int":
        y = codes * 7 - 3
    elif kind == "str":
        y = names[codes]
    elif kind == "bool":
        y = codes % 2 == 0
    elif kind == "float-integral":
        y = codes.astype(np.float64)
    elif kind == "mixed-int-float-list":
        y = [int(c) if i % 2 else float(c) for i, c in enumerate(codes)]
    elif kind == "object-str":
        y = names[codes].astype(object)
    elif kind == "multilabel":
        y = (rng.rand(n, max(n_classes, 2)) < 0.5).astype(int)
    elif kind == "continuous":
        y = codes + 0.5 * rng.rand(n)
    else:  # mixed-str-int
        y = np.array([names[c] if i % 2 else int(c) for i, c in enumerate(codes)], dtype=object)

    if corrupt == "nan":
        expected = r"Input X contains NaN"
    elif corrupt is not None:
        expected = r"Input X contains infinity"
    elif kind in ("continuous", "mixed-str-int"):
        expected = r"Unknown label type|Mix of label input types"
    elif kind != "multilabel" and len(np.unique(np.asarray(y))) < 2:
        expected = r"at least 2 classes"
    else:
        expected = None
    description = f"{n}x{d} {np.dtype(dtype).name} sparse={sparse} y={kind}"
    return X, y, expected, description


def estimator_params(solvers=("lbfgs",)):
    return st.fixed_dictionaries(
        {
            "solver": st.sampled_from(solvers),
            "hidden_layer_sizes": st.sampled_from([(), (3,), (4, 3)]),
            "activation": st.sampled_from(["logistic", "tanh", "relu", "identity"]),
            "out_activation": st.sampled_from(["logistic", "softmax"]),
            "alpha": st.sampled_from([0.0, 1e-4, 1.0, 100.0]),
            "batch_size": st.sampled_from([None, 7]),
        }
    )


def assert_raised_by_validation(error):
    """The innermost skmlp frame of the traceback is validation code."""
    frames = [
        Path(frame.filename).resolve()
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(SKMLP_DIR)
    ]
    assert frames, error
    assert frames[-1].name in VALIDATING_MODULES, (error, frames[-1])


def assert_sound_model(clf, X, y):
    """Finite parameters; finite probabilities that sum to one; consistent predict."""
    assert parameters(clf).dtype == np.float64
    assert np.isfinite(parameters(clf)).all()
    assert np.isfinite(clf.loss_)
    assert all(np.isfinite(c).all() for c in clf.coefs_ + clf.intercepts_)
    multilabel = np.ndim(y) == 2
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], len(clf.classes_))
    assert np.isfinite(proba).all()
    assert (proba >= 0).all() and (proba <= 1).all()
    atol = 1e-5 if proba.dtype == np.float32 else 1e-12
    if not multilabel:
        assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=atol)
        assert set(np.unique(np.asarray(y))) == set(clf.classes_)
    predicted = clf.predict(X)
    assert len(predicted) == X.shape[0]
    if not multilabel:
        # The predicted class is a most probable one.
        index = np.searchsorted(clf.classes_, predicted)
        assert_array_equal(clf.classes_[index], predicted)
        best = proba[np.arange(len(index)), index]
        assert (best >= proba.max(axis=1) - atol).all()
    log_proba = clf.predict_log_proba(X)
    assert not np.isnan(log_proba).any()


def check_fit(data, params):
    X, y, expected, description = data
    clf = BackpropMLPClassifier(max_iter=30, random_state=0, **params)
    if np.ndim(y) == 2 and params["out_activation"] == "softmax" and expected is None:
        expected = r"Multilabel targets need out_activation='logistic'"
    event(f"expected error: {expected}" if expected else "fit succeeds")
    if expected is not None:
        with pytest.raises((ValueError, TypeError), match=expected) as error:
            clf.fit(X, y)
        assert_raised_by_validation(error.value)
        # Bad input changes nothing: the estimator stays unfitted.
        assert not hasattr(clf, "_theta")
        assert not hasattr(clf, "n_features_in_")
        return
    clf.fit(X, y)
    assert clf.n_features_in_ == X.shape[1], description
    assert_sound_model(clf, X, y)


@ignore_convergence
@SETTINGS
@given(data=hostile_data(), params=estimator_params())
def test_fit_on_hostile_data_succeeds_soundly_or_fails_clearly(data, params):
    """The default solver on everything, magnitudes up to 1e300 included."""
    check_fit(data, params)


# Every other solver, magnitudes up to 1e300 included.
@pytest.mark.slow
@ignore_convergence
@SETTINGS
@given(
    data=hostile_data(),
    params=estimator_params(["tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]),
)
def test_every_solver_on_hostile_data_succeeds_soundly_or_fails_clearly(data, params):
    check_fit(data, params)


@SETTINGS
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 30),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_predict_on_hostile_data_is_finite(fitted_per_width, n, d, dtype, seed):
    """A model fitted on ordinary data predicts finitely on extreme inputs."""
    clf = fitted_per_width[d]
    rng = np.random.RandomState(seed)
    base = rng.uniform(-1, 1, size=(n, d))
    if dtype is np.bool_:
        X = base > 0
    elif dtype is object:
        X = base.astype(object)
    else:
        scale = max(MAGNITUDES[dtype]) if rng.rand() < 0.5 else min(MAGNITUDES[dtype])
        X = (base * scale).astype(dtype)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    tol = 1e-5 if proba.dtype == np.float32 else 1e-12
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=tol)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert np.isfinite(clf.decision_function(X)).all()


@pytest.fixture(scope="module")
def fitted_per_width():
    """Softmax models with a relu layer, one per input width 1..30."""
    rng = np.random.RandomState(0)
    models = {}
    for d in range(1, 31):
        X = rng.normal(size=(40, d))
        y = (X[:, 0] > 0).astype(int) + (X[:, -1] > 0.5)
        clf = BackpropMLPClassifier(
            hidden_layer_sizes=(5,),
            activation="relu",
            out_activation="softmax",
            max_iter=100,
            random_state=0,
        )
        # Any fitted model will do: whether it converged does not matter here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models[d] = clf.fit(X, y)
    return models


# ---------------------------------------------------------- non-finite path


def nan_after(k, monkeypatch):
    """Make the objective non-finite away from the first `k` points evaluated.

    Deterministic in theta, as a real objective is: a point evaluated again
    gets the same value. Returns the finite evaluations ``{bytes: loss}``.
    """
    original = Objective.loss_and_grad
    finite = {}

    def loss_and_grad(self, theta):
        loss, grad = original(self, theta)
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key in finite or len(finite) < k:
            finite[key] = loss
            return loss, grad
        return np.nan, np.full_like(grad, np.nan)

    monkeypatch.setattr(Objective, "loss_and_grad", loss_and_grad)
    return finite


@pytest.fixture(scope="module")
def small_digits():
    X, y = load_digits(n_class=3, return_X_y=True)
    return StandardScaler().fit_transform(X[:90]), y[:90]


@pytest.mark.parametrize(
    "solver", ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]
)
@pytest.mark.parametrize("k", [1, 3, 8])
def test_non_finite_objective_keeps_last_finite_parameters(solver, k, small_digits, monkeypatch):
    X, y = small_digits
    finite = nan_after(k, monkeypatch)
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(5,), solver=solver, max_iter=30, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    monkeypatch.undo()
    assert [w for w in caught if w.category is not ConvergenceWarning] == []
    # The parameters are a point where the objective was finite, with its loss.
    assert np.isfinite(parameters(clf)).all()
    assert parameters(clf).tobytes() in finite
    assert clf.loss_ == finite[parameters(clf).tobytes()]
    assert all(np.isfinite(clf.loss_curve_))
    assert len(clf.loss_curve_) == clf.n_iter_
    # ... and the fit says why it stopped.
    messages = [str(w.message) for w in caught]
    assert any("non-finite loss; the parameters of the last" in m for m in messages), messages
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(axis=1), 1.0)


def test_huge_input_with_identity_activation_takes_the_non_finite_path():
    # Logits of order 1e300: the first step's loss overflows, the real
    # (unpatched) non-finite path; the initial parameters are kept.
    X = np.array([[1e300], [-1e300], [2e300], [-2e300]])
    y = [0, 1, 0, 1]
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(1,), activation="identity", max_iter=20, random_state=0
    )
    initial = build_problem(clone(clf), X, y).theta0  # the fit's initial parameters
    with pytest.warns(ConvergenceWarning, match="non-finite loss"):
        clf.fit(X, y)
    assert clf.n_iter_ == 0
    assert_array_equal(parameters(clf), initial)
    assert np.isfinite(clf.loss_)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(axis=1), 1.0)


# --------------------------------------------------------------- threads


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(20, 10), activation="tanh", max_iter=60, tol=0, random_state=0
    )
    with pytest.warns(ConvergenceWarning):  # tol=0: a fixed amount of work
        clf.fit(X, y)
    return clf, X


@pytest.mark.slow
@pytest.mark.parametrize("sparse", [False, True])
def test_concurrent_predictions_equal_sequential_ones(digits_model, sparse):
    clf, X = digits_model
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    methods = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    # Different row blocks per thread, so the threads do not share inputs.
    blocks = [X[i::8] for i in range(8)]
    expected = {(m, i): getattr(clf, m)(blocks[i]) for m in methods for i in range(8)}

    n_threads = 8
    barrier = threading.Barrier(n_threads)
    results = [{} for _ in range(n_threads)]
    errors = []

    def work(t):
        try:
            barrier.wait()
            for repeat in range(5):
                for i in range(8):
                    block = (i + t + repeat) % 8
                    for m in methods:
                        results[t][(m, block, repeat, i)] = getattr(clf, m)(blocks[block])
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for t in range(n_threads):
        assert len(results[t]) == 5 * 8 * len(methods)
        for (m, block, _, _), got in results[t].items():
            assert_array_equal(got, expected[(m, block)])


# ----------------------------------------------------------- regressions
# Minimal inputs of bugs the tests above found, each fixed.


# scikit-learn's finiteness check sums X and silenced only overflow: +inf and
# -inf partial sums warned 'invalid value encountered in reduce'.
@ignore_convergence
@pytest.mark.parametrize(
    ("big", "dtype"), [(1.7e308, np.float64), (3e38, np.float32)], ids=["float64", "float32"]
)
def test_values_near_the_dtype_maximum(big, dtype):
    # 16 rows: numpy's pairwise sum then adds +big + +big and -big + -big
    # in separate accumulators before combining them.
    X = np.array([[big], [-big]] * 8, dtype=dtype)
    y = [0, 1] * 8
    clf = BackpropMLPClassifier(max_iter=30, random_state=0).fit(X, y)
    assert_sound_model(clf, X, y)


# The engine's forward pass warned 'overflow encountered in matmul' once
# L-BFGS stepped to weights that overflow the logits.
@ignore_convergence
def test_engine_overflow_on_large_inputs():
    X = np.array([[1e153], [4e153]])
    y = [0, 1]
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(1,), activation="identity", max_iter=20, random_state=0
    ).fit(X, y)
    assert_sound_model(clf, X, y)


HUGE = np.array([[1e300], [-1e300], [2e300], [-2e300]]), [0, 1, 0, 1]
# The input hypothesis found for TNC (the overflow was in the monitor's
# gradient norm); the other solvers overflowed inside scipy on HUGE.
HUGE_TNC = np.array([[-1.28010196e299], [-9.48147536e299]]), [-3, 4]


@ignore_convergence
@pytest.mark.parametrize(
    ("solver", "data"),
    [
        ("lbfgs", HUGE),
        ("tnc", HUGE_TNC),
        ("cg", HUGE),
        ("bfgs", HUGE),
        ("newton-cg", HUGE),
        ("trust-ncg", HUGE),
        ("trust-krylov", HUGE),
    ],
)
def test_solvers_on_huge_inputs(solver, data):
    # Logistic regression (no hidden layer) on four points of order 1e300.
    X, y = data
    clf = BackpropMLPClassifier(hidden_layer_sizes=(), solver=solver, max_iter=20, random_state=0)
    clf.fit(X, y)
    assert_sound_model(clf, X, y)
