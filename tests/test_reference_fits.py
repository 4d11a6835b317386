"""Every configuration's fit against an independent reference, on any CPU.

The reference (``_reference.py``) is a plain-numpy transcription of J and of
its gradient, with first-order bounds of the rounding error of any
evaluation of them (``Reference.bounds``, in units of eps). Nothing here is a
number stored from one machine: the engine's J and gradient must equal the
reference's within ``(eps_engine + eps_float64) * bound``, and its fits must
follow :func:`scipy.optimize.minimize` driving the reference from the same
start with the same method and options, within what the rounding of the
evaluations can move such a fit (measured below on the reference itself, by
perturbing every evaluation within its rounding bound).

BLAS kernels and numpy's SIMD loops round differently on different CPUs, and
an iterative fit carries those differences on, so the tolerances come from
the arithmetic: what holds here holds on every CPU.
"""

import contextlib
import functools
import warnings

import numpy as np
import pytest
from _callbacks import StopAfter
from _reference import CONFIGS, data, initial_params, reference
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from skmlp import BackpropMLPClassifier, check_gradients
from skmlp._problem import build_problem

EPS64 = float(np.finfo(np.float64).eps)
MAX_ITER, TOL = 20, BackpropMLPClassifier().tol  # the fits' budget; the default tol

# skmlp's solver -> scipy's method, and the options a fit passes it.
METHODS = {
    "lbfgs": "L-BFGS-B",
    "tnc": "TNC",
    "cg": "CG",
    "bfgs": "BFGS",
    "newton-cg": "Newton-CG",
    "trust-ncg": "trust-ncg",
    "trust-krylov": "trust-krylov",
}
OPTIONS = {
    # tol on the gradient; a tiny ftol so that it, not the relative
    # reduction of J, decides convergence.
    "lbfgs": {"maxiter": MAX_ITER, "maxfun": 15000, "gtol": TOL, "ftol": 64 * EPS64, "maxls": 50},
    "tnc": {"maxfun": 15000, "gtol": TOL},  # max_iter is counted by the callback
    "newton-cg": {"maxiter": MAX_ITER, "xtol": TOL},  # tol on the relative step
}
NEWTON = ("newton-cg", "trust-ncg", "trust-krylov")

# The fits whose 20 iterates are compared with the reference's: those that
# rounding moves smoothly, where perturbing every evaluation within its
# bound moves the iterates in proportion (measured: a perturbation a hundred
# times smaller moves them about a hundred times less). Not these:
# - TNC multiplies by the Hessian through finite differences of the
#   gradient, which amplify its rounding by 1 / sqrt(eps) in every product;
#   Newton-CG and trust-ncg stop their inner CG on a residual test, which
#   rounding can flip, giving a step that differs by a CG iteration (on this
#   data in these configurations; the Gauss-Newton and sparse ones respond in
#   proportion). Perturbations from 1e-3 to 1 times the rounding bounds move
#   their 20th iterate by 1e-7 to 1e-2 relatively (trust-ncg least, TNC
#   most), not in proportion: no tolerance derived from the arithmetic
#   bounds it, and after a flip the iterates are as valid as before.
# - float32: an evaluation may be off by float32's eps times its bound
#   (1e-5 relatively), which 20 L-BFGS iterations amplify beyond any useful
#   tolerance (1e-1).
# All are held to their first step, which starts from the same point and
# state, and to every other property below.
NOT_FOLLOWED = {
    "solver_tnc",
    "solver_newton-cg",
    "solver_trust-ncg",
    *(name for name in CONFIGS if data(name)[0].dtype == np.float32),
}
NAMES = sorted(CONFIGS)


def solver_of(name):
    params = CONFIGS[name][0]
    solver = params.get("solver", "lbfgs")
    curvature = params.get("curvature", "auto")
    if curvature == "auto":  # the estimator's documented default
        curvature = "gauss-newton" if solver == "trust-krylov" else "exact"
    return solver, curvature


def eps_of(X):
    """The engine's working precision for X (float32 data are trained in float32)."""
    return float(np.finfo(X.dtype).eps) if X.dtype == np.float32 else EPS64


def close_to_reference(got, expected, eps, bound):
    """|got - expected| <= (eps + eps64) * bound, elementwise: the engine
    rounds with eps, the reference with float64's."""
    return np.all(np.abs(np.asarray(got) - expected) <= (eps + EPS64) * np.asarray(bound))


def estimator_at(name, coefs, intercepts):
    """A fitted estimator of configuration `name` with these parameters (public API)."""
    params = {k: v for k, v in CONFIGS[name][0].items() if k != "hidden_layer_sizes"}
    thetas = [np.hstack([b[:, None], W.T]) for W, b in zip(coefs, intercepts)]
    return BackpropMLPClassifier.from_thetas(thetas, reference(name).classes, **params)


def engine_loss_and_grad(name, theta):
    """J and its gradient as a fit evaluates them, in X's dtype.

    Through the training problem a fit builds (``build_problem``):
    ``check_gradients`` evaluates in float64 (it converts float32 data).
    """
    X, y, w = data(name)
    clf = BackpropMLPClassifier(random_state=0, **CONFIGS[name][0])
    with build_problem(clf, X, y, w) as objective:
        return objective.loss_and_grad(theta)


@functools.cache
def engine_fit(name):
    """The configuration's 20-iteration fit, every iterate, and whether it converged."""
    X, y, w = data(name)
    ref = reference(name)
    iterates = []
    record = StopAfter(-1, probe=lambda f: iterates.append(ref.pack(f.coefs_, f.intercepts_)))
    clf = BackpropMLPClassifier(max_iter=MAX_ITER, random_state=0, **CONFIGS[name][0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        warnings.simplefilter("always", ConvergenceWarning)
        clf.set_callbacks(record).fit(X, y, sample_weight=w)
    converged = not any(issubclass(c.category, ConvergenceWarning) for c in caught)
    return clf, iterates, converged


class _Stop(Exception):
    pass


@functools.cache
def reference_fit(name, noise=0.0, seed=0):
    """The iterates of scipy's method on the reference, from the documented start.

    With `noise`, every evaluation is perturbed by up to `noise` times its
    rounding bound (uniformly, elementwise): an evaluation as wrong as the
    arithmetic allows. Hessian products stay exact: a Newton step solves
    ``H p = -g``, and its sensitivity to the products' rounding is of the
    order of its sensitivity to the gradient's.
    """
    ref = reference(name)
    solver, curvature = solver_of(name)
    eps = eps_of(data(name)[0])
    rng = np.random.RandomState(seed)

    def loss_and_grad(theta):
        loss, grad = ref.loss_and_grad(theta)
        if noise:
            loss_bound, grad_bound = ref.bounds(*ref.unpack(theta), eps)
            loss += noise * eps * loss_bound * rng.uniform(-1, 1)
            grad += noise * eps * grad_bound * rng.uniform(-1, 1, grad.size)
        return loss, grad

    iterates = []

    def record(x):
        iterates.append(x.copy())
        if len(iterates) == MAX_ITER:  # TNC has no iteration budget
            raise _Stop

    def callback(intermediate_result):  # scipy's signature for all but TNC
        record(intermediate_result.x)

    kwargs = {}
    if solver in NEWTON:
        kwargs["hessp"] = ref.gauss_newton_p if curvature == "gauss-newton" else ref.hessp
    theta0 = ref.pack(*initial_params(ref.layer_sizes, 0))
    options = OPTIONS.get(solver, {"maxiter": MAX_ITER, "gtol": TOL})
    with contextlib.suppress(_Stop):
        minimize(
            loss_and_grad,
            theta0,
            jac=True,
            method=METHODS[solver],
            callback=record if solver == "tnc" else callback,  # TNC calls back with x
            options=options,
            **kwargs,
        )
    return iterates


def spread(name, step):
    """How far rounding can move iterate `step` (1-based): the largest move
    of two fits whose every evaluation is perturbed within its bound."""
    exact = reference_fit(name)[step - 1]
    moves = [np.linalg.norm(reference_fit(name, 1.0, s)[step - 1] - exact) for s in (1, 2)]
    return max(moves)


def test_configurations_cover_every_solver_and_option():
    used = {solver_of(name) for name in CONFIGS}
    assert {s for s, _ in used} == set(METHODS)
    assert ("newton-cg", "gauss-newton") in used and ("trust-ncg", "exact") in used


@pytest.mark.parametrize("name", NAMES)
def test_initial_point_matches_the_reference(name):
    """J and its gradient at the documented initial weights."""
    X, y, w = data(name)
    ref = reference(name)
    coefs, intercepts = initial_params(ref.layer_sizes, 0)
    theta0 = ref.pack(coefs, intercepts)
    loss_bound, grad_bound = ref.bounds(coefs, intercepts, eps_of(X))
    loss, grad = ref.loss(coefs, intercepts), ref.pack(*ref.gradient(coefs, intercepts))

    # An unfitted estimator's check is at its initial weights: this pins them too.
    clf = BackpropMLPClassifier(random_state=0, **CONFIGS[name][0])
    assert close_to_reference(check_gradients(clf, X, y, w).analytic, grad, EPS64, grad_bound)
    J = estimator_at(name, coefs, intercepts).objective(X, y, w)
    assert close_to_reference(J, loss, eps_of(X), loss_bound)
    if X.dtype == np.float32:  # check_gradients evaluated in float64
        J, engine_grad = engine_loss_and_grad(name, theta0)
        assert close_to_reference(J, loss, eps_of(X), loss_bound)
        assert close_to_reference(engine_grad, grad, eps_of(X), grad_bound)


@pytest.mark.parametrize("name", NAMES)
def test_every_iterate_has_the_reference_loss(name):
    """The loss curve is J of the iterates, never rising; the fit returns the last."""
    clf, iterates, converged = engine_fit(name)
    X = data(name)[0]
    ref = reference(name)
    assert clf.n_iter_ == len(iterates) == len(clf.loss_curve_)
    assert clf.n_iter_ == MAX_ITER or converged
    # Every method only accepts steps that lower J as it computes it.
    assert np.all(np.diff(clf.loss_curve_) <= 0)
    for theta, J in zip(iterates, clf.loss_curve_):
        coefs, intercepts = ref.unpack(theta)
        assert close_to_reference(
            J, ref.loss(coefs, intercepts), eps_of(X), ref.bounds(coefs, intercepts, eps_of(X))[0]
        )
    assert clf.loss_ == clf.loss_curve_[-1]
    assert np.array_equal(ref.pack(clf.coefs_, clf.intercepts_), iterates[-1])


@pytest.mark.parametrize("name", NAMES)
def test_fitted_point_matches_the_reference(name):
    """J and its gradient where the fit ended; small there if it converged."""
    clf, _, converged = engine_fit(name)
    X, y, w = data(name)
    ref = reference(name)
    coefs, intercepts = clf.coefs_, clf.intercepts_
    loss_bound, grad_bound = ref.bounds(coefs, intercepts, eps_of(X))
    grad = ref.pack(*ref.gradient(coefs, intercepts))
    J = clf.objective(X, y, w)
    assert close_to_reference(J, ref.loss(coefs, intercepts), eps_of(X), loss_bound)
    assert close_to_reference(check_gradients(clf, X, y, w).analytic, grad, EPS64, grad_bound)
    if X.dtype == np.float32:
        engine_grad = engine_loss_and_grad(name, ref.pack(coefs, intercepts))[1]
        assert close_to_reference(engine_grad, grad, eps_of(X), grad_bound)
    if converged:
        # tol bounds the gradient's Euclidean norm for the trust-region
        # methods, its largest component for L-BFGS-B, CG and BFGS (Newton-CG
        # tests the step, TNC a scaled gradient). The reference's gradient is
        # within the slack of the engine's, which the solver tested.
        solver = solver_of(name)[0]
        slack = (eps_of(X) + EPS64) * grad_bound
        if solver in ("trust-ncg", "trust-krylov"):
            assert np.linalg.norm(grad) <= TOL + np.linalg.norm(slack)
        elif solver in ("lbfgs", "cg", "bfgs"):
            assert np.all(np.abs(grad) <= TOL + slack)


@pytest.mark.parametrize("name", NAMES)
def test_first_step_is_the_references(name):
    """One iteration from the same start and state takes the reference's step.

    Within ten times the move of a reference step whose evaluations are off
    by up to their rounding bounds (the engine's are within them, see the
    tests above, and in fact far inside).
    """
    first = engine_fit(name)[1][0]
    assert np.linalg.norm(first - reference_fit(name)[0]) <= 10 * spread(name, 1)


@pytest.mark.parametrize("name", sorted(set(NAMES) - NOT_FOLLOWED))
def test_fit_follows_the_reference(name):
    """Every iterate is the reference fit's, within ten times what rounding
    moves it (see NOT_FOLLOWED for the fits it does not move smoothly)."""
    engine_iterates = engine_fit(name)[1]
    reference_iterates = reference_fit(name)
    assert len(engine_iterates) == len(reference_iterates)
    for step, (got, expected) in enumerate(zip(engine_iterates, reference_iterates), 1):
        assert np.linalg.norm(got - expected) <= 10 * spread(name, step), f"iteration {step}"


@pytest.mark.parametrize("name", NAMES)
def test_the_same_fit_twice_gives_the_same_bits(name):
    X, y, w = data(name)
    clf = BackpropMLPClassifier(max_iter=MAX_ITER, random_state=0, **CONFIGS[name][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=w)
    first = engine_fit(name)[0]
    assert all(np.array_equal(a, b) for a, b in zip(clf.coefs_, first.coefs_))
    assert all(np.array_equal(a, b) for a, b in zip(clf.intercepts_, first.intercepts_))
    assert clf.loss_curve_ == first.loss_curve_
