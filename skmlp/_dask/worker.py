"""The worker side of a cluster fit: one actor per worker holding its chunks."""

from dataclasses import dataclass

import numpy as np

from .._blas import blas_limiter
from .._chunks import ChunkSet, HeldOut, chunk_weight_sum, prepare_chunk
from .._layout import Layout
from .._network import Network
from .._rows import data_bytes
from .input import aligned_copy
from .split import split_rows


@dataclass
class Spec:
    """Everything a worker needs to turn its chunks into chunk sets.

    The split's fields first (known before any actor: the validation pass
    reads them); the network's are set when the actors are built.
    """

    targets: object  # the fitted target strategy, with its class weights
    dtype: np.dtype
    sparse: bool  # whether X's chunks are scipy sparse matrices
    # Chunk index -> the rows it holds out for early stopping: a count, or
    # one count per class (a stratified split); None without early stopping.
    held_out: dict | None
    validation_seed: int
    layer_sizes: tuple | None = None
    activation: str | None = None
    curvature: str | None = None


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
        self.weight_sum = chunk_weight_sum(s, self.n_rows)
        self.Y = spec.targets.encode(y) if self.n_rows else None

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

    Its chunks' training rows (:func:`~skmlp._dask.split.split_rows`) become
    a chunk set (:mod:`skmlp._chunks`), prepared by the same code as the
    in-memory chunks, with the rows they hold out; :meth:`terms` runs a task
    of it and returns one term per chunk, which the client adds in chunk
    order. The actor makes no kernel call of its own.
    """

    def __init__(self, spec, chunks, sources=None, sum_weights=None):
        sources = sources or {}
        self.spec = spec
        self.parts = [
            _Part(spec, chunk, sources.get(chunk.index))
            for chunk in sorted(chunks, key=lambda chunk: chunk.index)
        ]
        self.chunk_set = None
        if sum_weights is not None:
            self.set_sum_weights(sum_weights)

    def weight_sums(self):
        """``[(chunk index, training weight sum, training rows, validation rows)]``."""
        return [(p.index, p.weight_sum, p.n_rows, p.n_val) for p in self.parts]

    def set_sum_weights(self, sum_weights):
        """Prepare the chunk set, normalized by the whole data's weight sum ``S``."""
        spec = self.spec
        layout = Layout(spec.layer_sizes)
        network = Network(layout, spec.activation, spec.targets.loss(), spec.dtype)
        keep = spec.curvature is not None
        chunks, held_out = [], []
        for part in self.parts:
            streamed = part.source is not None
            if part.n_rows:
                w = part.sample_weight / float(sum_weights)
                source = part.features if streamed else None
                chunks.append(
                    prepare_chunk(
                        network, part.index, part.X, part.Y, w, keep_store=keep, source=source
                    )
                )
            if part.n_val:
                source = part.features if streamed else None
                held_out.append(HeldOut(part.index, part.X_val, part.y_val, part.w_val, source))
        self.chunk_set = ChunkSet(
            network, chunks, held_out, spec.targets, spec.curvature, not spec.sparse, sum_weights
        )
        return True

    def terms(self, task, *args):
        """``[(chunk index, scalar, vector)]``: the chunk set's `task` on each chunk."""
        with blas_limiter.limited(), np.errstate(all="ignore"):
            return self.chunk_set.run_serially(task, *args)

    def held_out_rows(self):
        """``[(chunk index, chunk-local positions of its held-out rows)]`` (for tests)."""
        return [(p.index, p.val) for p in self.parts]

    def stats(self):
        """Resident bytes of X on this worker and chunks read from source."""
        resident = sum(data_bytes(X) for p in self.parts for X in (p.X, p.X_val) if X is not None)
        n_reads = 0 if self.chunk_set is None else self.chunk_set.n_reads
        return {"resident_X_bytes": resident, "n_reads": n_reads, "chunks": len(self.parts)}
