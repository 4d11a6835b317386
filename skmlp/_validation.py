"""Consistency checks of a fitted estimator's stored state.

A fitted skmlp estimator keeps its parameters in one flat vector ``_theta``
laid out by ``_layer_sizes`` (:class:`~skmlp._layout.Layout`), and what its
target strategy keeps (a classifier maps its output units to ``classes_``
through ``_label_binarizer``; the strategy checks its own part). A model
loaded from a damaged or hand-edited file (pickle, joblib, skops) can
carry arrays that disagree with each other; predicting with them would end
in a numpy reshape or broadcasting error from deep inside the forward pass.
:func:`check_parameters` finds such states first and names what disagrees.
"""

import math
from numbers import Integral

import numpy as np

from ._activations import ACTIVATIONS
from ._layout import Layout


def plain_value(value):
    """A value as a message shows it: numpy scalars and arrays as Python's
    (``0.0``, ``[0, 1]``), not their reprs (``np.float64(0.0)``)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return type(value)(plain_value(v) for v in value)
    return value


class InconsistentState(Exception):
    """What of a fitted state disagrees (raised inside the checks, reported by
    :func:`check_parameters` as a ValueError naming the estimator)."""


damaged = InconsistentState


def _check_layer_sizes(layer_sizes):
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise damaged(
            f"_layer_sizes must be a sequence of integers, got {plain_value(layer_sizes)!r}"
        )
    sizes = list(layer_sizes)
    if len(sizes) < 2 or not all(
        isinstance(s, Integral) and not isinstance(s, (bool, np.bool_)) and s > 0 for s in sizes
    ):
        raise damaged(
            "_layer_sizes must hold at least 2 positive integers (input and "
            f"output units), got {plain_value(layer_sizes)!r}"
        )
    return tuple(int(s) for s in sizes)


def _check_theta(theta, layout):
    if not isinstance(theta, np.ndarray):
        raise damaged(f"_theta must be a numpy array, got {type(theta).__name__}")
    if theta.dtype != np.float64:
        raise damaged(f"_theta must have dtype float64, got {theta.dtype}")
    if theta.ndim != 1:
        raise damaged(f"_theta must be 1-D, got shape {theta.shape}")
    if theta.size != layout.n_params:
        raise damaged(
            f"_theta has {theta.size} elements but layer sizes {layout.layer_sizes} "
            f"need {layout.n_params}"
        )
    if not np.isfinite(theta).all():
        raise damaged(f"_theta contains {int(np.sum(~np.isfinite(theta)))} non-finite values")


def check_parameters(estimator):
    """Check that a fitted estimator's stored parameters fit together.

    Verifies that ``_layer_sizes`` are at least two positive integers, the
    first equal to ``n_features_in_`` (and to the length of
    ``feature_names_in_`` when present); that ``_theta`` is a 1-D, finite
    float64 array of exactly ``Layout(_layer_sizes).n_params`` elements; that
    ``classes_`` is a 1-D array of at least two labels equal to the label
    binarizer's, with as many output units as they need (one for two
    classes, one per class or label otherwise); that ``n_layers_``,
    ``n_outputs_``, ``out_activation_`` and ``activation_`` are consistent and
    valid.

    Call it after :func:`~sklearn.utils.validation.check_is_fitted`.

    Parameters
    ----------
    estimator : BackpropMLPClassifier
        A fitted estimator.

    Returns
    -------
    layout : Layout
        The layout of ``estimator._theta``.

    Raises
    ------
    ValueError
        Naming the first inconsistency found.

    Examples
    --------
    >>> import numpy as np
    >>> from skmlp import BackpropMLPClassifier
    >>> from skmlp._validation import check_parameters
    >>> clf = BackpropMLPClassifier.from_thetas([np.zeros((1, 3))], classes=[0, 1])
    >>> check_parameters(clf).layer_sizes
    (2, 1)
    >>> clf._theta = clf._theta[:-1]
    >>> check_parameters(clf)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: This BackpropMLPClassifier's stored state is inconsistent: _theta has 2 ...
    """
    try:
        return _checked_layout(estimator)
    except InconsistentState as error:
        raise ValueError(
            f"This {type(estimator).__name__}'s stored state is inconsistent: {error}. "
            "The model was probably loaded from a damaged or edited file; refit it."
        ) from None


def _checked_layout(estimator):
    targets = estimator._targets_class
    fitted = ("_theta", "_layer_sizes", *targets.FITTED_ATTRIBUTES, "n_features_in_")
    missing = [attribute for attribute in fitted if not hasattr(estimator, attribute)]
    if missing:
        raise damaged(f"the fitted attributes {missing} are missing")

    layer_sizes = _check_layer_sizes(estimator._layer_sizes)
    n_features = estimator.n_features_in_
    if not isinstance(n_features, Integral) or layer_sizes[0] != n_features:
        raise damaged(
            f"the network has {layer_sizes[0]} input units but n_features_in_ is "
            f"{plain_value(n_features)!r}"
        )
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and len(names) != n_features:
        raise damaged(
            f"feature_names_in_ has {len(names)} names but n_features_in_ is {n_features}"
        )
    layout = Layout(layer_sizes)
    _check_theta(estimator._theta, layout)
    targets.check_fitted(estimator, layer_sizes[-1])

    for name, expected in (("n_layers_", layout.n_layers), ("n_outputs_", layer_sizes[-1])):
        value = getattr(estimator, name, expected)
        if value != expected:
            raise damaged(
                f"{name} is {plain_value(value)!r} but _layer_sizes {layer_sizes} give {expected}"
            )
    activation = getattr(estimator, "activation_", None)
    if activation not in ACTIVATIONS:
        raise damaged(f"activation_ must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return layout


def warm_start_theta(estimator, targets, layer_sizes):
    """A copy of the fitted parameters, for a warm start on `targets` and `layer_sizes`."""
    targets.check_warm_start(estimator)
    if tuple(layer_sizes) != tuple(estimator._layer_sizes):
        raise ValueError(
            "warm_start=True needs the same network shape as the "
            f"previous fit: got layer sizes {tuple(layer_sizes)}, "
            f"previously {tuple(estimator._layer_sizes)}."
        )
    check_parameters(estimator)
    return estimator._theta.copy()


# The fit's checks of its weights and of the early-stopping split, shared by
# the in-memory and the cluster fit so that both raise the same errors.


def check_weight_sum(total, what="sample_weight"):
    """Refuse training weights that sum to 0, or whose sum overflows float64.

    `what` says which: ``"sample_weight"`` (the given weights),
    ``"validation"`` (the rows held out for early stopping) or
    ``"class_weight"`` (the sample weights times the class weights).
    """
    if total > 0 and np.isfinite(total):
        return
    if total > 0:
        weights = {
            "sample_weight": "sample_weight",
            "validation": "the held-out samples' weights",
            "class_weight": "the sample weights times the class weights",
        }[what]
        raise ValueError(
            f"The sum of {weights} overflows float64 ({total}). Scale the weights "
            "down (the data term depends only on their ratios)."
        )
    if what == "validation":
        raise ValueError(
            "early_stopping needs validation samples of positive weight: the "
            "held-out samples' weights sum to 0. Change validation_fraction or "
            "random_state."
        )
    if what == "class_weight":
        raise ValueError("class_weight gives every sample zero weight: the weights sum to 0.")
    raise ValueError("sample_weight must not be all zero: the weights sum to 0.")


# alpha / S beyond this makes the penalty's gradient products overflow the
# solvers' float64 arithmetic (their squares exceed 1e308).
MAX_PENALTY_SCALE = 1e100


def check_penalty_scale(alpha, sum_weights):
    """Refuse an L2 penalty ``alpha / (2 S)`` too large for float64 optimization.

    Tiny sample weights (a small ``S``) or a huge alpha make it so; the
    minimum of J is then all weights zero, which the solvers cannot reach
    without overflowing.
    """
    if alpha / sum_weights <= MAX_PENALTY_SCALE:
        return
    raise ValueError(
        f"alpha / S = {alpha / sum_weights:.3g} is too large (alpha = {alpha:g}, S = "
        f"{sum_weights:.3g} the sum of the sample weights): the penalty alpha / (2 S) "
        "* sum of squared weights overflows the solvers' float64 arithmetic. Scale "
        f"the sample weights up or reduce alpha, so that alpha / S <= {MAX_PENALTY_SCALE:g}."
    )


def validation_size(n_samples, fraction, class_counts=None):
    """How many rows early stopping holds out, and whether stratified.

    ``n_val = ceil(fraction * n)``, at least 1 and at most ``n - 1``. The
    split is stratified (`class_counts` given: not multilabel) when every
    class has 2 samples or more and both parts can hold every class; then
    ``n_val`` is at least the number of classes.

    Returns
    -------
    n_val : int
        Rows held out.
    stratified : bool
        Whether the split keeps the class proportions.
    """
    if n_samples < 2:
        raise ValueError(
            f"early_stopping needs at least 2 samples to hold some out; n_samples = {n_samples}."
        )
    n_val = min(max(math.ceil(fraction * n_samples), 1), n_samples - 1)
    if class_counts is not None:
        n_classes = len(class_counts)
        if min(class_counts) >= 2 and n_samples - max(n_val, n_classes) >= n_classes:
            return max(n_val, n_classes), True
    return n_val, False
