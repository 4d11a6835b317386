"""Prototype (benchmark-only code): one chunk's elementwise work fused and compiled.

Usage::

    python benchmarks/proto_fused.py [--quick] [--repeats 200] [--dispatch {inherited,native,avx2}]

The evidence for deciding whether a compiled kernel belongs in skmlp. The
elementwise work of one evaluation of a logistic network with logistic
outputs, on the arrays of three bench_matrix shapes (digits 1797 rows x 25
hidden x 10 outputs, 5000x25x10, 2000x64x10), float64 and float32:

- "sigmoid": the hidden activations ``z = 1 / (1 + exp(-a))`` in place
  (fused: ``e = exp(-|a|)``, ``z = (1 or e) / (1 + e)``, accurate for
  a < 0 too);
- "derivative": the hidden deltas ``d *= z (1 - z)``;
- "loss": the logistic loss and its delta on the transposed logits
  (outputs x rows): with ``u = (1 - 2 y) a``, the weighted
  ``softplus(u) = max(u, 0) + log1p(exp(-|u|))`` summed, and
  ``w (p - y) = w (1 - 2 y) expit(u)``.

Three implementations of each:

- "numpy": skmlp's own code as it is (``skmlp._activations`` and
  ``skmlp._losses.LogisticLoss``), numpy's passes over memory;
- "numba": one loop per step, ``@njit(error_model="numpy",
  fastmath={"contract"})`` (no fast-math that changes results: inf and
  NaN keep their meaning, no reassociation), the loss from one exp and one
  log per element (``log1p(e) = log(1 + e) e / ((1 + e) - 1)``, Kahan's
  trick, exact where ``1 + e`` rounds to 1);
- "C": the same loops in C, ``gcc -O3 -march=native`` (``haswell`` for the
  AVX2 dispatch) ``-fno-math-errno -fopenmp-simd``, exp and log declared
  ``simd`` so that gcc calls glibc's libmvec vector kernels
  (``_ZGVeN8v_exp``: 8 doubles per call with AVX-512), through ctypes.
  Skipped without gcc.

Each is timed per call on the whole arrays (one thread; inputs restored
outside the timed call; interleaved repeats, medians), in ns per element of
its step, with the saving per evaluation against numpy. Accuracy: the
largest error in ulps against a long double (x87, 64-bit mantissa)
reference, on the shapes' own inputs and on a sweep of u over the whole
range of the dtype (``[-745, 710]`` in float64); reproducibility: the
outputs' hash in this process against a fresh process.

``--dispatch`` as in bench_matrix.py; "avx2" also compiles numba
(``NUMBA_CPU_NAME=haswell``) and C for Haswell. Whether numba vectorizes
exp and log is printed (from its assembly): llvmlite's LLVM is not SVML
patched, so without a vector library LLVM keeps scalar libm calls.
"""

import argparse
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import DISPATCH, machine_description, rerun_with_dispatch
from threadpoolctl import threadpool_limits

from skmlp._activations import inplace_logistic, inplace_logistic_derivative
from skmlp._layout import Layout
from skmlp._losses import LogisticLoss, ones_index
from skmlp._problem import make_objective

# (key, rows, hidden, outputs, features of the bench_matrix shape)
SHAPES = (
    ("digits", 1797, 25, 10, 64),
    ("5000x25x10", 5000, 25, 10, 400),
    ("2000x64x10", 2000, 64, 10, 200),
)
DTYPES = (np.float64, np.float32)
STEPS = ("sigmoid", "derivative", "loss")

C_SOURCE = r"""
#include <math.h>
#include <stddef.h>

#define DECLARE(T, SUFFIX) \
    __attribute__((simd("notinbranch"))) T exp##SUFFIX(T); \
    __attribute__((simd("notinbranch"))) T log##SUFFIX(T);
DECLARE(double, )
DECLARE(float, f)

#define KERNELS(T, SUFFIX, NAME) \
void sigmoid_##NAME(T *restrict z, ptrdiff_t n) { \
    _Pragma("omp simd") \
    for (ptrdiff_t i = 0; i < n; i++) { \
        T e = exp##SUFFIX(-fabs##SUFFIX(z[i])); \
        z[i] = (z[i] >= 0 ? (T)1 : e) / ((T)1 + e); \
    } \
} \
void derivative_##NAME(const T *restrict z, T *restrict d, ptrdiff_t n) { \
    _Pragma("omp simd") \
    for (ptrdiff_t i = 0; i < n; i++) d[i] *= z[i] * ((T)1 - z[i]); \
} \
void loss_##NAME(T *restrict a, const ptrdiff_t *restrict index, ptrdiff_t n_index, \
                 const T *restrict w, T *restrict g, ptrdiff_t k, ptrdiff_t m) { \
    for (ptrdiff_t i = 0; i < n_index; i++) a[index[i]] = -a[index[i]]; \
    for (ptrdiff_t r = 0; r < k; r++) { \
        T *restrict ar = a + r * m, *restrict gr = g + r * m; \
        _Pragma("omp simd") \
        for (ptrdiff_t j = 0; j < m; j++) { \
            T u = ar[j]; \
            T e = exp##SUFFIX(-fabs##SUFFIX(u)); \
            T t = (T)1 + e; \
            T log_t = log##SUFFIX(t); /* unconditional: a call in a branch stays scalar */ \
            T lp = t == (T)1 ? e : log_t * (e / (t - (T)1)); \
            ar[j] = (u > 0 ? u : (T)0) + lp; \
            gr[j] = (u >= 0 ? (T)1 : e) / t * w[j]; \
        } \
    } \
    for (ptrdiff_t i = 0; i < n_index; i++) g[index[i]] = -g[index[i]]; \
}
KERNELS(double, , f64)
KERNELS(float, f, f32)
"""


# ------------------------------------------------------------------ kernels


class Work:
    """The scratch buffers skmlp's LogisticLoss.loss_and_delta asks for."""

    def __init__(self, k, m, dtype):
        self.buffer = np.empty((k, m), dtype)
        self.out = np.empty(k, dtype)

    def scratch(self, k, m):
        return self.buffer[:k, :m]


def numpy_kernels():
    """skmlp's own passes: {step: fn(arrays)}."""
    loss = LogisticLoss()
    return {
        "sigmoid": lambda arr: inplace_logistic(arr["z"]),
        "derivative": lambda arr: inplace_logistic_derivative(arr["z0"], arr["d"], arr["work_h"]),
        "loss": lambda arr: loss.loss_and_delta(
            arr["a"], arr["index"], arr["w"], arr["g"], arr["work"]
        ),
    }


def bitcast_intrinsics():
    """numba intrinsics reinterpreting float64 <-> int64 and float32 <-> int32 bits."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    pairs = {
        types.float64: (types.int64, ir.IntType(64)),
        types.float32: (types.int32, ir.IntType(32)),
        types.int64: (types.float64, ir.DoubleType()),
        types.int32: (types.float32, ir.FloatType()),
    }

    @intrinsic
    def bitcast(typingctx, x):
        if x not in pairs:
            return None
        target, ir_type = pairs[x]

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir_type)

        return target(x), codegen

    return bitcast


def polynomial_math(dtype):
    """``exp(x)`` for x <= 0 and ``log1p(e)`` for e in [0, 1] in arithmetic only (vectorizable).

    exp: ``x = k ln2 + r``, ``|r| <= ln2 / 2`` (k rounded by adding 1.5 2^52,
    read from the sum's bits: no float-to-int conversion, which AVX2 lacks
    for int64), Taylor polynomial of degree 13 (7 in float32), times 2^k as
    two factors 2^(k/2) so that subnormal results come out right.
    log1p: ``2 atanh(s)``, ``s = e / (2 + e) <= 1/3``, its series to
    ``s^35`` (``s^17`` in float32). Both within 3 ulps (measured below).
    """
    from numba import literal_unroll, njit

    bitcast = bitcast_intrinsics()
    f = dtype
    i = np.int64 if dtype == np.float64 else np.int32
    if dtype == np.float64:
        mantissa, bias, lowest, n_exp, n_log = 52, 1023, -746.0, 13, 17
        ln2_hi, ln2_lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
    else:
        mantissa, bias, lowest, n_exp, n_log = 23, 127, -104.0, 7, 8
        ln2_hi, ln2_lo = 0.693145751953125, 1.428606765330187045e-06
    magic = f(1.5 * 2.0**mantissa)
    magic_bits = i(np.array(magic).view(i))
    log2e, ln2_hi, ln2_lo, lowest = f(1 / np.log(2)), f(ln2_hi), f(ln2_lo), f(lowest)
    # Horner's coefficients, highest first. LLVM leaves a loop of more than
    # about 15 steps rolled, and then cannot vectorize the loop around it: the
    # log series is summed as its even and odd powers of s^2 (9 steps each).
    exp_terms = tuple(f(1 / np.prod(np.arange(1.0, n + 1))) for n in range(n_exp, -1, -1))
    exp_first, exp_rest = exp_terms[0], exp_terms[1:]
    n_log += n_log % 2 == 0  # an even number of terms
    even = tuple(f(1 / (2 * n + 1)) for n in range(n_log - 1, -1, -2))
    odd = tuple(f(1 / (2 * n + 1)) for n in range(n_log, 0, -2))
    even_first, even_rest, odd_first, odd_rest = even[0], even[1:], odd[0], odd[1:]
    two, shift, bias = f(2), i(mantissa), i(bias)
    jit = njit(inline="always", error_model="numpy", fastmath={"contract"})

    @jit
    def exp_nonpositive(x):
        x = max(x, lowest)
        t = x * log2e + magic
        k = i(bitcast(t) - magic_bits)
        kf = t - magic
        r = x - kf * ln2_hi - kf * ln2_lo
        p = exp_first
        for c in literal_unroll(exp_rest):
            p = p * r + c
        half = i(k >> 1)
        scale = bitcast(i((half + bias) << shift)) * bitcast(i((k - half + bias) << shift))
        return p * scale

    @jit
    def log1p_unit(e):
        s = e / (two + e)
        s2 = s * s
        s4 = s2 * s2
        q_even, q_odd = even_first, odd_first
        for c in literal_unroll(even_rest):
            q_even = q_even * s4 + c
        for c in literal_unroll(odd_rest):
            q_odd = q_odd * s4 + c
        return two * s * (q_even + s2 * q_odd)

    return exp_nonpositive, log1p_unit


def libm_math(dtype):
    """The same two functions from numba's np.exp and np.log (scalar libm calls)."""
    from numba import njit

    one = dtype(1)
    jit = njit(inline="always", error_model="numpy", fastmath={"contract"})

    @jit
    def exp_nonpositive(x):
        return np.exp(x)

    @jit
    def log1p_unit(e):
        # Kahan's log1p from log: exact where 1 + e rounds to 1.
        t = one + e
        return e if t == one else np.log(t) * (e / (t - one))

    return exp_nonpositive, log1p_unit


def numba_kernels(dtype, math):
    """The fused loops, compiled by numba for `dtype` with `math`'s exp and log1p."""
    from numba import njit

    exp_nonpositive, log1p_unit = math(dtype)
    one, zero = dtype(1), dtype(0)
    jit = njit(error_model="numpy", fastmath={"contract"}, cache=False)

    @jit
    def sigmoid(z):
        for i in range(z.size):
            e = exp_nonpositive(-abs(z[i]))
            z[i] = (one if z[i] >= zero else e) / (one + e)

    @jit
    def derivative(z, d):
        for i in range(z.size):
            d[i] *= z[i] * (one - z[i])

    @jit
    def loss_row(a, w, g):
        for j in range(a.size):
            u = a[j]
            e = exp_nonpositive(-abs(u))
            a[j] = (u if u > zero else zero) + log1p_unit(e)
            g[j] = (one if u >= zero else e) / (one + e) * w[j]

    @jit
    def loss_terms(a, index, w, g):
        k = a.shape[0]
        flat_a, flat_g = a.reshape(-1), g.reshape(-1)
        for i in index:
            flat_a[i] = -flat_a[i]
        for r in range(k):
            loss_row(a[r], w, g[r])
        for i in index:
            flat_g[i] = -flat_g[i]

    def loss(arr):
        loss_terms(arr["a"], arr["index"], arr["w"], arr["g"])
        return weighted_sum(arr)

    kernels = {
        "sigmoid": lambda arr: sigmoid(arr["z"].reshape(-1)),
        "derivative": lambda arr: derivative(arr["z0"].reshape(-1), arr["d"].reshape(-1)),
        "loss": loss,
    }
    return kernels, {"sigmoid": sigmoid, "loss": loss_row}


def weighted_sum(arr):
    """``sum_r (terms_r . w)`` as skmlp sums its loss terms."""
    np.matmul(arr["a"], arr["w"], out=arr["work"].out)
    return float(arr["work"].out.sum(dtype=np.float64))


def c_kernels(dtype, folder, march):
    """The fused loops in C with libmvec, or None without gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    source, library = Path(folder) / "fused.c", Path(folder) / f"fused_{march}.so"
    source.write_text(C_SOURCE)
    flags = ["-O3", f"-march={march}", "-fno-math-errno", "-fopenmp-simd", "-fPIC", "-shared"]
    subprocess.check_call([gcc, *flags, "-o", str(library), str(source), "-lmvec", "-lm"])
    lib = ctypes.CDLL(str(library))
    C_CALLS[march] = library_math_calls(library)
    name = "f64" if dtype == np.float64 else "f32"
    sigmoid, derivative, loss_terms = (
        getattr(lib, f"{s}_{name}") for s in ("sigmoid", "derivative", "loss")
    )

    def ptr(x):
        return x.ctypes.data_as(ctypes.c_void_p)

    def loss(arr):
        a, index = arr["a"], arr["index"]
        loss_terms(
            ptr(a), ptr(index), ctypes.c_ssize_t(index.size), ptr(arr["w"]), ptr(arr["g"]),
            ctypes.c_ssize_t(a.shape[0]), ctypes.c_ssize_t(a.shape[1]),
        )  # fmt: skip
        return weighted_sum(arr)

    return {
        "sigmoid": lambda arr: sigmoid(ptr(arr["z"]), ctypes.c_ssize_t(arr["z"].size)),
        "derivative": lambda arr: derivative(
            ptr(arr["z0"]), ptr(arr["d"]), ctypes.c_ssize_t(arr["z0"].size)
        ),
        "loss": loss,
    }


C_CALLS = {}  # march: the exp/log functions the compiled C library imports


def library_math_calls(library):
    """The exp/log symbols a shared library imports (``_ZGV*``: libmvec's vector ones)."""
    nm = shutil.which("nm")
    if nm is None:
        return "unknown (no nm)"
    out = subprocess.run([nm, "-D", "--undefined-only", str(library)], capture_output=True)
    names = sorted(
        {line.split()[-1].split("@")[0] for line in out.stdout.decode().splitlines() if line}
    )
    return ", ".join(n for n in names if re.search(r"exp|log", n))


def numba_vectorizes(compiled):
    """What numba's machine code does: the exp/log it calls, its packed FMAs' registers."""
    found = {}
    for name, fn in compiled.items():
        asm = "\n".join(fn.inspect_asm().values())
        math = sorted(set(re.findall(r"\$(\w*(?:exp|log|svml|ZGV)\w*)", asm)))
        vector = any("svml" in m or "ZGV" in m for m in math)
        calls = f"calls {', '.join(math)} ({'vector' if vector else 'scalar'})" if math else ""
        packed = sorted(set(re.findall(r"vfmadd\w+p[sd]\s[^\n]*%([yz]mm)", asm)))
        found[name] = calls or f"no calls, packed FMAs on {'/'.join(packed) or 'none'}"
    return found


# --------------------------------------------------------------------- data


def make_arrays(n_rows, n_hidden, n_outputs, dtype):
    """Inputs like an evaluation's: pre-activations, logits, targets, weights, deltas."""
    rng = np.random.default_rng(0)
    a_hidden = (3 * rng.standard_normal((n_rows, n_hidden))).astype(dtype)
    logits_t = (4 * rng.standard_normal((n_outputs, n_rows))).astype(dtype)
    y = rng.integers(n_outputs, size=n_rows)
    Y = np.eye(n_outputs)[y]
    w = np.full(n_rows, 1 / n_rows, dtype)
    z0 = 1 / (1 + np.exp(-a_hidden.astype(np.float64)))
    inputs = {
        "a_hidden": a_hidden,
        "logits_t": logits_t,
        "z0": z0.astype(dtype),
        "d0": rng.standard_normal((n_rows, n_hidden)).astype(dtype),
        "index": ones_index(Y),
        "w": w,
    }
    arr = {
        "z": a_hidden.copy(),
        "z0": inputs["z0"],
        "d": inputs["d0"].copy(),
        "work_h": np.empty_like(a_hidden),
        "a": logits_t.copy(),
        "index": inputs["index"],
        "w": w,
        "g": np.empty_like(logits_t),
        "work": Work(n_outputs, n_rows, dtype),
    }
    return inputs, arr


def restore(step, inputs, arr):
    if step == "sigmoid":
        np.copyto(arr["z"], inputs["a_hidden"])
    elif step == "derivative":
        np.copyto(arr["d"], inputs["d0"])
    else:
        np.copyto(arr["a"], inputs["logits_t"])


def outputs(step, arr, result):
    if step == "sigmoid":
        return [arr["z"].copy()]
    if step == "derivative":
        return [arr["d"].copy()]
    return [np.array(result), arr["g"].copy()]


# ----------------------------------------------------------------- accuracy


def ulps(x, reference, dtype):
    """ "N; sub M": the largest error in ulps where the reference is a normal number,
    and below that (sigmoid and expit at u < -708 in float64) in multiples of the
    smallest subnormal (a result flushed to zero: up to 2^52 in float64)."""
    info = np.finfo(dtype)
    error = np.abs(x.astype(np.longdouble) - reference)
    normal = np.abs(reference) >= info.tiny
    spacing = np.spacing(np.abs(reference[normal]).astype(dtype)).astype(np.longdouble)
    worst = float(np.max(error[normal] / spacing))
    if normal.all():
        return f"{worst:.3g}"
    return f"{worst:.3g}; sub {float(np.max(error[~normal]) / info.smallest_subnormal):.3g}"


def reference_sigmoid(a):
    return 1 / (1 + np.exp(-a.astype(np.longdouble)))


def reference_loss(u):
    """softplus(u) and expit(u) in long double, elementwise on the flipped logits."""
    u = u.astype(np.longdouble)
    e = np.exp(-np.abs(u))
    return np.maximum(u, 0) + np.log1p(e), np.where(u >= 0, 1, e) / (1 + e)


def sweep(dtype):
    """u over the dtype's whole range: [-745, 710] in float64, [-104, 89] in float32."""
    lo, hi = (-745.0, 710.0) if dtype == np.float64 else (-104.0, 89.0)
    return np.concatenate([np.linspace(lo, hi, 20001), np.linspace(-40, 40, 20001)]).astype(dtype)


def accuracy(kernels, dtype):
    """Largest error in ulps of sigmoid, softplus terms and expit, on the whole-range sweep."""
    u = sweep(dtype)
    n = u.size
    errors = {}
    arr = {"z": u.copy()}
    kernels["sigmoid"](arr)
    errors["sigmoid"] = ulps(arr["z"], reference_sigmoid(u), dtype)
    # The loss step on one output row holding the sweep, no ones (u = a), unit weights.
    arr = {
        "a": u.reshape(1, n).copy(),
        "index": np.empty(0, np.intp),
        "w": np.ones(n, dtype),
        "g": np.empty((1, n), dtype),
        "work": Work(1, n, dtype),
    }
    with np.errstate(over="ignore"):
        kernels["loss"](arr)
    softplus, expit = reference_loss(u)
    errors["softplus"] = ulps(arr["a"][0], softplus, dtype)
    errors["expit"] = ulps(arr["g"][0], expit, dtype)
    at = np.array([-40.0], dtype)
    arr = {"z": at.copy()}
    kernels["sigmoid"](arr)
    errors["expit(-40) rel"] = float(abs(arr["z"][0] / reference_sigmoid(at)[0] - 1))
    return errors


# ------------------------------------------------------------------- timing


@contextlib.contextmanager
def skmlp_evaluation(n_rows, n_features, n_hidden, n_outputs, dtype):
    """A whole skmlp evaluation (loss and gradient) of the bench_matrix shape, one thread."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features)).astype(dtype)
    Y = np.eye(n_outputs)[rng.integers(n_outputs, size=n_rows)]
    layout = Layout((n_features, n_hidden, n_outputs))
    theta = layout.init(np.random.RandomState(0))
    with (
        threadpool_limits(1, "blas"),
        make_objective(layout, X, Y, alpha=1.0, n_threads=1) as objective,
    ):
        yield lambda: objective.loss_and_grad(theta)


def time_steps(implementations, inputs, arr, repeats, evaluation):
    """{(impl, step): [seconds]}, implementations and a whole evaluation interleaved."""
    times = {(impl, step): [] for impl in implementations for step in STEPS}
    times["evaluation"] = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluation()
        times["evaluation"].append(time.perf_counter() - start)
        for step in STEPS:
            for impl, kernels in implementations.items():
                restore(step, inputs, arr)
                start = time.perf_counter()
                kernels[step](arr)
                times[impl, step].append(time.perf_counter() - start)
    return times


def digest(implementations, inputs, arr):
    """sha256 of each implementation's outputs on the shape's inputs."""
    hashes = {}
    for impl, kernels in implementations.items():
        h = hashlib.sha256()
        for step in STEPS:
            restore(step, inputs, arr)
            for out in outputs(step, arr, kernels[step](arr)):
                h.update(np.ascontiguousarray(out).tobytes())
        hashes[impl] = h.hexdigest()[:16]
    return hashes


IMPLEMENTATIONS = ("numpy", "numba libm", "numba poly", "C libmvec")


def implementations_for(dtype, folder, march):
    impls, compiled = {"numpy": numpy_kernels()}, {}
    for name, math in (("numba libm", libm_math), ("numba poly", polynomial_math)):
        impls[name], functions = numba_kernels(dtype, math)
        compiled.update({f"{name} {fn}": f for fn, f in functions.items()})
    c = c_kernels(dtype, folder, march)
    if c is not None:
        impls["C libmvec"] = c
    return impls, compiled


def run(args):
    march = "haswell" if os.environ.get("NUMBA_CPU_NAME") == "haswell" else "native"
    shapes = SHAPES[:1] if args.quick else SHAPES
    rows, hashes, accuracies, vector = [], {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="proto_fused_") as folder:
        for dtype in DTYPES:
            name = np.dtype(dtype).name
            impls, compiled = implementations_for(dtype, folder, march)
            for impl, kernels in impls.items():
                accuracies[impl, name] = accuracy(kernels, dtype)
            vector[name] = numba_vectorizes(compiled)
            for key, n, h, k, n_features in shapes:
                inputs, arr = make_arrays(n, h, k, dtype)
                reference = {}
                for impl, kernels in impls.items():
                    for step in STEPS:
                        restore(step, inputs, arr)
                        reference[impl, step] = outputs(step, arr, kernels[step](arr))
                agree = {
                    impl: max(
                        float(np.max(np.abs(x - y)) / np.max(np.abs(y)))
                        for step in STEPS
                        for x, y in zip(reference[impl, step], reference["numpy", step])
                    )
                    for impl in impls
                }
                hashes[key, name] = digest(impls, inputs, arr)
                if args.hashes_only:
                    continue
                with skmlp_evaluation(n, n_features, h, k, dtype) as evaluation:
                    times = time_steps(impls, inputs, arr, args.repeats, evaluation)
                rows.append((key, n, h, k, name, times, agree))
    return rows, hashes, accuracies, vector


# ------------------------------------------------------------------ reports


def report(rows, hashes, fresh, accuracies, vector, dispatch):
    print("\n### ns per element (median of interleaved single calls, one thread)\n")
    print(
        "Elements: rows x hidden for sigmoid and derivative, outputs x rows for loss. "
        "saved: numpy's time minus the fused one for the whole arrays (all three steps), "
        "per evaluation, and as a share of a whole skmlp evaluation of the bench_matrix shape "
        "on one thread (eval, timed interleaved with the kernels; its products take most of "
        "the rest); diff: the largest difference of any output from numpy's (skmlp's), "
        "relative to that output's largest value.\n"
    )
    print(
        "| shape | dtype | impl | sigmoid | derivative | loss | all three us | saved us "
        "| eval us | saved / eval | speed-up | diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, n, h, k, name, times, agree in rows:
        counts = {"sigmoid": n * h, "derivative": n * h, "loss": n * k}
        impls = sorted({t[0] for t in times if t != "evaluation"}, key=IMPLEMENTATIONS.index)
        evaluation = 1e6 * statistics.median(times["evaluation"])
        total = {
            impl: sum(statistics.median(times[impl, s]) for s in STEPS) * 1e6 for impl in impls
        }
        for impl in impls:
            ns = [1e9 * statistics.median(times[impl, s]) / counts[s] for s in STEPS]
            print(
                f"| {key} | {name.replace('float', 'f')} | {impl} | "
                + " | ".join(f"{x:.2f}" for x in ns)
                + f" | {total[impl]:.0f} | {total['numpy'] - total[impl]:.0f} | "
                f"{evaluation:.0f} | {(total['numpy'] - total[impl]) / evaluation:.0%} | "
                f"{total['numpy'] / total[impl]:.2f} | {agree[impl]:.1e} |"
            )
    print("\n### Accuracy: largest error in ulps against long double\n")
    print(
        "On u over the dtype's whole range (float64 [-745, 710], float32 [-104, 89]) and "
        '[-40, 40]; "sub": where the exact result is subnormal, the largest error in '
        "multiples of the smallest subnormal (2^52: flushed to zero); softplus and "
        "expit from the loss step (numpy: skmlp's tanh/log1p form), sigmoid from the "
        "hidden step (numpy: skmlp's, by exp, or by tanh in float32 where numpy has AVX-512 "
        "tanh); expit(-40) rel: the sigmoid's relative error there.\n"
    )
    print("| impl | dtype | sigmoid | softplus | expit | expit(-40) rel |")
    print("|---|---|---|---|---|---|")
    for (impl, name), e in accuracies.items():
        print(
            f"| {impl} | {name} | {e['sigmoid']} | {e['softplus']} | "
            f"{e['expit']} | {e['expit(-40) rel']:.1e} |"
        )
    same = all(hashes[key] == fresh.get(key) for key in hashes)
    print(
        f"\n- bit-identical outputs in a fresh process, every shape, dtype and implementation: "
        f"{'yes' if same else 'NO'}"
    )
    for name, found in vector.items():
        for fn, words in found.items():
            print(f"- {fn} ({name}): {words}")
    for march, calls in C_CALLS.items():
        print(f"- C libmvec (-march={march}) imports: {calls}")
    print(f"- dispatch: {dispatch}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="digits only, 30 repeats")
    parser.add_argument("--repeats", type=int, default=200, help="interleaved calls per kernel")
    parser.add_argument("--dispatch", choices=("inherited", *DISPATCH), default="inherited")
    parser.add_argument("--hashes-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rerun_with_dispatch(args.dispatch, [__file__, *sys.argv[1:]])
    if args.quick:
        args.repeats = min(args.repeats, 30)
    if args.hashes_only:
        _, hashes, _, _ = run(args)
        print(json.dumps({f"{k}|{d}": v for (k, d), v in hashes.items()}))
        return
    print(f"## proto_fused ({args.dispatch} dispatch)\n")
    print("\n".join(machine_description(("numba", "llvmlite"))))
    rows, hashes, accuracies, vector = run(args)
    argv = [sys.executable, __file__, "--hashes-only"] + (["--quick"] if args.quick else [])
    fresh = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    fresh = {tuple(key.split("|")): value for key, value in fresh.items()}
    report(rows, hashes, fresh, accuracies, vector, args.dispatch)


if __name__ == "__main__":
    main()
