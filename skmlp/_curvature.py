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
from the curvature of the network itself leaves the Gauss-Newton product
``G v = J^T H_out J v + alpha / S v_W`` (Schraudolph 2002; Martens, ICML
2010), positive semi-definite since ``H_out`` is: in ``R{d_l-1}`` the terms
with ``V_l^T`` and ``f''``, and in ``(H v)_W_l`` the term ``R{Z_{l-1}}^T d_l``
(the products with ``R{Z}`` inside ``R{a_l}`` stay: they are ``J v``).

The forward pass is shared: evaluating J at theta keeps every chunk's
activations, deltas and logits (and nothing else per chunk), and products
at the same theta reuse them, so a Newton iteration costs one forward pass
plus its products. The products run the kernel's
:meth:`~skmlp._network.Network.hessian_product` over the chunks on the
objective's executor.
"""

import numpy as np

from ._network import Gradient
from ._objective import Objective

CURVATURES = ("exact", "gauss-newton")


class CurvatureObjective:
    """An :class:`~skmlp._objective.Objective` that also multiplies by the Hessian.

    Parameters
    ----------
    layout, X, Y, sample_weight
        As for :class:`~skmlp._objective.Objective`.
    curvature : {'exact', 'gauss-newton'}, default='exact'
        What :meth:`hessp` multiplies by: the Hessian of J, or its
        Gauss-Newton approximation.
    **params
        The other parameters of :class:`~skmlp._objective.Objective`.

    Attributes
    ----------
    objective : Objective
        J and its gradient, keeping every chunk's activations.

    Notes
    -----
    Keeps the activations and deltas of every chunk (memory proportional to
    ``n_samples x`` the sum of the layer widths), where an
    :class:`~skmlp._objective.Objective` keeps one chunk's per thread.
    """

    def __init__(self, layout, X, Y, sample_weight=None, *, curvature="exact", **params):
        if curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}.")
        self.curvature = curvature
        self.objective = Objective(layout, X, Y, sample_weight, keep_activations=True, **params)
        self.layout = layout
        self.network = self.objective.network
        self._direction = None
        # Whether the stores hold the pass at the network's parameters (no
        # copy of theta: the pass depends on nothing else).
        self._stored = False
        self.n_hessp = 0
        self.n_evaluations = 0

    @property
    def dtype(self):
        """The working dtype."""
        return self.objective.dtype

    @property
    def n_threads(self):
        """Threads evaluating chunks."""
        return self.objective.n_threads

    @property
    def n_threaded_evaluations(self):
        """Evaluations that used the worker threads."""
        return self.objective.n_threaded_evaluations

    def __enter__(self):
        self.objective.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Stop the worker threads, drop the data and the stores."""
        self.objective.close()

    def loss(self, theta):
        """J(theta) only."""
        return self.loss_and_grad(theta)[0]

    def loss_and_grad(self, theta):
        """J(theta) and dJ/dtheta; keeps the pass for :meth:`hessp` at theta."""
        result = self._forward(theta)
        self.n_evaluations += 1
        return result

    def _forward(self, theta):
        self._stored = False
        result = self.objective.loss_and_grad(theta)
        self._stored = True
        return result

    def hessp(self, theta, v):
        """H v (or G v) at theta, a new float64 vector."""
        theta = np.asarray(theta, dtype=np.float64)
        at = theta.astype(self.dtype, copy=False)
        if not (self._stored and np.array_equal(at, self.network.theta)):
            self._forward(theta)  # a pass for the product, not an evaluation
        v = np.asarray(v, dtype=np.float64)
        # v itself in float64 (the Newton-type solvers' case), else a copy.
        self._direction = Gradient(self.layout, vector=v.astype(self.dtype, copy=False))
        try:
            _, total = self.objective.executor.reduce(self._chunk_hessp, timed=False)
        finally:
            self._direction = None
        product = total.copy()
        self.objective.penalty.add_gradient(product, v)
        self.n_hessp += 1
        return product

    def _chunk_hessp(self, c, ws, slot):
        objective = self.objective
        self.network.hessian_product(
            objective.blocks[c],
            objective.stores[c],
            objective.weights[c],
            self._direction,
            ws.acts,
            ws.work,
            slot,
            exact=self.curvature == "exact",
        )
        return 0.0
