"""Prediction in row chunks: the kernel's forward pass, an output per chunk, threads.

The rows are cut on the fixed grid of :func:`~skmlp._executor.prediction_batch_size`
(a function of the network's widths only); each chunk's forward pass
(:meth:`~skmlp._network.Network.forward`) runs in a thread's preallocated
workspace, and a `transform` writes what is asked of the chunk's logits
(logits, log-probabilities, probabilities, labels) into its rows of a
preallocated output. The extra memory is the threads' workspaces,
``O(batch x widest layer)`` each, plus the transform's temporaries of the
chunk's ``batch x n_outputs``; dense X is only read, never copied.

Every chunk runs with BLAS on one thread (:func:`~skmlp._executor.map_chunks`)
and is computed alike on any thread, so the result is identical, bit for bit,
for any number of threads and any ``n_jobs``. It is not always bit-identical
to one product over all rows at once: OpenBLAS's gemm rounds a row
differently with its place in its own blocking, which also makes the
all-at-once product differ between BLAS thread counts by a few ulps
(docs/user_guide/performance.rst, "Prediction chunks").
"""

import numpy as np
import scipy.sparse as sp

from ._executor import map_chunks, prediction_batch_size, prediction_threads
from ._network import Network, forward_row_bytes, row_work


def working_dtype(X):
    """float32 data are evaluated in float32, anything else in float64."""
    return np.dtype(np.float32 if X.dtype == np.float32 else np.float64)


def chunk_row_bytes(layer_sizes, itemsize=8):
    """A thread's bytes per chunk row: forward buffers, the transform's temporaries."""
    # log_proba: the logits made contiguous, log_expit, log_softmax's three.
    return forward_row_bytes(layer_sizes, itemsize) + 6 * itemsize * layer_sizes[-1]


def predict_chunks(layout, theta, X, activation, transform, out, n_jobs=None, assert_finite=None):
    """Forward `X` chunk by chunk: ``transform(logits_t, out[start:stop])`` per chunk.

    Parameters
    ----------
    layout : Layout
        Layer sizes and the positions of the parameters in theta.
    theta : ndarray of shape (n_params,)
        The parameters.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The rows. CSC is converted to CSR once (slicing CSC rows scans every
        column, so per-chunk slices would cost the whole matrix each).
    activation : str
        Hidden-unit activation.
    transform : callable
        ``transform(logits_t, out_rows)`` with the chunk's logits transposed,
        ``(n_outputs, rows)`` in the thread's buffer (it may overwrite them),
        and the chunk's rows of `out`. Runs on the chunk threads, under the
        caller's numpy error state.
    out : ndarray of shape (n_samples, ...)
        The output, written by `transform`.
    n_jobs : int or None, default=None
        Threads for large inputs (:func:`~skmlp._executor.prediction_threads`).
    assert_finite : callable, optional
        For X not yet checked for NaN and infinity: ``assert_finite(X)``
        raises if X is not finite. Called only if some chunk's first-layer
        pre-activation ``X W_1 + b_1`` is not finite (a NaN or infinity in a
        row makes its pre-activation non-finite; huge finite values may
        too), or up front if a feature has all-zero weights (``NaN * 0``
        may be skipped by a BLAS); saves a whole pass over X. Such chunks
        skip `transform`.

    Returns
    -------
    out : ndarray
    """
    n_samples = X.shape[0]
    if n_samples == 0:
        return out
    dtype = working_dtype(X)
    network = Network(layout, activation, dtype=dtype)
    network.set_params(theta)
    dense = not sp.issparse(X)
    if not dense and X.format != "csr":
        X = X.tocsr()
    sizes = layout.layer_sizes
    work = row_work(sizes)
    batch = prediction_batch_size(n_samples, chunk_row_bytes(sizes, dtype.itemsize), work)
    starts = range(0, n_samples, batch)
    n_threads = prediction_threads(n_jobs, n_samples * work, len(starts))
    errors = np.geterr()  # threads start from numpy's default error state
    if assert_finite is not None and not np.all(np.any(network.coefs[0], axis=1)):
        assert_finite(X)
        assert_finite = None
    unchecked = []  # chunks whose first layer was not finite

    def chunk(c, workspace, inspect=assert_finite is not None):
        start = starts[c]
        stop = min(start + batch, n_samples)
        block = network.block(X[start:stop])
        finite = [True]

        def inspect_first(A):
            finite[0] = np.isfinite(A.sum())

        # Finite but huge inputs may overflow to infinite logits, which the
        # probabilities handle; numpy's overflow warning would only leak.
        with np.errstate(over="ignore", invalid="ignore"):
            logits_t = network.forward(block, *workspace, inspect_first if inspect else None)
        if not finite[0]:
            unchecked.append(c)
            return
        with np.errstate(**errors):
            transform(logits_t, out[start:stop])

    def make_workspace():
        return network.forward_workspace(batch, dense)

    map_chunks(chunk, len(starts), make_workspace, n_threads)
    if unchecked:
        assert_finite(X)  # raises for NaN or infinity; else huge finite values
        redo = sorted(unchecked)
        map_chunks(
            lambda i, workspace: chunk(redo[i], workspace, False), len(redo), make_workspace
        )
    return out
