"""sphinx-gallery hooks of skmlp's documentation (named by import path in conf.py)."""

import tempfile
from pathlib import Path

#: Where the examples write their PNG files during the build; the gallery shows
#: the figures they leave open.
EXAMPLE_OUTPUT = Path(tempfile.gettempdir()) / "skmlp-docs-example-output"


def example_argv(gallery_conf, script_vars):
    """Command-line arguments of each example in the gallery: an output folder."""
    name = Path(script_vars["src_file"]).name
    out = str(EXAMPLE_OUTPUT / Path(name).stem)
    return {
        "plot_ex4.py": ["--output-dir", out],
        "plot_training.py": [out],
        "plot_solvers.py": [out],
    }.get(name, [])


def matplotlib_tight(block, block_vars, gallery_conf, **kwargs):
    """sphinx-gallery's matplotlib scraper, saving with ``bbox_inches="tight"``.

    The examples set titles on figures whose Axes fill them (the image grids
    of :mod:`skmlp.plotting`); a tight box keeps the titles in the picture,
    as the examples' own ``savefig(..., bbox_inches="tight")`` does.
    """
    from sphinx_gallery.scrapers import matplotlib_scraper

    return matplotlib_scraper(block, block_vars, gallery_conf, bbox_inches="tight", **kwargs)


# ---------------------------------------------------------------- thumbnails
# The examples that draw no figure (they print: the quickstart needs no
# matplotlib, the Dask ones only dask) get a picture of what they do on their
# gallery card instead of sphinx-gallery's placeholder.


def _digits_figure():
    """The quickstart's data: the first digits of scikit-learn's set, labelled."""
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_digits

    digits = load_digits()
    fig, axes = plt.subplots(3, 6, figsize=(6, 3.5))
    for ax, image, label in zip(axes.flat, digits.images, digits.target):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(str(label), fontsize=14)
        ax.set_axis_off()
    return fig


def _blocks_figure(title, rows, labels):
    """Boxes in rows, coloured by the worker that holds them (Dask examples).

    The placement drawn alternates; Dask's own depends on the cluster.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    colors = {"worker 1": "tab:blue", "worker 2": "tab:orange"}
    for y, row in enumerate(rows):
        x = 0.0
        for width, text, worker in row:
            ax.barh(-y, width, left=x, height=0.7, color=colors[worker], edgecolor="white")
            ax.text(x + width / 2, -y, text, ha="center", va="center", color="white")
            x += width
    ax.set_yticks([-y for y in range(len(rows))], labels)
    ax.set_xticks([])
    ax.spines[:].set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    ax.legend(handles, colors, loc="lower right", bbox_to_anchor=(1, 1), ncols=2)
    ax.set_title(title, loc="left", pad=28)
    return fig


def _chunks_figure():
    """dask_fit.py: 1347 training rows in 300-row chunks on two workers."""
    sizes = [300, 300, 300, 300, 147]
    row = [
        (n, f"{n} rows" if n > 200 else str(n), f"worker {i % 2 + 1}") for i, n in enumerate(sizes)
    ]
    return _blocks_figure("one fit, its chunks kept on the workers", [row], ["X"])


def _grid_figure():
    """dask_gridsearch.py: 6 candidates x 3 folds, each fit sent to a worker."""
    candidates = [f"alpha={a:g}, ({h},)" for a in (0.1, 1.0, 10.0) for h in (25, 50)]
    rows = [
        [(1, f"fold {f + 1}", f"worker {(3 * c + f) % 2 + 1}") for f in range(3)]
        for c in range(len(candidates))
    ]
    return _blocks_figure("GridSearchCV: each fit on a worker", rows, candidates)


THUMBNAILS = {
    "quickstart": _digits_figure,
    "dask_fit": _chunks_figure,
    "dask_gridsearch": _grid_figure,
}


def real_thumbnails(app):
    """Replace the placeholder thumbnail of every example that drew no figure.

    Runs after sphinx-gallery has executed the examples (``builder-inited``,
    later priority). An example without a figure and without an entry in
    `THUMBNAILS` fails the build: every gallery card shows a real picture.
    """
    import matplotlib.pyplot as plt
    from sphinx_gallery.utils import scale_image

    conf = app.config.sphinx_gallery_conf
    images = Path(app.srcdir) / conf["gallery_dirs"] / "images"
    for example in sorted(Path(conf["examples_dirs"]).glob("*.py")):
        name = example.stem
        if (images / f"sphx_glr_{name}_001.png").exists():
            continue
        if name not in THUMBNAILS:
            raise RuntimeError(
                f"examples/{name}.py draws no figure: give it one or add a "
                "thumbnail to THUMBNAILS in docs/sphinxext/skmlp_gallery.py"
            )
        fig = THUMBNAILS[name]()
        drawn = images / "thumb" / f"sphx_glr_{name}_figure.png"
        fig.savefig(drawn, dpi=100, bbox_inches="tight")
        plt.close(fig)
        scale_image(str(drawn), str(images / "thumb" / f"sphx_glr_{name}_thumb.png"),
                    *conf["thumbnail_size"])  # fmt: skip
        drawn.unlink()
