"""Prediction on dask input: lazy per-chunk predictions, and score as one reduction."""

import dask
import dask.array as da
import numpy as np
from sklearn.utils.validation import validate_data

from .input import aligned, as_row_chunked, feature_meta, numpy_dtypes


def _with_names(block, names):
    """The block as a DataFrame with the fit's column names, if it had any."""
    if names is None:
        return block
    import pandas as pd

    return pd.DataFrame(block, columns=names, copy=False)


def _predict_block(block, estimator, method, names):
    return getattr(estimator, method)(_with_names(block, names))


def lazy_predict(estimator, method, X, *, checked=False):
    """``estimator.method`` on each row chunk of a dask X: a lazy dask array.

    The columns are checked against the fit here (unless `checked`), each
    chunk's values by the in-memory method on its worker.
    """
    if not checked:
        validate_data(estimator, feature_meta(X), reset=False, skip_check_array=True)
    if hasattr(X, "columns") and not isinstance(X, da.Array):
        X = numpy_dtypes(X).to_dask_array()
    if not isinstance(X, da.Array) or X.ndim != 2:
        X = as_row_chunked(X)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    names = getattr(estimator, "feature_names_in_", None)
    sample = getattr(estimator, method)(_with_names(np.zeros((1, X.shape[1])), names))
    if sample.ndim == 1:
        return X.map_blocks(
            _predict_block,
            estimator,
            method,
            names,
            drop_axis=1,
            dtype=sample.dtype,
            meta=np.empty((0,), sample.dtype),
        )
    return X.map_blocks(
        _predict_block,
        estimator,
        method,
        names,
        chunks=(X.chunks[0], (sample.shape[1],)),
        dtype=sample.dtype,
        meta=np.empty((0, 0), sample.dtype),
    )


def cluster_score(estimator, X, y, sample_weight=None):
    """``estimator.score`` of dask X against y: one distributed reduction.

    The target strategy gives the score's sums over the rows
    (:meth:`~skmlp._targets.ClassTargets.score_terms`: accuracy, or R^2 for
    a regressor), computed lazily on the chunks' predictions.
    """
    validate_data(estimator, feature_meta(X), reset=False, skip_check_array=True)
    y_pred = lazy_predict(estimator, "predict", as_row_chunked(X), checked=True)
    y_true = aligned(y, y_pred.chunks[0], "y")
    w = aligned(sample_weight, y_pred.chunks[0], "sample_weight")
    targets = estimator._fitted_targets()
    return targets.score_from(dask.compute(*targets.score_terms(y_pred, y_true, w)))
