"""How the engine scales: time per evaluation over n_samples, and memory of a big fit.

Usage::

    python benchmarks/bench_scaling.py [--repeats 5] [--quick]

1. Time of one objective evaluation (loss and gradient) for n_samples in
   {1k, 5k, 20k, 100k} (400 features, 10 classes) and hidden layers (25,),
   (100,) and (100, 100), float64 and float32, automatic batch_size and
   threads; the median of `--repeats` evaluations after a warm-up. The slope
   of log(time) against log(n) is 1 for a linear cost; "us/row" is the
   least-squares slope of time against n.
2. Peak memory of a fit (3 L-BFGS iterations) on 200,000 x 400 float32 rows
   with batch_size=4096, in a fresh subprocess so that the peak is that
   fit's: the peak resident set (VmHWM, which unlike ru_maxrss does not
   inherit the parent's) minus the resident set before X was made, next to
   the size of X.

Only numpy, scipy, scikit-learn, threadpoolctl and the standard library.
"""

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np
from _machine import machine_description

from skmlp._layout import Layout
from skmlp._problem import make_objective

SIZES = (1_000, 5_000, 20_000, 100_000)
NETWORKS = ((25,), (100,), (100, 100))
N_FEATURES, N_CLASSES = 400, 10


def time_per_evaluation(X, Y, hidden, repeats):
    layout = Layout((X.shape[1], *hidden, Y.shape[1]))
    theta = layout.init(np.random.RandomState(0))
    with make_objective(layout, X, Y, out_activation="softmax") as objective:
        chunks = objective.executor.chunk_set.chunks  # released when the objective closes
        batch_size, n_chunks = chunks[0].n_rows, len(chunks)
        objective.loss_and_grad(theta)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            objective.loss_and_grad(theta)
            times.append(time.perf_counter() - start)
        return statistics.median(times), batch_size, n_chunks


def scaling_table(repeats, sizes):
    rng = np.random.default_rng(0)
    X_all = rng.standard_normal((max(sizes), N_FEATURES))
    Y_all = np.eye(N_CLASSES)[rng.integers(N_CLASSES, size=max(sizes))]
    print("### Time per evaluation\n")
    print(
        "| network | dtype | "
        + " | ".join(f"n={n:,} ms" for n in sizes)
        + " | log-log slope | us/row | chunks at largest n |"
    )
    print("|---|---|" + "---|" * len(sizes) + "---|---|---|")
    for hidden in NETWORKS:
        for dtype in (np.float64, np.float32):
            times, chunks = [], ""
            for n in sizes:
                X = np.ascontiguousarray(X_all[:n], dtype=dtype)
                seconds, batch_size, n_chunks = time_per_evaluation(X, Y_all[:n], hidden, repeats)
                times.append(seconds)
                chunks = f"{n_chunks} x {batch_size} rows"
            n = np.array(sizes, dtype=float)
            t = np.array(times)
            loglog = np.polyfit(np.log(n), np.log(t), 1)[0]
            per_row = np.polyfit(n, t, 1)[0]
            print(
                f"| {hidden} | {np.dtype(dtype).name} | "
                + " | ".join(f"{1e3 * s:.2f}" for s in times)
                + f" | {loglog:.2f} | {1e6 * per_row:.3f} | {chunks} |"
            )


MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys, time, tracemalloc, warnings
    import numpy as np
    from skmlp import BackpropMLPClassifier

    n, d, batch_size, warm = (int(a) for a in sys.argv[1:])

    def status_mb(field):  # VmRSS: resident now; VmHWM: peak resident
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    if warm:  # the fit's code paths once on small data: lazy imports, BLAS buffers
        X = rng.standard_normal((5000, d), dtype=np.float32)
        BackpropMLPClassifier(max_iter=3, batch_size=batch_size).fit(X, X[:, 0] > 0)
        del X
    before = status_mb("VmRSS")
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(10, size=n)
    clf = BackpropMLPClassifier(max_iter=3, batch_size=batch_size, random_state=0)
    tracemalloc.start()
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = status_mb("VmHWM")
    print(before, peak, traced / 2**20, X.nbytes / 2**20, seconds, clf.n_iter_)
    """
)


def memory_of_big_fit(n, d, batch_size):
    print(f"\n### Peak memory of a fit on {n:,} x {d} float32 rows, batch_size={batch_size}\n")
    print(
        "Peak resident set (VmHWM) of a fresh process minus its resident set just "
        "before X is made. Cold: the first fit of the process, so the peak also holds "
        "the modules the fit imports lazily and BLAS's buffers; warm: after one small "
        "fit. Traced: tracemalloc's peak during the fit (numpy and Python "
        "allocations).\n"
    )
    print("| process | size of X | peak - before X | excess over X | traced during fit | fit |")
    print("|---|---|---|---|---|---|")
    for warm in (0, 1):
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(n), str(d), str(batch_size), str(warm)],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        ).stdout.split()
        before, peak, traced, x_mb, seconds, n_iter = map(float, out)
        print(
            f"| {'warm' if warm else 'cold'} | {x_mb:.1f} MB | {peak - before:.1f} MB | "
            f"{peak - before - x_mb:.1f} MB | {traced:.1f} MB | "
            f"{int(n_iter)} iterations in {seconds:.1f} s |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="evaluations per size (median)")
    parser.add_argument("--quick", action="store_true", help="sizes up to 20k, 3 repeats")
    args = parser.parse_args()
    sizes = SIZES[:3] if args.quick else SIZES
    repeats = 3 if args.quick else args.repeats
    print("## bench_scaling\n")
    print("\n".join(machine_description()))
    print("- automatic batch_size and threads\n")
    scaling_table(repeats, sizes)
    print(f"\n1-minute load average {os.getloadavg()[0]:.2f} at the end of the table.")
    memory_of_big_fit(50_000 if args.quick else 200_000, N_FEATURES, 4096)


if __name__ == "__main__":
    main()
