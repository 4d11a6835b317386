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
``tanh``/``exp`` rather than ``scipy.special.expit`` or ``logaddexp``, which
are slower per element.
"""

import numpy as np


def inplace_identity(Z):
    """Leave ``Z`` unchanged: f(a) = a."""


def logistic_by_exp(Z):
    """Apply the sigmoid in place as f(a) = 1 / (1 + exp(-a))."""
    # exp(-a) overflows to inf for a < -709 (-88 in float32): 1 / inf = 0 is
    # the right value, the warning would only leak.
    with np.errstate(over="ignore"):
        np.negative(Z, out=Z)
        np.exp(Z, out=Z)
    Z += 1
    np.reciprocal(Z, out=Z)


def logistic_by_tanh(Z):
    """Apply the sigmoid in place as f(a) = (1 + tanh(a / 2)) / 2."""
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z *= 0.5
    Z += 0.5


def _tanh_runs_avx512(dtype):
    """Whether numpy dispatches `dtype`'s tanh to its AVX-512 kernel here."""
    try:
        from numpy.lib.introspect import opt_func_info  # numpy >= 2.0

        signature = np.dtype(dtype).char * 2
        current = opt_func_info(func_name="^tanh$")["tanh"][signature]["current"]
    except (ImportError, KeyError, TypeError):
        return False
    return current.startswith(("X86_V4", "AVX512"))


# The sigmoid's form, a function of the dtype and of this machine's numpy
# kernels only (never of a timing, so a fit gives the same model every run):
# exp, the faster form except in float32 where tanh has numpy's AVX-512
# kernel (figures in docs/user_guide/performance.rst), and the more accurate
# one for a < 0, where 1 + tanh(a/2) cancels.
FLOAT32_LOGISTIC_BY_TANH = _tanh_runs_avx512(np.float32)


def inplace_logistic(Z):
    """Apply the sigmoid in place: f(a) = 1 / (1 + exp(-a))."""
    if Z.dtype == np.float32 and FLOAT32_LOGISTIC_BY_TANH:
        logistic_by_tanh(Z)
    else:
        logistic_by_exp(Z)


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
