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
