r"""The engine: forward pass, loss and backprop gradient in one pass.

For a network with parameter vector :math:`\theta` (weights :math:`W_l`,
intercepts :math:`b_l`), sample weights :math:`s_i` and
:math:`S = \sum_i s_i`, the objective is the course's cost J generalized::

    J(theta) = 1/S * sum_i s_i * loss(a_i, y_i) + alpha / (2 S) * sum_l ||W_l||^2

with ``a_i`` the output logits and ``loss`` either the summed binary
cross-entropy of one sigmoid per output ("logistic", the course's cost) or
the multinomial cross-entropy ("softmax"). Both are computed from the logits
(``logaddexp`` / ``logsumexp`` forms), so no ``log(0)`` and no overflow for
finite inputs. Their gradient with respect to the logits is ``p - y`` in both
cases, which backpropagation carries down the layers::

    delta_L = s / S * (p - y)
    dJ/dW_l = Z_{l-1}^T delta_l + alpha / S * W_l,    dJ/db_l = sum_i delta_l
    delta_{l-1} = (delta_l W_l^T) * f'(Z_{l-1})

The data are split into row chunks evaluated with preallocated buffers,
possibly in parallel threads (numpy releases the GIL inside BLAS), and the
per-chunk results are summed in chunk order, so the result depends on
`batch_size` but never on the number of threads.
"""

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_softmax

from ._activations import ACTIVATIONS, DERIVATIVES

# Rows per chunk when `batch_size` is None: large enough that the per-chunk
# Python overhead is negligible, small enough to bound the buffers' memory.
AUTO_MAX_ROWS = 4096
# Below this many rows a single chunk beats any threading.
AUTO_MIN_ROWS_TO_SPLIT = 1024


def available_cpus():
    """Number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def chunk_bounds(n_samples, batch_size=None, n_threads=1):
    """Row ranges ``[(start, stop), ...]`` covering ``range(n_samples)``."""
    if batch_size is None:
        if n_samples < AUTO_MIN_ROWS_TO_SPLIT:
            n_chunks = 1
        else:
            n_chunks = max(-(-n_samples // AUTO_MAX_ROWS), n_threads)
            n_chunks = -(-n_chunks // n_threads) * n_threads
        batch_size = -(-n_samples // n_chunks)
    batch_size = max(1, int(batch_size))
    starts = range(0, n_samples, batch_size)
    return [(a, min(a + batch_size, n_samples)) for a in starts]


def forward_logits(layout, theta, X, activation):
    """Output logits for `X`, shape ``(n_samples, n_outputs)`` (allocates)."""
    coefs, intercepts = layout.coefs(theta), layout.intercepts(theta)
    dtype = X.dtype if X.dtype == np.float32 else np.float64
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = A @ W.astype(dtype, copy=False)
        Z += b.astype(dtype, copy=False)
        if i < len(coefs) - 1:
            ACTIVATIONS[activation](Z)
        A = Z
    return np.asarray(A)


def log_proba_from_logits(logits, out_activation):
    """Log class probabilities from the output logits.

    One logistic output (binary) gives two columns; several logistic outputs
    (one sigmoid per class) are normalized so that rows sum to one.
    """
    if logits.shape[1] == 1:
        return np.hstack([log_expit(-logits), log_expit(logits)])
    if out_activation == "softmax":
        return log_softmax(logits, axis=1)
    return log_softmax(log_expit(logits), axis=1)


class _Workspace:
    """Buffers for one chunk at a time: activations, deltas, loss terms."""

    def __init__(self, layer_sizes, n_rows, dtype):
        self.Z = [np.empty((n_rows, size), dtype) for size in layer_sizes[1:]]
        self.D = [np.empty((n_rows, size), dtype) for size in layer_sizes[1:]]
        self.T = np.empty((n_rows, layer_sizes[-1]), dtype)


class Objective:
    """J and its gradient on fixed data, as a pure function of theta.

    Parameters
    ----------
    layout : Layout
        Layer sizes and the positions of the parameters in theta.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        float32 data are evaluated in float32, anything else in float64.
        Never written to.
    Y : ndarray of shape (n_samples, n_outputs)
        Binary targets, one column per output unit.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum.
    activation : {'logistic', 'tanh', 'relu', 'identity'}
        Hidden-unit activation.
    out_activation : {'logistic', 'softmax'}
        Output units and loss.
    alpha : float
        L2 penalty on the weights (not the intercepts).
    batch_size : int or None
        Rows per chunk; None chooses one from the data size and threads.
    n_threads : int or None
        Threads evaluating chunks; None uses the available CPUs.
    """

    def __init__(
        self,
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
    ):
        n_samples = X.shape[0]
        self.layout = layout
        self.activation = activation
        self.out_activation = out_activation
        self.dtype = np.float32 if X.dtype == np.float32 else np.float64
        if sample_weight is None:
            sample_weight = np.ones(n_samples)
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        self.sum_weights = float(sample_weight.sum())
        self.alpha = float(alpha)

        n_threads = available_cpus() if n_threads is None else int(n_threads)
        self.bounds = chunk_bounds(n_samples, batch_size, n_threads)
        self.n_threads = max(1, min(n_threads, len(self.bounds)))
        sparse = sp.issparse(X)
        self._sparse = sparse
        if sparse:
            X = sp.csr_matrix(X)
        self._X = [X[a:b] for a, b in self.bounds]
        Y = np.asarray(Y, dtype=self.dtype)
        self._Y = [Y[a:b] for a, b in self.bounds]
        w = sample_weight / self.sum_weights
        self._w64 = [w[a:b] for a, b in self.bounds]
        self._w = [w[a:b, None].astype(self.dtype) for a, b in self.bounds]

        max_rows = max(b - a for a, b in self.bounds)
        self._workspaces = [
            _Workspace(layout.layer_sizes, max_rows, self.dtype) for _ in range(self.n_threads)
        ]
        # The parameters in the working dtype, and one gradient per chunk.
        self._theta = np.empty(layout.n_params, self.dtype)
        self._coefs = layout.coefs(self._theta)
        self._intercepts = layout.intercepts(self._theta)
        self._grads = np.empty((len(self.bounds), layout.n_params), self.dtype)
        self._grad_views = [(layout.coefs(g), layout.intercepts(g)) for g in self._grads]
        self._losses = np.empty(len(self.bounds))
        self._executor = None
        if self.n_threads > 1:
            self._executor = ThreadPoolExecutor(self.n_threads - 1)
        self.n_evaluations = 0

    def close(self):
        """Stop the worker threads and drop the data."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        self._X = self._Y = self._w = self._w64 = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def penalty(self, theta):
        """The L2 term alpha / (2 S) * sum of squared weights."""
        weights = theta[: self.layout.n_coefs]
        return 0.5 * self.alpha / self.sum_weights * float(weights @ weights)

    def loss(self, theta):
        """J(theta) only (still computes the gradient)."""
        return self.loss_and_grad(theta)[0]

    def loss_and_grad(self, theta):
        """J(theta) and dJ/dtheta (a new float64 vector)."""
        self._theta[...] = theta
        self._run(self._chunk_loss_and_grad)
        n_coefs = self.layout.n_coefs
        loss = float(self._losses.sum()) + self.penalty(theta)
        grad = self._grads.sum(axis=0, dtype=np.float64)
        grad[:n_coefs] += (self.alpha / self.sum_weights) * theta[:n_coefs]
        self.n_evaluations += 1
        return loss, grad

    def _run(self, chunk_fn):
        """Evaluate every chunk; threads pull chunk indices from one counter."""
        n_chunks = len(self.bounds)
        if self._executor is None:
            ws = self._workspaces[0]
            for c in range(n_chunks):
                chunk_fn(c, ws)
            return
        counter = itertools.count()

        def work(ws):
            for c in iter(counter.__next__, None):
                if c >= n_chunks:
                    return
                chunk_fn(c, ws)

        futures = [self._executor.submit(work, ws) for ws in self._workspaces[1:]]
        work(self._workspaces[0])
        for f in futures:
            f.result()

    def _forward(self, c, ws):
        """Fill ws.Z with the activations of chunk c; return the logits."""
        Xc = self._X[c]
        m = Xc.shape[0]
        A = Xc
        last = len(self._coefs) - 1
        for i, (W, b) in enumerate(zip(self._coefs, self._intercepts)):
            Z = ws.Z[i][:m]
            if i == 0 and self._sparse:
                Z[...] = Xc @ W
            else:
                np.matmul(A, W, out=Z)
            Z += b
            if i < last:
                ACTIVATIONS[self.activation](Z)
            A = Z
        return A

    def _chunk_loss_and_grad(self, c, ws):
        logits = self._forward(c, ws)
        m = logits.shape[0]
        Yc = self._Y[c]
        T = ws.T[:m]
        G = ws.D[-1][:m]
        # G = p - y and T = per-output loss, both from the logits.
        if self.out_activation == "softmax" and logits.shape[1] > 1:
            np.subtract(logits, logits.max(axis=1, keepdims=True), out=T)
            np.exp(T, out=G)
            norm = G.sum(axis=1, keepdims=True)
            G /= norm
            np.log(norm, out=norm)
            T -= norm  # log softmax
            T *= Yc
            np.negative(T, out=T)
        else:
            np.logaddexp(0, logits, out=T)
            np.multiply(Yc, logits, out=G)
            T -= G
            expit(logits, out=G)
        G -= Yc
        self._losses[c] = self._w64[c] @ T.sum(axis=1, dtype=np.float64)
        G *= self._w[c]
        self._backward(c, ws, G)

    def _backward(self, c, ws, D):
        """Gradient of chunk c into its slot, from the output deltas D."""
        Xc = self._X[c]
        m = D.shape[0]
        grad_coefs, grad_intercepts = self._grad_views[c]
        for i in range(len(self._coefs) - 1, -1, -1):
            if i == 0 and self._sparse:
                grad_coefs[0][...] = Xc.T @ D
            else:
                A = Xc if i == 0 else ws.Z[i - 1][:m]
                np.matmul(A.T, D, out=grad_coefs[i])
            D.sum(axis=0, out=grad_intercepts[i])
            if i > 0:
                D_prev = ws.D[i - 1][:m]
                np.matmul(D, self._coefs[i].T, out=D_prev)
                DERIVATIVES[self.activation](ws.Z[i - 1][:m], D_prev)
                D = D_prev
