r"""The network kernel: the passes over ONE block of rows, into given buffers.

With ``a_l = Z_{l-1} W_l + b_l``, ``Z_l = f(a_l)``, ``Z_0 = X`` and the output
delta ``d_L = w (dloss / da_L)`` from the loss (:mod:`skmlp._losses`),
backpropagation gives the block's gradient::

    dJ/dW_l = Z_{l-1}^T d_l,    dJ/db_l = sum_i d_l
    d_{l-1} = (d_l W_l^T) * f'(a_{l-1})

and Pearlmutter's R-operator of both passes the curvature products (the
formulas are in :mod:`skmlp._curvature`). The kernel knows nothing of chunks,
threads or the L2 penalty: :mod:`skmlp._executor` runs it over the chunks and
:mod:`skmlp._objective` adds the penalty.

Buffers. A pass writes into an :class:`Activations` (what the backward and
curvature passes read again: hidden activations ``Z``, their deltas ``D``, the
output logits and deltas) and uses a :class:`Scratch` (temporaries), both
preallocated for a number of rows, so a pass allocates nothing that grows with
the rows (the curvature products' output step excepted). Every layer is kept
transposed, one row per unit (``Z^T``, ``D^T``, the logits ``a_L^T``): each
product then writes its result in place, the biases are added along
contiguous rows, the softmax reduces along contiguous rows, and the first
layer's products take their faster orientation (``W^T X^T``, ``D^T X``).

A logistic layer's weights and biases are negated once per evaluation
(:meth:`Network.set_params`), so that its forward product is ``-a`` and the
sigmoid ``1 / (1 + exp(-a))`` needs no negation pass
(:data:`skmlp._activations.NEGATED`).

The first layer's products are the only ones that touch the data: dense or
sparse, each in its faster orientation, they live in one adapter,
:class:`FirstLayer`.
"""

import itertools

import numpy as np
import scipy.sparse as sp

from ._activations import ACTIVATIONS, DERIVATIVES, NEGATED, second_derivative


def workspace_row_bytes(layer_sizes, itemsize=8):
    """Bytes of one thread's buffers (activations and scratch) per row of a block."""
    units = layer_sizes[1:]
    return itemsize * (2 * sum(units) + max(units) + max(units[:-1], default=0) + 3)


def forward_row_bytes(layer_sizes, itemsize=8):
    """Bytes of one thread's forward-only buffers (:meth:`Network.forward_workspace`) per row."""
    units = layer_sizes[1:]
    return itemsize * (sum(units) + max(units[:-1], default=0))


def row_work(layer_sizes):
    """Multiply-adds of a forward pass per row."""
    return sum(a * b for a, b in itertools.pairwise(layer_sizes))


class FirstLayer:
    """One block of input rows and the first layer's products with it.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_rows, n_features)
        The block, in the working dtype; only read.

    Notes
    -----
    Dense blocks compute ``X W`` as ``(W^T X^T)^T`` (OpenBLAS's dgemm is
    faster with the long dimension as M, and the transposed layout needs no
    copy) and the gradient ``X^T D`` as ``(D^T X)^T``, each product in its
    faster orientation (docs/user_guide/performance.rst); sparse blocks use
    scipy's products.
    """

    def __init__(self, X):
        self.X = X
        self.n_rows = X.shape[0]
        self.sparse = sp.issparse(X)

    def forward_t(self, W, out_t, b=None):
        """``out_t = (X W + b)^T`` (units x rows); no bias if `b` is None."""
        if self.sparse:
            out_t[...] = (self.X @ W).T
        else:
            np.matmul(W.T, self.X.T, out=out_t)
        if b is not None:
            out_t += b[:, None]

    def gradient(self, delta_t, out, work):
        """``out = X^T D`` from the deltas transposed, ``delta_t = D^T``."""
        if self.sparse:
            out[...] = self.X.T @ delta_t.T
        else:
            np.matmul(delta_t, self.X, out=work.grad_first_t)
            np.copyto(out, work.grad_first_t.T)


class Activations:
    """What a forward/backward pass keeps for a block of up to `n_rows` rows.

    The activations of hidden layer ``l + 1`` and their deltas, and the output
    layer's logits and deltas, all transposed, one row per unit: for an m-row
    block the contiguous ``(units, m)`` arrays :meth:`z_t`, :meth:`d_t`,
    :meth:`logits_t` and :meth:`delta_t`.

    Parameters
    ----------
    layer_sizes : tuple of int
        Units per layer, input first.
    n_rows : int
        Rows of the largest block.
    dtype : numpy dtype
        The working dtype.
    deltas : bool, default=True
        False: no deltas, for forward passes only.
    """

    def __init__(self, layer_sizes, n_rows, dtype, deltas=True):
        sizes = layer_sizes[1:]
        self.n_outputs = sizes[-1]
        self.hidden = sizes[:-1]
        n_deltas = n_rows if deltas else 0
        self.Z = [np.empty(size * n_rows, dtype) for size in self.hidden]
        self.D = [np.empty(size * n_deltas, dtype) for size in self.hidden]
        self.logits = np.empty(sizes[-1] * n_rows, dtype)
        self.deltas = np.empty(sizes[-1] * n_deltas, dtype)

    @property
    def nbytes(self):
        """Bytes of the buffers."""
        return sum(a.nbytes for a in [*self.Z, *self.D, self.logits, self.deltas])

    def z_t(self, layer, m):
        """The contiguous ``(units, m)`` activations of hidden layer ``layer + 1``."""
        return self.Z[layer][: m * self.hidden[layer]].reshape(-1, m)

    def d_t(self, layer, m):
        """The contiguous ``(units, m)`` deltas of hidden layer ``layer + 1``."""
        return self.D[layer][: m * self.hidden[layer]].reshape(-1, m)

    def logits_t(self, m):
        """The contiguous ``(n_outputs, m)`` logits of an m-row block."""
        return self.logits[: m * self.n_outputs].reshape(-1, m)

    def delta_t(self, m):
        """The contiguous ``(n_outputs, m)`` output deltas of an m-row block."""
        return self.deltas[: m * self.n_outputs].reshape(-1, m)


class Scratch:
    """One thread's temporaries for a block of up to `n_rows` rows.

    A scratch array as wide as the widest layer, the hidden layers'
    pre-activations (as wide as the widest hidden layer), two per-row
    vectors, ones, a per-output vector, and for dense data the first layer's
    gradient in the transposed layout (see :class:`FirstLayer`). Nothing in
    it outlives a pass.

    Parameters
    ----------
    layer_sizes : tuple of int
        Units per layer, input first.
    n_rows : int
        Rows of the largest block.
    dtype : numpy dtype
        The working dtype.
    dense : bool, default=True
        Whether the data are dense (the transposed first-layer buffers).
    forward_only : bool, default=False
        Only what :meth:`Network.forward` uses.
    """

    def __init__(self, layer_sizes, n_rows, dtype, dense=True, forward_only=False):
        n_features, sizes = layer_sizes[0], layer_sizes[1:]
        self._pre = np.empty(max(sizes[:-1], default=0) * n_rows, dtype)
        if dense:
            self.grad_first_t = np.empty((sizes[0], 0 if forward_only else n_features), dtype)
        n_work = 0 if forward_only else n_rows
        self._scratch = np.empty(n_work * max(sizes), dtype)
        self.rows = np.empty((2, n_work), dtype)
        self.ones = np.ones(max(n_rows, sizes[-1]), dtype)
        self.out = np.empty(sizes[-1], dtype)

    @property
    def nbytes(self):
        """Bytes of the buffers."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    def scratch(self, n, width):
        """A contiguous ``(n, width)`` scratch array (``n * width`` within the widest layer's)."""
        return self._scratch[: n * width].reshape(n, width)

    def pre(self, units, m):
        """A contiguous ``(units, m)`` array for a hidden layer's pre-activations."""
        return self._pre[: units * m].reshape(units, m)


class Workspace:
    """A thread's buffers: its :class:`Activations` and :class:`Scratch`."""

    def __init__(self, layer_sizes, n_rows, dtype, dense=True):
        self.acts = Activations(layer_sizes, n_rows, dtype)
        self.work = Scratch(layer_sizes, n_rows, dtype, dense)

    @property
    def nbytes(self):
        """Bytes of the buffers."""
        return self.acts.nbytes + self.work.nbytes


class Gradient:
    """A parameter-shaped vector with views of its layers (a block's result).

    Parameters
    ----------
    layout : Layout
        Where the layers are in the vector.
    dtype : numpy dtype, default=np.float64
        Of a new vector.
    vector : ndarray of shape (n_params,), optional
        A vector to wrap instead of a new one (not copied).
    """

    def __init__(self, layout, dtype=np.float64, vector=None):
        self.vector = np.empty(layout.n_params, dtype) if vector is None else vector
        self.coefs = layout.coefs(self.vector)
        self.intercepts = layout.intercepts(self.vector)


class Network:
    """The passes of a network over one block of rows.

    Parameters
    ----------
    layout : Layout
        Layer sizes and the positions of the parameters in theta.
    activation : {'logistic', 'tanh', 'relu', 'identity'}
        Hidden-unit activation.
    loss : LogisticLoss or SoftmaxLoss or None
        The output loss (:mod:`skmlp._losses`); None for forward passes only.
    dtype : numpy dtype
        The working dtype of the passes (float32 or float64).

    Notes
    -----
    :meth:`set_params` copies theta into the working dtype once per
    evaluation; every pass reads that copy (``coefs``, ``intercepts``), the
    forward pass its hidden layers negated for an activation of
    :data:`~skmlp._activations.NEGATED`. The passes write only into the
    buffers they are given, so any number of threads may run them at once
    on different buffers.
    """

    def __init__(self, layout, activation, loss=None, dtype=np.float64):
        self.layout = layout
        self.activation = activation
        self.loss = loss
        self.dtype = np.dtype(dtype)
        self._activate = ACTIVATIONS[activation]
        self._derivative = DERIVATIVES[activation]
        self.theta = np.empty(layout.n_params, self.dtype)
        self.coefs = layout.coefs(self.theta)
        self.intercepts = layout.intercepts(self.theta)
        # The forward pass's layers: the hidden ones negated (from their own
        # copy of theta) if the activation takes -a, the output layer as is.
        self._negated = np.empty_like(self.theta) if activation in NEGATED else self.theta
        n_hidden = len(self.coefs) - 1
        self._forward_layers = list(
            zip(
                layout.coefs(self._negated)[:n_hidden] + self.coefs[n_hidden:],
                layout.intercepts(self._negated)[:n_hidden] + self.intercepts[n_hidden:],
            )
        )

    def set_params(self, theta):
        """Take the parameters (float64) for the following passes."""
        self.theta[...] = theta
        if self._negated is not self.theta:
            np.negative(self.theta, out=self._negated)

    def block(self, X):
        """A :class:`FirstLayer` for the rows `X` (cast to the working dtype)."""
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        return FirstLayer(X)

    def workspace(self, n_rows, dense=True):
        """A thread's :class:`Workspace` for blocks of up to `n_rows` rows."""
        return Workspace(self.layout.layer_sizes, n_rows, self.dtype, dense)

    def forward_workspace(self, n_rows, dense=True):
        """``(acts, work)`` for :meth:`forward` alone on blocks of up to `n_rows` rows.

        ``forward_row_bytes(layer_sizes, itemsize)`` bytes per row, plus a few
        per-output vectors.
        """
        sizes = self.layout.layer_sizes
        acts = Activations(sizes, n_rows, self.dtype, deltas=False)
        work = Scratch(sizes, n_rows, self.dtype, dense=dense, forward_only=True)
        return acts, work

    def activations(self, n_rows):
        """An :class:`Activations` for blocks of up to `n_rows` rows."""
        return Activations(self.layout.layer_sizes, n_rows, self.dtype)

    def gradient(self):
        """A :class:`Gradient` in the working dtype."""
        return Gradient(self.layout, self.dtype)

    def forward(self, block, acts, work, inspect_first=None):
        """Fill ``acts.z_t`` with the block's hidden activations.

        Returns the logits, transposed: ``acts.logits_t(m)``, one row per output.
        ``inspect_first(a)``, if given, sees the first layer's pre-activation
        (or its negation) before anything else is done with it.
        """
        m = block.n_rows
        last = len(self.coefs) - 1
        Z_t = None
        for i, (W, b) in enumerate(self._forward_layers):
            A_t = acts.logits_t(m) if i == last else work.pre(W.shape[1], m)
            if i == 0:
                block.forward_t(W, A_t, b)
                if inspect_first is not None:
                    inspect_first(A_t)
            else:
                np.matmul(W.T, Z_t, out=A_t)
                A_t += b[:, None]
            if i == last:
                return A_t
            Z_t = acts.z_t(i, m)
            self._activate(A_t, Z_t)

    def loss_and_delta(self, logits_t, target, w, acts, work):
        """The block's weighted loss; ``acts.delta_t`` gets the output deltas.

        `logits_t` (as returned by :meth:`forward`) are overwritten.
        """
        delta_t = acts.delta_t(logits_t.shape[1])
        return self.loss.loss_and_delta(logits_t, target, w, delta_t, work)

    def backward(self, block, acts, work, grad):
        """The block's gradient into `grad` (a :class:`Gradient`).

        Reads the activations of :meth:`forward` and the output deltas of
        :meth:`loss_and_delta`; overwrites ``acts.d_t``.
        """
        m = block.n_rows
        delta_t = acts.delta_t(m)
        ones = work.ones[:m]
        for i in range(len(self.coefs) - 1, -1, -1):
            if i == 0:
                block.gradient(delta_t, grad.coefs[0], work)
            else:
                np.matmul(acts.z_t(i - 1, m), delta_t.T, out=grad.coefs[i])
            np.matmul(delta_t, ones, out=grad.intercepts[i])
            if i > 0:
                below = acts.d_t(i - 1, m)
                np.matmul(self.coefs[i], delta_t, out=below)
                self._derivative(acts.z_t(i - 1, m), below, work.scratch(*below.shape))
                delta_t = below

    def loss_and_grad(self, block, target, w, acts, work, grad, loss_logits=None):
        """Forward, loss and backward: the block's loss; its gradient into `grad`.

        Parameters
        ----------
        block : FirstLayer
            The rows.
        target : ndarray of shape (n_outputs, n_rows)
            The encoded targets (the loss's ``encode``).
        w : ndarray of shape (n_rows,)
            Normalized sample weights.
        acts : Activations
            Receives the activations and deltas.
        work : Scratch
            Temporaries.
        grad : Gradient
            Receives the block's gradient (no penalty).
        loss_logits : ndarray of shape (n_outputs, n_rows), optional
            Where the loss works on a copy of the logits (it overwrites
            them), so that ``acts`` keeps the logits themselves, as
            :meth:`hessian_product` needs them. By default the loss
            overwrites the logits in ``acts``.

        Returns
        -------
        loss : float
        """
        loss = self.forward_loss(block, target, w, acts, work, loss_logits)
        self.backward(block, acts, work, grad)
        return loss

    def forward_loss(self, block, target, w, acts, work, loss_logits=None):
        """Forward and loss, the first half of :meth:`loss_and_grad`: the block's loss.

        The same arguments but `grad`; the output deltas are left in `acts`
        for :meth:`backward`.
        """
        logits = self.forward(block, acts, work)
        if loss_logits is not None:
            loss_logits[...] = logits
            logits = loss_logits
        return self.loss_and_delta(logits, target, w, acts, work)

    def hessian_product(self, block, acts, w, direction, r_acts, work, out, exact):
        """The block's ``H v`` (or Gauss-Newton ``G v``) into `out`, without the penalty.

        Parameters
        ----------
        block : FirstLayer
            The rows.
        acts : Activations
            The block's activations, logits and deltas from
            :meth:`loss_and_grad` (with `loss_logits`) at the current
            parameters; only read.
        w : ndarray of shape (n_rows,)
            Normalized sample weights.
        direction : Gradient
            The direction ``v`` in the working dtype, with layer views.
        r_acts : Activations
            The thread's buffers for the hidden layers' R-quantities
            (transposed): ``z_t(l)`` gets ``R{a_l}``, ``d_t(l)`` first
            ``R{Z_l}``, then ``R{d_l}``.
        work : Scratch
            Temporaries.
        out : Gradient
            Receives the product.
        exact : bool
            The Hessian (True) or its Gauss-Newton approximation.
        """
        m = block.n_rows
        n_layers = len(self.coefs)
        n_outputs = self.layout.layer_sizes[-1]
        W, V, c = self.coefs, direction.coefs, direction.intercepts
        ones = work.ones[:m]
        # Every quantity transposed (units x rows), as in the passes.
        Z = [acts.z_t(i, m) for i in range(n_layers - 1)]
        D = [acts.d_t(i, m) for i in range(n_layers - 1)] + [acts.delta_t(m)]
        # The output layer's R-quantities are new arrays.
        RA = [r_acts.z_t(i, m) for i in range(n_layers - 1)]
        RA.append(np.empty((n_outputs, m), self.dtype))
        RD = [r_acts.d_t(i, m) for i in range(n_layers - 1)]
        RD.append(np.empty((n_outputs, m), self.dtype))
        derivative = self._derivative

        # R-forward: R{a_l}, and R{Z_l} = f'(a_l) R{a_l} for the hidden layers.
        for i in range(n_layers):
            if i == 0:
                block.forward_t(V[0], RA[0])
            else:
                np.matmul(W[i].T, RD[i - 1], out=RA[i])
                RA[i] += V[i].T @ Z[i - 1]
            RA[i] += c[i][:, None]
            if i < n_layers - 1:
                RD[i][...] = RA[i]
                derivative(Z[i], RD[i], work.scratch(*RD[i].shape))

        # R{d_L} = w H_out R{a_L}, in the loss's rows x outputs orientation.
        self.loss.hessian_product(acts.logits_t(m).T, w[:, None], RA[-1].T, RD[-1].T)

        # R-backward.
        for i in range(n_layers - 1, -1, -1):
            if i == 0:
                block.gradient(RD[0], out.coefs[0], work)
            else:
                np.matmul(Z[i - 1], RD[i].T, out=out.coefs[i])
            if exact and i > 0:
                out.coefs[i] += RD[i - 1] @ D[i].T  # R{Z_{i-1}}^T d_i
            np.matmul(RD[i], ones, out=out.intercepts[i])
            if i == 0:
                break
            below = W[i] @ RD[i]
            if exact:
                below += V[i] @ D[i]
            derivative(Z[i - 1], below, work.scratch(*below.shape))
            if exact and self.activation in ("logistic", "tanh"):
                signal = W[i] @ D[i]  # (d_i W_i^T)^T, before f'
                signal *= second_derivative(self.activation, Z[i - 1])
                signal *= RA[i - 1]
                below += signal
            RD[i - 1][...] = below

    def output_jacobian(self, block, acts, start, stop):
        """The logits' Jacobian for rows ``start:stop`` of the block: (n_outputs, rows, n_params).

        ``J[j, i]`` is d logit_j(x_i) / d theta, from backpropagating each
        output's unit vector through the stored forward pass (``acts.z_t`` at
        the current parameters): ``dlogit / dW_l = Z_{l-1} (x) D_l``,
        ``dlogit / db_l = D_l``, ``D_{l-1} = (D_l W_l^T) f'(a_{l-1})``.
        Allocates the result (the Gauss-Newton matrix's rows of one block).
        """
        m = stop - start
        sizes = self.layout.layer_sizes
        k = sizes[-1]
        J = np.zeros((k, m, self.layout.n_params), self.dtype)
        positions = np.arange(self.layout.n_params)
        W_at, b_at = self.layout.coefs(positions), self.layout.intercepts(positions)
        D = np.zeros((k, m, k), self.dtype)
        D[np.arange(k), :, np.arange(k)] = 1
        for i in range(len(self.coefs) - 1, -1, -1):
            if i == 0:
                A = block.X[start:stop]
                A = A.toarray() if block.sparse else A
            else:
                A = acts.z_t(i - 1, block.n_rows)[:, start:stop].T
            fan_in, fan_out = self.coefs[i].shape
            weights = J[:, :, W_at[i][0, 0] : W_at[i][-1, -1] + 1]
            # The outer products written straight into J (no temporary).
            np.multiply(
                A[None, :, :, None], D[:, :, None, :], out=weights.reshape(k, m, fan_in, fan_out)
            )
            J[:, :, b_at[i][0] : b_at[i][-1] + 1] = D
            if i > 0:
                D = D @ self.coefs[i].T
                slope = np.ones_like(A)
                self._derivative(A, slope)
                D *= slope
        return J

    def logits(self, X):
        """Output logits for `X`, shape ``(n_rows, n_outputs)`` (allocates).

        One block of all rows, in the working dtype; call :meth:`set_params`
        first.
        """
        block = self.block(X)
        acts, work = self.forward_workspace(block.n_rows, dense=not block.sparse)
        return np.ascontiguousarray(self.forward(block, acts, work).T)


def forward_logits(layout, theta, X, activation):
    """Output logits for `X`, shape ``(n_samples, n_outputs)`` (allocates).

    float32 data are evaluated in float32, anything else in float64.
    """
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    network = Network(layout, activation, dtype=dtype)
    network.set_params(theta)
    return network.logits(X)
