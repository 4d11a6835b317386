"""Fitting one model on data spread over a Dask cluster.

A full-batch fit is data-parallel: every evaluation of J and its gradient is
one map-reduce over the rows. Here the rows stay on the workers of a
``dask.distributed`` cluster and only parameter-sized vectors travel:

* **Input.** X is a dask array (chunked by rows; its columns are rechunked
  into one block; its chunks numpy arrays or scipy CSR/CSC matrices, which
  are held as canonical CSR, as in memory) or a dask DataFrame; y and
  sample_weight (dask or numpy)
  are aligned to X's row chunks. One distributed pass validates every chunk
  on its worker with scikit-learn's own checks (finite numeric values,
  labels, weights; an error names the chunk) and returns the chunk's label
  counts, from which the client builds ``classes_``.
* **Split and weights, before any actor.** With early stopping the client
  plans how many rows each chunk holds out from the chunks' label counts
  (:func:`held_out_plan`: the in-memory split's size, stratified under the
  in-memory condition with scikit-learn's per-class counts, spread over the
  chunks in chunk order); each chunk draws its rows from a generator seeded
  by random_state and the chunk index (:func:`held_out`), so the split
  depends on the chunks only (not the rows ``train_test_split`` would pick:
  the labels never meet in one place). A second pass reports the training
  rows' class counts and weights: the class weights are fitted on them (per
  label for multilabel targets), as in memory, and ``S`` follows. Every data
  error (bad chunk, labels, zero weights, too few rows to hold out) is
  raised in these passes, before the fit starts its callbacks.
* **Worker state.** One :class:`ChunkWorker` actor per worker holds that
  worker's chunks across evaluations: the features in the working dtype, the
  targets, the weights and the evaluation buffers of the network kernel.
  The actors are built by the problem's ``build_objective``, right before
  the ``with`` that releases them; the held-out rows stay on them, and each
  early-stopping score is their weighted accuracy (sample times class
  weights, as in memory), summed per chunk in chunk order.
* **Evaluation.** :class:`DaskExecutor` implements the executor interface
  of :mod:`skmlp._executor` ("evaluate the kernel over all chunks, add the
  results in chunk order"): each evaluation sends theta once to every actor
  (one message per worker, not per chunk, and no scheduler round trip: a
  call on a Dask actor); each actor runs the network kernel on each of its
  chunks and returns their losses and gradients, and the client adds them
  strictly in chunk order, as the thread executor adds its chunks.
  :class:`ClusterObjective` adds the L2 penalty, as the in-memory objective.
  The model therefore does not depend on the number of workers or on which
  worker holds which chunk, and equals the in-memory fit with ``batch_size``
  equal to the chunk size (each chunk is prepared as the in-memory objective
  prepares its chunks, so the per-chunk terms are the same to the bit).
* **Data larger than memory.** When X is not persisted and is larger than
  half the cluster's memory (or with ``dask.config.set({"skmlp.dask.data":
  "stream"})``) the actors keep only the targets and weights and read each of
  their chunks from its source (e.g. .npy files opened as memmaps, a zarr
  store) at every evaluation, one chunk at a time: worker memory stays
  bounded by one chunk plus its buffers, at the cost of reading all of X per
  evaluation (and per Hessian-vector product). Persist X when it fits.
* **Faults.** An evaluation that loses a worker rebuilds that worker's chunks
  from their source on the remaining (or restarted) workers and repeats the
  evaluation: evaluations are pure functions of theta, so the fit ends with
  the same model as an undisturbed one. When the chunks cannot be recomputed
  (e.g. data scattered to the lost worker), the fit raises
  :class:`skmlp.WorkerLostError` naming the worker.
* **Predict.** predict, predict_proba, predict_log_proba and
  decision_function on dask input return lazy dask arrays with X's row
  chunks (``map_blocks`` over the in-memory methods); score is one
  distributed reduction.

This module imports dask and is imported only for dask input.
"""

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask.distributed import futures_of, get_client, wait
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.extmath import _approximate_mode
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    validate_data,
)

from ._blas import BlasHold, blas_limiter
from ._layout import Layout
from ._losses import get_loss
from ._network import Gradient, Network, forward_logits
from ._objective import L2Penalty
from ._rows import data_bytes
from ._validation import check_fit_targets, check_weight_sum, validation_size, warm_start_theta
from .exceptions import WorkerLostError

DTYPES = (np.float64, np.float32)
ACCEPT_SPARSE = ("csr", "csc")  # chunks of scipy sparse matrices, as in memory
# Where the actors keep X: "auto", "memory" or "stream" (see the module docstring).
DATA_CONFIG = "skmlp.dask.data"
# The workers to place the chunks on, in turn (default: where the scheduler
# puts them); the model does not depend on it.
WORKERS_CONFIG = "skmlp.dask.workers"
# In "auto", X is streamed when it is not persisted and exceeds this share of
# the workers' total memory limit.
STREAM_MEMORY_SHARE = 0.5
# How long a failed actor call may take to show up as a lost worker, and how
# many workers one evaluation may lose before the fit gives up.
LOST_WORKER_WAIT = 10.0
MAX_RECOVERIES = 4


# ----------------------------------------------------------------- input


def _feature_meta(X):
    """A zero-row stand-in for X with its columns: for scikit-learn's checks."""
    meta = getattr(X, "_meta", None)
    if meta is not None and hasattr(meta, "columns"):
        return meta
    return np.empty((0, X.shape[1]) if X.ndim == 2 else X.shape)


def _numpy_dtypes(frame):
    """A dask DataFrame or Series whose pandas extension dtypes became object.

    (dask converts them so anyway, with a warning; scikit-learn then checks
    the values as it does in memory.)
    """
    if frame.ndim == 2:
        extension = {c: object for c, t in frame.dtypes.items() if not isinstance(t, np.dtype)}
        return frame.astype(extension) if extension else frame
    return frame if isinstance(frame.dtype, np.dtype) else frame.astype(object)


def as_row_chunked(X):
    """X as a 2-D dask array with known row chunks and one column block."""
    if hasattr(X, "columns") and not isinstance(X, da.Array):
        X = _numpy_dtypes(X).to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"Expected a dask array or dask DataFrame, got {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data "
            "either using array.reshape(-1, 1) if your data has a single feature "
            "or array.reshape(1, -1) if it contains a single sample."
        )
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def aligned(v, row_chunks, name):
    """`v` (dask or numpy, 1-D or 2-D) as a dask array with these row chunks."""
    if v is None:
        return None
    if dask.is_dask_collection(v) and not isinstance(v, da.Array):
        v = _numpy_dtypes(v).to_dask_array(lengths=True)  # a dask Series or DataFrame
    if not isinstance(v, da.Array):
        v = np.asarray(v)
        if v.ndim == 0:
            raise ValueError(f"{name} must be 1-D or 2-D, got a scalar.")
        check_consistent_length(np.broadcast_to(0, (sum(row_chunks),)), v)
        return da.from_array(v, chunks=(row_chunks, *v.shape[1:]))
    if any(math.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    check_consistent_length(np.broadcast_to(0, (sum(row_chunks),)), np.broadcast_to(0, v.shape))
    if v.ndim > 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {v.shape}.")
    chunks = (row_chunks, *((-1,) * (v.ndim - 1)))
    return v.rechunk(chunks)


def _in_chunk(error, index, start, stop):
    """The same error type and message, naming the chunk it came from."""
    message = f"{error} (in chunk {index}, rows {start} to {stop - 1})"
    try:
        return type(error)(message)
    except Exception:  # an exception type with another signature
        return ValueError(message)


# BLAS and numpy's SIMD loops may round differently depending on where an
# array starts relative to a 64-byte boundary (measured: a chunk deserialized
# at an address 10 bytes off one gave another Hessian-vector product in the
# 17th digit), so every block the kernel reads starts BLOCK_OFFSET bytes past
# a 64-byte boundary: the result then does not depend on whether the chunk
# was computed on its worker or arrived over the network. The offset is
# where numpy's large allocations start with glibc's malloc (16 bytes of
# header past a page), so a chunk computed on its worker is used in place
# and a persisted X is not held twice; a chunk that arrived deserialized, or
# was allocated elsewhere, is copied.
ALIGNMENT = 64
BLOCK_OFFSET = 16


def aligned_copy(X):
    """X itself if C-contiguous at BLOCK_OFFSET past a 64-byte boundary, else such a copy.

    Sparse X is returned as it is: scipy's products with it are plain loops
    over the stored entries, whose rounding does not depend on addresses.
    """
    if sp.issparse(X):
        return X
    if X.flags.c_contiguous and X.ctypes.data % ALIGNMENT == BLOCK_OFFSET:
        return X
    buffer = np.empty(X.nbytes + ALIGNMENT, np.uint8)
    offset = (BLOCK_OFFSET - buffer.ctypes.data) % ALIGNMENT
    out = buffer[offset : offset + X.nbytes].view(X.dtype).reshape(X.shape)
    out[...] = X
    return out


@dataclass
class Chunk:
    """One validated chunk on a worker (``X`` None when it is streamed)."""

    index: int
    start: int
    n_rows: int
    X: np.ndarray | None
    y: np.ndarray
    sample_weight: np.ndarray | None


def canonical_csr(X):
    """A sparse chunk as the in-memory fit holds its rows (see :mod:`skmlp._rows`).

    CSR with sorted indices, duplicates summed and no stored zeros: the
    products then add the same entries in the same order as in memory. X
    itself when it is such a CSR matrix already (a persisted chunk is not
    copied), else a canonical copy; X is never modified.
    """
    if not (X.format == "csr" and X.has_canonical_format and np.all(X.data)):
        X = sp.csr_matrix(X, copy=True)
        X.sum_duplicates()
        X.eliminate_zeros()  # also the -0.0 entries
    return sp.csr_matrix(X, copy=False)  # a csr_array's data, as a csr_matrix


def working_block(X, dtype):
    """A validated chunk of X as the actors keep it: working dtype, canonical CSR or aligned."""
    X = X.astype(dtype, copy=False)
    return canonical_csr(X) if sp.issparse(X) else aligned_copy(X)


def check_chunk(X, y, sample_weight, index, start, dtype, keep_X):
    """Validate one chunk as the in-memory fit validates the whole data."""
    stop = start + X.shape[0]
    try:
        # As in memory: the finiteness check's sum may overflow near the
        # float maximum (the values are still checked element-wise).
        with np.errstate(over="ignore", invalid="ignore"):
            X = check_array(
                X, accept_sparse=ACCEPT_SPARSE, dtype=DTYPES, ensure_min_samples=0, input_name="X"
            )
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
    except (ValueError, TypeError) as error:
        raise _in_chunk(error, index, start, stop) from error
    X = working_block(X, dtype) if keep_X else None
    return Chunk(index, start, len(y), X, y, sample_weight)


def summarize(chunk):
    """What the client needs from a chunk: its rows, labels and label counts.

    ``{"n_rows", "kind", "weight"}`` (the chunk's sample weight sum), and for
    1-D labels ``"labels"`` with their row ``"counts"``; for an indicator
    matrix its ``"width"``.
    """
    summary = {"n_rows": chunk.n_rows, "weight": _weight_sum(chunk.sample_weight, chunk.n_rows)}
    if chunk.y.ndim == 2:
        return {**summary, "kind": type_of_target(chunk.y), "width": chunk.y.shape[1]}
    labels, counts = np.unique(chunk.y, return_counts=True)
    return {**summary, "kind": "labels", "labels": labels, "counts": counts}


class Source:
    """A chunk of X read from its source (files, zarr) at each evaluation."""

    def __init__(self, block):
        self.block = block

    def read(self, dtype):
        with np.errstate(over="ignore", invalid="ignore"):
            X = check_array(
                self.block.compute(scheduler="sync"), accept_sparse=ACCEPT_SPARSE, dtype=DTYPES
            )
        return working_block(X, dtype)


# ---------------------------------------------------------- worker side


@dataclass
class Spec:
    """Everything a worker needs to turn its chunks into objective terms."""

    layer_sizes: tuple
    activation: str
    out_activation: str
    dtype: np.dtype
    binarizer: LabelBinarizer
    # One weight per class of the binarizer, or for multilabel targets one
    # per label and value (n_labels, 2); None without class weights.
    class_weight: np.ndarray | None
    curvature: str | None
    sparse: bool  # whether X's chunks are scipy sparse matrices
    # Chunk index -> the rows it holds out for early stopping: a count, or
    # one count per class (a stratified split); None without early stopping.
    held_out: dict | None
    validation_seed: int


def _spread(total, sizes):
    """`total` spread over parts of these `sizes` in proportion, in order.

    Part k gets ``floor(total * c_k / n) - floor(total * c_(k-1) / n)``
    (``c_k`` the cumulative size, ``n`` the sum; exact integers): never more
    than its size when ``total <= n``, and exactly `total` in all.
    """
    n, cumulative, before, out = sum(int(m) for m in sizes), 0, 0, []
    for m in sizes:
        cumulative += int(m)
        upto = int(total) * cumulative // n
        out.append(upto - before)
        before = upto
    return out


def held_out_plan(fraction, seed, sizes, class_counts=None):
    """Chunk index -> how many of its rows early stopping holds out.

    The total and whether the split is stratified are the in-memory split's
    (:func:`~skmlp._validation.validation_size`: stratified unless the
    targets are multilabel, `class_counts` None, or a class has fewer than 2
    rows). Stratified, each class holds out the count scikit-learn's
    stratified ``train_test_split`` would (its ``_approximate_mode`` of the
    class counts, training part first, ties broken by
    ``RandomState(seed)``: the counts ``train_test_split(...,
    stratify=y, random_state=RandomState(seed))`` holds out), spread over
    the chunks in chunk order in proportion to the class's rows in each
    (:func:`_spread`); the plan gives one count per class. Unstratified, the
    total is spread over the chunks in proportion to their sizes. Only
    counts travel: the plan depends on the chunks, never on the workers.

    Parameters
    ----------
    fraction : float
        validation_fraction.
    seed : int
        The fit's validation seed (from its random_state).
    sizes : dict
        Chunk index -> rows.
    class_counts : dict or None
        Chunk index -> rows of each class (classes in sorted order).

    Returns
    -------
    plan : dict
        Chunk index -> a count, or an array of one count per class.
    """
    order = sorted(sizes)
    n_samples = sum(sizes[i] for i in order)
    totals = None if class_counts is None else sum(class_counts[i] for i in order)
    n_val, stratified = validation_size(n_samples, fraction, totals)
    if not stratified:
        return dict(zip(order, _spread(n_val, [sizes[i] for i in order])))
    rng = np.random.RandomState(seed)
    # As StratifiedShuffleSplit: the training counts first, then the held-out
    # ones, with scikit-learn's own (private) allocation, which it has no
    # public form of: the counts then are train_test_split's.
    n_train = _approximate_mode(totals, n_samples - n_val, rng)
    n_test = _approximate_mode(totals - n_train, n_val, rng)
    per_class = [
        _spread(n_test[c], [class_counts[i][c] for i in order]) for c in range(len(totals))
    ]
    return {i: np.array([counts[k] for counts in per_class]) for k, i in enumerate(order)}


def held_out(spec, chunk):
    """Sorted chunk-local positions of the chunk's rows held out, or None.

    Drawn from ``default_rng([validation seed, chunk index])``: the first
    rows of its permutation of the chunk (of each class, when the plan is
    per class). The rows depend on the seed, the chunk and the plan only,
    not on the workers or the placement. They are not the rows the
    in-memory ``train_test_split`` would pick on the same data (that would
    need all the labels in one place), only as many of each class.
    """
    if spec.held_out is None:
        return None
    plan = spec.held_out[chunk.index]
    order = np.random.default_rng([spec.validation_seed, chunk.index]).permutation(chunk.n_rows)
    if np.ndim(plan) == 0:
        return np.sort(order[:plan])
    codes = np.searchsorted(spec.binarizer.classes_, chunk.y[order])
    grouped = np.argsort(codes, kind="stable")  # by class, in the permutation's order
    codes = codes[grouped]
    rank = np.arange(len(codes)) - np.searchsorted(codes, codes)  # position within its class
    return np.sort(order[grouped[rank < plan[codes]]])


def row_class_weights(spec, y):
    """Each row's class weight, as ``_class_sample_weight`` in memory (None without).

    Multilabel: the product over the labels, in label order, of each label's
    weight for the row's value.
    """
    weights = spec.class_weight
    if weights is None:
        return None
    if y.ndim == 1:
        return weights[np.searchsorted(spec.binarizer.classes_, y)]
    out = np.ones(len(y))
    for label in range(y.shape[1]):
        out *= weights[label][(y[:, label] != 0).astype(np.intp)]
    return out


def with_class_weights(spec, y, s):
    """The sample weights ``s`` (None: ones) times the rows' class weights; None without either."""
    weights = row_class_weights(spec, y)
    if weights is None:
        return s
    return weights if s is None else s * weights


def split_rows(spec, chunk):
    """The chunk's training and held-out rows with their weights.

    Returns ``(train, val, y, s, y_val, s_val)``: positions (None: all rows,
    none held out), targets, and the sample weights times the class weights
    (None when both are absent).
    """
    y, s = chunk.y, with_class_weights(spec, chunk.y, chunk.sample_weight)
    val = held_out(spec, chunk)
    if val is None:
        return None, None, y, s, None, None
    train = np.setdiff1d(np.arange(chunk.n_rows), val)
    s_val = None if s is None else s[val]
    return train, val, y[train], None if s is None else s[train], y[val], s_val


def class_sums(spec, y, s):
    """Rows and weight sums of each class (each label's 0 and 1 for multilabel)."""
    if y.ndim == 1:
        codes, width = np.searchsorted(spec.binarizer.classes_, y), len(spec.binarizer.classes_)
        weights = np.bincount(codes, s, minlength=width).astype(np.float64)
        return np.bincount(codes, minlength=width), weights
    columns = (y != 0).astype(np.intp).T
    counts = np.array([np.bincount(c, minlength=2) for c in columns])
    weights = [np.bincount(c, s, minlength=2).astype(np.float64) for c in columns]
    return counts, np.array(weights)


def split_summary(chunk, spec):
    """What the client needs from a chunk's split (before any actor exists).

    ``"terms"``: ``(training weight sum, training rows, held-out rows)``, the
    training weights with the spec's class weights, as the actor's
    ``weight_sums`` will give them; ``"raw"`` and ``"raw_val"``: the sample
    weight sums of the training and the held-out rows; ``"counts"`` and
    ``"weights"``: per class (per label and value) the training rows and
    their sample weight sums, for 'balanced' class weights.
    """
    _, val, y, s, _, s_val = split_rows(dataclasses.replace(spec, class_weight=None), chunk)
    counts, weights = class_sums(spec, y, s)
    n_val = 0 if val is None else len(val)
    weighted = with_class_weights(spec, y, s)  # the split's rows, drawn once
    return {
        "terms": (_weight_sum(weighted, len(y)), len(y), n_val),
        "raw": _weight_sum(s, len(y)),
        "raw_val": _weight_sum(s_val, n_val),
        "counts": counts,
        "weights": weights,
    }


def _weight_sum(s, n_rows):
    """The sum of the weights ``s`` (None: ``n_rows`` ones), as the actors add them."""
    return float((np.ones(n_rows) if s is None else s).sum())


class _Part:
    """A chunk's training rows (and held-out rows) on its worker."""

    def __init__(self, spec, chunk, source):
        self.index = chunk.index
        self.source = source
        self.train, self.val, y, s, self.y_val, self.w_val = split_rows(spec, chunk)
        self.X, self.X_val = (None, None) if chunk.X is None else self._split(chunk.X)
        self.n_rows = len(y)
        self.n_val = 0 if self.val is None else len(self.val)
        self.sample_weight = np.ones(self.n_rows) if s is None else s
        self.weight_sum = _weight_sum(s, self.n_rows)
        self.Y = spec.binarizer.transform(y) if self.n_rows else None
        self.block = self.store = self.target = self.w = None

    def _split(self, X):
        # Aligned again: a chunk moved to this worker arrives deserialized.
        if self.val is None:
            return aligned_copy(X), None
        return aligned_copy(X[self.train]), aligned_copy(X[self.val])

    def features(self, dtype):
        """The training rows' X and the validation rows' X (read if streamed)."""
        if self.source is None:
            return self.X, self.X_val
        return self._split(self.source.read(dtype))


class ChunkWorker:
    """A Dask actor holding one worker's chunks across evaluations.

    Each chunk's training rows (:func:`split_rows`) are a block of the
    network kernel (:mod:`skmlp._network`) with their encoded targets and
    normalized weights ``w = s / S`` (``s`` the sample weights times the
    class weights), prepared exactly as the in-memory objective prepares
    its chunks; its held-out rows and their weights are kept for
    :meth:`validation_terms`; the kernel's
    buffers (one workspace for the worker, and the activations of every
    chunk for the curvature products) live as long as the actor. Each method
    returns one term per chunk, which the client adds in chunk order.
    """

    def __init__(self, spec, chunks, sources=None, sum_weights=None):
        sources = sources or {}
        self.spec = spec
        self.layout = Layout(spec.layer_sizes)
        loss = get_loss(spec.out_activation, spec.layer_sizes[-1])
        self.network = Network(self.layout, spec.activation, loss, spec.dtype)
        self.parts = [
            _Part(spec, chunk, sources.get(chunk.index))
            for chunk in sorted(chunks, key=lambda chunk: chunk.index)
        ]
        max_rows = max([p.n_rows for p in self.parts] + [1])
        self.workspace = self.network.workspace(max_rows, dense=not spec.sparse)
        self.out = self.network.gradient()
        self.streamed = any(p.source is not None for p in self.parts)
        self._stored = False  # whether the stores hold the pass at network.theta
        self.n_reads = 0
        self.sum_weights = None
        if sum_weights is not None:
            self.set_sum_weights(sum_weights)

    def weight_sums(self):
        """``[(chunk index, training weight sum, training rows, validation rows)]``."""
        return [(p.index, p.weight_sum, p.n_rows, p.n_val) for p in self.parts]

    def set_sum_weights(self, sum_weights):
        """Normalize by the whole data's weight sum ``S``: targets and weights."""
        self.sum_weights = float(sum_weights)
        dtype = self.spec.dtype
        for part in self.training_parts():
            # As the in-memory Objective: w = s / S in float64, the targets
            # encoded from it, then w in the working dtype.
            w = part.sample_weight / self.sum_weights
            part.target = np.empty((part.Y.shape[1], part.n_rows), dtype)
            self.network.loss.encode(part.Y, w, part.target)
            part.w = w.astype(dtype)
            if part.source is None:
                part.block = self.network.block(part.X)
                if self.spec.curvature is not None:
                    part.store = self.network.activations(part.n_rows)
        return True

    def training_parts(self):
        return [p for p in self.parts if p.n_rows > 0]

    def _block(self, part):
        if part.block is not None:
            return part.block
        self.n_reads += 1
        return self.network.block(part.features(self.spec.dtype)[0])

    def _pass(self, part, block):
        """The chunk's loss; its gradient into ``self.out`` (and its store kept)."""
        ws = self.workspace
        acts, loss_logits = ws.acts, None
        if self.spec.curvature is not None:
            store = part.store if part.store is not None else self.network.activations(part.n_rows)
            acts, loss_logits = store, ws.acts.logits_t(part.n_rows)
        loss = self.network.loss_and_grad(
            block, part.target, part.w, acts, ws.work, self.out, loss_logits
        )
        return loss, acts

    def evaluate(self, theta):
        """``[(chunk index, loss term, gradient term)]`` at theta."""
        out = []
        with blas_limiter.limited(), np.errstate(all="ignore"):
            self.network.set_params(theta)
            self._stored = False
            for part in self.training_parts():
                loss, _ = self._pass(part, self._block(part))
                out.append((part.index, loss, self.out.vector.copy()))
            self._stored = True
        return out

    def hessp(self, theta, v):
        """``[(chunk index, 0.0, H v term)]`` at theta (the pass redone if not stored)."""
        network, dtype = self.network, self.spec.dtype
        out = []
        with blas_limiter.limited(), np.errstate(all="ignore"):
            at = np.asarray(theta, dtype=np.float64).astype(dtype, copy=False)
            if not (self._stored and np.array_equal(at, network.theta)):
                network.set_params(theta)
                self._stored = False
            direction = Gradient(self.layout, vector=np.asarray(v).astype(dtype, copy=False))
            exact = self.spec.curvature == "exact"
            for part in self.training_parts():
                block, store = self._block(part), part.store
                if store is None or not self._stored:
                    _, store = self._pass(part, block)
                network.hessian_product(
                    block, store, part.w, direction, self.workspace.acts,
                    self.workspace.work, self.out, exact,
                )  # fmt: skip
                out.append((part.index, 0.0, self.out.vector.copy()))
            self._stored = not self.streamed
        return out

    def validation_terms(self, theta):
        """``[(chunk index, weight of the correctly predicted held-out rows, their weight)]``.

        The weights are the held-out rows' sample weights times the class
        weights fitted on the training rows (ones without either), as the
        in-memory fit weights its validation accuracy.
        """
        out = []
        spec = self.spec
        with blas_limiter.limited(), np.errstate(all="ignore"):
            for part in self.parts:
                if part.n_val == 0:
                    continue
                _, X_val = part.features(spec.dtype)
                logits = forward_logits(self.layout, theta, X_val, spec.activation)
                y_pred = spec.binarizer.inverse_transform(logits, threshold=0.0)
                right = np.reshape(y_pred == part.y_val, (len(part.y_val), -1)).all(axis=1)
                if part.w_val is None:
                    out.append((part.index, float(right.sum()), float(part.n_val)))
                else:
                    out.append(
                        (part.index, float(part.w_val[right].sum()), float(part.w_val.sum()))
                    )
        return out

    def held_out_rows(self):
        """``[(chunk index, chunk-local positions of its held-out rows)]`` (for tests)."""
        return [(p.index, p.val) for p in self.parts]

    def stats(self):
        """Resident bytes of X on this worker and chunks read from source."""
        resident = sum(data_bytes(X) for p in self.parts for X in (p.X, p.X_val) if X is not None)
        return {"resident_X_bytes": resident, "n_reads": self.n_reads, "chunks": len(self.parts)}


# ---------------------------------------------------------- client side


@dataclass
class _Holder:
    """An actor, the future that created it, its worker and its chunks."""

    future: object
    actor: object
    address: str
    chunks: list


class DaskExecutor:
    """The executor interface of :mod:`skmlp._executor`, with chunks on workers.

    ``reduce(method, *args) -> (total, vector)`` calls `method` of every
    :class:`ChunkWorker` actor (the arguments sent once per worker), which
    returns ``(chunk index, scalar, vector)`` per chunk it holds, and adds the
    scalars and vectors in float64 strictly in chunk order, as
    :class:`~skmlp._executor.ThreadExecutor` adds its chunks: the result
    depends on the chunks, never on the workers or the placement.
    ``n_chunks`` and ``close()`` as there. A call that finds a worker gone
    rebuilds its chunks from their source and is repeated (see `_recover`).
    :meth:`validation_score` scores theta on the held-out rows while the
    actors exist (from :meth:`build` to :meth:`close`).
    """

    def __init__(self, client, loads, sources, sizes):
        self.client = client
        self._loads = loads  # chunk index -> check_chunk's arguments (its source)
        self._sources = sources  # chunk index -> Source, when streamed
        self._sizes = sizes  # chunk index -> rows
        self._balance = not dask.config.get(WORKERS_CONFIG, None)
        self.n_chunks = len(loads)
        self.spec = self.layout = None
        self.holders = []
        self.n_recoveries = 0
        self.lost_workers = []
        self.sum_weights = None
        self._terms = {}
        self._chunks = None  # [(chunk index, future of its Chunk)] until build
        self._blas = BlasHold()

    # ---------------------------------------------------------- building
    #
    # load_chunks -> map_chunks (the validation passes, before any actor
    # exists: data errors are raised there) -> configure -> build (the
    # actors, inside the `with` that closes them).

    def load_chunks(self, indices):
        """Compute and validate the chunks on the cluster, kept for :meth:`build`."""
        self._chunks = self.load(indices)

    def map_chunks(self, function, *args):
        """``function(chunk, *args)`` for each loaded chunk, on its worker, in chunk order.

        A failure raises the error of the first failing chunk in chunk
        order, whichever worker failed first.
        """
        futures = [
            self.client.submit(function, future, *args, pure=False) for _, future in self._chunks
        ]
        wait(futures)
        for future in futures:
            if future.status == "error":
                future.result()
        return self.client.gather(futures)

    def configure(self, spec, layout, terms):
        """What the actors will be built with.

        `terms` are ``{chunk index: (training weight sum, training rows,
        held-out rows)}`` from the validation pass (:func:`split_summary`);
        ``S``, the total training weight, is their sum in chunk order.
        """
        self.spec, self.layout, self._terms = spec, layout, dict(terms)
        order = sorted(terms)
        total = 0.0
        for index in order:
            total += terms[index][0]
        self.sum_weights = total
        self.n_train = sum(terms[i][1] for i in order)
        self.n_val = sum(terms[i][2] for i in order)

    def build(self):
        """One actor per worker for the loaded chunks that worker holds.

        The actors normalize by ``S`` as they are built; the loaded chunks
        are released (the actors hold what they need), so an executor is
        built once. On any failure the actors built so far are released.
        """
        chunks, self._chunks = self._chunks, None
        if chunks is None:
            raise RuntimeError(
                "This DaskExecutor was built already; its chunks are in its actors."
            )
        try:
            self.holders = self._actors(chunks, self.sum_weights)
        except BaseException:
            self.close()
            raise

    def validation_score(self, theta):
        """Accuracy of theta on the held-out rows (they stay on the workers).

        Weighted by the held-out rows' sample weights times the class
        weights, as in memory: the chunks' weighted correct sums and weight
        sums, each added in chunk order.
        """
        if not self.holders:
            raise RuntimeError("The validation score needs the built (open) cluster objective.")
        terms = self.terms("validation_terms", np.asarray(theta, dtype=np.float64))
        right = total = 0.0
        for index in sorted(terms):
            right += terms[index][0]
            total += terms[index][1]
        if not total > 0:  # what accuracy_score raises in memory
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return right / total

    def _placement(self, chunks):
        """``{worker: [(index, future)]}``: where each chunk's actor will be.

        A chunk stays where it was loaded while that worker holds less than
        its share of the rows (counting the actors it already has); the rest
        go, in chunk order, to the worker with the fewest rows: evaluations
        wait for the slowest worker, so the rows are balanced once, here
        (moving those chunks once), rather than paid for at every evaluation.
        With ``skmlp.dask.workers`` set, chunks stay where they were placed.
        """
        futures = [future for _, future in chunks]
        wait(futures)
        who_has = self.client.who_has(futures)
        home = {index: sorted(who_has[future.key])[0] for index, future in chunks}
        if dask.config.get(WORKERS_CONFIG, None):
            workers = sorted(set(home.values()))
        else:
            workers = sorted(self.client.nthreads())
        rows = dict.fromkeys(workers, 0)
        for holder in self.holders:
            if holder.address in rows:
                rows[holder.address] += sum(self._sizes[i] for i in holder.chunks)
        share = (sum(rows.values()) + sum(self._sizes[i] for i, _ in chunks)) / len(workers)
        placed = {worker: [] for worker in workers}
        moved = []
        for index, future in chunks:
            worker = home[index]
            if worker in rows and (rows[worker] < share or not self._balance):
                placed[worker].append((index, future))
                rows[worker] += self._sizes[index]
            else:
                moved.append((index, future))
        for index, future in moved:
            worker = min(workers, key=lambda w: (rows[w], w))
            placed[worker].append((index, future))
            rows[worker] += self._sizes[index]
        return {worker: items for worker, items in placed.items() if items}

    def _actors(self, chunks, sum_weights=None):
        by_worker = self._placement(chunks)
        holders = []
        for address, items in sorted(by_worker.items()):
            indices = [i for i, _ in items]
            sources = {i: self._sources[i] for i in indices if i in self._sources}
            future = self.client.submit(
                ChunkWorker,
                self.spec,
                [f for _, f in items],
                sources,
                sum_weights,
                workers=[address],
                allow_other_workers=False,
                actor=True,
                pure=False,
            )
            holders.append(_Holder(future, None, address, indices))
        for holder in holders:
            holder.actor = holder.future.result()
        return holders

    def load(self, indices, pinned=True):
        """Compute the given chunks on the cluster: ``[(index, future)]``.

        With ``skmlp.dask.workers`` set to a list of worker addresses, chunk
        i is placed on the ``i % len``-th of them (unless `pinned` is False,
        as after a lost worker); otherwise the scheduler places them.
        """
        # New keys on every call, and a placement that binds the load task
        # alone (an annotation, not a restriction of the whole graph): a
        # rebuilt chunk must not inherit a lost task's binding to a worker
        # that has died.
        workers = dask.config.get(WORKERS_CONFIG, None) if pinned else None
        loads = []
        for i in indices:
            place = {"workers": [workers[i % len(workers)]]} if workers else {}
            with dask.annotate(**place):
                loads.append(dask.delayed(check_chunk, pure=False)(*self._loads[i]))
        return list(zip(indices, self.client.compute(loads)))

    # ---------------------------------------------------------- calling

    def _lost(self, holder):
        """Whether the holder's worker has gone (waiting a little to be sure)."""
        deadline = time.monotonic() + LOST_WORKER_WAIT
        while True:
            if holder.future.status != "finished":
                return True
            if holder.address not in self.client.nthreads():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def reduce(self, method, *args):
        """``(sum of the chunks' scalars, sum of their vectors)``, in chunk order."""
        terms = self.terms(method, *args)
        total, vector = 0.0, np.zeros(self.layout.n_params)
        for index in sorted(terms):
            scalar, term = terms[index]
            total += scalar
            vector += term
        return total, vector

    def terms(self, method, *args):
        """Call `method` on every actor: ``{chunk index: [its results]}``."""
        for _ in range(MAX_RECOVERIES + 1):
            calls = [(h, getattr(h.actor, method)(*args)) for h in self.holders]
            results, lost = {}, []
            for holder, call in calls:
                try:
                    for index, *value in call.result():
                        results[index] = value
                except Exception as error:
                    # An error of the method itself arrives as its own type;
                    # a lost worker shows as a comm (OSError) or runtime error.
                    if not isinstance(error, (OSError, RuntimeError)) or not self._lost(holder):
                        raise
                    lost.append(holder)
            if not lost:
                return results
            self._recover(lost)
        raise WorkerLostError(
            f"The fit lost workers {self.lost_workers} and gave up after "
            f"{MAX_RECOVERIES} recoveries within one evaluation."
        )

    def _recover(self, lost):
        """Rebuild the lost workers' chunks and actors from the chunks' sources."""
        for holder in lost:
            self.lost_workers.append(holder.address)
            self.holders.remove(holder)
        indices = sorted(i for holder in lost for i in holder.chunks)
        names = ", ".join(h.address for h in lost)
        try:
            chunks = self.load(indices, pinned=False)
            wait([future for _, future in chunks])
            for _, future in chunks:
                if future.status != "finished":
                    future.result()  # raises the reason
            holders = self._actors(chunks, self.sum_weights)
            rebuilt = {}
            for holder in holders:
                for index, total, n_train, n_val in holder.actor.weight_sums().result():
                    rebuilt[index] = (total, n_train, n_val)
        except Exception as error:
            raise WorkerLostError(
                f"Worker {names} died during the fit, holding chunks {indices}, "
                f"and they could not be rebuilt from their source: {error!r}"
            ) from error
        for index in indices:
            if rebuilt[index] != self._terms[index]:
                raise WorkerLostError(
                    f"Worker {names} died during the fit; chunk {index} rebuilt "
                    f"from its source differs from the lost one ({rebuilt[index]} "
                    f"!= {self._terms[index]}): its source is not deterministic."
                )
        self.holders.extend(holders)
        self.n_recoveries += 1

    def stats(self):
        """Per worker: resident bytes of X, chunks read from source."""
        return {h.address: h.actor.stats().result() for h in self.holders}

    def close(self):
        """Release the actors (and with them the chunks on the workers), and BLAS."""
        self._blas.release()
        futures = [h.future for h in self.holders]
        self.holders = []
        if futures:
            self.client.cancel(futures)

    def __enter__(self):
        # BLAS single-threaded on the client from here to close(), as the
        # thread executor does: the solver's vector products (L-BFGS-B's
        # two-loop recursion) otherwise wake OpenBLAS's threads, which spin
        # on the cores the workers compute on. Measured (2 cores, 2 workers,
        # 200,000 x 400 float32, 400-25-10): 146 ms per evaluation and 6.5 s
        # per 30-iteration fit without the limit, 97 ms and 3.6 s with it.
        self._blas.hold()
        return self

    def __exit__(self, *exc_info):
        self.close()


class ClusterObjective:
    """J = the chunks' terms (a :class:`DaskExecutor`) + the L2 penalty.

    The interface of :class:`~skmlp._objective.Objective` (``loss_and_grad``,
    ``loss``, ``penalty``, ``n_evaluations``; ``hessp`` and ``n_hessp`` as
    :class:`~skmlp._curvature.CurvatureObjective`'s), a pure function of theta;
    a context manager that releases the actors.
    """

    def __init__(self, executor, alpha):
        self.executor = executor
        self.layout = executor.layout
        self.alpha = float(alpha)
        self.sum_weights = executor.sum_weights
        self.penalty = L2Penalty(self.layout, self.alpha, self.sum_weights)
        self.n_val = executor.n_val
        self.n_evaluations = 0
        self.n_hessp = 0

    def loss_and_grad(self, theta):
        """J(theta) and dJ/dtheta (a new float64 vector)."""
        theta = np.asarray(theta, dtype=np.float64)
        data_loss, grad = self.executor.reduce("evaluate", theta)
        loss = data_loss + self.penalty(theta)
        self.penalty.add_gradient(grad, theta)
        self.n_evaluations += 1
        return loss, grad

    def loss(self, theta):
        """J(theta) only."""
        return self.loss_and_grad(theta)[0]

    def hessp(self, theta, v):
        """H v (or G v) at theta, a new float64 vector."""
        v = np.asarray(v, dtype=np.float64)
        _, product = self.executor.reduce("hessp", np.asarray(theta, dtype=np.float64), v)
        self.penalty.add_gradient(product, v)
        self.n_hessp += 1
        return product

    def stats(self):
        """Per worker: resident bytes of X, chunks read from source."""
        return self.executor.stats()

    def close(self):
        """Release the actors (and with them the chunks on the workers)."""
        self.executor.close()

    def __enter__(self):
        self.executor.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.close()


# ------------------------------------------------------------- fitting


def _sparse(X):
    """Whether the dask array X has scipy sparse chunks."""
    return sp.issparse(getattr(X, "_meta", None))


def _client():
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


def _balanced(classes, counts, weights):
    """'balanced' weights ``S / (n_present * S_c)`` of the classes present; 1 for the absent."""
    out = np.ones(len(classes))
    present = counts > 0
    # compute_class_weight on the labels, each once, weighted by their
    # training rows' weight sums: the in-memory formula on the training y.
    out[present] = compute_class_weight(
        "balanced", classes=classes[present], y=classes[present], sample_weight=weights[present]
    )
    return out


def class_weights(class_weight, classes, counts=None, weights=None):
    """The fit's class weights from its training rows' class counts and weight sums.

    As ``_class_sample_weight`` in memory: one weight per class; for
    multilabel targets (`counts` of shape (n_labels, 2)) one per label and
    value, 'balanced' only (a dict raises scikit-learn's error, as in memory).
    """
    if class_weight is None:
        return None
    if counts is not None and counts.ndim == 2:
        if class_weight != "balanced":
            compute_sample_weight(class_weight, np.zeros((1, len(counts))))  # raises
        values = np.array([0, 1])
        return np.array([_balanced(values, c, w) for c, w in zip(counts, weights)])
    if class_weight == "balanced":
        return _balanced(classes, counts, weights)
    return np.asarray(compute_class_weight(class_weight, classes=classes, y=classes), np.float64)


def _total(summaries, key):
    """The chunks' `key` added in chunk order."""
    total = 0
    for summary in summaries:
        total = total + summary[key]
    return total


def cluster_training_problem(
    estimator, X, y, sample_weight, *, hidden, float64, warm_start, curvature
):
    """The pieces of a training problem whose data stay on the cluster.

    Parameters
    ----------
    estimator : BackpropMLPClassifier
        Its hyperparameters; ``n_features_in_`` and ``feature_names_in_`` are
        set (checked on a warm start) as in-memory validation does.
    X, y, sample_weight
        The training data (X a dask collection).
    hidden : tuple of int
        Validated hidden layer sizes.
    float64 : bool
        Whether the solver needs float64 data.
    warm_start : bool
        Start from the estimator's fitted parameters (same classes and shape).
    curvature : str or None
        The Hessian-vector product the solver needs, if any.

    Returns
    -------
    fields : dict
        The training problem's fields (build_objective, theta0, layout, ...).
        The data are validated, the early-stopping split planned and the
        class weights and ``S`` computed (every data error raised) here;
        the actors are built by ``build_objective``.
    """
    client = _client()
    X = as_row_chunked(X) if not hasattr(X, "columns") else X
    validate_data(estimator, _feature_meta(X), reset=not warm_start, skip_check_array=True)
    X = as_row_chunked(X)
    row_chunks = X.chunks[0]
    n_samples = int(sum(row_chunks))
    if n_samples == 0:
        check_array(np.empty((0, X.shape[1])))  # scikit-learn's error for no samples
    y_da = aligned(y, row_chunks, "y")
    if y_da.ndim == 2 and y_da.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change "
            "the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
    if sample_weight is not None and np.ndim(sample_weight) == 0:
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)  # as in memory
    w_da = aligned(sample_weight, row_chunks, "sample_weight")
    if w_da is not None and w_da.ndim != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {w_da.ndim}D array instead."
        )
    in_dtype = np.dtype(X.dtype)
    dtype = np.dtype(np.float32 if in_dtype == np.float32 and not float64 else np.float64)
    streams = _streams(client, X)

    starts = np.concatenate([[0], np.cumsum(row_chunks)]).astype(int)
    X_blocks = X.to_delayed().ravel()
    y_blocks = y_da.to_delayed().ravel()
    w_blocks = [None] * len(row_chunks) if w_da is None else list(w_da.to_delayed().ravel())
    chunk_ids = [i for i, m in enumerate(row_chunks) if m > 0]
    loads, sources = {}, {}
    for i in chunk_ids:
        loads[i] = (X_blocks[i], y_blocks[i], w_blocks[i], i, int(starts[i]), dtype, not streams)
        if streams:
            sources[i] = Source(X.blocks[i])

    rng = check_random_state(estimator.random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max)) if estimator.early_stopping else 0
    sizes = {i: int(row_chunks[i]) for i in chunk_ids}
    executor = DaskExecutor(client, loads, sources, sizes)
    # The validation pass: each chunk validated on its worker as it loads,
    # and summarized; every data error is raised here, before the fit
    # starts its callbacks and before any actor exists.
    executor.load_chunks(chunk_ids)
    summaries = executor.map_chunks(summarize)

    kinds = {s["kind"] for s in summaries}
    multilabel = kinds == {"multilabel-indicator"}
    class_counts = None
    if multilabel:
        # What LabelBinarizer fitted on the whole indicator matrix holds.
        width = summaries[0]["width"]
        binarizer = LabelBinarizer().fit(np.eye(max(width, 2), width, dtype=int))
        classes = binarizer.classes_
    elif kinds - {"labels"}:
        raise ValueError(
            f"Targets must be 1-D labels or a binary indicator matrix; got {sorted(kinds)}."
        )
    else:
        classes = np.unique(np.concatenate([s["labels"] for s in summaries]))
        binarizer = LabelBinarizer().fit(classes)
        class_counts = {}
        for i, s in zip(chunk_ids, summaries):
            class_counts[i] = np.zeros(len(classes), dtype=np.int64)
            class_counts[i][np.searchsorted(classes, s["labels"])] = s["counts"]
    check_fit_targets(binarizer, estimator.out_activation)
    if w_da is not None:
        check_weight_sum(_total(summaries, "weight"))
    plan = None
    if estimator.early_stopping:
        plan = held_out_plan(estimator.validation_fraction, seed, sizes, class_counts)
    n_outputs = len(classes) if multilabel or len(classes) > 2 else 1
    layout = Layout((X.shape[1], *hidden, n_outputs))
    out_activation = "logistic" if n_outputs == 1 or multilabel else estimator.out_activation
    spec = Spec(
        layer_sizes=layout.layer_sizes,
        activation=estimator.activation,
        out_activation=out_activation,
        dtype=dtype,
        binarizer=binarizer,
        class_weight=None,
        curvature=curvature,
        sparse=_sparse(X),
        held_out=plan,
        validation_seed=seed,
    )
    # The split's pass: the training rows' weights and class sums; the
    # class weights are fitted on them (as in memory), then S. Without a
    # split or class weights the summaries' sums are the actors' already.
    if plan is None and estimator.class_weight is None:
        splits = [{"terms": (s["weight"], s["n_rows"], 0)} for s in summaries]
    else:
        splits = executor.map_chunks(split_summary, spec)
    if plan is not None:
        check_weight_sum(_total(splits, "raw"))
        if w_da is not None:
            check_weight_sum(_total(splits, "raw_val"), "validation")
    if estimator.class_weight is not None:
        spec.class_weight = class_weights(
            estimator.class_weight, classes, _total(splits, "counts"), _total(splits, "weights")
        )
        splits = executor.map_chunks(split_summary, spec)
    executor.configure(spec, layout, {i: s["terms"] for i, s in zip(chunk_ids, splits)})
    if estimator.class_weight is not None:
        check_weight_sum(executor.sum_weights, "class_weight")
    if warm_start:
        theta0 = warm_start_theta(estimator, binarizer.classes_, layout.layer_sizes)
    else:
        theta0 = layout.init(rng, estimator.init_epsilon)

    def build_objective():
        # Called right before the `with` that closes it: the actors exist
        # only from here (build releases them if it fails).
        executor.build()
        return ClusterObjective(executor, estimator.alpha)

    return {
        "build_objective": build_objective,
        "theta0": theta0,
        "layout": layout,
        "binarizer": binarizer,
        "out_activation": out_activation,
        "X": X,
        "y": y_da,
        "sample_weight": w_da,
        "validation": None,
        "validation_score": executor.validation_score if estimator.early_stopping else None,
    }


# ------------------------------------------------------------- predicting


def _with_names(block, names):
    """The block as a DataFrame with the fit's column names, if it had any."""
    if names is None:
        return block
    import pandas as pd

    return pd.DataFrame(block, columns=names, copy=False)


def _predict_block(block, estimator, method, names):
    return getattr(estimator, method)(_with_names(block, names))


def lazy_predict(estimator, method, X, *, checked=False):
    """``estimator.method`` on each row chunk of a dask X: a lazy dask array.

    The columns are checked against the fit here (unless `checked`), each
    chunk's values by the in-memory method on its worker.
    """
    if not checked:
        validate_data(estimator, _feature_meta(X), reset=False, skip_check_array=True)
    if hasattr(X, "columns") and not isinstance(X, da.Array):
        X = _numpy_dtypes(X).to_dask_array()
    if not isinstance(X, da.Array) or X.ndim != 2:
        X = as_row_chunked(X)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    names = getattr(estimator, "feature_names_in_", None)
    sample = getattr(estimator, method)(_with_names(np.zeros((1, X.shape[1])), names))
    if sample.ndim == 1:
        return X.map_blocks(
            _predict_block,
            estimator,
            method,
            names,
            drop_axis=1,
            dtype=sample.dtype,
            meta=np.empty((0,), sample.dtype),
        )
    return X.map_blocks(
        _predict_block,
        estimator,
        method,
        names,
        chunks=(X.chunks[0], (sample.shape[1],)),
        dtype=sample.dtype,
        meta=np.empty((0, 0), sample.dtype),
    )


def cluster_score(estimator, X, y, sample_weight=None):
    """Accuracy of ``estimator.predict`` on dask X against y: one reduction."""
    validate_data(estimator, _feature_meta(X), reset=False, skip_check_array=True)
    y_pred = lazy_predict(estimator, "predict", as_row_chunked(X), checked=True)
    y_true = aligned(y, y_pred.chunks[0], "y")
    right = y_pred == y_true
    if right.ndim == 2:
        right = right.all(axis=1)
    if sample_weight is None:
        return float(right.mean().compute())
    w = aligned(sample_weight, y_pred.chunks[0], "sample_weight")
    total, weight = dask.compute((right * w).sum(), w.sum())
    return float(total / weight)
