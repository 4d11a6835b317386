r"""Hessian-vector products of J: exact (R-operator) and Gauss-Newton.

Pearlmutter's R-operator, ``R{g} = d/dr g(theta + r v) at r = 0``, applied to
the forward and backward passes gives the exact product ``H v`` at about the
cost of one more gradient (Pearlmutter 1994, "Fast exact multiplication by
the Hessian", Neural Computation 6(1); Bishop, PRML 5.4.6). With
``a_l = Z_{l-1} W_l + b_l``, ``Z_l = f(a_l)``, ``Z_0 = X`` and the direction
``v = (V_l, c_l)``::

    R{a_l}  = R{Z_{l-1}} W_l + Z_{l-1} V_l + c_l            (R{Z_0} = 0)
    R{Z_l}  = f'(a_l) * R{a_l}
    R{d_L}  = w * H_out R{a_L}     H_out: p (1 - p) per logistic unit,
                                          diag(p) - p p^T for a softmax
    R{d_l-1} = (R{d_l} W_l^T + d_l V_l^T) * f'(a_{l-1})
               + (d_l W_l^T) * f''(a_{l-1}) * R{a_{l-1}}
    (H v)_W_l = R{Z_{l-1}}^T d_l + Z_{l-1}^T R{d_l} + alpha / S * V_l
    (H v)_b_l = sum_i R{d_l}

where ``d_l`` are backpropagation's deltas. Dropping every term that comes
from the curvature of the network itself (those with ``R{Z}``, ``V_l^T`` and
``f''``) leaves the Gauss-Newton product ``G v = J^T H_out J v + alpha / S
v_W`` (Schraudolph 2002; Martens, ICML 2010), positive semi-definite since
``H_out`` is.

The forward pass is shared: evaluating J at theta keeps every chunk's
activations and deltas, and products at the same theta reuse them, so a
Newton iteration costs one forward pass plus its products.
"""

import numpy as np
from scipy.special import expit, softmax

from ._activations import DERIVATIVES, second_derivative
from ._objective import Objective, _Workspace

CURVATURES = ("exact", "gauss-newton")


class CurvatureObjective(Objective):
    """An :class:`Objective` that also multiplies by the Hessian.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`Objective`.
    curvature : {'exact', 'gauss-newton'}, default='exact'
        What :meth:`hessp` multiplies by: the Hessian of J, or its
        Gauss-Newton approximation.

    Notes
    -----
    Keeps the activations and deltas of every chunk (memory proportional to
    ``n_samples x`` the sum of the layer widths), where :class:`Objective`
    keeps one chunk's per thread.
    """

    def __init__(self, *args, curvature="exact", **kwargs):
        super().__init__(*args, **kwargs)
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}.")
        self.curvature = curvature
        self._stores = [_Workspace(self.layout, b - a, self.dtype) for a, b in self.bounds]
        # Transposed (outputs x rows), as the engine's output layer.
        self._logits = [
            np.empty((self.layout.layer_sizes[-1], b - a), self.dtype) for a, b in self.bounds
        ]
        self._theta_at = None  # the theta the stores hold
        self._direction = np.empty(self.layout.n_params, self.dtype)
        self._V = self.layout.coefs(self._direction)
        self._c = self.layout.intercepts(self._direction)
        self.n_hessp = 0

    def loss_and_grad(self, theta):
        loss, grad = super().loss_and_grad(theta)
        self._theta_at = np.array(theta, dtype=np.float64)
        return loss, grad

    def _chunk_loss_and_grad(self, c, ws, slot):
        # The chunk's own store instead of the thread's workspace, so that
        # the activations and deltas survive for hessp.
        store = self._stores[c]
        logits = self._forward(c, store)
        self._logits[c][...] = logits
        loss = self._output_delta(c, store, logits)
        self._backward(c, store, store.delta_t(logits.shape[1]), slot)
        return loss

    def hessp(self, theta, v):
        """H v (or G v) at theta, a new float64 vector."""
        theta = np.asarray(theta, dtype=np.float64)
        if self._theta_at is None or not np.array_equal(theta, self._theta_at):
            self.loss_and_grad(theta)
            self.n_evaluations -= 1  # a forward pass for the product, not an evaluation
        v = np.asarray(v, dtype=np.float64)
        self._direction[...] = v
        self._loss = 0.0
        self._grad[...] = 0.0
        with self._single_threaded_blas():
            self._run(self._chunk_hessp)
        product = self._grad.copy()
        n_coefs = self.layout.n_coefs
        product[:n_coefs] += (self.alpha / self.sum_weights) * v[:n_coefs]
        self.n_hessp += 1
        return product

    def _chunk_hessp(self, c, ws, slot):
        """The chunk's H v (or G v) into ``slot.grad``.

        The thread's workspace holds the hidden layers' R-quantities:
        ``ws.Z[l]`` R{a_l}; ``ws.D[l]`` first R{Z_l}, then R{d_l}. The output
        layer's are new arrays, and its stored deltas and logits are read
        through (rows x outputs) views.
        """
        store, Xc = self._stores[c], self._X[c]
        m = Xc.shape[0]
        n_layers = len(self._coefs)
        n_outputs = self.layout.layer_sizes[-1]
        exact = self.curvature == "exact"
        W, V = self._coefs, self._V
        Z = [store.Z[i][:m] for i in range(n_layers - 1)]
        D = [store.D[i][:m] for i in range(n_layers - 1)] + [store.delta_t(m).T]
        RA = [ws.Z[i][:m] for i in range(n_layers - 1)] + [np.empty((m, n_outputs), self.dtype)]
        RD = [ws.D[i][:m] for i in range(n_layers - 1)] + [np.empty((m, n_outputs), self.dtype)]
        derivative = DERIVATIVES[self.activation]

        # R-forward: R{a_l}, and R{Z_l} = f'(a_l) R{a_l} for the hidden layers.
        for i in range(n_layers):
            if i == 0 and self._sparse:
                RA[0][...] = Xc @ V[0]
            elif i == 0:
                np.matmul(Xc, V[0], out=RA[0])
            else:
                np.matmul(RD[i - 1], W[i], out=RA[i])
                RA[i] += Z[i - 1] @ V[i]
            RA[i] += self._c[i]
            if i < n_layers - 1:
                RD[i][...] = RA[i]
                derivative(Z[i], RD[i], ws.scratch(m, RD[i].shape[1]))

        # R{d_L} = w H_out R{a_L}.
        logits, w = self._logits[c].T, self._w[c][:, None]
        if self._softmax:
            p = softmax(logits, axis=1)
            RD[-1][...] = RA[-1] - np.sum(p * RA[-1], axis=1, keepdims=True)
            RD[-1] *= p
        else:
            p = expit(logits)
            np.multiply(p, 1 - p, out=RD[-1])
            RD[-1] *= RA[-1]
        RD[-1] *= w

        # R-backward.
        for i in range(n_layers - 1, -1, -1):
            if i == 0 and self._sparse:
                slot.coefs[0][...] = Xc.T @ RD[0]
            else:
                np.matmul((Xc if i == 0 else Z[i - 1]).T, RD[i], out=slot.coefs[i])
            if exact and i > 0:
                slot.coefs[i] += RD[i - 1].T @ D[i]  # R{Z_{i-1}}^T d_i
            np.sum(RD[i], axis=0, out=slot.intercepts[i])
            if i == 0:
                break
            below = RD[i] @ W[i].T
            if exact:
                below += D[i] @ V[i].T
            derivative(Z[i - 1], below, ws.scratch(m, below.shape[1]))
            if exact and self.activation in ("logistic", "tanh"):
                signal = D[i] @ W[i].T  # d_i W_i^T, before f'
                signal *= second_derivative(self.activation, Z[i - 1])
                signal *= RA[i - 1]
                below += signal
            RD[i - 1][...] = below
        return 0.0
