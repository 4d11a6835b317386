r"""An independent plain-numpy J, its gradient and rounding bounds, and the fits' configurations.

Nothing here comes from skmlp: the cost is transcribed from its definition
(the course's J generalized, as the README states it)::

    J = 1/S sum_i s_i loss_i + alpha / (2 S) * sum of squared weights

with ``S = sum_i s_i`` (intercepts not penalized), ``loss_i`` the summed
binary cross-entropy of one sigmoid per output ('logistic', also the single
output unit of two classes) or the multinomial cross-entropy ('softmax'),
and hidden activations logistic, tanh, relu or identity. The gradient is
straightforward backpropagation, in float64, all rows at once. Hessian-vector
products (for the Newton-type solvers) come from a complex step through that
gradient, which is exact to rounding: no transcription of the R-operator.

:func:`Reference.bounds` gives a first-order bound of the rounding error of
any evaluation of J and of its gradient by the usual operations (matrix
products, elementwise functions, sums over the rows in any order, any
chunking), in units of the working precision's eps: the tests compare the
engine's values with the reference's within ``(eps_engine + eps_float64)``
times these bounds, which hold on every CPU (they assume only that BLAS and
numpy's elementwise functions are accurate to a few ulp, not how they round).
"""

import functools
import itertools

import numpy as np
import scipy.sparse as sp

# Elementwise functions (exp, log, log1p, tanh) of numpy's SIMD kernels are
# within 4 ulp; C counts a few of them plus the operations around them.
C = 8
EPS64 = float(np.finfo(np.float64).eps)

# |f'| <= LIPSCHITZ: the error of a carries into f(a) at most so much. The
# derivative written from z = f(a), as an engine may write it, moves at most
# DERIVATIVE_LIPSCHITZ |dz|: d(z (1 - z)) = (1 - 2z) dz, d(1 - z^2) = -2 z dz;
# relu's [z > 0] and identity's 1 do not move (but see relu's kink below).
LIPSCHITZ = {"logistic": 0.25, "tanh": 1.0, "relu": 1.0, "identity": 1.0}
DERIVATIVE_LIPSCHITZ = {"logistic": 1.0, "tanh": 2.0, "relu": 0.0, "identity": 0.0}


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))  # also for the complex step


def _activate(name, a):
    if name == "logistic":
        return _sigmoid(a)
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.where(a.real > 0, a, 0)
    return a


def _derivative(name, a):
    """f'(a), from a."""
    if name == "logistic":
        s = _sigmoid(a)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(a) ** 2
    if name == "relu":
        return (a.real > 0).astype(np.float64)
    return np.ones_like(a)


def initial_params(layer_sizes, random_state):
    """The documented initial weights: U(-b, b), b = sqrt(6 / (fan_in + fan_out)).

    Drawn layer by layer, the weights ``(fan_in, fan_out)`` then the
    intercepts, from ``np.random.RandomState(random_state)``.
    """
    rng = np.random.RandomState(random_state)
    coefs, intercepts = [], []
    for fan_in, fan_out in itertools.pairwise(layer_sizes):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


class Reference:
    """J on fixed data as a plain function of ``(coefs, intercepts)`` or of a flat theta.

    The flat theta is the documented layout: every weight matrix
    ``(fan_in, fan_out)`` in C order, layer by layer, then every intercept.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Taken exactly, in float64 (float32 data convert without rounding).
    y : array-like of shape (n_samples,)
        Labels; the classes are the sorted distinct labels.
    hidden : tuple of int
    activation, out_activation : str
    alpha : float
    sample_weight : array-like of shape (n_samples,) or None
    """

    def __init__(
        self,
        X,
        y,
        hidden=(25,),
        activation="logistic",
        out_activation="logistic",
        alpha=1.0,
        sample_weight=None,
    ):
        self.X = X.toarray() if sp.issparse(X) else np.array(X, dtype=np.float64)
        self.X = self.X.astype(np.float64)
        y = np.asarray(y)
        self.classes = np.unique(y)
        if len(self.classes) == 2:  # one logistic unit for the second class
            self.Y = (y == self.classes[1]).astype(np.float64)[:, None]
            out_activation = "logistic"
        else:
            self.Y = (y[:, None] == self.classes[None, :]).astype(np.float64)
        n = len(y)
        s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
        self.S = s.sum()
        self.w = s / self.S
        self.activation, self.out_activation, self.alpha = activation, out_activation, alpha
        self.layer_sizes = (self.X.shape[1], *hidden, self.Y.shape[1])
        self.shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.n_coefs = sum(a * b for a, b in self.shapes)
        self.n_params = self.n_coefs + sum(self.layer_sizes[1:])

    # -- the flat layout --------------------------------------------------

    def pack(self, coefs, intercepts):
        return np.concatenate([np.ravel(c) for c in [*coefs, *intercepts]])

    def unpack(self, theta):
        coefs, start = [], 0
        for shape in self.shapes:
            size = shape[0] * shape[1]
            coefs.append(theta[start : start + size].reshape(shape))
            start += size
        intercepts = []
        for width in self.layer_sizes[1:]:
            intercepts.append(theta[start : start + width])
            start += width
        return coefs, intercepts

    # -- J and its gradient -----------------------------------------------

    def _forward(self, coefs, intercepts):
        """Pre-activations of every layer, and the hidden activations (Z[0] = X)."""
        A, Z = [], [self.X]
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            A.append(Z[-1] @ W + b)
            if i < len(coefs) - 1:
                Z.append(_activate(self.activation, A[-1]))
        return A, Z

    def _probabilities(self, logits):
        if self.out_activation == "logistic":
            return _sigmoid(logits)
        shifted = logits - logits.real.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)

    def _losses(self, logits):
        """Per-row loss (real logits only)."""
        if self.out_activation == "logistic":
            # log(1 + exp(-a)) for y = 1, log(1 + exp(a)) for y = 0.
            return np.logaddexp(0, np.where(self.Y == 1, -logits, logits)).sum(axis=1)
        top = logits.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        return lse - (logits * self.Y).sum(axis=1)

    def _backward(self, coefs, A, Z, delta):
        """Gradient of sum(delta * logits) (a vector-Jacobian product), as lists."""
        g_coefs, g_intercepts = [None] * len(coefs), [None] * len(coefs)
        for layer in range(len(coefs) - 1, -1, -1):
            g_coefs[layer] = Z[layer].T @ delta
            g_intercepts[layer] = delta.sum(axis=0)
            if layer > 0:
                delta = (delta @ coefs[layer].T) * _derivative(self.activation, A[layer - 1])
        return g_coefs, g_intercepts

    def penalty(self, coefs):
        return self.alpha / (2 * self.S) * sum(np.sum(W * W) for W in coefs)

    def loss(self, coefs, intercepts):
        A, _ = self._forward(coefs, intercepts)
        return float(self.w @ self._losses(A[-1])) + self.penalty(coefs)

    def gradient(self, coefs, intercepts):
        A, Z = self._forward(coefs, intercepts)
        delta = self.w[:, None] * (self._probabilities(A[-1]) - self.Y)
        g_coefs, g_intercepts = self._backward(coefs, A, Z, delta)
        g_coefs = [g + self.alpha / self.S * W for g, W in zip(g_coefs, coefs)]
        return g_coefs, g_intercepts

    def loss_and_grad(self, theta):
        """J and its flat gradient at a flat theta (for scipy.optimize.minimize)."""
        coefs, intercepts = self.unpack(np.asarray(theta, dtype=np.float64))
        return self.loss(coefs, intercepts), self.pack(*self.gradient(coefs, intercepts))

    # -- curvature ---------------------------------------------------------

    STEP = 1e-30  # the complex step: no cancellation, so any small step is exact

    def hessp(self, theta, v):
        """The exact Hessian times v: d/dh gradient(theta + i h v), by a complex step."""
        point = np.asarray(theta, dtype=np.complex128) + 1j * self.STEP * np.asarray(v)
        return self.pack(*self.gradient(*self.unpack(point))).imag / self.STEP

    def gauss_newton_p(self, theta, v):
        """``J^T H_out J v + alpha / S v_W``: J v by a complex step of the logits."""
        coefs, intercepts = self.unpack(np.asarray(theta, dtype=np.float64))
        point = np.asarray(theta, dtype=np.complex128) + 1j * self.STEP * np.asarray(v)
        Jv = self._forward(*self.unpack(point))[0][-1].imag / self.STEP
        A, Z = self._forward(coefs, intercepts)
        p = self._probabilities(A[-1])
        if self.out_activation == "logistic":
            H_Jv = p * (1 - p) * Jv
        else:
            H_Jv = p * (Jv - (p * Jv).sum(axis=1, keepdims=True))
        g_coefs, g_intercepts = self._backward(coefs, A, Z, self.w[:, None] * H_Jv)
        V = self.unpack(np.asarray(v, dtype=np.float64))[0]
        g_coefs = [g + self.alpha / self.S * Vl for g, Vl in zip(g_coefs, V)]
        return self.pack(g_coefs, g_intercepts)

    # -- rounding bounds ---------------------------------------------------

    def bounds(self, coefs, intercepts, eps=EPS64):
        """First-order bounds of the rounding errors of J and of its gradient, in eps.

        Any evaluation that performs the operations of :meth:`loss` and
        :meth:`gradient` with a relative rounding of eps per operation (the
        parameters and the weights ``s / S`` rounded to the working precision
        too, the rows summed in any order and any chunking, elementwise
        functions within ``C`` eps) is within ``eps * bound`` of the exact
        values, to first order in eps. This is the standard running bound
        (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1 and
        3.5: ``|fl(A B) - A B| <= gamma_k |A| |B|`` with ``gamma_k ~ k eps``
        for inner products of length k): each quantity ``q`` carries an
        array ``E_q`` with ``|error of q| <= eps E_q``, propagated through
        the passes with the absolute values of the operands.

        Parameters
        ----------
        coefs, intercepts : list of ndarray
        eps : float, default=float64's eps
            The working precision, needed only to tell which relu units are
            within rounding of their kink (where the derivative may be 0 or 1).

        Returns
        -------
        loss_bound : float
        grad_bound : ndarray of shape (n_params,)
            Elementwise, in the flat layout.
        """
        n = self.X.shape[0]
        A, Z = self._forward(coefs, intercepts)
        act = self.activation
        # Forward: a = z W + b: the error of z through |W|, the inner product
        # of fan_in terms and the bias (gamma_{fan_in + 1}), W and b rounded
        # to the working dtype (+2). z = f(a): LIPSCHITZ times a's error,
        # plus C eps of its own rounding (absolute for the sigmoid).
        E_z = [np.zeros_like(self.X)]
        E_a, kinks = [], []
        for layer, (W, b) in enumerate(zip(coefs, intercepts)):
            magnitude = np.abs(Z[layer]) @ np.abs(W) + np.abs(b)
            E_a.append(E_z[layer] @ np.abs(W) + (W.shape[0] + 3) * magnitude)
            if layer < len(coefs) - 1:
                # A relu pre-activation within its rounding of 0 (with a margin
                # of 4) may fall on either side of the kink.
                kinks.append((act == "relu") & (np.abs(A[layer]) <= 4 * eps * E_a[-1]))
                own = {"logistic": C, "tanh": C * np.abs(Z[layer + 1])}.get(act, 0.0)
                E_z.append(LIPSCHITZ[act] * E_a[-1] + own)
        logits, E_L = A[-1], E_a[-1]
        p = self._probabilities(logits)
        losses = self._losses(logits)
        n_out = self.Y.shape[1]

        # J: each row's loss moves by |p - y| times the logits' errors and
        # rounds by C eps (the softmax's shift by at most n_out / e); the
        # rows' sum (gamma_n) and the weights s / S (gamma_n) add 2 n + 2
        # eps relatively; the penalty sums n_coefs squares.
        data = float(self.w @ losses)
        penalty = self.penalty(coefs)
        loss_bound = (
            float(self.w @ (np.abs(p - self.Y) * E_L).sum(axis=1))
            + C * float(self.w @ (losses + n_out))
            + (2 * n + 2) * data
            + (self.n_coefs + 3) * penalty
        )

        # Output delta w (p - y): p moves by at most 2 max_j |da_j| (a
        # softmax; a sigmoid by |da| / 4) and rounds by C eps absolutely; w
        # carries gamma_n.
        delta = self.w[:, None] * (p - self.Y)
        E_d = self.w[:, None] * (2 * E_L.max(axis=1, keepdims=True) + C)
        E_d = E_d + (n + 2) * np.abs(delta)
        g_coefs, g_intercepts = [None] * len(coefs), [None] * len(coefs)
        for layer in range(len(coefs) - 1, -1, -1):
            W = coefs[layer]
            # z^T delta over the n rows (gamma_n), plus alpha / S W (rounded).
            abs_z, abs_d = np.abs(Z[layer]), np.abs(delta)
            g_coefs[layer] = (
                E_z[layer].T @ abs_d
                + abs_z.T @ E_d
                + (n + 2) * (abs_z.T @ abs_d)
                + 3 * self.alpha / self.S * np.abs(W)
            )
            g_intercepts[layer] = E_d.sum(axis=0) + (n + 1) * abs_d.sum(axis=0)
            if layer > 0:
                # delta W^T (gamma_fan_out, W rounded), times f'(a) written
                # from z: it moves by DERIVATIVE_LIPSCHITZ |dz| and rounds by
                # 3 eps (1 - z^2, z (1 - z)).
                back = delta @ W.T
                E_back = E_d @ np.abs(W.T) + (W.shape[1] + 2) * (abs_d @ np.abs(W.T))
                f_prime = _derivative(act, A[layer - 1])
                smooth = 3.0 if act in ("logistic", "tanh") else 0.0
                E_f = DERIVATIVE_LIPSCHITZ[act] * E_z[layer] + smooth
                delta = back * f_prime
                E_d = E_back * np.abs(f_prime) + np.abs(back) * E_f + np.abs(delta)
                # Across a kink f' is 0 or 1: the delta may be off by all of
                # |delta W^T|.
                E_d = E_d + kinks[layer - 1] * np.abs(back) / eps
        return float(loss_bound), self.pack(g_coefs, g_intercepts)


# -- the configurations ---------------------------------------------------
#
# The README's configurations, each on a small data set (120 rows, 6
# features, 3 classes unless said): what every fit of the engine is checked on.


def dataset(n_classes=3, n_samples=120, n_features=6, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.randint(n_classes, size=n_samples)
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X, y


def sparse_dataset():
    X, y = dataset()
    X[np.abs(X) < 1.0] = 0.0
    return sp.csr_matrix(X), y


def float32_dataset():
    X, y = dataset()
    return X.astype(np.float32), y


def weights():
    return np.random.RandomState(1).uniform(0.1, 3.0, size=120)


SOLVERS = ["lbfgs", "tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov"]

# name -> (estimator parameters, data maker, sample weights?)
CONFIGS = {
    "default": ({}, dataset, False),
    "binary": ({}, lambda: dataset(n_classes=2), False),
    "softmax": ({"out_activation": "softmax"}, dataset, False),
    "tanh_two_layers": ({"hidden_layer_sizes": (8, 5), "activation": "tanh"}, dataset, False),
    "relu": ({"hidden_layer_sizes": (10,), "activation": "relu"}, dataset, False),
    "identity": ({"activation": "identity"}, dataset, False),
    "sparse": ({}, sparse_dataset, False),
    "sparse_softmax_chunks": (
        {"out_activation": "softmax", "batch_size": 17},
        sparse_dataset,
        False,
    ),
    "float32": ({}, float32_dataset, False),
    "float32_softmax_chunks": (
        {"out_activation": "softmax", "batch_size": 32},
        float32_dataset,
        False,
    ),
    "sample_weight": ({}, dataset, True),
    "batch_size": ({"batch_size": 7}, dataset, False),
    **{
        f"solver_{solver}": (
            {"solver": solver, "hidden_layer_sizes": (6,), "out_activation": "softmax"},
            dataset,
            True,
        )
        for solver in SOLVERS
    },
    "newton-cg_gauss-newton_tanh": (
        {"solver": "newton-cg", "curvature": "gauss-newton", "activation": "tanh"},
        dataset,
        False,
    ),
    "trust-ncg_sparse_chunks": ({"solver": "trust-ncg", "batch_size": 25}, sparse_dataset, False),
}


def data(name):
    """The configuration's X, y and sample weights (or None)."""
    _, make_data, weighted = CONFIGS[name]
    X, y = make_data()
    return X, y, weights() if weighted else None


@functools.cache
def reference(name):
    """The configuration's :class:`Reference` (one per configuration)."""
    params = CONFIGS[name][0]
    X, y, w = data(name)
    return Reference(
        X,
        y,
        hidden=tuple(params.get("hidden_layer_sizes", (25,))),
        activation=params.get("activation", "logistic"),
        out_activation=params.get("out_activation", "logistic"),
        alpha=params.get("alpha", 1.0),
        sample_weight=w,
    )
