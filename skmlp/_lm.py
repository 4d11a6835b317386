r"""Levenberg-Marquardt, and the weight penalty chosen by the evidence.

Levenberg-Marquardt (MATLAB's ``trainlm``) is damped Gauss-Newton on the
dense generalized Gauss-Newton matrix ``G = J^T H_out J`` of J (for the
squared error exactly ``J^T J``; for cross-entropy the matrix the
'gauss-newton' curvature multiplies by), accumulated chunk by chunk (and
actor by actor on a cluster, in chunk order: the chunk task
``"gauss_newton"`` of :mod:`skmlp._chunks`). Each iteration solves::

    (G + mu I) d = -grad        (Cholesky; G includes the penalty alpha / S)

and takes ``theta + d`` if it lowers J (then ``mu *= mu_dec``), else
rejects it (``mu *= mu_inc``) and solves again, until ``mu > mu_max``.
A trial step needs J alone (``run.trial``: a forward pass, no gradient, no
G); J's gradient and G are evaluated at accepted points only.
trainlm's schedule is the default: mu 1e-3, decrease 0.1, increase 10,
maximum 1e10. Its cost is P^2 memory and rows x outputs x P^2 time per
iteration for P parameters, so it refuses networks above
:data:`MAX_PARAMS` (trust-ncg with curvature='gauss-newton' is the
matrix-free equivalent).

``alpha="evidence"`` (MacKay 1992; Foresee & Hagan 1997, MATLAB's
``trainbr``) re-estimates the penalty after every step. With ``M = beta
E_D + alpha E_W`` (``E_D`` the weighted data term summed over rows, ``E_W =
1/2 ||W||^2``) and ``H = beta G_D + alpha I_W`` its Gauss-Newton Hessian::

    gamma = P_W - alpha tr(I_W H^-1)            effective number of weights
    alpha = gamma / (2 E_W)
    beta  = (N - gamma) / (2 E_D)               squared error only (else 1)

N the weighted number of targets (S times the outputs). skmlp's J is ``M /
(beta S)``, so its alpha is ``alpha / beta``.
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, lapack

# Above this many parameters, G (8 P^2 bytes, and as many per chunk in
# flight) and its factorization cost more than the matrix-free solvers.
MAX_PARAMS = 3000

MU = 1e-3
MU_DEC = 0.1
MU_INC = 10.0
MU_MAX = 1e10

# The evidence's tr(I_W H^-1) comes from H's Cholesky factor with complete
# pivoting (LAPACK pstrf), which stops where the largest curvature left is at
# most P eps times H's largest diagonal entry (pstrf's default tolerance):
# the parameters left then (typically the unpenalized intercepts of the
# units the evidence has pruned, whose curvature vanishes with their
# weights) are determined neither by the data nor by the penalty and count
# for nothing; H is inverted on the others (LAPACK potri).


def _step(G, grad, mu):
    """The damped Gauss-Newton step, or None when ``G + mu I`` is not positive definite."""
    A = G + mu * np.eye(len(grad))
    try:
        return -cho_solve(cho_factor(A), grad)
    except LinAlgError:
        return None


def weight_trace_of_inverse(H, n_weights):
    """``tr(I_W H^-1)``: the trace of the symmetric PSD `H`'s inverse on its first `n_weights`.

    H is inverted on the parameters its pivoted Cholesky factorization
    keeps (see the comment above): the others' rows and columns are left
    out, as if those parameters were fixed.
    """
    factor, pivots, rank, _ = lapack.dpstrf(H, lower=True)
    if rank == 0:
        return 0.0
    inverse, _ = lapack.dpotri(factor[:rank, :rank], lower=True, overwrite_c=True)
    weights = pivots[:rank] <= n_weights  # pivots are 1-based
    return float(np.diag(inverse)[weights].sum())


def levenberg_marquardt(run, gauss_newton, x0, *, max_iter, tol, gradient_norm, evidence=None):
    """Minimize from `x0`; returns ``(reason, message)`` (the iterates are in `run`).

    Parameters
    ----------
    run : skmlp._solvers._Run
        Counts evaluations against the budget, records iterations (loss
        curve, callbacks, early stopping) and remembers recent points.
    gauss_newton : callable
        ``theta -> (loss, grad, G)`` (counted as an evaluation here).
    x0 : ndarray
        Starting parameters.
    max_iter : int
        Iteration budget.
    tol : float
        Convergence when ``gradient_norm(grad) <= tol``.
    gradient_norm : callable
        The solver's gradient norm.
    evidence : Evidence or None
        Re-estimates the penalty after every step (``alpha="evidence"``).
    """
    x, mu = x0.copy(), MU
    loss, grad, G = run.counted(gauss_newton, x)
    for _ in range(max_iter):
        if gradient_norm(grad) <= tol:
            return "converged", f"|gradient| <= tol, mu {mu:.3g}"
        while True:
            d = _step(G, grad, mu)
            trial = None if d is None else run.trial(x + d)
            if trial is not None and trial < loss:
                break
            mu *= MU_INC
            if mu > MU_MAX:
                return "stalled", f"mu reached its maximum ({MU_MAX:g})"
        mu *= MU_DEC
        x = x + d
        # G only at accepted points; evaluated first, so that the iteration
        # reads J's gradient there from the run's memory.
        loss, grad, G = run.counted(gauss_newton, x)
        run.iteration_done(x, info={"mu": mu})
        if evidence is not None:
            loss, grad, G = evidence.update(x, loss, grad, G)
    if gradient_norm(grad) <= tol:
        return "converged", f"|gradient| <= tol, mu {mu:.3g}"
    return "max_iter", f"max_iter reached, mu {mu:.3g}"


class Evidence:
    """The penalty re-estimated from the evidence after each step (``alpha="evidence"``).

    Parameters
    ----------
    penalty : L2Penalty
        Its ``alpha`` (J's scale: MacKay's alpha / beta) is updated in place.
    n_targets : float
        N: the weighted number of targets (S times the outputs).
    squared_error : bool
        Whether beta (the noise precision) is estimated too; for other
        losses the likelihood fixes beta = 1.

    Attributes
    ----------
    alpha, beta : float
        MacKay's hyperparameters after the last update.
    gamma : float
        The effective number of weights after the last update.
    """

    def __init__(self, penalty, n_targets, squared_error):
        self.penalty = penalty
        self.n_targets = float(n_targets)
        self.squared_error = squared_error
        self.alpha, self.beta = 0.0, 1.0
        self.gamma = float(penalty.n_coefs)

    def update(self, theta, loss, grad, G):
        """New alpha (and beta) from theta, and J, its gradient and G there under the new alpha.

        G is J's Gauss-Newton matrix at theta (penalty included); the
        returned ones are J's under the new penalty (only its terms change).
        """
        penalty = self.penalty
        S, n_w = penalty.sum_weights, penalty.n_coefs
        weights = theta[:n_w]
        E_W = 0.5 * float(weights @ weights)
        E_D = S * (loss - penalty(theta))  # the data term summed over the rows
        if not (E_W > 0 and E_D > 0):
            return loss, grad, G
        gamma = float(n_w)  # at alpha = 0 whatever H is
        if self.alpha > 0:
            # H = beta G_D + alpha I_W, G_D the data term's Gauss-Newton
            # matrix: G without the penalty, times S.
            H = G * (self.beta * S)
            H[np.arange(n_w), np.arange(n_w)] += self.alpha - self.beta * penalty.alpha
            trace = weight_trace_of_inverse(H, n_w)
            gamma = float(np.clip(n_w - self.alpha * trace, 0.0, n_w))
        self.gamma = gamma
        self.alpha = gamma / (2 * E_W)
        if self.squared_error:
            self.beta = max(self.n_targets - gamma, 0.0) / (2 * E_D) or self.beta
        change = self.alpha / self.beta - penalty.alpha
        penalty.alpha += change
        loss = loss + change / S * E_W
        grad = grad.copy()
        grad[:n_w] += change / S * weights
        G = G.copy()
        G[np.arange(n_w), np.arange(n_w)] += change / S
        return loss, grad, G
