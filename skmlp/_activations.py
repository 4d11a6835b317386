"""Hidden-unit activations and their derivatives, written from the output.

Each activation works in place on the pre-activation ``a`` and leaves
``z = f(a)``; each derivative multiplies a delta in place by ``f'(a)``
expressed through ``z`` only, so the forward pass keeps just the activations.
``second_derivative`` gives ``f''(a)`` from ``z`` for Hessian-vector products.

The engine calls these on every chunk of every evaluation, so the
activations allocate nothing, and neither do the derivatives when given
``work``, a scratch array shaped like ``z`` (the engine always passes one;
without it they allocate it). ``second_derivative`` returns a new array (the
curvature products' exact Hessian only). They use numpy's vectorized
``tanh``/``exp`` rather than ``scipy.special.expit`` or ``logaddexp`` (several
times slower per element).
"""

import numpy as np


def inplace_identity(Z):
    """Leave ``Z`` unchanged: f(a) = a."""


def inplace_logistic(Z):
    """Apply the sigmoid in place: f(a) = 1 / (1 + exp(-a)) = (1 + tanh(a / 2)) / 2."""
    # The tanh form never overflows and is 3x faster than expit.
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z *= 0.5
    Z += 0.5


def inplace_tanh(Z):
    """Apply tanh in place."""
    np.tanh(Z, out=Z)


def inplace_relu(Z):
    """Apply max(a, 0) in place."""
    np.maximum(Z, 0, out=Z)


def inplace_identity_derivative(Z, delta, work=None):
    """Multiply ``delta`` by f'(a) = 1."""


def inplace_logistic_derivative(Z, delta, work=None):
    """Multiply ``delta`` by f'(a) = z (1 - z)."""
    work = np.empty_like(Z) if work is None else work
    np.subtract(1, Z, out=work)
    work *= Z
    delta *= work


def inplace_tanh_derivative(Z, delta, work=None):
    """Multiply ``delta`` by f'(a) = 1 - z^2."""
    work = np.empty_like(Z) if work is None else work
    np.multiply(Z, Z, out=work)
    np.subtract(1, work, out=work)
    delta *= work


def inplace_relu_derivative(Z, delta, work=None):
    """Multiply ``delta`` by f'(a) = [z > 0]."""
    # z >= 0 always, so [z > 0] = sign(z); sign + multiply avoids a boolean mask.
    work = np.empty_like(Z) if work is None else work
    np.sign(Z, out=work)
    delta *= work


def second_derivative(activation, Z):
    """f''(a) from ``z = f(a)`` as a new array."""
    if activation == "logistic":
        return Z * (1 - Z) * (1 - 2 * Z)
    if activation == "tanh":
        return -2 * Z * (1 - Z**2)
    return np.zeros_like(Z)


ACTIVATIONS = {
    "identity": inplace_identity,
    "logistic": inplace_logistic,
    "tanh": inplace_tanh,
    "relu": inplace_relu,
}

DERIVATIVES = {
    "identity": inplace_identity_derivative,
    "logistic": inplace_logistic_derivative,
    "tanh": inplace_tanh_derivative,
    "relu": inplace_relu_derivative,
}
