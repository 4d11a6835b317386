"""Micro-benchmarks of the engine's formulation choices: activations and orientations.

Usage::

    python benchmarks/bench_kernels.py [--repeats 300] [--native-only | --avx2]

Each kernel runs in place on preallocated arrays, as in the engine, with BLAS
on one thread (the engine evaluates its chunks with single-threaded BLAS):

1. the hidden sigmoid on 5000x25, 2500x25 and 8000x40 pre-activations:
   "tanh" ``(1 + tanh(a / 2)) / 2`` (the reference of the "x" columns; the
   engine's earlier form in float32 where numpy's tanh has an AVX-512
   kernel), "exp" negative / exp / +1 / reciprocal in place (the earlier
   form otherwise), "exp, divide" the same with ``1 / x`` by np.divide,
   "exp(s), divide" (the engine's: exp / +1 / divide of ``s = -a``, the
   negation folded into the weights), scipy.special.expit; and the bare
   np.tanh and np.exp for reference;
2. the softmax output layer (loss terms and ``p - y``) on the logits of those
   chunks (5000x10, 2500x10, 8000x8): the engine's transposed layout
   (outputs x rows, reductions along contiguous rows, the sum as a product
   with a ones vector) against the row-major layout with axis=1 reductions;
   and the logistic output layer: "tanh" (the earlier engine's: expit(u)
   from tanh, softplus from exp and log1p) against "shared exp" (one e =
   exp(-|u|) serves both: tanh(u/2) = copysign((1-e)/(1+e), u)) and "exp,
   log" (the engine's: e = exp(u), v = 1 + e, expit = e / v, softplus =
   log(v) - ((v - 1) - e) / v);
3. the product orientations: the first layer's ``X @ W`` against
   ``(W^T X^T)^T`` and its gradient ``X^T D`` against ``(D^T X)^T``, and the
   output layer's three products (logits, weight gradient, deltas passed
   down) with its logits and deltas row-major (rows x outputs) or
   transposed (outputs x rows), on 2500x400-25-10, 5000x400-25-10,
   8000x300-40-8 and 1797x64-25-10 chunks.

Every kernel of a group takes one turn per repeat (interleaved), its input
restored outside the timed call; the figure is the median in microseconds
and "x" the time relative to the first form of the group (the engine's,
except for the sigmoid; below 1: faster).
The columns "max |diff|" check that the forms compute the same values.

By default the script runs twice: natively, then in a subprocess with
numpy's AVX-512 dispatch disabled (``NPY_DISABLE_CPU_FEATURES``) and
OpenBLAS's Haswell kernels (``OPENBLAS_CORETYPE=Haswell``): the code paths an
AVX2-only CPU such as an AMD EPYC (Zen 2/3) takes, run on this CPU. That is
an emulation (same caches, clocks and memory; AMD's own exp/tanh latencies
differ), so it tells which code path is slow, not the EPYC's timings.
numpy, scipy and threadpoolctl only.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import scipy
import scipy.special
import threadpoolctl
from _machine import DISPATCH, machine_description

AVX2_ENV = {k: DISPATCH["avx2"][k] for k in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")}
HIDDEN_SHAPES = ((5000, 25), (2500, 25), (8000, 40))
OUTPUT_SHAPES = ((5000, 10), (2500, 10), (8000, 8))
NETWORKS = ((2500, 400, 25, 10), (5000, 400, 25, 10), (8000, 300, 40, 8), (1797, 64, 25, 10))
DTYPES = (np.float64, np.float32)


def describe():
    print("\n".join(machine_description()))
    print("- BLAS timed on 1 thread")


# ---------------------------------------------------------------- kernels


def sigmoid_tanh(Z):
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z *= 0.5
    Z += 0.5


def sigmoid_exp(Z):
    np.negative(Z, out=Z)
    np.exp(Z, out=Z)  # may overflow to inf for a << 0: 1 / inf = 0, the right limit
    Z += 1
    np.reciprocal(Z, out=Z)


def sigmoid_exp_divide(Z):
    np.negative(Z, out=Z)
    np.exp(Z, out=Z)
    Z += 1
    np.divide(1, Z, out=Z)


def sigmoid_exp_negated(S):
    """The engine's: ``1 / (1 + exp(s))`` of ``s = -a`` (the weights carry the sign)."""
    np.exp(S, out=S)
    S += 1
    np.divide(1, S, out=S)


def sigmoid_expit(Z):
    scipy.special.expit(Z, out=Z)


def bare_tanh(Z):
    np.tanh(Z, out=Z)


def bare_exp(Z):
    np.exp(Z, out=Z)


class OutputWork:
    """Buffers of the output layer for an (m, k) chunk, both layouts."""

    def __init__(self, m, k, dtype, rng):
        self.labels = rng.integers(k, size=m)
        self.w = np.full(m, 1 / m, dtype)
        Y = np.zeros((m, k), dtype)
        Y[np.arange(m), self.labels] = 1
        self.wY = Y * self.w[:, None]
        self.wY_t = np.ascontiguousarray(self.wY.T)
        self.sign_t = np.ascontiguousarray((1 - 2 * Y).T)
        self.G = np.empty((m, k), dtype)
        self.G_t = np.empty((k, m), dtype)
        self.T_t = np.empty((k, m), dtype)
        self.S_t = np.empty((k, m), dtype)
        self.rows = np.empty((2, m), dtype)
        self.ones = np.ones(max(m, k), dtype)
        self.out = np.empty(k, dtype)


def softmax_transposed(L_t, ws):
    """The engine's: logits (k, m), reductions along contiguous rows."""
    k = L_t.shape[0]
    shift, total = ws.rows[0], ws.rows[1]
    G = ws.G_t
    L_t.max(axis=0, out=shift)
    L_t -= shift
    np.exp(L_t, out=G)
    np.matmul(ws.ones[:k], G, out=total)
    np.log(total, out=shift)
    loss = float(np.dot(ws.w, shift)) - float(np.vdot(ws.wY_t, L_t))
    np.divide(ws.w, total, out=total)
    G *= total
    G -= ws.wY_t
    return loss, G


def softmax_rows(L, ws):
    """Row-major logits (m, k), axis=1 reductions."""
    k = L.shape[1]
    shift, total = ws.rows[0], ws.rows[1]
    G = ws.G
    L.max(axis=1, out=shift)
    L -= shift[:, None]
    np.exp(L, out=G)
    np.matmul(G, ws.ones[:k], out=total)
    np.log(total, out=shift)
    loss = float(np.dot(ws.w, shift)) - float(np.vdot(ws.wY, L))
    np.divide(ws.w, total, out=total)
    G *= total[:, None]
    G -= ws.wY
    return loss, G


def logistic_output_tanh(L_t, ws):
    """The engine's: u = (1 - 2y) a; p - y from tanh, softplus from exp and log1p."""
    target, G, T = ws.sign_t, ws.G_t, ws.T_t
    L_t *= target
    np.multiply(L_t, 0.5, out=G)
    np.tanh(G, out=G)
    G += 1
    G *= 0.5
    G *= target
    G *= ws.w
    np.abs(L_t, out=T)
    np.negative(T, out=T)
    np.exp(T, out=T)
    np.log1p(T, out=T)
    np.maximum(L_t, 0, out=L_t)
    L_t += T
    np.matmul(L_t, ws.w, out=ws.out)
    return float(ws.out.sum(dtype=np.float64)), G


def logistic_output_shared_exp(L_t, ws):
    """One e = exp(-|u|) for both: tanh(|u|/2) = (1-e)/(1+e), softplus(u) = max(u,0) + log1p(e)."""
    target, G, T, S = ws.sign_t, ws.G_t, ws.T_t, ws.S_t
    L_t *= target
    np.abs(L_t, out=T)
    np.negative(T, out=T)
    np.exp(T, out=T)  # e in (0, 1]: no overflow
    np.add(T, 1, out=G)
    np.subtract(1, T, out=S)
    np.divide(S, G, out=G)
    np.copysign(G, L_t, out=G)  # tanh(u / 2)
    G += 1
    G *= 0.5  # expit(u)
    G *= target
    G *= ws.w
    np.log1p(T, out=T)
    np.maximum(L_t, 0, out=L_t)
    L_t += T
    np.matmul(L_t, ws.w, out=ws.out)
    return float(ws.out.sum(dtype=np.float64)), G


def logistic_output_exp_log(L_t, ws):
    """The engine's: e = exp(u), v = 1 + e; expit = e / v, softplus = log(v) - ((v-1)-e)/v."""
    target, G, E = ws.sign_t, ws.G_t, ws.T_t
    L_t *= target
    with np.errstate(over="ignore"):
        np.exp(L_t, out=E)
    np.add(E, 1, out=G)
    np.subtract(G, 1, out=L_t)
    L_t -= E
    L_t /= G
    np.divide(E, G, out=E)
    np.log(G, out=G)
    G -= L_t
    np.matmul(G, ws.w, out=ws.out)
    np.multiply(E, ws.w, out=G)
    G *= target
    return float(ws.out.sum(dtype=np.float64)), G


# ---------------------------------------------------------------- timing


def interleaved(kernels, repeats):
    """Median seconds of each ``(prepare, run)`` pair, the pairs taking turns."""
    times = {name: [] for name in kernels}
    for _ in range(repeats):
        for name, (prepare, run) in kernels.items():
            if prepare is not None:
                prepare()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def table(title, header, rows, columns, reference):
    print(f"\n### {title}\n")
    print(
        "| " + header + " | " + " | ".join(f"{c} us" for c in columns) + " | "
        + " | ".join(f"{c} x" for c in columns if c != reference) + " | max \\|diff\\| |"
    )  # fmt: skip
    print("|---" * (2 + 2 * len(columns)) + "|")
    for label, medians, diff in rows:
        ref = medians[reference]
        cells = [f"{1e6 * medians[c]:.1f}" for c in columns]
        ratios = [f"{medians[c] / ref:.2f}" for c in columns if c != reference]
        print(f"| {label} | " + " | ".join(cells + ratios) + f" | {diff:.1e} |")


def sigmoid_case(m, h, dtype, repeats, rng):
    forms = {
        "tanh": sigmoid_tanh,
        "exp": sigmoid_exp,
        "exp, divide": sigmoid_exp_divide,
        "exp(s), divide": sigmoid_exp_negated,
        "expit": sigmoid_expit,
        "bare np.tanh": bare_tanh,
        "bare np.exp": bare_exp,
    }
    A = rng.normal(0, 2, (m, h)).astype(dtype)
    bufs = {name: np.empty_like(A) for name in forms}
    inputs = {name: -A if name == "exp(s), divide" else A for name in forms}
    kernels = {
        name: (
            lambda b=bufs[name], a=inputs[name]: np.copyto(b, a),
            lambda f=f, b=bufs[name]: f(b),
        )
        for name, f in forms.items()
    }
    with np.errstate(over="ignore"):
        medians = interleaved(kernels, repeats)
    exact = scipy.special.expit(A.astype(np.float64))
    diff = max(
        float(np.max(np.abs(bufs[n] - exact)))
        for n in ("tanh", "exp", "exp, divide", "exp(s), divide", "expit")
    )
    return f"{m}x{h} {np.dtype(dtype).name}", medians, diff


def bench_sigmoid(repeats, rng):
    rows = [sigmoid_case(m, h, d, repeats, rng) for m, h in HIDDEN_SHAPES for d in DTYPES]
    columns = list(rows[0][1])
    table("Hidden sigmoid, in place", "pre-activations", rows, columns, "tanh")


def pair_case(forms, L, make_work, repeats):
    """Two output-layer forms on copies of `L`: medians and their results."""
    works = {name: make_work() for name in forms}
    bufs = {name: np.empty_like(L) for name in forms}
    results = {}

    def run(name):
        results[name] = forms[name](bufs[name], works[name])

    kernels = {
        name: (lambda name=name: np.copyto(bufs[name], L), lambda name=name: run(name))
        for name in forms
    }
    return interleaved(kernels, repeats), results


def output_case(m, k, dtype, repeats, rng):
    L = rng.normal(0, 2, (m, k)).astype(dtype)
    L_t = np.ascontiguousarray(L.T)
    seed = int(rng.integers(2**31))

    def make_work():  # the same labels for every form
        return OutputWork(m, k, dtype, np.random.default_rng(seed))

    label = f"{m}x{k} {np.dtype(dtype).name}"
    # The layouts take different inputs (L_t, L): their own pair of turns.
    forms = {"transposed (engine)": softmax_transposed, "row-major": softmax_rows}
    works = {name: make_work() for name in forms}
    inputs = {"transposed (engine)": L_t, "row-major": L}
    bufs = {name: np.empty_like(inputs[name]) for name in forms}
    results = {}

    def run(name):
        results[name] = forms[name](bufs[name], works[name])

    kernels = {
        name: (lambda name=name: np.copyto(bufs[name], inputs[name]), lambda name=name: run(name))
        for name in forms
    }
    medians = interleaved(kernels, repeats)
    (loss_t, G_t), (loss_r, G_r) = results["transposed (engine)"], results["row-major"]
    diff = max(abs(loss_t - loss_r) / abs(loss_t), float(np.max(np.abs(G_t - G_r.T))) * m)
    softmax = (label, medians, diff)

    forms = {
        "tanh": logistic_output_tanh,
        "shared exp": logistic_output_shared_exp,
        "exp, log (engine)": logistic_output_exp_log,
    }
    medians, results = pair_case(forms, L_t, make_work, repeats)
    loss_a, G_a = results["tanh"]
    diff = max(
        max(abs(loss_a - loss_b) / abs(loss_a), float(np.max(np.abs(G_a - G_b))) * m)
        for loss_b, G_b in results.values()
    )
    return softmax, (label, medians, diff)


def bench_output(repeats, rng):
    rows = [output_case(m, k, d, repeats, rng) for m, k in OUTPUT_SHAPES for d in DTYPES]
    table(
        "Softmax output layer (loss and p - y); diff: loss relative, delta x rows",
        "logits",
        [softmax for softmax, _ in rows],
        ["transposed (engine)", "row-major"],
        "transposed (engine)",
    )
    table(
        "Logistic output layer (loss and p - y); diff: loss relative, delta x rows",
        "logits",
        [logistic for _, logistic in rows],
        ["tanh", "shared exp", "exp, log (engine)"],
        "tanh",
    )


def max_relative(a, b):
    return float(np.max(np.abs(a - b))) / float(np.max(np.abs(a)))


def first_layer_case(m, f, h, dtype, repeats, rng):
    X = rng.normal(size=(m, f)).astype(dtype)
    W = rng.normal(size=(f, h)).astype(dtype)
    D = rng.normal(size=(m, h)).astype(dtype)
    Z, Z_t = np.empty((m, h), dtype), np.empty((h, m), dtype)
    G, G_t = np.empty((f, h), dtype), np.empty((h, f), dtype)
    kernels = {
        "X @ W": (None, lambda: np.matmul(X, W, out=Z)),
        "(W^T X^T)^T": (None, lambda: np.matmul(W.T, X.T, out=Z_t)),
        "X^T D": (None, lambda: np.matmul(X.T, D, out=G)),
        "(D^T X)^T": (None, lambda: np.matmul(D.T, X, out=G_t)),
    }
    medians = interleaved(kernels, repeats)
    diff = max(max_relative(Z, Z_t.T), max_relative(G, G_t.T))
    return f"{m}x{f}-{h} {np.dtype(dtype).name}", medians, diff


def output_layer_case(m, h, k, dtype, repeats, rng):
    A = rng.random((m, h)).astype(dtype)
    W2 = rng.normal(size=(h, k)).astype(dtype)
    D2 = rng.normal(size=(m, k)).astype(dtype)
    D2_t = np.ascontiguousarray(D2.T)
    L, L_t = np.empty((m, k), dtype), np.empty((k, m), dtype)
    G2, G2b = np.empty((h, k), dtype), np.empty((h, k), dtype)
    P, Pb = np.empty((m, h), dtype), np.empty((m, h), dtype)

    def row_major():
        np.matmul(A, W2, out=L)
        np.matmul(A.T, D2, out=G2)
        np.matmul(D2, W2.T, out=P)

    def transposed():  # the engine's
        np.matmul(W2.T, A.T, out=L_t)
        np.matmul(A.T, D2_t.T, out=G2b)
        np.matmul(D2_t.T, W2.T, out=Pb)

    kernels = {"transposed (engine)": (None, transposed), "row-major": (None, row_major)}
    medians = interleaved(kernels, repeats)
    diff = max(max_relative(L, L_t.T), max_relative(G2, G2b), max_relative(P, Pb))
    return f"{m}x{h}-{k} {np.dtype(dtype).name}", medians, diff


def bench_products(repeats, rng):
    first = [first_layer_case(m, f, h, d, repeats, rng) for m, f, h, _ in NETWORKS for d in DTYPES]
    output = [
        output_layer_case(m, h, k, d, repeats, rng) for m, _, h, k in NETWORKS for d in DTYPES
    ]
    print("\n### First layer products (diff: relative)\n")
    print(
        "| chunk | X @ W us | (W^T X^T)^T us | ratio | X^T D us | (D^T X)^T us | ratio "
        "| max \\|diff\\| |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, t, diff in first:
        print(
            f"| {label} | {1e6 * t['X @ W']:.1f} | {1e6 * t['(W^T X^T)^T']:.1f} | "
            f"{t['(W^T X^T)^T'] / t['X @ W']:.2f} | {1e6 * t['X^T D']:.1f} | "
            f"{1e6 * t['(D^T X)^T']:.1f} | {t['(D^T X)^T'] / t['X^T D']:.2f} | {diff:.1e} |"
        )
    table(
        "Output layer: logits, weight gradient and deltas passed down (diff: relative)",
        "chunk",
        output,
        ["transposed (engine)", "row-major"],
        "transposed (engine)",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=300, help="interleaved turns per kernel")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--native-only", action="store_true", help="skip the AVX2 emulation")
    group.add_argument("--avx2", action="store_true", help="only the AVX2 code paths")
    args = parser.parse_args()
    if args.avx2 and any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        # numpy and OpenBLAS read these when loaded: start afresh with them.
        env = dict(os.environ, **AVX2_ENV)
        argv = [sys.executable, __file__, "--avx2", "--repeats", str(args.repeats)]
        sys.exit(subprocess.call(argv, env=env))
    title = "AVX2 code paths (emulated on this CPU)" if args.avx2 else "native code paths"
    print(f"## bench_kernels: {title}\n")
    describe()
    rng = np.random.default_rng(0)
    with threadpoolctl.threadpool_limits(1, "blas"):
        bench_sigmoid(args.repeats, rng)
        bench_output(args.repeats, rng)
        bench_products(args.repeats, rng)
    sys.stdout.flush()
    if not (args.avx2 or args.native_only):
        print()
        sys.stdout.flush()
        env = dict(os.environ, **AVX2_ENV)
        argv = [sys.executable, __file__, "--avx2", "--repeats", str(args.repeats)]
        subprocess.check_call(argv, env=env)


if __name__ == "__main__":
    main()
