"""Canonical training rows: a fit depends only on the multiset of weighted rows.

:func:`canonical_rows` rewrites the training data ``(X, Y, s)`` before the
objective is built:

- rows with zero weight are dropped;
- identical ``(x_i, Y_i)`` pairs (same feature values, same encoded label) are
  merged into one row carrying the sum of their weights;
- the remaining rows are sorted into an order that depends only on their
  contents; sparse data become canonical CSR (sorted indices, duplicates
  summed, no explicit zeros).

So the same data in any order, or rows repeated in place of integer weights,
give the same arrays bit for bit, hence the same sums inside the objective
and the same iterates. ``-0.0`` and ``0.0`` are one value here (the copy holds
``0.0``): they compare equal, and the network's sums treat them alike.

The order key is a 64-bit hash of each row's bits (each value's bits times
an odd constant, the high half folded into the low one, times an odd constant
of its column; summed over the row modulo 2**64; a zero adds nothing, so
dense and sparse rows hash alike), then the weight. Rows with the same hash
are compared exactly; should two different rows share a hash, that run is
sorted by the rows' bytes instead, so the order is a total order on the
contents whatever the hash does. Within a merged group the weights are summed
in ascending order. Cost: one pass over the data in cache-sized blocks for
the hash, a sort of ``n`` keys, and one copy of the distinct rows (sparse
data: also one canonical CSR copy of X).

Bit-identical rows make bit-identical fits wherever the solver is
deterministic: not scipy's trust-krylov with exact curvature (trlib varies
from run to run on indefinite Hessians), and not early stopping's split,
which is drawn from the rows as given, before this.

Data larger than :data:`MAX_CANONICAL_BYTES` are not copied: they keep the
given rows and order, and the properties above hold only to rounding.
"""

import numpy as np
import scipy.sparse as sp

# Above this size (X's values, plus indices for sparse data) the rows are kept
# as given: no copy is made, equivalence holds to rounding only.
MAX_CANONICAL_BYTES = 2**30

_BLOCK_VALUES = 2**15  # values hashed per block: the temporaries stay in cache
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def canonical_rows(X, Y, sample_weight=None):
    """The training rows in canonical form.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Finite float32 or float64 values. Never written to.
    Y : ndarray or sparse matrix of shape (n_samples, n_outputs)
        The encoded targets (binary indicator rows, sparse for class labels,
        or numeric values). A sparse Y hashes and orders the rows as its
        dense form would.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative float64 weights with a positive sum; None means ones.

    Returns
    -------
    X : ndarray or csr_matrix of shape (n_rows, n_features)
        The distinct rows with positive weight, in canonical order: a
        C-contiguous copy, or a canonical CSR copy. The given X when it is
        larger than :data:`MAX_CANONICAL_BYTES`.
    Y : ndarray or csr_matrix of shape (n_rows, n_outputs)
        Their targets.
    sample_weight : ndarray of shape (n_rows,)
        Their summed weights (float64).
    index : ndarray of shape (n_rows,)
        For each row, one of the given rows it stands for (``y[index]`` are
        its labels).
    """
    n_samples = X.shape[0]
    weight = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight)
    if data_bytes(X) > MAX_CANONICAL_BYTES:
        return X, Y, weight, np.arange(n_samples)
    X, hashes = _canonical(X)
    Y, y_hashes = _canonical(Y, salt=X.shape[1])
    hashes += y_hashes

    kept = np.flatnonzero(weight > 0)
    order = kept[np.lexsort((weight[kept], hashes[kept]))]
    same = _same_rows(X, Y, order, hashes)
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    weight = np.add.reduceat(weight[order], starts)
    index = order[starts]
    if sp.issparse(X):
        X = X[index]
    else:
        X = np.ascontiguousarray(X[index])
        X += 0.0  # -0.0 -> 0.0: equal rows are equal bytes
    return X, Y[index], weight, index


def _canonical(M, salt=0):
    """M as the rows are compared (C-contiguous, or canonical CSR) and its row hashes."""
    if sp.issparse(M):
        M = sp.csr_matrix(M, copy=True)
        M.sum_duplicates()  # sorted indices, one entry per position
        M.eliminate_zeros()  # also the -0.0 entries
        return M, _sparse_hashes(M, salt)
    M = np.ascontiguousarray(M)
    return M, _dense_hashes(M, salt)


def data_bytes(X):
    """Bytes of X's values (and of its indices, when sparse: CSR or CSC)."""
    if sp.issparse(X):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return np.asarray(X).nbytes


def _mix(z):
    """The splitmix64 finalizer, in place on uint64 values."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def _column_constants(columns):
    """One odd pseudo-random multiplier per column."""
    return _mix((np.asarray(columns, dtype=np.uint64) + np.uint64(1)) * _GOLDEN) | np.uint64(1)


def _bits(values):
    """uint64 bit patterns of finite values, with -0.0 read as 0.0."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = values + values.dtype.type(0)  # a copy, -0.0 -> 0.0
        unsigned = np.dtype(f"u{values.dtype.itemsize}")
        return values.view(unsigned).astype(np.uint64, copy=False)
    return values.astype(np.uint64)


def _scramble(z, constants):
    """``fold(z * m) * c`` in place: every bit of a value reaches the high bits."""
    z *= _MIX1
    z ^= z >> np.uint64(32)
    z *= constants
    return z


def _dense_hashes(X, salt=0):
    """Row hashes of a dense matrix: sum over j of scramble(bits(x_ij), c_j)."""
    n_rows, n_columns = X.shape
    hashes = np.zeros(n_rows, np.uint64)
    if n_columns == 0:
        return hashes
    constants = _column_constants(np.arange(salt, salt + n_columns))
    step = max(1, _BLOCK_VALUES // n_columns)
    for a in range(0, n_rows, step):
        block = _scramble(_bits(X[a : a + step]), constants)
        hashes[a : a + step] = block.sum(axis=1, dtype=np.uint64)
    return hashes


def _sparse_hashes(X, salt=0):
    """Row hashes of canonical CSR: the dense formula over the nonzeros."""
    scrambled = np.empty(X.nnz, np.uint64)
    for a in range(0, X.nnz, _BLOCK_VALUES):
        b = min(a + _BLOCK_VALUES, X.nnz)
        constants = _column_constants(X.indices[a:b].astype(np.int64) + salt)
        scrambled[a:b] = _scramble(_bits(X.data[a:b]), constants)
    totals = np.zeros(X.nnz + 1, np.uint64)
    np.cumsum(scrambled, dtype=np.uint64, out=totals[1:])
    return totals[X.indptr[1:]] - totals[X.indptr[:-1]]


def _same_rows(X, Y, order, hashes):
    """``same[k]``: row ``order[k + 1]`` equals row ``order[k]``.

    Sorts, in place in `order`, any run of equal hashes that holds different
    rows by the rows' bytes, so that equal rows are adjacent and the order is
    one of contents only.
    """
    sorted_hashes = hashes[order]
    candidates = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1])
    same = np.zeros(max(len(order) - 1, 0), bool)
    same[candidates] = _rows_equal(X, Y, order[candidates], order[candidates + 1])
    collided = candidates[~same[candidates]]
    for k in np.unique(sorted_hashes[collided]):
        run = np.flatnonzero(sorted_hashes == k)
        members = order[run]
        keys = [_row_key(X, Y, i) for i in members]
        order[run] = members[sorted(range(len(members)), key=keys.__getitem__)]
        a, b = run[0], run[-1]
        same[a:b] = _rows_equal(X, Y, order[a:b], order[a + 1 : b + 1])
    return same


def _rows_equal(X, Y, i, j):
    """Elementwise: row i equals row j, in X and in Y."""
    return _equal(X, i, j) & _equal(Y, i, j)


def _equal(M, i, j):
    if sp.issparse(M):
        differ = M[i] != M[j]
        return np.diff(sp.csr_matrix(differ).indptr) == 0
    return np.all(M[i] == M[j], axis=1)


def _row_key(X, Y, i):
    """Bytes of row i's contents, for the rare runs of colliding hashes."""
    return (*_row_bytes(X, i), *_row_bytes(Y, i))


def _row_bytes(M, i):
    if sp.issparse(M):
        a, b = M.indptr[i], M.indptr[i + 1]
        return M.indices[a:b].astype(np.int64).tobytes(), _bits(M.data[a:b]).tobytes()
    return (_bits(M[i]).tobytes(),)
