"""What every benchmark prints first: the machine its ratios were measured on.

CPU model and vector extensions, each BLAS (and OpenMP) library threadpoolctl
finds with its kernel and thread count, package versions, the thread
variables of the environment and the load average: CPUs differ between
machines (an AVX-512 Xeon, an AVX2-only EPYC), and on a shared machine only
the ratios of one run mean anything.

The benchmarks run as scripts (``python benchmarks/bench_x.py``), which puts
this folder on ``sys.path``: they import it as ``_machine``.
"""

import contextlib
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy  # noqa: F401  (loaded, so that threadpoolctl finds its BLAS)
import scipy.linalg  # noqa: F401  (and scipy's)
import threadpoolctl

PACKAGES = ("numpy", "scipy", "scikit-learn", "threadpoolctl")
THREAD_VARIABLES = ("OPENBLAS", "OMP_", "MKL_", "XLA")


def cpu_model_and_flags():
    """The CPU's model name and its vector extensions (avx*, fma, amx*), from /proc/cpuinfo."""
    model, flags = "unknown", []
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    return model, [f for f in flags if f.startswith(("avx", "fma", "amx"))]


def package_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load():
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_description(packages=()):
    """Markdown lines: CPU and vector extensions, BLAS kernels, versions, environment, load.

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
    skmlp = sys.modules.get("skmlp")
    where = f" ({Path(skmlp.__file__).parent})" if skmlp is not None else ""
    lines.append(
        f"- Python {platform.python_version()}, "
        + ", ".join(f"{p} {package_version(p)}" for p in (*PACKAGES, *packages))
        + f", skmlp {package_version('skmlp')}{where}"
    )
    env = {k: v for k, v in os.environ.items() if k.startswith(THREAD_VARIABLES)}
    lines.append(f"- environment: {env or 'no OPENBLAS_*/OMP_*/MKL_*/XLA_* variables'}")
    lines.append(f"- load average: {load()}")
    return lines
