"""scikit-learn's estimator checks, on the default and on other configurations."""

import pytest
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from skmlp import BackpropMLPClassifier

CONFIGURATIONS = [
    BackpropMLPClassifier(),
    *(
        BackpropMLPClassifier(solver=s)
        for s in ("tnc", "cg", "bfgs", "newton-cg", "trust-ncg", "trust-krylov")
    ),
    BackpropMLPClassifier(solver="newton-cg", curvature="gauss-newton"),
    BackpropMLPClassifier(out_activation="softmax"),
    BackpropMLPClassifier(hidden_layer_sizes=(8, 6), activation="tanh"),
    BackpropMLPClassifier(activation="relu"),
    BackpropMLPClassifier(early_stopping=True),
    BackpropMLPClassifier(class_weight="balanced"),
]

# These two checks compare a fit with integer sample weights against a fit on
# repeated rows at rtol 1e-7. The objectives are equal in exact arithmetic, but
# the sums run in another order, so the iterates differ by rounding and the
# solver stops, within tol, at a slightly different point (MLPClassifier fails
# them too). Whether the two runs happen to stop at the same point depends on
# the configuration (the quadratically converging Newton solvers often do), so
# they are marked expected-to-fail exactly when they fail, with this reason;
# test_classifier.py::test_sample_weight_equivalence checks the property at
# the solver's tolerance.
SAMPLE_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)
SAMPLE_WEIGHT_REASON = (
    "weighted and repeated-row fits agree only to the solver's tolerance, "
    "not to rtol 1e-7; see test_sample_weight_equivalence"
)


# The checks fit tiny random problems with default budgets: not converging
# there is expected and says nothing about the API being checked.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible(estimator, check):
    if check.func.__name__ not in SAMPLE_WEIGHT_CHECKS:
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError as error:
        assert "not equivalent to fitting with removed or repeated" in str(error)
        pytest.xfail(SAMPLE_WEIGHT_REASON)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_check_estimator_default():
    check_estimator(
        BackpropMLPClassifier(),
        expected_failed_checks=dict.fromkeys(SAMPLE_WEIGHT_CHECKS, SAMPLE_WEIGHT_REASON),
        on_skip=None,
    )
