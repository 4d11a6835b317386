"""Solver name -> scipy.optimize.minimize method, budgets and results.

Every solver gets the same contract: at most `max_iter` iterations and at
most `max_fun` objective evaluations (every evaluation counted, those the
driver makes itself included), convergence judged by `tol`, one callback per
completed iteration, and a result that says why it stopped. The evaluation
budget is enforced here for every method (scipy's L-BFGS-B and TNC may
overshoot theirs by one; CG, BFGS and the Newton-type methods have none), TNC's
iteration budget too; a run stopped by a budget returns the last completed
iterate.
"""

import difflib
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from sklearn.utils._param_validation import InvalidParameterError

from ._lm import MAX_PARAMS, levenberg_marquardt

_RECENT = 4  # evaluated points remembered for the per-iteration callback

CURVATURES = ("exact", "gauss-newton")
# As LogisticRegression: a tiny ftol so that tol (on the gradient) decides
# L-BFGS-B's convergence, not its default relative-reduction test.
_LBFGS_FTOL = 64 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class SolverSpec:
    """Everything the engine knows of a solver: one row of :data:`SOLVERS`.

    Attributes
    ----------
    method : str
        The :func:`scipy.optimize.minimize` method.
    hessp : bool
        Whether it needs Hessian-vector products (see `curvature`).
    float64 : bool
        Whether it trains float32 data in float64: TNC's finite-difference
        curvature, Newton-CG's line search and trust-krylov's model stall on
        float32 rounding (docs/user_guide/performance.rst, "float32").
    curvature : str or None
        What curvature='auto' means for it: the exact Hessian, or
        Gauss-Newton for trust-krylov, whose backend (trlib) gives
        run-to-run different iterates on indefinite Hessians.
    norm : {'max', 'l2'}
        How its tol test measures the gradient.
    stall_statuses : tuple or None
        scipy "success" statuses that are not convergence by tol when the
        gradient is above it: None for any status (L-BFGS-B's
        relative-reduction exit), TNC's |f| and |x| exits (1, 2).
    options : callable
        ``(max_iter, max_fun, tol) -> scipy options``.
    counts_iterations : bool
        Whether scipy enforces max_iter itself (TNC has no iteration budget).
    driver : callable or None
        skmlp's own method instead of scipy's (Levenberg-Marquardt,
        :mod:`skmlp._lm`): it needs the dense Gauss-Newton matrix and takes
        ``alpha="evidence"``.
    max_params : int or None
        The largest network the method accepts.
    """

    method: str
    hessp: bool = False
    float64: bool = False
    curvature: str | None = None
    norm: str = "max"
    stall_statuses: tuple | None = ()
    options: object = lambda max_iter, max_fun, tol: {"maxiter": max_iter, "gtol": tol}
    counts_iterations: bool = True
    driver: object = None
    max_params: int | None = None
    name: str = ""

    def check_size(self, n_params):
        """Refuse a network too large for the method (see `max_params`)."""
        if self.max_params is not None and n_params > self.max_params:
            raise ValueError(
                f"solver={self.name!r} keeps a dense {n_params} x {n_params} Gauss-Newton "
                f"matrix (more than {self.max_params} parameters): use "
                "solver='trust-ncg' with curvature='gauss-newton', its matrix-free "
                "equivalent, or a smaller network."
            )

    def resolve_curvature(self, curvature):
        """The curvature the objective needs for this solver (None without products)."""
        if self.driver is not None:
            return self.curvature  # the chunks keep their passes for G
        if not self.hessp:
            return None
        return self.curvature if curvature == "auto" else curvature


SOLVERS = {
    "lbfgs": SolverSpec(
        "L-BFGS-B",
        stall_statuses=None,
        options=lambda max_iter, max_fun, tol: {
            "maxiter": max_iter,
            "maxfun": max_fun,
            "gtol": tol,
            "ftol": _LBFGS_FTOL,
            "maxls": 50,
        },
    ),
    "tnc": SolverSpec(
        "TNC",
        float64=True,
        stall_statuses=(1, 2),
        options=lambda max_iter, max_fun, tol: {"maxfun": max_fun, "gtol": tol},
        counts_iterations=False,
    ),
    "cg": SolverSpec("CG"),
    "bfgs": SolverSpec("BFGS"),
    "newton-cg": SolverSpec(
        "Newton-CG",
        hessp=True,
        float64=True,
        curvature="exact",
        options=lambda max_iter, max_fun, tol: {"maxiter": max_iter, "xtol": tol},
    ),
    "trust-ncg": SolverSpec("trust-ncg", hessp=True, curvature="exact", norm="l2"),
    "trust-krylov": SolverSpec(
        "trust-krylov", hessp=True, float64=True, curvature="gauss-newton", norm="l2"
    ),
    "lm": SolverSpec(
        "Levenberg-Marquardt",
        float64=True,
        curvature="gauss-newton",
        driver=levenberg_marquardt,
        max_params=MAX_PARAMS,
        name="lm",
    ),
}


# MLPClassifier's and MLPRegressor's minibatch solvers, which full-batch training has not.
STOCHASTIC_SOLVERS = ("adam", "sgd")


def check_solver(solver, owner):
    """Refuse an unknown `solver` as scikit-learn's parameter validation does,
    with a message for the user of MLPClassifier / MLPRegressor.

    Raises :class:`~sklearn.utils._param_validation.InvalidParameterError`
    (a ValueError) naming the solvers in sorted order and the closest one:
    'lbfgs' for 'adam' and 'sgd' (skmlp trains full-batch), else the nearest
    spelling when one is near.
    """
    if isinstance(solver, str) and solver in SOLVERS:
        return
    names = ", ".join(repr(name) for name in sorted(SOLVERS))
    message = (
        f"The 'solver' parameter of {owner} must be a str among {{{names}}}. "
        f"Got {solver!r} instead."
    )
    if isinstance(solver, str) and solver.lower() in STOCHASTIC_SOLVERS:
        sklearn_name = owner.replace("Backprop", "")
        message += (
            f" {owner} trains full-batch (every step uses the whole training set, "
            "through scipy's optimizers), so it has no minibatch solvers such as "
            "'adam' or 'sgd'. The closest is solver='lbfgs', the same method as "
            f"{sklearn_name}(solver='lbfgs')."
        )
    elif isinstance(solver, str):
        close = difflib.get_close_matches(solver.lower(), sorted(SOLVERS), n=1)
        if close:
            message += f" Did you mean {close[0]!r}?"
    raise InvalidParameterError(message)


def gradient_norm(solver, grad):
    """The gradient's norm as `solver` compares it with tol (NaN if unknown)."""
    if grad is None:
        return np.nan
    grad = np.asarray(grad)
    if SOLVERS[solver].norm == "l2":
        return float(np.linalg.norm(grad))
    return float(np.max(np.abs(grad)))


class _Stop(Exception):
    """Raised inside the optimizer to end the run; carries the reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class SolverResult:
    """What a run of a solver produced and why it stopped.

    ``reason`` is one of "converged" (by `tol`), "stalled" (the solver could
    make no more progress with the gradient above `tol`: a line search failed
    at machine precision, or L-BFGS-B / TNC stopped on a too small change of
    the loss; ``message`` says which), "max_iter", "max_fun", "non-finite",
    "interrupted" (KeyboardInterrupt, kept in ``interrupt``), or whatever
    reason the ``on_iteration`` observer gave to stop.
    """

    x: np.ndarray
    fun: float
    n_iter: int
    n_fun: int
    reason: str
    message: str
    loss_curve: list = field(default_factory=list)
    grad_norm: float = np.nan  # see gradient_norm; at x, where known
    interrupt: BaseException | None = None

    @property
    def converged(self):
        return self.reason == "converged"


class _Run:
    """The state of one solver run: evaluations, iterates, the loss curve."""

    def __init__(self, solver, loss_and_grad, x0, max_iter, max_fun, on_iteration, loss=None):
        self.solver = solver
        self.loss_and_grad = loss_and_grad
        self.loss = loss
        self.max_iter = max_iter
        self.max_fun = max_fun
        self.on_iteration = on_iteration
        self.n_fun = 0
        self.curve = []
        # The last few evaluated points: a trust-region iterate is often not
        # the last point evaluated (a rejected step comes after it).
        self._recent = deque(maxlen=_RECENT)
        # The last completed iterate: what a stopped run returns.
        self.last_x, self.last_fun, self.last_grad = x0.copy(), None, None

    def evaluate(self, x):
        """The objective as the optimizer sees it, with the evaluation budget."""
        return self.counted(self.loss_and_grad, x)

    def counted(self, function, x):
        """``function(x) -> (loss, grad, ...)`` as one evaluation: budget, finiteness, memory."""
        if self.n_fun >= self.max_fun:
            raise _Stop("max_fun")
        values = function(x)
        self.n_fun += 1
        loss, grad = values[0], values[1]
        if not (np.isfinite(loss) and np.all(np.isfinite(grad))):
            # Extreme inputs can overflow; end with the last finite iterate.
            raise _Stop("non-finite")
        # Copies: the optimizer may modify x (and a gradient) in place.
        self._recent.append((x.copy(), loss, np.array(grad, dtype=np.float64)))
        return values

    def trial(self, x):
        """J at a trial point (an evaluation: of J alone with `loss`), or None if not finite."""
        if self.loss is None:
            try:
                return self.evaluate(x)[0]
            except _Stop as stop:
                if stop.reason != "non-finite":
                    raise
                return None
        if self.n_fun >= self.max_fun:
            raise _Stop("max_fun")
        value = self.loss(x)
        self.n_fun += 1
        return value if np.isfinite(value) else None

    def at(self, x):
        """Loss and gradient at x: remembered if evaluated lately, else counted."""
        for x_seen, loss, grad in reversed(self._recent):
            if np.array_equal(x, x_seen):
                return loss, grad
        return self.evaluate(x)

    def iteration_done(self, x, info=None):
        if not np.all(np.isfinite(x)):
            raise _Stop("non-finite")
        loss, grad = self.at(x)
        self.curve.append(float(loss))
        self.last_x, self.last_fun, self.last_grad = x.copy(), float(loss), grad
        n_iter = len(self.curve)
        if self.on_iteration is not None:
            reason = self.on_iteration(n_iter, float(loss), x, grad, info)
            if reason:
                raise _Stop(reason)
        if not SOLVERS[self.solver].counts_iterations and n_iter >= self.max_iter:
            raise _Stop("max_iter")

    def callback(self):
        """The per-iteration callback in the signature the method calls."""
        if SOLVERS[self.solver].method == "TNC":  # calls back with x alone
            return self.iteration_done

        def callback(intermediate_result):
            self.iteration_done(intermediate_result.x)

        return callback

    def stopped(self, reason, message, interrupt=None):
        x, loss, grad = self.last_x, self.last_fun, self.last_grad
        if loss is None and interrupt is None:
            # Stopped before the first iteration: J at the start, from the
            # solver's first evaluation (x0) when it was finite.
            seen = [f for x_seen, f, _ in self._recent if np.array_equal(x, x_seen)]
            loss = float(seen[0] if seen else self.loss_and_grad(x)[0])
        grad_norm = gradient_norm(self.solver, grad)
        return SolverResult(
            x, loss, len(self.curve), self.n_fun, reason, message, self.curve, grad_norm, interrupt
        )


def _finite_or_stop(hessp):
    def finite_hessp(x, v):
        product = hessp(x, v)
        if not np.all(np.isfinite(product)):
            raise _Stop("non-finite")
        return product

    return finite_hessp


def _run_driver(spec, run, gauss_newton, x0, max_iter, tol, evidence):
    """One of skmlp's own methods (:attr:`SolverSpec.driver`) under the same contract."""
    if gauss_newton is None:
        raise ValueError(f"Solver {spec.method!r} needs the Gauss-Newton matrix (gauss_newton).")
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            reason, message = spec.driver(
                run,
                gauss_newton,
                x0,
                max_iter=max_iter,
                tol=tol,
                gradient_norm=lambda grad: gradient_norm(run.solver, grad),
                evidence=evidence,
            )
    except _Stop as stop:
        return run.stopped(stop.reason, f"stopped: {stop.reason}")
    except KeyboardInterrupt as interrupt:
        return run.stopped("interrupted", "interrupted by KeyboardInterrupt", interrupt)
    return run.stopped(reason, message)


def run_solver(
    solver,
    loss_and_grad,
    x0,
    *,
    max_iter,
    max_fun,
    tol,
    hessp=None,
    gauss_newton=None,
    loss=None,
    evidence=None,
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
    gauss_newton : callable or None
        ``theta -> (loss, grad, G)``, required by 'lm'.
    loss : callable or None
        ``theta -> loss`` alone: 'lm''s trial steps (None: from
        `loss_and_grad`).
    evidence : skmlp._lm.Evidence or None
        Re-estimates alpha after each 'lm' step (``alpha="evidence"``).
    on_iteration : callable or None
        Called as ``on_iteration(n_iter, loss, theta, grad, info)`` after
        each iteration (``info`` a dict of the solver's state, e.g. 'lm''s
        mu, or None); a true return value (a reason, e.g.
        "early_stopping") ends the run at that iterate.

    Returns
    -------
    result : SolverResult
        A KeyboardInterrupt also ends the run (reason "interrupted") with the
        last completed iterate.
    """
    spec = SOLVERS[solver]
    run = _Run(solver, loss_and_grad, x0, max_iter, max_fun, on_iteration, loss)
    kwargs = {}
    if spec.hessp:
        if hessp is None:
            raise ValueError(f"Solver {solver!r} needs a Hessian-vector product (hessp).")
        kwargs["hessp"] = _finite_or_stop(hessp)
    if spec.driver is not None:
        return _run_driver(spec, run, gauss_newton, x0, max_iter, tol, evidence)
    try:
        # Overflow on extreme inputs is detected above and ends the run with
        # the last finite iterate; numpy's warnings about it would only leak.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = minimize(
                run.evaluate,
                x0.copy(),
                jac=True,
                method=spec.method,
                callback=run.callback(),
                options=spec.options(max_iter, max_fun, tol),
                **kwargs,
            )
    except _Stop as stop:
        return run.stopped(stop.reason, f"stopped: {stop.reason}")
    except KeyboardInterrupt as interrupt:
        return run.stopped("interrupted", "interrupted by KeyboardInterrupt", interrupt)

    x, loss = res.x, float(res.fun)
    if not (np.isfinite(loss) and np.all(np.isfinite(x))):
        return run.stopped("non-finite", str(res.message))
    grad_norm = gradient_norm(solver, getattr(res, "jac", None))
    if res.success:
        reason = "converged"
        # Some "success" exits are not convergence by tol (see SolverSpec).
        statuses = spec.stall_statuses
        stalled = statuses is None or res.status in statuses
        if stalled and not grad_norm <= tol:
            reason = "stalled"
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
        grad_norm,
    )


def convergence_message(solver, result, *, max_iter, max_fun, tol, advice):
    """An actionable ConvergenceWarning text, or None when none is due.

    As scikit-learn's ``_check_optimize_result``: every stop that is not
    convergence by `tol` gets a warning naming the reason (and scipy's
    message) and what to try. `advice` (from the caller, who knows the
    data) ends the budget and stall messages: e.g. "scale the inputs".
    Interruptions and failing callbacks are reported by the exception the
    caller re-raises, early stopping and callback requests are no failures.
    """
    reason = result.reason
    if reason == "max_iter":
        text = (
            f"Solver {solver!r} stopped after max_iter={max_iter} iterations "
            f"without converging (loss {result.fun:.6g}). Increase max_iter"
        )
    elif reason == "max_fun":
        text = (
            f"Solver {solver!r} used its budget of max_fun={max_fun} objective "
            f"evaluations after {result.n_iter} iterations without converging "
            f"(loss {result.fun:.6g}). Increase max_fun"
        )
    elif reason == "stalled":
        gradient = "" if np.isnan(result.grad_norm) else f"|gradient| {result.grad_norm:.3g}, "
        return (
            f"Solver {solver!r} stopped after {result.n_iter} iterations without "
            f"converging to tol={tol:g} ({gradient}loss {result.fun:.6g}): it could "
            f"make no more progress ({result.message.strip()}). {advice}"
        )
    elif reason == "non-finite":
        return (
            f"Solver {solver!r} produced a non-finite loss; the parameters of "
            f"the last finite iterate (iteration {result.n_iter}) were kept. "
            "Scale the inputs or increase alpha."
        )
    else:
        return None
    return f"{text}, or {advice[0].lower()}{advice[1:]}"
