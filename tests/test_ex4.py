"""Fidelity to the course's exercise 4: its files, cost J and predictions.

The course's files are not bundled. Tests that need them read the folder from
SKMLP_EX4_DIR (relative paths are relative to the repository root, as CI sets
it) and skip, saying why, when a file is absent.
"""

from pathlib import Path

import numpy as np
import pytest
from _helpers import parameters
from scipy.io import savemat

from skmlp import BackpropMLPClassifier
from skmlp.ex4 import (
    DATA_FILE,
    ENV_VAR,
    WEIGHTS_FILE,
    find_ex4_dir,
    load_ex4_data,
    load_ex4_weights,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CLASSES = np.arange(1, 11)
# The course's reference values (ex4.m): J with the given weights, lambda 0 and 1.
COURSE_J = 0.287629
COURSE_J_REGULARIZED = 0.383770
COURSE_ACCURACY = 0.9752
# lambda / (2 m) * sum of the squared non-bias weights, lambda = 1, m = 5000:
# the correctly rounded value (math.fsum), the same on every machine. The
# engine's sum of the 10,250 squares rounds by at most gamma_n (1.1e-12
# relatively, 1.1e-13 here), hence abs=1e-12 below on any CPU.
COURSE_PENALTY = 0.09614069392960474


def course_file(name):
    """Path of one of the course's files, or skip the test saying why."""
    folder = find_ex4_dir(base=REPO_ROOT)
    if folder is None:
        pytest.skip(f"{name} is not bundled: set {ENV_VAR} to the folder that holds it")
    if not (folder / name).is_file():
        pytest.skip(f"{name} not found in {ENV_VAR} folder {folder}")
    return folder / name


@pytest.fixture(scope="module")
def thetas():
    return load_ex4_weights(course_file(WEIGHTS_FILE))


@pytest.fixture(scope="module")
def course_data():
    return load_ex4_data(course_file(DATA_FILE))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def course_forward(Theta1, Theta2, X):
    """The course's feed-forward pass: h, one row per sample, one column per label."""
    m = X.shape[0]
    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ Theta1.T
    a2 = np.hstack([np.ones((m, 1)), sigmoid(z2)])
    return sigmoid(a2 @ Theta2.T)


def course_cost(h, y):
    """J = (1/m) sum_i sum_k [-y_ik log h_ik - (1 - y_ik) log(1 - h_ik)]."""
    m, K = h.shape
    Y = (y[:, None] == np.arange(1, K + 1)).astype(float)
    return np.sum(-Y * np.log(h) - (1 - Y) * np.log(1 - h)) / m


def digit_like(n_samples, seed):
    """Random 20x20 'images': sparse strokes in [-0.1, 1.1], like the course's X."""
    rng = np.random.default_rng(seed)
    ink = rng.uniform(size=(n_samples, 400)) < 0.3
    return rng.uniform(-0.1, 1.1, (n_samples, 400)) * ink


# ---------------------------------------------------------------- loaders


def write_data(path, n_samples=30, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    contents = {
        "X": rng.uniform(-0.1, 1.1, (n_samples, 400)),
        "y": (1 + np.arange(n_samples) % 10).astype(np.uint8)[:, None],  # as in the course
    }
    contents.update(overrides)
    savemat(path, {k: v for k, v in contents.items() if v is not None})
    return contents


def write_weights(path, **overrides):
    rng = np.random.default_rng(0)
    contents = {"Theta1": rng.normal(size=(25, 401)), "Theta2": rng.normal(size=(10, 26))}
    contents.update(overrides)
    savemat(path, {k: v for k, v in contents.items() if v is not None})
    return contents


def test_load_data_from_a_folder_or_a_file(tmp_path):
    written = write_data(tmp_path / DATA_FILE)
    X, y = load_ex4_data(tmp_path)
    assert X.dtype == np.float64 and X.shape == (30, 400) and X.flags.c_contiguous
    assert y.dtype == np.int64 and y.shape == (30,)
    np.testing.assert_array_equal(X, written["X"])
    np.testing.assert_array_equal(y, written["y"].ravel())
    X2, y2 = load_ex4_data(str(tmp_path / DATA_FILE))
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_zero_label_maps_10_to_0_only(tmp_path):
    write_data(tmp_path / DATA_FILE)
    _, y = load_ex4_data(tmp_path)
    _, y0 = load_ex4_data(tmp_path, zero_label=True)
    np.testing.assert_array_equal(y0, np.where(y == 10, 0, y))
    assert set(y0) == set(range(10))


def test_labels_as_a_row_or_as_doubles(tmp_path):
    labels = 1 + np.arange(30) % 10
    write_data(tmp_path / DATA_FILE, y=labels[None, :].astype(float))
    _, y = load_ex4_data(tmp_path)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)


def test_load_weights_from_a_folder_or_a_file(tmp_path):
    written = write_weights(tmp_path / WEIGHTS_FILE)
    for path in (tmp_path, tmp_path / WEIGHTS_FILE):
        Theta1, Theta2 = load_ex4_weights(path)
        assert Theta1.dtype == Theta2.dtype == np.float64
        np.testing.assert_array_equal(Theta1, written["Theta1"])
        np.testing.assert_array_equal(Theta2, written["Theta2"])


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"No {DATA_FILE} in the folder .*{tmp_path.name}"):
        load_ex4_data(tmp_path)
    with pytest.raises(FileNotFoundError, match=WEIGHTS_FILE):
        load_ex4_weights(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.mat does not exist"):
        load_ex4_data(tmp_path / "nowhere.mat")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"y": None}, r"has no variable 'y'; it holds \['X'\]"),
        ({"X": None, "y": None, "Z": np.ones(3)}, "has no variable 'X' or 'y'"),
        ({"X": np.ones((2, 3, 4))}, r"X has shape \(2, 3, 4\)"),
        ({"y": np.ones((29, 1))}, r"y has shape \(29, 1\); it must be a vector of 30"),
        ({"y": np.ones((30, 2))}, r"y has shape \(30, 2\)"),
        ({"y": np.arange(30)[:, None]}, "labels from 0 to 29"),
        ({"y": np.full((30, 1), 1.5)}, "whole-number labels"),
        ({"X": np.array(["a"] * 30)[:, None]}, "X must be real numbers"),
    ],
)
def test_bad_data_files(tmp_path, overrides, message):
    file = tmp_path / DATA_FILE
    write_data(file, **overrides)
    with pytest.raises(ValueError, match=message) as info:
        load_ex4_data(tmp_path)
    assert str(file) in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Theta2": None}, "has no variable 'Theta2'"),
        ({"Theta2": np.ones((10, 25))}, r"Theta2 has shape \(10, 25\); .* must have 26 columns"),
        ({"Theta1": np.ones((25, 401, 2))}, r"Theta1 has shape \(25, 401, 2\)"),
        ({"Theta2": np.ones((0, 26))}, r"Theta2 has shape \(0, 26\); it must be a non-empty"),
        ({"Theta1": np.ones((25, 1))}, "needs a bias column"),
    ],
)
def test_bad_weights_files(tmp_path, overrides, message):
    file = tmp_path / "mine.mat"
    write_weights(file, **overrides)
    with pytest.raises(ValueError, match=message) as info:
        load_ex4_weights(file)
    assert str(file) in str(info.value)


def test_not_a_mat_file(tmp_path):
    for content in (b"", b"not a MATLAB file at all", bytes(range(256))):
        (tmp_path / DATA_FILE).write_bytes(content)
        with pytest.raises(ValueError, match=f"{DATA_FILE} is not a readable MATLAB"):
            load_ex4_data(tmp_path)


def test_find_ex4_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert find_ex4_dir() is None
    assert find_ex4_dir("") is None
    assert find_ex4_dir(tmp_path) == tmp_path.resolve()
    (tmp_path / DATA_FILE).touch()
    assert find_ex4_dir(tmp_path / DATA_FILE) == tmp_path.resolve()  # a file: its folder
    # Relative paths: against `base`, or the working directory.
    (tmp_path / "data").mkdir()
    assert find_ex4_dir("data", base=tmp_path) == tmp_path.resolve() / "data"
    assert find_ex4_dir("../x", base=tmp_path / "data") == tmp_path.resolve() / "x"
    monkeypatch.chdir(tmp_path)
    assert find_ex4_dir("data") == tmp_path.resolve() / "data"
    # The environment variable, unless an argument is given.
    monkeypatch.setenv(ENV_VAR, "data")
    assert find_ex4_dir(base=tmp_path / "data") == tmp_path.resolve() / "data" / "data"
    assert find_ex4_dir() == tmp_path.resolve() / "data"
    assert find_ex4_dir("/elsewhere") == Path("/elsewhere").resolve()


def test_ci_setting_resolves_from_the_repository_root(monkeypatch, tmp_path):
    # CI sets SKMLP_EX4_DIR=../shared/data relative to the repository root;
    # the tests resolve it there whatever the working directory.
    monkeypatch.setenv(ENV_VAR, "../shared/data")
    monkeypatch.chdir(tmp_path)
    assert find_ex4_dir(base=REPO_ROOT) == (REPO_ROOT.parent / "shared" / "data").resolve()


# ------------------------------------------------------- the given weights


def test_course_weights_file(thetas):
    Theta1, Theta2 = thetas
    assert Theta1.shape == (25, 401) and Theta2.shape == (10, 26)
    assert Theta1.dtype == Theta2.dtype == np.float64


def test_thetas_round_trip_is_exact(thetas):
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=CLASSES)
    assert clf.n_features_in_ == 400 and clf.hidden_layer_sizes == (25,)
    for got, given in zip(clf.thetas_, thetas):
        assert got.shape == given.shape
        assert np.array_equal(got, given)  # bit-equal, not close
    again = BackpropMLPClassifier.from_thetas(clf.thetas_, classes=CLASSES)
    assert np.array_equal(parameters(again), parameters(clf))
    # coefs_ are the same weights, transposed, without the bias column.
    np.testing.assert_array_equal(clf.coefs_[0], thetas[0][:, 1:].T)
    np.testing.assert_array_equal(clf.intercepts_[1], thetas[1][:, 0])


def test_predictions_match_the_course_forward_pass(thetas):
    X = digit_like(2000, seed=1)
    h = course_forward(*thetas, X)
    course_pred = h.argmax(axis=1) + 1
    assert len(np.unique(course_pred)) >= 8  # a meaningful comparison
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=CLASSES)
    np.testing.assert_array_equal(clf.predict(X), course_pred)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(CLASSES[proba.argmax(axis=1)], course_pred)
    # The ten sigmoids, normalized to sum to one (documented in predict_proba).
    np.testing.assert_allclose(proba, h / h.sum(axis=1, keepdims=True), rtol=1e-12)


def test_zero_label_needs_the_digit_0_unit_first(thetas):
    # With labels 0..9 the sorted classes put the digit 0 first: the course's
    # last output unit (label 10) must become the first (ex4.load_ex4_data Notes).
    X = digit_like(1000, seed=2)
    course_pred = course_forward(*thetas, X).argmax(axis=1) + 1
    Theta1, Theta2 = thetas
    clf = BackpropMLPClassifier.from_thetas(
        [Theta1, np.roll(Theta2, 1, axis=0)], classes=np.arange(10)
    )
    np.testing.assert_array_equal(clf.predict(X), course_pred % 10)


@pytest.mark.parametrize("data", ["digit_like", "zeros"])
def test_regularization_term_of_the_given_weights(thetas, data):
    # The penalty does not depend on X or the labels, only on m = 5000.
    rng = np.random.default_rng(3)
    X = digit_like(5000, seed=3) if data == "digit_like" else np.zeros((5000, 400))
    y = rng.integers(1, 11, 5000)
    J1 = BackpropMLPClassifier.from_thetas(thetas, CLASSES, alpha=1).objective(X, y)
    J0 = BackpropMLPClassifier.from_thetas(thetas, CLASSES, alpha=0).objective(X, y)
    penalty_term = J1 - J0
    assert penalty_term == pytest.approx(COURSE_PENALTY, abs=1e-12)
    # and it is lambda / (2 m) times the sum of squared non-bias weights
    penalty = sum(np.sum(t[:, 1:] ** 2) for t in thetas) / (2 * 5000)
    assert penalty_term == pytest.approx(penalty, abs=1e-12)


@pytest.mark.parametrize("n_samples", [5000, 137])
def test_data_term_matches_the_course_cost(thetas, n_samples):
    X = digit_like(n_samples, seed=4)
    y = np.random.default_rng(4).integers(1, 11, n_samples)
    expected = course_cost(course_forward(*thetas, X), y)
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=CLASSES, alpha=0)
    assert clf.objective(X, y) == pytest.approx(expected, rel=1e-10)


# ------------------------------------------------------ the course's data


def test_course_data_file(course_data):
    X, y = course_data
    assert X.shape == (5000, 400) and y.shape == (5000,)
    np.testing.assert_array_equal(np.bincount(y), [0] + [500] * 10)


def test_course_cost_and_accuracy(thetas, course_data):
    X, y = course_data
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=CLASSES, alpha=0)
    assert clf.objective(X, y) == pytest.approx(COURSE_J, abs=1e-6)
    assert clf.objective(X, y) == pytest.approx(
        course_cost(course_forward(*thetas, X), y), rel=1e-10
    )
    assert clf.set_params(alpha=1).objective(X, y) == pytest.approx(COURSE_J_REGULARIZED, abs=1e-6)
    assert clf.score(X, y) == pytest.approx(COURSE_ACCURACY, abs=1e-12)
    np.testing.assert_array_equal(clf.predict(X), course_forward(*thetas, X).argmax(axis=1) + 1)
