"""Observing a fit, one iteration at a time.

The solver driver calls the monitor after every iteration with the loss, the
parameters and the gradient. The monitor prints the verbose line, scores the
validation split for early stopping (and remembers the best parameters),
forwards each iteration to scikit-learn's callbacks as a task, and answers
with a reason to stop, or None to go on.
"""

import time

import numpy as np


class FitMonitor:
    """Per-iteration observer of one fit.

    Parameters
    ----------
    verbose : int
        Print a line per iteration and a summary when positive.
    validation_score : callable or None
        ``theta -> score`` on the held-out split; enables early stopping.
    n_iter_no_change : int
        Stop after this many iterations without a validation improvement
        larger than `tol`.
    tol : float
        Minimum improvement of the validation score.
    callback_iteration : callable or None
        ``theta -> bool`` runs one iteration's task through scikit-learn's
        callbacks; True (or StopIteration) asks to stop. Any other exception
        stops the fit too and is kept in ``callback_error``.
    """

    def __init__(
        self,
        *,
        verbose=0,
        validation_score=None,
        n_iter_no_change=10,
        tol=0.0,
        callback_iteration=None,
    ):
        self.verbose = verbose
        self.validation_score = validation_score
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callback_iteration = callback_iteration
        self.validation_scores = []
        self.best_score = -np.inf
        self.best_theta = None
        self.best_iter = None
        self.callback_error = None
        self._no_improvement = 0
        self._start = time.perf_counter()

    def __call__(self, n_iter, loss, theta, grad):
        """Observe iteration `n_iter`; return a reason to stop, or None."""
        reason = None
        line = f"Iteration {n_iter}: loss = {loss:.8f}, |grad| = {np.linalg.norm(grad):.3e}"
        if self.validation_score is not None:
            score = self.validation_score(theta)
            self.validation_scores.append(score)
            line += f", validation score = {score:.6f}"
            self._no_improvement = (
                0 if score > self.best_score + self.tol else (self._no_improvement + 1)
            )
            if score > self.best_score:
                self.best_score, self.best_theta, self.best_iter = score, theta.copy(), n_iter
            if self._no_improvement >= self.n_iter_no_change:
                reason = "early_stopping"
        if self.verbose:
            print(f"{line}, {self.elapsed():.2f} s", flush=True)
        if self.callback_iteration is not None:
            try:
                if self.callback_iteration(theta):
                    reason = reason or "callback"
            except StopIteration:
                reason = reason or "callback"
            except Exception as exc:
                # Keep the fit so far; the estimator re-raises once fitted.
                self.callback_error = exc
                reason = "callback_error"
        return reason

    def elapsed(self):
        """Seconds since the fit started."""
        return time.perf_counter() - self._start


class CallbackBridge:
    """One scikit-learn callback task per solver iteration.

    As LogisticRegression's L-BFGS bridge: the first iteration's task begins
    with the initial parameters; each observed iteration ends the current task
    (the callbacks may ask to stop) and begins the next; ``close`` ends the
    last task, which no iteration filled, as an empty one.

    Parameters
    ----------
    context : sklearn.callback.CallbackContext
        The fit's root context.
    estimator : estimator instance
        The estimator being fitted.
    fitted_attributes : callable
        ``theta -> dict`` of the attributes that make a copy of the estimator
        ready to predict with parameters theta.
    theta0 : ndarray
        The initial parameters.
    **task_data
        X, y and metadata handed to the hooks.
    """

    def __init__(self, context, estimator, fitted_attributes, theta0, **task_data):
        self._context = context
        self._estimator = estimator
        self._fitted_attributes = fitted_attributes
        self._task_data = task_data
        self._task = self._begin(theta0)

    def _begin(self, theta):
        task = self._context.subcontext(task_name="iteration")
        task.call_on_fit_task_begin(
            estimator=self._estimator,
            reconstruction_attributes=lambda: self._fitted_attributes(theta),
            **self._task_data,
        )
        return task

    def __call__(self, theta):
        """End the current iteration's task; True if a callback asks to stop."""
        task, self._task = self._task, None
        stop = task.call_on_fit_task_end(
            estimator=self._estimator,
            reconstruction_attributes=lambda: self._fitted_attributes(theta),
            **self._task_data,
        )
        if not stop:
            self._task = self._begin(theta.copy())
        return stop

    def close(self):
        """End the task that no iteration filled."""
        if self._task is not None:
            self._task.call_on_fit_task_end(estimator=self._estimator)
            self._task = None
