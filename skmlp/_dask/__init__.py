"""Fitting one model on data spread over a Dask cluster.

A full-batch fit is data-parallel: every evaluation of J and its gradient is
one map-reduce over the rows. Here the rows stay on the workers of a
``dask.distributed`` cluster and only parameter-sized vectors travel. The
cluster runs the engine's own pieces, so it adds no math of its own: the
target strategy (:mod:`skmlp._targets`) checks, summarizes, weights and
scores the targets, and each worker's chunks form a chunk set
(:mod:`skmlp._chunks`) that runs the kernel. The modules:

* :mod:`~skmlp._dask.input`: X a dask array (chunked by rows, one column
  block; numpy or scipy CSR/CSC chunks, held as canonical CSR) or DataFrame;
  y and sample_weight aligned to its row chunks; each chunk validated on its
  worker with scikit-learn's checks (an error names the chunk) and
  summarized for the client.
* :mod:`~skmlp._dask.split`: the early-stopping split, planned from the
  chunks' label counts on the client (the in-memory split's size and
  strata), drawn per chunk from random_state and the chunk index.
* :mod:`~skmlp._dask.problem`: the training data: validation pass, targets
  fitted on the summaries, split plan, class weights fitted on the training
  rows' class sums, ``S``; every data error is raised before any actor
  exists. Streaming: when X is not persisted and is larger than half the
  cluster's memory (or with ``dask.config.set({"skmlp.dask.data":
  "stream"})``) the actors read each chunk from its source (e.g. .npy
  memmaps, a zarr store) at every evaluation, one chunk at a time.
* :mod:`~skmlp._dask.worker`: one :class:`ChunkWorker` actor per worker
  holding its chunks as a chunk set, and the rows they hold out.
* :mod:`~skmlp._dask.executor`: :class:`DaskExecutor`, the executor
  interface of :mod:`skmlp._executor`: each evaluation sends theta once to
  every actor and adds the chunks' terms strictly in chunk order, so the
  model does not depend on the workers or the placement and equals the
  in-memory fit with ``batch_size`` equal to the chunk size. A lost worker's
  chunks are rebuilt from their source and the evaluation repeated (the fit
  ends with the undisturbed model); when they cannot be,
  :class:`skmlp.WorkerLostError` names the worker.
* :mod:`~skmlp._dask.predict`: predict, predict_proba, predict_log_proba and
  decision_function on dask input return lazy dask arrays with X's row
  chunks; score is one distributed reduction.

This package imports dask and is imported only for dask input.
"""

from ..exceptions import WorkerLostError
from .executor import WORKERS_CONFIG, DaskExecutor
from .input import ALIGNMENT, BLOCK_OFFSET, aligned_copy, canonical_csr
from .problem import DATA_CONFIG
from .worker import ChunkWorker

__all__ = [
    "ALIGNMENT",
    "BLOCK_OFFSET",
    "DATA_CONFIG",
    "WORKERS_CONFIG",
    "ChunkWorker",
    "DaskExecutor",
    "WorkerLostError",
    "aligned_copy",
    "canonical_csr",
]
