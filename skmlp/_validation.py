"""Consistency checks of a fitted estimator's stored state.

A fitted :class:`~skmlp.BackpropMLPClassifier` keeps its parameters in one
flat vector ``_theta`` laid out by ``_layer_sizes`` (:class:`~skmlp._layout.Layout`)
and maps its output units to ``classes_`` through ``_label_binarizer``. A
model loaded from a damaged or hand-edited file (pickle, joblib, skops) can
carry arrays that disagree with each other; predicting with them would end
in a numpy reshape or broadcasting error from deep inside the forward pass.
:func:`check_parameters` finds such states first and names what disagrees.
"""

import math
from numbers import Integral

import numpy as np

from ._activations import ACTIVATIONS
from ._layout import Layout

_OUT_ACTIVATIONS = ("logistic", "softmax")


def plain_value(value):
    """A value as a message shows it: numpy scalars and arrays as Python's
    (``0.0``, ``[0, 1]``), not their reprs (``np.float64(0.0)``)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return type(value)(plain_value(v) for v in value)
    return value


def _damaged(what):
    return ValueError(
        f"This BackpropMLPClassifier's stored state is inconsistent: {what}. "
        "The model was probably loaded from a damaged or edited file; refit it."
    )


def _check_layer_sizes(layer_sizes):
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise _damaged(
            f"_layer_sizes must be a sequence of integers, got {plain_value(layer_sizes)!r}"
        )
    sizes = list(layer_sizes)
    if len(sizes) < 2 or not all(
        isinstance(s, Integral) and not isinstance(s, (bool, np.bool_)) and s > 0 for s in sizes
    ):
        raise _damaged(
            "_layer_sizes must hold at least 2 positive integers (input and "
            f"output units), got {plain_value(layer_sizes)!r}"
        )
    return tuple(int(s) for s in sizes)


def _check_theta(theta, layout):
    if not isinstance(theta, np.ndarray):
        raise _damaged(f"_theta must be a numpy array, got {type(theta).__name__}")
    if theta.dtype != np.float64:
        raise _damaged(f"_theta must have dtype float64, got {theta.dtype}")
    if theta.ndim != 1:
        raise _damaged(f"_theta must be 1-D, got shape {theta.shape}")
    if theta.size != layout.n_params:
        raise _damaged(
            f"_theta has {theta.size} elements but layer sizes {layout.layer_sizes} "
            f"need {layout.n_params}"
        )
    if not np.isfinite(theta).all():
        raise _damaged(f"_theta contains {int(np.sum(~np.isfinite(theta)))} non-finite values")


def _check_classes(estimator, n_outputs):
    classes = estimator.classes_
    if not isinstance(classes, np.ndarray) or classes.ndim != 1:
        raise _damaged(f"classes_ must be a 1-D array, got {type(classes).__name__}")
    binarizer = getattr(estimator, "_label_binarizer", None)
    binarizer_classes = getattr(binarizer, "classes_", None)
    y_type = getattr(binarizer, "y_type_", None)
    if binarizer_classes is None or y_type is None:
        raise _damaged("_label_binarizer is missing or not fitted")
    if len(binarizer_classes) != len(classes) or not np.array_equal(binarizer_classes, classes):
        raise _damaged(
            f"classes_ {plain_value(classes)} differ from the label binarizer's "
            f"classes {plain_value(binarizer_classes)}"
        )
    if len(classes) < 2:
        raise _damaged(f"classes_ must hold at least 2 labels, got {len(classes)}")
    if y_type == "multilabel-indicator":
        expected = len(classes)
        rule = f"{len(classes)} labels (multilabel) need {expected}"
    else:
        expected = 1 if len(classes) == 2 else len(classes)
        rule = f"{len(classes)} classes need {expected}"
    if n_outputs != expected:
        raise _damaged(f"the network has {n_outputs} output units but {rule}")


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
    missing = [
        name
        for name in ("_theta", "_layer_sizes", "_label_binarizer", "classes_", "n_features_in_")
        if not hasattr(estimator, name)
    ]
    if missing:
        raise _damaged(f"the fitted attributes {missing} are missing")

    layer_sizes = _check_layer_sizes(estimator._layer_sizes)
    n_features = estimator.n_features_in_
    if not isinstance(n_features, Integral) or layer_sizes[0] != n_features:
        raise _damaged(
            f"the network has {layer_sizes[0]} input units but n_features_in_ is "
            f"{plain_value(n_features)!r}"
        )
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and len(names) != n_features:
        raise _damaged(
            f"feature_names_in_ has {len(names)} names but n_features_in_ is {n_features}"
        )
    layout = Layout(layer_sizes)
    _check_theta(estimator._theta, layout)
    _check_classes(estimator, layer_sizes[-1])

    for name, expected in (("n_layers_", layout.n_layers), ("n_outputs_", layer_sizes[-1])):
        value = getattr(estimator, name, expected)
        if value != expected:
            raise _damaged(
                f"{name} is {plain_value(value)!r} but _layer_sizes {layer_sizes} give {expected}"
            )
    out_activation = getattr(estimator, "out_activation_", None)
    if out_activation not in _OUT_ACTIVATIONS:
        raise _damaged(
            f"out_activation_ must be one of {_OUT_ACTIVATIONS}, got {out_activation!r}"
        )
    if out_activation == "softmax" and layer_sizes[-1] == 1:
        raise _damaged("out_activation_ is 'softmax' but the network has one output unit")
    activation = getattr(estimator, "activation_", None)
    if activation not in ACTIVATIONS:
        raise _damaged(f"activation_ must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return layout


def check_fit_targets(binarizer, out_activation):
    """The targets a fit can learn: two classes or more; multilabel ones need logistic outputs."""
    if len(binarizer.classes_) < 2:
        raise ValueError(
            "BackpropMLPClassifier needs samples of at least 2 classes in "
            f"the data, but the data contain only one class: "
            f"{plain_value(binarizer.classes_[0])}."
        )
    if binarizer.y_type_ == "multilabel-indicator" and out_activation == "softmax":
        raise ValueError(
            "Multilabel targets need out_activation='logistic' (one "
            "independent sigmoid per label); 'softmax' makes the labels "
            "mutually exclusive."
        )


def warm_start_theta(estimator, classes, layer_sizes):
    """A copy of the fitted parameters, for a warm start on `classes` and `layer_sizes`."""
    if not np.array_equal(classes, estimator.classes_):
        raise ValueError(
            "warm_start=True needs the same classes as the previous "
            f"fit: got {np.asarray(classes).tolist()}, previously "
            f"{estimator.classes_.tolist()}. "
            "Set warm_start=False to fit from scratch."
        )
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
    """Refuse training weights that sum to 0.

    `what` says where they vanish: ``"sample_weight"`` (the given weights),
    ``"validation"`` (the rows held out for early stopping) or
    ``"class_weight"`` (the sample weights times the class weights).
    """
    if total > 0:
        return
    if what == "validation":
        raise ValueError(
            "early_stopping needs validation samples of positive weight: the "
            "held-out samples' weights sum to 0. Change validation_fraction or "
            "random_state."
        )
    if what == "class_weight":
        raise ValueError("class_weight gives every sample zero weight: the weights sum to 0.")
    raise ValueError("sample_weight must not be all zero: the weights sum to 0.")


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
        raise ValueError("early_stopping needs at least 2 samples to hold some out.")
    n_val = min(max(math.ceil(fraction * n_samples), 1), n_samples - 1)
    if class_counts is not None:
        n_classes = len(class_counts)
        if min(class_counts) >= 2 and n_samples - max(n_val, n_classes) >= n_classes:
            return max(n_val, n_classes), True
    return n_val, False
