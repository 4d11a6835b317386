"""The cluster's training data: validated, split and weighted where the rows are."""

import warnings
from dataclasses import replace

import dask
import numpy as np
import scipy.sparse as sp
from dask.distributed import futures_of, get_client
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_array, validate_data

from .._problem import TrainingData, initial_alpha
from .._validation import check_penalty_scale, check_weight_sum
from .executor import DaskExecutor
from .input import Source, aligned, as_row_chunked, feature_meta, summarize
from .split import held_out_plan, split_summary
from .worker import Spec

# Where the actors keep X: "auto", "memory" or "stream" (see skmlp._dask).
DATA_CONFIG = "skmlp.dask.data"
# In "auto", X is streamed when it is not persisted and exceeds this share of
# the workers' total memory limit.
STREAM_MEMORY_SHARE = 0.5


def _sparse(X):
    """Whether the dask array X has scipy sparse chunks."""
    return sp.issparse(getattr(X, "_meta", None))


def _client():
    """The dask.distributed client (a clear error without one)."""
    try:
        return get_client()
    except ValueError as error:
        raise ValueError(
            "Fitting on a dask collection needs a dask.distributed Client "
            "(e.g. `Client(LocalCluster())`); for data that fit in memory, "
            "pass X.compute() instead."
        ) from error


def _streams(client, X):
    mode = dask.config.get(DATA_CONFIG, "auto")
    if mode not in ("auto", "memory", "stream"):
        raise ValueError(f"{DATA_CONFIG} must be 'auto', 'memory' or 'stream', got {mode!r}.")
    persisted = bool(futures_of(X))
    if mode == "stream" and persisted:
        raise ValueError(
            f"{DATA_CONFIG}='stream' reads X from its source at each evaluation, "
            "but X is persisted: it is already in the workers' memory."
        )
    if mode != "auto":
        return mode == "stream"
    if persisted or _sparse(X):
        # (A sparse X's size is not known before its chunks are computed;
        # dask's nbytes is that of the dense array.)
        return False
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    memory = sum(w.get("memory_limit") or 0 for w in workers)
    return bool(memory) and X.nbytes > STREAM_MEMORY_SHARE * memory


def _total(summaries, key):
    """The chunks' `key` added in chunk order."""
    total = 0
    for summary in summaries:
        total = total + summary[key]
    return total


def _inputs(estimator, X, y, sample_weight, fitted):
    """X, y and sample_weight as dask arrays with X's row chunks, checked like arrays."""
    X = as_row_chunked(X) if not hasattr(X, "columns") else X
    validate_data(estimator, feature_meta(X), reset=not fitted, skip_check_array=True)
    X = as_row_chunked(X)
    row_chunks = X.chunks[0]
    n_samples = int(sum(row_chunks))
    if n_samples == 0:
        check_array(np.empty((0, X.shape[1])))  # scikit-learn's error for no samples
    y = aligned(y, row_chunks, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=5,
        )
    if sample_weight is not None and np.ndim(sample_weight) == 0:
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    w = aligned(sample_weight, row_chunks, "sample_weight")
    if w is not None and w.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {w.ndim}D array instead."
        )
    return X, y, w


def _executor(client, X, y, w, dtype, targets):
    """A :class:`DaskExecutor` for the chunks (validated on their workers as they load)."""
    row_chunks = X.chunks[0]
    streams = _streams(client, X)
    starts = np.concatenate([[0], np.cumsum(row_chunks)]).astype(int)
    X_blocks = X.to_delayed().ravel()
    y_blocks = y.to_delayed().ravel()
    w_blocks = [None] * len(row_chunks) if w is None else list(w.to_delayed().ravel())
    chunk_ids = [i for i, m in enumerate(row_chunks) if m > 0]
    loads, sources = {}, {}
    for i in chunk_ids:
        loads[i] = (
            X_blocks[i],
            y_blocks[i],
            w_blocks[i],
            i,
            int(starts[i]),
            dtype,
            not streams,
            targets,
        )
        if streams:
            sources[i] = Source(X.blocks[i])
    sizes = {i: int(row_chunks[i]) for i in chunk_ids}
    return DaskExecutor(client, loads, sources, sizes)


def cluster_data(estimator, targets, X, y, sample_weight, fitted, rng, float64):
    """The :class:`~skmlp._problem.TrainingData` of a fit whose rows stay on the cluster.

    The data are validated on the workers (:func:`~skmlp._dask.input.check_chunk`),
    the targets fitted on the chunks' summaries, the early-stopping split
    planned (:func:`~skmlp._dask.split.held_out_plan`), the class weights
    fitted on the training rows' class sums and ``S`` computed: every data
    error is raised here, before the fit starts its callbacks and before
    any actor exists. The actors are built when the problem is opened.
    """
    client = _client()
    X, y, w = _inputs(estimator, X, y, sample_weight, fitted)
    dtype = np.dtype(np.float32 if X.dtype == np.float32 and not float64 else np.float64)
    seed = int(rng.randint(np.iinfo(np.int32).max)) if estimator.early_stopping else 0
    executor = _executor(client, X, y, w, dtype, targets)
    executor.load_chunks(sorted(executor.sizes))
    summaries = executor.map_chunks(summarize, targets)
    targets.fit(summaries)
    if w is not None:
        check_weight_sum(_total(summaries, "weight"))
    plan = None
    if estimator.early_stopping:
        strata = targets.strata(summaries)
        counts = None if strata is None else dict(zip(sorted(executor.sizes), strata))
        plan = held_out_plan(estimator.validation_fraction, seed, executor.sizes, counts)
    spec = Spec(targets, dtype, _sparse(X), plan, seed)
    # The split's pass: the training rows' weights and class sums; the class
    # weights are fitted on them, then S. Without a split or class weights
    # the summaries' sums are the actors' already.
    if plan is None and targets.class_weight is None:
        splits = [{"terms": (s["weight"], s["n_rows"], 0)} for s in summaries]
    else:
        splits = executor.map_chunks(split_summary, spec)
    if plan is not None:
        check_weight_sum(_total(splits, "raw"))
        if w is not None:
            check_weight_sum(_total(splits, "raw_val"), "validation")
    if targets.class_weight is not None:
        targets.fit_class_weight(_total(splits, "counts"), _total(splits, "weights"))
        splits = executor.map_chunks(split_summary, spec)
    executor.set_terms(dict(zip(sorted(executor.sizes), (s["terms"] for s in splits))))
    weighted = "sample_weight" if targets.class_weight is None else "class_weight"
    check_weight_sum(executor.sum_weights, weighted)
    check_penalty_scale(initial_alpha(estimator), executor.sum_weights)

    def make_executor(layout, activation, curvature):
        # Called when the problem is opened, inside the `with` that closes
        # it: the actors exist only from here (build releases them if it
        # fails).
        executor.build(
            replace(
                spec, layer_sizes=layout.layer_sizes, activation=activation, curvature=curvature
            )
        )
        return executor

    return TrainingData(X, y, w, X.shape[1], make_executor, plan is not None)
