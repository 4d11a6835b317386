"""Saving and loading: pickle, joblib, skops; damaged files fail clearly."""

import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import skops.io as sio
from _helpers import assert_views_of_one_vector, layer_sizes, parameters, shares_parameters
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from skmlp import BackpropMLPClassifier
from skmlp._validation import check_parameters

README = Path(__file__).resolve().parents[1] / "README.md"

# What a skops file of an skmlp model holds beyond skops' default trusted
# types (numpy, scipy, scikit-learn and builtins): the estimator class only.
TRUSTED_TYPES = ["skmlp._classifier.BackpropMLPClassifier"]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _binary(X, y):
    labels = np.array(["setosa", "other"])[(y > 0).astype(int)]
    return BackpropMLPClassifier(hidden_layer_sizes=(4,), max_iter=1000, random_state=0), X, labels


def _multiclass_softmax(X, y):
    clf = BackpropMLPClassifier(
        hidden_layer_sizes=(6, 5), activation="tanh", out_activation="softmax", random_state=1
    )
    return clf.set_params(max_iter=1000), X, y


def _multilabel(X, y):
    Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    return BackpropMLPClassifier(max_iter=1000, random_state=2), X, Y


def _float32_sparse(X, y):
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0).astype(np.float32))
    # tol=1e-4: float32 rounding keeps L-BFGS-B's gradient near 1e-5 (it stalls there).
    return BackpropMLPClassifier(max_iter=1000, tol=1e-4, random_state=3), Xs, y


def _no_hidden_layer(X, y):
    return BackpropMLPClassifier(hidden_layer_sizes=(), max_iter=1000, random_state=4), X, y


def _pipeline_with_names(X, y):
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    pipe = make_pipeline(
        StandardScaler(), BackpropMLPClassifier(early_stopping=True, max_iter=1000, random_state=5)
    )
    return pipe, frame, y


CASES = {
    "binary-str": _binary,
    "multiclass-softmax": _multiclass_softmax,
    "multilabel": _multilabel,
    "float32-sparse": _float32_sparse,
    "no-hidden-layer": _no_hidden_layer,
    "pipeline-feature-names": _pipeline_with_names,
}


@pytest.fixture(scope="module", params=list(CASES))
def fitted(request, iris):
    """A fitted model of each kind, with the data to predict on."""
    est, X, y = CASES[request.param](*iris)
    return est.fit(X, y), X


def _methods(est):
    names = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
    return [name for name in names if hasattr(est, name)]


def assert_predicts_identically(loaded, original, X):
    assert type(loaded) is type(original)
    for name in _methods(original):
        expected = getattr(original, name)(X)
        got = getattr(loaded, name)(X)
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected, err_msg=name)


def _mlp(est):
    return est[-1] if hasattr(est, "steps") else est


def _pickle_round_trip(est, tmp_path):
    return pickle.loads(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))


def _joblib_round_trip(est, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(est, path, compress=3)
    return joblib.load(path)


@pytest.mark.parametrize("round_trip", [_pickle_round_trip, _joblib_round_trip])
def test_pickle_and_joblib_round_trips_predict_identically(fitted, round_trip, tmp_path):
    est, X = fitted
    loaded = round_trip(est, tmp_path)
    assert_predicts_identically(loaded, est, X)
    mlp, original = _mlp(loaded), _mlp(est)
    # The flat-vector design survives: a new vector, coefs_ still views of it.
    assert not shares_parameters(mlp, original)
    assert mlp._layer_sizes == original._layer_sizes  # the stored state, as stored
    assert_views_of_one_vector(mlp)
    assert_array_equal(mlp.classes_, original.classes_)
    assert mlp.loss_curve_ == original.loss_curve_
    check_parameters(mlp)


def test_skops_needs_exactly_the_documented_trusted_types(fitted, tmp_path):
    est, X = fitted
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    assert sio.get_untrusted_types(file=path) == TRUSTED_TYPES
    # Secure by default: nothing outside the defaults loads unless trusted.
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=TRUSTED_TYPES)
    assert_predicts_identically(loaded, est, X)
    check_parameters(_mlp(loaded))


def test_readme_and_docs_list_the_trusted_types():
    guide = README.parent / "docs" / "user_guide" / "persistence.rst"
    readme = README.read_text()
    saving = readme.split("## Saving models", 1)[1].split("\n## ", 1)[0]
    for section in [saving, guide.read_text()]:
        for name in TRUSTED_TYPES:
            assert f"`{name}`" in section
        # Every skmlp type named as trusted is one skops asks for.
        named = set(re.findall(r"`(skmlp\.[\w.]+)`", section))
        named.discard("skmlp.BackpropMLPClassifier")  # the public name, said to be the same
        assert named == set(TRUSTED_TYPES)


# ------------------------------------------------------------ damaged state


@pytest.fixture(scope="module")
def multiclass(iris):
    X, y = iris
    return BackpropMLPClassifier(hidden_layer_sizes=(5,), max_iter=1000, random_state=0).fit(X, y)


def _edit_skops(path, edit):
    """Rewrite a skops file with ``edit(schema, arrays)`` applied to its content.

    `arrays` maps the names of the stored .npy members to their arrays.
    """
    with zipfile.ZipFile(path) as z:
        schema = json.loads(z.read("schema.json"))
        arrays = {
            name: np.load(io.BytesIO(z.read(name)), allow_pickle=False)
            for name in z.namelist()
            if name.endswith(".npy")
        }
    edit(schema, arrays)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            z.writestr(name, buffer.getvalue())


def _attribute_node(schema, name):
    return schema["content"]["content"][name]


def _truncate_theta(schema, arrays):
    member = _attribute_node(schema, "_theta")["file"]
    arrays[member] = arrays[member][:-3]


def _widen_last_layer(schema, arrays):
    sizes = _attribute_node(schema, "_layer_sizes")["content"]
    sizes[-1]["content"] = json.dumps(json.loads(sizes[-1]["content"]) + 1)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_truncate_theta, r"_theta has 40 elements but layer sizes \(4, 5, 3\) need 43"),
        (_widen_last_layer, r"_theta has 43 elements but layer sizes \(4, 5, 4\) need 49"),
    ],
)
def test_damaged_skops_file_fails_clearly_at_predict(multiclass, tmp_path, edit, match):
    X = load_iris().data
    path = tmp_path / "model.skops"
    sio.dump(multiclass, path)
    _edit_skops(path, edit)
    loaded = sio.load(path, trusted=TRUSTED_TYPES)
    with pytest.raises(ValueError, match=match):
        check_parameters(loaded)
    for name in _methods(loaded):
        with pytest.raises(ValueError, match=match):
            getattr(loaded, name)(X)


def _set(name, value):
    def damage(est):
        setattr(est, name, value(est) if callable(value) else value)

    return damage


def _relabel(classes):
    def damage(est):
        binarizer = LabelBinarizer().fit(classes)
        est._label_binarizer = binarizer  # the damage: a binarizer of other classes
        est.classes_ = binarizer.classes_

    return damage


def _delete(name):
    def damage(est):
        delattr(est, name)

    return damage


# (damage, message) for the 3-class, (4, 5, 3) model; each message names the
# inconsistency.
DAMAGES = {
    "theta-truncated": (
        _set("_theta", lambda e: parameters(e)[:-1]),
        r"_theta has 42 elements .* 43",
    ),
    "theta-too-long": (
        _set("_theta", lambda e: np.append(parameters(e), 0.0)),
        r"has 44 .* need 43",
    ),
    "theta-2d": (_set("_theta", lambda e: parameters(e).reshape(1, 43)), r"_theta must be 1-D"),
    "theta-float32": (
        _set("_theta", lambda e: parameters(e).astype(np.float32)),
        r"_theta must have dtype float64, got float32",
    ),
    "theta-nan": (
        _set("_theta", lambda e: np.where(np.arange(43) == 7, np.nan, parameters(e))),
        r"_theta contains 1 non-finite",
    ),
    "theta-list": (_set("_theta", lambda e: list(parameters(e))), r"_theta must be a numpy array"),
    "theta-missing": (_delete("_theta"), r"fitted attributes \['_theta'\] are missing"),
    "sizes-input": (_set("_layer_sizes", (3, 5, 3)), r"3 input units but n_features_in_ is 4"),
    "sizes-zero": (_set("_layer_sizes", (4, 0, 3)), r"_layer_sizes must hold .* positive"),
    "sizes-float": (_set("_layer_sizes", (4, 5.0, 3)), r"_layer_sizes must hold .* integers"),
    "sizes-short": (_set("_layer_sizes", (4,)), r"_layer_sizes must hold at least 2"),
    "sizes-string": (_set("_layer_sizes", "453"), r"_layer_sizes must be a sequence"),
    "sizes-theta-mismatch": (
        _set("_layer_sizes", (4, 6, 3)),
        r"_theta has 43 elements but layer sizes \(4, 6, 3\) need 51",
    ),
    "classes-more": (_relabel([0, 1, 2, 3]), r"3 output units but 4 classes need 4"),
    "classes-binary": (_relabel(["a", "b"]), r"3 output units but 2 classes need 1"),
    "classes-vs-binarizer": (
        _set("classes_", np.array([0, 1, 5])),
        r"classes_ .* differ from the label binarizer's classes",
    ),
    "classes-2d": (_set("classes_", lambda e: e.classes_[None, :]), r"classes_ must be a 1-D"),
    "n-outputs": (_set("n_outputs_", 4), r"n_outputs_ is 4 but _layer_sizes"),
    "n-layers": (_set("n_layers_", 2), r"n_layers_ is 2 but _layer_sizes"),
    "out-activation": (_set("out_activation_", "sigmoid"), r"out_activation_ must be one of"),
    "activation": (_set("activation_", "gelu"), r"activation_ must be one of .*'gelu'"),
    "binarizer-missing": (
        _set("_label_binarizer", None),
        r"_label_binarizer must be a LabelBinarizer, got NoneType",
    ),
}


@pytest.fixture(params=list(DAMAGES))
def damaged(request, multiclass):
    damage, match = DAMAGES[request.param]
    est = pickle.loads(pickle.dumps(multiclass))
    damage(est)
    return est, match


def test_check_parameters_names_the_inconsistency(damaged):
    est, match = damaged
    with pytest.raises(ValueError, match=match) as error:
        check_parameters(est)
    assert "stored state is inconsistent" in str(error.value)


def test_predict_on_damaged_model_raises_clear_value_error(damaged, iris):
    est, match = damaged
    X = iris[0][:5]
    for name in _methods(est):
        with pytest.raises(ValueError, match=match):
            getattr(est, name)(X)


def test_check_parameters_accepts_every_healthy_model(fitted):
    est, _ = fitted
    mlp = _mlp(est)
    layout = check_parameters(mlp)
    assert layout.layer_sizes == layer_sizes(mlp)
    assert layout.n_params == parameters(mlp).size


@pytest.mark.parametrize(
    ("classes", "n_outputs"), [([1, 2], 1), (["x", "y", "z"], 3), (range(1, 11), 10)]
)
def test_check_parameters_on_models_from_thetas(classes, n_outputs):
    rng = np.random.RandomState(0)
    est = BackpropMLPClassifier.from_thetas(
        [rng.normal(size=(7, 4)), rng.normal(size=(n_outputs, 8))], classes=list(classes)
    )
    assert check_parameters(est).layer_sizes == (3, 7, n_outputs)
    # One output unit fewer than the classes need: named, not a reshape error.
    est._layer_sizes = (3, 7, n_outputs + 1)
    est._theta = np.zeros(3 * 7 + 7 * (n_outputs + 1) + 7 + n_outputs + 1)
    with pytest.raises(ValueError, match=f"{n_outputs + 1} output units but"):
        check_parameters(est)
