"""BackpropMLPClassifier: the course's network as a scikit-learn classifier."""

from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions

from ._base import BaseBackpropMLP
from ._docstrings import fill_doc
from ._layout import Layout
from ._problem import is_dask_collection
from ._targets import ClassTargets


@fill_doc
class BackpropMLPClassifier(ClassifierMixin, BaseBackpropMLP):
    """Multi-layer perceptron trained by backpropagation and a scipy optimizer.

    The course's network generalized: sigmoid (or tanh, relu, identity) hidden
    layers, one sigmoid per class at the output (or a softmax), the cost

    ``J = 1/S * sum_i s_i * loss_i + alpha / (2 S) * sum of squared weights``

    (``S`` the sum of the sample weights, ``n_samples`` without) and all
    parameters unrolled into one vector minimized by
    :func:`scipy.optimize.minimize` with the loss and its backpropagated
    gradient computed in one pass.

    Parameters
    ----------
    {{hidden_layer_sizes}}
    {{activation}}
    out_activation : {'logistic', 'softmax'}, default='logistic'
        'logistic': one sigmoid per class and the summed binary cross-entropy
        (the course's cost J). 'softmax': multinomial cross-entropy. Binary
        problems always use one logistic unit; multilabel targets need
        'logistic'.
    {{alpha}}
    {{solver}}
    {{curvature}}
    {{max_iter}}
    {{max_fun}}
    {{tol}}
    {{init_epsilon}}
    {{batch_size}}
    {{n_jobs}}
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the training data (stratified) and
        stop when its accuracy (weighted by the held-out rows' sample and
        class weights, as MLPClassifier scores it) has not improved by more
        than `tol` for `n_iter_no_change` iterations; the parameters with the
        best validation accuracy are kept.
    {{validation_fraction}}
    {{n_iter_no_change}}
    class_weight : dict, 'balanced' or None, default=None
        Weights per class, multiplied into `sample_weight`: ``{label:
        weight}`` (non-negative), or 'balanced' for ``n_samples / (n_classes *
        np.bincount(y))`` on the training rows, with each row counted by its
        sample weight (``S / (n_classes * S_c)``, ``S_c`` the weight of class
        c), so that a weight of k counts as k repeated rows. With early
        stopping the held-out rows are scored with the same class weights.
    {{random_state}}
    {{warm_start}}
    {{verbose}}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (the label indices for multilabel targets).
    {{coefs_}}
    {{intercepts_}}
    {{thetas_}}
    {{n_features_in_}}
    {{feature_names_in_}}
    {{n_layers_}}
    {{n_outputs_}}
    {{activation_}}
    out_activation_ : str
        Output units used: 'logistic' or 'softmax'.
    {{n_iter_}}
    {{n_fun_}}
    {{n_hessp_}}
    {{alpha_}}
    {{effective_n_params_}}
    {{loss_}}
    {{loss_curve_}}
    {{best_loss_}}
    validation_scores_ : list of float or None
        Validation accuracy after each iteration, with early stopping.
    best_validation_score_ : float or None
        With early stopping, the validation accuracy of the returned
        parameters: the best iteration's, or that of the initial parameters
        when the solver stopped before its first iteration.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The multi-layer perceptron of scikit-learn.

    Notes
    -----
    With ``hidden_layer_sizes=(25,)``, ``alpha=1`` and the course's weights
    (:meth:`from_thetas`), :meth:`objective` gives the course's cost J.

    References
    ----------
    Rumelhart, Hinton and Williams (1986), "Learning representations by
    back-propagating errors", Nature 323.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmlp import BackpropMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(
    ...     StandardScaler(), BackpropMLPClassifier(max_iter=1000, random_state=0)
    ... ).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> proba = clf.predict_proba(X[:1])
    >>> proba.shape, round(float(proba.sum()), 12)
    ((1, 3), 1.0)
    >>> round(clf.score(X, y), 2)
    0.97
    """

    _targets_class = ClassTargets
    _parameter_constraints: ClassVar[dict] = {
        **BaseBackpropMLP._parameter_constraints,
        "out_activation": [StrOptions({"logistic", "softmax"})],
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
        out_activation="logistic",
        alpha=1.0,
        solver="lbfgs",
        curvature="auto",
        max_iter=200,
        max_fun=15000,
        tol=1e-4,
        init_epsilon=None,
        batch_size=None,
        n_jobs=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        class_weight=None,
        random_state=None,
        warm_start=False,
        verbose=0,
    ):
        super().__init__(
            hidden_layer_sizes,
            activation,
            alpha=alpha,
            solver=solver,
            curvature=curvature,
            max_iter=max_iter,
            max_fun=max_fun,
            tol=tol,
            init_epsilon=init_epsilon,
            batch_size=batch_size,
            n_jobs=n_jobs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
        )
        self.out_activation = out_activation
        self.class_weight = class_weight

    @classmethod
    def from_thetas(cls, thetas, classes, **params):
        """A fitted estimator from the course's Theta matrices.

        Parameters
        ----------
        thetas : list of array-like
            ``thetas[i]`` of shape ``(fan_out, fan_in + 1)``, bias column
            first, as the course's Theta1, Theta2 (e.g. trained in Octave).
        classes : array-like of shape (n_classes,)
            The label of each output unit, in order (the course: 1..10, where
            10 stands for the digit 0). Two classes take one output unit.
        **params
            Other constructor parameters (e.g. ``alpha`` for
            :meth:`objective`); ``hidden_layer_sizes`` follows from `thetas`.

        Returns
        -------
        estimator : BackpropMLPClassifier
            A fitted estimator whose parameters are the given thetas.
        """
        if "hidden_layer_sizes" in params:
            raise TypeError(
                "from_thetas takes the layer sizes from thetas; do not pass hidden_layer_sizes."
            )
        estimator = cls(**params)
        estimator._validate_params()
        layout, theta = Layout.from_thetas(thetas)
        if not np.all(np.isfinite(theta)):
            raise ValueError("thetas contain NaN or infinity.")
        estimator.hidden_layer_sizes = layout.layer_sizes[1:-1]
        classes = np.asarray(classes)
        binarizer = LabelBinarizer().fit(classes)
        if classes.ndim != 1 or len(np.unique(classes)) != len(classes) or len(classes) < 2:
            raise ValueError("classes must be at least 2 distinct labels, one per output.")
        n_outputs = 1 if len(classes) == 2 else len(classes)
        if layout.layer_sizes[-1] != n_outputs:
            raise ValueError(
                f"The last theta has {layout.layer_sizes[-1]} output units, but "
                f"{len(classes)} classes need {n_outputs}."
            )
        if not np.array_equal(binarizer.classes_, classes):
            raise ValueError(
                "classes must be sorted (the order of the output units follows "
                f"the sorted labels); got {classes}."
            )
        targets = ClassTargets(estimator.out_activation)
        targets.binarizer = binarizer
        fitted = cls._fitted_attributes(layout, targets, estimator.activation, theta)
        for name, value in fitted.items():
            setattr(estimator, name, value)
        estimator.n_features_in_ = layout.layer_sizes[0]
        return estimator

    # ---------------------------------------------------------- predict

    def _log_proba(self, X, exp):
        """Log-probabilities, or (`exp`) probabilities, written chunk by chunk."""
        layout = self._checked_layout()
        n_outputs = layout.layer_sizes[-1]
        targets = self._fitted_targets()
        loss, multilabel = targets.loss(), targets.multilabel
        n_classes = 2 if n_outputs == 1 and not multilabel else n_outputs

        def transform(logits_t, rows):
            # float32 logits (float32 X) are transformed in float64: in float32
            # a probability within 6e-8 of 1 rounds to 1 (or one below 1e-38
            # to 0), and the log of predict_proba would no longer be
            # predict_log_proba's.
            logits = logits_t.T.astype(np.float64, copy=False)
            if rows.shape[1] == n_outputs and not multilabel:
                loss.log_proba(logits, multilabel, out=rows)
            else:
                loss.log_proba(np.ascontiguousarray(logits), multilabel, out=rows)
            if exp:
                np.exp(rows, out=rows)

        return self._predict(X, lambda n, dtype: np.empty((n, n_classes)), transform)

    def decision_function(self, X):
        """Output logits: shape (n_samples,) for binary problems.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        logits : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Pre-activation of the output units.
        """
        if is_dask_collection(X):
            return self._on_cluster("decision_function", X)
        logits = self._logits(X)
        return logits.ravel() if logits.shape[1] == 1 else logits

    def predict(self, X):
        """Predict class labels (an indicator matrix for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted labels.
        """
        if is_dask_collection(X):
            return self._on_cluster("predict", X)
        layout = self._checked_layout()
        targets = self._fitted_targets()
        # The labels' dtype and trailing shape, from no rows at all.
        empty = targets.decode(np.zeros((0, layout.layer_sizes[-1])))

        def transform(logits_t, rows):
            rows[...] = targets.decode(np.ascontiguousarray(logits_t.T))

        return self._predict(
            X, lambda n, dtype: np.empty((n, *empty.shape[1:]), empty.dtype), transform
        )

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class (float64, for float32 X too).
        """
        if is_dask_collection(X):
            return self._on_cluster("predict_log_proba", X)
        return self._log_proba(X, exp=False)

    def predict_proba(self, X):
        """Class probabilities; rows sum to one (except multilabel).

        Several logistic outputs are normalized to sum to one; multilabel
        targets give each label's own probability.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class (float64, for float32 X too).
        """
        if is_dask_collection(X):
            return self._on_cluster("predict_proba", X)
        return self._log_proba(X, exp=True)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on X, y (one distributed reduction for dask input).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Mean accuracy of ``self.predict(X)`` with respect to y.
        """
        if is_dask_collection(X):
            return self._cluster_score(X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = self.out_activation == "logistic"
        return tags
