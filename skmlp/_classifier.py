"""BackpropMLPClassifier: validation, target encoding, fit and predict."""

import copy
import functools
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import assert_all_finite, check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._activations import ACTIVATIONS
from ._blas import effective_n_threads
from ._curvature import CURVATURES, CurvatureObjective
from ._layout import Layout
from ._losses import get_loss
from ._monitor import CallbackBridge, FitMonitor
from ._network import forward_logits
from ._objective import Objective
from ._prediction import predict_chunks, working_dtype
from ._rows import canonical_rows
from ._solvers import SOLVERS, convergence_message, run_solver
from ._validation import (
    check_fit_targets,
    check_parameters,
    check_weight_sum,
    plain_value,
    validation_size,
    warm_start_theta,
)

_ACCEPT_SPARSE = ("csr", "csc")


@dataclass
class _TrainingProblem:
    """What a fit minimizes, and the data around it."""

    build_objective: Callable[[], Objective]
    theta0: np.ndarray
    layout: Layout
    binarizer: LabelBinarizer
    out_activation: str
    X: object  # the training rows: canonical (_rows.py), without the validation split
    y: np.ndarray
    sample_weight: np.ndarray | None
    validation: tuple | None  # (X_val, y_val, sample_weight_val) when early stopping
    validation_score: object = None  # theta -> accuracy, for data on a cluster

    @property
    def objective(self):
        """A new :class:`Objective` (thread pool, per-chunk data): close it."""
        return self.build_objective()


_DTYPES = (np.float64, np.float32)
# Solvers that stall on float32 rounding: they get float64 data (see `solver`).
# Measured on the standardized digits, (25,), float32 vs float64 data: TNC's
# finite-difference Hessian products end at J 0.319 after 4307 evaluations
# (float64: 0.243 after 1548); Newton-CG's line search fails with "precision
# loss" (random_state=1); trust-krylov stalls on iris ("bad approximation"
# above tol). trust-ncg (exact products, no line search) converged to the
# float64 loss in float32 on both and is not upcast.
_FLOAT64_SOLVERS = frozenset({"tnc", "newton-cg", "trust-krylov"})

# Frames a warning about a fit skips to reach the user's call: skmlp's own
# and scikit-learn's fit wrappers (_fit_context, the callback support).
_WRAPPER_FILES = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.join(os.path.dirname(os.path.abspath(sklearn.__file__)), "base.py"),
    os.path.join(os.path.dirname(os.path.abspath(sklearn.__file__)), "callback") + os.sep,
)


def _user_stacklevel():
    """``stacklevel`` for a warning issued by the caller: the first frame
    outside skmlp and scikit-learn's fit wrappers."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _WRAPPER_FILES
    ):
        frame, level = frame.f_back, level + 1
    return level


def _roughly_standardized(X):
    """Whether the columns look standardized: |mean| <= 1 and std within
    [1/4, 4] (constant columns aside), from at most 1000 evenly spaced rows."""
    rows = np.linspace(0, X.shape[0] - 1, min(X.shape[0], 1000)).astype(int)
    if _is_dask_collection(X):  # the sample of the rows on the cluster
        X = X[rows].compute()
        rows = np.arange(X.shape[0])
    # Values near the float maximum overflow here: not standardized then.
    with np.errstate(over="ignore", invalid="ignore"):
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float64)
            mean, var = mean_variance_axis(X, axis=0)
            lo, hi = X.min(axis=0).toarray().ravel(), X.max(axis=0).toarray().ravel()
        else:
            sample = np.asarray(X[rows], dtype=np.float64)
            mean, var = sample.mean(axis=0), sample.var(axis=0)
            lo, hi = sample.min(axis=0), sample.max(axis=0)
        std = np.sqrt(var)
    # Constant in the sample (e.g. a rare feature the sample misses): its
    # variance is rounding noise, not a scale.
    varying = hi > lo
    return bool(np.all(np.abs(mean) <= 1) and np.all((std[varying] >= 0.25) & (std[varying] <= 4)))


class BackpropMLPClassifier(CallbackSupportMixin, ClassifierMixin, BaseEstimator):
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
    hidden_layer_sizes : int or array-like of int, default=(25,)
        Units in each hidden layer, any depth (``()`` for none).
    activation : {'logistic', 'tanh', 'relu', 'identity'}, default='logistic'
        Activation of the hidden units.
    out_activation : {'logistic', 'softmax'}, default='logistic'
        'logistic': one sigmoid per class and the summed binary cross-entropy
        (the course's cost J). 'softmax': multinomial cross-entropy. Binary
        problems always use one logistic unit; multilabel targets need
        'logistic'.
    alpha : float, default=1.0
        The course's lambda: strength of the L2 penalty on the weights
        (intercepts are not penalized), scaled by ``1 / (2 S)``.
    solver : {'lbfgs', 'tnc', 'cg', 'bfgs', 'newton-cg', 'trust-ncg', \
'trust-krylov'}, default='lbfgs'
        The :func:`scipy.optimize.minimize` method: L-BFGS-B, TNC, CG, BFGS,
        Newton-CG, trust-ncg, trust-krylov. The Newton-type methods use exact
        Hessian-vector products (see `curvature`).
        'bfgs' stores a dense inverse Hessian: only for small networks.
        float32 data are trained in float32 by 'lbfgs', 'cg', 'bfgs' and
        'trust-ncg'; 'tnc', 'newton-cg' and 'trust-krylov' train them in
        float64 (a copy of X): TNC's finite-difference curvature, Newton-CG's
        line search and trust-krylov's model stall on float32 rounding.
    curvature : {'auto', 'exact', 'gauss-newton'}, default='auto'
        The Hessian-vector product of the Newton-type solvers: the exact
        Hessian by the R-operator (Pearlmutter 1994), or the positive
        semi-definite Gauss-Newton matrix (Schraudolph 2002). 'auto' takes
        the exact Hessian for 'newton-cg' and 'trust-ncg' (on the
        standardized digits they converged in 67 and 164 iterations with it,
        but not within 200 with Gauss-Newton) and Gauss-Newton for
        'trust-krylov', whose scipy backend (trlib) gives run-to-run
        different iterates on indefinite Hessians. Both cost about one
        gradient evaluation per product and share the forward pass with the
        loss at the same parameters.
    max_iter : int, default=200
        Maximum number of iterations.
    max_fun : int, default=15000
        Maximum number of objective evaluations (loss and gradient), never
        exceeded by any solver; ``n_fun_`` counts every one.
    tol : float, default=1e-5
        Convergence tolerance: on the gradient for 'lbfgs', 'tnc', 'cg',
        'bfgs', 'trust-ncg' and 'trust-krylov', on the relative step for
        'newton-cg'.
    init_epsilon : float, default=None
        Initial weights and intercepts are drawn from U(-b, b) with
        ``b = sqrt(6 / (fan_in + fan_out))`` per layer (the course's
        epsilon_init, 0.12 for 400 -> 25), or ``b = init_epsilon`` if given.
    batch_size : int, default=None
        Rows per chunk when evaluating the full-batch objective: bounds the
        extra memory, does not change the algorithm (this is not SGD).
        None picks them from the data's shape (never from the number of
        CPUs, so a fit gives the same result on any machine).
    n_jobs : int, default=None
        Threads evaluating the chunks, the calling thread included; the
        model does not depend on it. None: the CPUs scikit-learn's own
        threaded estimators would use (within threadpoolctl's limits,
        ``OMP_NUM_THREADS`` and a joblib worker's inner-thread limit; at most
        8), each evaluation on all of them or on the calling thread alone,
        whichever has lately been faster. A positive value: that many
        threads; negative values count back from the available CPUs as in
        joblib (-1: all of them). Never more threads than chunks.
        Prediction follows it too on large inputs (the same result for any
        value; small inputs stay on the calling thread).
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the training data (stratified) and
        stop when its accuracy (weighted by the held-out rows' sample and
        class weights, as MLPClassifier scores it) has not improved by more
        than `tol` for `n_iter_no_change` iterations; the parameters with the
        best validation accuracy are kept.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int or np.inf, default=10
        Iterations without validation improvement before early stopping
        (``np.inf``: never stop early, still keep the best parameters).
    class_weight : dict, 'balanced' or None, default=None
        Weights per class, multiplied into `sample_weight`: ``{label:
        weight}`` (non-negative), or 'balanced' for ``n_samples / (n_classes *
        np.bincount(y))`` on the training rows, with each row counted by its
        sample weight (``S / (n_classes * S_c)``, ``S_c`` the weight of class
        c), so that a weight of k counts as k repeated rows. With early
        stopping the held-out rows are scored with the same class weights.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the validation split.
    warm_start : bool, default=False
        Start the next fit from the current parameters (same classes and
        network shape). ``n_iter_``, ``n_fun_`` and ``loss_curve_`` then
        describe the last call to fit only.
    verbose : int, default=0
        When positive, show the progress (iteration / max_iter, loss,
        gradient norm, validation score with early stopping, elapsed seconds
        and an upper bound of the time left) and a summary at the end. 1: one
        line updated in place on a terminal; 2, or whenever standard output
        is not a terminal (logs, notebooks): one line per iteration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (the label indices for multilabel targets).
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape ``(fan_in, fan_out)``: views into one flat
        parameter vector.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape ``(fan_out,)``: views into the same vector.
    thetas_ : list of ndarray
        The course's matrices, ``(fan_out, fan_in + 1)`` with the bias column
        first (copies).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names seen during fit, when X has string column names.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    activation_ : str
        Hidden activation of the fitted network (what predictions use, even
        if `activation` is changed after fit).
    out_activation_ : str
        Output units used: 'logistic' or 'softmax'.
    n_iter_ : int
        Iterations the solver ran.
    n_fun_ : int
        Objective evaluations the solver made.
    n_hessp_ : int
        Hessian-vector products the solver used (Newton-type solvers).
    loss_ : float
        J of the returned parameters (on the training rows).
    loss_curve_ : list of float
        J after each iteration; ``len(loss_curve_) == n_iter_``.
    best_loss_ : float
        Lowest J reached.
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

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "out_activation": [StrOptions({"logistic", "softmax"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
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
        "class_weight": [None, dict, StrOptions({"balanced"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
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
        tol=1e-5,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.out_activation = out_activation
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
        self.class_weight = class_weight
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Fit the network to X, y by minimizing J.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data are trained in float32 (about
            twice as fast), except by the solvers that need float64 (see
            `solver`), which train on a float64 copy.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a binary indicator matrix for multilabel targets.
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
            self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise
        # A callback that failed, or a KeyboardInterrupt, stopped the fit; the
        # model is fitted with the parameters so far (see _fit), and the
        # exception still reaches the caller (a search, or the user at the
        # prompt), after scikit-learn's callbacks were torn down.
        error = self.__dict__.pop("_fit_error", None)
        if error is not None:
            raise error
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, y, sample_weight):
        if _is_dask_collection(X):
            problem = self._cluster_training_problem(X, y, sample_weight)
        else:
            problem = self._training_problem(X, y, sample_weight)
        context = self._init_callback_context(max_subtasks=self.max_iter + 1)
        task_data = {
            "X": problem.X,
            "y": problem.y,
            "metadata": {"sample_weight": problem.sample_weight},
        }
        context.call_on_fit_task_begin(estimator=self, **task_data)
        bridge = None
        if getattr(self, "_skl_callbacks", None):

            def fitted_attributes(theta):
                return self._fitted_attributes(
                    problem.layout,
                    problem.binarizer,
                    problem.out_activation,
                    self.activation,
                    theta,
                )

            bridge = CallbackBridge(context, self, fitted_attributes, problem.theta0, **task_data)
        validation_score = self._validation_scorer(problem)
        monitor = FitMonitor(
            verbose=self.verbose,
            max_iter=self.max_iter,
            validation_score=validation_score,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            callback_iteration=bridge,
        )
        # The objective (thread pool, per-chunk data) is built inside the
        # with that releases it: nothing above may leave it open. Inside it
        # BLAS runs one thread: parallelism comes from the row chunks, and
        # idle BLAS workers spinning would fight the optimizer for the cores.
        with problem.objective as objective:
            result = run_solver(
                self.solver,
                objective.loss_and_grad,
                problem.theta0,
                hessp=getattr(objective, "hessp", None),
                max_iter=self.max_iter,
                max_fun=self.max_fun,
                tol=self.tol,
                on_iteration=monitor,
            )
            n_hessp = getattr(objective, "n_hessp", 0)
            # No best iterate (e.g. stopped before the first iteration):
            # score what is returned, here (a cluster's held-out rows live
            # as long as its objective).
            unscored_score = None
            completed = result.interrupt is None or result.n_iter > 0
            unscored = monitor.best_theta is None and completed
            if validation_score is not None and unscored:
                unscored_score = validation_score(result.x)
        if bridge is not None:
            bridge.close()
        interrupt = result.interrupt
        if interrupt is not None and result.n_iter == 0:
            monitor.finish(None)
            raise interrupt  # nothing completed: fit restores the estimator
        theta, loss = result.x, result.fun
        best_score = monitor.best_score
        if monitor.best_theta is not None:
            theta, loss = monitor.best_theta, result.loss_curve[monitor.best_iter - 1]
        elif validation_score is not None:
            best_score = unscored_score
        monitor.finish(
            f"{self.solver}: {result.reason} after {result.n_iter} iterations, "
            f"{result.n_fun} evaluations, loss {loss:.8f}, "
            f"{monitor.elapsed():.2f} s ({result.message})"
        )
        if interrupt is None:
            advice = None
            if result.reason in ("max_iter", "max_fun", "stalled"):
                advice = self._convergence_advice(problem, result)
            message = convergence_message(
                self.solver,
                result,
                max_iter=self.max_iter,
                max_fun=self.max_fun,
                tol=self.tol,
                advice=advice,
            )
            if message is not None:
                warnings.warn(message, ConvergenceWarning, stacklevel=_user_stacklevel())

        fitted = self._fitted_attributes(
            problem.layout, problem.binarizer, problem.out_activation, self.activation, theta
        )
        for name, value in fitted.items():
            setattr(self, name, value)
        self.n_iter_ = result.n_iter
        self.n_fun_ = result.n_fun
        self.n_hessp_ = n_hessp
        self.loss_ = float(loss)
        self.loss_curve_ = list(result.loss_curve)
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        self.validation_scores_ = monitor.validation_scores if self.early_stopping else None
        self.best_validation_score_ = best_score if self.early_stopping else None
        context.call_on_fit_task_end(estimator=self, **task_data)
        if interrupt is not None:
            if monitor.best_theta is not None:
                kept = (
                    "the parameters of the best validation score (iteration "
                    f"{monitor.best_iter}, validation score {best_score:.6g})"
                )
            else:
                kept = f"the last completed iterate (iteration {result.n_iter}, loss {loss:.6g})"
            note = (
                f"BackpropMLPClassifier.fit was interrupted after {result.n_iter} "
                f"iterations; the estimator is fitted with {kept}."
            )
            if hasattr(interrupt, "add_note"):
                interrupt.add_note(note)
            else:  # Python 3.10
                interrupt.args = (*interrupt.args, note)
            self._fit_error = interrupt
        elif monitor.callback_error is not None:
            self._fit_error = monitor.callback_error
        return self

    def _convergence_advice(self, problem, result):
        """What to try after a budget or stall stop, from the data's scale."""
        if not _roughly_standardized(problem.X):
            return "Scale the inputs (e.g. StandardScaler)."
        if result.reason != "stalled":
            return f"increase alpha (better conditioned) or loosen tol (tol={self.tol:g})."
        if problem.X.dtype == np.float32:
            return (
                "float32 rounding limits how far the loss can fall: fit float64 "
                f"data (X.astype(np.float64)) or loosen tol (tol={self.tol:g})."
            )
        other = "'bfgs' or 'trust-ncg'" if self.solver == "lbfgs" else "'lbfgs'"
        return (
            f"Loosen tol (tol={self.tol:g}) to what float64 precision allows, "
            f"increase alpha, or try solver={other}."
        )

    @staticmethod
    def _fitted_attributes(layout, binarizer, out_activation, activation, theta):
        """The attributes that make the estimator predict with `theta`."""
        return {
            "activation_": activation,
            "_theta": np.array(theta, dtype=np.float64),
            "_layer_sizes": layout.layer_sizes,
            "_label_binarizer": binarizer,
            "classes_": binarizer.classes_,
            "n_layers_": layout.n_layers,
            "n_outputs_": layout.layer_sizes[-1],
            "out_activation_": out_activation,
        }

    def _validation_scorer(self, problem):
        """``theta -> accuracy`` on the validation split, or None.

        Weighted by the validation rows' sample weights (class weights
        included), as MLPClassifier scores its validation split.
        """
        if problem.validation_score is not None:
            return problem.validation_score
        if problem.validation is None:
            return None
        X_val, y_val, sample_weight_val = problem.validation
        activation = self.activation

        def score(theta):
            logits = forward_logits(problem.layout, theta, X_val, activation)
            y_pred = problem.binarizer.inverse_transform(logits, threshold=0.0)
            return float(accuracy_score(y_val, y_pred, sample_weight=sample_weight_val))

        return score

    def _training_problem(self, X, y, sample_weight=None):
        """Validate the training data and build the objective a fit minimizes.

        Sets ``n_features_in_`` (and ``feature_names_in_``) as validation
        does, except on a warm start; nothing else on self.

        Returns
        -------
        problem : _TrainingProblem
            The :class:`Objective` builder (build it where it is closed), the starting
            parameters, the layout, the fitted LabelBinarizer and the output
            activation.
        """
        hidden = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        fitted = self.warm_start and hasattr(self, "_theta")
        # scikit-learn's finiteness check sums X: values near the float
        # maximum overflow there (and are still checked element-wise).
        with np.errstate(over="ignore", invalid="ignore"):
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=_ACCEPT_SPARSE,
                dtype=_DTYPES,
                multi_output=True,
                reset=not fitted,
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        binarizer = LabelBinarizer().fit(y)
        check_fit_targets(binarizer, self.out_activation)
        multilabel = binarizer.y_type_ == "multilabel-indicator"
        sample_weight = _check_weights(sample_weight, X)
        _check_class_weight(self.class_weight)
        rng = check_random_state(self.random_state)
        validation = None
        if self.early_stopping:
            X, y, sample_weight, validation = _validation_split(
                X, y, sample_weight, self.validation_fraction, multilabel, rng
            )
            if self.class_weight is not None:
                # The held-out rows are scored with the fit's class weights.
                X_val, y_val, sample_weight_val = validation
                class_weights = _class_sample_weight(self.class_weight, y, sample_weight, y_val)
                if sample_weight_val is not None:
                    class_weights = sample_weight_val * class_weights
                validation = (X_val, y_val, class_weights)
        # The fit sees only the multiset of weighted rows (see _rows.py).
        # Class weights are multiplied into the merged weights: k * c, not a
        # sum of k copies of c, which rounds differently.
        X, Y, sample_weight, rows = canonical_rows(X, binarizer.transform(y), sample_weight)
        y = y[rows]
        if self.class_weight is not None:
            sample_weight = sample_weight * _class_sample_weight(
                self.class_weight, y, sample_weight
            )
            if not np.all(sample_weight > 0):  # a class weighted zero
                X, Y, y, sample_weight = _positive_rows(X, Y, y, sample_weight)

        layout = Layout((X.shape[1], *hidden, Y.shape[1]))
        if fitted:
            theta0 = warm_start_theta(self, binarizer.classes_, layout.layer_sizes)
        else:
            theta0 = layout.init(rng, self.init_epsilon)

        out_activation = "logistic" if Y.shape[1] == 1 or multilabel else self.out_activation
        if X.dtype == np.float32 and self.solver in _FLOAT64_SOLVERS:
            X = X.astype(np.float64)
        curvature = {}
        if SOLVERS[self.solver][1]:
            curvature["curvature"] = self.curvature
            if self.curvature == "auto":
                # scipy's trust-krylov (trlib) gives run-to-run different
                # iterates on indefinite Hessians; Gauss-Newton keeps it
                # reproducible.
                exact = self.solver != "trust-krylov"
                curvature["curvature"] = "exact" if exact else "gauss-newton"
        build_objective = functools.partial(
            CurvatureObjective if curvature else Objective,
            layout,
            X,
            Y,
            sample_weight,
            activation=self.activation,
            out_activation=out_activation,
            alpha=self.alpha,
            batch_size=self.batch_size,
            n_threads=None if self.n_jobs is None else effective_n_threads(self.n_jobs),
            **curvature,
        )
        return _TrainingProblem(
            build_objective,
            theta0,
            layout,
            binarizer,
            out_activation,
            X,
            y,
            sample_weight,
            validation,
        )

    # ------------------------------------------------- data on a Dask cluster

    def _cluster_training_problem(self, X, y, sample_weight):
        """As `_training_problem`, with the data kept on a Dask cluster (skmlp._dask)."""
        from ._dask import cluster_training_problem  # dask is an optional dependency

        _check_class_weight(self.class_weight)
        fitted = self.warm_start and hasattr(self, "_theta")
        curvature = None
        if SOLVERS[self.solver][1]:
            curvature = self.curvature
            if curvature == "auto":
                curvature = "gauss-newton" if self.solver == "trust-krylov" else "exact"
        fields = cluster_training_problem(
            self,
            X,
            y,
            sample_weight,
            hidden=_check_hidden_layer_sizes(self.hidden_layer_sizes),
            float64=self.solver in _FLOAT64_SOLVERS,
            warm_start=fitted,
            curvature=curvature,
        )
        return _TrainingProblem(**fields)

    def _on_cluster(self, method, X):
        """`method` on a dask X: a lazy dask array with X's row chunks."""
        from ._dask import lazy_predict

        check_is_fitted(self)
        check_parameters(self)
        return lazy_predict(self, method, X)

    # -------------------------------------------------------- parameters

    @property
    def _layout(self):
        if not hasattr(self, "_layer_sizes"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )
        return Layout(self._layer_sizes)

    @property
    def coefs_(self):
        """Weight matrices, ``(fan_in, fan_out)`` views of the parameters."""
        return self._layout.coefs(self._theta)

    @property
    def intercepts_(self):
        """Intercept vectors, ``(fan_out,)`` views of the parameters."""
        return self._layout.intercepts(self._theta)

    @property
    def thetas_(self):
        """The course's Theta matrices, ``(fan_out, fan_in + 1)``, bias first."""
        return self._layout.to_thetas(self._theta)

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
        out_activation = "logistic" if n_outputs == 1 else estimator.out_activation
        fitted = cls._fitted_attributes(
            layout, binarizer, out_activation, estimator.activation, theta
        )
        for name, value in fitted.items():
            setattr(estimator, name, value)
        estimator.n_features_in_ = layout.layer_sizes[0]
        return estimator

    # ---------------------------------------------------------- predict

    def _checked_layout(self):
        """The layout of a fitted, undamaged estimator (a clear error otherwise)."""
        check_is_fitted(self)
        return check_parameters(self)

    def _predict(self, X, layout, make_out, transform):
        """`transform` of the logits into ``make_out(n_samples, dtype)``, chunk by chunk.

        See :func:`~skmlp._prediction.predict_chunks`: memory bounded by the
        output plus per-thread chunk buffers, threads on large inputs
        following `n_jobs`, the same result for any number of threads.
        """
        # Dense X is checked for NaN and infinity by the chunks' first layer
        # (a pass over X less; the same error as scikit-learn's check).
        dense = not sp.issparse(X)
        X = _validate_X(self, X, ensure_all_finite=not dense)
        assert_finite = None
        if dense:
            assert_finite = functools.partial(
                assert_all_finite, input_name="X", estimator_name=type(self).__name__
            )
        out = make_out(X.shape[0], working_dtype(X))
        return predict_chunks(
            layout, self._theta, X, self.activation_, transform, out, self.n_jobs, assert_finite
        )

    def _log_proba(self, X, exp):
        """Log-probabilities, or (`exp`) probabilities, written chunk by chunk."""
        layout = self._checked_layout()
        n_outputs = self._layer_sizes[-1]
        loss = get_loss(self.out_activation_, n_outputs)
        multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        n_classes = 2 if n_outputs == 1 and not multilabel else n_outputs

        def transform(logits_t, rows):
            if rows.shape[1] == n_outputs and not multilabel:
                loss.log_proba(logits_t.T, multilabel, out=rows)
            else:
                loss.log_proba(np.ascontiguousarray(logits_t.T), multilabel, out=rows)
            if exp:
                np.exp(rows, out=rows)

        return self._predict(
            X, layout, lambda n, dtype: np.empty((n, n_classes), dtype), transform
        )

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
        if _is_dask_collection(X):
            return self._on_cluster("decision_function", X)
        layout = self._checked_layout()
        n_outputs = self._layer_sizes[-1]

        def transform(logits_t, rows):
            np.copyto(rows, logits_t.T)

        logits = self._predict(
            X, layout, lambda n, dtype: np.empty((n, n_outputs), dtype), transform
        )
        return logits.ravel() if n_outputs == 1 else logits

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
        if _is_dask_collection(X):
            return self._on_cluster("predict", X)
        layout = self._checked_layout()
        binarizer = self._label_binarizer
        # The labels' dtype and trailing shape, from no rows at all.
        empty = binarizer.inverse_transform(np.zeros((0, self._layer_sizes[-1])), threshold=0.0)

        def transform(logits_t, rows):
            rows[...] = binarizer.inverse_transform(
                np.ascontiguousarray(logits_t.T), threshold=0.0
            )

        return self._predict(
            X, layout, lambda n, dtype: np.empty((n, *empty.shape[1:]), empty.dtype), transform
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
            Log-probability of each class.
        """
        if _is_dask_collection(X):
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
            Probability of each class.
        """
        if _is_dask_collection(X):
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
        if _is_dask_collection(X):
            from ._dask import cluster_score

            check_is_fitted(self)
            check_parameters(self)
            return cluster_score(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def objective(self, X, y, sample_weight=None):
        """The cost J of the current parameters on X, y (with this alpha).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels among ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        J : float
            Data term plus ``alpha / (2 S) * sum of squared weights``.
        """
        check_is_fitted(self)
        layout = check_parameters(self)
        X = _validate_X(self, X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}.")
        if y.ndim == 1:
            unknown = np.setdiff1d(y, self.classes_)
            if unknown.size:
                raise ValueError(f"y contains labels not seen in fit: {unknown}.")
        Y = self._label_binarizer.transform(y)
        sample_weight = _check_weights(sample_weight, X)
        with Objective(
            layout,
            X,
            Y,
            sample_weight,
            activation=self.activation_,
            out_activation=self.out_activation_,
            alpha=self.alpha,
            batch_size=self.batch_size,
            n_threads=None if self.n_jobs is None else effective_n_threads(self.n_jobs),
        ) as objective:
            return objective.loss(self._theta)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = self.out_activation == "logistic"
        return tags


def _is_dask_collection(X):
    """A dask array, DataFrame or Series (without importing dask)."""
    return hasattr(X, "__dask_graph__") and callable(getattr(X, "__dask_graph__", None))


def _check_class_weight(class_weight):
    """Refuse negative class weights, as negative sample weights are refused."""
    if isinstance(class_weight, dict):
        negative = {k: v for k, v in class_weight.items() if not v >= 0}
        if negative:
            shown = ", ".join(
                f"class {plain_value(k)}: {plain_value(v)}" for k, v in negative.items()
            )
            raise ValueError(
                f"class_weight must be non-negative, as sample weights are; got {shown}."
            )


def _check_hidden_layer_sizes(hidden_layer_sizes):
    sizes = np.atleast_1d(np.asarray(hidden_layer_sizes, dtype=object))
    if sizes.ndim != 1 or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(
            "hidden_layer_sizes must be a positive integer or a sequence of "
            f"positive integers, got {hidden_layer_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def _check_weights(sample_weight, X):
    """Validated float64 sample weights (or None): non-negative, positive sum."""
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    check_weight_sum(sample_weight.sum())
    return sample_weight


def _class_sample_weight(class_weight, y, sample_weight, y_rows=None):
    """Class weights of the rows `y_rows` (default `y`), as fitted on `y`.

    'balanced' counts each class by its sample weights: ``S / (n_classes *
    S_c)`` with ``S_c`` the weight of class c's rows in `y` (per label,
    multiplied over the labels, for multilabel targets), so that a row
    repeated k times and a row of weight k count alike. A class of `y_rows`
    absent from `y` gets weight 1.
    """
    y_rows = y if y_rows is None else y_rows
    if class_weight != "balanced":
        return compute_sample_weight(class_weight, y_rows)
    weight = np.ones(len(y_rows))
    columns = np.reshape(y, (len(y), -1)).T
    for column, rows in zip(columns, np.reshape(y_rows, (len(y_rows), -1)).T):
        classes = np.unique(column)
        per_class = compute_class_weight(
            "balanced", classes=classes, y=column, sample_weight=sample_weight
        )
        index = np.minimum(np.searchsorted(classes, rows), len(classes) - 1)
        known = classes[index] == rows
        weight[known] *= per_class[index[known]]
    return weight


def _positive_rows(X, Y, y, sample_weight):
    """The rows with positive weight (after class weights of zero)."""
    keep = np.flatnonzero(sample_weight > 0)
    check_weight_sum(keep.size, "class_weight")
    return X[keep], Y[keep], y[keep], sample_weight[keep]


def _validation_split(X, y, sample_weight, fraction, multilabel, rng):
    """Hold out `fraction` of the rows for early stopping.

    As many rows as :func:`~skmlp._validation.validation_size` says,
    stratified (scikit-learn's per-class counts) under its condition: every
    class has two samples or more and both parts have room for every class.
    Returns the training part and ``(X_val, y_val, sample_weight_val)``.
    """
    counts = None if multilabel else np.unique(y, return_counts=True)[1]
    n_val, stratified = validation_size(X.shape[0], fraction, counts)
    stratify = y if stratified else None
    arrays = [X, y] + ([] if sample_weight is None else [sample_weight])
    split = train_test_split(*arrays, test_size=n_val, stratify=stratify, random_state=rng)
    X_train, X_val, y_train, y_val = split[:4]
    sample_weight, sample_weight_val = (None, None) if sample_weight is None else split[4:]
    _check_weights(sample_weight, X_train)
    if sample_weight_val is not None:
        check_weight_sum(sample_weight_val.sum(), "validation")
    return X_train, y_train, sample_weight, (X_val, y_val, sample_weight_val)


def _validate_X(estimator, X, ensure_all_finite=True):
    """X at predict time, validated against the fit (see _training_problem)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return validate_data(
            estimator,
            X,
            accept_sparse=_ACCEPT_SPARSE,
            dtype=_DTYPES,
            reset=False,
            ensure_all_finite=ensure_all_finite,
        )
