"""
Fitting one model on a Dask cluster
===================================

When X is a dask array (or a dask DataFrame), ``fit`` leaves the rows on the
workers of the cluster: every worker validates its chunks, keeps them in a
Dask actor, and each evaluation of the loss and gradient sends only the
parameters to the workers and brings back one partial gradient per chunk,
which the client adds in chunk order. The model is the same on any number
of workers and any placement of the chunks. It adds each chunk's rows in
their given order, where an in-memory fit first sorts its rows into a
canonical order: the two minimize the same J and agree to rounding (exactly
when the rows are given in that order). ``predict`` and ``predict_proba`` on
dask input are lazy.

Here the cluster is a :class:`~dask.distributed.LocalCluster` of two worker
processes on this machine; a :class:`~dask.distributed.Client` pointed at a
real scheduler's address is the only change for a cluster of machines.
Needs the ``dask`` extra (``pip install -e ".[dask]"`` in skmlp's folder).
"""

# %%
# Data: scikit-learn's 8x8 digits, scaled to [0, 1], as dask arrays of
# 300-row chunks (a real data set would come from ``dask.array.from_zarr``,
# ``dask.dataframe.read_parquet``, ...). The worker processes import this
# script again, hence the ``__main__`` guard below.
import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skmlp import BackpropMLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Fit on the cluster, predict lazily, score with one distributed reduction;
# then the same fit in memory, with ``batch_size`` equal to the chunks: the
# same J, summed in another row order, so the weights agree to rounding.
if __name__ == "__main__":
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"Dask cluster: {len(cluster.workers)} workers at {cluster.scheduler_address}")
        X_dask = da.from_array(X_train, chunks=(300, 64)).persist()
        y_dask = da.from_array(y_train, chunks=300).persist()
        clf = BackpropMLPClassifier(alpha=1.0, tol=1e-3, random_state=0)
        clf.fit(X_dask, y_dask)
        print(f"fitted on {X_dask.numblocks[0]} chunks: {clf.n_iter_} iterations")

        X_test_dask = da.from_array(X_test, chunks=(150, 64))
        labels = clf.predict(X_test_dask)  # lazy: nothing computed yet
        print(f"lazy predict: {type(labels).__name__} with chunks {labels.chunks[0]}")
        print(f"first labels: {labels[:10].compute()}")
        print(f"test accuracy on the cluster: {clf.score(X_test_dask, y_test):.4f}")

    local = BackpropMLPClassifier(alpha=1.0, tol=1e-3, random_state=0, batch_size=300)
    local.fit(X_train, y_train)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(clf.coefs_, local.coefs_))
    print(f"largest weight difference from the in-memory fit: {gap:.1e}")
    print(f"test accuracy in memory: {local.score(X_test, y_test):.4f}")
