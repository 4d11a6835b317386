"""The target strategy: what an estimator's y is, how it is encoded and scored.

A fit meets its targets only through one of these objects, in memory and on a
cluster alike, so that the engine (chunks, executors, solvers) knows nothing
of classes or labels. A strategy is built from the estimator's parameters,
fitted on summaries of the targets (one per chunk, or one for all rows in
memory) and then:

- checks a chunk of targets (:meth:`check`) and summarizes it
  (:meth:`summarize`), so that a cluster never gathers its labels;
- gives the output layer (:attr:`n_outputs`, :attr:`out_activation`,
  :meth:`loss`) and encodes targets for it (:meth:`encode`);
- weights rows (:meth:`fit_class_weight` from per-class row counts and weight
  sums, :meth:`row_weights`);
- gives the per-chunk class counts a stratified split keeps (:meth:`strata`);
- scores held-out rows by sufficient statistics (:meth:`validation_terms`, one
  per chunk, added in chunk order) and a combine step
  (:meth:`validation_score`);
- stores what a fitted estimator predicts with (:meth:`fitted_attributes`).

:class:`ClassTargets` serves the classifier, :class:`RegressionTargets` the
regressor; a new kind of target is one more class with these methods.
"""

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ._losses import get_loss
from ._validation import InconsistentState, plain_value


def _balanced(counts, weights):
    """'balanced' weights ``S / (n_present * S_c)`` of the classes present; 1 for the absent."""
    out = np.ones(len(counts))
    present = counts > 0
    labels = np.flatnonzero(present)
    # compute_class_weight on the labels, each once, weighted by their rows'
    # weight sums: scikit-learn's formula on all the rows.
    out[present] = compute_class_weight(
        "balanced", classes=labels, y=labels, sample_weight=weights[present]
    )
    return out


def _check_class_weight_keys(class_weight, classes):
    """Refuse class_weight keys that are not classes, naming them and the classes.

    As scikit-learn's ``compute_class_weight``, keys that are not classes are
    an error only when some class has no weight: a class weight for a class
    absent from one cross-validation fold does no harm.
    """
    known = set(plain_value(classes))
    unknown = [key for key in class_weight if plain_value(key) not in known]
    unweighted = [c for c in classes if c not in class_weight]
    if unknown and unweighted:
        raise ValueError(
            f"class_weight has keys {plain_value(unknown)} that are not classes of y: "
            f"the classes are {plain_value(classes)} (without a weight: "
            f"{plain_value(unweighted)}). Key the weights by the labels of y."
        )


class ClassTargets:
    """Class labels (1-D) or a binary indicator matrix (multilabel).

    Parameters
    ----------
    out_activation : {'logistic', 'softmax'}
        The requested output units; two classes and multilabel targets use
        one sigmoid per output whatever is requested.
    class_weight : dict, 'balanced' or None
        The estimator's class weights.

    Attributes
    ----------
    binarizer : LabelBinarizer
        Fitted by :meth:`fit`: the classes, in the order of the output units.
    weights : ndarray or None
        The fitted class weights (:meth:`fit_class_weight`): one per class,
        or for multilabel targets one per label and value (n_labels, 2).
    """

    # The fitted estimator's attributes this strategy keeps (fitted_attributes).
    FITTED_ATTRIBUTES = ("_label_binarizer", "classes_")
    y_numeric = False  # labels keep their type
    OUT_ACTIVATIONS = ("logistic", "softmax")
    Y_TYPES = ("binary", "multiclass", "multilabel-indicator")

    def __init__(self, out_activation="logistic", class_weight=None):
        self.requested = out_activation
        self.class_weight = class_weight
        self.binarizer = None
        self.weights = None

    @classmethod
    def for_estimator(cls, estimator):
        """The strategy an estimator's parameters ask for (its class_weight checked)."""
        class_weight = estimator.class_weight
        if isinstance(class_weight, dict):
            bad = {k: v for k, v in class_weight.items() if not 0 <= v < np.inf}
            if bad:
                shown = ", ".join(
                    f"class {plain_value(k)}: {plain_value(v)}" for k, v in bad.items()
                )
                raise ValueError(
                    "class_weight must be non-negative and finite, as sample weights are; "
                    f"got {shown}."
                )
        return cls(estimator.out_activation, class_weight)

    @classmethod
    def fitted(cls, estimator):
        """The strategy a fitted classifier predicts and weighs rows with."""
        targets = cls(estimator.out_activation_, estimator.class_weight)
        targets.binarizer = estimator._label_binarizer
        return targets

    @classmethod
    def check_fitted(cls, estimator, n_outputs):
        """The stored classes, binarizer and output units agree with `n_outputs` units.

        Raises :class:`~skmlp._validation.InconsistentState` naming what disagrees.
        """
        classes = estimator.classes_
        if not isinstance(classes, np.ndarray) or classes.ndim != 1:
            raise InconsistentState(f"classes_ must be a 1-D array, got {type(classes).__name__}")
        binarizer = getattr(estimator, "_label_binarizer", None)
        if not isinstance(binarizer, LabelBinarizer):
            raise InconsistentState(
                f"_label_binarizer must be a LabelBinarizer, got {type(binarizer).__name__}"
            )
        binarizer_classes = getattr(binarizer, "classes_", None)
        y_type = getattr(binarizer, "y_type_", None)
        if binarizer_classes is None or y_type not in cls.Y_TYPES:
            raise InconsistentState(
                f"_label_binarizer is not fitted on class labels (y_type_ {y_type!r})"
            )
        if len(binarizer_classes) != len(classes) or not np.array_equal(
            binarizer_classes, classes
        ):
            raise InconsistentState(
                f"classes_ {plain_value(classes)} differ from the label binarizer's "
                f"classes {plain_value(binarizer_classes)}"
            )
        if len(classes) < 2:
            raise InconsistentState(f"classes_ must hold at least 2 labels, got {len(classes)}")
        if len(np.unique(classes)) != len(classes):
            raise InconsistentState(f"classes_ {plain_value(classes)} repeat a label")
        if y_type == "multilabel-indicator":
            if not np.array_equal(classes, np.arange(len(classes))):
                raise InconsistentState(
                    "a multilabel binarizer's classes are the label indices 0..n-1, got "
                    f"{plain_value(classes)}"
                )
            expected, rule = len(classes), f"{len(classes)} labels (multilabel) need"
        else:
            expected = 1 if len(classes) == 2 else len(classes)
            rule = f"{len(classes)} classes need"
        if n_outputs != expected:
            raise InconsistentState(
                f"the network has {n_outputs} output units but {rule} {expected}"
            )
        out_activation = getattr(estimator, "out_activation_", None)
        if out_activation not in cls.OUT_ACTIVATIONS:
            raise InconsistentState(
                f"out_activation_ must be one of {cls.OUT_ACTIVATIONS}, got {out_activation!r}"
            )
        if out_activation == "softmax" and n_outputs == 1:
            raise InconsistentState(
                "out_activation_ is 'softmax' but the network has one output unit"
            )

    def check_warm_start(self, estimator):
        """A warm start needs the classes of the previous fit."""
        if not np.array_equal(self.classes, estimator.classes_):
            raise ValueError(
                "warm_start=True needs the same classes as the previous "
                f"fit: got {np.asarray(self.classes).tolist()}, previously "
                f"{estimator.classes_.tolist()}. "
                "Set warm_start=False to fit from scratch."
            )

    def check_known(self, y):
        """Labels among the fitted classes (a clear error otherwise)."""
        if y.ndim == 1:
            unknown = np.setdiff1d(y, self.classes)
            if unknown.size:
                raise ValueError(f"y contains labels not seen in fit: {unknown}.")
        return y

    # ------------------------------------------------------- fitting

    @staticmethod
    def check(y):
        """Targets a classifier can learn (scikit-learn's check); 1-D for a column."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        check_classification_targets(y)
        return y

    @staticmethod
    def summarize(y):
        """What fitting needs of a chunk's targets: its labels and their counts.

        ``{"kind": "labels", "labels", "counts"}`` for 1-D labels, ``{"kind":
        type_of_target, "width"}`` for an indicator matrix.
        """
        if y.ndim == 2:
            return {"kind": type_of_target(y), "width": y.shape[1]}
        labels, counts = np.unique(y, return_counts=True)
        return {"kind": "labels", "labels": labels, "counts": counts}

    def fit(self, summaries):
        """Fit the classes on the chunks' summaries (:meth:`summarize`)."""
        kinds = {s["kind"] for s in summaries}
        if kinds == {"multilabel-indicator"}:
            # What LabelBinarizer fitted on the whole indicator matrix holds.
            width = summaries[0]["width"]
            self.binarizer = LabelBinarizer().fit(np.eye(max(width, 2), width, dtype=int))
        elif kinds - {"labels"}:
            raise ValueError(
                f"Targets must be 1-D labels or a binary indicator matrix; got {sorted(kinds)}."
            )
        else:
            classes = np.unique(np.concatenate([s["labels"] for s in summaries]))
            self.binarizer = LabelBinarizer().fit(classes)
        self._check_learnable()
        return self

    def fit_y(self, y):
        """Fit the classes on all the targets at once (in memory)."""
        self.binarizer = LabelBinarizer().fit(y)
        self._check_learnable()
        return self

    def _check_learnable(self):
        """Two classes or more; multilabel targets need logistic outputs."""
        if len(self.classes) < 2:
            raise ValueError(
                "BackpropMLPClassifier needs samples of at least 2 classes in "
                f"the data, but the data contain only one class: "
                f"{plain_value(self.classes[0])}."
            )
        if self.multilabel and self.requested == "softmax":
            raise ValueError(
                "Multilabel targets need out_activation='logistic' (one "
                "independent sigmoid per label); 'softmax' makes the labels "
                "mutually exclusive."
            )

    @property
    def classes(self):
        return self.binarizer.classes_

    @property
    def multilabel(self):
        return self.binarizer.y_type_ == "multilabel-indicator"

    @property
    def n_outputs(self):
        """Output units: one for two classes, one per class or label otherwise."""
        n_classes = len(self.classes)
        return n_classes if self.multilabel or n_classes > 2 else 1

    @property
    def out_activation(self):
        """The output units used: the requested ones, or logistic where only they fit."""
        return "logistic" if self.n_outputs == 1 or self.multilabel else self.requested

    def loss(self):
        """The output loss (:mod:`skmlp._losses`)."""
        return get_loss(self.out_activation, self.n_outputs)

    def encode(self, y):
        """The binary output targets of the rows, (n_rows, n_outputs).

        Sparse CSR (one entry per row at most) for class labels, so that
        memory does not grow with rows x classes; an indicator matrix stays
        as given (dense).
        """
        if self.multilabel:
            return self.binarizer.transform(y)
        codes = self.codes(y)
        if self.n_outputs == 1:  # the positive class is the second
            rows = np.flatnonzero(codes == 1)
            columns = np.zeros(len(rows), dtype=np.intp)
        else:
            rows, columns = np.arange(len(y)), codes
        ones = np.ones(len(rows), dtype=np.int64)
        return sp.csr_matrix((ones, (rows, columns)), shape=(len(y), self.n_outputs))

    def strata(self, summaries):
        """Each chunk's rows per class, in class order (None for multilabel: no strata)."""
        if self.multilabel:
            return None
        out = []
        for summary in summaries:
            counts = np.zeros(len(self.classes), dtype=np.int64)
            counts[np.searchsorted(self.classes, summary["labels"])] = summary["counts"]
            out.append(counts)
        return out

    def codes(self, y):
        """Each row's class index."""
        return np.searchsorted(self.classes, y)

    # --------------------------------------------------- class weights

    def class_sums(self, y, s):
        """Rows and weight sums of each class (of each label's 0 and 1 for multilabel).

        `s` the rows' sample weights (None: ones). What :meth:`fit_class_weight`
        needs, added over the chunks.
        """
        if y.ndim == 1:
            codes, width = self.codes(y), len(self.classes)
            weights = np.bincount(codes, s, minlength=width).astype(np.float64)
            return np.bincount(codes, minlength=width), weights
        columns = (y != 0).astype(np.intp).T
        counts = np.array([np.bincount(c, minlength=2) for c in columns])
        weights = [np.bincount(c, s, minlength=2).astype(np.float64) for c in columns]
        return counts, np.array(weights)

    def fit_class_weight(self, counts, weights):
        """Fit the class weights on the training rows' per-class counts and weight sums.

        'balanced' counts each class by its rows' sample weights: ``S /
        (n_classes * S_c)`` (per label and value for multilabel targets), so
        that a row repeated k times and a row of weight k count alike. A
        dict gives each class its weight (keys that are not classes named,
        see :func:`_check_class_weight_keys`; scikit-learn's error for
        multilabel targets).
        """
        class_weight = self.class_weight
        if class_weight is None:
            self.weights = None
        elif counts.ndim == 2:
            if class_weight != "balanced":
                compute_sample_weight(class_weight, np.zeros((1, len(counts))))  # raises
            self.weights = np.array([_balanced(c, w) for c, w in zip(counts, weights)])
        elif class_weight == "balanced":
            self.weights = _balanced(counts, weights)
        else:
            _check_class_weight_keys(class_weight, self.classes)
            self.weights = np.asarray(
                compute_class_weight(class_weight, classes=self.classes, y=self.classes),
                np.float64,
            )
        return self

    def row_weights(self, y, s=None):
        """The sample weights `s` (None: ones) times the rows' class weights.

        None when there are neither. Multilabel: the product over the labels,
        in label order, of each label's weight for the row's value. A product
        that overflows is inf (no warning): the fit's weight sum refuses it.
        """
        weights = self.weights
        if weights is None:
            return s
        with np.errstate(over="ignore"):
            if y.ndim == 1:
                row = weights[self.codes(y)]  # a class without training rows weighs 1
            else:
                row = np.ones(len(y))
                for label in range(y.shape[1]):
                    row *= weights[label][(y[:, label] != 0).astype(np.intp)]
            return row if s is None else s * row

    # ------------------------------------------------------- scoring

    def decode(self, logits):
        """The labels the logits (n_rows, n_outputs) predict."""
        return self.binarizer.inverse_transform(logits, threshold=0.0)

    def validation_terms(self, logits, y, w):
        """Sufficient statistics of the accuracy on some held-out rows.

        ``[weight of the rows predicted right, weight of the rows]`` (`w`
        None: each row weighs 1); add them over the chunks in chunk order.
        """
        return np.array(self.score_terms(self.decode(logits), y, w), dtype=np.float64)

    @staticmethod
    def score_terms(y_pred, y, w):
        """The sums of the accuracy of predictions `y_pred` (numpy or dask arrays)."""
        right = y_pred == y
        if right.ndim == 2:  # multilabel: a row is right when all its labels are
            right = right.all(axis=1)
        if w is None:
            return right.sum(), right.shape[0]
        return (right * w).sum(), w.sum()

    @staticmethod
    def score_from(terms):
        """The accuracy from the :meth:`score_terms`."""
        right, total = terms
        return float(right / total)

    @staticmethod
    def validation_score(terms):
        """The weighted accuracy from the added :meth:`validation_terms`."""
        right, total = terms
        if not total > 0:  # what accuracy_score raises
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return float(right / total)

    def fitted_attributes(self):
        """The attributes a fitted estimator predicts with."""
        return {
            "_label_binarizer": self.binarizer,
            "classes_": self.classes,
            "out_activation_": self.out_activation,
        }


class RegressionTargets:
    """Numeric targets, one column per output (1-D y: one output).

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}
        The regressor's loss: identity outputs, or exponential outputs (log
        link) for non-negative targets.
    """

    FITTED_ATTRIBUTES = ()
    OUT_ACTIVATIONS: ClassVar[dict] = {"squared_error": "identity", "poisson": "exp"}
    y_numeric = True
    class_weight = None  # no class weights: row_weights leaves the weights as they are

    def __init__(self, loss="squared_error"):
        self.loss_name = loss
        self.n_outputs = None

    @classmethod
    def for_estimator(cls, estimator):
        """The strategy an estimator's parameters ask for."""
        return cls(estimator.loss)

    @classmethod
    def fitted(cls, estimator):
        """The strategy a fitted regressor predicts with (its stored state)."""
        losses = {v: k for k, v in cls.OUT_ACTIVATIONS.items()}
        targets = cls(losses[estimator.out_activation_])
        targets.n_outputs = estimator.n_outputs_
        return targets

    @classmethod
    def check_fitted(cls, estimator, n_outputs):
        """The stored output units are a regressor's."""
        out_activation = getattr(estimator, "out_activation_", None)
        if out_activation not in cls.OUT_ACTIVATIONS.values():
            raise InconsistentState(
                f"out_activation_ must be one of {sorted(cls.OUT_ACTIVATIONS.values())}, "
                f"got {out_activation!r}"
            )

    def check_warm_start(self, estimator):
        """The network shape (checked by the caller) is all a warm start needs."""

    def check(self, y):
        """Finite numeric targets, 1-D or 2-D; non-negative for the Poisson loss."""
        y = np.asarray(y)
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
        if y.dtype.kind not in "fiub":
            raise ValueError(f"y must be numeric for a regressor, got dtype {y.dtype}.")
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if self.loss_name == "poisson" and np.any(y < 0):
            raise ValueError(
                "loss='poisson' needs non-negative targets y (counts or rates); "
                f"got a minimum of {plain_value(np.min(y))}."
            )
        return y

    check_known = check

    @staticmethod
    def summarize(y):
        """What fitting needs of a chunk's targets: their width."""
        return {"kind": "numeric", "width": 1 if y.ndim == 1 else y.shape[1]}

    def fit(self, summaries):
        """Fit the number of outputs on the chunks' summaries."""
        widths = {s["width"] for s in summaries}
        if len(widths) != 1:
            raise ValueError(f"y's chunks have different numbers of columns: {sorted(widths)}.")
        self.n_outputs = widths.pop()
        return self

    def fit_y(self, y):
        """Fit on all the targets at once (in memory)."""
        return self.fit([self.summarize(y)])

    multilabel = False

    @property
    def out_activation(self):
        return self.OUT_ACTIVATIONS[self.loss_name]

    def loss(self):
        """The output loss (:mod:`skmlp._losses`)."""
        return get_loss(self.out_activation, self.n_outputs)

    @staticmethod
    def encode(y):
        """The targets as a (n_rows, n_outputs) float64 array."""
        return np.reshape(np.asarray(y, dtype=np.float64), (len(y), -1))

    @staticmethod
    def strata(summaries):
        """No strata: a regressor's early-stopping split is not stratified."""
        return None

    @staticmethod
    def class_sums(y, s):
        """No classes to count."""
        return None, None

    @staticmethod
    def row_weights(y, s=None):
        """The sample weights as they are (no class weights)."""
        return s

    def decode(self, logits):
        """The predictions from the logits (n_rows, n_outputs); overwrites them."""
        return self.loss().inverse_link(logits)

    @staticmethod
    def score_terms(y_pred, y, w):
        """Sufficient statistics of the weighted R^2 of predictions (numpy or dask arrays).

        Per output: ``sum w, sum w y, sum w y^2, sum w (y - f)^2`` (`w` None:
        each row weighs 1).
        """
        y = y.reshape(y.shape[0], -1).astype(np.float64)
        residual = y - y_pred.reshape(y.shape[0], -1)
        w = (y[:, :1] * 0 + 1) if w is None else w.reshape(-1, 1)
        return (
            (w * (y * 0 + 1)).sum(axis=0),
            (w * y).sum(axis=0),
            (w * y * y).sum(axis=0),
            (w * residual * residual).sum(axis=0),
        )

    def validation_terms(self, logits, y, w):
        """The held-out rows' :meth:`score_terms`, flattened: add them over the chunks."""
        y_pred = self.decode(np.array(logits, dtype=np.float64))
        return np.concatenate(self.score_terms(y_pred, np.asarray(y), w))

    def score_from(self, terms):
        """The R^2 from the :meth:`score_terms`."""
        return self.validation_score(np.concatenate([np.ravel(t) for t in terms]))

    @staticmethod
    def validation_score(terms):
        """The R^2 (averaged over the outputs, as ``r2_score``) from the added terms."""
        weight, wy, wyy, sse = np.reshape(terms, (4, -1))
        if not np.all(weight > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        sst = wyy - wy * wy / weight
        # As r2_score: a constant target scores 1 if predicted exactly, else 0.
        r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.where(sse == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def fitted_attributes(self):
        """The attributes a fitted estimator predicts with."""
        return {"out_activation_": self.out_activation}
