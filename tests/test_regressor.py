"""BackpropMLPRegressor: its cost against an independent transcription, its
gradients, scikit-learn's checks, early stopping, persistence and the
reference fits of scikit-learn's PoissonRegressor."""

import itertools
import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmlp import BackpropMLPRegressor, check_gradients

ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]
SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]


def make_data(n_outputs=1, n=60, seed=0, poisson=False):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    signal = np.tanh(X @ rng.normal(size=(4, n_outputs)))
    y = (
        rng.poisson(np.exp(signal)).astype(float)
        if poisson
        else signal + 0.1 * rng.normal(size=signal.shape)
    )
    return X, (y.ravel() if n_outputs == 1 else y), rng.uniform(0.2, 3.0, size=n)


def reference_cost(reg, X, y, sample_weight, alpha):
    """J transcribed from the docstring, in plain numpy: sum over outputs, mean over rows."""
    A = X
    acts = {
        "logistic": lambda a: 1 / (1 + np.exp(-a)),
        "tanh": np.tanh,
        "relu": lambda a: np.maximum(a, 0),
        "identity": lambda a: a,
    }
    for W, b in zip(reg.coefs_[:-1], reg.intercepts_[:-1]):
        A = acts[reg.activation_](A @ W + b)
    a = A @ reg.coefs_[-1] + reg.intercepts_[-1]
    Y = y.reshape(len(y), -1)
    if reg.loss == "squared_error":
        per_row = 0.5 * np.sum((a - Y) ** 2, axis=1)
    else:
        mu = np.exp(a)
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0.0)
        per_row = np.sum(ylogy - Y * a - Y + mu, axis=1)
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    S = s.sum()
    penalty = alpha / (2 * S) * sum(np.sum(W**2) for W in reg.coefs_)
    return float(s @ per_row / S + penalty)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cost_equals_an_independent_transcription(loss, n_outputs, weighted):
    X, y, w = make_data(n_outputs, poisson=loss == "poisson")
    w = w if weighted else None
    reg = BackpropMLPRegressor((5, 3), "tanh", loss=loss, alpha=0.7, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y, sample_weight=w)
    expected = reference_cost(reg, X, y, w, alpha=0.7)
    assert reg.objective(X, y, w) == pytest.approx(expected, rel=1e-12)
    # The loss the fit reports is J of its parameters on the training rows.
    assert reg.loss_ == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("loss", "n_outputs", "weighted", "activation"),
    list(itertools.product(["squared_error", "poisson"], [1, 3], [False, True], ACTIVATIONS)),
)
def test_gradient_matches_finite_differences(loss, n_outputs, weighted, activation):
    # scikit-learn #8349: with several outputs, a loss averaged over outputs
    # and a gradient summed over them disagree. Here both sum.
    X, y, w = make_data(n_outputs, n=25, poisson=loss == "poisson")
    reg = BackpropMLPRegressor((6,), activation, loss=loss, alpha=0.3, random_state=1)
    check = check_gradients(reg, X, y, w if weighted else None)
    assert check.relative_difference < 1e-8


CONFIGURATIONS = [
    BackpropMLPRegressor(),
    BackpropMLPRegressor(loss="poisson"),
    BackpropMLPRegressor(hidden_layer_sizes=(8, 6), activation="tanh"),
    BackpropMLPRegressor(early_stopping=True),
]
SOLVER_CONFIGURATIONS = [
    *(BackpropMLPRegressor(solver=s) for s in SOLVERS[1:] if s != "bfgs"),
    # 'bfgs' keeps a dense inverse Hessian: a small network, as documented.
    BackpropMLPRegressor(solver="bfgs", hidden_layer_sizes=(5,)),
    BackpropMLPRegressor(solver="lm"),
    BackpropMLPRegressor(solver="lm", alpha="evidence"),
]


def expected_failed_checks(estimator):
    failing = {}
    if estimator.loss == "poisson":
        # scikit-learn's multi-output check makes negative targets without
        # honouring the positive_only tag; the Poisson loss refuses them.
        failing["check_regressor_multioutput"] = "negative targets for loss='poisson'"
    if estimator.early_stopping:
        # As the classifier's: the validation rows are split off as given.
        reason = "early stopping holds out rows as given"
        failing["check_sample_weight_equivalence_on_dense_data"] = reason
        failing["check_sample_weight_equivalence_on_sparse_data"] = reason
    return failing


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CONFIGURATIONS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(SOLVER_CONFIGURATIONS)
def test_sklearn_compatible_with_every_solver(estimator, check):
    check(estimator)


def test_poisson_without_hidden_layers_is_poisson_regression():
    X, y, _ = make_data(1, n=200, seed=3, poisson=True)
    reg = BackpropMLPRegressor(
        (), loss="poisson", alpha=0.0, solver="trust-ncg", tol=1e-8, random_state=0
    )
    reg.fit(X, y)
    glm = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    assert_allclose(reg.coefs_[0].ravel(), glm.coef_, atol=1e-4)
    assert_allclose(reg.intercepts_[0], [glm.intercept_], atol=1e-4)
    assert_allclose(reg.predict(X), glm.predict(X), rtol=1e-4)


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_fits_friedman(solver):
    X, y = make_friedman1(n_samples=300, random_state=0)
    X = StandardScaler().fit_transform(X)
    hidden = (5,) if solver == "bfgs" else (10,)
    reg = BackpropMLPRegressor(hidden, alpha=0.01, solver=solver, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.score(X, y) > 0.9
    assert reg.n_iter_ == len(reg.loss_curve_) and reg.loss_ == reg.loss_curve_[-1]
    assert np.all(np.isfinite(reg.coefs_[0]))


def test_shapes_follow_mlpregressor():
    X, y, _ = make_data(1)
    column = BackpropMLPRegressor((4,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, DataConversionWarning
        column.fit(X, y[:, None])
    assert column.predict(X).shape == (len(y),) and column.n_outputs_ == 1
    X3, Y3, _ = make_data(3)
    reg = BackpropMLPRegressor((4,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X3, Y3)
    assert reg.predict(X3).shape == (len(Y3), 3) and reg.n_outputs_ == 3
    assert reg.out_activation_ == "identity"
    assert not hasattr(reg, "classes_") and not hasattr(reg, "decision_function")


def test_bad_targets_get_clear_errors():
    X, y, _ = make_data(1)
    with pytest.raises(ValueError, match="non-negative targets"):
        BackpropMLPRegressor(loss="poisson").fit(X, y - 10)
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        BackpropMLPRegressor().fit(X, np.where(y > 0, np.nan, y))
    with pytest.raises(ValueError, match="loss"):
        BackpropMLPRegressor(loss="absolute_error").fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_minibatch_solvers_are_explained_to_mlpregressor_users(solver):
    X, y, _ = make_data(1)
    reg = BackpropMLPRegressor(max_iter=1000, random_state=0).fit(X, y)
    before = pickle.dumps(reg)
    reg.set_params(solver=solver)
    expected = (
        "The 'solver' parameter of BackpropMLPRegressor must be a str among {'bfgs', "
        "'cg', 'lbfgs', 'lm', 'newton-cg', 'tnc', 'trust-krylov', 'trust-ncg'}. "
        f"Got '{solver}' instead. BackpropMLPRegressor trains full-batch (every step "
        "uses the whole training set, through scipy's optimizers), so it has no "
        "minibatch solvers such as 'adam' or 'sgd'. The closest is solver='lbfgs', "
        "the same method as MLPRegressor(solver='lbfgs')."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        reg.fit(X, y)
    reg.set_params(solver="lbfgs")
    assert pickle.dumps(reg) == before  # the previous fit stays, unchanged


def test_early_stopping_scores_the_held_out_rows_by_r2():
    X, y = make_friedman1(n_samples=200, random_state=1)
    reg = BackpropMLPRegressor(
        (8,),
        alpha=0.01,
        early_stopping=True,
        n_iter_no_change=np.inf,
        max_iter=40,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    # The in-memory split is train_test_split's with the fit's random state.
    _, X_val, _, y_val = train_test_split(
        X, y, test_size=20, random_state=np.random.RandomState(0)
    )
    assert len(reg.validation_scores_) == 40
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert reg.best_validation_score_ == pytest.approx(
        r2_score(y_val, reg.predict(X_val)), rel=1e-9
    )


def test_pipeline_grid_search_and_pickle():
    X, y = make_friedman1(n_samples=200, random_state=2)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), BackpropMLPRegressor((8,), max_iter=300, random_state=0)),
        {"backpropmlpregressor__alpha": [0.01, 1.0]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.5
    loaded = pickle.loads(pickle.dumps(search.best_estimator_))
    assert_array_equal(loaded.predict(X), search.predict(X))


def test_skops_round_trip_trusts_only_the_estimator(tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y, _ = make_data(2)
    reg = BackpropMLPRegressor((4,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(reg, path)
    assert sio.get_untrusted_types(file=path) == ["skmlp._regressor.BackpropMLPRegressor"]
    loaded = sio.load(path, trusted=["skmlp._regressor.BackpropMLPRegressor"])
    assert_array_equal(loaded.predict(X), reg.predict(X))
