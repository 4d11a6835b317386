"""BaseBackpropMLP: what every skmlp estimator shares.

The generic parameters and their validation, the fit wrapper (bad input
changes nothing; an interrupted fit keeps its last iterate), the fitted
parameters (``coefs_``, ``intercepts_``, ``thetas_`` over one flat vector),
``objective()``, chunked prediction on the kernel, and the dispatch of dask
input to the cluster. A subclass adds its own parameters, its target
strategy (:mod:`skmlp._targets`) and its output transforms.
"""

import copy
import functools
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import assert_all_finite
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._activations import ACTIVATIONS
from ._prediction import predict_chunks
from ._problem import (
    ACCEPT_SPARSE,
    DTYPES,
    build_problem,
    check_weights,
    class_weighted,
    make_objective,
    working_dtype,
)
from ._solvers import CURVATURES, SOLVERS, check_solver
from ._training import train
from ._validation import check_parameters


class BaseBackpropMLP(CallbackSupportMixin, BaseEstimator):
    """Base class of the backpropagation estimators; not for direct use.

    A subclass sets ``_targets_class``, its target strategy
    (:mod:`skmlp._targets`), and adds its own parameters and outputs.
    """

    _targets_class: ClassVar[type]

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"evidence"})],
        "solver": [StrOptions(set(SOLVERS))],
        "curvature": [StrOptions({"auto", *CURVATURES})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init_epsilon": [None, Interval(Real, 0, None, closed="neither")],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "n_jobs": [
            None,
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.solver = solver
        self.curvature = curvature
        self.max_iter = max_iter
        self.max_fun = max_fun
        self.tol = tol
        self.init_epsilon = init_epsilon
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    def _validate_params(self):
        # An unknown solver gets a message for MLPClassifier's users (no
        # 'adam' or 'sgd' in full-batch training) before scikit-learn's checks.
        check_solver(self.solver, type(self).__name__)
        super()._validate_params()

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Fit the network to X, y by minimizing J.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask collection} of shape (n_samples, n_features)
            Training data. float32 data are trained in float32 (about
            twice as fast), except by the solvers that need float64 (see
            `solver`), which train on a float64 copy. A dask array or
            DataFrame is fitted on its Dask cluster, its rows staying on the
            workers.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; each sample's loss counts ``s_i / S``.
            Identical rows are merged and the rows put in an order of their
            contents, so a weight of k gives the same model, bit for bit, as
            k repeated rows (see the user guide's "A fit sees only the
            multiset of weighted rows"; not above 1 GiB of X).

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C (or from a callback), after the estimator was fitted
            with the last completed iterate (with early stopping: the
            iterate of the best validation score so far); the exception's
            note says which. Interrupted before the first iteration, the
            estimator is left as it was.
        """
        # Bad input must change nothing: validation writes attributes
        # (n_features_in_, ...), so restore them on any failure.
        state = copy.copy(self.__dict__)
        try:
            error = self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise
        # A callback that failed, or a KeyboardInterrupt, stopped the fit; the
        # model is fitted with the parameters so far, and the exception still
        # reaches the caller (a search, or the user at the prompt), after
        # scikit-learn's callbacks were torn down.
        if error is not None:
            raise error
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, y, sample_weight):
        problem = build_problem(self, X, y, sample_weight)
        context = self._init_callback_context(max_subtasks=self.max_iter + 1)
        task_data = {
            "X": problem.X,
            "y": problem.data.y,
            "metadata": {"sample_weight": problem.data.sample_weight},
        }
        context.call_on_fit_task_begin(estimator=self, **task_data)

        def fitted_attributes(theta):
            return self._fitted_attributes(problem.layout, problem.targets, self.activation, theta)

        result = train(problem, self, context, fitted_attributes, task_data)
        for name, value in fitted_attributes(result.theta).items():
            setattr(self, name, value)
        self.n_iter_ = result.n_iter
        self.n_fun_ = result.n_fun
        self.n_hessp_ = result.n_hessp
        self.loss_ = result.loss
        self.loss_curve_ = result.loss_curve
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        self.validation_scores_ = result.validation_scores
        self.best_validation_score_ = result.best_validation_score
        self.alpha_ = result.alpha
        self.effective_n_params_ = result.effective_n_params
        context.call_on_fit_task_end(estimator=self, **task_data)
        return result.interrupt or result.callback_error

    @staticmethod
    def _fitted_attributes(layout, targets, activation, theta):
        """The attributes that make the estimator predict with `theta`."""
        return {
            "activation_": activation,
            "_theta": np.array(theta, dtype=np.float64),
            "_layer_sizes": layout.layer_sizes,
            "n_layers_": layout.n_layers,
            "n_outputs_": layout.layer_sizes[-1],
            **targets.fitted_attributes(),
        }

    def _fitted_targets(self):
        """The target strategy the fitted estimator predicts with."""
        return self._targets_class.fitted(self)

    # -------------------------------------------------------- parameters

    @property
    def coefs_(self):
        """Weight matrices, ``(fan_in, fan_out)`` views of the parameters."""
        return self._checked_layout().coefs(self._theta)

    @property
    def intercepts_(self):
        """Intercept vectors, ``(fan_out,)`` views of the parameters."""
        return self._checked_layout().intercepts(self._theta)

    @property
    def thetas_(self):
        """The course's Theta matrices, ``(fan_out, fan_in + 1)``, bias first."""
        return self._checked_layout().to_thetas(self._theta)

    def _checked_layout(self):
        """The layout of a fitted, undamaged estimator: the one stored-state check.

        Every fitted accessor (``coefs_``, ``intercepts_``, ``thetas_``, the
        predictions, :meth:`objective`) goes through it: NotFittedError
        before a fit, a ValueError naming what disagrees in a damaged state.
        """
        if not hasattr(self, "_layer_sizes"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )
        check_is_fitted(self)
        return check_parameters(self)

    # ---------------------------------------------------------- predict

    def _validate_X(self, X, ensure_all_finite=True):
        """X at predict time, validated against the fit."""
        with np.errstate(over="ignore", invalid="ignore"):
            return validate_data(
                self,
                X,
                accept_sparse=ACCEPT_SPARSE,
                dtype=DTYPES,
                reset=False,
                ensure_all_finite=ensure_all_finite,
            )

    def _predict(self, X, make_out, transform):
        """`transform` of the logits into ``make_out(n_samples, dtype)``, chunk by chunk.

        See :func:`~skmlp._prediction.predict_chunks`: memory bounded by the
        output plus per-thread chunk buffers, threads on large inputs
        following `n_jobs`, the same result for any number of threads.
        """
        layout = self._checked_layout()
        # Dense X is checked for NaN and infinity by the chunks' first layer
        # (a pass over X less; the same error as scikit-learn's check).
        dense = not sp.issparse(X)
        X = self._validate_X(X, ensure_all_finite=not dense)
        assert_finite = None
        if dense:
            assert_finite = functools.partial(
                assert_all_finite, input_name="X", estimator_name=type(self).__name__
            )
        out = make_out(X.shape[0], working_dtype(X))
        return predict_chunks(
            layout, self._theta, X, self.activation_, transform, out, self.n_jobs, assert_finite
        )

    def _cluster_score(self, X, y, sample_weight):
        """``score`` on dask X: one distributed reduction."""
        from ._dask.predict import cluster_score

        check_is_fitted(self)
        check_parameters(self)
        return cluster_score(self, X, y, sample_weight)

    def _on_cluster(self, method, X):
        """`method` on a dask X: a lazy dask array with X's row chunks."""
        from ._dask.predict import lazy_predict

        check_is_fitted(self)
        check_parameters(self)
        return lazy_predict(self, method, X)

    def _logits(self, X):
        """The output logits of X, (n_samples, n_outputs), chunk by chunk."""
        n_outputs = self._checked_layout().layer_sizes[-1]

        def transform(logits_t, rows):
            np.copyto(rows, logits_t.T)

        return self._predict(X, lambda n, dtype: np.empty((n, n_outputs), dtype), transform)

    def objective(self, X, y, sample_weight=None):
        """The cost J of the current parameters on X, y (with this alpha).

        The rows are weighted as a fit weighs them: sample weights times the
        class weights (``class_weight``, 'balanced' counted on these rows).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (labels among ``classes_`` for a classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        J : float
            Data term plus ``alpha / (2 S) * sum of squared weights``.
        """
        self._validate_params()
        layout = self._checked_layout()
        X = self._validate_X(X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
        targets = self._fitted_targets()
        y = targets.check_known(y)
        Y = targets.encode(y)
        sample_weight = class_weighted(targets, y, check_weights(sample_weight, X))
        with make_objective(
            layout,
            X,
            Y,
            sample_weight,
            activation=self.activation_,
            out_activation=targets.out_activation,
            alpha=self.alpha_ if self.alpha == "evidence" else self.alpha,
            batch_size=self.batch_size,
            n_threads=self.n_jobs,
        ) as J:
            return J.loss(self._theta)
