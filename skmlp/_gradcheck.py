"""Gradient checking: the backprop gradient against finite differences of J."""

from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array

from ._base import BaseBackpropMLP
from ._problem import build_problem


class GradientCheck(NamedTuple):
    """The outcome of :func:`check_gradients`."""

    relative_difference: float
    """``||analytic - numerical|| / ||analytic + numerical||``."""
    analytic: np.ndarray
    """The backpropagated gradient dJ/dtheta."""
    numerical: np.ndarray
    """Central finite differences of J, one per parameter."""


def check_gradients(
    estimator, X, y, sample_weight=None, *, theta=None, epsilon=1e-4, random_state=None
):
    """Compare the backpropagated gradient with finite differences of J.

    The course's gradient check, for any configuration of the estimator
    (activations, depth, alpha, sample weights): the objective is built from
    X, y and `sample_weight` exactly as :meth:`BackpropMLPClassifier.fit
    <skmlp.BackpropMLPClassifier.fit>` builds it, and each partial derivative
    is estimated by a central difference::

        numerical_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

    This takes ``2 * n_params`` evaluations of J on all of X: check a small
    network on a few samples, as the course does.

    Parameters
    ----------
    estimator : BackpropMLPClassifier
        Supplies the configuration, and the parameters when it is fitted. It
        is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data. Evaluated in float64 (float32 data are converted: finite
        differences need the precision).
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        Labels.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights, as in ``fit``.
    theta : ndarray of shape (n_params,), default=None
        The point at which to compare, a flat parameter vector in the
        estimator's layout. When None: the fitted estimator's parameters, or,
        for an unfitted one, the random initial parameters of a fit.
    epsilon : float, default=1e-4
        Step of the central differences (the course's value).
    random_state : int, RandomState instance or None, default=None
        Seeds the random initial parameters (used only when `theta` is None
        and the estimator is not fitted); None keeps the estimator's own
        ``random_state``.

    Returns
    -------
    result : GradientCheck
        A named tuple ``(relative_difference, analytic, numerical)``: the
        course's measure ``||g_a - g_n|| / ||g_a + g_n||`` and both
        gradients, flat vectors in the order of the parameter vector. A
        correct gradient gives about 1e-11 (the course's check) to 1e-8
        (deeper tanh networks at random parameters); an error in the
        backpropagation gives 1e-3 or more.

    See Also
    --------
    scipy.optimize.check_grad : The absolute difference for a plain function.

    Notes
    -----
    The relative difference needs a gradient that is not tiny. At a minimum
    (a well fitted estimator) the gradient is of the order of ``tol`` and the
    measure only shows the ``O(epsilon**2)`` error of the differences: check
    at other parameters (`theta`, or an unfitted estimator), or compare the
    two gradients directly.

    Examples
    --------
    The course's check: a 3-5-3 network and 5 samples, with deterministic
    "random" values as in its ``debugInitializeWeights``.

    >>> import numpy as np
    >>> from skmlp import BackpropMLPClassifier, check_gradients
    >>> def debug_weights(fan_out, fan_in):
    ...     # sin(1), sin(2), ... numbered column by column, as in Octave
    ...     shape = (fan_out, fan_in + 1)
    ...     return np.sin(np.arange(1, np.prod(shape) + 1)).reshape(shape, order="F") / 10
    >>> thetas = [debug_weights(5, 3), debug_weights(3, 5)]
    >>> X = debug_weights(5, 2)
    >>> y = 1 + np.arange(1, 6) % 3
    >>> clf = BackpropMLPClassifier.from_thetas(thetas, classes=[1, 2, 3], alpha=3)
    >>> check = check_gradients(clf, X, y)
    >>> check.analytic.shape
    (38,)
    >>> bool(check.relative_difference < 1e-9)
    True
    """
    if not isinstance(estimator, BaseBackpropMLP):
        raise TypeError(
            "check_gradients needs a skmlp estimator (BackpropMLPClassifier), got "
            f"{type(estimator).__name__}."
        )
    if not isinstance(epsilon, Real) or not (0 < epsilon < np.inf):
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon!r}.")
    model = clone(estimator)
    if random_state is not None:
        model.set_params(random_state=random_state)
    problem = build_problem(model, X, y, sample_weight)
    if problem.X.dtype != np.float64:
        X = check_array(X, accept_sparse=("csr", "csc"), dtype=np.float64)
        problem = build_problem(model, X, y, sample_weight)

    with problem as objective:
        theta = _point(estimator, problem, theta)
        analytic = objective.loss_and_grad(theta)[1]
        numerical = np.empty_like(analytic)
        for i in range(theta.size):
            original = theta[i]
            theta[i] = original + epsilon
            loss_plus = objective.loss_and_grad(theta)[0]
            theta[i] = original - epsilon
            loss_minus = objective.loss_and_grad(theta)[0]
            theta[i] = original
            numerical[i] = (loss_plus - loss_minus) / (2 * epsilon)

    difference = np.linalg.norm(analytic - numerical)
    total = np.linalg.norm(analytic + numerical)
    # With total 0: both zero agree, exact opposites disagree completely.
    relative = float(difference / total) if total > 0 else (np.inf if difference > 0 else 0.0)
    return GradientCheck(relative, analytic, numerical)


def _point(estimator, problem, theta):
    """A float64 copy of the parameters at which to compare the gradients."""
    layout = problem.layout
    if theta is not None:
        theta = np.array(theta, dtype=np.float64)
        if theta.shape != (layout.n_params,):
            raise ValueError(
                f"theta must be a vector of {layout.n_params} parameters for the "
                f"layer sizes {layout.layer_sizes}; got shape {theta.shape}."
            )
    elif hasattr(estimator, "_theta"):
        try:
            if estimator._layer_sizes != layout.layer_sizes:
                raise ValueError(
                    f"layer sizes {estimator._layer_sizes} against {layout.layer_sizes}"
                )
            problem.targets.check_warm_start(estimator)  # the same classes, if any
        except ValueError as error:
            raise ValueError(
                "The fitted estimator does not match the network built from X, y "
                f"({error}). Pass data with the same features and targets, or a theta."
            ) from None
        theta = np.array(estimator._theta, dtype=np.float64)
    else:
        theta = np.array(problem.theta0, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta must be finite.")
    return theta
