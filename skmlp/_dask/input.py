"""Dask input: row-chunked arrays, chunks validated and held as the kernel reads them.

X is a dask array (chunked by rows; its columns rechunked into one block;
its chunks numpy arrays or scipy CSR/CSC matrices, held as canonical CSR) or
a dask DataFrame; y and sample_weight (dask or numpy) are aligned to X's row
chunks. Each chunk is validated on its worker with scikit-learn's own checks
(an error names the chunk) and summarized for the client.
"""

import math
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import _check_sample_weight, check_array, check_consistent_length

from .._chunks import chunk_weight_sum
from .._problem import ACCEPT_SPARSE, DTYPES


def feature_meta(X):
    """A zero-row stand-in for X with its columns: for scikit-learn's checks."""
    meta = getattr(X, "_meta", None)
    if meta is not None and hasattr(meta, "columns"):
        return meta
    return np.empty((0, X.shape[1]) if X.ndim == 2 else X.shape)


def numpy_dtypes(frame):
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
        X = numpy_dtypes(X).to_dask_array(lengths=True)
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
        v = numpy_dtypes(v).to_dask_array(lengths=True)  # a dask Series or DataFrame
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
# array starts relative to a 64-byte boundary (docs/user_guide/dask.rst), so
# every block the kernel reads starts BLOCK_OFFSET bytes past
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


def check_chunk(X, y, sample_weight, index, start, dtype, keep_X, targets):
    """Validate one chunk as the in-memory fit validates the whole data."""
    stop = start + X.shape[0]
    try:
        # The finiteness check's sum may overflow near the float maximum
        # (the values are still checked element-wise).
        with np.errstate(over="ignore", invalid="ignore"):
            X = check_array(
                X, accept_sparse=ACCEPT_SPARSE, dtype=DTYPES, ensure_min_samples=0, input_name="X"
            )
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        y = targets.check(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
    except (ValueError, TypeError) as error:
        raise _in_chunk(error, index, start, stop) from error
    X = working_block(X, dtype) if keep_X else None
    return Chunk(index, start, len(y), X, y, sample_weight)


def summarize(chunk, targets):
    """What the client needs from a chunk: its rows, weight sum and targets' summary.

    ``{"n_rows", "weight"}`` and the target strategy's
    :meth:`~skmlp._targets.ClassTargets.summarize` of the chunk's targets.
    """
    summary = {
        "n_rows": chunk.n_rows,
        "weight": chunk_weight_sum(chunk.sample_weight, chunk.n_rows),
    }
    return {**summary, **targets.summarize(chunk.y)}


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
