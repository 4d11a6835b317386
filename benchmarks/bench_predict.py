"""predict_proba of skmlp's chunked prediction next to MLPClassifier.predict_proba.

Usage::

    python benchmarks/bench_predict.py [--repeats 5] [--n-samples 200000]

One problem (issue 15's target): 200,000 x 400 uniform rows, a 400-25-10
network with logistic hidden units and a softmax output, random weights; the
same weights are set into a MLPClassifier (``coefs_``/``intercepts_``,
``out_activation_="softmax"``; in float32 its coefs are float32, as a fit on
float32 data leaves them), and the two outputs are checked to agree (1e-12
in float64, 1e-5 in float32). Each dtype times, interleaved within each
repeat, MLPClassifier.predict_proba (BLAS with its default threads) and
skmlp's with ``n_jobs=None`` (all CPUs) and ``n_jobs=1``; the table gives
the medians and their ratio; each call starts after a rest of `SETTLE`
seconds.

Memory: tracemalloc's peak during one call beyond the output it returns
(numpy buffers and Python objects), and the peak RSS delta (VmHWM after the
call minus VmRSS before it, the peak reset through /proc/self/clear_refs
once X is made; Linux) of one call in a fresh subprocess, which also counts
what tracemalloc does not see (BLAS buffers, thread stacks). The target: peak <= output + 32 MB.
Only numpy, scipy, scikit-learn, threadpoolctl and the standard library.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
from _machine import machine_description
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from skmlp import BackpropMLPClassifier

N_FEATURES, N_HIDDEN, N_CLASSES = 400, 25, 10
MB = 1 << 20
# Rest before each timed call: OpenBLAS's workers spin for a while after a
# threaded product and would slow whatever follows it (as in bench_fit.py).
SETTLE = 0.3


def models(dtype):
    """skmlp and MLPClassifier with the same random weights, softmax output."""
    rng = np.random.default_rng(0)
    thetas = [
        rng.uniform(-0.12, 0.12, (N_HIDDEN, N_FEATURES + 1)),
        rng.uniform(-1.0, 1.0, (N_CLASSES, N_HIDDEN + 1)),
    ]
    ours = BackpropMLPClassifier.from_thetas(
        thetas, np.arange(N_CLASSES), out_activation="softmax"
    )
    theirs = MLPClassifier(hidden_layer_sizes=(N_HIDDEN,), activation="logistic", max_iter=1)
    X_small = rng.random((50, N_FEATURES)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X_small, np.arange(50) % N_CLASSES)
    theirs.coefs_ = [np.array(W, dtype=dtype) for W in ours.coefs_]
    theirs.intercepts_ = [np.array(b, dtype=dtype) for b in ours.intercepts_]
    theirs.out_activation_ = "softmax"
    return ours, theirs


def data(n_samples, dtype):
    return np.random.default_rng(1).random((n_samples, N_FEATURES), dtype=dtype)


def methods(ours, theirs):
    return {
        "MLPClassifier": theirs.predict_proba,
        "skmlp n_jobs=None": ours.set_params(n_jobs=None).predict_proba,
        "skmlp n_jobs=1": BackpropMLPClassifier.from_thetas(
            ours.thetas_, ours.classes_, out_activation="softmax", n_jobs=1
        ).predict_proba,
    }


def rss_child(method, n_samples, dtype):
    """Run in a fresh process: print the peak RSS delta (MB) of one call."""
    ours, theirs = models(dtype)
    fn = methods(ours, theirs)[method]
    fn(data(100, dtype))  # imports, thread pools, BLAS buffers of a small call
    X = data(n_samples, dtype)
    # Reset the peak RSS (VmHWM) to the current RSS (Linux), so that the peak
    # of the data's own making does not hide the call's.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kb("VmRSS")
    fn(X)
    print((status_kb("VmHWM") - before) / 1024)


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss_delta_mb(method, n_samples, dtype):
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", method, str(n_samples), dtype.__name__],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def tracemalloc_peak_mb(fn, X):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - result.nbytes) / MB, result.nbytes / MB


def run(n_samples, dtype, repeats):
    ours, theirs = models(dtype)
    X = data(n_samples, dtype)
    fns = methods(ours, theirs)
    reference = fns["MLPClassifier"](X)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for name, fn in fns.items():
        difference = np.abs(fn(X) - reference).max()
        assert difference <= tolerance, (name, difference)
        print(f"  {name}: max |difference| from MLPClassifier {difference:.2e}")
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(SETTLE)
            start = time.perf_counter()
            fn(X)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["MLPClassifier"])
    rows = []
    for name, fn in fns.items():
        median = statistics.median(times[name])
        extra, output = tracemalloc_peak_mb(fn, X)
        rss = peak_rss_delta_mb(name, n_samples, dtype)
        rows.append(
            f"| {dtype.__name__} | {name} | {1e3 * median:.0f} | {base / median:.2f}x "
            f"| {output:.0f} | {extra:.1f} | {rss - output:.1f} |"
        )
    return rows


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        _, _, method, n_samples, dtype = sys.argv
        rss_child(method, int(n_samples), np.dtype(dtype).type)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-samples", type=int, default=200_000)
    args = parser.parse_args()
    print("\n".join(machine_description()))
    print(f"\npredict_proba, {args.n_samples} x {N_FEATURES}, {N_FEATURES}-{N_HIDDEN}-{N_CLASSES}")
    rows = [
        "| dtype | method | ms (median) | speed-up vs MLPClassifier | output MB "
        "| tracemalloc peak beyond output MB | peak RSS delta beyond output MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for dtype in (np.float64, np.float32):
        rows += run(args.n_samples, dtype, args.repeats)
    print("\n".join(rows))
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
