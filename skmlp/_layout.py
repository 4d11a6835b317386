"""Layer sizes -> offsets into one flat float64 parameter vector.

All weight matrices come first (layer by layer, each C-ordered with shape
``(fan_in, fan_out)``), then all intercepts. Keeping the weights contiguous
makes the L2 penalty a single slice: ``theta[:layout.n_coefs]``.
"""

from itertools import pairwise

import numpy as np


class Layout:
    """Where each layer's weights and intercepts live in the flat vector.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first and output last, e.g. ``(400, 25, 10)``.
    """

    def __init__(self, layer_sizes):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.coef_shapes = list(pairwise(self.layer_sizes))
        sizes = [a * b for a, b in self.coef_shapes] + list(self.layer_sizes[1:])
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self._bounds = list(pairwise(bounds))
        self.n_layers = len(self.layer_sizes)
        self.n_coefs = int(bounds[len(self.coef_shapes)])
        self.n_params = int(bounds[-1])

    def coefs(self, theta):
        """Views of the weight matrices, each ``(fan_in, fan_out)``."""
        return [theta[a:b].reshape(shape) for (a, b), shape in zip(self._bounds, self.coef_shapes)]

    def intercepts(self, theta):
        """Views of the intercept vectors, each ``(fan_out,)``."""
        return [theta[a:b] for a, b in self._bounds[len(self.coef_shapes) :]]

    def init(self, random_state, init_epsilon=None):
        """Draw a parameter vector: U(-b, b) per layer, weights and biases.

        ``b = sqrt(6 / (fan_in + fan_out))`` (the course's epsilon_init, 0.12
        for 400 -> 25) unless `init_epsilon` gives a fixed bound.
        """
        theta = np.empty(self.n_params)
        for coef, intercept in zip(self.coefs(theta), self.intercepts(theta)):
            fan_in, fan_out = coef.shape
            bound = np.sqrt(6.0 / (fan_in + fan_out)) if init_epsilon is None else init_epsilon
            coef[...] = random_state.uniform(-bound, bound, coef.shape)
            intercept[...] = random_state.uniform(-bound, bound, fan_out)
        return theta

    def from_arrays(self, coefs, intercepts):
        """Pack weight matrices and intercepts into a new flat vector."""
        theta = np.empty(self.n_params)
        for dst, src in zip(self.coefs(theta), coefs):
            dst[...] = src
        for dst, src in zip(self.intercepts(theta), intercepts):
            dst[...] = src
        return theta

    def to_thetas(self, theta):
        """The course's matrices: ``(fan_out, fan_in + 1)``, bias column first."""
        return [
            np.hstack([b[:, None], W.T]) for W, b in zip(self.coefs(theta), self.intercepts(theta))
        ]

    @classmethod
    def from_thetas(cls, thetas):
        """Layout and flat vector from the course's Theta matrices."""
        thetas = [np.asarray(t, dtype=np.float64) for t in thetas]
        if not thetas or any(t.ndim != 2 or t.shape[1] < 2 for t in thetas):
            raise ValueError(
                "thetas must be a non-empty list of 2-D arrays of shape "
                "(fan_out, fan_in + 1), bias column first."
            )
        sizes = [thetas[0].shape[1] - 1] + [t.shape[0] for t in thetas]
        for i, (t, fan_in) in enumerate(zip(thetas, sizes[:-1])):
            if t.shape[1] != fan_in + 1:
                raise ValueError(
                    f"thetas[{i}] has shape {t.shape}; after a layer of "
                    f"{fan_in} units it must have {fan_in + 1} columns "
                    "(bias column first)."
                )
        layout = cls(sizes)
        theta = layout.from_arrays([t[:, 1:].T for t in thetas], [t[:, 0] for t in thetas])
        return layout, theta


def pack(arrays):
    """Unroll arrays into one flat float64 vector (the course's ``nn_params``).

    ex4.m unrolls ``[Theta1(:) ; Theta2(:)]``, each matrix column by column
    (MATLAB's order); this function takes each array row by row (C order).

    Parameters
    ----------
    arrays : list of array-like
        The arrays to unroll, e.g. ``[Theta1, Theta2]``.

    Returns
    -------
    flat : ndarray of shape (total_size,)
        The arrays' elements, each in C order, one after the other.
    shapes : list of tuple
        The shape of each array, for :func:`unpack`.

    Examples
    --------
    >>> import numpy as np
    >>> from skmlp import pack, unpack
    >>> flat, shapes = pack([np.ones((2, 3)), np.zeros(4)])
    >>> flat.shape, shapes
    ((10,), [(2, 3), (4,)])
    >>> [a.shape for a in unpack(flat, shapes)]
    [(2, 3), (4,)]
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    shapes = [a.shape for a in arrays]
    if not arrays:
        return np.empty(0), shapes
    return np.concatenate([a.ravel() for a in arrays]), shapes


def unpack(flat, shapes):
    """Split a flat vector back into arrays (the course's ``reshape``).

    Parameters
    ----------
    flat : ndarray of shape (total_size,)
        The unrolled vector, as returned by :func:`pack`.
    shapes : list of tuple
        The shape of each array.

    Returns
    -------
    arrays : list of ndarray
        Views into `flat` (no copies): writing to them writes to `flat`.
    """
    flat = np.asarray(flat)
    sizes = [int(np.prod(s)) for s in shapes]
    if flat.ndim != 1 or flat.size != sum(sizes):
        raise ValueError(
            f"flat must be a 1-D vector of {sum(sizes)} elements for shapes "
            f"{list(shapes)}; got shape {flat.shape}."
        )
    ends = np.cumsum(sizes)
    return [flat[e - s : e].reshape(shape) for s, e, shape in zip(sizes, ends, shapes)]
