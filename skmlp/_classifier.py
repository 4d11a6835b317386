"""BackpropMLPClassifier: validation, target encoding, fit and predict."""

import copy
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._activations import ACTIVATIONS
from ._curvature import CURVATURES, CurvatureObjective
from ._executor import effective_n_threads
from ._layout import Layout
from ._losses import get_loss
from ._monitor import CallbackBridge, FitMonitor
from ._network import forward_logits
from ._objective import Objective
from ._solvers import SOLVERS, convergence_message, run_solver
from ._validation import check_parameters

_ACCEPT_SPARSE = ("csr", "csc")


@dataclass
class _TrainingProblem:
    """What a fit minimizes, and the data around it."""

    objective: Objective
    theta0: np.ndarray
    layout: Layout
    binarizer: LabelBinarizer
    out_activation: str
    X: object  # the training rows (without the validation split)
    y: np.ndarray
    sample_weight: np.ndarray | None
    validation: tuple | None  # (X_val, y_val) when early stopping
    validation_score: object = None  # theta -> accuracy, for data on a cluster


_DTYPES = (np.float64, np.float32)
# Solvers whose line search or finite-difference curvature stall on a float32
# gradient's rounding noise: they get float64 data (see `solver`).
_FLOAT64_SOLVERS = frozenset({"tnc", "newton-cg", "trust-ncg", "trust-krylov"})


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
        float32 data are trained in float32 by 'lbfgs', 'cg' and 'bfgs';
        'tnc' and the Newton-type methods train them in float64 (a copy of
        X): their line search and finite-difference curvature stall on the
        rounding noise of a float32 gradient.
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
        Maximum number of objective evaluations (loss and gradient).
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
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the training data (stratified) and
        stop when its accuracy has not improved by more than `tol` for
        `n_iter_no_change` iterations; the parameters with the best
        validation accuracy are kept.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Iterations without validation improvement before early stopping.
    class_weight : dict, 'balanced' or None, default=None
        Weights per class, multiplied into `sample_weight`: ``{label:
        weight}``, or 'balanced' for ``n_samples / (n_classes *
        np.bincount(y))``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the validation split.
    warm_start : bool, default=False
        Start the next fit from the current parameters (same classes and
        network shape). ``n_iter_``, ``n_fun_`` and ``loss_curve_`` then
        describe the last call to fit only.
    verbose : int, default=0
        When positive, print one line per iteration (loss, gradient norm,
        validation score with early stopping, elapsed seconds) and a summary.

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
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during fit, when X has string column names.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
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
        Best validation accuracy, with early stopping: that of the returned
        parameters.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : scikit-learn's multi-layer perceptron.

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
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [None, dict, StrOptions({"balanced"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        *,
        activation="logistic",
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

        Returns
        -------
        self : object
            The fitted estimator.
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
        # A callback that failed stopped the fit; the model is fitted with the
        # parameters so far, and the error still reaches the caller.
        error = self.__dict__.pop("_callback_error", None)
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
                    problem.layout, problem.binarizer, problem.out_activation, theta
                )

            bridge = CallbackBridge(context, self, fitted_attributes, problem.theta0, **task_data)
        monitor = FitMonitor(
            verbose=self.verbose,
            validation_score=self._validation_scorer(problem),
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            callback_iteration=bridge,
        )
        # One BLAS thread inside (the objective's context): parallelism comes
        # from the row chunks, and idle BLAS workers spinning would fight the
        # optimizer for the cores.
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
        if bridge is not None:
            bridge.close()
        theta, loss = result.x, result.fun
        if monitor.best_theta is not None:
            theta, loss = monitor.best_theta, result.loss_curve[monitor.best_iter - 1]
        if self.verbose:
            print(
                f"{self.solver}: {result.reason} after {result.n_iter} iterations, "
                f"{result.n_fun} evaluations, loss {loss:.8f}, "
                f"{monitor.elapsed():.2f} s ({result.message})"
            )
        message = convergence_message(self.solver, result, self.max_iter, self.max_fun)
        if message is not None:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)

        fitted = self._fitted_attributes(
            problem.layout, problem.binarizer, problem.out_activation, theta
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
        self.best_validation_score_ = monitor.best_score if self.early_stopping else None
        context.call_on_fit_task_end(estimator=self, **task_data)
        if monitor.callback_error is not None:
            self._callback_error = monitor.callback_error
        return self

    @staticmethod
    def _fitted_attributes(layout, binarizer, out_activation, theta):
        """The attributes that make the estimator predict with `theta`."""
        return {
            "_theta": np.array(theta, dtype=np.float64),
            "_layer_sizes": layout.layer_sizes,
            "_label_binarizer": binarizer,
            "classes_": binarizer.classes_,
            "n_layers_": layout.n_layers,
            "n_outputs_": layout.layer_sizes[-1],
            "out_activation_": out_activation,
        }

    def _validation_scorer(self, problem):
        """``theta -> accuracy`` on the validation split, or None."""
        if problem.validation_score is not None:
            return problem.validation_score
        if problem.validation is None:
            return None
        X_val, y_val = problem.validation

        def score(theta):
            logits = forward_logits(problem.layout, theta, X_val, self.activation)
            y_pred = problem.binarizer.inverse_transform(logits, threshold=0.0)
            return float(np.mean(np.all(np.reshape(y_pred == y_val, (len(y_val), -1)), axis=1)))

        return score

    def _training_problem(self, X, y, sample_weight=None):
        """Validate the training data and build the objective a fit minimizes.

        Sets ``n_features_in_`` (and ``feature_names_in_``) as validation
        does, except on a warm start; nothing else on self.

        Returns
        -------
        problem : _TrainingProblem
            The :class:`Objective` (close it after use), the starting
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
        if len(binarizer.classes_) < 2:
            raise ValueError(
                "BackpropMLPClassifier needs samples of at least 2 classes in "
                f"the data, but the data contain only one class: "
                f"{binarizer.classes_[0]!r}."
            )
        multilabel = binarizer.y_type_ == "multilabel-indicator"
        if multilabel and self.out_activation == "softmax":
            raise ValueError(
                "Multilabel targets need out_activation='logistic' (one "
                "independent sigmoid per label); 'softmax' makes the labels "
                "mutually exclusive."
            )
        sample_weight = _check_weights(sample_weight, X)
        if self.class_weight is not None:
            class_weights = compute_sample_weight(self.class_weight, y)
            sample_weight = (
                class_weights if sample_weight is None else sample_weight * class_weights
            )
        rng = check_random_state(self.random_state)
        validation = None
        if self.early_stopping:
            X, y, sample_weight, validation = _validation_split(
                X, y, sample_weight, self.validation_fraction, multilabel, rng
            )
        Y = binarizer.transform(y)

        layout = Layout((X.shape[1], *hidden, Y.shape[1]))
        if fitted:
            if not np.array_equal(binarizer.classes_, self.classes_):
                raise ValueError(
                    "warm_start=True needs the same classes as the previous "
                    f"fit: got {binarizer.classes_}, previously {self.classes_}. "
                    "Set warm_start=False to fit from scratch."
                )
            if layout.layer_sizes != self._layer_sizes:
                raise ValueError(
                    "warm_start=True needs the same network shape as the "
                    f"previous fit: got layer sizes {layout.layer_sizes}, "
                    f"previously {self._layer_sizes}."
                )
            check_parameters(self)
            theta0 = self._theta.copy()
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
        objective = (CurvatureObjective if curvature else Objective)(
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
            objective, theta0, layout, binarizer, out_activation, X, y, sample_weight, validation
        )

    # ------------------------------------------------- data on a Dask cluster

    def _cluster_training_problem(self, X, y, sample_weight):
        """As `_training_problem`, with the data kept on a Dask cluster (skmlp._dask)."""
        from ._dask import cluster_training_problem  # dask is an optional dependency

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
            previous=(self._theta, self.classes_, self._layer_sizes) if fitted else None,
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
        fitted = cls._fitted_attributes(layout, binarizer, out_activation, theta)
        for name, value in fitted.items():
            setattr(estimator, name, value)
        estimator.n_features_in_ = layout.layer_sizes[0]
        return estimator

    # ---------------------------------------------------------- predict

    def _logits(self, X):
        check_is_fitted(self)
        layout = check_parameters(self)
        X = _validate_X(self, X)
        # Finite but huge inputs may overflow to infinite logits, which the
        # probabilities handle; numpy's overflow warning would only leak.
        with np.errstate(over="ignore", invalid="ignore"):
            return forward_logits(layout, self._theta, X, self.activation)

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
        if _is_dask_collection(X):
            return self._on_cluster("predict", X)
        logits = self._logits(X)
        return self._label_binarizer.inverse_transform(logits, threshold=0.0)

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
        logits = self._logits(X)
        multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        return get_loss(self.out_activation_, logits.shape[1]).log_proba(logits, multilabel)

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
        return np.exp(self.predict_log_proba(X))

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
            activation=self.activation,
            out_activation=self.out_activation_,
            alpha=self.alpha,
            batch_size=self.batch_size,
            n_threads=1,
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
    if not sample_weight.sum() > 0:
        raise ValueError("sample_weight must not be all zero: the weights sum to 0.")
    return sample_weight


def _validation_split(X, y, sample_weight, fraction, multilabel, rng):
    """Hold out `fraction` of the rows for early stopping.

    Stratified when every class has two samples or more; the validation part
    then has at least one sample per class. Returns the training part and
    ``(X_val, y_val)``.
    """
    n_samples = X.shape[0]
    if n_samples < 2:
        raise ValueError("early_stopping needs at least 2 samples to hold some out.")
    n_val = min(max(int(np.ceil(fraction * n_samples)), 1), n_samples - 1)
    stratify = None
    if not multilabel:
        _, counts = np.unique(y, return_counts=True)
        n_classes = len(counts)
        if counts.min() >= 2 and n_samples - max(n_val, n_classes) >= n_classes:
            stratify, n_val = y, max(n_val, n_classes)
    arrays = [X, y] + ([] if sample_weight is None else [sample_weight])
    split = train_test_split(*arrays, test_size=n_val, stratify=stratify, random_state=rng)
    X_train, X_val, y_train, y_val = split[:4]
    sample_weight = None if sample_weight is None else split[4]
    _check_weights(sample_weight, X_train)
    return X_train, y_train, sample_weight, (X_val, y_val)


def _validate_X(estimator, X):
    """X at predict time, validated against the fit (see _training_problem)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return validate_data(
            estimator, X, accept_sparse=_ACCEPT_SPARSE, dtype=_DTYPES, reset=False
        )
