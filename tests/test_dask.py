"""Scale-out on Dask: joblib's "dask" backend runs the same search, bit for bit."""

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier

# dask is an optional dependency (the "dask" extra): without it, skip.
pytest.importorskip("dask")
pytest.importorskip("distributed")

from dask.distributed import get_task_stream

pytestmark = pytest.mark.slow  # a cluster of worker processes, and the example's own

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dask_gridsearch.py"

PARAM_GRID = {
    "backpropmlpclassifier__alpha": [0.01, 1.0, 10.0],
    "backpropmlpclassifier__hidden_layer_sizes": [(3,), (8,)],
}


@pytest.fixture(scope="module")
def problem():
    return make_classification(
        n_samples=90, n_features=6, n_informative=4, n_classes=3, random_state=0
    )


def make_search():
    pipe = make_pipeline(StandardScaler(), BackpropMLPClassifier(max_iter=2000, random_state=0))
    # error_score="raise": a fit failing on a worker must fail the test, not
    # turn into a NaN score that could still compare equal.
    return GridSearchCV(pipe, PARAM_GRID, cv=3, error_score="raise")


def test_grid_search_on_dask_equals_local_run(problem, client):
    X, y = problem
    local = make_search().set_params(n_jobs=1).fit(X, y)

    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        remote = make_search().fit(X, y)

    # The fits ran on the cluster's workers, not in this process.
    assert len(tasks.data) >= 1
    assert {task["worker"] for task in tasks.data} <= set(client.scheduler_info()["workers"])

    assert remote.best_params_ == local.best_params_
    # Same data, same random_state: identical fits, identical scores.
    assert_array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    for split in range(3):
        key = f"split{split}_test_score"
        assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    # The scores say something: the candidates differ, and the best learned.
    assert np.ptp(local.cv_results_["mean_test_score"]) > 0
    assert local.best_score_ > 0.6
    assert_array_equal(remote.best_estimator_[-1].coefs_[0], local.best_estimator_[-1].coefs_[0])


def test_dask_example_runs():
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE), "--small"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Dask cluster: 2 workers at tcp://127.0.0.1:")
    # A line per candidate of the small 2 x 2 grid, the best, the test score.
    assert sum(line.lstrip().startswith(("0.3", "3 ")) for line in lines) == 4
    assert any(line.startswith("best parameters: {'mlp__alpha'") for line in lines)
    accuracy = float(lines[-1].removeprefix("test accuracy: "))
    assert accuracy > 0.9
    assert "Traceback" not in result.stderr
