"""Pictures of the data and of a network: digit grid, hidden units, loss curve.

Optional: needs matplotlib (the ``plots`` extra), imported only when
a function is called. Nothing here calls ``show()``: the functions draw into
the given Axes (or a new figure) and return a display object holding the
data and the matplotlib artists. As with scikit-learn's displays, each
display can also be built from an estimator or data (``from_estimator``,
``from_data``) or from its data directly, then drawn with ``plot``.
"""

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "ImageGridDisplay",
    "LossCurveDisplay",
    "plot_digit_grid",
    "plot_hidden_units",
    "plot_loss_curve",
]


class ImageGridDisplay:
    """Images drawn side by side, in a near-square grid, in one Axes.

    The course's ``displayData.m``. Build it with :meth:`from_data` (rows of X,
    e.g. digits) or :meth:`from_estimator` (a network's hidden units), or
    give the images and call :meth:`plot`, as with scikit-learn's displays.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        The images, upright.
    indices : array-like of int of shape (n_images,), default=None
        What each image shows (the row of X, the hidden unit); None numbers
        them 0, 1, ...
    symmetric : bool, default=False
        Scale each image symmetrically about zero, so that zero is mid-grey
        (for weights), instead of to its own range of values (for pixels).

    Attributes
    ----------
    images_ : list of matplotlib.image.AxesImage
        One image per panel, row by row.
    indices_ : ndarray of int
        What each panel shows: the row of X, or the hidden unit.
    ax_ : matplotlib.axes.Axes
        The Axes holding the images.
    figure_ : matplotlib.figure.Figure
        The figure holding the Axes.

    See Also
    --------
    plot_digit_grid : The same as :meth:`from_data`.
    plot_hidden_units : The same as :meth:`from_estimator`.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from skmlp.plotting import ImageGridDisplay
    >>> images = np.arange(24.0).reshape(6, 2, 2)
    >>> display = ImageGridDisplay(images).plot(ax=Figure().subplots())
    >>> len(display.images_), display.indices_.tolist()
    (6, [0, 1, 2, 3, 4, 5])
    """

    def __init__(self, images, *, indices=None, symmetric=False):
        self.images = images
        self.indices = indices
        self.symmetric = symmetric

    def plot(self, ax=None, *, cmap="gray"):
        """Draw the images.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Where to draw; a new figure sized to the grid when None.
        cmap : str or matplotlib colormap, default='gray'
            Colormap of the images.

        Returns
        -------
        display : ImageGridDisplay
            This display, with ``images_``, ``indices_``, ``ax_`` and
            ``figure_`` set.
        """
        _check_matplotlib()
        images = np.asarray(self.images, dtype=np.float64)
        if images.ndim != 3 or 0 in images.shape:
            raise ValueError(
                "images must be a non-empty array of shape (n_images, height, width), "
                f"got shape {images.shape}."
            )
        if self.indices is None:
            indices = np.arange(len(images))
        else:
            indices = np.asarray(self.indices)
            if indices.shape != (len(images),):
                raise ValueError(
                    f"indices must have shape ({len(images)},), one per image, "
                    f"got shape {indices.shape}."
                )
        ax = _axes(ax, _grid_shape(len(images)), images.shape[1:])
        self.images_ = _draw_grid(ax, images, symmetric=bool(self.symmetric), cmap=cmap)
        self.indices_ = indices
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_data(
        cls, X, image_shape, n=100, *, random_state=None, transpose=False, ax=None, cmap="gray"
    ):
        """Show `n` random rows of X as images in a near-square grid.

        The course's ``displayData.m``: 100 random digits as a 10 x 10 grid. Each
        image is scaled to its own range of values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_pixels)
            One image per row.
        image_shape : tuple of int
            ``(height, width)`` of each image; ``height * width == n_pixels``.
        n : int, default=100
            Number of images shown (all rows if X has fewer).
        random_state : int, RandomState instance or None, default=None
            Chooses the rows.
        transpose : bool, default=False
            The pixels of each row are stored column by column (MATLAB order,
            as in the course's 20x20 digits): True shows such images upright.
        ax : matplotlib.axes.Axes, default=None
            Where to draw; a new figure when None.
        cmap : str or matplotlib colormap, default='gray'
            Colormap of the images.

        Returns
        -------
        display : ImageGridDisplay
            ``indices_`` holds the rows shown, ``images_`` one AxesImage each.

        Examples
        --------
        >>> from matplotlib.figure import Figure
        >>> from sklearn.datasets import load_digits
        >>> from skmlp.plotting import ImageGridDisplay
        >>> X = load_digits().data
        >>> display = ImageGridDisplay.from_data(
        ...     X, (8, 8), n=25, random_state=0, ax=Figure().subplots()
        ... )
        >>> len(display.images_)
        25
        """
        _check_matplotlib()
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        shape = _check_image_shape(image_shape, X.shape[1], "X has")
        if not (isinstance(n, int | np.integer) and n >= 1):
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        rng = check_random_state(random_state)
        indices = rng.choice(X.shape[0], size=min(int(n), X.shape[0]), replace=False)
        rows = X[indices]
        if hasattr(rows, "toarray"):
            rows = rows.toarray()
        images = _as_images(rows, shape, transpose)
        return cls(images, indices=indices, symmetric=False).plot(ax, cmap=cmap)

    @classmethod
    def from_estimator(cls, estimator, image_shape, *, transpose=False, ax=None, cmap="gray"):
        """Show each first hidden unit's incoming weights as an image.

        Unit ``j`` is drawn from ``coefs_[0][:, j]``, scaled symmetrically
        about zero (zero weight is mid-grey): the features each unit looks for.

        Parameters
        ----------
        estimator : fitted BackpropMLPClassifier or Pipeline ending in one
            Any fitted estimator with ``coefs_`` (scikit-learn's
            MLPClassifier too).
        image_shape : tuple of int
            ``(height, width)`` of the input images; ``height * width`` must
            be the number of inputs.
        transpose : bool, default=False
            The inputs are pixels stored column by column (as the course's
            digits): True shows the units upright.
        ax : matplotlib.axes.Axes, default=None
            Where to draw; a new figure when None.
        cmap : str or matplotlib colormap, default='gray'
            Colormap of the images.

        Returns
        -------
        display : ImageGridDisplay
            ``indices_`` holds the unit numbers, ``images_`` one AxesImage each.

        Examples
        --------
        >>> import numpy as np
        >>> from matplotlib.figure import Figure
        >>> from skmlp import BackpropMLPClassifier
        >>> from skmlp.plotting import ImageGridDisplay
        >>> clf = BackpropMLPClassifier.from_thetas(
        ...     [np.ones((6, 17)), np.ones((3, 7))], classes=[0, 1, 2]
        ... )
        >>> display = ImageGridDisplay.from_estimator(clf, (4, 4), ax=Figure().subplots())
        >>> len(display.images_)
        6
        """
        _check_matplotlib()
        estimator = _final_step(estimator)
        check_is_fitted(estimator)
        weights = np.asarray(estimator.coefs_[0], dtype=np.float64)
        shape = _check_image_shape(image_shape, weights.shape[0], "the network has", "inputs")
        images = _as_images(weights.T, shape, transpose)
        return cls(images, symmetric=True).plot(ax, cmap=cmap)


class LossCurveDisplay:
    """A training loss curve: J after each iteration.

    Build it with :meth:`from_estimator`, or give the curve and call
    :meth:`plot`, as with scikit-learn's displays.

    Parameters
    ----------
    loss_curve : array-like of shape (n_iter,)
        The loss after each iteration, e.g. a fitted estimator's
        ``loss_curve_``.
    name : str, default=None
        Label of the curve in a legend (e.g. the solver); no legend when None.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D
        The curve: J after each iteration.
    ax_ : matplotlib.axes.Axes
        The Axes holding the curve.
    figure_ : matplotlib.figure.Figure
        The figure holding the Axes.

    See Also
    --------
    plot_loss_curve : The same as :meth:`from_estimator`.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from skmlp.plotting import LossCurveDisplay
    >>> display = LossCurveDisplay([0.9, 0.5, 0.4], name="lbfgs")
    >>> display.plot(ax=Figure().subplots()).line_.get_xdata().tolist()
    [1, 2, 3]
    """

    def __init__(self, loss_curve, *, name=None):
        self.loss_curve = loss_curve
        self.name = name

    def plot(self, ax=None, **kwargs):
        """Draw the curve.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Where to draw; a new figure when None. Several curves can share
            one Axes.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` (e.g. ``color``).

        Returns
        -------
        display : LossCurveDisplay
            This display, with ``line_``, ``ax_`` and ``figure_`` set.
        """
        _check_matplotlib()
        curve = np.asarray(self.loss_curve, dtype=np.float64)
        if curve.ndim != 1 or curve.size == 0:
            raise ValueError(
                f"loss_curve must be a non-empty 1-D sequence, got shape {curve.shape}."
            )
        if ax is None:
            _, ax = _pyplot().subplots()
        if self.name is not None:
            kwargs.setdefault("label", self.name)
        (self.line_,) = ax.plot(np.arange(1, len(curve) + 1), curve, **kwargs)
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss J")
        ax.set_title("Training loss")
        if self.name is not None:
            ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, **kwargs):
        """Plot a fitted estimator's training loss ``loss_curve_``.

        Parameters
        ----------
        estimator : fitted BackpropMLPClassifier or Pipeline ending in one
            Any fitted estimator with ``loss_curve_``.
        ax : matplotlib.axes.Axes, default=None
            Where to draw; a new figure when None.
        name : str, default=None
            Label of the curve in a legend; no legend when None.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : LossCurveDisplay
            ``line_`` holds the curve.

        Examples
        --------
        >>> from matplotlib.figure import Figure
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import scale
        >>> from skmlp import BackpropMLPClassifier
        >>> from skmlp.plotting import LossCurveDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropMLPClassifier((5,), random_state=0).fit(scale(X), y)
        >>> display = LossCurveDisplay.from_estimator(clf, ax=Figure().subplots())
        >>> len(display.line_.get_ydata()) == clf.n_iter_
        True
        """
        _check_matplotlib()
        estimator = _final_step(estimator)
        check_is_fitted(estimator)
        curve = getattr(estimator, "loss_curve_", None)
        if curve is None:
            raise ValueError(
                f"This {type(estimator).__name__} has no loss_curve_: it was not "
                "trained by fit (e.g. it was made by from_thetas). Fit it first."
            )
        return cls(curve, name=name).plot(ax, **kwargs)


def plot_digit_grid(
    X, image_shape, n=100, *, random_state=None, transpose=False, ax=None, cmap="gray"
):
    """Show `n` random rows of X as images in a near-square grid.

    The course's ``displayData.m``: 100 random digits as a 10 x 10 grid. Each
    image is scaled to its own range of values. The same as
    :meth:`ImageGridDisplay.from_data`.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_pixels)
        One image per row.
    image_shape : tuple of int
        ``(height, width)`` of each image; ``height * width == n_pixels``.
    n : int, default=100
        Number of images shown (all rows if X has fewer).
    random_state : int, RandomState instance or None, default=None
        Chooses the rows.
    transpose : bool, default=False
        The pixels of each row are stored column by column (MATLAB order, as
        in the course's 20x20 digits): True shows such images upright.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    cmap : str or matplotlib colormap, default='gray'
        Colormap of the images.

    Returns
    -------
    display : ImageGridDisplay
        ``indices_`` holds the rows shown, ``images_`` one AxesImage each.

    See Also
    --------
    ImageGridDisplay.from_data : The same, as a Display constructor.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from sklearn.datasets import load_digits
    >>> from skmlp.plotting import plot_digit_grid
    >>> X = load_digits().data
    >>> display = plot_digit_grid(X, (8, 8), n=25, random_state=0, ax=Figure().subplots())
    >>> len(display.images_)
    25
    """
    return ImageGridDisplay.from_data(
        X, image_shape, n, random_state=random_state, transpose=transpose, ax=ax, cmap=cmap
    )


def plot_hidden_units(estimator, image_shape, *, transpose=False, ax=None, cmap="gray"):
    """Show each first hidden unit's incoming weights as an image.

    Unit ``j`` is drawn from ``coefs_[0][:, j]``, scaled symmetrically about
    zero (zero weight is mid-grey): the features each unit looks for. The
    same as :meth:`ImageGridDisplay.from_estimator`.

    Parameters
    ----------
    estimator : fitted BackpropMLPClassifier or Pipeline ending in one
        Any fitted estimator with ``coefs_`` (scikit-learn's MLPClassifier
        too).
    image_shape : tuple of int
        ``(height, width)`` of the input images; ``height * width`` must be
        the number of inputs.
    transpose : bool, default=False
        The inputs are pixels stored column by column (as the course's
        digits): True shows the units upright.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    cmap : str or matplotlib colormap, default='gray'
        Colormap of the images.

    Returns
    -------
    display : ImageGridDisplay
        ``indices_`` holds the unit numbers, ``images_`` one AxesImage each.

    See Also
    --------
    ImageGridDisplay.from_estimator : The same, as a Display constructor.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from skmlp import BackpropMLPClassifier
    >>> from skmlp.plotting import plot_hidden_units
    >>> clf = BackpropMLPClassifier.from_thetas(
    ...     [np.ones((6, 17)), np.ones((3, 7))], classes=[0, 1, 2]
    ... )
    >>> len(plot_hidden_units(clf, (4, 4), ax=Figure().subplots()).images_)
    6
    """
    return ImageGridDisplay.from_estimator(
        estimator, image_shape, transpose=transpose, ax=ax, cmap=cmap
    )


def plot_loss_curve(estimator, ax=None):
    """Plot the training loss ``loss_curve_`` against the iteration.

    The same as :meth:`LossCurveDisplay.from_estimator`.

    Parameters
    ----------
    estimator : fitted BackpropMLPClassifier or Pipeline ending in one
        Any fitted estimator with ``loss_curve_``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    display : LossCurveDisplay
        ``line_`` holds the curve.

    See Also
    --------
    LossCurveDisplay.from_estimator : The same, as a Display constructor.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import scale
    >>> from skmlp import BackpropMLPClassifier
    >>> from skmlp.plotting import plot_loss_curve
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BackpropMLPClassifier((5,), random_state=0).fit(scale(X), y)
    >>> display = plot_loss_curve(clf, ax=Figure().subplots())
    >>> len(display.line_.get_xdata()) == clf.n_iter_
    True
    """
    return LossCurveDisplay.from_estimator(estimator, ax=ax)


# ---------------------------------------------------------------- helpers


def _check_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "skmlp.plotting needs matplotlib, an optional dependency: install it "
            'with `pip install matplotlib` (or `pip install -e ".[plots]"` in '
            "skmlp's folder)."
        ) from exc


def _pyplot():
    _check_matplotlib()
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skmlp.plotting needs matplotlib.pyplot to make a new figure: install "
            "matplotlib with `pip install matplotlib`, or pass ax=."
        ) from exc
    return plt


def _final_step(estimator):
    """The last step of a Pipeline, or the estimator itself."""
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def _check_image_shape(image_shape, n_values, owner, unit="values per row"):
    try:
        height, width = (int(s) for s in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}.") from None
    if height < 1 or width < 1 or height * width != n_values:
        raise ValueError(
            f"image_shape {tuple(image_shape)} has {height * width} pixels, but "
            f"{owner} {n_values} {unit}."
        )
    return height, width


def _as_images(rows, shape, transpose):
    """Rows of pixels -> (n, height, width); column-major pixels when transpose."""
    height, width = shape
    if transpose:
        return rows.reshape(-1, width, height).transpose(0, 2, 1)
    return rows.reshape(-1, height, width)


def _grid_shape(n):
    """The near-square grid of displayData.m: floor(sqrt(n)) rows, enough columns."""
    rows = max(1, int(np.floor(np.sqrt(n))))
    return rows, -(-n // rows)


def _axes(ax, grid, shape):
    """`ax`, or the Axes of a new figure sized to the grid."""
    if ax is not None:
        return ax
    rows, cols = grid
    height, width = shape
    aspect = (rows * (height + 1)) / (cols * (width + 1))
    size = 6.0
    figsize = (size, size * aspect) if aspect <= 1 else (size / aspect, size)
    figure, ax = _pyplot().subplots(figsize=figsize)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.98)
    return ax


def _draw_grid(ax, images, *, symmetric, cmap):
    """One AxesImage per image, placed by its extent, with a 1-pixel gap."""
    n, height, width = images.shape
    _, cols = _grid_shape(n)
    rows = -(-n // cols)
    artists = []
    for k, image in enumerate(images):
        r, c = divmod(k, cols)
        left, top = c * (width + 1), r * (height + 1)
        if symmetric:
            vmax = float(np.max(np.abs(image))) or 1.0
            vmin = -vmax
        else:
            vmin, vmax = float(image.min()), float(image.max())
            if vmin == vmax:
                vmin, vmax = vmin - 1, vmax + 1
        artists.append(
            ax.imshow(
                image,
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                interpolation="nearest",
                extent=(left, left + width, top + height, top),
            )
        )
    ax.set_xlim(-1, cols * (width + 1))
    ax.set_ylim(rows * (height + 1), -1)  # first row at the top
    ax.set_aspect("equal")
    ax.set_axis_off()
    return artists
