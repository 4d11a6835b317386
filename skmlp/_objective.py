r"""The objective J and its gradient: kernel + loss + L2 penalty + data + executor.

For a network with parameter vector :math:`\theta` (weights :math:`W_l`,
intercepts :math:`b_l`), sample weights :math:`s_i` and
:math:`S = \sum_i s_i`, the objective is the course's cost J generalized::

    J(theta) = 1/S * sum_i s_i * loss(a_i, y_i) + alpha / (2 S) * sum_l ||W_l||^2

with ``a_i`` the output logits and ``loss`` either the summed binary
cross-entropy of one sigmoid per output ("logistic", the course's cost) or
the multinomial cross-entropy ("softmax"). Both are computed from the logits,
so no ``log(0)`` and no overflow for finite inputs. Their gradient with
respect to the logits is ``p - y`` in both cases, which backpropagation
carries down the layers::

    delta_L = s / S * (p - y)
    dJ/dW_l = Z_{l-1}^T delta_l + alpha / S * W_l,    dJ/db_l = sum_i delta_l
    delta_{l-1} = (delta_l W_l^T) * f'(Z_{l-1})

The losses, their deltas and the numerics that keep them exact in float32
are in :mod:`skmlp._losses`; the passes in :mod:`skmlp._network`.

Composition. The objective holds the data cut into chunks (each a
:class:`~skmlp._network.FirstLayer` block with its encoded targets and
weights) and hands one function per evaluation to the executor
(:mod:`skmlp._executor`), which runs the network kernel (:mod:`skmlp._network`)
with the loss (:mod:`skmlp._losses`) on every chunk and adds the chunks'
losses and gradients in chunk order; the penalty is added here. Each thread's
workspace (activations, deltas, scratch, preallocated for the largest chunk)
is reused for every chunk, so an evaluation allocates nothing that grows with
``n_samples`` and the extra memory per thread is ``O(batch_size x widest
layer)`` plus, for dense data, the first layer's gradient in the transposed
layout (``n_features x`` first hidden width); dense X is only read, never
copied. The result depends on `batch_size` but never on the number of
threads.
"""

import numpy as np
import scipy.sparse as sp

from ._executor import ThreadExecutor, balanced_batch_size, chunk_bounds
from ._losses import get_loss
from ._network import Network, row_work, workspace_row_bytes


def auto_batch_size(n_samples, layer_sizes, itemsize=8):
    """Rows per chunk when `batch_size` is None (see :func:`~skmlp._executor.balanced_batch_size`).

    Depends on the data's shape only, never on the number of threads or
    CPUs, so a fit gives the same result on any machine.
    """
    row_bytes = workspace_row_bytes(layer_sizes, itemsize)
    return balanced_batch_size(n_samples, row_bytes, row_work(layer_sizes))


class L2Penalty:
    """The L2 term ``alpha / (2 S) * sum of squared weights`` (intercepts excluded).

    Called on theta it gives the term; :meth:`add_gradient` adds its gradient
    (or its Hessian times a direction: the same linear map).
    """

    def __init__(self, layout, alpha, sum_weights):
        self.n_coefs = layout.n_coefs
        self.alpha = float(alpha)
        self.sum_weights = float(sum_weights)

    def __call__(self, theta):
        weights = theta[: self.n_coefs]
        return 0.5 * self.alpha / self.sum_weights * float(weights @ weights)

    def add_gradient(self, vector, theta):
        """Add ``alpha / S * W`` (the weights of `theta`, or of a direction) to `vector`."""
        vector[: self.n_coefs] += (self.alpha / self.sum_weights) * theta[: self.n_coefs]


class Objective:
    """J and its gradient on fixed data, as a pure function of theta.

    Parameters
    ----------
    layout : Layout
        Layer sizes and the positions of the parameters in theta.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        float32 data are evaluated in float32 (the loss and gradient are
        still accumulated and returned in float64), anything else in
        float64. Never written to; dense data are not copied.
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
        Rows per chunk; None picks one from the data's shape
        (:func:`auto_batch_size`). The result depends on it only by rounding.
    n_threads : int or None
        Threads evaluating chunks, the caller's included. None: the
        effective CPUs (at most 8; see
        :func:`~skmlp._executor.effective_n_threads`), but each evaluation
        runs either on all of them or on the calling thread alone, whichever
        has lately been faster. The result does not depend on it.
    keep_activations : bool, default=False
        Keep every chunk's activations, deltas and logits after an
        evaluation (``stores``) for curvature products at the same theta;
        memory proportional to ``n_samples x`` the sum of the layer widths.

    Attributes
    ----------
    network : Network
        The kernel (with the loss).
    executor : ThreadExecutor
        Runs the kernel over the chunks.
    blocks, targets, weights : list
        Per chunk: the rows (:class:`~skmlp._network.FirstLayer`), the
        encoded targets (n_outputs, rows) and the normalized weights.

    Notes
    -----
    Use it as a context manager (or call :meth:`close`) to stop the worker
    threads and drop the references to the data. Inside the ``with`` block
    BLAS stays limited to one thread, between evaluations too.
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
        keep_activations=False,
    ):
        n_samples = X.shape[0]
        self.layout = layout
        self.activation = activation
        self.out_activation = out_activation
        self.dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        self.alpha = float(alpha)
        if sample_weight is None:
            sample_weight = np.ones(n_samples)
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        self.sum_weights = float(sample_weight.sum())
        self.penalty = L2Penalty(layout, self.alpha, self.sum_weights)
        Y = np.asarray(Y)
        self.loss_function = get_loss(out_activation, Y.shape[1])
        self.network = Network(layout, activation, self.loss_function, self.dtype)

        if batch_size is None:
            batch_size = auto_batch_size(n_samples, layout.layer_sizes, self.dtype.itemsize)
        self.batch_size = int(batch_size)
        self.bounds = chunk_bounds(n_samples, self.batch_size)
        sparse = sp.issparse(X)
        if sparse:
            # Row slices of a CSR matrix are copies (of the chunk's nonzeros
            # only); made once here, not per evaluation.
            X = sp.csr_matrix(X)
        else:
            X = np.asarray(X)
            if not (X.flags.c_contiguous or X.flags.f_contiguous):
                X = np.ascontiguousarray(X)  # BLAS needs one unit stride
        self.blocks = [self.network.block(X[a:b]) for a, b in self.bounds]

        # Per-row data in the working dtype: normalized weights w = s / S and
        # the loss's encoded targets, per chunk and transposed (outputs x
        # rows) as the output layer's buffers, written straight into the
        # working dtype: no temporaries.
        w = sample_weight / self.sum_weights
        self.targets = []
        for a, b in self.bounds:
            target = np.empty((Y.shape[1], b - a), self.dtype)
            self.loss_function.encode(Y[a:b], w[a:b], target)
            self.targets.append(target)
        w = w.astype(self.dtype)
        self.weights = [w[a:b] for a, b in self.bounds]

        self.stores = None
        if keep_activations:
            # Only what the curvature products read: no scratch per chunk.
            self.stores = [self.network.activations(b - a) for a, b in self.bounds]
        max_rows = max(b - a for a, b in self.bounds)
        self.executor = ThreadExecutor(
            len(self.bounds),
            lambda: self.network.workspace(max_rows, dense=not sparse),
            self.network.gradient,
            n_threads,
        )
        self.n_threads = self.executor.n_threads
        self.n_evaluations = 0

    @property
    def n_threaded_evaluations(self):
        """Evaluations that used the worker threads."""
        return self.executor.n_threaded

    def close(self):
        """Stop the worker threads, drop the data, restore BLAS's threads."""
        self.executor.close()
        self.blocks = self.targets = self.weights = self.stores = None

    def __enter__(self):
        self.executor.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def loss(self, theta):
        """J(theta) only (still computes the gradient)."""
        return self.loss_and_grad(theta)[0]

    def loss_and_grad(self, theta):
        """J(theta) and dJ/dtheta (a new float64 vector)."""
        theta = np.asarray(theta, dtype=np.float64)
        self.network.set_params(theta)
        data_loss, total = self.executor.reduce(self._chunk_loss_and_grad)
        loss = data_loss + self.penalty(theta)
        grad = total.copy()
        self.penalty.add_gradient(grad, theta)
        self.n_evaluations += 1
        return loss, grad

    def _chunk_loss_and_grad(self, c, ws, slot):
        block = self.blocks[c]
        if self.stores is None:
            acts, loss_logits = ws.acts, None
        else:  # the chunk's own store, so that the pass survives for hessp
            acts, loss_logits = self.stores[c], ws.acts.logits_t(block.n_rows)
        return self.network.loss_and_grad(
            block, self.targets[c], self.weights[c], acts, ws.work, slot, loss_logits
        )
