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


class _Stop(Exception):
    """Raised inside the optimizer to end the run; carries the reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class SolverResult:
    """What a run of a solver produced and why it stopped.

    ``reason`` is one of "converged", "stalled" (the solver could make no more
    progress, e.g. a line search failed at machine precision), "max_iter",
    "max_fun", "non-finite", "interrupted" (KeyboardInterrupt), or whatever
    reason the ``on_iteration`` observer gave to stop.
    """

    x: np.ndarray
    fun: float
    n_iter: int
    n_fun: int
    reason: str
    message: str
    loss_curve: list = field(default_factory=list)

    @property
    def converged(self):
        return self.reason == "converged"


class _Run:
    """The state of one solver run: evaluations, iterates, the loss curve."""

    def __init__(self, solver, loss_and_grad, x0, max_iter, max_fun, on_iteration):
        self.solver = solver
        self.loss_and_grad = loss_and_grad
        self.max_iter = max_iter
        self.max_fun = max_fun
        self.on_iteration = on_iteration
        self.n_fun = 0
        self.curve = []
        # The last evaluated point (the optimizer's iterates are among them).
        self.x = self.fun = self.grad = None
        # The last completed iterate: what a stopped run returns.
        self.last_x, self.last_fun = x0.copy(), None

    def evaluate(self, x):
        """The objective as the optimizer sees it, with the evaluation budget."""
        if self.solver not in ("lbfgs", "tnc") and self.n_fun >= self.max_fun:
            raise _Stop("max_fun")
        loss, grad = self.loss_and_grad(x)
        self.n_fun += 1
        if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
            # Extreme inputs can overflow; end with the last finite iterate.
            raise _Stop("non-finite")
        self.x, self.fun, self.grad = x.copy(), loss, grad
        return loss, grad

    def _at(self, x):
        """Loss and gradient at iterate x, from the last evaluation if it is x."""
        if self.x is not None and np.array_equal(x, self.x):
            return self.fun, self.grad
        return self.loss_and_grad(x)

    def iteration_done(self, x):
        loss, grad = self._at(x)
        if not (np.isfinite(loss) and np.all(np.isfinite(x))):
            raise _Stop("non-finite")
        self.curve.append(float(loss))
        self.last_x, self.last_fun = x.copy(), float(loss)
        n_iter = len(self.curve)
        if self.on_iteration is not None:
            reason = self.on_iteration(n_iter, float(loss), x, grad)
            if reason:
                raise _Stop(reason)
        # TNC has no iteration budget of its own.
        if self.solver == "tnc" and n_iter >= self.max_iter:
            raise _Stop("max_iter")

    def callback(self):
        """The per-iteration callback in the signature the method calls."""
        if self.solver == "tnc":
            return self.iteration_done

        def callback(intermediate_result):
            self.iteration_done(intermediate_result.x)

        return callback

    def stopped(self, reason, message):
        x, loss = self.last_x, self.last_fun
        if loss is None:
            loss = float(self.loss_and_grad(x)[0])
        return SolverResult(x, loss, len(self.curve), self.n_fun, reason, message, self.curve)


def _finite_or_stop(hessp):
    def finite_hessp(x, v):
        product = hessp(x, v)
        if not np.all(np.isfinite(product)):
            raise _Stop("non-finite")
        return product

    return finite_hessp


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
        ``(theta, v) -> H v``, required by the Newton-type solvers.
    on_iteration : callable or None
        Called as ``on_iteration(n_iter, loss, theta, grad)`` after each
        iteration; a true return value (a reason, e.g. "early_stopping")
        ends the run at that iterate.

    Returns
    -------
    result : SolverResult
        A KeyboardInterrupt also ends the run (reason "interrupted") with the
        last completed iterate.
    """
    method, needs_hessp = SOLVERS[solver]
    run = _Run(solver, loss_and_grad, x0, max_iter, max_fun, on_iteration)
    kwargs = {}
    if needs_hessp:
        if hessp is None:
            raise ValueError(f"Solver {solver!r} needs a Hessian-vector product (hessp).")
        kwargs["hessp"] = _finite_or_stop(hessp)
    try:
        # Overflow on extreme inputs is detected above and ends the run with
        # the last finite iterate; numpy's warnings about it would only leak.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = minimize(
                run.evaluate,
                x0.copy(),
                jac=True,
                method=method,
                callback=run.callback(),
                options=solver_options(solver, max_iter, max_fun, tol),
                **kwargs,
            )
    except _Stop as stop:
        return run.stopped(stop.reason, f"stopped: {stop.reason}")
    except KeyboardInterrupt:
        return run.stopped("interrupted", "interrupted by KeyboardInterrupt")

    x, loss = res.x, float(res.fun)
    if not (np.isfinite(loss) and np.all(np.isfinite(x))):
        return run.stopped("non-finite", str(res.message))
    if res.success:
        reason = "converged"
    elif len(run.curve) >= max_iter:
        reason = "max_iter"
    elif run.n_fun >= max_fun:
        reason = "max_fun"
    else:
        reason = "stalled"
    return SolverResult(
        np.asarray(x, dtype=np.float64),
        loss,
        len(run.curve),
        run.n_fun,
        reason,
        str(res.message),
        run.curve,
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
    if result.reason == "interrupted":
        return (
            f"Fit interrupted (KeyboardInterrupt) after {result.n_iter} "
            "iterations; the model keeps the best parameters seen so far."
        )
    if result.reason == "non-finite":
        return (
            f"Solver {solver!r} produced a non-finite loss; the parameters of "
            f"the last finite iterate (iteration {result.n_iter}) were kept. "
            "Scale the inputs or increase alpha."
        )
    return None
