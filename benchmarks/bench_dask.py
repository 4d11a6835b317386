"""One model on a Dask cluster: per-evaluation overhead, fit time vs skmlp and Spark.

Usage::

    python benchmarks/bench_dask.py [--rows 200000] [--iters 100] [--no-spark]
    python benchmarks/bench_dask.py --quick    # small sizes, a minute

Everything runs on this machine: a loopback ``LocalCluster`` of 2 worker
processes x 1 thread (the shape of the issue's measurement), skmlp in
memory with its default 2 threads, and Spark on ``local[2]``.

1. Overhead per evaluation, on a network so small (8-3-2 on 8 chunks of 16
   rows) that compute is negligible: the cluster objective (one call per
   worker actor holding its chunks, per-chunk terms back, added in chunk
   order) next to a new graph per evaluation on the same persisted chunks
   (``client.map`` over the chunks + a summing task + ``result``, as
   dask-glm's solvers do it). Medians of interleaved calls.
2. ``--rows`` x 400 (float64, then float32), 10 classes from a random teacher
   network, 400-25-10 with a softmax output, ``alpha=0``, ``--iters``
   L-BFGS iterations, ``tol=0``: the cluster fit (X generated and persisted
   on the workers in 8 row chunks, the fit timed from the call to ``fit``:
   validation pass, actors, iterations; after one warm-up fit that makes
   the worker processes import skmlp) next to the in-memory fit of the
   same rows and pyspark's ``MultilayerPerceptronClassifier`` (same layers,
   maxIter; sigmoid hidden units and softmax output, as skmlp here) on
   ``local[2]``, its DataFrame read from parquet, cached and counted before
   the timer starts. Spark computes in float64 only: both rows compare with
   the same Spark time.
3. The cost of streaming: the same fit on X persisted in worker memory vs
   read at each evaluation from .npy files opened as memmaps, per chunk.

The load average is printed with each table (the machine may be shared).

Measured on the 2-vCPU Intel Xeon (AVX-512, OpenBLAS SkylakeX kernels; load
average 0.7-1.4), 200,000 rows, 100 iterations, medians of 3 fits each:
overhead 4.2 ms median (28.8 ms with a graph per evaluation); float64 in
memory 18.6 s, cluster 20.6 s (1.11x), Spark 107.9 s (5.2x the cluster);
float32 in memory 10.7 s, cluster 10.4 s (0.97x), Spark 10.4x the cluster.
Until the Dask executor limited the client's BLAS to one thread, the
float32 cluster fit took 2.3x the in-memory one: L-BFGS-B's vector products
on the client woke OpenBLAS's threads, which spun on the cores the workers
compute on (146 ms per evaluation instead of 97).
"""

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
import warnings

import dask
import dask.array as da
import numpy as np
from _machine import load, machine_description
from dask.distributed import Client, LocalCluster, wait
from sklearn.exceptions import ConvergenceWarning

from skmlp import BackpropMLPClassifier
from skmlp._dask import DATA_CONFIG
from skmlp._problem import build_problem

warnings.simplefilter("ignore", ConvergenceWarning)


def cluster():
    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )


# ------------------------------------------------------------ 1. overhead


def _chunk_term(chunk, theta, layer_sizes):
    from skmlp._layout import Layout
    from skmlp._problem import make_objective

    X, Y = chunk
    with make_objective(Layout(layer_sizes), X, Y, alpha=0.0, n_threads=1) as objective:
        loss, grad = objective.loss_and_grad(theta)
    return loss * len(X), grad * len(X)


def _add_in_order(terms):
    loss, grad = 0.0, 0.0
    for term_loss, term_grad in terms:
        loss += term_loss
        grad = grad + term_grad
    return loss, grad


def overhead(client, n_calls):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 8))
    y = rng.integers(0, 2, 128)
    clf = BackpropMLPClassifier((3,), alpha=0.0, random_state=0)
    problem = build_problem(clf, da.from_array(X, chunks=(16, 8)), y)
    theta = problem.theta0
    layer_sizes = problem.layout.layer_sizes
    chunks = client.scatter([(X[i : i + 16], y[i : i + 16, None]) for i in range(0, 128, 16)])
    arguments = {"theta": theta, "layer_sizes": layer_sizes}
    actor_times, graph_times = [], []
    with problem as objective:
        for _ in range(10):  # warm up both ways
            objective.loss_and_grad(theta)
            terms = client.map(_chunk_term, chunks, pure=False, **arguments)
            client.submit(_add_in_order, terms, pure=False).result()
        for _ in range(n_calls):
            start = time.perf_counter()
            objective.loss_and_grad(theta)
            actor_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            terms = client.map(_chunk_term, chunks, pure=False, **arguments)
            client.submit(_add_in_order, terms, pure=False).result()
            graph_times.append(time.perf_counter() - start)
    print(
        f"\n1. Fixed overhead per evaluation (8 chunks, 8-3-2, {n_calls} calls; "
        f"load average {load()})"
    )
    print(f"{'path':<48} {'median ms':>10} {'p90 ms':>8}")
    for name, times in (
        ("actors holding the chunks (skmlp)", actor_times),
        ("a new graph per evaluation (client.map + sum)", graph_times),
    ):
        times = sorted(times)
        print(
            f"{name:<48} {1000 * statistics.median(times):>10.2f} "
            f"{1000 * times[int(0.9 * len(times))]:>8.2f}"
        )


# ------------------------------------------------------------ 2. fit time


def teacher_data(client, n_rows, n_chunks):
    """X ~ N(0, 1) generated on the workers; y from a random 400-25-10 network."""
    state = da.random.RandomState(0)
    X = state.standard_normal((n_rows, 400), chunks=(n_rows // n_chunks, 400))
    rng = np.random.default_rng(1)
    W1, W2 = rng.standard_normal((400, 25)) / 20, rng.standard_normal((25, 10)) * 2
    y = X.map_blocks(
        lambda b: np.argmax(np.tanh(b @ W1) @ W2, axis=1), drop_axis=1, dtype=np.int64
    )
    X, y = client.persist([X, y])
    wait([X, y])
    return X, y


def spark_fit(X, y, iters, workdir):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    path = os.path.join(workdir, "data.parquet")
    columns = {f"x{i}": X[:, i] for i in range(X.shape[1])}
    columns["label"] = y.astype(np.float64)
    pq.write_table(pa.table(columns), path)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "8g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        blas = spark._jvm.dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getName()
        frame = spark.read.parquet(path)
        names = [f"x{i}" for i in range(X.shape[1])]
        frame = VectorAssembler(inputCols=names, outputCol="features").transform(frame)
        frame = frame.select("features", "label").cache()
        frame.count()
        mlp = MultilayerPerceptronClassifier(
            layers=[X.shape[1], 25, 10], maxIter=iters, tol=0.0, seed=0, solver="l-bfgs"
        )
        start = time.perf_counter()
        model = mlp.fit(frame)
        seconds = time.perf_counter() - start
        iterations = model.summary().totalIterations
        version = spark.version
    finally:
        spark.stop()
    return seconds, iterations, blas, version


def fit_times(client, n_rows, iters, spark, repeats):
    X, y = teacher_data(client, n_rows, 8)
    X_local, y_local = dask.compute(X, y)
    params = {
        "hidden_layer_sizes": (25,),
        "out_activation": "softmax",
        "alpha": 0.0,
        "max_iter": iters,
        "tol": 0.0,
        "random_state": 0,
    }
    # Warm up: the worker processes import skmlp and scikit-learn once.
    BackpropMLPClassifier(**{**params, "max_iter": 1}).fit(X, y)
    rows = []
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype).persist() if dtype == np.float32 else X
        wait(Xd)
        X_mem = X_local.astype(dtype, copy=False)
        memory, cluster_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            local = BackpropMLPClassifier(**params).fit(X_mem, y_local)
            memory.append(time.perf_counter() - start)
            start = time.perf_counter()
            remote = BackpropMLPClassifier(**params).fit(Xd, y)
            cluster_times.append(time.perf_counter() - start)
        rows.append(
            (
                np.dtype(dtype).name,
                statistics.median(memory),
                statistics.median(cluster_times),
                local.n_iter_,
                remote.n_iter_,
                remote.n_fun_,
                local.score(X_mem, y_local),
                remote.score(Xd, y),
            )
        )
    spark_row = None
    if spark:
        with tempfile.TemporaryDirectory() as workdir:
            spark_row = spark_fit(X_local, y_local, iters, workdir)
    print(
        f"\n2. Fit {n_rows} x 400, 400-25-10 softmax, alpha=0, {iters} iterations, "
        f"tol=0 (load average {load()})"
    )
    if spark_row is not None:
        print(
            f"   Spark {spark_row[3]} local[2]: {spark_row[0]:.1f} s for "
            f"{spark_row[1]} iterations, BLAS {spark_row[2]}"
        )
    print(
        f"{'dtype':<8} {'in-memory s':>11} {'cluster s':>10} {'cluster/mem':>11} "
        f"{'Spark/cluster':>13} {'iters':>9} {'evals':>6} {'train acc mem/cluster':>22}"
    )
    for name, mem, clu, it_mem, it_clu, n_fun, acc_mem, acc_clu in rows:
        vs_spark = f"{spark_row[0] / clu:13.2f}" if spark_row is not None else f"{'-':>13}"
        print(
            f"{name:<8} {mem:>11.1f} {clu:>10.1f} {clu / mem:>11.2f} {vs_spark} "
            f"{it_mem:>4}/{it_clu:<4} {n_fun:>6} {acc_mem:>10.4f}/{acc_clu:<.4f}"
        )


# ------------------------------------------------------------ 3. streaming


def streaming_cost(client, n_chunks, rows_per_chunk, iters):
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as workdir:
        blocks, parts = [], []
        for i in range(n_chunks):
            part = rng.standard_normal((rows_per_chunk, 400))
            path = os.path.join(workdir, f"chunk{i}.npy")
            np.save(path, part)
            parts.append(part)
            blocks.append(
                da.from_delayed(dask.delayed(np.load)(path, mmap_mode="r"), part.shape, part.dtype)
            )
        X_files = da.concatenate(blocks)
        X = np.concatenate(parts)
        y = (X[:, :10].sum(axis=1) > 0).astype(int) + (X[:, 10] > 0)
        y_d = da.from_array(y, chunks=rows_per_chunk)
        X_persisted = client.persist(X_files)
        wait(X_persisted)
        params = {"hidden_layer_sizes": (25,), "max_iter": iters, "tol": 0.0, "random_state": 0}
        times = {}
        for name, data, mode in (
            ("persisted (held by the actors)", X_persisted, "auto"),
            ("streamed from .npy memmaps", X_files, "stream"),
        ):
            with dask.config.set({DATA_CONFIG: mode}):
                start = time.perf_counter()
                clf = BackpropMLPClassifier(**params).fit(data, y_d)
                times[name] = (time.perf_counter() - start, clf.n_fun_, clf.coefs_[0].copy())
    (a, b) = times.values()
    same = np.array_equal(a[2], b[2])
    print(
        f"\n3. Streaming: {n_chunks} chunks x {rows_per_chunk} x 400 float64 "
        f"({n_chunks * rows_per_chunk * 400 * 8 / 2**20:.0f} MiB), 400-25-3, {iters} iterations "
        f"(load average {load()}); same model: {same}"
    )
    print(f"{'X':<34} {'fit s':>7} {'evals':>6} {'ms/eval':>8}")
    for name, (seconds, n_fun, _) in times.items():
        print(f"{name:<34} {seconds:>7.2f} {n_fun:>6} {1000 * seconds / n_fun:>8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1, help="fits per method (median)")
    parser.add_argument("--calls", type=int, default=300, help="overhead samples")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.iters, args.calls = 8000, 10, 100
    print("\n".join(machine_description(("dask", "distributed", "pyspark"))))
    spark = not args.no_spark
    missing = [m for m in ("pyspark", "pyarrow") if importlib.util.find_spec(m) is None]
    if spark and missing:
        print(f"- no Spark column: {' and '.join(missing)} not installed")
        spark = False
    with cluster() as local_cluster, Client(local_cluster) as client:
        overhead(client, args.calls)
        fit_times(client, args.rows, args.iters, spark, args.repeats)
        if args.quick:
            streaming_cost(client, 4, 1000, 5)
        else:
            streaming_cost(client, 16, 5000, 20)


if __name__ == "__main__":
    main()
