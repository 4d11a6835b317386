"""The example scripts run from a clean process and produce what they promise."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Each example runs in a fresh interpreter, for seconds.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args, cwd, **env):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "error", **env}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", cwd=tmp_path)
    # It says what it is doing before each long step, in a few lines.
    steps = [
        "Grid search over alpha",
        "Fitting 5 folds for each of 5 candidates, totalling 25 fits",
        "best alpha:",
        "Cross-validating the chosen pipeline: 5 more fits",
        "test accuracy:",
    ]
    places = [out.find(step) for step in steps]
    assert -1 not in places and places == sorted(places), out
    assert len(out.splitlines()) < 20
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out)[1])
    assert accuracy > 0.95
    assert re.search(r"best alpha: [0-9.]+", out)
    assert len(re.findall(r"^\s*[0-9.]+\s+0\.\d{4}\s+\(0\.\d{4}\)$", out, re.M)) == 5


def test_plot_training(tmp_path):
    out = run_example("plot_training.py", tmp_path, cwd=tmp_path)
    names = ["training_loss_curves", "training_early_stopping", "training_class_weight"]
    for name in names:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert "early stopping after" in out
    recalls = re.findall(r"recall per class \[([0-9.]+) +([0-9.]+)\]", out)
    assert float(recalls[1][1]) > float(recalls[0][1])


def test_dask_fit(tmp_path):
    pytest.importorskip("dask")  # the "dask" extra
    pytest.importorskip("distributed")
    out = run_example("dask_fit.py", cwd=tmp_path)
    assert re.search(r"^Dask cluster: 2 workers at tcp://127\.0\.0\.1:\d+$", out, re.M)
    assert "lazy predict: Array with chunks (150, 150, 150)" in out
    cluster = float(re.search(r"test accuracy on the cluster: ([0-9.]+)", out)[1])
    memory = float(re.search(r"test accuracy in memory: ([0-9.]+)", out)[1])
    assert cluster == memory > 0.95
    # The same J summed in another row order (canonical rows in memory).
    gap = float(re.search(r"largest weight difference from the in-memory fit: (\S+)", out)[1])
    assert gap < 1e-6


def test_plot_regression_without_a_display_saves_into_the_temporary_folder(tmp_path):
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    out = run_example("plot_regression.py", cwd=cwd, TMPDIR=str(tmp))
    folder = tmp / "skmlp-examples"
    for name in ["regression_predictions", "regression_loss_curve"]:
        assert (folder / f"{name}.png").stat().st_size > 10_000
    assert f"as PNG files in {folder}" in out
    assert list(cwd.iterdir()) == []
    assert float(re.search(r"test R\^2: ([0-9.]+)", out)[1]) > 0.9


def test_plot_solvers(tmp_path):
    out = run_example("plot_solvers.py", tmp_path, "--quick", cwd=tmp_path)
    for name in ["solvers_digits", "solvers_5000x400"]:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    for solver in ["lbfgs", "tnc", "cg", "newton-cg", "trust-ncg", "trust-krylov"]:
        assert len(re.findall(rf"^ +{solver}: +\d+ iterations", out, re.M)) == 2


# A matplotlib backend that shows nothing but records that it was asked to.
RECORDING_BACKEND = """
import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureManagerBase as FigureManager
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas

def show(*args, **kwargs):
    print(f"show() called with {len(plt.get_fignums())} figures open")
"""


def test_plot_lm_shows_its_figures_with_the_users_backend_and_writes_nothing(tmp_path):
    # The example leaves the backend to the user (it once forced Agg) and,
    # shown, writes no files.
    (tmp_path / "recording_backend.py").write_text(RECORDING_BACKEND)
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    out = run_example(
        "plot_lm.py",
        cwd=cwd,
        MPLBACKEND="module://recording_backend",
        PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        TMPDIR=str(tmp),
    )
    assert out.rstrip().endswith("show() called with 3 figures open")
    assert re.search(r"wine,    lm: +\d+ iterations", out)
    assert list(cwd.iterdir()) == list(tmp.iterdir()) == []
