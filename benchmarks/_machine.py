"""What every benchmark prints first: the machine its ratios were measured on.

CPU model and vector extensions, each BLAS (and OpenMP) library threadpoolctl
finds with its kernel and thread count, package versions, the thread
variables of the environment and the load average: CPUs differ between
machines (an AVX-512 Xeon, an AVX2-only EPYC), and on a shared machine only
the ratios of one run mean anything.

`DISPATCH` names the code paths a benchmark can be rerun on (its
``--dispatch`` option, through :func:`rerun_with_dispatch`), and
:func:`machine_description` prints the ones it actually got: on an AVX-512
machine, "avx2" switches off numpy's AVX-512 kernels and picks OpenBLAS's
Haswell ones (and caps PyTorch's, oneDNN's, MKL's, XLA's and numba's
instruction sets likewise), which is how the code paths of an AVX2-only CPU are seen
there. Only benchmarks set these variables, never tests or CI.

The benchmarks run as scripts (``python benchmarks/bench_x.py``), which puts
this folder on ``sys.path``: they import it as ``_machine``.
"""

import contextlib
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy  # noqa: F401  (loaded, so that threadpoolctl finds its BLAS)
import scipy.linalg  # noqa: F401  (and scipy's)
import threadpoolctl

PACKAGES = ("numpy", "scipy", "scikit-learn", "threadpoolctl")
THREAD_VARIABLES = ("OPENBLAS", "OMP_", "MKL_", "XLA", "NPY_", "ATEN_", "ONEDNN_", "NUMBA_")

# The environment of each --dispatch (None: unset). "native": every library
# picks its kernels for this CPU (some machines set OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE, which an old OpenBLAS needed: they slow a current one);
# "avx2": the same with every AVX-512 code path switched off.
NATIVE_ENV = {
    "NPY_DISABLE_CPU_FEATURES": None,
    "OPENBLAS_CORETYPE": None,
    "OPENBLAS_L2_SIZE": None,
    "ATEN_CPU_CAPABILITY": None,
    "ONEDNN_MAX_CPU_ISA": None,
    "MKL_ENABLE_INSTRUCTIONS": None,
    "XLA_FLAGS": None,
    "NUMBA_CPU_NAME": None,
    "NUMBA_CPU_FEATURES": None,
}
DISPATCH = {
    "native": NATIVE_ENV,
    "avx2": {
        **NATIVE_ENV,
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy 2.x names
        "OPENBLAS_CORETYPE": "Haswell",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
        # The name alone keeps the host's features (AVX-512 included).
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": "+avx2,+fma",
    },
}
# numpy's kernels that an evaluation spends its elementwise time in.
NUMPY_FUNCTIONS = ("exp", "tanh", "log", "log1p")


def cpu_model_and_flags():
    """The CPU's model name and its vector extensions (avx*, fma, amx*), from /proc/cpuinfo.

    The name ends with the CPU family and model numbers, which tell a
    generation when the name does not ("AMD EPYC (family 26, model 2)": Zen 5).
    """
    model, flags, numbers = "unknown", [], {}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            key = line.split(":", 1)[0].strip()
            if key in ("cpu family", "model") and key not in numbers:
                numbers[key] = line.split(":", 1)[1].strip()
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    if numbers:
        model += f" (family {numbers.get('cpu family', '?')}, model {numbers.get('model', '?')})"
    return model, [f for f in flags if f.startswith(("avx", "fma", "amx"))]


def dispatch_environment(name):
    """``os.environ`` as the dispatch `name` ("inherited": unchanged) sets it."""
    env = dict(os.environ)
    for key, value in DISPATCH.get(name, {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def rerun_with_dispatch(name, argv):
    """Run ``python argv`` with dispatch `name` and exit with its code, unless already on it.

    numpy and OpenBLAS read their variables when loaded, so a new process
    is the only way to change them. Returns (without rerunning) when the
    environment already is the dispatch's.
    """
    env = dispatch_environment(name)
    if env == dict(os.environ):
        return
    sys.stdout.flush()
    sys.exit(subprocess.call([sys.executable, *argv], env=env))


def numpy_dispatch():
    """numpy's enabled dispatch targets and each of `NUMPY_FUNCTIONS`' kernel in f64/f32."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
        from numpy.lib.introspect import opt_func_info
    except ImportError:  # numpy < 2.0
        return "unknown (numpy < 2)"
    enabled = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    kernels = []
    for function in NUMPY_FUNCTIONS:
        info = opt_func_info(func_name=f"^{function}$").get(function, {})
        current = [info.get(char * 2, {}).get("current", "?") for char in "df"]
        kernels.append(f"{function} {'/'.join(current)}")
    return f"targets {' '.join(enabled) or 'baseline only'}; f64/f32 kernels: " + ", ".join(
        kernels
    )


def blas_kernels():
    """Each BLAS threadpoolctl finds, as "numpy's openblas 0.3.31 (SkylakeX kernels)"."""
    found = []
    for info in threadpoolctl.threadpool_info():
        if info["user_api"] != "blas":
            continue
        path = info["filepath"]
        owner = next((f"{p}'s " for p in ("numpy", "scipy") if f"{p}.libs" in path), "")
        found.append(
            f"{owner}{info['internal_api']} {info.get('version')} "
            f"({info.get('architecture', '?')} kernels)"
        )
    return ", ".join(sorted(found))


def package_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load():
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_description(packages=()):
    """Markdown lines: CPU, vector extensions, BLAS and numpy kernels, versions, environment, load.

    `packages` are listed after numpy, scipy, scikit-learn and threadpoolctl.
    """
    model, vector = cpu_model_and_flags()
    lines = [
        f"- CPU: {model}; {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable)",
        f"- vector extensions: {' '.join(vector) or 'none listed'}",
    ]
    for info in threadpoolctl.threadpool_info():
        lines.append(
            f"- {info['user_api']}: {info['internal_api']} {info.get('version')} "
            f"(kernel {info.get('architecture', '-')}, {info['num_threads']} threads) "
            f"{os.path.basename(info['filepath'])}"
        )
    lines.append(f"- numpy dispatch: {numpy_dispatch()}")
    skmlp = sys.modules.get("skmlp")
    where = f" ({Path(skmlp.__file__).parent})" if skmlp is not None else ""
    lines.append(
        f"- Python {platform.python_version()}, "
        + ", ".join(f"{p} {package_version(p)}" for p in (*PACKAGES, *packages))
        + f", skmlp {package_version('skmlp')}{where}"
    )
    env = {k: v for k, v in os.environ.items() if k.startswith(THREAD_VARIABLES)}
    lines.append(f"- environment: {env or 'none of ' + '*, '.join(THREAD_VARIABLES) + '*'}")
    lines.append(f"- load average: {load()}")
    return lines
