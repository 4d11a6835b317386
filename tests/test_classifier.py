"""BackpropMLPClassifier behaviour: outputs, inputs, invariances, errors."""

import copy
import inspect
import pickle
import re
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import assert_views_of_one_vector, parameters
from _reference import Reference
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skmlp import BackpropMLPClassifier, pack, unpack
from skmlp._problem import build_problem
from skmlp._solvers import run_solver

SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_pack_unpack_round_trip_and_views():
    rng = np.random.RandomState(0)
    arrays = [rng.normal(size=(25, 401)), rng.normal(size=(10, 26)), rng.normal(size=3)]
    flat, shapes = pack(arrays)
    assert flat.shape == (25 * 401 + 10 * 26 + 3,)
    unpacked = unpack(flat, shapes)
    for a, b in zip(arrays, unpacked):
        assert_array_equal(a, b)
        assert np.shares_memory(b, flat)
    unpacked[1][0, 0] = 123.0
    assert flat[25 * 401] == 123.0
    with pytest.raises(ValueError, match="10288 elements"):
        unpack(flat[:-2], shapes)


@pytest.mark.parametrize("solver", SOLVERS)
def test_each_solver_learns_and_reports(solver, iris):
    X, y = iris
    clf = BackpropMLPClassifier(solver=solver, max_iter=1000, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95
    assert 1 <= clf.n_iter_ <= 1000
    assert clf.n_fun_ >= clf.n_iter_
    assert clf.loss_ == pytest.approx(clf.objective(X, y), rel=1e-10)
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.loss_curve_[-1] == clf.loss_


def test_coefs_are_views_of_one_vector(iris):
    X, y = iris
    clf = BackpropMLPClassifier(hidden_layer_sizes=(7, 5), random_state=0, max_iter=1000).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    assert_views_of_one_vector(clf)
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3
    assert [t.shape for t in clf.thetas_] == [(7, 5), (5, 8), (3, 6)]
    assert_array_equal(clf.thetas_[0][:, 0], clf.intercepts_[0])
    assert_array_equal(clf.thetas_[0][:, 1:], clf.coefs_[0].T)


@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_probabilities_are_consistent(out_activation, iris):
    X, y = iris
    clf = BackpropMLPClassifier(out_activation=out_activation, random_state=0, max_iter=1000).fit(
        X, y
    )
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10, atol=1e-12)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert_array_equal(clf.decision_function(X).argmax(axis=1), proba.argmax(axis=1))
    assert clf.out_activation_ == out_activation


def test_logistic_outputs_normalized_from_sigmoids(iris):
    X, y = iris
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    sigmoids = 1 / (1 + np.exp(-clf.decision_function(X)))
    assert_allclose(clf.predict_proba(X), sigmoids / sigmoids.sum(axis=1, keepdims=True))


def test_binary_uses_one_logistic_unit():
    X, y = make_classification(60, 5, random_state=0)
    labels = np.array(["no", "yes"])[y]
    clf = BackpropMLPClassifier(out_activation="softmax", random_state=0, max_iter=1000).fit(
        X, labels
    )
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    scores = clf.decision_function(X)
    assert scores.shape == (60,)
    proba = clf.predict_proba(X)
    assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)))
    assert_array_equal(clf.predict(X), np.where(scores > 0, "yes", "no"))


def test_multilabel_targets():
    X, Y = make_classification(80, 6, random_state=0)[0], None
    rng = np.random.RandomState(0)
    Y = (X[:, :3] + 0.3 * rng.normal(size=(80, 3)) > 0).astype(int)
    clf = BackpropMLPClassifier(alpha=0.1, random_state=0, max_iter=1000).fit(X, Y)
    assert clf.predict(X).shape == (80, 3)
    assert (clf.predict(X) == Y).mean() > 0.9
    proba = clf.predict_proba(X)
    assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    with pytest.raises(ValueError, match="Multilabel targets need out_activation='logistic'"):
        BackpropMLPClassifier(out_activation="softmax").fit(X, Y)


@pytest.mark.parametrize(
    "labels",
    [np.array(["setosa", "versicolor", "virginica"]), np.array([3, -1, 10]), None],
)
def test_label_types(labels, iris):
    X, y = iris
    target = y if labels is None else labels[y]
    if labels is None:
        target = np.array([str(v) for v in y], dtype=object)
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, target)
    assert set(clf.predict(X)) <= set(target)
    assert clf.score(X, target) > 0.95


def test_bool_labels():
    X, y = make_classification(60, 4, random_state=1)
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y.astype(bool))
    assert clf.predict(X).dtype == bool
    assert_array_equal(clf.classes_, [False, True])


# tol far below what L-BFGS-B reaches in float64: its stall warning is expected.
@pytest.mark.filterwarnings(
    "ignore:Solver 'lbfgs' stopped after:sklearn.exceptions.ConvergenceWarning"
)
def test_input_types_give_same_model(iris):
    """Sparse, list and DataFrame inputs fit the same model as the dense array.

    Without hidden layers and with alpha > 0 the objective is strictly convex,
    so fits from any input format must meet at the one optimum; with hidden
    layers, formats that round differently may settle on different points of a
    flat valley (the engine's equality across formats is in test_engine.py).
    """
    X, y = iris
    pd = pytest.importorskip("pandas")
    params = {"hidden_layer_sizes": (), "random_state": 0, "max_iter": 5000, "tol": 1e-9}
    ref = BackpropMLPClassifier(**params).fit(X, y)
    from_list = BackpropMLPClassifier(**params).fit(X.tolist(), y)
    assert_array_equal(parameters(from_list), parameters(ref))
    for X_in in (sp.csr_matrix(X), sp.csc_matrix(X)):
        clf = BackpropMLPClassifier(**params).fit(X_in, y)
        assert_allclose(clf.predict_proba(X_in), ref.predict_proba(X), rtol=1e-6)
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = BackpropMLPClassifier(**params).fit(frame, y)
    assert_array_equal(clf.feature_names_in_, ["sl", "sw", "pl", "pw"])
    assert_allclose(clf.predict_proba(frame), ref.predict_proba(X), rtol=1e-6)


def test_int_and_float32_inputs(iris):
    X, y = iris
    Xi = np.round(X * 10).astype(np.int64)
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(Xi, y)
    ref = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(Xi.astype(float), y)
    assert_array_equal(parameters(clf), parameters(ref))
    with warnings.catch_warnings():
        # float32 rounding may stall L-BFGS-B just above tol, truthfully warned.
        warnings.filterwarnings("ignore", "(?s).*float32 rounding", ConvergenceWarning)
        clf32 = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X.astype(np.float32), y)
    assert parameters(clf32).dtype == np.float64
    # float32 training minimizes the same J. It reports it truthfully: its
    # float32 J is the float64 one within float32's rounding (eps times the
    # reference's bound, see _reference.py).
    J = clf32.objective(X, y)
    eps = np.finfo(np.float32).eps + np.finfo(np.float64).eps
    bound = Reference(X, y).bounds(clf32.coefs_, clf32.intercepts_, np.finfo(np.float32).eps)[0]
    assert abs(clf32.loss_ - J) <= eps * bound
    # And it stops only where float64 training, continued from there, lowers
    # J by no more than float32 can resolve. (Not compared with an
    # independent float64 fit: where that settles in this flat valley
    # depends on the CPU's rounding.)
    polished = copy.deepcopy(clf32).set_params(warm_start=True).fit(X, y)
    assert J - polished.loss_ <= eps * bound


def test_same_random_state_same_fit(iris):
    X, y = iris
    a = BackpropMLPClassifier(random_state=42, max_iter=1000).fit(X, y)
    b = BackpropMLPClassifier(random_state=42, max_iter=1000).fit(X, y)
    c = BackpropMLPClassifier(random_state=43, max_iter=1000).fit(X, y)
    assert_array_equal(parameters(a), parameters(b))
    assert not np.array_equal(parameters(a), parameters(c))


def test_init_epsilon_bounds_initial_weights(iris):
    X, y = iris
    clf = BackpropMLPClassifier((25,), max_iter=1, init_epsilon=0.05, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        problem = build_problem(clf, X, y)
        clf.fit(X, y)
    assert np.abs(problem.theta0).max() <= 0.05
    default = build_problem(BackpropMLPClassifier((25,), random_state=0, max_iter=1000), X, y)
    bound_in = np.sqrt(6 / (4 + 25))
    assert np.abs(default.layout.coefs(default.theta0)[0]).max() <= bound_in
    assert np.abs(default.layout.coefs(default.theta0)[0]).max() > 0.8 * bound_in


def test_convergence_warning_names_the_budget(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=r"max_iter=3 .*Increase max_iter"):
        clf = BackpropMLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3
    with pytest.warns(ConvergenceWarning, match=r"max_fun=5 .*Increase max_fun"):
        BackpropMLPClassifier(max_fun=5, random_state=0).fit(X, y)
    for solver in ("tnc", "cg", "newton-cg"):
        with pytest.warns(ConvergenceWarning, match="max_iter=2"):
            clf = BackpropMLPClassifier(solver=solver, max_iter=2, random_state=0).fit(X, y)
        assert clf.n_iter_ == 2 and np.all(np.isfinite(parameters(clf)))


def test_verbose_prints_iterations(iris, capsys):
    X, y = iris
    clf = BackpropMLPClassifier(verbose=1, random_state=0, max_iter=1000).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == clf.n_iter_ + 1
    BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    assert capsys.readouterr().out == ""


# tol far below what L-BFGS-B reaches in float64: its stall warning is expected.
@pytest.mark.filterwarnings(
    "ignore:Solver 'lbfgs' stopped after:sklearn.exceptions.ConvergenceWarning"
)
def test_sample_weight_equivalence():
    """Integer weights = repeated rows, bit for bit (canonical rows, test_rows.py)."""
    for seed in range(4):
        rng = np.random.RandomState(seed)
        X = rng.normal(size=(40, 6))
        y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
        sw = rng.randint(0, 4, size=40)
        params = {"random_state": seed, "tol": 1e-10, "max_iter": 2000}
        weighted = BackpropMLPClassifier(**params).fit(X, y, sample_weight=sw)
        repeated = BackpropMLPClassifier(**params).fit(X.repeat(sw, axis=0), y.repeat(sw))
        assert_array_equal(weighted.predict(X), repeated.predict(X))
        assert_array_equal(weighted.predict_proba(X), repeated.predict_proba(X))
        assert_array_equal(parameters(weighted), parameters(repeated))


# tol far below what L-BFGS-B reaches in float64: its stall warning is expected.
@pytest.mark.filterwarnings(
    "ignore:Solver 'lbfgs' stopped after:sklearn.exceptions.ConvergenceWarning"
)
def test_sample_weight_scaling_invariance(iris):
    """J(c s, c alpha) = J(s, alpha): S scales the data term and the penalty alike."""
    X, y = iris
    sw = np.random.RandomState(0).uniform(0.5, 2, size=len(y))
    params = {"random_state": 0, "max_iter": 5000, "tol": 1e-9}
    a = BackpropMLPClassifier(**params).fit(X, y, sample_weight=sw)
    b = BackpropMLPClassifier(alpha=10.0, **params).fit(X, y, sample_weight=10 * sw)
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-10)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_from_thetas_round_trip(iris):
    X, y = iris
    clf = BackpropMLPClassifier((6, 4), random_state=0, max_iter=1000).fit(X, y)
    copy = BackpropMLPClassifier.from_thetas(clf.thetas_, clf.classes_)
    for a, b in zip(copy.thetas_, clf.thetas_):
        assert_array_equal(a, b)
    assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert copy.hidden_layer_sizes == (6, 4)
    with pytest.raises(ValueError, match="3 classes need 3"):
        BackpropMLPClassifier.from_thetas([*clf.thetas_[:-1], clf.thetas_[-1][:2]], [0, 1, 2])
    with pytest.raises(ValueError, match="bias column first"):
        BackpropMLPClassifier.from_thetas([np.ones((3, 5)), np.ones((3, 3))], [0, 1, 2])


def test_from_thetas_validates_its_input():
    thetas = [np.ones((3, 5)), np.ones((3, 4))]
    with pytest.raises(ValueError, match="'alpha' parameter"):
        BackpropMLPClassifier.from_thetas(thetas, [0, 1, 2], alpha=-1.0)
    with pytest.raises(ValueError, match="'solver' parameter"):
        BackpropMLPClassifier.from_thetas(thetas, [0, 1, 2], solver="nope")
    with pytest.raises(TypeError, match="do not pass hidden_layer_sizes"):
        BackpropMLPClassifier.from_thetas(thetas, [0, 1, 2], hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="NaN or infinity"):
        BackpropMLPClassifier.from_thetas([np.full((3, 5), np.nan), thetas[1]], [0, 1, 2])


# ------------------------------------------------------------ integration


@pytest.mark.slow
def test_pipeline_grid_search_and_cross_val():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), BackpropMLPClassifier(random_state=0, max_iter=1000))
    grid = GridSearchCV(
        pipe,
        {
            "backpropmlpclassifier__alpha": [0.01, 1.0],
            "backpropmlpclassifier__hidden_layer_sizes": [(5,), (10,)],
        },
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.9
    assert len(grid.cv_results_["params"]) == 4
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_clone_pickle_joblib(iris, tmp_path):
    X, y = iris
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    unfitted = clone(clf)
    assert not hasattr(unfitted, "classes_")
    assert unfitted.get_params() == clf.get_params()
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert_views_of_one_vector(restored)
    joblib.dump(clf, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


@pytest.mark.slow
def test_digits_accuracy_matches_mlpclassifier():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    ours = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X_train, y_train)
    theirs = MLPClassifier(
        (25,), activation="logistic", solver="lbfgs", alpha=1.0, max_iter=1000, random_state=0
    ).fit(X_train, y_train)
    ours_acc, theirs_acc = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert ours_acc >= 0.95
    assert ours_acc >= theirs_acc - 0.01


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_swap_from_mlpclassifier_fits_without_a_warning(random_state):
    # Issue 25: MLPClassifier((50,), max_iter=300) fits the standardized
    # digits silently; the same call here warned on every fit at tol=1e-5
    # (L-BFGS still above it after 300 iterations). At the default tol it
    # converges by tol, well within the budget (benchmarks/defaults_tol.py).
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BackpropMLPClassifier(hidden_layer_sizes=(50,), max_iter=300, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ < clf.max_iter
    with build_problem(clf, X, y) as objective:
        _, grad = objective.loss_and_grad(clf._theta)
    assert np.max(np.abs(grad)) <= clf.tol  # converged by tol, not stopped


def test_default_tol_is_mlpclassifiers_and_mlpregressors():
    from sklearn.neural_network import MLPRegressor

    from skmlp import BackpropMLPRegressor

    defaults = {BackpropMLPClassifier().tol, BackpropMLPRegressor().tol}
    assert defaults == {MLPClassifier().tol, MLPRegressor().tol} == {1e-4}


# ------------------------------------------------------------ bad input

BAD_X = [
    (np.array([[0.0, np.nan], [1.0, 2.0], [3, 4]]), "NaN"),
    (np.array([[0.0, np.inf], [1.0, 2.0], [3, 4]]), "infinity"),
    (np.empty((0, 2)), "0 sample"),
]


@pytest.mark.parametrize(("X", "match"), BAD_X)
def test_bad_X_raises_and_changes_nothing(X, match, iris):
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(*iris)
    before = pickle.dumps(clf), joblib.hash(clf.__dict__), clf.predict_proba(iris[0])
    with pytest.raises(ValueError, match=match):
        clf.fit(X, np.arange(len(X)) % 2)
    # Every attribute keeps its value, not only its name.
    assert joblib.hash(clf.__dict__) == before[1]
    assert pickle.dumps(clf) == before[0]
    assert_array_equal(clf.predict_proba(iris[0]), before[2])


def test_bad_y_and_weights(iris):
    X, y = iris
    clf = BackpropMLPClassifier()
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="Negative values"):
        clf.fit(X, y, sample_weight=np.r_[-1.0, np.ones(len(y) - 1)])
    with pytest.raises(ValueError, match=r"non-zero|sum to 0"):
        clf.fit(X, y, sample_weight=np.zeros(len(y)))
    assert not hasattr(clf, "n_features_in_")


@pytest.mark.parametrize("sizes", [(0,), (5, -2), (3.5,), ("a",), True])
def test_bad_hidden_layer_sizes(sizes, iris):
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        BackpropMLPClassifier(hidden_layer_sizes=sizes).fit(*iris)


def test_bad_parameters(iris):
    with pytest.raises(ValueError, match="'alpha' parameter"):
        BackpropMLPClassifier(alpha=-1).fit(*iris)


SOLVER_NAMES = re.escape(
    "must be a str among {'bfgs', 'cg', 'lbfgs', 'lm', 'newton-cg', 'tnc', "
    "'trust-krylov', 'trust-ncg'}"
)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_minibatch_solvers_are_explained_to_mlpclassifier_users(solver, iris):
    X, y = iris
    clf = BackpropMLPClassifier(solver=solver, max_iter=5, random_state=0)
    with pytest.raises(InvalidParameterError) as error:
        clf.fit(X, y)
    message = str(error.value)
    # scikit-learn's form (what check_estimator asks), the solvers sorted, ...
    assert re.search(
        rf"The 'solver' parameter of BackpropMLPClassifier {SOLVER_NAMES}\. "
        rf"Got '{solver}' instead\.",
        message,
    )
    # ... why there is no Adam or SGD, and what to use instead.
    assert "trains full-batch (every step uses the whole training set" in message
    assert message.endswith(
        "The closest is solver='lbfgs', the same method as MLPClassifier(solver='lbfgs')."
    )
    assert clf.__dict__ == clone(clf).__dict__  # unchanged: unfitted


@pytest.mark.parametrize(
    ("solver", "suggestion"),
    [("lbgfs", " Did you mean 'lbfgs'?"), ("newton_cg", " Did you mean 'newton-cg'?"),
     ("LM", " Did you mean 'lm'?"), ("nelder-mead", ""), (3, "")],
)  # fmt: skip
def test_unknown_solver_names_the_solvers_and_the_closest(solver, suggestion, iris):
    X, y = iris
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    before = parameters(clf)
    clf.set_params(solver=solver)
    with pytest.raises(ValueError) as error:
        clf.fit(X, y)
    assert str(error.value) == (
        "The 'solver' parameter of BackpropMLPClassifier must be a str among {'bfgs', "
        "'cg', 'lbfgs', 'lm', 'newton-cg', 'tnc', 'trust-krylov', 'trust-ncg'}. "
        f"Got {solver!r} instead.{suggestion}"
    )
    assert_array_equal(parameters(clf), before)  # the previous fit stays


def test_predict_errors(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        BackpropMLPClassifier().predict(X)
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but BackpropMLPClassifier"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(np.full((2, 4), np.nan))


# ------------------------------------------------- issue 13: correctness


def test_signature_matches_mlpclassifier():
    ours = inspect.signature(BackpropMLPClassifier)
    theirs = inspect.signature(MLPClassifier)

    def positional(sig):
        return [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]

    assert positional(ours) == positional(theirs) == ["hidden_layer_sizes", "activation"]
    clf = BackpropMLPClassifier((50,), "relu")
    assert clf.hidden_layer_sizes == (50,) and clf.activation == "relu"


def test_predictions_read_only_fitted_state(iris):
    X, y = iris
    clf = BackpropMLPClassifier((5,), random_state=0, max_iter=1000).fit(X, y)
    proba, J = clf.predict_proba(X), clf.objective(X, y)
    assert clf.activation_ == "logistic"
    clf.set_params(activation="relu", out_activation="softmax")
    assert_array_equal(clf.predict_proba(X), proba)
    assert clf.objective(X, y) == J


@pytest.mark.parametrize(
    ("class_weight", "unweighted"),
    [({7: 2}, [0, 1, 2]), ({0: 1, 1: 2, 7: 3, "7": 1}, [2])],
)
def test_class_weight_keys_that_are_not_classes_are_named(class_weight, unweighted, iris):
    X, y = iris
    unknown = [key for key in class_weight if key not in (0, 1, 2)]
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    state = copy.deepcopy(clf.__dict__)
    clf.set_params(class_weight=class_weight)
    expected = (
        f"class_weight has keys {unknown} that are not classes of y: the classes are "
        f"[0, 1, 2] (without a weight: {unweighted}). Key the weights by the labels of y."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        clf.fit(X, y)
    clf.set_params(class_weight=None)
    assert clf.__dict__.keys() == state.keys()
    assert_array_equal(clf._theta, state["_theta"])
    assert clf.loss_curve_ == state["loss_curve_"]
    # String labels: the keys and classes as the user wrote them.
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    with pytest.raises(ValueError, match=re.escape("keys [0] that are not classes of y: the ")):
        BackpropMLPClassifier(class_weight={0: 2.0}).fit(X, labels)


def test_class_weight_may_name_classes_a_fit_does_not_see(iris):
    # As scikit-learn: a key for a class absent from these rows (a fold
    # without it) is no error when every class present has its weight.
    X, y = iris
    weights = {0: 1.0, 1: 2.0, 2: 3.0, 7: 5.0}
    clf = BackpropMLPClassifier(class_weight=weights, random_state=0, max_iter=1000).fit(X, y)
    reference = BackpropMLPClassifier(random_state=0, max_iter=1000)
    reference.set_params(class_weight={0: 1.0, 1: 2.0, 2: 3.0}).fit(X, y)
    assert_array_equal(parameters(clf), parameters(reference))


def test_negative_class_weight_is_rejected(iris):
    X, y = iris
    clf = BackpropMLPClassifier(class_weight={0: -1.0, 1: 1, 2: 1})
    with pytest.raises(ValueError, match=r"class_weight .*non-negative.* 0: -1"):
        clf.fit(X, y)
    assert not hasattr(clf, "n_features_in_")


@pytest.mark.parametrize("name", ["coefs_", "intercepts_", "thetas_"])
def test_parameter_properties_before_fit_raise_not_fitted(name):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(BackpropMLPClassifier(), name)
    assert not hasattr(BackpropMLPClassifier(), name)


def test_error_texts_show_values_not_numpy_reprs(iris):
    X, y = iris
    with pytest.raises(ValueError, match="only one class") as error:
        BackpropMLPClassifier().fit(X, np.zeros(len(y)))
    assert "np." not in str(error.value) and "0.0" in str(error.value)
    clf = BackpropMLPClassifier(random_state=0, max_iter=1000).fit(X, y)
    clf.classes_ = np.array([0, 1, 5])
    with pytest.raises(ValueError, match="differ") as error:
        clf.predict(X)
    assert "array(" not in str(error.value) and "np." not in str(error.value)


@pytest.mark.parametrize("solver", SOLVERS)
def test_n_fun_counts_every_evaluation_and_max_fun_is_a_hard_budget(solver, iris):
    X, y = iris
    for max_iter, max_fun in [(50, 15000), (200, 7)]:
        clf = BackpropMLPClassifier(
            (8,), solver=solver, max_iter=max_iter, max_fun=max_fun, random_state=0
        )
        # The objective counts every evaluation the solver driver asks of it.
        problem = build_problem(clf, X, y)
        with problem as objective:
            hessp = objective.hessp if problem.curvature else None
            run = run_solver(
                solver,
                objective.loss_and_grad,
                problem.theta0,
                hessp=hessp,
                max_iter=max_iter,
                max_fun=max_fun,
                tol=clf.tol,
            )
            assert run.n_fun == objective.n_evaluations <= max_fun
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X, y)
        assert clf.n_fun_ == run.n_fun and clf.n_iter_ == run.n_iter
        assert np.array_equal(clf.loss_curve_, run.loss_curve)
        if max_fun == 7:
            assert any("max_fun=7" in str(w.message) for w in caught)
        assert np.all(np.isfinite(clf.coefs_[0]))


def test_convergence_warning_points_at_the_callers_line(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning) as record:
        BackpropMLPClassifier(max_iter=2, random_state=0).fit(X, y)
    assert [w.filename for w in record] == [__file__]


def test_stalled_solver_warns_with_the_reason(iris):
    X, y = iris
    clf = BackpropMLPClassifier((8,), solver="cg", tol=1e-12, max_iter=1000, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"precision loss") as record:
        clf.fit(X, y)
    assert clf.n_iter_ < 1000
    message = str(record[0].message)
    # Standardized columns: the advice is not to scale them.
    assert "StandardScaler" not in message and "tol" in message


def test_lbfgs_function_value_exit_above_tol_warns(iris):
    X, y = iris
    X32 = X.astype(np.float32)
    clf = BackpropMLPClassifier((10,), alpha=1e-6, tol=1e-7, max_iter=3000, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"RELATIVE REDUCTION OF F") as record:
        clf.fit(X32, y)
    assert clf.n_iter_ < 3000
    assert "float64" in str(record[0].message)


def test_budget_advice_follows_the_scale_of_the_columns(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning) as record:
        BackpropMLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert "StandardScaler" not in str(record[0].message)
    raw = X * [10, 1, 100, 0.01] + 50
    with pytest.warns(ConvergenceWarning, match="StandardScaler"):
        BackpropMLPClassifier(max_iter=3, random_state=0).fit(raw, y)
    raw = sp.csr_matrix(raw)
    with pytest.warns(ConvergenceWarning, match="StandardScaler"):
        BackpropMLPClassifier(max_iter=3, random_state=0).fit(raw, y)


def test_budget_advice_knows_standardized_columns_with_rare_features():
    # Standardized digits: constant columns, and rare ones that an evenly
    # spaced sample of rows may see as constant (their variance then is
    # rounding noise, which was read as a tiny scale).
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for data in (X, sp.csr_matrix(X)):
        for early_stopping in (False, True):
            clf = BackpropMLPClassifier(max_iter=2, early_stopping=early_stopping, random_state=0)
            with pytest.warns(ConvergenceWarning) as record:
                clf.fit(data, y)
            assert "StandardScaler" not in str(record[0].message)


def test_readme_maps_every_mlpclassifier_parameter():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Coming from MLPClassifier", 1)[1].split("\n## ", 1)[0]
    first_cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| ")]
    listed = set(re.findall(r"`(\w+)`", " ".join(first_cells)))
    assert set(inspect.signature(MLPClassifier).parameters) <= listed
