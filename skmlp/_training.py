"""``train(problem, estimator, context) -> FitResult``: a solver run on an open problem.

The solver (:mod:`skmlp._solvers`) minimizes the problem's objective; the
monitor (:mod:`skmlp._monitor`) observes every iteration (verbose lines,
early stopping on the problem's validation score, scikit-learn's callbacks);
the result keeps the best iterate (early stopping), what stopped the run
(interrupts, failing callbacks, budgets) and the warning due, if any. The
estimator then sets its fitted attributes from it.
"""

import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._lm import Evidence
from ._monitor import CallbackBridge, FitMonitor
from ._problem import is_dask_collection
from ._solvers import convergence_message, run_solver

# Frames a warning about a fit skips to reach the user's call: skmlp's own
# and scikit-learn's fit wrappers (_fit_context, the callback support).
_WRAPPER_FILES = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.join(os.path.dirname(os.path.abspath(sklearn.__file__)), "base.py"),
    os.path.join(os.path.dirname(os.path.abspath(sklearn.__file__)), "callback") + os.sep,
)


@dataclass
class FitResult:
    """What a training run leaves: the parameters kept and the run's record."""

    theta: np.ndarray
    loss: float
    n_iter: int
    n_fun: int
    n_hessp: int
    loss_curve: list
    validation_scores: list | None
    best_validation_score: float | None
    alpha: float = 0.0  # the penalty at the end (chosen by the evidence, or the given one)
    effective_n_params: float | None = None  # with alpha="evidence": gamma
    interrupt: BaseException | None = None  # re-raised once the estimator is fitted
    callback_error: BaseException | None = None


def user_stacklevel():
    """``stacklevel`` for a warning issued by the caller: the first frame
    outside skmlp and scikit-learn's fit wrappers."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _WRAPPER_FILES
    ):
        frame, level = frame.f_back, level + 1
    return level


def roughly_standardized(X):
    """Whether the columns look standardized: |mean| <= 1 and std within
    [1/4, 4] (constant columns aside), from at most 1000 evenly spaced rows."""
    rows = np.linspace(0, X.shape[0] - 1, min(X.shape[0], 1000)).astype(int)
    if is_dask_collection(X):  # the sample of the rows on the cluster
        X = X[rows].compute()
        rows = np.arange(X.shape[0])
    # Values near the float maximum overflow here: not standardized then.
    with np.errstate(over="ignore", invalid="ignore"):
        if sp.issparse(X):
            X = sp.csr_matrix(X, dtype=np.float64)
            mean, var = mean_variance_axis(X, axis=0)
            lo, hi = X.min(axis=0).toarray().ravel(), X.max(axis=0).toarray().ravel()
        else:
            sample = np.asarray(X[rows], dtype=np.float64)
            mean, var = sample.mean(axis=0), sample.var(axis=0)
            lo, hi = sample.min(axis=0), sample.max(axis=0)
        std = np.sqrt(var)
    # Constant in the sample (e.g. a rare feature the sample misses): its
    # variance is rounding noise, not a scale.
    varying = hi > lo
    return bool(np.all(np.abs(mean) <= 1) and np.all((std[varying] >= 0.25) & (std[varying] <= 4)))


# alpha / S above this: the penalty dwarfs the data term, and the quasi-Newton
# solvers stall short of its minimum (all weights near zero).
LARGE_PENALTY_SCALE = 1e6


def convergence_advice(problem, result, solver, tol, penalty_scale):
    """What to try after a budget or stall stop, from the data's and the penalty's scale."""
    if penalty_scale > LARGE_PENALTY_SCALE:
        return (
            f"The penalty's scale alpha / S = {penalty_scale:.3g} (S the sum of the "
            "sample weights) dwarfs the data term: scale the sample weights up (the "
            "data term depends only on their ratios), reduce alpha, or use "
            "solver='trust-ncg', which reaches the minimum on such problems."
        )
    if not roughly_standardized(problem.X):
        return "Scale the inputs (e.g. StandardScaler)."
    if problem.evidence:  # alpha is the evidence's to choose
        return f"loosen tol (tol={tol:g})."
    if result.reason != "stalled":
        return f"increase alpha (better conditioned) or loosen tol (tol={tol:g})."
    if problem.X.dtype == np.float32:
        return (
            "float32 rounding limits how far the loss can fall: fit float64 "
            f"data (X.astype(np.float64)) or loosen tol (tol={tol:g})."
        )
    other = "'bfgs' or 'trust-ncg'" if solver == "lbfgs" else "'lbfgs'"
    return (
        f"Loosen tol (tol={tol:g}) to what float64 precision allows, "
        f"increase alpha, or try solver={other}."
    )


def _bridge(context, estimator, problem, fitted_attributes, task_data):
    """scikit-learn's per-iteration callback tasks, when callbacks are set."""
    if not getattr(estimator, "_skl_callbacks", None):
        return None
    return CallbackBridge(context, estimator, fitted_attributes, problem.theta0, **task_data)


def train(problem, estimator, context, fitted_attributes, task_data):
    """Minimize the problem's objective with the estimator's solver settings.

    Parameters
    ----------
    problem : TrainingProblem
        Not open yet: opened and closed here.
    estimator : BaseBackpropMLP
        Its solver, budgets, tol, verbose and early-stopping settings.
    context : sklearn.callback.CallbackContext
        The fit's root callback context (its fit task begun).
    fitted_attributes : callable
        ``theta -> dict`` of the attributes that make a copy of the
        estimator predict with theta (for the callbacks).
    task_data : dict
        X, y and metadata handed to the callbacks.

    Returns
    -------
    result : FitResult
        KeyboardInterrupt before the first iteration is raised here.
    """
    bridge = _bridge(context, estimator, problem, fitted_attributes, task_data)
    monitor = FitMonitor(
        verbose=estimator.verbose,
        max_iter=estimator.max_iter,
        validation_score=problem.validation_score if problem.has_validation else None,
        n_iter_no_change=estimator.n_iter_no_change,
        tol=estimator.tol,
        callback_iteration=bridge,
    )
    # Inside the with, BLAS runs one thread: parallelism comes from the row
    # chunks, and idle BLAS workers spinning would fight the optimizer.
    with problem as objective:
        evidence = None
        if problem.evidence:
            squared_error = problem.targets.loss().name == "identity"
            n_targets = objective.penalty.sum_weights * problem.layout.layer_sizes[-1]
            evidence = Evidence(objective.penalty, n_targets, squared_error)
        result = run_solver(
            estimator.solver,
            objective.loss_and_grad,
            problem.theta0,
            hessp=objective.hessp if problem.curvature else None,
            gauss_newton=objective.gauss_newton,
            loss=objective.loss,
            evidence=evidence,
            max_iter=estimator.max_iter,
            max_fun=estimator.max_fun,
            tol=estimator.tol,
            on_iteration=monitor,
        )
        n_hessp = objective.n_hessp
        penalty_scale = objective.penalty.alpha / objective.penalty.sum_weights
        # No best iterate (e.g. stopped before the first iteration): score
        # what is returned, here (a cluster's held-out rows live as long as
        # its objective).
        completed = result.interrupt is None or result.n_iter > 0
        unscored_score = None
        if problem.has_validation and monitor.best_theta is None and completed:
            unscored_score = problem.validation_score(result.x)
    if bridge is not None:
        bridge.close()
    if result.interrupt is not None and result.n_iter == 0:
        monitor.finish(None)
        raise result.interrupt  # nothing completed: fit restores the estimator
    theta, loss, best_score = result.x, result.fun, monitor.best_score
    if monitor.best_theta is not None:
        theta, loss = monitor.best_theta, result.loss_curve[monitor.best_iter - 1]
    elif problem.has_validation:
        best_score = unscored_score
    monitor.finish(_summary(estimator.solver, result, monitor, loss, best_score, problem))
    if result.interrupt is None:
        _warn_unless_converged(problem, result, estimator, penalty_scale)
    fit = FitResult(
        theta=theta,
        loss=float(loss),
        n_iter=result.n_iter,
        n_fun=result.n_fun,
        n_hessp=n_hessp,
        loss_curve=list(result.loss_curve),
        validation_scores=monitor.validation_scores if problem.has_validation else None,
        best_validation_score=best_score if problem.has_validation else None,
        alpha=objective.penalty.alpha,
        effective_n_params=None if evidence is None else evidence.gamma,
        interrupt=result.interrupt,
        callback_error=monitor.callback_error,
    )
    if result.interrupt is not None:
        _note_interrupt(result, monitor, fit, type(estimator).__name__)
    return fit


def _warn_unless_converged(problem, result, estimator, penalty_scale):
    advice = None
    if result.reason in ("max_iter", "max_fun", "stalled"):
        advice = convergence_advice(
            problem, result, estimator.solver, estimator.tol, penalty_scale
        )
    message = convergence_message(
        estimator.solver,
        result,
        max_iter=estimator.max_iter,
        max_fun=estimator.max_fun,
        tol=estimator.tol,
        advice=advice,
    )
    if message is not None:
        warnings.warn(message, ConvergenceWarning, stacklevel=user_stacklevel())


def _summary(solver, result, monitor, loss, best_score, problem):
    """The verbose summary: why the solver stopped, and with early stopping
    which parameters were kept (not the last iterate's)."""
    summary = f"{solver}: {result.reason} after {result.n_iter} iterations, "
    summary += f"{result.n_fun} evaluations, "
    if problem.has_validation:
        kept = kept_parameters(monitor, result.n_iter, loss, best_score)
        return f"{summary}{monitor.elapsed():.2f} s ({result.message}); kept {kept}"
    return f"{summary}loss {loss:.8f}, {monitor.elapsed():.2f} s ({result.message})"


def kept_parameters(monitor, n_iter, loss, score):
    """Which parameters a fit keeps, as the summary and an interrupt's note say it.

    With early stopping, the best validation score's iteration (numbers
    formatted as on its verbose line), or the initial parameters when the
    solver stopped before its first iteration; else the last iterate.
    """
    if monitor.best_theta is not None:
        return (
            f"the parameters of the best validation score (iteration {monitor.best_iter}, "
            f"validation score {score:.6f}, loss {loss:.8f})"
        )
    if score is not None and n_iter == 0:
        return f"the initial parameters (validation score {score:.6f}, loss {loss:.8f})"
    return f"the last completed iterate (iteration {n_iter}, loss {loss:.8f})"


def _note_interrupt(result, monitor, fit, name):
    """Say on the interrupt which parameters the estimator was fitted with."""
    kept = kept_parameters(monitor, result.n_iter, fit.loss, fit.best_validation_score)
    note = (
        f"{name}.fit was interrupted after {result.n_iter} iterations; the "
        f"estimator is fitted with {kept}."
    )
    interrupt = result.interrupt
    if hasattr(interrupt, "add_note"):
        interrupt.add_note(note)
    else:  # Python 3.10
        interrupt.args = (*interrupt.args, note)
