"""skmlp over a matrix of shapes and dtypes: the floor, MLPClassifier, PyTorch, JAX.

Usage::

    python benchmarks/bench_matrix.py [--quick] [--shapes digits,5000x400] [--repeats 5]
                                      [--no-peers] [--predict] [--predict-only]
                                      [--dispatch {inherited,native,avx2}]

``--quick`` (a short run, for development): the four small shapes, 2
evaluation blocks, one fit of a fifth of the iterations (10 minutes on 2
CPUs at a load average of 9-15, most of it the peers' start-up and
compilation). A full run does every shape, with per-shape iterations and repeats
(`SHAPES`) kept small for the big shapes: on 2 CPUs it took 8.7 minutes at
a load average of 2-3.5 (21 at 8-12).

``--dispatch`` reruns the whole benchmark in a subprocess whose environment
picks the code paths (``_machine.DISPATCH``): "native", each library's own
choice for this CPU (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset); "avx2",
the same with numpy's AVX-512 kernels switched off
(``NPY_DISABLE_CPU_FEATURES``), OpenBLAS's Haswell kernels
(``OPENBLAS_CORETYPE``) and PyTorch, oneDNN, MKL and XLA capped at AVX2: on
an AVX-512 machine, the code paths of an AVX2-only CPU (same caches and
clocks: it tells which code path is slow, not another CPU's timings). The
default, "inherited", keeps the environment as it is. Every run prints the
dispatch it actually got (numpy's kernels for exp, tanh, log and log1p,
OpenBLAS's kernel, PyTorch's CPU capability) and ends with a summary table
in Markdown, with the CPU, its vector extensions, the BLAS kernel, the
dispatch and the load average, ready for README.md and the docs.

For each shape (`SHAPES`) and dtype (float64, float32), on the same data and
the same parameters (skmlp's initial draw):

- "skmlp ms": one evaluation of skmlp's objective (loss and gradient, its
  default chunks and threads), the shape's own output units;
- "floor ms": the two products a fit cannot avoid, ``X @ W1`` and
  ``X.T @ D1``, at their best BLAS thread count (1 or all CPUs), and the
  ratio skmlp / floor;
- "torch ms": PyTorch eager autograd (forward, loss, ``torch.autograd.grad``)
  and "JAX ms": ``jax.jit(jax.value_and_grad(J))``, each at the thread count
  where it is fastest (1 or 2), each in its own worker process pinned to
  that many cores (``os.sched_setaffinity``: XLA ignores XLA_FLAGS' thread
  settings, and without the pinning its "1 thread" kept 1.9 CPUs busy);
  "cpu/wall" (process CPU time over wall time) of the chosen count, and
  skmlp's own, tells how many CPUs it really kept busy, which on a loaded
  machine differs between processes. Their loss and gradient
  at the initial parameters are checked against skmlp's (float64: 1e-10
  relative), so the same J is computed;
- fit time of a fixed number of L-BFGS iterations (`tol` tiny, so none stops
  early) from the same initial weights: skmlp (float64 and float32 data) with
  ``out_activation="softmax"``, which is MLPClassifier's J (multinomial
  cross-entropy + alpha/(2n) ||W||^2), against MLPClassifier(solver="lbfgs")
  on the float64 data with default BLAS threads (a) and under
  ``threadpool_limits(1)`` (b);
- the float32 checks of issue 15: float32 vs float64 evaluation at the
  initial weights (target <= 1e-4 relative), held-out accuracy of the float32
  and float64 fits (target: within 0.5 point), and the final-loss gap of the
  float32 fit next to that of a float64 fit on the data rounded to float32
  (target: no more than 3x).

``--predict`` adds predict_proba on 200,000 x 400 rows (network 400-25-10)
against MLPClassifier.predict_proba: time (default threads) and tracemalloc's
peak during the call, next to the size of the output.

Every time is a median over interleaved repeats: the methods take turns in
each repeat, so a noisy neighbour slows them alike, and every timed block
starts after a rest of `SETTLE` seconds (OpenBLAS and OpenMP workers spin for
a while after threaded work and would slow whatever follows). The machine's
load average is printed before and after each section: on a shared machine
only the ratios of one run mean anything.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _machine import (
    DISPATCH,
    blas_kernels,
    cpu_model_and_flags,
    load,
    machine_description,
    numpy_dispatch,
    rerun_with_dispatch,
)
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from threadpoolctl import threadpool_limits

from skmlp import BackpropMLPClassifier
from skmlp._layout import Layout
from skmlp._problem import make_objective


@contextlib.contextmanager
def skmlp_objective(layout, X, Y, *, activation, out_activation, alpha):
    """skmlp's J on fixed data as ``theta -> (loss, grad)``: the one place that builds it."""
    with make_objective(
        layout, X, Y, activation=activation, out_activation=out_activation, alpha=alpha
    ) as objective:
        yield objective.loss_and_grad


ALPHA = 1.0
TOL = 1e-12  # nobody stops before max_iter
SETTLE = 0.3  # seconds of rest before every timed block
BLOCK_SECONDS = 0.25  # evaluations per timed block: about this long
DTYPES = (np.float64, np.float32)
PEERS = ("torch", "jax")
PEER_THREADS = (1, 2)


@dataclass
class Shape:
    key: str
    name: str
    n_samples: int
    n_features: int
    hidden: tuple
    n_classes: int
    activation: str
    out_activation: str
    max_iter: int  # L-BFGS iterations of the timed fits
    fit_repeats: int  # interleaved fit repeats (full run)
    eval_repeats: int = 99  # at most this many evaluation blocks (a big shape's are long)


SHAPES = [
    Shape("digits", "digits 1797x64-25-10", 1797, 64, (25,), 10, "logistic", "logistic", 100, 5),
    Shape("2000x200", "2000x200-64-10", 2000, 200, (64,), 10, "logistic", "logistic", 100, 5),
    Shape("5000x400", "5000x400-25-10", 5000, 400, (25,), 10, "logistic", "logistic", 100, 5),
    Shape("8000x300", "8000x300-40-8 softmax", 8000, 300, (40,), 8, "logistic", "softmax", 60, 3),
    Shape("20000x784", "20000x784-100-10", 20000, 784, (100,), 10, "logistic", "logistic", 20, 2),
    Shape(
        "60000x784", "60000x784-(256,128)-10 relu", 60000, 784, (256, 128), 10, "relu",
        "logistic", 5, 1, 3,
    ),
]  # fmt: skip
QUICK_SHAPES = ("digits", "2000x200", "5000x400", "8000x300")


# ------------------------------------------------------------------ machine


_START = time.perf_counter()


def log(*args):
    print(f"[{time.perf_counter() - _START:6.1f} s]", *args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- data


def make_data(shape):
    """(X, y) timed on, and (X_fit, y_fit, X_test, y_test) for held-out accuracy."""
    if shape.key == "digits":
        X, y = load_digits(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        # All 1797 rows are timed; accuracy is held out from a fit on 75%.
        X_fit, X_test, y_fit, y_test = train_test_split(X, y, random_state=0)
        return X, y, X_fit, y_fit, X_test, y_test
    n_test = max(1000, shape.n_samples // 10)
    X, y = make_classification(
        n_samples=shape.n_samples + n_test,
        n_features=shape.n_features,
        n_informative=40,
        n_classes=shape.n_classes,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=n_test, random_state=0)
    X_train = np.ascontiguousarray(X_train)
    return X_train, y_train, X_train, y_train, X_test, y_test


# ------------------------------------------------------------------- timing


def timed_block(fn, n, cpu=None, key=None):
    """Seconds of each of `n` calls of `fn`, after a rest; ``cpu[key]`` += their CPU time."""
    time.sleep(SETTLE)
    times = []
    start_cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    if cpu is not None:
        cpu[key] += time.process_time() - start_cpu
    return times


def floor_products(X, W1):
    """A function computing ``X @ W1`` and ``X.T @ D1`` into preallocated arrays."""
    rng = np.random.default_rng(0)
    D1 = rng.normal(size=(X.shape[0], W1.shape[1])).astype(X.dtype) / X.shape[0]
    Z = np.empty((X.shape[0], W1.shape[1]), X.dtype)
    G = np.empty_like(W1)

    def products():
        np.matmul(X, W1, out=Z)
        np.matmul(X.T, D1, out=G)

    return products


def best(samples):
    """(median ms, key) of the key with the smallest median."""
    medians = {key: 1e3 * statistics.median(t) for key, t in samples.items() if t}
    key = min(medians, key=medians.get)
    return medians[key], key


# -------------------------------------------------------------------- peers


class Peer:
    """A worker process evaluating J with `framework` on `n_threads` cores (pinned)."""

    def __init__(self, framework, n_threads):
        self.framework, self.n_threads = framework, n_threads
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(n_threads)
        args = [sys.executable, __file__, "--worker", framework, "--threads", str(n_threads)]
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def call(self, **message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise RuntimeError(f"{self.framework} worker ({self.n_threads} threads) died")
        return json.loads(reply)

    def close(self):
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        self.process.wait(timeout=60)


def pin(n_threads):
    """Bind this process (and the threads it starts) to its first `n_threads` usable cores."""
    cores = sorted(os.sched_getaffinity(0))[:n_threads]
    os.sched_setaffinity(0, cores)
    return cores


def framework_dispatch(framework):
    """The code path `framework` runs here, in words."""
    if framework == "torch":
        import torch

        isa = os.environ.get("MKL_ENABLE_INSTRUCTIONS", "default")
        return f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}, MKL ISA {isa}"
    import jax

    return f"jax {jax.__version__}, XLA_FLAGS {os.environ.get('XLA_FLAGS', '(unset)')!r}"


def worker(framework, n_threads):
    """Serve ``load`` and ``time`` requests on stdin/stdout (one JSON per line)."""
    # Before the framework starts its thread pools, which then inherit it.
    cores = pin(n_threads)
    evaluate = None
    for line in sys.stdin:
        message = json.loads(line)
        if message["cmd"] == "load":
            evaluate = None
            build = torch_evaluation if framework == "torch" else jax_evaluation
            evaluate = build(message, n_threads)
            loss, grad = evaluate()
            np.save(Path(message["dir"]) / f"grad_{framework}_{n_threads}.npy", grad)
            reply = {"loss": loss, "dispatch": framework_dispatch(framework), "cores": cores}
        elif message["cmd"] == "time":
            cpu = time.process_time()
            times = []
            for _ in range(message["n"]):
                start = time.perf_counter()
                evaluate(False)
                times.append(time.perf_counter() - start)
            reply = {"times": times, "cpu": time.process_time() - cpu}
        else:
            evaluate = None
            reply = {}
        print(json.dumps(reply), flush=True)


def load_problem(message):
    folder, dtype = Path(message["dir"]), np.dtype(message["dtype"])
    X = np.load(folder / "X.npy").astype(dtype, copy=False)
    Y = np.load(folder / "Y.npy").astype(dtype)
    n_layers = message["n_layers"]
    coefs = [np.load(folder / f"W{i}.npy").astype(dtype) for i in range(n_layers)]
    intercepts = [np.load(folder / f"b{i}.npy").astype(dtype) for i in range(n_layers)]
    return X, Y, coefs, intercepts


def flat_grad(grads):
    n = len(grads) // 2
    return np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in grads[:n] + grads[n:]])


def torch_evaluation(message, n_threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(n_threads)
    X, Y, coefs, intercepts = load_problem(message)
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    labels = Y.argmax(dim=1)
    params = [torch.tensor(p, requires_grad=True) for p in coefs + intercepts]
    Ws, bs = params[: len(coefs)], params[len(coefs) :]
    activation = {"logistic": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[
        message["activation"]
    ]
    n, alpha = X.shape[0], message["alpha"]

    def evaluate(result=True):
        A = X
        for W, b in zip(Ws[:-1], bs[:-1]):
            A = activation(torch.addmm(b, A, W))
        logits = torch.addmm(bs[-1], A, Ws[-1])
        if message["out_activation"] == "softmax":
            data = F.cross_entropy(logits, labels, reduction="sum")
        else:
            data = F.binary_cross_entropy_with_logits(logits, Y, reduction="sum")
        loss = data / n + alpha / (2 * n) * sum((W * W).sum() for W in Ws)
        grads = torch.autograd.grad(loss, params)
        loss = loss.detach()
        if result:
            return loss.item(), flat_grad([g.numpy() for g in grads])
        return None

    return evaluate


def jax_evaluation(message, n_threads):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    X, Y, coefs, intercepts = load_problem(message)
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    params = [jnp.asarray(p) for p in coefs + intercepts]
    n_layers = len(coefs)
    activation = {"logistic": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}[
        message["activation"]
    ]
    n, alpha = X.shape[0], message["alpha"]
    softmax = message["out_activation"] == "softmax"

    def J(params, X, Y):
        Ws, bs = params[:n_layers], params[n_layers:]
        A = X
        for W, b in zip(Ws[:-1], bs[:-1]):
            A = activation(A @ W + b)
        logits = A @ Ws[-1] + bs[-1]
        if softmax:
            data = -jnp.sum(Y * jax.nn.log_softmax(logits, axis=1))
        else:
            data = jnp.sum(jax.nn.softplus((1 - 2 * Y) * logits))
        return data / n + alpha / (2 * n) * sum(jnp.sum(W * W) for W in Ws)

    value_and_grad = jax.jit(jax.value_and_grad(J))

    def evaluate(result=True):
        loss, grads = jax.block_until_ready(value_and_grad(params, X, Y))
        if result:
            return float(loss), flat_grad([np.asarray(g) for g in grads])
        return None

    return evaluate


def start_peers(enabled):
    peers = {}
    for framework in PEERS if enabled else ():
        if importlib.util.find_spec(framework) is None:
            log(f"{framework} is not installed: its columns stay empty (pip install .[bench])")
            continue
        for n_threads in PEER_THREADS:
            peers[framework, n_threads] = Peer(framework, n_threads)
    return peers


# --------------------------------------------------------------------- fits


def mlp_fit(X, y, coefs, intercepts, shape, max_iter, one_thread):
    """MLPClassifier(lbfgs) from the given weights: (seconds, n_iter, n_fun, loss, model)."""
    mlp = MLPClassifier(
        shape.hidden,
        activation=shape.activation,
        solver="lbfgs",
        alpha=ALPHA,
        max_iter=1,
        tol=TOL,
        max_fun=10**6,
        random_state=0,
        warm_start=True,
    )
    # A first fit on a few rows with every class sets up the label binarizer.
    first = np.unique(np.r_[np.arange(50), np.unique(y, return_index=True)[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X[first], y[first])
        mlp.coefs_ = [c.copy() for c in coefs]
        mlp.intercepts_ = [b.copy() for b in intercepts]
        mlp.max_iter = max_iter
        limits = threadpool_limits(1) if one_thread else contextlib.nullcontext()
        with limits:
            start = time.perf_counter()
            mlp.fit(X, y)
            seconds = time.perf_counter() - start
    # lbfgs evaluations: scikit-learn does not count them; n_iter_ is enough here.
    return seconds, mlp.n_iter_, None, float(mlp.loss_), mlp


def skmlp_fit(X, y, thetas, shape, max_iter):
    """BackpropMLPClassifier (softmax outputs) from the given thetas."""
    clf = BackpropMLPClassifier.from_thetas(
        thetas,
        np.unique(y),
        activation=shape.activation,
        out_activation="softmax",
        alpha=ALPHA,
        max_iter=max_iter,
        tol=TOL,
        max_fun=10**6,
        warm_start=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, clf.n_iter_, clf.n_fun_, float(clf.loss_), clf


# -------------------------------------------------------------------- a shape


def relative(a, b):
    return abs(a - b) / abs(b)


def norm_relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run_shape(shape, peers, eval_repeats, fit_repeats, max_iter, folder):
    """Every measurement of one shape; returns the rows of the report's tables."""
    X, y, X_fit, y_fit, X_test, y_test = make_data(shape)
    layout = Layout((X.shape[1], *shape.hidden, shape.n_classes))
    theta0 = layout.init(np.random.RandomState(0))
    coefs = [c.copy() for c in layout.coefs(theta0)]
    intercepts = [b.copy() for b in layout.intercepts(theta0)]
    thetas = layout.to_thetas(theta0)
    Y = LabelBinarizer().fit_transform(y)
    for name, array in [("X", X), ("Y", Y)] + [(f"W{i}", c) for i, c in enumerate(coefs)]:
        np.save(folder / f"{name}.npy", array)
    for i, b in enumerate(intercepts):
        np.save(folder / f"b{i}.npy", b)
    load_before = load()
    log("  data ready")

    # Evaluations: skmlp, the floor and the peers take turns.
    evaluation, agreement, at_start, peer_dispatch = {}, {}, {}, {}
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        Xd = X.astype(dtype)
        for key, peer in peers.items():
            reply = peer.call(
                cmd="load",
                dir=str(folder),
                dtype=name,
                n_layers=len(coefs),
                activation=shape.activation,
                out_activation=shape.out_activation,
                alpha=ALPHA,
            )
            grad = np.load(folder / f"grad_{key[0]}_{key[1]}.npy")
            agreement[(*key, name)] = reply["loss"], grad
            peer_dispatch[key[0]] = reply["dispatch"]
        log(f"  peers loaded {name}")
        with skmlp_objective(
            layout, Xd, Y, activation=shape.activation, out_activation=shape.out_activation,
            alpha=ALPHA,
        ) as loss_and_grad:  # fmt: skip
            at_start[name] = loss_and_grad(theta0)
            for _ in range(4):  # warm-up, and the adaptive threading's probes
                loss_and_grad(theta0)
            start = time.perf_counter()
            loss_and_grad(theta0)
            n_block = max(1, round(BLOCK_SECONDS / (time.perf_counter() - start)))
            products = floor_products(Xd, coefs[0].astype(dtype))
            samples = {"skmlp": []}
            samples.update({("floor", n): [] for n in PEER_THREADS})
            samples.update({key: [] for key in peers})
            cpu = dict.fromkeys(samples, 0.0)
            for _ in range(eval_repeats):
                samples["skmlp"] += timed_block(
                    lambda: loss_and_grad(theta0), n_block, cpu, "skmlp"
                )
                for n in PEER_THREADS:
                    with threadpool_limits(n, "blas"):
                        samples["floor", n] += timed_block(products, n_block, cpu, ("floor", n))
                for key, peer in peers.items():
                    time.sleep(SETTLE)
                    reply = peer.call(cmd="time", n=n_block)
                    samples[key] += reply["times"]
                    cpu[key] += reply["cpu"]
        row = {
            "skmlp": (1e3 * statistics.median(samples["skmlp"]), None),
            "skmlp_busy": cpu["skmlp"] / sum(samples["skmlp"]),
        }
        row["floor"] = best({n: samples["floor", n] for n in PEER_THREADS})
        for framework in PEERS:
            keys = {n: samples[framework, n] for n in PEER_THREADS if (framework, n) in samples}
            if keys:
                ms, n = best(keys)
                busy = cpu[framework, n] / sum(samples[framework, n])
                row[framework] = ms, n, busy
        evaluation[name] = row
        log(f"  {shape.key} {name}: {row}")
    for peer in peers.values():
        peer.call(cmd="unload")

    # Fits, interleaved: (a), (b), skmlp float64, skmlp float32.
    data = {np.dtype(d).name: X.astype(d) for d in DTYPES}
    methods = {
        "(a)": lambda: mlp_fit(X, y, coefs, intercepts, shape, max_iter, False),
        "(b)": lambda: mlp_fit(X, y, coefs, intercepts, shape, max_iter, True),
        "float64": lambda: skmlp_fit(data["float64"], y, thetas, shape, max_iter),
        "float32": lambda: skmlp_fit(data["float32"], y, thetas, shape, max_iter),
    }
    fit_times = {label: [] for label in methods}
    fits = {}
    for method in methods.values():  # warm-up (the big shapes' fits are long)
        if shape.n_samples <= 10_000:
            method()
    for _ in range(fit_repeats):
        for label, method in methods.items():
            time.sleep(SETTLE)
            result = method()
            fit_times[label].append(result[0])
            fits[label] = result
        log(f"  {shape.key} fits: { {k: round(v[-1], 3) for k, v in fit_times.items()} }")

    log("  fits done")
    # float32 checks: the fits on the rows that leave a held-out set.
    if X_fit is X:
        check = {"float64": fits["float64"], "float32": fits["float32"]}
    else:
        check = {
            np.dtype(d).name: skmlp_fit(X_fit.astype(d), y_fit, thetas, shape, max_iter)
            for d in DTYPES
        }
    rounded = skmlp_fit(
        X_fit.astype(np.float32).astype(np.float64), y_fit, thetas, shape, max_iter
    )
    accuracy = {
        name: 100 * result[4].score(X_test.astype(name), y_test) for name, result in check.items()
    }
    loss64, loss32 = check["float64"][3], check["float32"][3]
    gap32, gap_rounded = relative(loss32, loss64), relative(rounded[3], loss64)
    (l64, g64), (l32, g32) = at_start["float64"], at_start["float32"]
    checks = {
        "eval_loss": relative(l32, l64),
        "eval_grad": norm_relative(g32, g64),
        "acc64": accuracy["float64"],
        "acc32": accuracy["float32"],
        "gap32": gap32,
        "gap_rounded": gap_rounded,
        "mlp_vs_skmlp": relative(fits["(b)"][3], fits["float64"][3]),
    }
    agree = {}
    for (framework, _, name), (loss, grad) in agreement.items():
        l_ref, g_ref = at_start[name]
        agree.setdefault((framework, name), []).append(
            (relative(loss, l_ref), norm_relative(grad, g_ref))
        )
    return {
        "shape": shape,
        "evaluation": evaluation,
        "fit": {label: statistics.median(t) for label, t in fit_times.items()},
        "fit_iters": {label: (r[1], r[2]) for label, r in fits.items()},
        "checks": checks,
        "agree": {key: max(v) for key, v in agree.items()},
        "load": (load_before, load()),
        "peer_dispatch": peer_dispatch,
        "max_iter": max_iter,
        "fit_repeats": fit_repeats,
        "eval_repeats": eval_repeats,
    }


# ------------------------------------------------------------------ reports


def fmt_peer(entry, skmlp_ms):
    if entry is None:
        return "- | - |"
    ms, n, busy = entry
    return f"{ms:.2f} ({n}t, cpu/wall {busy:.1f}) | {ms / skmlp_ms:.2f} |"


def cell(entry):
    """A peer's "ms (t, cpu/wall)" cell of the summary."""
    if entry is None:
        return "-"
    ms, n, busy = entry
    return f"{ms:.2f} ({n}t, {busy:.1f})"


def summary(results, dispatch):
    """The Markdown table for README.md and the docs, headed by what it was measured on."""
    model, vector = cpu_model_and_flags()
    loads = [float(r["load"][i].split()[0]) for r in results for i in (0, 1)]
    peers = {}
    for r in results:
        peers.update(r["peer_dispatch"])
    print(f"\n### Summary ({dispatch} dispatch)\n")
    print(f"- CPU: {model}, {len(os.sched_getaffinity(0))} usable CPUs")
    print(f"- vector extensions: {' '.join(vector) or 'none listed'}")
    print(f"- BLAS: {blas_kernels()}")
    print(f"- numpy dispatch: {numpy_dispatch()}")
    for framework, words in sorted(peers.items()):
        print(f"- {framework}: {words}")
    if loads:
        print(f"- 1-minute load average: {min(loads):.2f}-{max(loads):.2f}")
    print(
        "\nms per evaluation (loss and gradient; in parentheses: threads t and cpu/wall, "
        "CPU time over wall time); floor: the two first-layer products; fits: fixed "
        "L-BFGS iterations, speed-up of skmlp (this dtype) over MLPClassifier (float64) "
        "(a) with default threads, (b) on one thread.\n"
    )
    print(
        "| shape | dtype | skmlp | floor | skmlp/floor | JAX | torch | fit vs (a) | fit vs (b) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for name, row in r["evaluation"].items():
            skmlp_ms, floor_ms = row["skmlp"][0], row["floor"][0]
            fit = r["fit"]
            print(
                f"| {r['shape'].name} | {name.replace('float', 'f')} | {skmlp_ms:.2f} "
                f"({row['skmlp_busy']:.1f}) | {floor_ms:.2f} | {skmlp_ms / floor_ms:.2f} | "
                f"{cell(row.get('jax'))} | {cell(row.get('torch'))} | "
                f"{fit['(a)'] / fit[name]:.2f} | {fit['(b)'] / fit[name]:.2f} |"
            )


def report(results):
    print("\n### Per evaluation (loss + gradient), ms\n")
    print(
        "Medians over interleaved blocks (column blocks); floor = X @ W1 + X.T @ D1 at its "
        "best BLAS thread count; peers at their fastest thread count (t), cpu/wall = "
        "process CPU time over wall time at that count (skmlp's: its own threads; "
        "2 = both CPUs busy, less = the machine's other load took them).\n"
    )
    print(
        "| shape | dtype | blocks | skmlp ms (cpu/wall) | floor ms | skmlp / floor | torch ms "
        "| torch / skmlp | JAX ms | JAX / skmlp |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for name, row in r["evaluation"].items():
            skmlp_ms = row["skmlp"][0]
            floor_ms, floor_n = row["floor"]
            print(
                f"| {r['shape'].name} | {name} | {r['eval_repeats']} | {skmlp_ms:.2f} "
                f"({row['skmlp_busy']:.1f}) | "
                f"{floor_ms:.2f} ({floor_n}t) | "
                f"{skmlp_ms / floor_ms:.2f} | {fmt_peer(row.get('torch'), skmlp_ms)} "
                f"{fmt_peer(row.get('jax'), skmlp_ms)}"
            )
    print("\n### Fit: fixed L-BFGS iterations from the same weights, softmax J, s\n")
    print(
        "(a) MLPClassifier(lbfgs), default BLAS threads; (b) under threadpool_limits(1); "
        "both on the float64 data. skmlp with its default threads.\n"
    )
    print(
        "| shape | iters (evals) | fits | (a) s | (b) s | skmlp f64 s | (a)/f64 | (b)/f64 "
        "| skmlp f32 s | (a)/f32 | (b)/f32 | load before / after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        t = r["fit"]
        iters, evals = r["fit_iters"]["float64"]
        print(
            f"| {r['shape'].name} | {iters} ({evals}) | {r['fit_repeats']} | {t['(a)']:.3f} | "
            f"{t['(b)']:.3f} | {t['float64']:.3f} | {t['(a)'] / t['float64']:.2f} | "
            f"{t['(b)'] / t['float64']:.2f} | {t['float32']:.3f} | "
            f"{t['(a)'] / t['float32']:.2f} | {t['(b)'] / t['float32']:.2f} | "
            f"{r['load'][0].split()[0]} / {r['load'][1].split()[0]} |"
        )
    print("\n### float32 against float64\n")
    print(
        "eval: float32 vs float64 objective at the initial weights (target <= 1e-4); "
        "accuracy: held-out, of the softmax fits above (digits: fits on 75% of the rows); "
        "gap: final-loss relative difference from the float64 fit, of the float32 fit and "
        "of a float64 fit on the data rounded to float32 (target: ratio <= 3).\n"
    )
    print(
        "| shape | eval loss | eval grad | acc f64 % | acc f32 % | diff (points) "
        "| gap f32 | gap f64 on rounded data | ratio | MLPClassifier vs skmlp f64 final loss |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["checks"]
        ratio = c["gap32"] / c["gap_rounded"] if c["gap_rounded"] else float("inf")
        print(
            f"| {r['shape'].name} | {c['eval_loss']:.1e} | {c['eval_grad']:.1e} | "
            f"{c['acc64']:.2f} | {c['acc32']:.2f} | {c['acc32'] - c['acc64']:+.2f} | "
            f"{c['gap32']:.1e} | {c['gap_rounded']:.1e} | {ratio:.2f} | "
            f"{c['mlp_vs_skmlp']:.1e} |"
        )
    if any(r["agree"] for r in results):
        print("\n### Same J: PyTorch and JAX against skmlp at the initial weights\n")
        print("Relative loss difference / norm-relative gradient difference (worst of 1t, 2t).\n")
        print("| shape | torch f64 | JAX f64 | torch f32 | JAX f32 | f64 within 1e-10 |")
        print("|---|---|---|---|---|---|")
        for r in results:
            a = r["agree"]
            cells = [
                "{:.1e} / {:.1e}".format(*a[f, d]) if (f, d) in a else "-"
                for d in ("float64", "float32")
                for f in PEERS
            ]
            ok = all(a[f, "float64"][0] <= 1e-10 for f in PEERS if (f, "float64") in a)
            print(f"| {r['shape'].name} | {' | '.join(cells)} | {'yes' if ok else 'NO'} |")


# ------------------------------------------------------------------ predict


def predict_section(n_rows, repeats):
    """predict_proba on n_rows x 400 (400-25-10): skmlp against MLPClassifier."""
    print(f"\n### predict_proba on {n_rows:,} x 400, network 400-25-10\n")
    load_before = load()
    layout = Layout((400, 25, 10))
    theta = layout.init(np.random.RandomState(0))
    X = np.random.default_rng(0).standard_normal((n_rows, 400))
    X32 = X.astype(np.float32)
    classes = np.arange(10)
    clf = BackpropMLPClassifier.from_thetas(layout.to_thetas(theta), classes)
    clf_softmax = BackpropMLPClassifier.from_thetas(
        layout.to_thetas(theta), classes, out_activation="softmax"
    )
    mlp = MLPClassifier((25,), activation="logistic", solver="lbfgs", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X[:100], np.arange(100) % 10)
    mlp.coefs_ = [c.copy() for c in layout.coefs(theta)]
    mlp.intercepts_ = [b.copy() for b in layout.intercepts(theta)]
    methods = {
        "MLPClassifier.predict_proba (float64)": lambda: mlp.predict_proba(X),
        "skmlp predict_proba, logistic outputs (float64)": lambda: clf.predict_proba(X),
        "skmlp predict_proba, softmax outputs (float64)": lambda: clf_softmax.predict_proba(X),
        "skmlp predict_proba, logistic outputs (float32 X)": lambda: clf.predict_proba(X32),
    }
    np.testing.assert_allclose(
        methods["skmlp predict_proba, softmax outputs (float64)"](),
        methods["MLPClassifier.predict_proba (float64)"](),
        rtol=1e-10,
    )
    times = {label: [] for label in methods}
    for method in methods.values():
        method()
    for _ in range(repeats):
        for label, method in methods.items():
            times[label] += timed_block(method, 1)
    output_mb = n_rows * 10 * 8 / 2**20
    print(
        f"Median of {repeats} interleaved calls, default threads; peak = tracemalloc's peak "
        f"during one call (numpy buffers, not BLAS-internal ones); the output is "
        f"{output_mb:.1f} MB; load {load_before} before, {load()} after.\n"
    )
    print("| method | s | MLPClassifier / this | peak MB | peak - output MB |")
    print("|---|---|---|---|---|")
    ref = statistics.median(times["MLPClassifier.predict_proba (float64)"])
    for label, method in methods.items():
        tracemalloc.start()
        try:
            method()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        seconds = statistics.median(times[label])
        print(
            f"| {label} | {seconds:.3f} | {ref / seconds:.2f} | {peak / 2**20:.1f} | "
            f"{peak / 2**20 - output_mb:.1f} |"
        )


# --------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"shapes {QUICK_SHAPES}, 2 repeats")
    parser.add_argument(
        "--shapes", help="comma-separated keys: " + ",".join(s.key for s in SHAPES)
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved evaluation blocks")
    parser.add_argument("--no-peers", action="store_true", help="skip PyTorch and JAX")
    parser.add_argument("--predict", action="store_true", help="add the predict_proba section")
    parser.add_argument("--predict-only", action="store_true", help="only the predict section")
    parser.add_argument("--predict-rows", type=int, default=200_000)
    parser.add_argument(
        "--dispatch",
        choices=("inherited", *DISPATCH),
        default="inherited",
        help="rerun with these code paths: native (each library's choice for this CPU) or "
        "avx2 (AVX-512 switched off); default: the environment as it is",
    )
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads)
    rerun_with_dispatch(args.dispatch, [__file__, *sys.argv[1:]])
    keys = args.shapes.split(",") if args.shapes else None
    if keys is None:
        keys = QUICK_SHAPES if args.quick else [s.key for s in SHAPES]
    unknown = set(keys) - {s.key for s in SHAPES}
    if unknown:
        parser.error(f"unknown shapes {sorted(unknown)}; choose from {[s.key for s in SHAPES]}")
    eval_repeats = 2 if args.quick else args.repeats

    print(f"## bench_matrix ({args.dispatch} dispatch)\n")
    print("\n".join(machine_description(("torch", "jax", "jaxlib"))))
    if not args.predict_only:
        peers = start_peers(not args.no_peers)
        results = []
        try:
            with tempfile.TemporaryDirectory(prefix="bench_matrix_") as folder:
                for shape in SHAPES:
                    if shape.key not in keys:
                        continue
                    log(f"{shape.name} (load {load()})")
                    max_iter = max(5, shape.max_iter // 5) if args.quick else shape.max_iter
                    fit_repeats = 1 if args.quick else shape.fit_repeats
                    results.append(
                        run_shape(
                            shape,
                            peers,
                            min(eval_repeats, shape.eval_repeats),
                            fit_repeats,
                            max_iter,
                            Path(folder),
                        )
                    )
        finally:
            for peer in peers.values():
                peer.close()
        report(results)
        summary(results, args.dispatch)
    if args.predict or args.predict_only:
        predict_section(args.predict_rows, 3 if args.quick else 5)
    print(f"\n- load average at the end: {load()}")


if __name__ == "__main__":
    main()
