"""Public views of a fitted estimator's parameters, for the tests (imported by them).

A fitted estimator keeps its parameters in one flat float64 vector;
``coefs_`` and ``intercepts_`` are views of it, all weight matrices first
and then all intercepts (the order of :mod:`skmlp._layout`). The tests read
the parameters through those public views rather than the private vector.
"""

from itertools import pairwise

import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # numpy < 2
    from numpy import byte_bounds


def _pieces(est):
    return [*est.coefs_, *est.intercepts_]


def parameters(est):
    """The fitted parameters as one flat vector: the weights, then the intercepts.

    Equal, element for element and in dtype, to the estimator's parameter
    vector (the views cover it exactly, in its order); a new array.
    """
    return np.concatenate([a.ravel() for a in _pieces(est)])


def layer_sizes(est):
    """Units per layer, input first and output last, from the weight shapes."""
    return (est.coefs_[0].shape[0], *(c.shape[1] for c in est.coefs_))


def assert_views_of_one_vector(est):
    """`coefs_` and `intercepts_` are consecutive views of one flat vector.

    Every piece is a view of the same array, and each piece starts where the
    one before it ends (weights first, then intercepts): together they are
    that one vector, in order.
    """
    pieces = _pieces(est)
    owner = pieces[0].base
    assert owner is not None
    for piece in pieces:
        assert piece.base is owner
        assert piece.dtype == np.float64 and piece.flags.c_contiguous
    bounds = [byte_bounds(piece) for piece in pieces]
    for (_, end), (start, _) in pairwise(bounds):
        assert end == start


def shares_parameters(a, b):
    """Whether two estimators' parameters share any memory."""
    return any(np.shares_memory(p, q) for p in _pieces(a) for q in _pieces(b))
