"""The early-stopping split of a cluster fit: planned on the client, drawn per chunk.

The client plans how many rows each chunk holds out from the chunks' label
counts (:func:`held_out_plan`: the in-memory split's size, stratified under
the in-memory condition with scikit-learn's per-class counts, spread over the
chunks in chunk order); each chunk draws its rows from a generator seeded by
random_state and the chunk index (:func:`held_out`), so the split depends on
the chunks only (not the rows ``train_test_split`` would pick: the labels
never meet in one place). Only counts travel.
"""

import numpy as np
from sklearn.utils.extmath import _approximate_mode

from .._chunks import chunk_weight_sum
from .._validation import validation_size


def _spread(total, sizes):
    """`total` spread over parts of these `sizes` in proportion, in order.

    Part k gets ``floor(total * c_k / n) - floor(total * c_(k-1) / n)``
    (``c_k`` the cumulative size, ``n`` the sum; exact integers): never more
    than its size when ``total <= n``, and exactly `total` in all.
    """
    n, cumulative, before, out = sum(int(m) for m in sizes), 0, 0, []
    for m in sizes:
        cumulative += int(m)
        upto = int(total) * cumulative // n
        out.append(upto - before)
        before = upto
    return out


def held_out_plan(fraction, seed, sizes, class_counts=None):
    """Chunk index -> how many of its rows early stopping holds out.

    The total and whether the split is stratified are the in-memory split's
    (:func:`~skmlp._validation.validation_size`: stratified unless the
    targets are multilabel, `class_counts` None, or a class has fewer than 2
    rows). Stratified, each class holds out the count scikit-learn's
    stratified ``train_test_split`` would (its ``_approximate_mode`` of the
    class counts, training part first, ties broken by
    ``RandomState(seed)``: the counts ``train_test_split(...,
    stratify=y, random_state=RandomState(seed))`` holds out), spread over
    the chunks in chunk order in proportion to the class's rows in each
    (:func:`_spread`); the plan gives one count per class. Unstratified, the
    total is spread over the chunks in proportion to their sizes. Only
    counts travel: the plan depends on the chunks, never on the workers.

    Parameters
    ----------
    fraction : float
        validation_fraction.
    seed : int
        The fit's validation seed (from its random_state).
    sizes : dict
        Chunk index -> rows.
    class_counts : dict or None
        Chunk index -> rows of each class (classes in sorted order).

    Returns
    -------
    plan : dict
        Chunk index -> a count, or an array of one count per class.
    """
    order = sorted(sizes)
    n_samples = sum(sizes[i] for i in order)
    totals = None if class_counts is None else sum(class_counts[i] for i in order)
    n_val, stratified = validation_size(n_samples, fraction, totals)
    if not stratified:
        return dict(zip(order, _spread(n_val, [sizes[i] for i in order])))
    rng = np.random.RandomState(seed)
    # As StratifiedShuffleSplit: the training counts first, then the held-out
    # ones, with scikit-learn's own (private) allocation, which it has no
    # public form of: the counts then are train_test_split's.
    n_train = _approximate_mode(totals, n_samples - n_val, rng)
    n_test = _approximate_mode(totals - n_train, n_val, rng)
    per_class = [
        _spread(n_test[c], [class_counts[i][c] for i in order]) for c in range(len(totals))
    ]
    return {i: np.array([counts[k] for counts in per_class]) for k, i in enumerate(order)}


def held_out(spec, chunk):
    """Sorted chunk-local positions of the chunk's rows held out, or None.

    Drawn from ``default_rng([validation seed, chunk index])``: the first
    rows of its permutation of the chunk (of each class, when the plan is
    per class). The rows depend on the seed, the chunk and the plan only,
    not on the workers or the placement. They are not the rows the
    in-memory ``train_test_split`` would pick on the same data (that would
    need all the labels in one place), only as many of each class.
    """
    if spec.held_out is None:
        return None
    plan = spec.held_out[chunk.index]
    order = np.random.default_rng([spec.validation_seed, chunk.index]).permutation(chunk.n_rows)
    if np.ndim(plan) == 0:
        return np.sort(order[:plan])
    codes = spec.targets.codes(chunk.y[order])
    grouped = np.argsort(codes, kind="stable")  # by class, in the permutation's order
    codes = codes[grouped]
    rank = np.arange(len(codes)) - np.searchsorted(codes, codes)  # position within its class
    return np.sort(order[grouped[rank < plan[codes]]])


def split_rows(spec, chunk, class_weights=True):
    """The chunk's training and held-out rows with their weights.

    Returns ``(train, val, y, s, y_val, s_val)``: positions (None: all rows,
    none held out), targets, and the sample weights, times the class weights
    unless `class_weights` is False (None when there are neither).
    """
    y, s = chunk.y, chunk.sample_weight
    if class_weights:
        s = spec.targets.row_weights(y, s)
    val = held_out(spec, chunk)
    if val is None:
        return None, None, y, s, None, None
    train = np.setdiff1d(np.arange(chunk.n_rows), val)
    s_val = None if s is None else s[val]
    return train, val, y[train], None if s is None else s[train], y[val], s_val


def split_summary(chunk, spec):
    """What the client needs from a chunk's split (before any actor exists).

    ``"terms"``: ``(training weight sum, training rows, held-out rows)``, the
    training weights with the targets' class weights, as the actor's
    ``weight_sums`` will give them; ``"raw"`` and ``"raw_val"``: the sample
    weight sums of the training and the held-out rows; ``"counts"`` and
    ``"weights"``: per class (per label and value) the training rows and
    their sample weight sums, for 'balanced' class weights.
    """
    _, val, y, s, _, s_val = split_rows(spec, chunk, class_weights=False)
    counts, weights = spec.targets.class_sums(y, s)
    n_val = 0 if val is None else len(val)
    weighted = spec.targets.row_weights(y, s)  # the split's rows, drawn once
    return {
        "terms": (chunk_weight_sum(weighted, len(y)), len(y), n_val),
        "raw": chunk_weight_sum(s, len(y)),
        "raw_val": chunk_weight_sum(s_val, n_val),
        "counts": counts,
        "weights": weights,
    }
