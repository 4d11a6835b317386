"""Levenberg-Marquardt (solver='lm') and alpha='evidence' against independent references."""

import re
import warnings

import numpy as np
import pytest
from scipy.optimize import least_squares
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmlp import BackpropMLPClassifier, BackpropMLPRegressor
from skmlp._chunks import gauss_newton_pieces
from skmlp._layout import Layout
from skmlp._lm import Evidence, weight_trace_of_inverse
from skmlp._objective import L2Penalty
from skmlp._problem import build_problem, make_objective
from skmlp._solvers import run_solver


def sine(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = np.linspace(-2, 2, n)[:, None]
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=n)
    return X, y, rng.uniform(0.5, 2.0, size=n)


def forward(theta, layout, X):
    """The network's outputs, transcribed: tanh hidden layer, identity outputs."""
    (W1, W2), (b1, b2) = layout.coefs(theta), layout.intercepts(theta)
    return np.tanh(X @ W1 + b1) @ W2 + b2


def test_lm_minimum_equals_minpacks_levenberg_marquardt():
    X, y, w = sine()
    alpha = 0.05
    reg = BackpropMLPRegressor(
        (5,), "tanh", alpha=alpha, solver="lm", tol=1e-10, max_iter=500, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y, sample_weight=w)
    layout = Layout((1, 5, 1))
    S = w.sum()

    def residuals(theta):
        # 1/2 ||r||^2 = J: sqrt(s_i / S) (f(x_i) - y_i) and sqrt(alpha / S) W.
        data = np.sqrt(w / S) * (forward(theta, layout, X)[:, 0] - y)
        return np.concatenate([data, np.sqrt(alpha / S) * theta[: layout.n_coefs]])

    theta0 = build_problem(reg, X, y, w).theta0  # the fit's own start
    reference = least_squares(residuals, theta0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    J_ref = 0.5 * float(reference.fun @ reference.fun)
    assert reg.loss_ == pytest.approx(J_ref, rel=1e-8)


def test_rejected_steps_raise_mu_and_are_not_taken():
    # J = sum x^4 with a Gauss-Newton matrix far too flat: the first steps
    # overshoot, raise J and must be rejected with mu raised tenfold each.
    def loss_and_grad(x):
        return float(np.sum(x**4)), 4 * x**3

    def gauss_newton(x):
        return (*loss_and_grad(x), 1e-6 * np.eye(x.size))

    infos, losses = [], []

    def on_iteration(n_iter, loss, theta, grad, info):
        infos.append(info["mu"])
        losses.append(loss)

    x0 = np.array([1.0, -0.5])
    trials = []

    def recorded(x):
        trials.append(loss_and_grad(x)[0])
        return loss_and_grad(x)

    result = run_solver(
        "lm",
        recorded,
        x0,
        max_iter=5,
        max_fun=1000,
        tol=0.0,
        gauss_newton=gauss_newton,
        on_iteration=on_iteration,
    )
    assert result.n_iter == 5
    # Some trial raised J above its start and was not taken.
    assert max(trials) > loss_and_grad(x0)[0]
    assert losses == sorted(losses, reverse=True) and losses[0] < loss_and_grad(x0)[0]
    # mu was raised (x10 per rejection) before the first accepted step (x0.1).
    assert infos[0] >= 1e-3
    assert all(np.log10(m) == pytest.approx(round(np.log10(m))) for m in infos)


def test_trial_steps_evaluate_j_alone_and_g_only_at_accepted_points():
    calls = {"loss": 0, "loss_and_grad": 0, "G": []}

    def loss(x):
        calls["loss"] += 1
        return float(np.sum(x**4))

    def loss_and_grad(x):
        calls["loss_and_grad"] += 1
        return loss(x), 4 * x**3

    def gauss_newton(x):
        calls["G"].append(x.copy())
        return float(np.sum(x**4)), 4 * x**3, np.diag(12 * x**2)

    iterates = []
    result = run_solver(
        "lm",
        loss_and_grad,
        np.array([1.0, -0.5]),
        max_iter=6,
        max_fun=1000,
        tol=0.0,
        gauss_newton=gauss_newton,
        loss=loss,
        on_iteration=lambda n, f, x, g, info: iterates.append(x.copy()),
    )
    assert calls["loss_and_grad"] == 0
    # G at the start and at each accepted point; every other evaluation a trial.
    np.testing.assert_array_equal(calls["G"][1:], iterates)
    assert calls["loss"] >= len(iterates) == result.n_iter == 6
    assert result.n_fun == len(calls["G"]) + calls["loss"]


@pytest.mark.parametrize(("out_activation", "n_outputs"), [("logistic", 1), ("softmax", 3)])
def test_gauss_newton_matrix_equals_finite_difference_jacobian(out_activation, n_outputs):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(9, 3))
    Y = (
        np.eye(n_outputs)[rng.randint(n_outputs, size=9)]
        if n_outputs > 1
        else (rng.randint(2, size=(9, 1)))
    )
    w = rng.uniform(0.5, 2.0, size=9)
    layout = Layout((3, 4, n_outputs))
    theta = layout.init(rng, 0.8)
    alpha = 0.3
    with make_objective(
        layout,
        X,
        Y,
        w,
        activation="tanh",
        out_activation=out_activation,
        alpha=alpha,
        batch_size=4,
        n_threads=1,
        curvature="gauss-newton",
    ) as objective:
        _, _, G = objective.gauss_newton(theta)

    def logits(t):
        return forward(t, layout, X)

    eps = 1e-6
    Jac = np.stack(
        [
            (logits(theta + eps * e) - logits(theta - eps * e)) / (2 * eps)
            for e in np.eye(theta.size)
        ],
        axis=-1,
    )  # (rows, outputs, params)
    a = logits(theta)
    if out_activation == "softmax":
        p = np.exp(a - a.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        H = np.array([np.diag(pi) - np.outer(pi, pi) for pi in p])
    else:
        p = 1 / (1 + np.exp(-a))
        H = np.array([np.diag(pi * (1 - pi)) for pi in p])
    S = w.sum()
    expected = sum(w[i] / S * Jac[i].T @ H[i] @ Jac[i] for i in range(len(w)))
    expected[np.arange(layout.n_coefs), np.arange(layout.n_coefs)] += alpha / S
    np.testing.assert_allclose(G, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("batch_size", [1000, 500])
def test_gauss_newton_pieces_give_the_same_bits_for_any_thread_count(batch_size):
    # G is cut into pieces of rows (4 of one chunk, or 2 of each of two), run
    # on the threads and added in order: the same G for 1, 2 or 3 threads,
    # and the same J as the loss-only evaluation of the trial steps.
    rng = np.random.RandomState(1)
    X, y = rng.normal(size=(1000, 3)), rng.normal(size=(1000, 1))
    layout = Layout((3, 20, 1))
    assert len(gauss_newton_pieces(batch_size, 1, layout.n_params)) == 4 * batch_size // 1000
    theta = layout.init(rng, 0.5)
    results = []
    for n_threads in (1, 2, 3):
        with make_objective(
            layout,
            X,
            y,
            activation="tanh",
            out_activation="identity",
            alpha=0.1,
            batch_size=batch_size,
            n_threads=n_threads,
            curvature="gauss-newton",
        ) as objective:
            loss, grad, G = objective.gauss_newton(theta)
            assert objective.loss(theta) == loss
            results.append((loss, grad, G))
            # After an evaluation elsewhere the kept passes are another
            # point's: G's task redoes them first, to the same bits.
            objective.loss_and_grad(theta + 0.1)
            _, stale = objective.executor.reduce("gauss_newton", theta)
            objective.penalty.add_diagonal(stale.reshape(G.shape))
            np.testing.assert_array_equal(stale.reshape(G.shape), G)
            # One piece per chunk (no cutting): the same matrix, to rounding.
            with pytest.MonkeyPatch.context() as m:
                m.setattr("skmlp._chunks.GN_MIN_PIECE_WORK", 1 << 60)
                whole = objective.gauss_newton(theta)[2]
            np.testing.assert_allclose(whole, G, rtol=1e-12, atol=1e-14)
    for loss, grad, G in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])
        np.testing.assert_array_equal(G, results[0][2])


def test_evidence_update_equals_the_hand_computed_one():
    rng = np.random.RandomState(2)
    layout = Layout((2, 3, 1))
    theta = layout.init(rng, 0.9)
    n, S, alpha_J = 12, 7.5, 0.4
    P, n_w = layout.n_params, layout.n_coefs
    A = rng.normal(size=(n, P))
    G_D = A.T @ A  # a data term's Gauss-Newton matrix, summed over the rows
    E_D = 1.7
    penalty = L2Penalty(layout, alpha_J, S)
    loss = E_D / S + penalty(theta)
    G = G_D / S
    G[np.arange(n_w), np.arange(n_w)] += alpha_J / S
    evidence = Evidence(penalty, n_targets=n, squared_error=True)
    evidence.alpha, evidence.beta = 0.8, 2.0  # the previous estimates
    grad = rng.normal(size=P)
    new_loss, new_grad, new_G = evidence.update(theta, loss, grad, G)
    # MacKay's update, by hand.
    H = 2.0 * G_D + 0.8 * np.diag(np.r_[np.ones(n_w), np.zeros(P - n_w)])
    gamma = n_w - 0.8 * np.trace(np.linalg.pinv(H)[:n_w, :n_w])
    E_W = 0.5 * theta[:n_w] @ theta[:n_w]
    alpha, beta = gamma / (2 * E_W), (n - gamma) / (2 * E_D)
    assert evidence.gamma == pytest.approx(gamma, rel=1e-10)
    assert evidence.alpha == pytest.approx(alpha, rel=1e-10)
    assert evidence.beta == pytest.approx(beta, rel=1e-10)
    assert penalty.alpha == pytest.approx(alpha / beta, rel=1e-10)
    # J, its gradient and G under the new penalty.
    assert new_loss == pytest.approx(E_D / S + penalty(theta), rel=1e-12)
    change = (alpha / beta - alpha_J) / S
    np.testing.assert_allclose(new_grad[:n_w], grad[:n_w] + change * theta[:n_w], rtol=1e-12)
    np.testing.assert_allclose(np.diag(new_G)[:n_w], np.diag(G)[:n_w] + change, rtol=1e-12)


def test_evidence_trace_is_the_inverse_without_the_parameters_h_leaves_undetermined():
    # tr(I_W H^-1) for H = beta G_D + alpha I_W: 9 weights, then 4 intercepts.
    rng = np.random.RandomState(4)
    P, n_w = 13, 9
    A = rng.normal(size=(40, P))
    H = A.T @ A
    H[np.arange(n_w), np.arange(n_w)] += 0.5
    # Positive definite: the inverse itself.
    expected = np.trace(np.linalg.inv(H)[:n_w, :n_w])
    assert weight_trace_of_inverse(H, n_w) == pytest.approx(expected, rel=1e-10)

    def without(M, j):
        return np.delete(np.delete(M, j, axis=0), j, axis=1)

    # The intercept of a pruned unit (index 10): a zero row and column, H
    # singular; and one nearly so (its row and column scaled by 1e-9: its
    # curvature 1e-18 of the others'). Both are left out: H's inverse on
    # the other parameters.
    expected = np.trace(np.linalg.inv(without(H, 10))[:n_w, :n_w])
    for scale in (0.0, 1e-9):
        D = np.ones(P)
        D[10] = scale
        singular = H * D[:, None] * D[None, :]
        assert weight_trace_of_inverse(singular, n_w) == pytest.approx(expected, rel=1e-10)
    # It differs from the inverse's (the nearly singular H's inverse has the
    # same weight block as H's): leaving the parameter out is a choice.
    assert not np.isclose(expected, np.trace(np.linalg.inv(H)[:n_w, :n_w]), rtol=1e-3)
    # A pruned weight (index 3, its curvature only the penalty's 0.5) is kept.
    pruned = H.copy()
    pruned[3, :] = pruned[:, 3] = 0.0
    pruned[3, 3] = 0.5
    expected = np.trace(np.linalg.inv(pruned)[:n_w, :n_w])
    assert weight_trace_of_inverse(pruned, n_w) == pytest.approx(expected, rel=1e-10)


def test_evidence_fits_a_noisy_curve_without_a_grid():
    X, y, _ = sine(n=200, seed=3)
    reg = BackpropMLPRegressor(
        (10,), "tanh", solver="lm", alpha="evidence", max_iter=300, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.alpha_ > 0
    assert 0 < reg.effective_n_params_ < 10 * 1 + 10 * 1
    assert reg.score(X, y) > 0.9
    # The objective with the chosen alpha is the fit's J.
    assert reg.objective(X, y) == pytest.approx(reg.loss_curve_[-1], rel=1e-3)


def test_lm_refuses_large_networks_and_evidence_needs_lm():
    X = np.random.RandomState(0).normal(size=(20, 100))
    y = np.arange(20) % 2
    with pytest.raises(
        ValueError, match=re.escape("use solver='trust-ncg' with curvature='gauss-newton'")
    ):
        BackpropMLPClassifier((40,), solver="lm").fit(X, y)
    with pytest.raises(ValueError, match=r"alpha='evidence'.*solver='lm'"):
        BackpropMLPClassifier(alpha="evidence").fit(X, y)


def test_lm_classifier_verbose_shows_mu_and_early_stopping_works(capsys):
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BackpropMLPClassifier(
        (10,), solver="lm", max_iter=30, verbose=2, early_stopping=True, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert all(", mu = " in line for line in lines if line.startswith("Iteration"))
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.validation_scores_)
    assert clf.score(X, y) > 0.9


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([BackpropMLPClassifier(solver="lm", max_iter=50)])
def test_sklearn_compatible_classifier(estimator, check):
    check(estimator)
