"""Hidden-unit activations and their derivatives, written from the output.

Each activation works in place on the pre-activation ``a`` and leaves
``z = f(a)``; each derivative multiplies a delta in place by ``f'(a)``
expressed through ``z`` only, so the forward pass keeps just the activations.
``SECOND_DERIVATIVES`` give ``f''(a)`` from ``z`` for Hessian-vector products.
"""

import numpy as np
from scipy.special import expit


def inplace_identity(Z):
    """Leave ``Z`` unchanged: f(a) = a."""


def inplace_logistic(Z):
    """Apply the sigmoid in place: f(a) = 1 / (1 + exp(-a))."""
    expit(Z, out=Z)


def inplace_tanh(Z):
    """Apply tanh in place."""
    np.tanh(Z, out=Z)


def inplace_relu(Z):
    """Apply max(a, 0) in place."""
    np.maximum(Z, 0, out=Z)


def inplace_identity_derivative(Z, delta):
    """Multiply ``delta`` by f'(a) = 1."""


def inplace_logistic_derivative(Z, delta):
    """Multiply ``delta`` by f'(a) = z (1 - z)."""
    delta *= Z
    delta *= 1 - Z


def inplace_tanh_derivative(Z, delta):
    """Multiply ``delta`` by f'(a) = 1 - z^2."""
    delta *= 1 - Z**2


def inplace_relu_derivative(Z, delta):
    """Multiply ``delta`` by f'(a) = [z > 0]."""
    delta[Z <= 0] = 0


def derivative(activation, Z):
    """f'(a) from ``z = f(a)`` as a new array."""
    out = np.ones_like(Z)
    DERIVATIVES[activation](Z, out)
    return out


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
