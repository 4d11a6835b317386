"""scikit-learn's estimator checks, on the default and on other configurations."""

import pytest
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from skmlp import BackpropMLPClassifier

# check_estimator as a user calls it, on the default and these settings. The
# canonical training rows (skmlp/_rows.py) make a fit with integer sample
# weights bit-identical to one on repeated rows, so the sample-weight
# equivalence checks pass exactly, without expected failures.
# 'bfgs' keeps a dense inverse Hessian and scipy updates it with two
# n_params^3 products per iteration (44 ms at the default 853 parameters on
# the checks' 30 features, 15 s per check): it gets a small network, as its
# documentation advises; the checks are the same.
CHECK_ESTIMATOR_PARAMS = [
    {},
    {"solver": "tnc"},
    {"solver": "cg"},
    {"solver": "bfgs", "hidden_layer_sizes": (5,)},
    {"solver": "newton-cg"},
    {"solver": "trust-ncg"},
    {"out_activation": "softmax"},
    {"hidden_layer_sizes": (8, 6), "activation": "tanh"},
    {"activation": "relu"},
]

# Further configurations, check by check.
CONFIGURATIONS = [
    BackpropMLPClassifier(class_weight="balanced"),
    BackpropMLPClassifier(early_stopping=True),
]
# The second-order solvers, check by check: the slowest checks (the slow lane).
# Levenberg-Marquardt with the evidence's alpha fits the checks' separable
# blobs with logits beyond 17 (the evidence lets alpha fall there), where
# float32 probabilities would round to 1 (see test_predict.py).
# Newton-CG with Gauss-Newton curvature runs out of its 200 iterations on the
# checks' blobs (6800 Hessian-vector products, 1.4 s per fit; the exact
# Hessian converges in 26 iterations): 50 reach the same accuracy, and the
# checks are the same.
# Levenberg-Marquardt likewise runs at most 50 (at the default 200 its two
# sample-weight checks took 27 s of the suite).
SOLVER_CONFIGURATIONS = [
    BackpropMLPClassifier(solver="trust-krylov"),
    BackpropMLPClassifier(solver="newton-cg", curvature="gauss-newton", max_iter=50),
    BackpropMLPClassifier(solver="lm", alpha="evidence", max_iter=50),
]

# Early stopping splits off its validation rows before the rows are made
# canonical, from the rows as given: the weighted fit and the repeated-row fit
# hold out different rows, so they train on different data.
SAMPLE_WEIGHT_CHECKS = (
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
)
EARLY_STOPPING_REASON = (
    "early stopping holds out rows as given: repeated rows and integer weights "
    "give different validation splits"
)


def expected_failed_checks(estimator):
    if estimator.early_stopping:
        return dict.fromkeys(SAMPLE_WEIGHT_CHECKS, EARLY_STOPPING_REASON)
    return {}


# The checks fit tiny random problems with default budgets: not converging
# there is expected and says nothing about the API being checked.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CONFIGURATIONS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(SOLVER_CONFIGURATIONS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_second_order_solvers(estimator, check):
    check(estimator)


# on_skip="warn" (the default) reports the array-API checks that need
# SCIPY_ARRAY_API as SkipTestWarning.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_default():
    check_estimator(BackpropMLPClassifier())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("params", CHECK_ESTIMATOR_PARAMS[1:], ids=str)
def test_check_estimator(params):
    check_estimator(BackpropMLPClassifier(**params))
