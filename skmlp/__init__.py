"""skmlp: the classic backpropagation network as a scikit-learn estimator."""

from ._classifier import BackpropMLPClassifier
from ._gradcheck import check_gradients
from ._layout import pack, unpack
from ._regressor import BackpropMLPRegressor
from .exceptions import WorkerLostError

__all__ = [
    "BackpropMLPClassifier",
    "BackpropMLPRegressor",
    "WorkerLostError",
    "check_gradients",
    "pack",
    "unpack",
]
__version__ = "0.1.0"
