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

Composition. The objective is an executor (:mod:`skmlp._executor`, or the
cluster's :mod:`skmlp._dask.executor`) running a chunk set's tasks
(:mod:`skmlp._chunks`: the kernel of :mod:`skmlp._network` with the loss of
:mod:`skmlp._losses` on every chunk, added in chunk order) plus the L2
penalty, added here. It is a pure function of theta and the data it was built
with, whichever executor runs it.
"""

import numpy as np

from ._executor import balanced_batch_size
from ._network import row_work, workspace_row_bytes


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

    def add_diagonal(self, G):
        """Add the penalty's Hessian ``alpha / S`` on the weights' diagonal to `G`."""
        weights = np.arange(self.n_coefs)
        G[weights, weights] += self.alpha / self.sum_weights

    def add_gradient(self, vector, theta):
        """Add ``alpha / S * W`` (the weights of `theta`, or of a direction) to `vector`."""
        vector[: self.n_coefs] += (self.alpha / self.sum_weights) * theta[: self.n_coefs]


class Objective:
    """J, its gradient and (with a curvature) Hessian-vector products, as pure functions of theta.

    Parameters
    ----------
    executor : ThreadExecutor or DaskExecutor
        Runs the chunk set's tasks and adds them in chunk order.
    penalty : L2Penalty
        The penalty on the weights.

    Attributes
    ----------
    n_evaluations, n_hessp : int
        Evaluations of J (with its gradient) and Hessian-vector products.

    Notes
    -----
    Use it as a context manager (or call :meth:`close`) to release the
    executor's threads or actors. Inside the ``with`` block BLAS stays
    limited to one thread, between evaluations too.
    """

    def __init__(self, executor, penalty):
        self.executor = executor
        self.penalty = penalty
        self.n_evaluations = 0
        self.n_hessp = 0

    def __enter__(self):
        self.executor.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Release the executor's threads or actors and the BLAS limit."""
        self.executor.close()

    def loss(self, theta):
        """J(theta) alone, by a forward pass: the bits of :meth:`loss_and_grad`'s J."""
        theta = np.asarray(theta, dtype=np.float64)
        data_loss, _ = self.executor.reduce("loss", theta)
        self.n_evaluations += 1
        return data_loss + self.penalty(theta)

    def loss_and_grad(self, theta):
        """J(theta) and dJ/dtheta (a new float64 vector)."""
        theta = np.asarray(theta, dtype=np.float64)
        data_loss, grad = self.executor.reduce("evaluate", theta)
        loss = data_loss + self.penalty(theta)
        self.penalty.add_gradient(grad, theta)
        self.n_evaluations += 1
        return loss, grad

    def hessp(self, theta, v):
        """H v (or G v, as the chunk set's curvature says) at theta, a new float64 vector.

        The chunks' passes at theta are reused when the last evaluation was
        at theta, redone otherwise (not counted as evaluations).
        """
        v = np.asarray(v, dtype=np.float64)
        _, product = self.executor.reduce("hessp", np.asarray(theta, dtype=np.float64), v)
        self.penalty.add_gradient(product, v)
        self.n_hessp += 1
        return product

    def gauss_newton(self, theta):
        """J(theta), its gradient and the dense Gauss-Newton matrix ``G`` of J.

        ``G = sum over chunks of J_c^T (w H_out) J_c + alpha / S`` on the
        weights' diagonal (n_params x n_params, new): for the squared error
        Levenberg-Marquardt's ``J^T J``. J and its gradient are
        :meth:`loss_and_grad`'s (one evaluation), whose passes G's pieces reuse.
        """
        loss, grad = self.loss_and_grad(theta)
        _, G = self.executor.reduce("gauss_newton", np.asarray(theta, dtype=np.float64))
        G = G.reshape(grad.size, grad.size)
        self.penalty.add_diagonal(G)
        return loss, grad, G

    def validation_terms(self, theta):
        """The added validation statistics of theta on the held-out rows."""
        return self.executor.reduce("validation", np.asarray(theta, dtype=np.float64))[1]
