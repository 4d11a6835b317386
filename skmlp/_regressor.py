"""BackpropMLPRegressor: the course's network for continuous targets."""

from typing import ClassVar

from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import StrOptions

from ._base import BaseBackpropMLP
from ._docstrings import fill_doc
from ._problem import is_dask_collection
from ._targets import RegressionTargets


@fill_doc
class BackpropMLPRegressor(RegressorMixin, BaseBackpropMLP):
    """Multi-layer perceptron regressor trained by backpropagation and a scipy optimizer.

    The course's network with identity outputs (or exponential ones, a log
    link, for counts), the cost

    ``J = 1/S * sum_i s_i * loss_i + alpha / (2 S) * sum of squared weights``

    (``S`` the sum of the sample weights, ``n_samples`` without) minimized
    over all parameters unrolled into one vector by
    :func:`scipy.optimize.minimize`. ``loss_i`` is summed over the outputs:
    ``1/2 ||f(x_i) - y_i||^2`` for 'squared_error' (MLPRegressor averages
    over the outputs too, so its J is ours divided by the number of outputs),
    half the Poisson deviance for 'poisson'.

    Parameters
    ----------
    {{hidden_layer_sizes}}
    {{activation}}
    loss : {'squared_error', 'poisson'}, default='squared_error'
        'squared_error': identity outputs and half the squared error.
        'poisson': exponential outputs (log link) and half the Poisson
        deviance ``sum_k y log(y / mu) - y + mu``, for non-negative targets
        (counts, rates).
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
        Hold out `validation_fraction` of the training data and stop when
        its R^2 (weighted by the held-out rows' sample weights, averaged over
        the outputs) has not improved by more than `tol` for
        `n_iter_no_change` iterations; the parameters with the best
        validation R^2 are kept.
    {{validation_fraction}}
    {{n_iter_no_change}}
    {{random_state}}
    {{warm_start}}
    {{verbose}}

    Attributes
    ----------
    {{coefs_}}
    {{intercepts_}}
    {{thetas_}}
    {{n_features_in_}}
    {{feature_names_in_}}
    {{n_layers_}}
    {{n_outputs_}}
    {{activation_}}
    out_activation_ : str
        Output units used: 'identity' (squared error) or 'exp' (Poisson).
    {{n_iter_}}
    {{n_fun_}}
    {{n_hessp_}}
    {{alpha_}}
    {{effective_n_params_}}
    {{loss_}}
    {{loss_curve_}}
    {{best_loss_}}
    validation_scores_ : list of float or None
        Validation R^2 after each iteration, with early stopping.
    best_validation_score_ : float or None
        With early stopping, the validation R^2 of the returned parameters:
        the best iteration's, or that of the initial parameters when the
        solver stopped before its first iteration.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : The multi-layer perceptron of scikit-learn.
    BackpropMLPClassifier : The same network for classification.

    Notes
    -----
    For the squared error the Gauss-Newton matrix is the Hessian of the loss
    through the outputs (the output Hessian is the identity); 'auto'
    curvature still takes the exact Hessian for 'newton-cg' and 'trust-ncg'
    and Gauss-Newton for 'trust-krylov', as the classifier does.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmlp import BackpropMLPRegressor
    >>> X, y = make_friedman1(n_samples=500, random_state=0)
    >>> reg = make_pipeline(
    ...     StandardScaler(),
    ...     BackpropMLPRegressor((20,), max_iter=1000, random_state=0),
    ... ).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> bool(reg.score(X, y) > 0.95)
    True
    """

    _targets_class = RegressionTargets
    _parameter_constraints: ClassVar[dict] = {
        **BaseBackpropMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
        loss="squared_error",
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
        self.loss = loss

    def predict(self, X):
        """Predict the targets: shape (n_samples,) for one output, as MLPRegressor.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values.
        """
        if is_dask_collection(X):
            return self._on_cluster("predict", X)
        logits = self._logits(X)
        y = self._fitted_targets().decode(logits)
        return y.ravel() if y.shape[1] == 1 else y

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions (one distributed reduction for dask input).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R^2 of ``self.predict(X)`` with respect to y (averaged over the
            outputs).
        """
        if is_dask_collection(X):
            return self._cluster_score(X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags
