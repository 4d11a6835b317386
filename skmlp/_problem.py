"""What a fit minimizes: ``build_problem(estimator, X, y, sample_weight)``.

The one seam between an estimator and the engine (and the one tests use):

    problem = build_problem(estimator, X, y, sample_weight)
    with problem as objective:          # open(): threads or Dask actors
        objective.loss_and_grad(problem.theta0)
        problem.validation_score(theta) # with early stopping
    # close(): released

Building validates the data (scikit-learn's checks; every data error is
raised here, before any thread or actor exists), fits the target strategy
(:mod:`skmlp._targets`), holds out the early-stopping rows, puts the training
rows in canonical form (:mod:`skmlp._rows`), weights them and draws the
initial parameters. Opening builds the chunk set (:mod:`skmlp._chunks`) on an
executor: threads here, actors on a Dask cluster for dask input
(:mod:`skmlp._dask.problem`), and wraps it in the one
:class:`~skmlp._objective.Objective`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.validation import _check_sample_weight, validate_data

from ._blas import effective_n_threads
from ._chunks import ChunkSet, HeldOut
from ._executor import ThreadExecutor, chunk_bounds
from ._layout import Layout
from ._losses import get_loss
from ._network import Network
from ._objective import L2Penalty, Objective, auto_batch_size
from ._rows import canonical_rows
from ._solvers import SOLVERS
from ._validation import (
    check_penalty_scale,
    check_weight_sum,
    validation_size,
    warm_start_theta,
)

ACCEPT_SPARSE = ("csr", "csc")
DTYPES = (np.float64, np.float32)


def is_dask_collection(X):
    """A dask array, DataFrame or Series (without importing dask)."""
    return hasattr(X, "__dask_graph__") and callable(getattr(X, "__dask_graph__", None))


def working_dtype(X, float64=False):
    """float32 data are evaluated in float32 (unless `float64`), anything else in float64."""
    return np.dtype(np.float32 if X.dtype == np.float32 and not float64 else np.float64)


@dataclass
class TrainingData:
    """The validated training data, and how to build the executor over them.

    ``make_executor(layout, activation, curvature)`` builds the chunk set
    and its executor (threads or actors); X, y and sample_weight are what
    the fit's callbacks are shown.
    """

    X: object
    y: object
    sample_weight: object
    n_features: int
    make_executor: Callable
    has_validation: bool = False


@dataclass
class TrainingProblem:
    """What a fit minimizes, and the data around it.

    Use it as a context manager (or :meth:`open` / :meth:`close`): the
    objective, with its threads or actors, exists only in between.

    Attributes
    ----------
    layout : Layout
        The network's layer sizes and parameter positions.
    theta0 : ndarray
        The starting parameters.
    targets : target strategy
        Fitted on the training targets (:mod:`skmlp._targets`).
    activation, curvature : str
        Hidden activation; the Hessian-vector product (None without).
    alpha : float
        The L2 penalty (the initial one with ``evidence``).
    data : TrainingData
        The training rows.
    objective : Objective or None
        While open.
    """

    layout: Layout
    theta0: np.ndarray
    targets: object
    activation: str
    curvature: str | None
    alpha: float
    data: TrainingData
    evidence: bool = False  # alpha re-estimated from the evidence as the fit goes
    objective: Objective | None = field(default=None, repr=False)

    @property
    def X(self):
        return self.data.X

    @property
    def has_validation(self):
        return self.data.has_validation

    def open(self):
        """Build the executor and the objective; returns the objective."""
        if self.objective is not None:
            raise RuntimeError("This training problem is open already.")
        executor = self.data.make_executor(self.layout, self.activation, self.curvature)
        penalty = L2Penalty(self.layout, self.alpha, executor.sum_weights)
        objective = Objective(executor, penalty)
        try:
            objective.__enter__()
        except BaseException:
            objective.close()
            raise
        self.objective = objective
        return objective

    def close(self):
        """Release the executor's threads or actors."""
        objective, self.objective = self.objective, None
        if objective is not None:
            objective.close()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    def validation_score(self, theta):
        """The validation score of theta on the held-out rows (while open)."""
        if self.objective is None:
            raise RuntimeError("The validation score needs the open training problem.")
        return self.targets.validation_score(self.objective.validation_terms(theta))


def initial_alpha(estimator):
    """The penalty a fit starts from: alpha, or 0 for alpha='evidence'.

    (The evidence's first step is then unregularized; trainbr instead starts
    from gamma = all parameters at the initial weights: docs/user_guide/lm.rst.)
    """
    return 0.0 if estimator.alpha == "evidence" else float(estimator.alpha)


def check_hidden_layer_sizes(hidden_layer_sizes):
    sizes = np.atleast_1d(np.asarray(hidden_layer_sizes, dtype=object))
    if sizes.ndim != 1 or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(
            "hidden_layer_sizes must be a positive integer or a sequence of "
            f"positive integers, got {hidden_layer_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def check_weights(sample_weight, X):
    """Validated float64 sample weights (or None): non-negative, positive sum."""
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    check_weight_sum(weight_total(sample_weight))
    return sample_weight


def weight_total(sample_weight):
    """The weights' sum; inf (without numpy's warning) when it overflows."""
    with np.errstate(over="ignore"):
        return sample_weight.sum()


def class_weighted(targets, y, sample_weight):
    """The sample weights (None: ones) times the class weights fitted on these rows.

    As a fit weighs its rows ('balanced' counted on them); unchanged without
    class weights. Refuses weights that vanish or overflow.
    """
    if targets.class_weight is None:
        return sample_weight
    targets.fit_class_weight(*targets.class_sums(y, sample_weight))
    sample_weight = targets.row_weights(y, sample_weight)
    check_weight_sum(weight_total(sample_weight), "class_weight")
    return sample_weight


def n_threads(n_jobs):
    """The executor's threads for `n_jobs` (None: adaptive)."""
    return None if n_jobs is None else effective_n_threads(n_jobs)


def build_problem(estimator, X, y, sample_weight=None):
    """Validate the training data and build the problem a fit minimizes.

    Sets ``n_features_in_`` (and ``feature_names_in_``) as validation does,
    except on a warm start; nothing else on the estimator.

    Parameters
    ----------
    estimator : BaseBackpropMLP
        Its hyperparameters (and, on a warm start, its fitted parameters).
    X : {array-like, sparse matrix, dask collection} of shape (n_samples, n_features)
        Training data; dask input is fitted on its cluster.
    y : array-like or dask collection
        Targets.
    sample_weight : array-like or dask collection, default=None
        Sample weights.

    Returns
    -------
    problem : TrainingProblem
    """
    hidden = check_hidden_layer_sizes(estimator.hidden_layer_sizes)
    spec = SOLVERS[estimator.solver]
    if estimator.alpha == "evidence" and spec.driver is None:
        raise ValueError(
            "alpha='evidence' re-estimates alpha from the dense Gauss-Newton matrix "
            f"of solver='lm'; got solver={estimator.solver!r}."
        )
    fitted = estimator.warm_start and hasattr(estimator, "_theta")
    targets = estimator._targets_class.for_estimator(estimator)
    rng = check_random_state(estimator.random_state)
    if is_dask_collection(X):
        from ._dask.problem import cluster_data  # dask is an optional dependency

        data = cluster_data(estimator, targets, X, y, sample_weight, fitted, rng, spec.float64)
    else:
        data = memory_data(estimator, targets, X, y, sample_weight, fitted, rng, spec.float64)
    layout = Layout((data.n_features, *hidden, targets.n_outputs))
    spec.check_size(layout.n_params)
    if fitted:
        theta0 = warm_start_theta(estimator, targets, layout.layer_sizes)
    else:
        theta0 = layout.init(rng, estimator.init_epsilon)
    return TrainingProblem(
        layout,
        theta0,
        targets,
        estimator.activation,
        spec.resolve_curvature(estimator.curvature),
        initial_alpha(estimator),
        data,
        evidence=estimator.alpha == "evidence",
    )


def memory_data(estimator, targets, X, y, sample_weight, fitted, rng, float64):
    """The in-memory :class:`TrainingData` (see :func:`build_problem`)."""
    # scikit-learn's finiteness check sums X: values near the float
    # maximum overflow there (and are still checked element-wise).
    with np.errstate(over="ignore", invalid="ignore"):
        X, y = validate_data(
            estimator,
            X,
            y,
            accept_sparse=ACCEPT_SPARSE,
            dtype=DTYPES,
            multi_output=True,
            y_numeric=targets.y_numeric,
            reset=not fitted,
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    y = targets.check(y)
    targets.fit_y(y)
    sample_weight = check_weights(sample_weight, X)
    validation = None
    if estimator.early_stopping:
        X, y, sample_weight, validation = _validation_split(
            X, y, sample_weight, estimator.validation_fraction, targets, rng
        )
    # The fit sees only the multiset of weighted rows (see _rows.py). Class
    # weights are multiplied into the merged weights: k * c, not a sum of k
    # copies of c, which rounds differently.
    X, Y, sample_weight, rows = canonical_rows(X, targets.encode(y), sample_weight)
    y = y[rows]
    if targets.class_weight is not None:
        sample_weight = class_weighted(targets, y, sample_weight)
        if not np.all(sample_weight > 0):  # a class weighted zero
            keep = np.flatnonzero(sample_weight > 0)
            X, Y, y, sample_weight = X[keep], Y[keep], y[keep], sample_weight[keep]
    check_penalty_scale(initial_alpha(estimator), weight_total(sample_weight))
    held_out = ()
    if validation is not None:
        X_val, y_val, s_val = validation
        # The held-out rows are scored with the fit's class weights.
        held_out = [HeldOut(0, X_val, y_val, targets.row_weights(y_val, s_val))]
    if float64 and X.dtype == np.float32:
        X = X.astype(np.float64)

    def make_executor(layout, activation, curvature):
        network = Network(layout, activation, targets.loss(), working_dtype(X))
        return thread_executor(
            network,
            X,
            Y,
            sample_weight,
            batch_size=estimator.batch_size,
            n_jobs=estimator.n_jobs,
            held_out=held_out,
            targets=targets,
            curvature=curvature,
        )

    return TrainingData(X, y, sample_weight, X.shape[1], make_executor, validation is not None)


def thread_executor(
    network,
    X,
    Y,
    sample_weight,
    *,
    batch_size,
    n_jobs,
    held_out=(),
    targets=None,
    curvature=None,
    schedule=None,
):
    """A :class:`~skmlp._executor.ThreadExecutor` over the rows, chunked by `batch_size`."""
    n_samples = X.shape[0]
    if batch_size is None:
        batch_size = auto_batch_size(n_samples, network.layout.layer_sizes, network.dtype.itemsize)
    chunk_set = ChunkSet.from_rows(
        network,
        X,
        Y,
        sample_weight,
        chunk_bounds(n_samples, batch_size),
        held_out=held_out,
        targets=targets,
        curvature=curvature,
    )
    return ThreadExecutor(chunk_set, n_threads(n_jobs), schedule)


def make_objective(
    layout,
    X,
    Y,
    sample_weight=None,
    *,
    activation="logistic",
    out_activation="logistic",
    alpha=1.0,
    batch_size=None,
    n_threads=None,
    curvature=None,
    schedule=None,
):
    """An in-memory :class:`Objective` of given rows and encoded targets, as they are.

    No validation, no canonical rows, no split: ``estimator.objective``'s
    J, and the engine below the estimators for tests and benchmarks. `X`
    float32 is evaluated in float32; `n_threads` follows ``n_jobs``'s
    conventions (None: the adaptive schedule); `schedule`, an
    :class:`~skmlp._executor.AdaptiveSchedule` (with a fake clock in tests),
    schedules `n_threads` threads.
    """
    network = Network(layout, activation, get_loss(out_activation, Y.shape[1]), working_dtype(X))
    executor = thread_executor(
        network,
        X,
        Y,
        sample_weight,
        batch_size=batch_size,
        n_jobs=n_threads,
        curvature=curvature,
        schedule=schedule,
    )
    return Objective(executor, L2Penalty(layout, alpha, executor.sum_weights))


def _validation_split(X, y, sample_weight, fraction, targets, rng):
    """Hold out `fraction` of the rows for early stopping.

    As many rows as :func:`~skmlp._validation.validation_size` says,
    stratified (scikit-learn's per-class counts) under its condition: every
    class has two samples or more and both parts have room for every class.
    Returns the training part and ``(X_val, y_val, sample_weight_val)``.
    """
    strata = targets.strata([targets.summarize(y)])
    counts = None if strata is None else strata[0]
    n_val, stratified = validation_size(X.shape[0], fraction, counts)
    stratify = y if stratified else None
    arrays = [X, y] + ([] if sample_weight is None else [sample_weight])
    split = train_test_split(*arrays, test_size=n_val, stratify=stratify, random_state=rng)
    X_train, X_val, y_train, y_val = split[:4]
    sample_weight, sample_weight_val = (None, None) if sample_weight is None else split[4:]
    check_weights(sample_weight, X_train)
    if sample_weight_val is not None:
        check_weight_sum(sample_weight_val.sum(), "validation")
    return X_train, y_train, sample_weight, (X_val, y_val, sample_weight_val)
