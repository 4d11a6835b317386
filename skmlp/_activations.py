"""Hidden-unit activations and their derivatives, written from the output.

Each activation maps a block's pre-activations ``A`` (units x rows, the
engine's layout, see :mod:`skmlp._network`) to ``Z = f(A)`` in another
array of that shape (``A`` is only read); each derivative multiplies a
delta in place by ``f'(a)`` expressed through ``z`` only, so the forward pass
keeps just the activations. ``second_derivative`` gives ``f''(a)`` from ``z``
for Hessian-vector products.

The logistic unit takes the negated pre-activation ``s = -a`` (listed in
`NEGATED`): the engine negates those layers' weights once per evaluation
instead of the activations on every chunk, so that the sigmoid is
``1 / (1 + exp(s))`` on the product as computed: one exp, one add and one
divide per element, accurate to a few ulp for every ``a`` (no cancellation:
the earlier ``(1 + tanh(a / 2)) / 2`` lost all digits for ``a << 0``).

The engine calls these on every chunk of every evaluation, so the
activations allocate nothing, and neither do the derivatives when given
``work``, a scratch array shaped like ``z`` (the engine always passes one;
without it they allocate it). ``second_derivative`` returns a new array (the
curvature products' exact Hessian only).
"""

import numpy as np


def identity(A, Z):
    """``Z = A``: f(a) = a."""
    np.copyto(Z, A)


def logistic_of_negated(S, Z):
    """``Z = f(a) = 1 / (1 + exp(s))`` from the negated pre-activation ``S = -A``.

    Where ``exp(s)`` overflows (``s`` above 709.78 in float64, 88.72 in
    float32) the sigmoid is ``exp(-s)``, a subnormal or 0: those entries are
    found by numpy's floating-point flags (no pass over the block) and
    recomputed.
    """
    with np.errstate(over="raise"):
        try:
            np.exp(S, out=Z)
            overflow = False
        except FloatingPointError:  # Z is complete, with inf where it overflowed
            overflow = True
    Z += 1
    np.divide(1, Z, out=Z)
    if overflow:
        # 1 / (1 + inf) = 0 there and only there; recomputed from s.
        where = Z == 0
        with np.errstate(under="ignore"):
            Z[where] = np.exp(-S[where])


def tanh(A, Z):
    """``Z = tanh(A)``."""
    np.tanh(A, out=Z)


def relu(A, Z):
    """``Z = max(A, 0)``."""
    np.maximum(A, 0, out=Z)


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
    "identity": identity,
    "logistic": logistic_of_negated,
    "tanh": tanh,
    "relu": relu,
}

# The activations that take the negated pre-activation ``-a``.
NEGATED = frozenset({"logistic"})

DERIVATIVES = {
    "identity": inplace_identity_derivative,
    "logistic": inplace_logistic_derivative,
    "tanh": inplace_tanh_derivative,
    "relu": inplace_relu_derivative,
}
