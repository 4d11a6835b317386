"""Observing a fit, one iteration at a time.

The solver driver calls the monitor after every iteration with the loss, the
parameters and the gradient. The monitor prints the verbose line, scores the
validation split for early stopping (and remembers the best parameters),
forwards each iteration to scikit-learn's callbacks as a task, and answers
with a reason to stop, or None to go on.
"""

import sys
import time

import numpy as np


class FitMonitor:
    """Per-iteration observer of one fit.

    Parameters
    ----------
    verbose : int
        When positive, show each iteration (iteration / max_iter, loss,
        gradient norm, validation score with early stopping, elapsed time
        and an upper bound of the time left: the remaining iterations at the
        mean rate so far) and the summary given to :meth:`finish`. With
        ``verbose=1`` on a terminal the line is updated in place (at most
        ten times a second); with ``verbose >= 2``, or when standard output
        is not a terminal (a log, a notebook), one line per iteration.
    max_iter : int
        The iteration budget, shown and used for the time left.
    validation_score : callable or None
        ``theta -> score`` on the held-out split; enables early stopping.
    n_iter_no_change : int or inf
        Stop after this many iterations without a validation improvement
        larger than `tol`.
    tol : float
        Minimum improvement of the validation score.
    callback_iteration : callable or None
        ``theta -> bool`` runs one iteration's task through scikit-learn's
        callbacks; True (or StopIteration) asks to stop. Any other exception
        stops the fit too and is kept in ``callback_error``.
    """

    REFRESH = 0.1  # seconds between in-place updates

    def __init__(
        self,
        *,
        verbose=0,
        max_iter=None,
        validation_score=None,
        n_iter_no_change=10,
        tol=0.0,
        callback_iteration=None,
    ):
        self.verbose = verbose
        self.max_iter = max_iter
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
        self._in_place = verbose == 1 and _is_terminal(sys.stdout)
        self._pending = None  # the in-place line not shown yet
        self._shown_at = -np.inf
        self._width = 0
        self._start = time.perf_counter()

    def __call__(self, n_iter, loss, theta, grad, info=None):
        """Observe iteration `n_iter`; return a reason to stop, or None."""
        reason = None
        score = None
        if self.validation_score is not None:
            score = self.validation_score(theta)
            self.validation_scores.append(score)
            self._no_improvement = (
                0 if score > self.best_score + self.tol else (self._no_improvement + 1)
            )
            if score > self.best_score:
                self.best_score, self.best_theta, self.best_iter = score, theta.copy(), n_iter
            if self._no_improvement >= self.n_iter_no_change:
                reason = "early_stopping"
        if self.verbose:
            self._show(self._line(n_iter, loss, grad, score, info))
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

    def _line(self, n_iter, loss, grad, score, info=None):
        elapsed = self.elapsed()
        line = (
            f"Iteration {n_iter}/{self.max_iter}: loss = {loss:.8f}, "
            f"|grad| = {np.linalg.norm(grad):.3e}"
        )
        for name, value in (info or {}).items():  # the solver's state, e.g. 'lm''s mu
            line += f", {name} = {value:.3g}"
        if score is not None:
            line += f", validation score = {score:.6f}"
        left = elapsed / n_iter * max(self.max_iter - n_iter, 0)
        return f"{line}, {elapsed:.2f} s elapsed, at most {left:.2f} s left"

    def _show(self, line):
        if not self._in_place:
            print(line, flush=True)
            return
        self._pending = line
        now = time.perf_counter()
        if now - self._shown_at >= self.REFRESH:
            self._flush_line()
            self._shown_at = now

    def _flush_line(self):
        line, self._pending = self._pending, None
        # Pad over the longer line before it; "\r" returns to its start.
        sys.stdout.write("\r" + line.ljust(self._width))
        sys.stdout.flush()
        self._width = len(line)

    def finish(self, summary):
        """End the progress display; print `summary` (when verbose)."""
        if self._in_place:
            if self._pending is not None:
                self._flush_line()
            if self._width:
                sys.stdout.write("\n")
                self._width = 0
        if self.verbose and summary is not None:
            print(summary, flush=True)

    def elapsed(self):
        """Seconds since the fit started."""
        return time.perf_counter() - self._start


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


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
