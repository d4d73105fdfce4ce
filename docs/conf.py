"""Sphinx configuration: the API reference of anynet, built from its numpydoc docstrings.

Build it with ``nox -s docs`` (warnings are errors there), then open
``docs/_build/html/index.html``. No network is needed: intersphinx is off on purpose
(CI reaches only the package registries), so names from other libraries are not linked.
"""

from __future__ import annotations

import inspect
import sys

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

import anynet

project = "anynet"
author = "the anynet developers"
copyright = "the anynet developers"
release = version = anynet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# -- autodoc: one hand-written page per public module lists its names (docs/api/*.rst);
#    docs/check_api.py fails the build when a name of a module's __all__ is missing there.
autodoc_default_options: dict[str, object] = {}  # each page says what it documents
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # show `dtype="float32"`, not the evaluated object
autosummary_generate = False  # the summary tables link to the entries on the same page

# -- napoleon reads the numpydoc sections; "Shapes" is anynet's own (STYLE.md)
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# "Attributes" as a field list like "Parameters": the attributes of a dataclass are its
# fields, which autodoc documents already (as an ``.. attribute::`` each they would be twice).
napoleon_custom_sections = ["Shapes", ("Attributes", "params_style")]
# The types in numpydoc sections are prose ("int or None, default 0"): shown as text,
# not turned into cross-references that could never resolve.
napoleon_use_param = False
napoleon_use_rtype = False

# -- every reference must resolve (sphinx-build -n); names from other libraries cannot
#    without intersphinx, so they are listed here by name, nothing broader.
nitpicky = True
nitpick_ignore = [
    ("py:class", name)
    for name in (
        # the standard library's, in type hints
        "argparse.ArgumentParser", "collections.abc.Callable", "collections.abc.Iterable",
        "collections.abc.Iterator", "collections.abc.Mapping", "collections.abc.Sequence",
        "contextvars.ContextVar", "os.PathLike",
        # NumPy's and matplotlib's
        "numpy.ndarray", "numpy.random.Generator", "numpy.random._generator.Generator",
        "matplotlib.figure.Figure",
        # bench's row of results: a return type of anynet.bench.run, not public itself
        "anynet.bench.Result",
        # the packed-parameters layout, a field type of anynet.engine.TrainConfig; private
        "anynet._packing.Packing",
    )
]

# -- Markdown pages (docs/architecture.md, the README's quick start)
myst_heading_anchors = 2

html_theme = "furo"
html_title = f"anynet {release}"


# -- three fixes to what autodoc finds on its own ------------------------------------------


def _skip_member(app, what, name, obj, skip, options):
    """scikit-learn gives every estimator generated ``set_*_request`` methods (metadata
    routing) whose docstrings point into scikit-learn's own docs; they are its API, not ours."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _data_docstring(app, what, name, obj, options, lines):
    """A constant re-exported by a package (``anynet.layers.LAYERS``, defined in
    ``anynet.layers._base``) has its ``#:`` comment in the module that defines it, where
    autodoc does not look; it would show the docstring of ``dict`` instead. Take the
    comment from the module that binds the same object under the same name."""
    if what not in ("data", "attribute") or not lines:
        return
    if inspect.cleandoc("\n".join(lines)) != inspect.cleandoc(type(obj).__doc__ or ""):
        return  # a docstring of its own
    modname, _, attr = name.rpartition(".")
    lines[:] = []
    for mod in sorted(sys.modules):
        if mod == modname or not mod.startswith(modname + ".") or getattr(sys.modules[mod], attr, None) is not obj:
            continue
        try:
            comment = ModuleAnalyzer.for_module(mod).find_attr_docs().get(("", attr))
        except PycodeError:
            continue
        if comment:
            lines[:] = list(comment)
            return


_ONE_LINERS: dict[str, list[str]] = {}


def _keep_one_liner(app, what, name, obj, options, lines):
    """napoleon reads the first line of an attribute's docstring as Google's ``type:
    description``; anynet's ``#:`` comments and property docstrings are prose with colons
    ("The ``format`` field of the metadata: what marks ..."). Keep them as written: saved
    here before napoleon runs, put back by :func:`_restore_one_liner` after it."""
    if what in ("data", "attribute", "property"):
        _ONE_LINERS[name] = list(lines)


def _restore_one_liner(app, what, name, obj, options, lines):
    if name in _ONE_LINERS:
        lines[:] = _ONE_LINERS.pop(name)


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    # napoleon's own handler runs at the default priority, 500
    app.connect("autodoc-process-docstring", _data_docstring, priority=300)
    app.connect("autodoc-process-docstring", _keep_one_liner, priority=400)
    app.connect("autodoc-process-docstring", _restore_one_liner, priority=600)
