"""The engine's execution: chunks, threads, float32, memory, and the data it touches.

Correctness only: the speed claims live in benchmarks/.
"""

import ast
import gc
import itertools
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import parameters
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import skmlp
from skmlp import BackpropMLPClassifier
from skmlp._blas import blas_limiter, effective_n_threads
from skmlp._chunks import Task
from skmlp._executor import (
    ADAPT_EVERY,
    ADAPT_MAX_EVERY,
    ADAPT_RECENT,
    AUTO_MAX_ROWS,
    AUTO_WORKSPACE_BYTES,
    AdaptiveSchedule,
    ThreadExecutor,
    chunk_bounds,
)
from skmlp._layout import Layout
from skmlp._losses import LogisticLoss
from skmlp._network import Workspace, workspace_row_bytes
from skmlp._objective import auto_batch_size
from skmlp._problem import build_problem, make_objective

SKMLP_DIR = Path(skmlp.__file__).resolve().parent


def make_problem(n_samples=300, n_features=7, n_outputs=3, hidden=(6, 5), seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    if n_outputs == 1:
        Y = rng.randint(2, size=(n_samples, 1)).astype(float)
    else:
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    layout = Layout((n_features, *hidden, n_outputs))
    theta = layout.init(rng, init_epsilon=1.0)
    sample_weight = rng.uniform(0, 2, size=n_samples)
    return layout, X, Y, sample_weight, theta


def evaluate(layout, X, Y, sample_weight, theta, **params):
    params = {"alpha": 0.3, **params}
    with make_objective(layout, X, Y, sample_weight, **params) as objective:
        objective.loss_and_grad(theta)  # a second call must give the same
        return objective.loss_and_grad(theta)


def assert_close(a, b, rtol):
    (loss_a, grad_a), (loss_b, grad_b) = a, b
    assert loss_a == pytest.approx(loss_b, rel=rtol, abs=0)
    assert np.linalg.norm(grad_a - grad_b) <= rtol * np.linalg.norm(grad_b)


CONFIGS = [
    {"activation": "logistic", "out_activation": "logistic"},
    {"activation": "tanh", "out_activation": "softmax"},
    {"activation": "relu", "out_activation": "softmax"},
    {"activation": "identity", "out_activation": "logistic"},
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_chunked_equals_unchunked(config, n_outputs):
    layout, X, Y, sw, theta = make_problem(n_outputs=n_outputs)
    whole = evaluate(layout, X, Y, sw, theta, batch_size=len(X), n_threads=1, **config)
    for batch_size in [1, 2, 7, 64, 299, None, 1000]:
        for n_threads in [1, 2]:
            got = evaluate(
                layout, X, Y, sw, theta, batch_size=batch_size, n_threads=n_threads, **config
            )
            assert_close(got, whole, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 5, 16, 33, 100])
def test_threads_do_not_change_a_bit(batch_size, dtype):
    layout, X, Y, sw, theta = make_problem(n_samples=200)
    X = X.astype(dtype)
    loss, grad = evaluate(layout, X, Y, sw, theta, batch_size=batch_size, n_threads=1)
    for n_threads in [2, 3, 4, 8]:
        loss_t, grad_t = evaluate(
            layout, X, Y, sw, theta, batch_size=batch_size, n_threads=n_threads
        )
        assert loss_t == loss
        assert np.array_equal(grad_t, grad)


class ScriptedClock:
    """A fake clock: each timed evaluation takes the next of `durations` seconds.

    The executor reads the wall clock at the start and end of each timed
    evaluation; the CPU clock stands still, so no evaluation shows a gain
    and every check probes.
    """

    def __init__(self, durations):
        self.durations = iter(durations)
        self.now, self.running = 0.0, False

    def wall(self):
        if self.running:
            self.now += next(self.durations)
        self.running = not self.running
        return self.now

    def cpu(self):
        return 0.0


class RecordingSchedule(AdaptiveSchedule):
    """An adaptive schedule that keeps the way each evaluation went."""

    def __init__(self, clock=None):
        super().__init__(clock)
        self.ways = []

    def record(self, threaded, seconds, cpu_seconds):
        self.ways.append(threaded)
        super().record(threaded, seconds, cpu_seconds)


def drive(times, n_evaluations):
    """The ways a schedule takes when evaluation k the way `threaded` takes ``times(k, threaded)``.

    ``times`` returns ``(wall seconds, CPU seconds)``.
    """
    schedule = AdaptiveSchedule()
    ways = []
    for k in range(n_evaluations):
        threaded = schedule.threaded()
        schedule.record(threaded, *times(k, threaded))
        ways.append(threaded)
    return ways


def changes(ways):
    """The evaluations at which the way differs from the one before."""
    return [k for k in range(1, len(ways)) if ways[k] != ways[k - 1]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_adaptive_schedule_never_changes_a_fit(dtype):
    """A fit gives the same bits whichever way each evaluation ran.

    Fake times far apart make the schedule change its way again and again;
    the chunks are added in chunk order (OrderedSum), so its L-BFGS fit
    equals the fits on one thread and on two.
    """
    from scipy.optimize import minimize

    layout, X, Y, sw, theta = make_problem(n_samples=400)
    X = X.astype(dtype)
    durations = np.random.default_rng(0).lognormal(0.0, 1.0, size=1000)
    results, schedules = [], []
    for n_threads, schedule in [
        (1, None),
        (2, None),
        (2, RecordingSchedule(ScriptedClock(durations))),
        (3, RecordingSchedule(ScriptedClock(durations[::-1]))),
    ]:
        with make_objective(
            layout, X, Y, sw, alpha=0.3, batch_size=40, n_threads=n_threads, schedule=schedule
        ) as objective:
            options = {"maxiter": 80, "gtol": 0.0, "ftol": 0.0}
            fit = minimize(
                objective.loss_and_grad, theta, jac=True, method="L-BFGS-B", options=options
            )
            results.append((fit.fun, fit.x, fit.nfev))
        if schedule is not None:
            schedules.append(schedule.ways)
            assert objective.executor.n_threaded == sum(schedule.ways)
    for ways in schedules:
        assert len(ways) == results[0][2] > 80
        assert len(changes(ways)) >= 4  # both ways, again and again
    fun, x, nfev = results[0]
    for got_fun, got_x, got_nfev in results[1:]:
        assert got_nfev == nfev
        assert got_fun == fun
        assert np.array_equal(got_x, x)


def test_the_adaptive_schedule_keeps_threads_that_pay_without_probing():
    # Threads 1 s and busy for 1.8 CPU seconds; alone 1.8 s: never probed.
    ways = drive(lambda k, threaded: (1.0, 1.8) if threaded else (1.8, 1.8), 1000)
    assert all(ways)


@pytest.mark.parametrize("threaded_is_faster", [True, False])
def test_the_adaptive_schedule_probes_a_bounded_fraction(threaded_is_faster):
    # No gain shows (every check probes); the faster way takes 1 s, the other 1.25 s.
    def times(k, threaded):
        seconds = 1.0 if threaded == threaded_is_faster else 1.25
        return seconds, 0.0

    for n_evaluations, most in [(100, 12), (1000, 25)]:
        ways = drive(times, n_evaluations)
        slow = sum(way != threaded_is_faster for way in ways)
        assert slow <= most
    # After the first check, the probes come at intervals that double.
    probes = [k for k in changes(ways) if ways[k] != threaded_is_faster][1:]
    gaps = list(np.diff(probes))
    assert gaps == sorted(gaps)
    assert gaps[-1] >= ADAPT_MAX_EVERY


def test_a_noisy_probe_does_not_flip_the_choice_for_long():
    # The threads are faster (1 s against 1.15 s), but the calling thread
    # alone looks fast during its first probe (a noisy moment for the
    # threads' times would do the same) and the threads look slow at one
    # later check: each time the schedule goes back within one short
    # interval, a check and its probe.
    def times(k, threaded):
        if threaded:
            return (3.0 if 30 <= k < 40 else 1.0), 0.0
        return (0.5 if k < 6 else 1.15), 0.0

    ways = drive(times, 200)
    wrong = [k for k, way in enumerate(ways) if not way]
    runs = [len(list(run)) for _, run in itertools.groupby(ways) if not _]
    assert max(runs) <= ADAPT_EVERY + ADAPT_RECENT
    assert len(wrong) <= 30
    assert all(ways[-50:]) or sum(ways[-50:]) >= 50 - ADAPT_RECENT


def test_the_adaptive_schedule_follows_a_change_of_the_faster_way():
    # The threads are faster (1 s against 1.2 s) for 300 evaluations, then
    # slower (1.5 s, a loaded machine), then faster again from 900 on.
    def times(k, threaded):
        slower = 300 <= k < 900
        return ((1.5 if slower else 1.0) if threaded else 1.2), 0.0

    ways = drive(times, 1400)
    late = ADAPT_MAX_EVERY + 2 * ADAPT_RECENT  # the longest interval, a probe, a check
    assert all(ways[300 - ADAPT_EVERY : 300])
    assert not ways[300 + late]
    assert sum(ways[300 + late : 900]) <= 4 * ADAPT_RECENT  # probes only
    assert sum(not way for way in ways[900 + late :]) <= 4 * ADAPT_RECENT  # probes only


def test_the_adaptive_schedule_is_a_function_of_the_times():
    # The same times, the same decisions; a threaded evaluation slow for
    # its first two after the calling thread ran alone (the second core
    # waking up) does not keep the schedule on one thread.
    rng = np.random.default_rng(0)
    noise = rng.lognormal(0.0, 0.3, size=(500, 2))

    def times(k, threaded):
        return noise[k, int(threaded)] * (1.0 if threaded else 1.3), 0.5 * noise[k, 0]

    assert drive(times, 500) == drive(times, 500)
    state = {"run": 0}

    def warming(k, threaded):
        state["run"] = state["run"] + 1 if threaded else 0
        return ((2.0 if state["run"] <= 2 else 1.0) if threaded else 1.5), 0.0

    assert sum(drive(warming, 300)) >= 270


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n_outputs", [1, 4])
def test_float32_agrees_with_float64(config, n_outputs):
    layout, X, Y, sw, theta = make_problem(n_samples=500, n_outputs=n_outputs)
    exact = evaluate(layout, X, Y, sw, theta, **config)
    single = evaluate(layout, X.astype(np.float32), Y, sw, theta, **config)
    assert isinstance(single[0], float)
    assert single[1].dtype == np.float64
    assert_close(single, exact, rtol=1e-4)


def test_float32_data_run_in_float32():
    layout, X, Y, _, _ = make_problem()
    with make_objective(layout, X.astype(np.float32), Y) as objective:
        assert objective.executor.chunk_set.network.dtype == np.float32
    with make_objective(layout, X, Y) as objective:
        assert objective.executor.chunk_set.network.dtype == np.float64


@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_sparse_equals_dense(out_activation):
    layout, X, Y, sw, theta = make_problem()
    X[np.abs(X) < 1] = 0
    dense = evaluate(layout, X, Y, sw, theta, out_activation=out_activation, batch_size=64)
    for fmt in (sp.csr_matrix, sp.csc_matrix, sp.csr_array):
        sparse = evaluate(
            layout, fmt(X), Y, sw, theta, out_activation=out_activation, batch_size=64
        )
        assert_close(sparse, dense, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_extreme_logits_give_finite_loss_without_warnings(dtype, out_activation):
    # pytest turns warnings into errors: an overflow in exp or log(0) fails here.
    layout, X, Y, sw, theta = make_problem()
    loss, grad = evaluate(
        layout, 1e4 * X.astype(dtype), Y, sw, 100 * theta, out_activation=out_activation
    )
    assert np.isfinite(loss) and loss > 0
    assert np.all(np.isfinite(grad))


def test_second_evaluation_allocates_nothing_per_sample():
    n_samples, hidden = 100_000, 25
    layout, X, Y, _, theta = make_problem(n_samples=n_samples, n_features=20, hidden=(hidden,))
    with make_objective(layout, X, Y, batch_size=4096, n_threads=2) as objective:
        objective.loss_and_grad(theta)
        tracemalloc.start()
        try:
            objective.loss_and_grad(theta)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # One layer of activations for all rows would be n_samples * hidden * 8 (20 MB);
    # what remains are numpy's fixed-size ufunc buffers (~100 kB per thread).
    assert peak < n_samples * hidden * 8 / 20


def test_workspace_memory_is_bounded_by_batch_size():
    layout, X, Y, _, _ = make_problem(n_samples=5000, n_features=20, hidden=(30,))
    with make_objective(layout, X, Y, batch_size=100, n_threads=2) as objective:
        buffers = sum(ws.nbytes for ws in objective.executor.workspaces)
    # two threads' activations, deltas and scratch of 100 rows, and the
    # first layer's gradient (transposed)
    assert buffers <= 2 * (100 * workspace_row_bytes((20, 30, 3)) + 20 * 30 * 8 + 3 * 8)


def test_auto_batch_size():
    for n_samples, sizes, itemsize in [
        (1, (3, 2, 1), 8),
        (150, (4, 25, 3), 8),
        (1797, (64, 25, 10), 8),
        (5000, (400, 25, 10), 8),
        (200_000, (400, 25, 10), 4),
        (100_000, (400, 100, 100, 10), 8),
        (50_000, (10_000, 25, 10), 8),
        (50_000, (20, 3000, 10), 8),
    ]:
        batch_size = auto_batch_size(n_samples, sizes, itemsize)
        bounds = chunk_bounds(n_samples, batch_size)
        assert bounds[0][0] == 0 and bounds[-1][1] == n_samples
        assert 1 <= batch_size <= AUTO_MAX_ROWS
        # the memory bound, on the real buffers of one thread
        nbytes = Workspace(sizes, batch_size, np.dtype(f"f{itemsize}")).nbytes
        per_row = batch_size * workspace_row_bytes(sizes, itemsize)
        gradient = itemsize * sizes[0] * sizes[1]  # the first layer's, transposed
        assert nbytes <= per_row + gradient + 1000
        assert batch_size == 1 or per_row <= AUTO_WORKSPACE_BYTES
        # balanced chunks: the last one is not much shorter than the others
        assert bounds[-1][1] - bounds[-1][0] > batch_size - len(bounds)
    # Small problems are one chunk; a large one is split for the threads.
    assert auto_batch_size(150, (4, 25, 3)) == 150
    assert len(chunk_bounds(5000, auto_batch_size(5000, (400, 25, 10)))) % 2 == 0


def test_an_error_in_a_thread_propagates_and_the_objective_recovers(monkeypatch):
    layout, X, Y, sw, theta = make_problem(n_samples=200)
    with make_objective(layout, X, Y, sw, batch_size=10, n_threads=3) as objective:
        expected = objective.loss_and_grad(theta)
        right = LogisticLoss.loss_and_delta
        calls = itertools.count()  # next() on it is atomic under the GIL

        def fail_on_chunk_7(self, *args):
            if next(calls) == 7:
                raise FloatingPointError("chunk 7")
            return right(self, *args)

        monkeypatch.setattr(LogisticLoss, "loss_and_delta", fail_on_chunk_7)
        with pytest.raises(FloatingPointError, match="chunk 7"):
            objective.loss_and_grad(theta)
        monkeypatch.setattr(LogisticLoss, "loss_and_delta", right)
        loss, grad = objective.loss_and_grad(theta)
    assert loss == expected[0]
    assert np.array_equal(grad, expected[1])


def test_close_drops_the_data():
    layout, X, Y, sw, theta = make_problem()
    objective = make_objective(layout, X, Y, sw, n_threads=2, batch_size=50)
    objective.loss_and_grad(theta)
    ref = weakref.ref(X)
    objective.close()
    del X
    gc.collect()
    assert ref() is None


def blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_blas_is_single_threaded_inside_the_with_block_and_restored_after():
    layout, X, Y, sw, theta = make_problem()
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        with make_objective(layout, X, Y, sw, n_threads=2) as objective:
            assert blas_threads() == [1] * len(before)
            objective.loss_and_grad(theta)
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before
        objective = make_objective(layout, X, Y, sw, n_threads=2)  # no with: per evaluation
        objective.loss_and_grad(theta)
        assert blas_threads() == before
        objective.close()
        assert blas_threads() == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_reads_a_read_only_memmap(tmp_path, dtype):
    _, X, Y, _, _ = make_problem(n_samples=400)
    y = Y.argmax(axis=1)
    path = tmp_path / "X.dat"
    X.astype(dtype).tofile(path)
    X_map = np.memmap(path, dtype=dtype, mode="r", shape=X.shape)
    clf = BackpropMLPClassifier(max_iter=20, batch_size=64, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):  # 20 are not enough
        clf.fit(X_map, y)
    reference = BackpropMLPClassifier(max_iter=20, batch_size=64, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        reference.fit(X.astype(dtype), y)
    np.testing.assert_array_equal(clf.coefs_[0], reference.coefs_[0])
    np.testing.assert_array_equal(np.asarray(X_map), X.astype(dtype))


def test_fit_does_not_write_to_or_keep_X():
    _, X, Y, _, _ = make_problem(n_samples=400)
    y = Y.argmax(axis=1)
    X.flags.writeable = False
    before = X.copy()
    ref = weakref.ref(X)
    clf = BackpropMLPClassifier(max_iter=5, batch_size=50, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        clf.fit(X, y)
    np.testing.assert_array_equal(X, before)
    del X
    gc.collect()
    assert ref() is None, gc.get_referrers(ref())


@pytest.mark.parametrize("solver", ["tnc", "newton-cg", "trust-krylov"])
def test_float32_upcast_for_solvers_that_need_float64(solver):
    # They stall on float32 rounding (measurements at _FLOAT64_SOLVERS in
    # _classifier.py): they train in float64; trust-ncg does not need to.
    _, X, Y, _, _ = make_problem(n_samples=50)
    y = Y.argmax(axis=1)
    problem = build_problem(BackpropMLPClassifier(solver=solver), X.astype(np.float32), y)
    with problem as objective:
        assert objective.executor.chunk_set.network.dtype == np.float64
    for float32_solver in ("lbfgs", "trust-ncg"):
        problem = build_problem(
            BackpropMLPClassifier(solver=float32_solver), X.astype(np.float32), y
        )
        with problem as objective:
            assert objective.executor.chunk_set.network.dtype == np.float32


def test_concurrent_fits_restore_blas_threads():
    # Each fit limits BLAS to one thread while it runs; fits in several
    # threads at once (joblib's threading backend, a Dask worker) must not
    # restore out of order and leave BLAS single-threaded for the process.
    _, X, Y, _, _ = make_problem(n_samples=400)
    y = Y.argmax(axis=1)
    before = blas_threads()
    start = threading.Barrier(4)
    errors = []

    def fit(seed):
        try:
            clf = BackpropMLPClassifier((5,), max_iter=30, batch_size=50, random_state=seed)
            start.wait()
            clf.fit(X, y)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    for _ in range(3):
        threads = [threading.Thread(target=fit, args=(seed,)) for seed in range(4)]
        with warnings.catch_warnings():  # not thread-safe: set here, once
            warnings.simplefilter("ignore", ConvergenceWarning)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert not errors
        assert blas_threads() == before


def test_blas_limiter_counts_its_users():
    before = blas_threads()
    blas_limiter.acquire()
    blas_limiter.acquire()
    assert blas_threads() == [1] * len(before)
    blas_limiter.release()
    assert blas_threads() == [1] * len(before)
    blas_limiter.release()
    assert blas_threads() == before


@pytest.mark.parametrize("n_jobs", [1, 2, 3, -1, -2])
def test_n_jobs_does_not_change_the_model(n_jobs):
    _, X, Y, _, _ = make_problem(n_samples=200)
    y = Y.argmax(axis=1)
    params = {"hidden_layer_sizes": (6,), "max_iter": 15, "batch_size": 16, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BackpropMLPClassifier(**params).fit(X, y)
        clf = BackpropMLPClassifier(n_jobs=n_jobs, **params).fit(X, y)
    np.testing.assert_array_equal(parameters(clf), parameters(reference))


def training_threads(**params):
    _, X, Y, _, _ = make_problem(n_samples=200)
    problem = build_problem(BackpropMLPClassifier(batch_size=10, **params), X, Y.argmax(1))
    with problem as objective:
        return objective.executor.n_threads


def test_n_jobs_follows_scikit_learns_conventions():
    cpus = effective_n_threads()
    assert training_threads() == min(cpus, 8)
    assert training_threads(n_jobs=1) == 1
    assert training_threads(n_jobs=3) == 3
    assert training_threads(n_jobs=-1) == cpus
    assert training_threads(n_jobs=-2) == max(1, cpus - 1)
    # threadpoolctl's limits, and OMP_NUM_THREADS as joblib sets it in its
    # workers (inner_max_num_threads), bound the default
    with threadpool_limits(1):
        assert training_threads() == 1
        assert training_threads(n_jobs=-1) == 1
    # OpenMP reads OMP_NUM_THREADS when it starts: a new process.
    code = (
        "import numpy as np; from skmlp import BackpropMLPClassifier as C;"
        "from skmlp._blas import effective_n_threads as n;"
        "X, y = np.random.rand(200, 3), np.arange(200) % 2;"
        "from skmlp._problem import build_problem;"
        "p = build_problem(C(batch_size=10), X, y);"
        "print(n(), p.open().executor.n_threads); p.close()"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["1", "1"], out.stderr


def test_n_jobs_zero_is_refused():
    _, X, Y, _, _ = make_problem(n_samples=50)
    with pytest.raises(ValueError, match="n_jobs"):
        BackpropMLPClassifier(n_jobs=0).fit(X, Y.argmax(1))


def test_no_module_imports_an_underscored_name_from_another():
    for path in sorted(SKMLP_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "skmlp"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name}:{node.lineno} imports {private}"


@pytest.mark.parametrize("n_threads", [1, 2, 4])
def test_executor_adds_the_chunks_in_chunk_order(n_threads):
    # Float addition is not associative: only chunk order gives this sum,
    # however the threads finish (the later chunks of each triple first).
    values = [1e16, 1.0, -1e16, 1.0, 3.0, -2.0] * 3

    class Slot:
        def __init__(self):
            self.vector = np.empty(2)

    def run(c, workspace, slot):
        time.sleep(0.002 * (2 - c % 3))
        slot.vector[:] = values[c], -values[c]
        return values[c], slot.vector

    class Chunks:  # a chunk set's interface, with a task of known values
        n_chunks = len(values)
        make_workspace = object
        make_slot = Slot

        def task(self, name):
            return Task(list(range(len(values))), run, timed=False)

    expected = 0.0
    for value in values:
        expected += value
    with ThreadExecutor(Chunks(), n_threads) as executor:
        assert executor.n_threads == n_threads
        for _ in range(3):
            total, vector = executor.reduce("sum")
            assert total == expected
            assert vector.tolist() == [expected, -expected]
