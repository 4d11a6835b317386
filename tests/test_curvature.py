"""Hessian-vector products against finite differences and their algebra."""

import itertools
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from skmlp import BackpropMLPClassifier
from skmlp._layout import Layout
from skmlp._problem import make_objective

ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]


def curvature_objective(activation, out_activation, n_outputs, hidden, weighted, seed=0, **kw):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(23, 5))
    y = rng.randint(max(n_outputs, 2), size=23)
    Y = np.eye(n_outputs)[y] if n_outputs > 1 else y[:, None].astype(float)
    sample_weight = rng.uniform(0, 3, size=23) if weighted else None
    layout = Layout((5, *hidden, n_outputs))
    theta = layout.init(rng, 0.9)
    objective = make_objective(
        layout,
        X,
        Y,
        sample_weight,
        activation=activation,
        out_activation=out_activation,
        alpha=0.4,
        batch_size=kw.pop("batch_size", 7),
        curvature=kw.pop("curvature", "exact"),
        **kw,
    )
    return objective, theta, rng


CASES = list(
    itertools.product(ACTIVATIONS, ["logistic", "softmax"], [1, 3], [(6,), (4, 3)], [False, True])
)


@pytest.mark.parametrize(
    ("activation", "out_activation", "n_outputs", "hidden", "weighted"), CASES
)
def test_hessp_matches_finite_differences(activation, out_activation, n_outputs, hidden, weighted):
    objective, theta, rng = curvature_objective(
        activation, out_activation, n_outputs, hidden, weighted
    )
    with objective:
        v = rng.normal(size=theta.size)
        hv = objective.hessp(theta, v)
        eps = 1e-5
        g_plus = objective.loss_and_grad(theta + eps * v)[1]
        g_minus = objective.loss_and_grad(theta - eps * v)[1]
    numeric = (g_plus - g_minus) / (2 * eps)
    assert np.linalg.norm(hv - numeric) / np.linalg.norm(numeric) < 1e-6


@pytest.mark.parametrize(
    ("activation", "out_activation", "n_outputs", "hidden", "weighted"), CASES
)
def test_hessian_is_symmetric_and_gauss_newton_psd(
    activation, out_activation, n_outputs, hidden, weighted
):
    case = (activation, out_activation, n_outputs, hidden, weighted)
    objective, theta, rng = curvature_objective(*case)
    gauss_newton, _, _ = curvature_objective(*case, curvature="gauss-newton")
    with objective, gauss_newton:
        u, v = rng.normal(size=(2, theta.size))
        uHv = u @ objective.hessp(theta, v)
        vHu = v @ objective.hessp(theta, u)
        assert abs(uHv - vHu) <= 1e-10 * max(1.0, abs(uHv))
        for _ in range(20):
            w = rng.normal(size=theta.size) * rng.lognormal(0, 2)
            assert w @ gauss_newton.hessp(theta, w) >= 0
        uGv = u @ gauss_newton.hessp(theta, v)
        vGu = v @ gauss_newton.hessp(theta, u)
        assert abs(uGv - vGu) <= 1e-10 * max(1.0, abs(uGv))


def test_gauss_newton_is_the_hessian_for_a_linear_model():
    """Without hidden layers the network adds no curvature: G = H."""
    objective, theta, rng = curvature_objective("logistic", "softmax", 3, (), True)
    gauss_newton, _, _ = curvature_objective(
        "logistic", "softmax", 3, (), True, curvature="gauss-newton"
    )
    with objective, gauss_newton:
        v = rng.normal(size=theta.size)
        exact = objective.hessp(theta, v)
        np.testing.assert_allclose(gauss_newton.hessp(theta, v), exact, rtol=1e-12)


def test_hessp_independent_of_chunks_threads_and_sparsity():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(50, 6))
    X[X < 0.3] = 0
    Y = np.eye(3)[rng.randint(3, size=50)]
    layout = Layout((6, 5, 3))
    theta, v = layout.init(rng), rng.normal(size=layout.n_params)
    results = {}
    for batch_size, n_threads, sparse in [
        (50, 1, False),
        (7, 1, False),
        (7, 2, False),
        (7, 2, True),
        (1, 2, False),
    ]:
        data = sp.csr_matrix(X) if sparse else X
        with make_objective(
            layout, data, Y, batch_size=batch_size, n_threads=n_threads, curvature="exact"
        ) as objective:
            results[batch_size, n_threads, sparse] = objective.hessp(theta, v)
    reference = results[50, 1, False]
    for key, hv in results.items():
        np.testing.assert_allclose(hv, reference, rtol=1e-12, atol=1e-15, err_msg=str(key))
    assert_array_equal(results[7, 1, False], results[7, 2, False])


def test_forward_pass_is_shared_at_the_same_theta():
    objective, theta, rng = curvature_objective("tanh", "softmax", 3, (6,), False)
    with objective:
        objective.loss_and_grad(theta)
        calls = objective.n_evaluations
        for _ in range(3):
            objective.hessp(theta, rng.normal(size=theta.size))
        assert objective.n_evaluations == calls and objective.n_hessp == 3
        # Another theta: a product there recomputes the stored pass, and the
        # result equals a fresh objective's.
        other = theta + 0.1
        v = rng.normal(size=theta.size)
        hv = objective.hessp(other, v)
    fresh, _, _ = curvature_objective("tanh", "softmax", 3, (6,), False)
    with fresh:
        np.testing.assert_allclose(fresh.hessp(other, v), hv, rtol=1e-13)


@pytest.mark.parametrize("solver", ["newton-cg", "trust-ncg", "trust-krylov"])
@pytest.mark.parametrize("curvature", ["exact", "gauss-newton"])
def test_newton_solvers_converge(solver, curvature):
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    # tol=1e-5, not the default 1e-4: Newton-CG's tol bounds the mean |step|,
    # and at 1e-4 Gauss-Newton steps stop it 1e-3 (relatively) above the minimum.
    clf = BackpropMLPClassifier(
        (8,), solver=solver, curvature=curvature, max_iter=500, tol=1e-5, random_state=0
    ).fit(X, y)
    # tol=1e-7: L-BFGS-B stalls (and warns) at |gradient| 1.8e-8 here.
    reference = BackpropMLPClassifier((8,), max_iter=5000, tol=1e-7, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95
    assert clf.loss_ == pytest.approx(reference.loss_, rel=1e-3)


@pytest.mark.parametrize("sparse", [False, True])
def test_curvature_stores_hold_only_what_the_products_need(sparse):
    rng = np.random.RandomState(0)
    n_samples, hidden, n_outputs = 2000, 25, 10
    if sparse:
        nnz = 20_000
        rows, cols = rng.randint(n_samples, size=nnz), rng.randint(50_000, size=nnz)
        X = sp.csr_matrix((rng.normal(size=nnz), (rows, cols)), shape=(n_samples, 50_000))
        batch_size = 100
    else:
        X = rng.normal(size=(n_samples, 400))
        batch_size = 10
    Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    layout = Layout((X.shape[1], hidden, n_outputs))
    theta = layout.init(rng)
    v = rng.normal(size=theta.size)

    def memory_held(curvature):
        tracemalloc.start()
        try:
            objective = make_objective(
                layout, X, Y, batch_size=batch_size, n_threads=1, curvature=curvature
            )
            objective.loss_and_grad(theta)
            if curvature is not None:
                objective.hessp(theta, v)
            held = tracemalloc.get_traced_memory()[0]
            objective.close()
        finally:
            tracemalloc.stop()
        return held

    curvature_buffers = memory_held("exact") - memory_held(None)
    # What the products read again: every row's hidden activations and
    # deltas, output logits and output deltas.
    kept = n_samples * (2 * hidden + 2 * n_outputs) * 8
    assert curvature_buffers <= 2 * kept
