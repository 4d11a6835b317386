"""The engine against independent references: finite differences, hand formulas."""

import itertools

import numpy as np
import pytest
from _helpers import parameters
from scipy.special import expit, logsumexp

from skmlp import BackpropMLPClassifier
from skmlp._problem import build_problem

ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]
TARGETS = ["binary", "multiclass", "multilabel"]


def make_problem(target, n_samples=13, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    if target == "binary":
        y = rng.randint(2, size=n_samples)
        y[:2] = [0, 1]
    elif target == "multiclass":
        y = np.arange(n_samples) % 3
    else:
        y = rng.randint(2, size=(n_samples, 3))
        y[0] = [1, 0, 1]
    return X, y


def central_differences(f, theta, eps=1e-5):
    grad = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = eps
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * eps)
    return grad


def relative_difference(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(a + b)


CASES = [
    (act, out, target, weighted, hidden)
    for act, out, target, weighted, hidden in itertools.product(
        ACTIVATIONS, ["logistic", "softmax"], TARGETS, [False, True], [(5,), (4, 3)]
    )
    if not (out == "softmax" and target == "multilabel")
]


@pytest.mark.parametrize(("activation", "out_activation", "target", "weighted", "hidden"), CASES)
def test_gradient_matches_finite_differences(activation, out_activation, target, weighted, hidden):
    X, y = make_problem(target)
    sample_weight = np.random.RandomState(1).uniform(0, 3, size=len(X)) if weighted else None
    clf = BackpropMLPClassifier(
        hidden,
        activation=activation,
        out_activation=out_activation,
        alpha=0.7,
        random_state=0,
        init_epsilon=0.8,
    )
    problem = build_problem(clf, X, y, sample_weight)
    with problem as objective:
        theta = problem.theta0
        loss, grad = objective.loss_and_grad(theta)
        numeric = central_differences(objective.loss, theta)
    assert np.isfinite(loss)
    assert relative_difference(grad, numeric) < 1e-7


def course_cost(thetas, X, Y, lam):
    """The course's nnCostFunction, transcribed directly (bias columns inserted)."""
    m = X.shape[0]
    a = X
    for theta in thetas:
        a = expit(np.hstack([np.ones((m, 1)), a]) @ theta.T)
    h = a
    J = np.sum(-Y * np.log(h) - (1 - Y) * np.log(1 - h)) / m
    reg = lam / (2 * m) * sum(np.sum(t[:, 1:] ** 2) for t in thetas)
    return J + reg


@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.5])
def test_objective_equals_course_cost(alpha):
    rng = np.random.RandomState(0)
    thetas = [rng.uniform(-0.5, 0.5, (6, 9)), rng.uniform(-0.5, 0.5, (4, 7))]
    X = rng.normal(size=(40, 8))
    y = rng.randint(4, size=40)
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=np.arange(4), alpha=alpha)
    Y = np.eye(4)[y]
    assert clf.objective(X, y) == pytest.approx(course_cost(thetas, X, Y, alpha), rel=1e-12)


def test_sample_weights_scale_loss_and_penalty():
    """J = 1/S sum s_i loss_i + alpha/(2S) |W|^2, by hand, for the softmax output."""
    rng = np.random.RandomState(3)
    thetas = [rng.normal(size=(3, 5)), rng.normal(size=(4, 4))]
    X, y = rng.normal(size=(9, 4)), np.arange(9) % 4
    s = rng.uniform(0.1, 2, size=9)
    clf = BackpropMLPClassifier.from_thetas(
        thetas, classes=np.arange(4), out_activation="softmax", alpha=2.0
    )
    a1 = expit(X @ thetas[0][:, 1:].T + thetas[0][:, 0])
    logits = a1 @ thetas[1][:, 1:].T + thetas[1][:, 0]
    losses = logsumexp(logits, axis=1) - logits[np.arange(9), y]
    penalty = sum(np.sum(t[:, 1:] ** 2) for t in thetas)
    expected = (s @ losses + 2.0 / 2 * penalty) / s.sum()
    assert clf.objective(X, y, sample_weight=s) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_loss_is_finite_and_silent_for_huge_logits(out_activation):
    """Saturated units: the loss comes from logits, so no log(0), no overflow."""
    thetas = [np.array([[0.0, 1e3, -1e3], [5.0, 2e3, 1e3]]), np.array([[0, 50, -80.0]] * 3)]
    X = np.array([[1e2, -3e2], [-1e3, 2e3], [7.0, 7.0]])
    y = np.array([0, 1, 2])
    clf = BackpropMLPClassifier.from_thetas(
        thetas, classes=[0, 1, 2], out_activation=out_activation
    )
    problem = build_problem(clf, X, y)
    with problem as objective:
        loss, grad = objective.loss_and_grad(parameters(clf))
    assert np.isfinite(loss) and loss > 10  # confidently wrong on some rows
    assert np.all(np.isfinite(grad))
    assert np.all(np.isfinite(clf.predict_proba(X)))


# A few ulp: numpy's exp and log are within 4 ulp wherever it vectorizes them,
# and each form adds two roundings at most.
ULPS = 6
# Each dtype's exp range: its result is subnormal (or 0) below, inf above;
# the grid goes beyond both ends.
EXP_RANGE = {np.float64: (-745.2, 709.8), np.float32: (-103.9, 88.7)}


def exact_grid(dtype):
    """Floats of `dtype` across (and past) exp's range, denser near 0."""
    lo, hi = EXP_RANGE[dtype]
    u = np.concatenate(
        [
            np.linspace(lo - 5, hi + 5, 1501),
            np.linspace(-3, 3, 301),
            [-40, -38, -20, -5, -1e-30, 0, 1e-30, 2 * hi],
        ]
    )
    return np.unique(u.astype(dtype))


def mp_values(f, x):
    """``f(x)`` in 50 digits for every float of `x` (mpmath is the reference)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        return [f(mpmath, mpmath.mpf(float(v))) for v in x]


def ulp_errors(computed, reference, dtype, also=None):
    """``|computed - reference|`` in ulps of the reference rounded to `dtype`.

    Below the smallest normal number an ulp is the smallest subnormal;
    `also`, if given, is added to the spacing (an absolute allowance).
    """
    mpmath = pytest.importorskip("mpmath")
    rounded = np.array([float(r) for r in reference]).astype(dtype)
    spacing = np.spacing(np.abs(rounded)).astype(np.float64)
    if also is not None:
        spacing = spacing + also
    with mpmath.workdps(50):
        error = [abs(mpmath.mpf(float(c)) - r) for c, r in zip(computed, reference)]
    return np.array([float(e) for e in error]) / spacing


def expit_mp(mp, u):
    return 1 / (1 + mp.exp(-u))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_loss_and_delta_to_a_few_ulp(dtype):
    # softplus(u) and expit(u) against 50 digits, for y = 0 (u = a) and
    # y = 1 (u = -a, delta -expit(u)); the delta once for all u, one output
    # per u, the loss u by u.
    from skmlp._losses import LogisticLoss
    from skmlp._network import Scratch

    loss = LogisticLoss()
    u = exact_grid(dtype)
    n = len(u)
    w = np.ones(1, dtype)
    expit_u = mp_values(expit_mp, u)
    for sign, target in [(1, np.array([], np.intp)), (-1, np.arange(n))]:
        delta = np.empty((n, 1), dtype)
        loss.loss_and_delta(sign * u[:, None], target, w, delta, Scratch((1, n), 1, dtype))
        assert np.all(ulp_errors(sign * delta[:, 0], expit_u, dtype) <= ULPS)
    if dtype == np.float64:  # the case: (1 + tanh(u / 2)) / 2 gave 2e-8 here
        at = np.flatnonzero(u == -40)[0]
        assert abs(delta[at, 0] / -float(expit_u[at]) - 1) <= 1e-15

    values = []
    for a in u:
        work = Scratch((1, 1), 1, dtype)
        logit, delta = np.full((1, 1), a, dtype), np.empty((1, 1), dtype)
        values.append(loss.loss_and_delta(logit, np.array([], np.intp), w, delta, work))
    softplus = mp_values(lambda mp, x: mp.log1p(mp.exp(x)), u)
    assert np.all(ulp_errors(values, softplus, dtype) <= ULPS)

    # Infinite logits: exact limits, and no warning (pytest runs with -W error).
    a = np.array([[-np.inf], [np.inf], [-np.inf], [np.inf]], dtype)
    delta = np.empty_like(a)
    value = loss.loss_and_delta(
        a, np.array([2, 3]), np.ones(1, dtype), delta, Scratch((1, 4), 1, dtype)
    )
    assert value == np.inf
    np.testing.assert_array_equal(delta[:, 0], [0, 1, -1, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hidden_sigmoid_and_derivative_to_a_few_ulp(dtype):
    from skmlp._activations import inplace_logistic_derivative, logistic_of_negated

    a = exact_grid(dtype)
    z = np.empty_like(a)
    logistic_of_negated(-a, z)  # the engine's form, from -a
    expected = mp_values(expit_mp, a)
    assert np.all(ulp_errors(z, expected, dtype) <= ULPS)
    limits = np.empty(2, dtype)
    logistic_of_negated(np.array([np.inf, -np.inf], dtype), limits)
    np.testing.assert_array_equal(limits, [0, 1])

    # f'(a) = z (1 - z) from z alone: 1 - z cancels for a > 0, so there the
    # error is z's (absolute, a few ulp of z) rather than relative to f'.
    slope = np.ones_like(z)
    inplace_logistic_derivative(z, slope)
    exact_slope = mp_values(lambda mp, x: expit_mp(mp, x) * expit_mp(mp, -x), a)
    negative = a <= 0
    errors = ulp_errors(slope, exact_slope, dtype)
    assert np.all(errors[negative] <= ULPS)
    z_spacing = np.spacing(z.astype(dtype)).astype(np.float64)
    errors = ulp_errors(slope, exact_slope, dtype, also=z_spacing)
    assert np.all(errors[~negative] <= ULPS)
