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
