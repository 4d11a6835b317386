"""Fitting one model on data spread over a Dask cluster.

A full-batch fit is data-parallel: every evaluation of J and its gradient is
one map-reduce over the rows. Here the rows stay on the workers of a
``dask.distributed`` cluster and only parameter-sized vectors travel:

* **Input.** X is a dask array (chunked by rows; its columns are rechunked
  into one block) or a dask DataFrame; y and sample_weight (dask or numpy)
  are aligned to X's row chunks. One distributed pass validates every chunk
  on its worker with scikit-learn's own checks (finite numeric values,
  labels, weights; an error names the chunk) and returns the chunk's label
  counts, from which the client builds ``classes_``.
* **Worker state.** One :class:`ChunkWorker` actor per worker holds that
  worker's chunks across evaluations: the features in the working dtype, the
  targets, the weights and the evaluation buffers of the network kernel.
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

import math
import time
import warnings
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
from dask.distributed import futures_of, get_client, wait
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    validate_data,
)

from ._executor import blas_limiter
from ._layout import Layout
from ._losses import get_loss
from ._network import Gradient, Network, forward_logits
from ._objective import L2Penalty
from ._validation import check_fit_targets, warm_start_theta
from .exceptions import WorkerLostError

DTYPES = (np.float64, np.float32)
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
    """X itself if C-contiguous at BLOCK_OFFSET past a 64-byte boundary, else such a copy."""
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


def check_chunk(X, y, sample_weight, index, start, dtype, keep_X):
    """Validate one chunk as the in-memory fit validates the whole data."""
    stop = start + X.shape[0]
    try:
        # As in memory: the finiteness check's sum may overflow near the
        # float maximum (the values are still checked element-wise).
        with np.errstate(over="ignore", invalid="ignore"):
            X = check_array(X, dtype=DTYPES, ensure_min_samples=0, input_name="X")
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
    X = aligned_copy(X.astype(dtype, copy=False)) if keep_X else None
    return Chunk(index, start, len(y), X, y, sample_weight)


def summarize(chunk):
    """What the client needs from a chunk: its labels and their weights' sums."""
    if chunk.y.ndim == 2:
        return {"n_rows": chunk.n_rows, "kind": type_of_target(chunk.y), "width": chunk.y.shape[1]}
    labels, inverse, counts = np.unique(chunk.y, return_inverse=True, return_counts=True)
    # Each class counted by its sample weights, as 'balanced' does in memory.
    weights = counts.astype(np.float64)
    if chunk.sample_weight is not None:
        weights = np.bincount(inverse.ravel(), chunk.sample_weight, len(labels))
    return {"n_rows": chunk.n_rows, "kind": "labels", "labels": labels, "counts": weights}


class Source:
    """A chunk of X read from its source (files, zarr) at each evaluation."""

    def __init__(self, block):
        self.block = block

    def read(self, dtype):
        with np.errstate(over="ignore", invalid="ignore"):
            X = check_array(self.block.compute(scheduler="sync"), dtype=DTYPES)
        return aligned_copy(X.astype(dtype, copy=False))


# ---------------------------------------------------------- worker side


@dataclass
class Spec:
    """Everything a worker needs to turn its chunks into objective terms."""

    layer_sizes: tuple
    activation: str
    out_activation: str
    dtype: np.dtype
    binarizer: LabelBinarizer
    class_weight: np.ndarray | None  # one weight per class of the binarizer
    curvature: str | None
    validation_fraction: float | None
    validation_seed: int
    n_samples: int


def validation_rows(n_samples, fraction, start, n_rows, seed, index):
    """Rows of a chunk held out for early stopping (chunk-local positions).

    ``ceil(fraction * n)`` rows in all, spread over the chunks in proportion
    to their sizes and drawn in each chunk from a generator seeded by the
    fit's random_state and the chunk index: the same rows for any number of
    workers and any placement.
    """
    n_val = math.ceil(fraction * (start + n_rows)) - math.ceil(fraction * start)
    n_val = min(max(n_val, 0), n_rows)
    rng = np.random.default_rng([seed, index])
    return np.sort(rng.permutation(n_rows)[:n_val])


class _Part:
    """A chunk's training rows (and validation rows) on its worker."""

    def __init__(self, spec, chunk, source):
        self.index = chunk.index
        self.source = source
        y, s = chunk.y, chunk.sample_weight
        if spec.class_weight is not None:
            # As compute_sample_weight: the class's weight for each row.
            weights = spec.class_weight[np.searchsorted(spec.binarizer.classes_, y)]
            s = weights if s is None else s * weights
        self.train = self.val = None
        if spec.validation_fraction is not None:
            self.val = validation_rows(
                spec.n_samples,
                spec.validation_fraction,
                chunk.start,
                chunk.n_rows,
                spec.validation_seed,
                chunk.index,
            )
            self.train = np.setdiff1d(np.arange(chunk.n_rows), self.val)
            self.y_val = y[self.val]
            y = y[self.train]
            s = None if s is None else s[self.train]
        self.X, self.X_val = (None, None) if chunk.X is None else self._split(chunk.X)
        self.n_rows = len(y)
        self.n_val = 0 if self.val is None else len(self.val)
        self.sample_weight = np.ones(self.n_rows) if s is None else s
        self.weight_sum = float(self.sample_weight.sum())
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

    Each chunk is a block of the network kernel (:mod:`skmlp._network`)
    with its encoded targets and normalized weights ``w = s / S``, prepared
    exactly as the in-memory objective prepares its chunks; the kernel's
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
        self.workspace = self.network.workspace(max_rows)
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

    def n_correct(self, theta):
        """``[(chunk index, correctly predicted validation rows)]``."""
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
                out.append((part.index, int(right.sum())))
        return out

    def stats(self):
        """Resident bytes of X on this worker and chunks read from source."""
        resident = sum(
            (0 if p.X is None else p.X.nbytes) + (0 if p.X_val is None else p.X_val.nbytes)
            for p in self.parts
        )
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
        self._holding_blas = False

    # ---------------------------------------------------------- building

    def build(self, chunks, spec, layout):
        """One actor per worker for the chunks that worker holds.

        `chunks` are ``[(chunk index, future of its Chunk)]`` (:meth:`load`).
        """
        self.spec, self.layout = spec, layout
        self.holders = self._actors(chunks)
        terms = {}
        for holder in self.holders:
            for index, total, n_rows, n_val in holder.actor.weight_sums().result():
                terms[index] = (total, n_rows, n_val)
        self._terms = terms
        order = sorted(terms)
        total = 0.0
        for index in order:
            total += terms[index][0]
        self.n_train = sum(terms[i][1] for i in order)
        self.n_val = sum(terms[i][2] for i in order)
        self.sum_weights = total
        if self.n_train == 0:
            raise ValueError("early_stopping needs at least 2 samples to hold some out.")
        if not total > 0:
            raise ValueError("sample_weight must not be all zero: the weights sum to 0.")
        for future in [h.actor.set_sum_weights(total) for h in self.holders]:
            future.result()

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
        if self._holding_blas:
            self._holding_blas = False
            blas_limiter.release()
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
        if not self._holding_blas:
            blas_limiter.acquire()
            self._holding_blas = True
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

    def validation_score(self, theta):
        """Accuracy of theta on the held-out rows (kept on the workers)."""
        counts = self.executor.terms("n_correct", np.asarray(theta, dtype=np.float64))
        return sum(c for (c,) in counts.values()) / self.n_val

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
    if persisted:
        return False
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    memory = sum(w.get("memory_limit") or 0 for w in workers)
    return bool(memory) and X.nbytes > STREAM_MEMORY_SHARE * memory


def _class_weights(class_weight, classes, counts):
    """One weight per class, as compute_sample_weight would give on the full y."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        # compute_class_weight on the labels with their weight sums as
        # weights: the same formula as on the full y with its sample weights.
        weights = compute_class_weight(
            "balanced", classes=classes, y=classes, sample_weight=counts
        )
    else:
        weights = compute_class_weight(class_weight, classes=classes, y=classes)
    return np.asarray(weights, dtype=np.float64)


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
        The training problem's fields (objective, theta0, layout, ...).
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
    # One pass: each chunk validated on its worker as it loads, and summarized.
    executor = DaskExecutor(client, loads, sources, {i: int(row_chunks[i]) for i in chunk_ids})
    chunks = executor.load(chunk_ids)
    summaries = client.map(summarize, [future for _, future in chunks], pure=False)
    wait(summaries)
    for future in summaries:  # the first bad chunk in chunk order, whichever failed first
        if future.status == "error":
            future.result()
    summaries = client.gather(summaries)

    kinds = {s["kind"] for s in summaries}
    multilabel = kinds == {"multilabel-indicator"}
    if multilabel:
        # What LabelBinarizer fitted on the whole indicator matrix holds.
        width = summaries[0]["width"]
        binarizer = LabelBinarizer().fit(np.eye(max(width, 2), width, dtype=int))
        classes, counts = binarizer.classes_, None
        if estimator.class_weight is not None:
            raise ValueError(
                "class_weight with multilabel targets is not supported on a Dask "
                "cluster; compute the data into memory, or pass sample_weight."
            )
    elif kinds - {"labels"}:
        raise ValueError(
            f"Targets must be 1-D labels or a binary indicator matrix; got {sorted(kinds)}."
        )
    else:
        classes = np.unique(np.concatenate([s["labels"] for s in summaries]))
        counts = np.zeros(len(classes))
        for s in summaries:
            counts[np.searchsorted(classes, s["labels"])] += s["counts"]
        binarizer = LabelBinarizer().fit(classes)
    check_fit_targets(binarizer, estimator.out_activation)
    n_outputs = len(classes) if multilabel or len(classes) > 2 else 1
    layout = Layout((X.shape[1], *hidden, n_outputs))
    if warm_start:
        theta0 = warm_start_theta(estimator, binarizer.classes_, layout.layer_sizes)
    else:
        theta0 = layout.init(rng, estimator.init_epsilon)
    out_activation = "logistic" if n_outputs == 1 or multilabel else estimator.out_activation
    spec = Spec(
        layer_sizes=layout.layer_sizes,
        activation=estimator.activation,
        out_activation=out_activation,
        dtype=dtype,
        binarizer=binarizer,
        class_weight=_class_weights(estimator.class_weight, classes, counts),
        curvature=curvature,
        validation_fraction=estimator.validation_fraction if estimator.early_stopping else None,
        validation_seed=seed,
        n_samples=n_samples,
    )
    try:
        executor.build(chunks, spec, layout)
        if estimator.early_stopping and executor.n_val == 0:
            raise ValueError("early_stopping needs at least 2 samples to hold some out.")
    except BaseException:
        executor.close()
        raise
    del chunks
    objective = ClusterObjective(executor, estimator.alpha)
    return {
        "objective": objective,
        "theta0": theta0,
        "layout": layout,
        "binarizer": binarizer,
        "out_activation": out_activation,
        "X": X,
        "y": y_da,
        "sample_weight": w_da,
        "validation": None,
        "validation_score": objective.validation_score if estimator.early_stopping else None,
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
