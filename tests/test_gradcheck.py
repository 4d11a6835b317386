"""check_gradients: the course's gradient check, and that it can fail."""

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import parameters
from scipy.special import expit

from skmlp import BackpropMLPClassifier, check_gradients
from skmlp._activations import DERIVATIVES, inplace_identity_derivative
from skmlp._layout import Layout
from skmlp._objective import Objective


def debug_weights(fan_out, fan_in):
    """The course's debugInitializeWeights: sin(1), sin(2), ... column-major, / 10."""
    shape = (fan_out, fan_in + 1)
    return np.sin(np.arange(1, np.prod(shape) + 1)).reshape(shape, order="F") / 10


def course_problem():
    """checkNNGradients: 3 inputs, 5 hidden units, 3 labels, 5 samples."""
    thetas = [debug_weights(5, 3), debug_weights(3, 5)]
    X = debug_weights(5, 2)
    y = 1 + np.arange(1, 6) % 3
    return thetas, X, y


def course_gradient(thetas, X, y, lam, sample_weight=None):
    """Hand-written backprop of the course's nnCostFunction (Theta1_grad, Theta2_grad).

    Sample weights generalize 1/m to s_i / S, as documented for the objective.
    """
    Theta1, Theta2 = thetas
    m = X.shape[0]
    s = np.ones(m) if sample_weight is None else np.asarray(sample_weight, float)
    S = s.sum()
    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ Theta1.T
    a2 = np.hstack([np.ones((m, 1)), expit(z2)])
    h = expit(a2 @ Theta2.T)
    Y = (y[:, None] == np.arange(1, Theta2.shape[0] + 1)).astype(float)
    d3 = (h - Y) * s[:, None]
    d2 = (d3 @ Theta2[:, 1:]) * expit(z2) * (1 - expit(z2))
    grad1 = d2.T @ a1 / S
    grad2 = d3.T @ a2 / S
    grad1[:, 1:] += lam / S * Theta1[:, 1:]
    grad2[:, 1:] += lam / S * Theta2[:, 1:]
    return [grad1, grad2]


@pytest.mark.parametrize("lam", [0.0, 3.0])
def test_course_check(lam):
    thetas, X, y = course_problem()
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3], alpha=lam)
    check = check_gradients(clf, X, y)
    assert check.relative_difference < 1e-9
    # Both gradients agree with a hand-written transcription of the course's nnCostFunction.
    layout = Layout((3, 5, 3))
    expected = course_gradient(thetas, X, y, lam)
    for got, want in zip(layout.to_thetas(check.analytic), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    for got, want in zip(layout.to_thetas(check.numerical), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_result_is_a_named_tuple():
    thetas, X, y = course_problem()
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3])
    relative, analytic, numerical = check_gradients(clf, X, y)
    assert isinstance(relative, float)
    assert analytic.shape == numerical.shape == (38,)
    assert relative == pytest.approx(
        np.linalg.norm(analytic - numerical) / np.linalg.norm(analytic + numerical)
    )


def test_detects_a_corrupted_gradient(monkeypatch):
    thetas, X, y = course_problem()
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3], alpha=3)
    right = Objective.loss_and_grad

    def wrong(self, theta):
        loss, grad = right(self, theta)
        grad = grad.copy()
        grad[self.penalty.n_coefs :] *= 2  # intercept gradients off by a factor 2
        return loss, grad

    monkeypatch.setattr(Objective, "loss_and_grad", wrong)
    assert check_gradients(clf, X, y).relative_difference > 1e-2


def test_detects_a_missing_activation_derivative(monkeypatch):
    # The classic slip: backpropagating delta without the sigmoid's g'(z).
    thetas, X, y = course_problem()
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3], alpha=3)
    monkeypatch.setitem(DERIVATIVES, "logistic", inplace_identity_derivative)
    assert check_gradients(clf, X, y).relative_difference > 1e-2


def test_sample_weights_are_part_of_the_objective():
    thetas, X, y = course_problem()
    weights = np.array([3.0, 1.0, 0.5, 2.0, 1.0])
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3], alpha=3)
    check = check_gradients(clf, X, y, sample_weight=weights)
    assert check.relative_difference < 1e-9
    expected = course_gradient(thetas, X, y, 3.0, sample_weight=weights)
    for got, want in zip(Layout((3, 5, 3)).to_thetas(check.analytic), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    # Integer weights are repeated rows.
    repeat = np.array([3, 1, 1, 2, 1])
    repeated = check_gradients(clf, np.repeat(X, repeat, axis=0), np.repeat(y, repeat))
    weighted = check_gradients(clf, X, y, sample_weight=repeat)
    np.testing.assert_allclose(weighted.analytic, repeated.analytic, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(weighted.numerical, repeated.numerical, rtol=1e-7, atol=1e-10)
    assert not np.allclose(check.analytic, check_gradients(clf, X, y).analytic)


def test_deep_tanh_softmax_network_with_sample_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    weights = rng.uniform(0.1, 3.0, 30)
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(6, 4), activation="tanh", out_activation="softmax", alpha=0.5
    )
    check = check_gradients(clf, X, y, sample_weight=weights, random_state=0)
    assert check.analytic.shape == (4 * 6 + 6 * 4 + 4 * 3 + 6 + 4 + 3,)
    assert check.relative_difference < 1e-7
    assert np.linalg.norm(check.analytic) > 1e-2  # not trivially zero


@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "identity"])
@pytest.mark.parametrize(
    ("out_activation", "target"),
    [
        ("logistic", "multiclass"),
        ("softmax", "multiclass"),
        ("logistic", "binary"),
        ("logistic", "multilabel"),
    ],
)
def test_any_configuration(activation, out_activation, target):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 4))
    y = {
        "multiclass": rng.integers(0, 3, 20),
        "binary": rng.integers(0, 2, 20),
        "multilabel": rng.integers(0, 2, (20, 3)),
    }[target]
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(4, 3), activation=activation, out_activation=out_activation
    )
    assert check_gradients(clf, X, y, random_state=1).relative_difference < 1e-7


def test_sparse_and_float32_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(15, 5)) * (rng.uniform(size=(15, 5)) < 0.4)
    y = rng.integers(0, 3, 15)
    clf = BackpropMLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    dense = check_gradients(clf, X, y)
    assert dense.relative_difference < 1e-9
    for other in (sp.csr_matrix(X), X.astype(np.float32)):
        check = check_gradients(clf, other, y)
        assert check.relative_difference < 1e-9
    # float32 data are checked in float64: the same gradient up to the data's rounding.
    np.testing.assert_allclose(
        check_gradients(clf, X.astype(np.float32), y).analytic, dense.analytic, rtol=1e-5
    )


def test_the_point_of_comparison():
    thetas, X, y = course_problem()
    fitted = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3], alpha=3)
    at_fitted = check_gradients(fitted, X, y)

    # The numerical gradient is that of the fitted estimator's own J: check one
    # partial derivative through the public objective (Theta1[0, 0] is the
    # first hidden unit's bias, the first intercept in the flat vector).
    eps = 1e-4
    plus, minus = [t.copy() for t in thetas], [t.copy() for t in thetas]
    plus[0][0, 0] += eps
    minus[0][0, 0] -= eps
    J_plus = BackpropMLPClassifier.from_thetas(plus, [1, 2, 3], alpha=3).objective(X, y)
    J_minus = BackpropMLPClassifier.from_thetas(minus, [1, 2, 3], alpha=3).objective(X, y)
    n_coefs = Layout((3, 5, 3)).n_coefs
    assert at_fitted.numerical[n_coefs] == pytest.approx((J_plus - J_minus) / (2 * eps), rel=1e-8)

    # An explicit theta wins over the fitted parameters.
    theta = np.random.default_rng(0).normal(size=38)
    at_theta = check_gradients(fitted, X, y, theta=theta)
    assert at_theta.relative_difference < 1e-9
    assert not np.allclose(at_theta.analytic, at_fitted.analytic)

    # Unfitted: the random initial parameters of a fit, seeded like one.
    unfitted = BackpropMLPClassifier(hidden_layer_sizes=(5,), random_state=7)
    seeded = check_gradients(BackpropMLPClassifier(hidden_layer_sizes=(5,)), X, y, random_state=7)
    np.testing.assert_array_equal(check_gradients(unfitted, X, y).analytic, seeded.analytic)
    other = check_gradients(unfitted, X, y, random_state=8)
    assert not np.allclose(other.analytic, seeded.analytic)
    assert not hasattr(unfitted, "n_features_in_")  # the estimator is left alone


def test_fitted_estimator_is_not_modified():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    # tol=1e-5: converged, every component of the gradient is at most 1e-5, so
    # its norm (24 parameters) is below 1e-4 (at the default tol=1e-4 it need not be).
    clf = BackpropMLPClassifier(hidden_layer_sizes=(3,), random_state=0, max_iter=500, tol=1e-5)
    clf.fit(X, y)
    before = parameters(clf)
    check = check_gradients(clf, X, y)
    np.testing.assert_array_equal(parameters(clf), before)
    # At a minimum the gradient is tiny, so the relative measure only shows the
    # O(epsilon^2) error of the differences (see Notes); the absolute one is small.
    assert np.linalg.norm(check.analytic) < 1e-4
    np.testing.assert_allclose(check.analytic, check.numerical, rtol=0, atol=1e-9)
    assert check_gradients(clf, X, y, theta=before + 0.5).relative_difference < 1e-8


def test_errors():
    thetas, X, y = course_problem()
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3])
    with pytest.raises(ValueError, match="vector of 38 parameters"):
        check_gradients(clf, X, y, theta=np.zeros(37))
    with pytest.raises(ValueError, match="does not match the network"):
        check_gradients(clf, np.hstack([X, X]), y)
    with pytest.raises(ValueError, match="does not match the network"):
        check_gradients(clf, X, y + 1)  # classes 2..4
    with pytest.raises(ValueError, match="epsilon"):
        check_gradients(clf, X, y, epsilon=0)
    with pytest.raises(ValueError, match="finite"):
        check_gradients(clf, X, y, theta=np.full(38, np.nan))
    with pytest.raises(TypeError, match="BackpropMLPClassifier"):
        check_gradients(object(), X, y)
