r"""Output losses from the logits: value, delta, Hessian product, log-probabilities.

Each loss is one class with four methods, all on the output logits ``a`` of a
block of rows:

- :meth:`encode` turns targets ``Y`` (binary, dense or sparse, for the
  classifiers' losses: they keep only where the ones are, so a block's target
  does not grow with its number of classes; numeric for the regressors') and
  normalized sample weights ``w = s / S`` into the per-block target the other
  methods read;
- :meth:`loss_and_delta` gives ``sum_i w_i loss(a_i, y_i)`` and the delta
  ``w (dloss / da)`` that backpropagation carries down the layers;
- :meth:`hessian_product` gives ``w H_out r`` for a direction ``r`` of the
  logits (the curvature products' output step);
- :meth:`log_proba` gives the log class probabilities for prediction (the
  classifiers' losses); a regressor's loss has :meth:`inverse_link` instead,
  the prediction from the logits.

The engine's output layer is transposed (outputs x rows, see
:mod:`skmlp._network`), so `encode` and `loss_and_delta` work on
``(n_outputs, n_rows)`` arrays. Everything is computed from the logits, so
there is no ``log(0)`` and no overflow for finite inputs. A new output is one
more class here, registered in `LOSSES`.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_softmax, softmax, xlogy


class LogisticLoss:
    r"""One sigmoid per output and the summed binary cross-entropy (the course's J).

    With ``u = (1 - 2 y) a`` the loss is ``softplus(u) = log(1 + e)`` and
    ``p - y = (1 - 2 y) expit(u) = (1 - 2 y) e / (1 + e)``, from one
    ``e = exp(u)`` and one log per element. ``log(1 + e)`` is taken as
    ``log(v) - ((v - 1) - e) / v`` with ``v = fl(1 + e)``: the second term is
    v's rounding error, which ``log(v)`` alone would lose where ``e`` is small
    (a confident right answer). Both are accurate to a few ulp for every
    ``u`` in float64 and float32 (no cancellation; the earlier
    ``(1 + tanh(u / 2)) / 2`` lost all digits of ``expit(u)`` for ``u <<
    0``). The encoded target is where the sign ``1 - 2 y`` is -1: the flat
    positions of the ones of ``Y^T`` (:func:`ones_index`).
    """

    name = "logistic"

    def encode(self, Y, w, dtype):
        """The flat positions of the ones of ``Y^T`` (n_outputs, n_rows); `w` unused."""
        return ones_index(Y)

    def loss_and_delta(self, logits_t, target, w, delta_t, work):
        """The block's weighted loss; `delta_t` gets ``(w (p - y))^T``.

        Parameters
        ----------
        logits_t : ndarray of shape (n_outputs, n_rows)
            The logits, transposed; overwritten.
        target : object
            As returned by :meth:`encode`.
        w : ndarray of shape (n_rows,)
            Normalized sample weights.
        delta_t : ndarray of shape (n_outputs, n_rows)
            Receives the output deltas, transposed.
        work : Scratch
            The thread's scratch buffers (``scratch(k, m)``, ``out``).

        Returns
        -------
        loss : float
        """
        k, m = logits_t.shape
        U, V, E = logits_t, delta_t, work.scratch(k, m)
        # u = (1 - 2 y) a: the logits negated where y is 1 (exactly).
        flip(U, target)
        # Where e is inf (u above 709.78, 88.72 in float32, or u = inf),
        # softplus(u) = u and expit(u) = 1 to the last digit: those entries
        # are set aside as they show up (numpy's floating-point flags, no
        # pass over the block) and written at the end.
        saturated = []
        with np.errstate(over="raise", invalid="raise"):
            try:
                np.exp(U, out=E)
            except FloatingPointError:  # E is complete, inf where exp(u) overflowed
                saturated.append(set_aside(E, U.reshape(-1)))
            np.add(E, 1, out=V)
            np.subtract(V, 1, out=U)
            try:
                U -= E
            except FloatingPointError:  # inf - inf where u = inf
                saturated.append(set_aside(E, np.inf))
        U /= V  # ((v - 1) - e) / v
        np.divide(E, V, out=E)  # expit(u)
        np.log(V, out=V)
        V -= U  # softplus(u)
        for where, u in saturated:
            V.reshape(-1)[where] = u
            E.reshape(-1)[where] = 1
        np.matmul(V, w, out=work.out)
        np.multiply(E, w, out=delta_t)
        flip(delta_t, target)
        return float(work.out.sum(dtype=np.float64))

    def gauss_newton(self, logits, w, J, G):
        """Add the block's ``J^T (w H_out) J`` to `G` (see :func:`add_gauss_newton`)."""
        p = expit(logits)
        add_gauss_newton(p * (1 - p), w, J, G)

    def hessian_product(self, logits, w, r, out):
        """``out = w p (1 - p) r`` per output (rows x outputs; allocates p)."""
        p = expit(logits)
        np.multiply(p, 1 - p, out=out)
        out *= r
        out *= w

    def log_proba(self, logits, multilabel=False, out=None):
        """Log class probabilities from the logits (n_rows, n_outputs).

        One output (binary) gives two columns; several outputs (one sigmoid
        per class) are normalized so that rows sum to one, except for
        multilabel targets, where each label keeps its own probability.
        Row by row: into `out` (n_rows, n_classes) if given, which is
        returned (temporaries as large as `logits`).
        """
        if multilabel:
            result = np.logaddexp(0, -logits)
            return np.negative(result, out=result if out is None else out)
        if logits.shape[1] == 1:
            if out is None:
                return np.hstack([log_expit(-logits), log_expit(logits)])
            log_expit(-logits, out=out[:, :1])
            log_expit(logits, out=out[:, 1:])
            return out
        if out is None:
            return log_softmax(log_expit(logits), axis=1)
        return log_softmax_rows(log_expit(logits, out=out))


class SoftmaxLoss:
    r"""A softmax over the outputs and the multinomial cross-entropy.

    ``loss_i = log sum_k exp(t_ki) - t_{y_i, i}`` with ``t = a - max_k a``, and
    the delta ``w (p - y)``. The encoded target is the flat positions of the
    ones of ``Y^T`` with their rows' weights, ``(w Y)^T`` in sparse form.
    """

    name = "softmax"

    def encode(self, Y, w, dtype):
        """``(index, weights)``: the ones of ``Y^T`` (:func:`ones_index`) and their rows' w."""
        index = ones_index(Y)
        return index, w[index % max(len(w), 1)].astype(dtype)

    def loss_and_delta(self, logits_t, target, w, delta_t, work):
        """The block's weighted loss; `delta_t` gets ``(w (p - y))^T``.

        Parameters are as for :meth:`LogisticLoss.loss_and_delta`; uses
        ``work.rows`` and ``work.ones``.
        """
        k, m = logits_t.shape
        G = delta_t
        shift, total = work.rows[0, :m], work.rows[1, :m]
        logits_t.max(axis=0, out=shift)
        logits_t -= shift
        np.exp(logits_t, out=G)
        np.matmul(work.ones[:k], G, out=total)
        np.log(total, out=shift)
        index, weights = target
        loss = float(np.dot(w, shift)) - float(np.dot(weights, logits_t.reshape(-1)[index]))
        np.divide(w, total, out=total)
        G *= total
        G.reshape(-1)[index] -= weights  # G - w y
        return loss

    def gauss_newton(self, logits, w, J, G):
        """Add ``J^T (w (diag(p) - p p^T)) J`` summed over the block's rows to `G`."""
        p = softmax(logits, axis=1)
        add_gauss_newton(p, w, J, G)
        B = np.einsum("mk,kmp->mp", p, J)  # sum_k p_k J_k, row by row
        G -= B.T @ (B * w[:, None])

    def hessian_product(self, logits, w, r, out):
        """``out = w (diag(p) - p p^T) r`` per row (rows x outputs; allocates p)."""
        p = softmax(logits, axis=1)
        out[...] = r - np.sum(p * r, axis=1, keepdims=True)
        out *= p
        out *= w

    def log_proba(self, logits, multilabel=False, out=None):
        """Log class probabilities from the logits (n_rows, n_outputs), into `out` if given.

        `out` may be `logits` itself.
        """
        if out is None:
            return log_softmax(logits, axis=1)
        # The row maxima are exact in any layout: from the logits as given
        # (the engine's transposed view reduces faster than short rows).
        row_max = logits.max(axis=1, keepdims=True)
        if out is not logits:
            np.copyto(out, logits)
        return log_softmax_rows(out, row_max)


def log_softmax_rows(Z, row_max=None):
    """``scipy.special.log_softmax(Z, axis=1)`` in place, bit for bit; returns `Z`.

    The same operations as scipy's (a non-finite row maximum shifts by 0,
    the exponentials summed as one contiguous array), with one temporary
    of Z's size instead of three. `row_max` (n_rows, 1): Z's row maxima if
    already known (overwritten).
    """
    shift = Z.max(axis=1, keepdims=True) if row_max is None else row_max
    np.copyto(shift, 0, where=~np.isfinite(shift))
    Z -= shift
    exp = np.exp(Z)
    total = exp.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        np.log(total, out=total)
    Z -= total
    return Z


class SquaredErrorLoss:
    r"""Identity outputs and half the squared error summed over the outputs.

    ``loss_i = 1/2 sum_k (a_ik - y_ik)^2``, delta ``w (a - y)``, output
    Hessian the identity. The encoded target is ``Y^T``.
    """

    name = "identity"

    def encode(self, Y, w, dtype):
        """``Y^T`` (n_outputs, n_rows) in the working dtype; `w` unused."""
        return np.ascontiguousarray(np.asarray(Y).T, dtype=dtype)

    def loss_and_delta(self, logits_t, target, w, delta_t, work):
        """The block's weighted loss; `delta_t` gets ``(w (a - y))^T``.

        Parameters are as for :meth:`LogisticLoss.loss_and_delta`.
        """
        np.subtract(logits_t, target, out=delta_t)
        np.multiply(delta_t, delta_t, out=logits_t)
        delta_t *= w
        np.matmul(logits_t, w, out=work.out)
        return 0.5 * float(work.out.sum(dtype=np.float64))

    def gauss_newton(self, logits, w, J, G):
        """Add the block's ``J^T diag(w) J`` to `G`: Levenberg-Marquardt's ``J^T J``."""
        add_gauss_newton(np.ones_like(logits), w, J, G)

    def hessian_product(self, logits, w, r, out):
        """``out = w r`` (rows x outputs)."""
        np.multiply(r, w, out=out)

    @staticmethod
    def inverse_link(logits):
        """The predictions: the logits themselves."""
        return logits


class PoissonLoss:
    r"""Exponential outputs (log link) and half the Poisson deviance summed over outputs.

    With ``mu = exp(a)``: ``loss_i = sum_k (y log(y / mu) - y + mu)`` (``0
    log 0 = 0``), delta ``w (mu - y)``, output Hessian ``diag(mu)``. The
    encoded target is ``Y^T``.
    """

    name = "exp"

    def encode(self, Y, w, dtype):
        """``Y^T`` (n_outputs, n_rows) in the working dtype; `w` unused."""
        return np.ascontiguousarray(np.asarray(Y).T, dtype=dtype)

    def loss_and_delta(self, logits_t, target, w, delta_t, work):
        """The block's weighted loss; `delta_t` gets ``(w (mu - y))^T``.

        Parameters are as for :meth:`LogisticLoss.loss_and_delta`.
        """
        k, m = logits_t.shape
        # exp overflows to inf only where the loss is infinite anyway: the
        # solver then stops at its last finite iterate.
        with np.errstate(over="ignore"):
            np.exp(logits_t, out=delta_t)  # mu
        T = work.scratch(k, m)
        # y log y - y a - y + mu = y (log y - a - 1) + mu, from y and a alone.
        np.multiply(target, logits_t, out=logits_t)
        np.subtract(xlogy(target, target), logits_t, out=T)
        T -= target
        T += delta_t
        np.matmul(T, w, out=work.out)
        delta_t -= target
        delta_t *= w
        return float(work.out.sum(dtype=np.float64))

    def gauss_newton(self, logits, w, J, G):
        """Add the block's ``J^T diag(w mu) J`` to `G`."""
        with np.errstate(over="ignore"):
            add_gauss_newton(np.exp(logits), w, J, G)

    def hessian_product(self, logits, w, r, out):
        """``out = w mu r`` (rows x outputs)."""
        with np.errstate(over="ignore"):
            np.exp(logits, out=out)
        out *= r
        out *= w

    @staticmethod
    def inverse_link(logits):
        """The predictions ``exp(a)``, in place."""
        with np.errstate(over="ignore"):
            return np.exp(logits, out=logits)


def add_gauss_newton(h, w, J, G):
    """``G += sum_k J_k^T diag(w h_k) J_k``: the Gauss-Newton matrix of a
    diagonal output Hessian `h` (rows x outputs), in float64."""
    for k in range(J.shape[0]):
        Jk = J[k].astype(np.float64, copy=False)
        G += Jk.T @ (Jk * (w * h[:, k])[:, None])


def ones_index(Y):
    """The flat positions of the ones of binary ``Y^T`` (n_outputs x n_rows, C order), sorted.

    `Y` (n_rows, n_outputs) dense or sparse: what the classification losses
    keep of a block's targets, one position per label instead of a dense
    matrix of the block's rows times its outputs.
    """
    n_rows = Y.shape[0]
    if sp.issparse(Y):
        Y = sp.coo_matrix(Y)
        rows, columns = Y.row[Y.data != 0], Y.col[Y.data != 0]
    else:
        rows, columns = np.nonzero(np.asarray(Y))
    return np.sort(columns.astype(np.intp) * n_rows + rows)


def set_aside(E, u):
    """``(where, u[where])`` for the flat positions where `E` is inf, which are set to 0.

    `u` is a flat array or a scalar.
    """
    flat = E.reshape(-1)
    where = np.flatnonzero(np.isinf(flat))
    flat[where] = 0
    return where, u if np.isscalar(u) else u[where]


def flip(A, index):
    """Negate the entries of the contiguous array `A` at flat positions `index`, in place."""
    flat = A.reshape(-1)
    flat[index] = -flat[index]


LOSSES = {
    "logistic": LogisticLoss,
    "softmax": SoftmaxLoss,
    "identity": SquaredErrorLoss,
    "exp": PoissonLoss,
}


def get_loss(out_activation, n_outputs):
    """The loss of an output layer: a softmax over one output is a sigmoid."""
    if out_activation == "softmax" and n_outputs == 1:
        return LogisticLoss()
    return LOSSES[out_activation]()
