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

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not another install
sys.path.insert(0, str(DOCS / "sphinxext"))

import skmlp_gallery  # noqa: E402

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
    "sphinx.ext.mathjax",
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
# MathJax 3.2.2's TeX-to-SVG bundle, vendored in _static/mathjax (Apache-2.0,
# LICENSE beside it; the npm package "mathjax", es5/tex-svg.js): the formulas
# render from the built site alone, opened from disk, with no network. SVG
# output draws its own glyphs, so no web fonts are fetched either.
mathjax_path = "mathjax/tex-svg.js"
mathjax3_config = {"svg": {"fontCache": "global"}}


#: scikit-learn's pages that its inherited docstrings send the reader to.
SKLEARN_GUIDE = {
    "metadata_routing": ("metadata routing guide", "metadata_routing.html"),
}


def sklearn_reference(match):
    """One :ref: or :term: role of a scikit-learn docstring, as this site shows it."""
    kind, text, target = match["kind"], match["text"], match["target"]
    if kind == "ref" and text.strip().lower().endswith("user guide"):
        # "check User Guide" would send the reader to skmlp's, which does not
        # cover scikit-learn's machinery: name scikit-learn's page instead.
        title, page = SKLEARN_GUIDE.get(target, ("User Guide", "user_guide.html"))
        return f"scikit-learn's `{title} <https://scikit-learn.org/stable/{page}>`__"
    return text


def plain_sklearn_references(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn: its :ref: and :term: roles resolved here.

    Their targets are in scikit-learn's documentation, not in this one (and
    intersphinx is off by default), so they would fail the -W build: a
    reference to its User Guide becomes a link to scikit-learn's page, named as
    scikit-learn's; the other roles become their text.
    """
    if getattr(obj, "__module__", "") and obj.__module__.startswith("sklearn."):
        role = re.compile(r":(?P<kind>ref|term):`(?P<text>[^`<]*?)\s*(?:<(?P<target>[^>]*)>)?`")
        lines[:] = [role.sub(sklearn_reference, line) for line in lines]
        # "Please check the scikit-learn's ..." reads badly.
        lines[:] = [line.replace("the scikit-learn's", "scikit-learn's") for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", plain_sklearn_references)
    # Before sphinx-gallery runs the examples: fail fast.
    app.connect("builder-inited", check_api_reference, priority=100)
    # After sphinx-gallery has run the examples (priority 500).
    app.connect("builder-inited", skmlp_gallery.real_thumbnails, priority=600)
