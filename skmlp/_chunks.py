r"""A chunk set: the training rows as prepared chunks, and the tasks run on them.

A full-batch evaluation of J is a sum over the rows, cut into chunks. Each
chunk is prepared once: its rows as a block of the network kernel
(:class:`~skmlp._network.FirstLayer`), its targets encoded by the loss, its
normalized weights ``w = s / S`` in the working dtype and, for the curvature
products, its own store of activations. A chunk set holds such chunks (all of
them in memory; a worker's share on a cluster) and turns a named task into one
function per chunk:

- ``"evaluate"`` (theta): the chunk's loss and its gradient (no penalty);
- ``"loss"`` (theta): the chunk's loss alone, by the same forward pass and
  loss (the same bits), without the backward pass: Levenberg-Marquardt's
  trial steps;
- ``"hessp"`` (theta, v): the chunk's ``H v``, exact (Pearlmutter's
  R-operator) or Gauss-Newton ``G v = J^T H_out J v``, reusing the chunk's
  stored pass when it was made at theta (redone otherwise);
- ``"gauss_newton"`` (theta): the dense Gauss-Newton matrix ``G = J^T (w
  H_out) J`` (J the logits' Jacobian), flat in one vector: Levenberg-
  Marquardt's normal equations (:mod:`skmlp._lm`). One item per piece of a
  chunk's rows (:func:`gauss_newton_pieces`, from the shapes only), so that
  the threads share a chunk's G; each piece reads the chunk's pass kept by
  ``"evaluate"`` at theta (redone first where it is not);
- ``"validation"`` (theta): the sufficient statistics of the validation
  score on the rows held out for early stopping (the targets' strategy says
  which statistics).

An executor runs a task's functions, wherever the chunks are, and adds their
results with :class:`OrderedSum`, strictly in chunk order (and piece order): the thread
executor (:mod:`skmlp._executor`) over threads, a Dask actor
(:mod:`skmlp._dask.worker`) over its worker's chunks. So a sum depends on the
chunks only, never on which thread or worker evaluated them.

The curvature products' formulas (Pearlmutter 1994, Schraudolph 2002), with
``a_l = Z_{l-1} W_l + b_l``, ``Z_l = f(a_l)`` and the direction ``v = (V_l,
c_l)``::

    R{a_l}  = R{Z_{l-1}} W_l + Z_{l-1} V_l + c_l            (R{Z_0} = 0)
    R{Z_l}  = f'(a_l) * R{a_l}
    R{d_L}  = w * H_out R{a_L}
    R{d_l-1} = (R{d_l} W_l^T + d_l V_l^T) * f'(a_{l-1})
               + (d_l W_l^T) * f''(a_{l-1}) * R{a_{l-1}}
    (H v)_W_l = R{Z_{l-1}}^T d_l + Z_{l-1}^T R{d_l},   (H v)_b_l = sum_i R{d_l}

Gauss-Newton drops the terms from the network's own curvature (those with
``V_l^T``, ``f''`` and ``R{Z_{l-1}}^T d_l``); the kernel's
:meth:`~skmlp._network.Network.hessian_product` computes both.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ._network import Gradient, forward_logits

# The Gauss-Newton task's pieces (:func:`gauss_newton_pieces`): a chunk's G is
# cut into at most GN_MAX_PIECES pieces of its rows, an even number, each of
# at least GN_MIN_PIECE_WORK multiply-adds (below, a second thread gains less
# than waking it costs), and no more than two once the pieces' own P x P
# matrices would take over GN_PIECES_BYTES (each piece returns one, and
# several wait in the executor's ring to be added); within a piece the
# Jacobian is built GN_STEP_BYTES of rows at a time.
GN_MAX_PIECES = 8
GN_MIN_PIECE_WORK = 2_000_000
GN_PIECES_BYTES = 128 << 20
GN_STEP_BYTES = 4 << 20


class OrderedSum:
    """Scalars and vectors added in float64, in the order they are given.

    The one place where chunk results are added: every executor feeds its
    chunks' results in chunk order, so the totals depend on the chunks only.
    """

    def __init__(self):
        self.scalar = 0.0
        self.vector = None

    def add(self, scalar, vector=None):
        self.scalar += scalar
        if vector is None:
            return
        if self.vector is None:
            self.vector = np.zeros(np.shape(vector))
        np.add(self.vector, vector, out=self.vector)

    def result(self):
        """``(total scalar, total vector)``; the vector is new, owned by the caller."""
        return self.scalar, self.vector


def chunk_weight_sum(s, n_rows):
    """One chunk's weight sum (`s` None: ``n_rows`` ones)."""
    return float((np.ones(n_rows) if s is None else s).sum())


def total_weight(chunk_sums):
    """``S``: the chunks' weight sums added in chunk order, wherever the chunks are."""
    total = OrderedSum()
    for chunk_sum in chunk_sums:
        total.add(chunk_sum)
    return total.scalar


def gauss_newton_pieces(n_rows, n_outputs, n_params):
    """Row ranges ``[(start, stop), ...]`` of a chunk's Gauss-Newton pieces.

    A function of the shapes only, never of the threads: G, added piece by
    piece in order, has the same bits for any number of threads.
    """
    work = n_rows * n_outputs * n_params * n_params
    most = max(2, min(GN_MAX_PIECES, GN_PIECES_BYTES // (8 * n_params * n_params)))
    n_pieces = min(most, n_rows, work // GN_MIN_PIECE_WORK)
    n_pieces = n_pieces - n_pieces % 2 if n_pieces > 1 else 1
    rows = -(-n_rows // n_pieces)
    return [(a, min(a + rows, n_rows)) for a in range(0, n_rows, rows)]


class Slot(Gradient):
    """A task item's result buffer: a :class:`~skmlp._network.Gradient`, and a kept P x P matrix.

    The executor adds an item's result before it reuses the item's slot, so
    a Gauss-Newton piece can fill the slot's matrix instead of a new array
    (made on first use only: a slot that never holds a piece holds none).
    """

    _matrix = None

    def matrix(self):
        """The kept ``(n_params, n_params)`` float64 matrix (contents undefined)."""
        if self._matrix is None:
            n = self.vector.size
            self._matrix = np.empty((n, n))
        return self._matrix


class HeldOut:
    """Rows held out for early stopping: features (or their source), targets, weights."""

    def __init__(self, index, X, y, w, source=None):
        self.index = index
        self.X, self.y, self.w = X, y, w
        self.source = source

    def rows(self, dtype):
        """The held-out rows' features (read from the source when streamed)."""
        return self.X if self.source is None else self.source(dtype)[1]


class Chunk:
    """One prepared chunk of training rows.

    ``block`` is None for a chunk streamed from its ``source`` (a callable
    ``dtype -> (training rows, held-out rows)``), read at each pass.
    """

    def __init__(self, index, n_rows, block, target, w, store=None, source=None):
        self.index = index
        self.n_rows = n_rows
        self.block, self.target, self.w = block, target, w
        self.store = store
        self.source = source
        self.generation = -1  # the parameters its store holds the pass at


def prepare_chunk(network, index, X, Y, w, *, keep_store=False, source=None):
    """A :class:`Chunk` of the rows X with binary targets Y and normalized weights w.

    `w` are float64 ``s / S``: the loss encodes the targets from them, then
    they are kept in the working dtype. `X` None: streamed from `source`.
    """
    n_rows = len(w)
    target = network.loss.encode(Y, w, network.dtype)
    block = None if X is None else network.block(X)
    store = network.activations(n_rows) if keep_store and X is not None else None
    return Chunk(index, n_rows, block, target, w.astype(network.dtype), store, source)


class Task(NamedTuple):
    """A task's per-chunk function over ``len(indices)`` items, and whether to time it."""

    indices: list
    run: object  # run(k, workspace, slot) -> (scalar, vector)
    timed: bool


class ChunkSet:
    """Prepared chunks and the tasks that run the network kernel on them.

    Parameters
    ----------
    network : Network
        The kernel with the loss, in the working dtype.
    chunks : list of Chunk
        In chunk order.
    held_out : list of HeldOut, default=()
        Rows held out for early stopping, in chunk order.
    targets : target strategy, optional
        Scores the held-out rows (:meth:`validation_terms`).
    curvature : {'exact', 'gauss-newton'} or None, default=None
        The Hessian-vector product of the ``"hessp"`` task; with a
        curvature every chunk keeps its pass for the products.
    dense : bool, default=True
        Whether the rows are dense (the workspaces' first-layer buffers).
    sum_weights : float or None, default=None
        ``S``, which the chunks' weights were normalized by.
    """

    def __init__(
        self,
        network,
        chunks,
        held_out=(),
        targets=None,
        curvature=None,
        dense=True,
        sum_weights=None,
    ):
        self.network = network
        self.layout = network.layout
        self.chunks = list(chunks)
        self.held_out = [h for h in held_out if len(h.y)]
        self.targets = targets
        self.curvature = curvature
        self.dense = dense
        self.max_rows = max([c.n_rows for c in self.chunks] + [1])
        self.sum_weights = sum_weights
        self.generation = 0
        self.n_reads = 0
        self._serial = None  # run_serially's workspace and slot

    @classmethod
    def from_rows(
        cls, network, X, Y, sample_weight, bounds, *, held_out=(), targets=None, curvature=None
    ):
        """The chunk set of rows ``X[a:b]`` for each ``(a, b)`` of `bounds`.

        `sample_weight` float64 (None: ones) are normalized by their sum
        ``S``, added chunk by chunk in chunk order (:func:`total_weight`), as
        a cluster adds its chunks' sums. Dense X is only read; sparse X is held
        as CSR (its row slices copy the chunk's nonzeros, once here).
        """
        if sample_weight is None:
            sample_weight = np.ones(X.shape[0])
        sum_weights = total_weight(chunk_weight_sum(sample_weight[a:b], b - a) for a, b in bounds)
        w = sample_weight / sum_weights
        sparse = sp.issparse(X)
        if sparse:
            X = sp.csr_matrix(X)
        elif not (X.flags.c_contiguous or X.flags.f_contiguous):
            X = np.ascontiguousarray(X)  # BLAS needs one unit stride
        keep = curvature is not None
        chunks = [
            prepare_chunk(network, c, X[a:b], Y[a:b], w[a:b], keep_store=keep)
            for c, (a, b) in enumerate(bounds)
        ]
        return cls(network, chunks, held_out, targets, curvature, not sparse, sum_weights)

    @property
    def n_chunks(self):
        return len(self.chunks)

    def make_workspace(self):
        """One thread's buffers, for the largest chunk."""
        return self.network.workspace(self.max_rows, dense=self.dense)

    def make_slot(self):
        """A task item's result (a :class:`Slot`): a vector with layer views, working dtype."""
        return Slot(self.layout, self.network.dtype)

    def task(self, name, *args):
        """The :class:`Task` of a named task (see the module's list)."""
        if name == "evaluate":
            return self._evaluate(*args)
        if name == "loss":
            return self._loss(*args)
        if name == "hessp":
            return self._hessp(*args)
        if name == "validation":
            return self._validation(*args)
        if name == "gauss_newton":
            return self._gauss_newton(*args)
        raise ValueError(f"Unknown chunk task {name!r}.")

    def _block(self, chunk):
        if chunk.block is not None:
            return chunk.block
        self.n_reads += 1
        return self.network.block(chunk.source(self.network.dtype)[0])

    def _pass(self, chunk, block, ws, slot):
        """The chunk's loss; its gradient into `slot`; its pass kept for the products."""
        network = self.network
        acts, loss_logits = ws.acts, None
        if self.curvature is not None:
            acts = chunk.store if chunk.store is not None else network.activations(chunk.n_rows)
            loss_logits = ws.acts.logits_t(chunk.n_rows)
        loss = network.loss_and_grad(
            block, chunk.target, chunk.w, acts, ws.work, slot, loss_logits
        )
        return loss, acts

    def _at(self, theta):
        """The network's parameters set to theta; the generation of the passes made there."""
        network = self.network
        at = np.asarray(theta, dtype=np.float64).astype(network.dtype, copy=False)
        if not np.array_equal(at, network.theta):
            network.set_params(theta)
            self.generation += 1
        return self.generation

    def _evaluate(self, theta):
        self.network.set_params(theta)
        self.generation += 1
        generation = self.generation

        def run(k, ws, slot):
            chunk = self.chunks[k]
            loss, _ = self._pass(chunk, self._block(chunk), ws, slot)
            chunk.generation = generation
            return loss, slot.vector

        return Task([c.index for c in self.chunks], run, True)

    def _loss(self, theta):
        network = self.network
        network.set_params(theta)
        self.generation += 1  # the chunks' kept passes are no longer at the parameters

        def run(k, ws, slot):
            chunk = self.chunks[k]
            return network.forward_loss(
                self._block(chunk), chunk.target, chunk.w, ws.acts, ws.work
            ), None

        return Task([c.index for c in self.chunks], run, False)

    def _hessp(self, theta, v):
        network = self.network
        generation = self._at(theta)
        v = np.asarray(v, dtype=np.float64)
        # v itself in float64 (the Newton-type solvers' case), else a copy.
        direction = Gradient(self.layout, vector=v.astype(network.dtype, copy=False))
        exact = self.curvature == "exact"

        def run(k, ws, slot):
            chunk = self.chunks[k]
            block, store = self._block(chunk), chunk.store
            if store is None or chunk.generation != generation:
                _, store = self._pass(chunk, block, ws, slot)
                chunk.generation = generation
            network.hessian_product(
                block, store, chunk.w, direction, ws.acts, ws.work, slot, exact
            )
            return 0.0, slot.vector

        return Task([c.index for c in self.chunks], run, False)

    def _gauss_newton(self, theta):
        network, layout = self.network, self.layout
        generation = self._at(theta)
        n_params, n_outputs = layout.n_params, layout.layer_sizes[-1]
        # Jacobian rows per step: its (outputs, rows, n_params) block stays
        # within GN_STEP_BYTES.
        step = max(1, GN_STEP_BYTES // (8 * n_params * n_outputs))
        items = []  # (chunk position, start, stop)
        for c, chunk in enumerate(self.chunks):
            if chunk.store is None:  # no kept pass: one piece, which makes it
                items.append((c, 0, chunk.n_rows))
                continue
            if chunk.generation != generation:
                # A pass for the pieces to share, made here before they run.
                self._pass(chunk, self._block(chunk), *self._serial_space())
                chunk.generation = generation
            pieces = gauss_newton_pieces(chunk.n_rows, n_outputs, n_params)
            items += [(c, a, b) for a, b in pieces]

        def run(k, ws, slot):
            c, start, stop = items[k]
            chunk = self.chunks[c]
            block, acts = self._block(chunk), chunk.store
            if acts is None:
                _, acts = self._pass(chunk, block, ws, slot)
            G = slot.matrix()
            G[...] = 0.0
            logits = acts.logits_t(chunk.n_rows).T
            for a in range(start, stop, step):
                b = min(a + step, stop)
                J = network.output_jacobian(block, acts, a, b)
                network.loss.gauss_newton(logits[a:b], chunk.w[a:b].astype(np.float64), J, G)
            return 0.0, G.reshape(-1)

        indices = [(self.chunks[c].index, a) for c, a, _ in items]
        return Task(indices, run, False)

    def _validation(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        layout, activation = self.layout, self.network.activation

        def run(k, ws, slot):
            held = self.held_out[k]
            logits = forward_logits(layout, theta, held.rows(self.network.dtype), activation)
            return 0.0, self.targets.validation_terms(logits, held.y, held.w)

        return Task([h.index for h in self.held_out], run, False)

    def _serial_space(self):
        """A workspace and a slot for work on the calling thread, made once."""
        if self._serial is None:
            self._serial = (self.make_workspace(), self.make_slot())
        return self._serial

    def run_serially(self, name, *args):
        """``[(item index, scalar, vector copy or None)]`` of a task, in order, on this thread.

        The item indices sort in the order of the items (chunk indices; for
        the Gauss-Newton pieces ``(chunk index, first row)``).
        """
        task = self.task(name, *args)
        out = []
        for k, index in enumerate(task.indices):
            scalar, vector = task.run(k, *self._serial_space())
            out.append((index, scalar, None if vector is None else np.array(vector)))
        return out
