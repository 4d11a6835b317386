"""Training experience: histories, verbose, callbacks, early stopping, class
weights, warm start and interruption."""

import io
import re
import sys
import warnings

import numpy as np
import pytest
from _callbacks import StopAfter
from _helpers import parameters
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, recall_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.preprocessing import StandardScaler

from skmlp import BackpropMLPClassifier
from skmlp._objective import Objective

SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]
LINE = re.compile(
    r"Iteration (\d+)/(\d+): loss = ([0-9.]+), \|grad\| = ([0-9.e+-]+)"
    r"(?:, validation score = ([0-9.]+))?, ([0-9.]+) s elapsed, at most ([0-9.]+) s left$"
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:600])
    return X, y[:600]


@pytest.mark.parametrize("solver", SOLVERS)
def test_history_and_verbose_for_every_solver(solver, digits, capsys):
    X, y = digits
    clf = BackpropMLPClassifier((10,), solver=solver, max_iter=15, verbose=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=15"):
        clf.fit(X, y)
    assert clf.n_iter_ == 15 == len(clf.loss_curve_)
    assert clf.loss_curve_[-1] == clf.loss_
    assert clf.loss_ == pytest.approx(clf.objective(X, y), rel=1e-12)
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.n_fun_ >= clf.n_iter_
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == clf.n_iter_ + 1
    parsed = [LINE.match(line) for line in lines[:-1]]
    assert all(parsed), lines
    assert [int(m[1]) for m in parsed] == list(range(1, 16))
    assert {int(m[2]) for m in parsed} == {15}
    assert_allclose([float(m[3]) for m in parsed], clf.loss_curve_, rtol=1e-7)
    elapsed = [float(m[6]) for m in parsed]
    assert elapsed == sorted(elapsed)
    assert float(parsed[-1][7]) == 0.0
    assert lines[-1].startswith(f"{solver}: max_iter after 15 iterations")


def test_verbose_zero_prints_nothing(digits, capsys):
    BackpropMLPClassifier((10,), max_iter=500, random_state=0).fit(*digits)
    assert capsys.readouterr().out == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_one_updates_one_line_in_place_on_a_terminal(digits, monkeypatch):
    X, y = digits
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    clf = BackpropMLPClassifier((10,), max_iter=500, verbose=1, random_state=0).fit(X, y)
    monkeypatch.undo()
    text = out.getvalue()
    progress, summary = text.rstrip("\n").rsplit("\n", 1)
    assert "\n" not in progress and progress.startswith("\r")
    updates = [u.rstrip() for u in progress.split("\r")[1:]]
    assert all(LINE.match(u) for u in updates), updates[:3]
    # The line ends showing the last iteration; the summary follows.
    assert LINE.match(updates[-1])[1] == str(clf.n_iter_)
    assert LINE.match(updates[-1])[2] == "500"
    assert summary.startswith(f"lbfgs: converged after {clf.n_iter_} iterations")


def test_verbose_two_prints_every_iteration_even_on_a_terminal(digits, monkeypatch):
    X, y = digits
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    clf = BackpropMLPClassifier((10,), max_iter=500, verbose=2, random_state=0).fit(X, y)
    monkeypatch.undo()
    lines = out.getvalue().strip().splitlines()
    assert "\r" not in out.getvalue()
    assert [int(LINE.match(line)[1]) for line in lines[:-1]] == list(range(1, clf.n_iter_ + 1))


def overfitting_fit(**params):
    """Few noisy samples, many features, no penalty: made to overfit; early stopping."""
    X, y = make_classification(300, 40, n_informative=4, flip_y=0.2, random_state=0, class_sep=0.8)
    clf = BackpropMLPClassifier(
        (50,),
        alpha=0.0,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=5,
        max_iter=1000,
        random_state=0,
        **params,
    )
    return clf.fit(X, y), X, y


def test_early_stopping_restores_best_parameters():
    clf, X, y = overfitting_fit()
    assert clf.n_iter_ < 1000
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    best = int(np.argmax(clf.validation_scores_))
    assert clf.loss_ == clf.loss_curve_[best]
    # No improvement of more than tol during the last n_iter_no_change scores.
    assert max(clf.validation_scores_[-5:]) <= clf.validation_scores_[-6] + clf.tol
    # The same split: stratified, drawn first from random_state.
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=np.random.RandomState(0)
    )
    assert clf.score(X_val, y_val) == clf.best_validation_score_
    assert clf.loss_ == pytest.approx(clf.objective(X_train, y_train), rel=1e-12)


def test_early_stopping_summary_names_the_kept_iteration(capsys):
    # The last iterate of the overfitting fit is not the one kept.
    clf, _, _ = overfitting_fit(verbose=2)
    *lines, summary = capsys.readouterr().out.strip().splitlines()
    best = clf.validation_scores_.index(clf.best_validation_score_) + 1  # the first best
    assert best < clf.n_iter_ and clf.loss_ != clf.loss_curve_[-1]
    assert summary.startswith(f"lbfgs: early_stopping after {clf.n_iter_} iterations, ")
    kept = re.search(
        r"; kept the parameters of the best validation score \(iteration (\d+), "
        r"validation score ([0-9.]+), loss ([0-9.]+)\)$",
        summary,
    )
    assert kept, summary
    assert int(kept[1]) == best
    assert float(kept[2]) == pytest.approx(clf.best_validation_score_, abs=5e-7)
    assert float(kept[3]) == pytest.approx(clf.loss_, abs=5e-9)
    # The numbers as the kept iteration's own line shows them.
    line = LINE.match(lines[best - 1])
    assert (int(line[1]), line[5], line[3]) == (best, kept[2], kept[3])


def test_early_stopping_summary_names_the_initial_parameters_when_kept(capsys):
    X, y = load_iris(return_X_y=True)
    # As below: seed 2 converges at its initial parameters.
    clf = BackpropMLPClassifier(early_stopping=True, tol=0.2, random_state=2, verbose=2)
    clf.fit(X, y)
    assert clf.n_iter_ == 0
    summary = capsys.readouterr().out.strip()
    score, loss = f"{clf.best_validation_score_:.6f}", f"{clf.loss_:.8f}"
    assert summary.endswith(
        f"; kept the initial parameters (validation score {score}, loss {loss})"
    )


def test_no_validation_attributes_without_early_stopping(digits):
    clf = BackpropMLPClassifier((10,), max_iter=500, random_state=0).fit(*digits)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_class_weight_balanced_equals_sample_weight():
    X, y = make_classification(200, 5, weights=[0.85, 0.15], random_state=0)
    sw = np.random.RandomState(0).uniform(0.5, 1.5, size=len(y))
    params = {"hidden_layer_sizes": (5,), "max_iter": 500, "random_state": 0}
    balanced = BackpropMLPClassifier(class_weight="balanced", **params).fit(X, y, sw)
    # 'balanced' counts each class by its sample weights: S / (2 S_c).
    per_class = sw.sum() / (2 * np.array([sw[y == 0].sum(), sw[y == 1].sum()]))
    manual = BackpropMLPClassifier(**params).fit(X, y, sw * per_class[y])
    for a, b in zip(balanced.coefs_, manual.coefs_):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    as_dict = BackpropMLPClassifier(class_weight={0: 1.0, 1: 3.0}, **params).fit(X, y)
    manual = BackpropMLPClassifier(**params).fit(X, y, np.where(y == 1, 3.0, 1.0))
    assert_allclose(parameters(as_dict), parameters(manual), rtol=1e-10, atol=1e-12)


def test_class_weight_raises_minority_recall():
    X, y = make_classification(
        1000, 8, weights=[0.95, 0.05], flip_y=0.02, class_sep=0.7, random_state=2
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    params = {"hidden_layer_sizes": (10,), "max_iter": 1000, "random_state": 0}
    plain = BackpropMLPClassifier(**params).fit(X_train, y_train)
    weighted = BackpropMLPClassifier(class_weight="balanced", **params).fit(X_train, y_train)
    plain_recall = recall_score(y_test, plain.predict(X_test))
    weighted_recall = recall_score(y_test, weighted.predict(X_test))
    assert weighted_recall > plain_recall + 0.1


def test_warm_start_continues(digits):
    X, y = digits
    clf = BackpropMLPClassifier((10,), max_iter=10, warm_start=True, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    first_curve = clf.loss_curve_
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    # The second fit starts where the first stopped (not from a new init).
    assert clf.n_iter_ == 10
    assert clf.loss_curve_[0] < first_curve[-1]
    cold = BackpropMLPClassifier((10,), max_iter=10, random_state=0)
    with pytest.warns(ConvergenceWarning):
        cold.fit(X, y)
    assert_array_equal(cold.loss_curve_, first_curve)
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 5], y[y < 5])
    assert clf.n_iter_ == 10 and len(clf.classes_) == 10


@pytest.mark.parametrize("solver", SOLVERS)
def test_callback_requests_stop(solver, digits):
    X, y = digits
    callback = StopAfter(4, probe=lambda fitted: fitted.predict_proba(np.zeros((1, 64))))
    clf = BackpropMLPClassifier((10,), solver=solver, max_iter=100, random_state=0)
    clf.set_callbacks(callback).fit(X, y)
    assert clf.n_iter_ == 4 and callback.ends == 4
    assert clf.loss_ == clf.loss_curve_[-1]
    assert_allclose(clf.predict_proba(np.zeros((1, 64))), callback.last)


def test_callback_that_raises_leaves_fitted_model(digits):
    X, y = digits
    clf = BackpropMLPClassifier((10,), max_iter=100, random_state=0)
    clf.set_callbacks(StopAfter(3, error=RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.score(X, y) > 0.3
    assert np.all(np.isfinite(parameters(clf)))


def test_progress_bar_and_scoring_monitor(digits):
    """scikit-learn's own callbacks: one scored task per solver iteration."""
    X, y = digits
    monitor = ScoringMonitor(scoring="accuracy")
    clf = BackpropMLPClassifier((10,), max_iter=500, random_state=0)
    clf.set_callbacks(ProgressBar(), monitor).fit(X, y)
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "iteration"]
    assert len(rows) == clf.n_iter_
    assert rows[-1]["accuracy"] == clf.score(X, y)
    assert rows[0]["accuracy"] < rows[-1]["accuracy"]


def _interrupt_at_call(monkeypatch, n):
    """Make the n-th objective evaluation (counted over all fits) raise Ctrl-C."""
    original = Objective.loss_and_grad
    calls = {"n": 0}

    def interrupted(self, theta):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return original(self, theta)

    monkeypatch.setattr(Objective, "loss_and_grad", interrupted)
    return calls


def test_keyboard_interrupt_reraises_and_keeps_last_iterate(digits, monkeypatch):
    X, y = digits
    reference = BackpropMLPClassifier((10,), max_iter=500, random_state=0)
    _interrupt_at_call(monkeypatch, 12)
    clf = BackpropMLPClassifier((10,), max_iter=500, random_state=0)
    with pytest.raises(KeyboardInterrupt) as error:
        clf.fit(X, y)
    assert 1 <= clf.n_iter_ < 12
    notes = " ".join(getattr(error.value, "__notes__", []))
    assert f"after {clf.n_iter_} iterations" in notes
    assert f"last completed iterate (iteration {clf.n_iter_}, loss" in notes
    assert "best" not in notes
    assert clf.loss_ == clf.loss_curve_[-1]
    assert np.all(np.isfinite(clf.predict_proba(X)))
    monkeypatch.undo()
    assert clf.loss_ == pytest.approx(clf.objective(X, y), rel=1e-12)
    # The kept parameters are the last completed iterate of the same run.
    reference.set_params(max_iter=clf.n_iter_)
    with pytest.warns(ConvergenceWarning):
        reference.fit(X, y)
    assert_array_equal(parameters(reference), parameters(clf))


def test_keyboard_interrupt_from_a_callback_keeps_the_best_validation_iterate(digits):
    X, y = digits
    clf = BackpropMLPClassifier(
        (10,), early_stopping=True, n_iter_no_change=50, max_iter=500, random_state=0
    )
    clf.set_callbacks(StopAfter(8, error=KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt) as error:
        clf.fit(X, y)
    assert clf.n_iter_ == 8 == len(clf.validation_scores_)
    best = int(np.argmax(clf.validation_scores_))
    assert clf.best_validation_score_ == clf.validation_scores_[best]
    assert clf.loss_ == clf.loss_curve_[best]
    notes = " ".join(error.value.__notes__)
    assert f"best validation score (iteration {best + 1}," in notes


def test_keyboard_interrupt_before_any_iteration_changes_nothing(digits, monkeypatch):
    X, y = digits
    _interrupt_at_call(monkeypatch, 1)
    clf = BackpropMLPClassifier((10,), max_iter=5, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not hasattr(clf, "n_features_in_") and not hasattr(clf, "n_iter_")


@pytest.mark.parametrize("search", ["cross_val_score", "grid_search"])
def test_keyboard_interrupt_reaches_the_caller_of_a_search(search, digits, monkeypatch):
    X, y = digits
    clf = BackpropMLPClassifier((5,), max_iter=20, random_state=0)
    calls = _interrupt_at_call(monkeypatch, 30)  # inside the second fold's fit
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if search == "cross_val_score":
            cross_val_score(clf, X, y, cv=4)
        else:
            GridSearchCV(clf, {"alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    # No fold ran after the interrupted one.
    assert calls["n"] == 30


def test_early_stopping_scores_validation_with_the_sample_weights():
    X, y = make_classification(300, 10, n_informative=4, flip_y=0.2, random_state=0)
    sw = np.random.RandomState(1).choice([0.1, 5.0], size=len(y))
    params = {"early_stopping": True, "validation_fraction": 0.3, "random_state": 0}
    params |= {"hidden_layer_sizes": (20,), "alpha": 0.0, "max_iter": 300}
    for class_weight in (None, {0: 1.0, 1: 4.0}):
        clf = BackpropMLPClassifier(class_weight=class_weight, **params).fit(X, y, sw)
        w = sw * (1.0 if class_weight is None else np.where(y == 1, 4.0, 1.0))
        _, X_val, _, y_val, _, w_val = train_test_split(
            X, y, w, test_size=90, stratify=y, random_state=np.random.RandomState(0)
        )
        weighted = accuracy_score(y_val, clf.predict(X_val), sample_weight=w_val)
        assert clf.best_validation_score_ == pytest.approx(weighted, abs=1e-12)
        assert weighted != accuracy_score(y_val, clf.predict(X_val))


def test_early_stopping_records_the_score_when_converged_before_iterating():
    X, y = load_iris(return_X_y=True)
    # tol=0.2: seed 2 converges at its initial parameters.
    clf = BackpropMLPClassifier(early_stopping=True, tol=0.2, random_state=2).fit(X, y)
    assert clf.n_iter_ == 0 and clf.validation_scores_ == []
    _, X_val, _, y_val = train_test_split(
        X, y, test_size=15, stratify=y, random_state=np.random.RandomState(2)
    )
    assert clf.best_validation_score_ == clf.score(X_val, y_val)


def test_n_iter_no_change_may_be_infinite(digits):
    X, y = digits
    clf = BackpropMLPClassifier(
        (10,), early_stopping=True, n_iter_no_change=np.inf, max_iter=30, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="max_iter=30"):
        clf.fit(X, y)
    assert clf.n_iter_ == 30 == len(clf.validation_scores_)


def test_a_failing_callback_setup_builds_no_objective(digits, monkeypatch):
    built = []
    original = Objective.__init__

    def recording(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Objective, "__init__", recording)

    class Failing(StopAfter):
        def on_fit_task_begin(self, estimator, context):
            raise RuntimeError("setup failed")

    clf = BackpropMLPClassifier((10,), max_iter=5, random_state=0).set_callbacks(Failing(1))
    with pytest.raises(RuntimeError, match="setup failed"):
        clf.fit(*digits)
    assert built == []
