"""skmlp.plotting (headless) and the example script of the course's exercise."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmlp import BackpropMLPClassifier  # noqa: E402
from skmlp.ex4 import DATA_FILE, ENV_VAR, WEIGHTS_FILE  # noqa: E402
from skmlp.plotting import (  # noqa: E402
    ImageGridDisplay,
    LossCurveDisplay,
    plot_digit_grid,
    plot_hidden_units,
    plot_loss_curve,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "examples" / "plot_ex4.py"
PNG_FILES = ("ex4_digits.png", "ex4_hidden_units.png", "ex4_loss_curve.png")


@pytest.fixture(autouse=True)
def _no_figures_left_and_no_show(monkeypatch):
    def show(*args, **kwargs):
        raise AssertionError("plotting functions must not call show()")

    monkeypatch.setattr(plt, "show", show)
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def axes_images(ax):
    return [artist for artist in ax.get_children() if isinstance(artist, AxesImage)]


def new_axes():
    return Figure().subplots()


# ------------------------------------------------------------- digit grid


def test_digit_grid_shows_n_random_rows():
    X = load_digits().data
    display = plot_digit_grid(X, (8, 8), random_state=0)
    assert isinstance(display, ImageGridDisplay)
    assert display.figure_ is display.ax_.figure
    assert display.figure_.number in plt.get_fignums()  # a new pyplot figure
    images = axes_images(display.ax_)
    assert len(images) == len(display.images_) == 100
    assert len(np.unique(display.indices_)) == 100
    for image, row in zip(images, display.indices_):
        np.testing.assert_array_equal(image.get_array(), X[row].reshape(8, 8))
    # A 10 x 10 grid, first row at the top.
    lefts = {image.get_extent()[0] for image in images}
    tops = {image.get_extent()[3] for image in images}
    assert len(lefts) == len(tops) == 10
    assert images[0].get_extent()[3] == min(tops)
    bottom, top = display.ax_.get_ylim()
    assert bottom > top  # y grows downwards: row 0 drawn at the top


def test_digit_grid_is_reproducible_and_random():
    X = np.arange(300 * 4, dtype=float).reshape(300, 4)
    first = plot_digit_grid(X, (2, 2), n=20, random_state=0, ax=new_axes()).indices_
    again = plot_digit_grid(X, (2, 2), n=20, random_state=0, ax=new_axes()).indices_
    other = plot_digit_grid(X, (2, 2), n=20, random_state=1, ax=new_axes()).indices_
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(np.sort(first), np.arange(20))  # not just the first rows


@pytest.mark.parametrize(("n", "rows", "cols"), [(7, 2, 4), (25, 5, 5), (12, 3, 4), (1, 1, 1)])
def test_near_square_grid(n, rows, cols):
    X = np.random.default_rng(0).normal(size=(50, 6))
    ax = new_axes()
    display = plot_digit_grid(X, (2, 3), n=n, random_state=0, ax=ax)
    assert display.ax_ is ax and display.figure_ is ax.figure
    images = axes_images(ax)
    assert len(images) == n
    assert len({im.get_extent()[0] for im in images}) == cols
    assert len({im.get_extent()[3] for im in images}) == rows


def test_digit_grid_with_fewer_rows_than_n_shows_them_all():
    X = np.random.default_rng(0).normal(size=(5, 4))
    display = plot_digit_grid(X, (2, 2), n=100, ax=new_axes())
    assert sorted(display.indices_) == list(range(5))
    assert len(axes_images(display.ax_)) == 5


def test_transpose_shows_column_major_images_upright():
    # A non-square image stored column by column, as MATLAB stores the course's.
    image = np.arange(12.0).reshape(3, 4)
    X = np.vstack([image.ravel(order="F")] * 2)
    upright = plot_digit_grid(X, (3, 4), n=1, transpose=True, ax=new_axes())
    np.testing.assert_array_equal(upright.images_[0].get_array(), image)
    as_stored = plot_digit_grid(X, (3, 4), n=1, ax=new_axes())
    np.testing.assert_array_equal(as_stored.images_[0].get_array(), X[0].reshape(3, 4))


def test_digit_grid_accepts_sparse_data():
    import scipy.sparse as sp

    X = np.eye(9)
    display = plot_digit_grid(sp.csr_matrix(X), (3, 3), n=9, random_state=0, ax=new_axes())
    for image, row in zip(display.images_, display.indices_):
        np.testing.assert_array_equal(image.get_array(), X[row].reshape(3, 3))


def test_digit_grid_errors():
    X = np.zeros((10, 6))
    with pytest.raises(ValueError, match=r"image_shape \(2, 2\) has 4 pixels, but X has 6"):
        plot_digit_grid(X, (2, 2), ax=new_axes())
    with pytest.raises(ValueError, match="image_shape must be"):
        plot_digit_grid(X, 6, ax=new_axes())
    with pytest.raises(ValueError, match="n must be a positive integer"):
        plot_digit_grid(X, (2, 3), n=0, ax=new_axes())


# ----------------------------------------------------------- hidden units


def test_hidden_units_show_first_layer_weights():
    rng = np.random.default_rng(0)
    thetas = [rng.normal(size=(6, 13)), rng.normal(size=(3, 7))]
    clf = BackpropMLPClassifier.from_thetas(thetas, classes=[0, 1, 2])
    display = plot_hidden_units(clf, (3, 4), transpose=True, ax=new_axes())
    images = axes_images(display.ax_)
    assert len(images) == 6
    np.testing.assert_array_equal(display.indices_, np.arange(6))
    for j, image in enumerate(images):
        weights = thetas[0][j, 1:]  # unit j's incoming weights, without the bias
        np.testing.assert_array_equal(image.get_array(), weights.reshape((3, 4), order="F"))
        # scaled symmetrically: zero weight is the middle of the colormap
        vmin, vmax = image.get_clim()
        assert vmin == -vmax == -np.abs(weights).max()


def test_hidden_units_of_a_course_sized_network():
    clf = BackpropMLPClassifier.from_thetas(
        [np.zeros((25, 401)), np.zeros((10, 26))], classes=np.arange(1, 11)
    )
    display = plot_hidden_units(clf, (20, 20), transpose=True)
    assert len(axes_images(display.ax_)) == 25
    assert len({im.get_extent()[0] for im in display.images_}) == 5  # 5 x 5


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_hidden_units_of_other_estimators():
    X, y = load_digits(return_X_y=True)
    X, y = X[:200], y[:200]
    mlp = MLPClassifier(hidden_layer_sizes=(7,), max_iter=5, random_state=0).fit(X, y)
    assert len(axes_images(plot_hidden_units(mlp, (8, 8), ax=new_axes()).ax_)) == 7
    pipe = make_pipeline(
        StandardScaler(), BackpropMLPClassifier((4,), max_iter=5, random_state=0)
    ).fit(X, y)
    display = plot_hidden_units(pipe, (8, 8), ax=new_axes())
    np.testing.assert_array_equal(
        display.images_[0].get_array(), pipe[-1].coefs_[0][:, 0].reshape(8, 8)
    )


def test_hidden_units_errors():
    with pytest.raises(NotFittedError):
        plot_hidden_units(BackpropMLPClassifier(), (2, 2), ax=new_axes())
    clf = BackpropMLPClassifier.from_thetas([np.ones((2, 5)), np.ones((3, 3))], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="has 9 pixels, but the network has 4 inputs"):
        plot_hidden_units(clf, (3, 3), ax=new_axes())


# ------------------------------------------------------ display constructors


def test_image_grid_display_constructors_match_the_functions():
    X = load_digits().data[:50]
    by_function = plot_digit_grid(X, (8, 8), n=12, random_state=3, ax=new_axes())
    by_display = ImageGridDisplay.from_data(X, (8, 8), n=12, random_state=3, ax=new_axes())
    np.testing.assert_array_equal(by_display.indices_, by_function.indices_)
    for a, b in zip(by_display.images_, by_function.images_):
        np.testing.assert_array_equal(a.get_array(), b.get_array())
    clf = BackpropMLPClassifier.from_thetas(
        [np.arange(4 * 65.0).reshape(4, 65), np.ones((3, 5))], classes=[0, 1, 2]
    )
    units = ImageGridDisplay.from_estimator(clf, (8, 8), ax=new_axes())
    np.testing.assert_array_equal(units.images_[2].get_array(), clf.coefs_[0][:, 2].reshape(8, 8))
    vmax = float(np.abs(clf.coefs_[0][:, 2]).max())
    assert units.images_[2].get_clim() == (-vmax, vmax)  # symmetric about zero


def test_image_grid_display_from_its_data():
    images = np.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    display = ImageGridDisplay(images, indices=[7, 9]).plot(ax=new_axes(), cmap="viridis")
    assert display.indices_.tolist() == [7, 9]
    assert display.figure_ is display.ax_.figure
    np.testing.assert_array_equal(display.images_[1].get_array(), images[1])
    assert display.images_[0].get_clim() == (0.0, 11.0)  # own range, not symmetric
    assert display.images_[0].get_cmap().name == "viridis"
    with pytest.raises(ValueError, match=r"shape \(n_images, height, width\)"):
        ImageGridDisplay(np.ones((3, 4))).plot(ax=new_axes())
    with pytest.raises(ValueError, match=r"indices must have shape \(2,\)"):
        ImageGridDisplay(images, indices=[1, 2, 3]).plot(ax=new_axes())


def test_loss_curve_display_from_its_data():
    ax = new_axes()
    first = LossCurveDisplay([3.0, 2.0, 1.5], name="lbfgs").plot(ax=ax, color="C3")
    second = LossCurveDisplay([2.5, 1.0], name="cg").plot(ax=ax)
    assert first.ax_ is second.ax_ is ax and ax.get_lines() == [first.line_, second.line_]
    assert first.line_.get_xdata().tolist() == [1, 2, 3]
    assert first.line_.get_label() == "lbfgs"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lbfgs", "cg"]
    assert LossCurveDisplay([1.0]).plot(ax=new_axes()).ax_.get_legend() is None
    with pytest.raises(ValueError, match="non-empty 1-D"):
        LossCurveDisplay([]).plot(ax=new_axes())


# ------------------------------------------------------------- loss curve


def test_loss_curve():
    X, y = load_digits(return_X_y=True)
    clf = BackpropMLPClassifier((5,), max_iter=15, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X[:300] / 16, y[:300])
    display = plot_loss_curve(clf)
    assert isinstance(display, LossCurveDisplay)
    assert display.ax_.get_lines() == [display.line_]
    np.testing.assert_array_equal(display.line_.get_xdata(), np.arange(1, 16))
    np.testing.assert_array_equal(display.line_.get_ydata(), clf.loss_curve_)
    assert display.ax_.get_xlabel() == "iteration"
    ax = new_axes()
    assert plot_loss_curve(clf, ax=ax).ax_ is ax
    by_display = LossCurveDisplay.from_estimator(clf, ax=new_axes(), name="lbfgs")
    np.testing.assert_array_equal(by_display.line_.get_ydata(), clf.loss_curve_)
    assert by_display.line_.get_label() == "lbfgs"


def test_loss_curve_needs_a_trained_estimator():
    with pytest.raises(NotFittedError):
        plot_loss_curve(BackpropMLPClassifier())
    given = BackpropMLPClassifier.from_thetas([np.ones((2, 3)), np.ones((3, 3))], [0, 1, 2])
    with pytest.raises(ValueError, match=r"no loss_curve_.*from_thetas"):
        plot_loss_curve(given)


# ------------------------------------------------- matplotlib is optional


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, skmlp, skmlp.plotting, skmlp.ex4; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
    )
    assert out.stdout.strip() == "False"


def test_clear_error_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match="`pip install matplotlib`") as error:
        plot_digit_grid(np.zeros((4, 4)), (2, 2))
    assert "skmlp[" not in str(error.value)  # skmlp is not on the package index
    with pytest.raises(ImportError, match="matplotlib"):
        plot_loss_curve(BackpropMLPClassifier())


# ----------------------------------------------------------- the example


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(changes)
    return env


def _run_example(*args, cwd, **env):
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE), *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _check_pngs(folder):
    for name in PNG_FILES:
        picture = matplotlib.image.imread(folder / name)
        assert picture.ndim == 3 and min(picture.shape[:2]) > 100, name


@pytest.mark.slow  # runs the example
def test_example_falls_back_to_scikit_learn_digits(tmp_path):
    # SKMLP_EX4_DIR points at a folder without ex4data1.mat (unset: same path).
    empty, cwd, tmp = tmp_path / "no_data", tmp_path / "cwd", tmp_path / "tmp"
    for folder in (empty, cwd, tmp):
        folder.mkdir()
    out = _run_example(cwd=cwd, TMPDIR=str(tmp), **{ENV_VAR: str(empty)})
    assert "running on scikit-learn's 8x8 digits" in out
    assert "Given weights: skipped" in out
    assert re.search(r"max_iter=50: .*training accuracy \d+\.\d+%", out)
    assert re.search(r"max_iter=200: .*training accuracy \d+\.\d+%", out)
    # Without --output-dir and without a display: a temporary folder, named.
    _check_pngs(tmp / "skmlp-examples")
    assert f"as PNG files in {tmp / 'skmlp-examples'}" in out
    assert list(cwd.iterdir()) == []


@pytest.mark.slow  # runs the example
def test_example_on_course_format_files(tmp_path):
    # Files in the course's format (small and synthetic: the real ones are not
    # bundled) take the example's other path; its J is the course's formula.
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.1, 1.1, (400, 400)) * (rng.uniform(size=(400, 400)) < 0.3)
    y = 1 + np.arange(400) % 10
    thetas = [rng.normal(scale=0.1, size=(25, 401)), rng.normal(scale=0.5, size=(10, 26))]
    data = tmp_path / "ex4"
    data.mkdir()
    savemat(data / DATA_FILE, {"X": X, "y": y.astype(np.uint8)[:, None]})
    savemat(data / WEIGHTS_FILE, {"Theta1": thetas[0], "Theta2": thetas[1]})
    out = _run_example(str(data / DATA_FILE), "--output-dir", "pictures", cwd=tmp_path)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    a2 = np.hstack([np.ones((400, 1)), sigmoid(np.hstack([np.ones((400, 1)), X]) @ thetas[0].T)])
    h = sigmoid(a2 @ thetas[1].T)
    Y = (y[:, None] == np.arange(1, 11)).astype(float)
    J = np.sum(-Y * np.log(h) - (1 - Y) * np.log(1 - h)) / 400
    penalty = sum(np.sum(t[:, 1:] ** 2) for t in thetas) / (2 * 400)
    assert f"Given weights: J = {J:.6f}" in out
    assert f"Given weights: regularized J = {J + penalty:.6f}" in out
    accuracy = np.mean(h.argmax(axis=1) + 1 == y)
    assert f"training accuracy {accuracy:.2%}" in out
    _check_pngs(tmp_path / "pictures")
