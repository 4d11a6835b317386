"""A minimal scikit-learn fit callback for the tests (imported by them)."""


class StopAfter:
    """Asks the fit to stop after `n` iterations, or then raises `error` or calls `action`.

    Each completed iteration's fitted estimator is passed to `probe`, if
    given, and its result kept in ``last``; ``ends`` counts the iterations.
    `action` acts on the world (e.g. kills a worker) and lets the fit go on.
    """

    def __init__(self, n, error=None, action=None, probe=None):
        self.n, self.error, self.action, self.probe = n, error, action, probe
        self.ends, self.last = 0, None

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name != "iteration" or fitted_estimator is None:
            return False
        self.ends += 1
        if self.probe is not None:
            self.last = self.probe(fitted_estimator)
        if self.ends == self.n:
            if self.error is not None:
                raise self.error
            if self.action is None:
                return True
            self.action()
        return False
