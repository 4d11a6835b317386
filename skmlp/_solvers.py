"""Solver name -> scipy.optimize.minimize method, budgets and results.

Every solver gets the same contract: at most `max_iter` iterations and about
`max_fun` objective evaluations, convergence judged by `tol`, one callback per
completed iteration, and a result that says why it stopped. Where scipy has no
native option for a budget (TNC has no maxiter; CG, BFGS and the Newton-type
methods have no maxfun) the budget is enforced here, and the fit returns the
last completed iterate.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

# skmlp name -> (scipy method, uses a Hessian-vector product)
SOLVERS = {
    "lbfgs": ("L-BFGS-B", False),
    "tnc": ("TNC", False),
    "cg": ("CG", False),
    "bfgs": ("BFGS", False),
    "newton-cg": ("Newton-CG", True),
    "trust-ncg": ("trust-ncg", True),
    "trust-krylov": ("trust-krylov", True),
}


def solver_options(solver, max_iter, max_fun, tol):
    """The scipy options for `solver`; budgets scipy lacks are enforced here."""
    if solver == "lbfgs":
        # As LogisticRegression: a tiny ftol so that tol (on the gradient)
        # decides convergence, not L-BFGS-B's default relative-reduction test.
        ftol = 64 * np.finfo(np.float64).eps
        return {"maxiter": max_iter, "maxfun": max_fun, "gtol": tol, "ftol": ftol, "maxls": 50}
    if solver == "tnc":
        return {"maxfun": max_fun, "gtol": tol}
    if solver == "newton-cg":
        return {"maxiter": max_iter, "xtol": tol}
    return {"maxiter": max_iter, "gtol": tol}


class _BudgetExhausted(Exception):
    """Raised inside the optimizer to stop it when a budget runs out."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class SolverResult:
    """What a run of a solver produced and why it stopped."""

    x: np.ndarray
    fun: float
    n_iter: int
    n_fun: int
    converged: bool
    reason: str  # "converged", "max_iter", "max_fun", "stalled", "non-finite"
    message: str
    loss_curve: list = field(default_factory=list)


def finite_difference_hessp(loss_and_grad):
    """Hv by central differences of the gradient, for the Newton-type solvers."""

    def hessp(x, v):
        norm_v = np.linalg.norm(v)
        if norm_v == 0:
            return np.zeros_like(x)
        eps = np.sqrt(np.finfo(np.float64).eps) * (1 + np.linalg.norm(x)) / norm_v
        g_plus = loss_and_grad(x + eps * v)[1]
        g_minus = loss_and_grad(x - eps * v)[1]
        return (g_plus - g_minus) / (2 * eps)

    return hessp


def run_solver(
    solver,
    loss_and_grad,
    x0,
    *,
    max_iter,
    max_fun,
    tol,
    hessp=None,
    on_iteration=None,
):
    """Minimize ``loss_and_grad`` from `x0` with the named solver.

    Parameters
    ----------
    solver : str
        A key of ``SOLVERS``.
    loss_and_grad : callable
        ``theta -> (loss, gradient)``.
    x0 : ndarray
        Starting parameters (not modified).
    max_iter, max_fun : int
        Iteration and evaluation budgets.
    tol : float
        Convergence tolerance (the gradient tolerance where scipy has one).
    hessp : callable or None
        ``(theta, v) -> H v`` for the Newton-type solvers; finite differences
        of the gradient when None.
    on_iteration : callable or None
        Called as ``on_iteration(n_iter, loss, theta)`` after each iteration.

    Returns
    -------
    result : SolverResult
    """
    method, needs_hessp = SOLVERS[solver]
    native_maxfun = solver in ("lbfgs", "tnc")
    state = {"n_fun": 0, "x": None, "fun": None, "curve": [], "last_x": x0, "last_fun": None}

    def fun(x):
        if not native_maxfun and state["n_fun"] >= max_fun:
            raise _BudgetExhausted("max_fun")
        loss, grad = loss_and_grad(x)
        state["n_fun"] += 1
        state["x"], state["fun"] = x.copy(), loss
        return loss, grad

    def record(x, loss):
        state["curve"].append(loss)
        state["last_x"], state["last_fun"] = x.copy(), loss
        if on_iteration is not None:
            on_iteration(len(state["curve"]), loss, x)
        if solver == "tnc" and len(state["curve"]) >= max_iter:
            raise _BudgetExhausted("max_iter")

    if solver == "tnc":
        # TNC calls back with the iterate only; it is the last point evaluated
        # except after a rescaling step, when it is evaluated once more.
        def callback(xk):
            if state["x"] is not None and np.array_equal(xk, state["x"]):
                loss = state["fun"]
            else:
                loss = loss_and_grad(xk)[0]
            record(xk, loss)

    else:

        def callback(intermediate_result):
            record(intermediate_result.x, float(intermediate_result.fun))

    kwargs = {}
    if needs_hessp:
        kwargs["hessp"] = hessp if hessp is not None else finite_difference_hessp(loss_and_grad)
    try:
        res = minimize(
            fun,
            x0.copy(),
            jac=True,
            method=method,
            callback=callback,
            options=solver_options(solver, max_iter, max_fun, tol),
            **kwargs,
        )
    except _BudgetExhausted as stop:
        x, loss = state["last_x"], state["last_fun"]
        if loss is None:
            loss = loss_and_grad(x)[0]
        return SolverResult(
            x=x,
            fun=loss,
            n_iter=len(state["curve"]),
            n_fun=state["n_fun"],
            converged=False,
            reason=stop.reason,
            message=f"{stop.reason} budget exhausted",
            loss_curve=state["curve"],
        )

    x, loss = res.x, float(res.fun)
    n_iter = len(state["curve"])
    if not (np.isfinite(loss) and np.all(np.isfinite(x))):
        reason = "non-finite"
        x, loss = state["last_x"], state["last_fun"]
        if loss is None:
            x, loss = x0, loss_and_grad(x0)[0]
    elif res.success:
        reason = "converged"
    elif n_iter >= max_iter:
        reason = "max_iter"
    elif state["n_fun"] >= max_fun:
        reason = "max_fun"
    else:
        reason = "stalled"
    return SolverResult(
        x=np.asarray(x, dtype=np.float64),
        fun=loss,
        n_iter=n_iter,
        n_fun=state["n_fun"],
        converged=reason == "converged",
        reason=reason,
        message=str(res.message),
        loss_curve=state["curve"],
    )


def convergence_message(solver, result, max_iter, max_fun):
    """An actionable ConvergenceWarning text, or None when none is due."""
    if result.reason == "max_iter":
        return (
            f"Solver {solver!r} stopped after max_iter={max_iter} iterations "
            f"without converging (loss {result.fun:.6g}). Increase max_iter, "
            "or scale the inputs (e.g. StandardScaler)."
        )
    if result.reason == "max_fun":
        return (
            f"Solver {solver!r} used its budget of max_fun={max_fun} objective "
            f"evaluations after {result.n_iter} iterations without converging "
            f"(loss {result.fun:.6g}). Increase max_fun, or scale the inputs "
            "(e.g. StandardScaler)."
        )
    if result.reason == "non-finite":
        return (
            f"Solver {solver!r} produced a non-finite loss; the parameters of "
            f"the last finite iterate (iteration {result.n_iter}) were kept. "
            "Scale the inputs or increase alpha."
        )
    return None
