"""Loaders for the data files of the course's exercise 4.

Exercise 4 ("Neural Networks Learning") of Andrew Ng's Machine Learning
course comes with two MATLAB files in the exercise's materials. skmlp does
not include them: give the loaders the folder where you keep them (or the
file itself), or name the folder in ``SKMLP_EX4_DIR``, which
:func:`find_ex4_dir`, the tests and the examples read:

- ``ex4data1.mat``: ``X``, 5000 x 400, one 20x20 grey-scale digit per row
  with the pixels stored column by column (MATLAB order: show them with
  ``transpose=True`` in :mod:`skmlp.plotting`), and ``y``, 5000 x 1, labels
  1..10 where 10 stands for the digit 0;
- ``ex4weights.mat``: ``Theta1`` (25 x 401) and ``Theta2`` (10 x 26), a
  trained 400-25-10 network, each matrix ``(fan_out, fan_in + 1)`` with the
  bias column first.

The exercise's numbers in a few lines (``folder`` holds both files)::

    import numpy as np
    from skmlp import BackpropMLPClassifier
    from skmlp.ex4 import load_ex4_data, load_ex4_weights

    X, y = load_ex4_data(folder)
    clf = BackpropMLPClassifier.from_thetas(
        load_ex4_weights(folder), classes=np.arange(1, 11), alpha=0
    )
    clf.objective(X, y)                      # J = 0.287629
    clf.set_params(alpha=1).objective(X, y)  # regularized J = 0.383770
    clf.score(X, y)                          # training accuracy 0.9752
"""

import os
from pathlib import Path

import numpy as np
from scipy.io import loadmat, whosmat

DATA_FILE = "ex4data1.mat"
WEIGHTS_FILE = "ex4weights.mat"
#: Environment variable naming the folder that holds the course's files.
ENV_VAR = "SKMLP_EX4_DIR"
#: Height and width of the course's digit images.
IMAGE_SHAPE = (20, 20)


def find_ex4_dir(path=None, *, base=None):
    """The folder that should hold the course's files, or None.

    Parameters
    ----------
    path : str or path-like, default=None
        A folder, or a file in it (e.g. the path to ``ex4data1.mat``). When
        None or empty, the environment variable ``SKMLP_EX4_DIR`` is used.
    base : str or path-like, default=None
        Folder against which a relative path is resolved; None means the
        current working directory.

    Returns
    -------
    folder : pathlib.Path or None
        The absolute folder (it may not exist or may lack the files: the
        loaders say so), or None when neither `path` nor ``SKMLP_EX4_DIR``
        names one.

    Examples
    --------
    >>> from skmlp.ex4 import find_ex4_dir
    >>> find_ex4_dir("data", base="/project").as_posix()
    '/project/data'
    """
    if path is None or os.fspath(path) == "":
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        return None
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        folder = Path(os.getcwd() if base is None else base) / folder
    folder = folder.resolve()
    return folder.parent if folder.is_file() else folder


def load_ex4_data(path, *, zero_label=False):
    """Load the course's digits, ``ex4data1.mat``.

    Parameters
    ----------
    path : str or path-like
        The file, or a folder containing ``ex4data1.mat``.
    zero_label : bool, default=False
        Map the label 10 (the course's name for the digit 0) to 0, so that
        labels are the digits themselves.

    Returns
    -------
    X : ndarray of shape (n_samples, n_pixels), dtype float64
        One image per row, pixels stored column by column (5000 x 400).
    y : ndarray of shape (n_samples,), dtype int64
        Labels as stored, 1..10, or 0..9 with `zero_label`.

    Raises
    ------
    FileNotFoundError
        If the file (or the folder's ``ex4data1.mat``) does not exist.
    ValueError
        If the file is not a readable ``.mat`` file, lacks ``X`` or ``y``,
        or their shapes or labels are not the course's.

    Notes
    -----
    The course's ``Theta2`` has its output units in the order of the labels
    1..10. With ``zero_label=True`` the sorted classes are 0..9, so the unit
    for the digit 0 (the last row of ``Theta2``) must come first::

        Theta1, Theta2 = load_ex4_weights(folder)
        clf = BackpropMLPClassifier.from_thetas(
            [Theta1, np.roll(Theta2, 1, axis=0)], classes=np.arange(10)
        )

    Examples
    --------
    >>> from skmlp.ex4 import load_ex4_data
    >>> X, y = load_ex4_data("path/to/folder")  # doctest: +SKIP
    >>> X.shape, y.shape, y.min(), y.max()  # doctest: +SKIP
    ((5000, 400), (5000,), np.int64(1), np.int64(10))
    """
    file = _mat_file(path, DATA_FILE)
    contents = _read_mat(file, ("X", "y"))
    X = _numeric_matrix(file, "X", contents["X"])
    n_samples = X.shape[0]
    y = np.asarray(contents["y"])
    if y.size != n_samples or (y.ndim == 2 and 1 not in y.shape) or y.ndim > 2:
        raise ValueError(
            f"{file}: y has shape {y.shape}; it must be a vector of "
            f"{n_samples} labels (shape ({n_samples}, 1)), one per row of X."
        )
    y = _numeric(file, "y", y).ravel()
    if not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        raise ValueError(f"{file}: y must hold whole-number labels 1..10.")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise ValueError(
            f"{file}: y holds labels from {y.min():g} to {y.max():g}; the course's "
            "labels are 1..10 (10 stands for the digit 0)."
        )
    y = y.astype(np.int64)
    if zero_label:
        y[y == 10] = 0
    return X, y


def load_ex4_weights(path):
    """Load the course's trained network, ``ex4weights.mat``.

    Parameters
    ----------
    path : str or path-like
        The file, or a folder containing ``ex4weights.mat``.

    Returns
    -------
    thetas : list of two ndarrays, dtype float64
        ``[Theta1, Theta2]`` of shapes ``(25, 401)`` and ``(10, 26)`` for the
        course's file: ``(fan_out, fan_in + 1)``, bias column first, ready
        for :meth:`BackpropMLPClassifier.from_thetas
        <skmlp.BackpropMLPClassifier.from_thetas>`.

    Raises
    ------
    FileNotFoundError
        If the file (or the folder's ``ex4weights.mat``) does not exist.
    ValueError
        If the file is not a readable ``.mat`` file, lacks ``Theta1`` or
        ``Theta2``, or their shapes do not chain into one network.

    Examples
    --------
    >>> from skmlp.ex4 import load_ex4_weights
    >>> Theta1, Theta2 = load_ex4_weights("path/to/folder")  # doctest: +SKIP
    >>> Theta1.shape, Theta2.shape  # doctest: +SKIP
    ((25, 401), (10, 26))
    """
    file = _mat_file(path, WEIGHTS_FILE)
    contents = _read_mat(file, ("Theta1", "Theta2"))
    theta1 = _numeric_matrix(file, "Theta1", contents["Theta1"])
    theta2 = _numeric_matrix(file, "Theta2", contents["Theta2"])
    if theta1.shape[1] < 2:
        raise ValueError(
            f"{file}: Theta1 has shape {theta1.shape}; it needs a bias column "
            "and at least one input column."
        )
    n_hidden = theta1.shape[0]
    if theta2.shape[1] != n_hidden + 1:
        raise ValueError(
            f"{file}: Theta2 has shape {theta2.shape}; after Theta1 of shape "
            f"{theta1.shape} ({n_hidden} hidden units) it must have "
            f"{n_hidden + 1} columns (bias column first)."
        )
    return [theta1, theta2]


def _mat_file(path, name):
    """The file `path`, or `name` inside the folder `path`; it must exist."""
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        file = path / name
        if not file.is_file():
            raise FileNotFoundError(
                f"No {name} in the folder {path}. Put the course's {name} "
                f"there, or pass the path of the file itself."
            )
        return file
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected the course's {name}).")
    return path


def _read_mat(file, keys):
    """The variables `keys` of a MATLAB file, with errors that name it."""
    try:
        contents = loadmat(file, variable_names=list(keys))
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise ValueError(
            f"{file} is a MATLAB v7.3 (HDF5) file, which scipy.io.loadmat cannot "
            "read; save it in MATLAB/Octave with the -v7 option."
        ) from exc
    except Exception as exc:  # scipy raises ValueError, IndexError, MatReadError...
        raise ValueError(f"{file} is not a readable MATLAB .mat file: {exc}") from exc
    missing = [key for key in keys if key not in contents]
    if missing:
        found = sorted(name for name, _, _ in whosmat(file))
        raise ValueError(
            f"{file} has no variable {' or '.join(map(repr, missing))}; it holds "
            f"{found}. Expected the variables {list(keys)}."
        )
    return contents


def _numeric(file, key, value):
    if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
        raise ValueError(f"{file}: {key} must be real numbers, got dtype {value.dtype}.")
    return value.astype(np.float64)


def _numeric_matrix(file, key, value):
    """`value` as a C-ordered float64 matrix with at least one row and column."""
    value = np.asarray(value)
    if value.ndim != 2 or 0 in value.shape:
        raise ValueError(f"{file}: {key} has shape {value.shape}; it must be a non-empty matrix.")
    return np.ascontiguousarray(_numeric(file, key, value))
