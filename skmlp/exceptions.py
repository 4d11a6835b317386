"""The exceptions skmlp raises beyond scikit-learn's (importable without dask)."""


class WorkerLostError(RuntimeError):
    """A worker died during a fit on a Dask cluster and its chunks are gone.

    Raised by :meth:`BackpropMLPClassifier.fit` on dask input when a lost
    worker's chunks cannot be recomputed from their source (e.g. data
    scattered to that worker), or when one evaluation loses workers more
    often than the fit retries. The message names the lost workers; the
    estimator is left as it was before the fit.
    """
