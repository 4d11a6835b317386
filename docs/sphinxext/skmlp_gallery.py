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
        "plot_ex4_seed.py": ["--output-dir", out],
        "plot_training.py": [out],
        "plot_solvers.py": [out],
    }.get(name, [])
