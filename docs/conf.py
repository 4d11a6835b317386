"""Sphinx configuration of skmlp's documentation.

Build (from the repository root)::

    pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html

The build needs no network: intersphinx links to numpy, scipy, scikit-learn,
matplotlib and dask are off unless ``SKMLP_DOCS_INTERSPHINX=1`` (then their
inventories are downloaded). Every example in ``examples/`` runs during the
build (sphinx-gallery); the course's ex4 files are used when
``SKMLP_EX4_DIR`` names them, scikit-learn's digits otherwise.
"""

import inspect
import os
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.utils.math import latex2mathml

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not another install
sys.path.insert(0, str(DOCS / "sphinxext"))

import skmlp  # noqa: E402
import skmlp.ex4  # noqa: E402
import skmlp.plotting  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

project = "skmlp"
copyright = "skmlp developers"
author = "skmlp developers"
release = version = skmlp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # from_mlpclassifier.rst includes a section of README.md
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb", "**.py", "**.zip", "**.md5"]
toc_object_entries_show_parents = "hide"  # "fit()", not "BackpropMLPClassifier.fit()"
default_role = "py:obj"  # `name` in docstrings links to the object when it can
nitpicky = False

# ----------------------------------------------------------------- intersphinx
# Off by default so that the build never touches the network.
if os.environ.get("SKMLP_DOCS_INTERSPHINX", "0") not in ("", "0"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
        "dask": ("https://docs.dask.org/en/stable", None),
        "distributed": ("https://distributed.dask.org/en/stable", None),
        "skops": ("https://skops.readthedocs.io/en/stable", None),
    }

# ----------------------------------------------------------- autodoc, numpydoc
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# numpydoc's validation of every documented docstring (the public objects,
# their methods and properties, the inherited scikit-learn methods too); each
# failure is a warning, so `sphinx-build -W` fails on it. Every check is on
# except four that scikit-learn does not require either:
numpydoc_validation_checks = {
    "all",
    # ES01 (no extended summary), SA01 (no See Also) and EX01 (no Examples):
    # not required on every object; small ones such as `unpack`, a
    # property like `coefs_` or a Display's `plot` say all in their summary
    # and Parameters.
    "ES01",
    "SA01",
    "EX01",
    # RT02 wants the type alone when there is one return value; this project
    # uses scikit-learn's "name : type" Returns style ("self : object").
    "RT02",
}

# ------------------------------------------------------------- sphinx-gallery
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Execute every script, not only plot_*.py.
    "filename_pattern": r"/",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "reset_argv": "skmlp_gallery.example_argv",  # docs/sphinxext/skmlp_gallery.py
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    # "Examples using X" on the API pages.
    "doc_module": ("skmlp",),
    "backreferences_dir": "generated",  # next to the API pages, which include them
    "inspect_global_variables": True,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "show_memory": False,
    "image_scrapers": ("skmlp_gallery.matplotlib_tight",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "show_signature": False,
    # No execution-times pages: sphinx-gallery loads their table scripts
    # from CDNs, and the pages must read offline. (Each example's page
    # states its running time.)
    "write_computation_times": False,
}

# ---------------------------------------------------------------------- html
html_theme = "pydata_sphinx_theme"
html_title = f"skmlp {release}"
html_static_path = ["_static"]
html_css_files = ["skmlp.css"]
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # No right-hand sidebar on the MLPClassifier page: its table needs the width.
    "secondary_sidebar_items": {
        "**": ["page-toc", "sourcelink"],
        "user_guide/from_mlpclassifier": [],
    },
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# No section navigation on the home page and the example pages: the examples
# need the width (the gallery index lists them).
html_sidebars = {"index": [], "auto_examples/*": []}
html_show_sourcelink = True
html_copy_source = True


# ------------------------------------------------- every public object documented


def public_objects():
    """Fully qualified names of the public functions and classes."""
    names = [f"skmlp.{name}" for name in skmlp.__all__]
    names += [f"skmlp.plotting.{name}" for name in skmlp.plotting.__all__]
    names += [
        f"skmlp.ex4.{name}"
        for name, obj in vars(skmlp.ex4).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == "skmlp.ex4"
    ]
    return names


def check_api_reference(app):
    """Fail the build when a public function or class is missing from api.rst."""
    text = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^\s+(skmlp[\w.]*\.\w+)\s*$", text, re.M))
    current = ""
    for line in text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            current = match[1]
        elif re.match(r"^\s+\w+\s*$", line) and current:
            listed.add(f"{current}.{line.strip()}")
    missing = sorted(set(public_objects()) - listed)
    if missing:
        raise RuntimeError(f"Public objects missing from docs/api.rst: {missing}")


# ---------------------------------------------------------------------- math
# Formulas become MathML at build time (docutils' LaTeX converter), which
# browsers render natively: no MathJax script to fetch when a page is read.
html_math_renderer = "mathml"


def visit_math(translator, node):
    translator.body.append(latex2mathml.tex2mathml(node.astext()))
    raise nodes.SkipNode


def visit_displaymath(translator, node):
    mathml = latex2mathml.tex2mathml(node.astext(), as_block=True)
    translator.body.append(f'<div class="math-block">{mathml}</div>')
    raise nodes.SkipNode


def plain_sklearn_references(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn: its :ref: and :term: roles as text.

    Their targets are in scikit-learn's documentation, not in this one (and
    intersphinx is off by default), so they would fail the -W build.
    """
    if getattr(obj, "__module__", "") and obj.__module__.startswith("sklearn."):
        role = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^>]*>)?`")
        lines[:] = [role.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", plain_sklearn_references)
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    # Before sphinx-gallery runs the examples: fail fast.
    app.connect("builder-inited", check_api_reference, priority=100)
