"""Docs: every public name has a docstring (layers and losses with their shapes), every
public class and function an example, and the examples in docstrings run (doctest)."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import anynet as an

MODULES = ["anynet", "anynet.layers", "anynet.losses", "anynet.metrics", "anynet.optim", "anynet.callbacks",
           "anynet.datasets", "anynet.plot", "anynet.io", "anynet.model", "anynet.train",
           "anynet.gradcheck", "anynet.engine", "anynet.export", "anynet.playground", "anynet.backends"]

#: The public API: ``anynet`` and the submodules a user reaches as ``an.<module>``.
PUBLIC = ["anynet", "anynet.layers", "anynet.losses", "anynet.metrics", "anynet.optim", "anynet.callbacks",
          "anynet.datasets", "anynet.plot", "anynet.io", "anynet.sklearn", "anynet.backends", "anynet.engine",
          "anynet.train", "anynet.export", "anynet.playground"]

#: Where doctest looks: ``doctest.testmod(mod)`` runs only the docstrings of objects
#: *defined* in ``mod``, so the layer files are listed themselves (``anynet.layers``
#: only re-exports them).
#: ``anynet.backends`` last, as before: its ``use`` example switches the current backend.
DOCTEST_MODULES = [*(m for m in MODULES if m != "anynet.backends"), "anynet.layers._base",
                   "anynet.layers.activations", "anynet.layers.dropout", "anynet.layers.linear",
                   "anynet.layers.maxout", "anynet.layers.reshape", "anynet.layers.stacks", "anynet.layers.conv", "anynet.convert", "anynet._windows",
                   "anynet.layers.pooling", "anynet.layers.batchnorm", "anynet._tree", "anynet._npy",
                   "anynet._packing", "anynet.sklearn", "anynet.playground.server", "anynet.playground.session",
                   "anynet.backends._base", "anynet.backends._jax", "anynet.backends._memory", "anynet.backends._numpy",
                   "anynet.backends"]

#: Optional extras that a module's examples need (sklearn and matplotlib are in the ``test``
#: extra; the ``onnx`` extra only in the onnx nox session).
_NEEDS = {"anynet.sklearn": ("sklearn",), "anynet.plot": ("matplotlib",),
          "anynet.export": ("ndonnx", "onnx", "onnxruntime")}


def _import(modname):
    for needed in _NEEDS.get(modname, ()):
        pytest.importorskip(needed, reason=f"{modname}'s examples need {needed}, not installed here")
    return importlib.import_module(modname)


def _public(modname):
    mod = _import(modname)
    return [(f"{modname}.{n}", getattr(mod, n)) for n in getattr(mod, "__all__", [])]


@pytest.mark.parametrize("modname", MODULES)
def test_every_public_name_has_a_docstring(modname):
    missing = [name for name, obj in _public(modname)
               if (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj))
               and not (inspect.getdoc(obj) or "").strip()]
    assert not missing, f"no docstring: {missing}"


@pytest.mark.parametrize("modname", PUBLIC)
def test_every_public_class_and_function_has_an_example_that_runs(modname):
    """Its own docstring (not one inherited) holds a ``>>>`` example, in a module that
    ``test_docstring_examples_run`` runs, so the example is checked, not just present."""
    no_example, not_run = [], []
    for name, obj in _public(modname):
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if ">>>" not in inspect.cleandoc(obj.__doc__ or ""):
            no_example.append(name)
        elif obj.__module__ not in DOCTEST_MODULES:
            not_run.append(f"{name} (defined in {obj.__module__})")
    assert not no_example, f"no >>> example in the docstring of: {no_example}"
    assert not not_run, f"examples that doctest never runs (add the module to DOCTEST_MODULES): {not_run}"


@pytest.mark.parametrize("name", [n for n in an.layers.__all__ if n not in ("LAYERS", "ACTIVATIONS")] +
                         [n for n in an.losses.__all__ if n not in ("Loss", "Regularizer")])
def test_layers_and_losses_document_their_shapes(name):
    obj = getattr(an.layers, name, None) or getattr(an.losses, name)
    doc = inspect.getdoc(obj) or ""
    if not inspect.isclass(obj) or obj in (an.layers.Layer,) or issubclass(obj, an.losses.Regularizer):
        assert not inspect.isfunction(obj) or "Shapes" in doc, f"{name}: no Shapes section"
        return
    assert "Shapes" in doc or "Shapes:" in doc, f"{name}: no Shapes section"


@pytest.mark.parametrize("modname", DOCTEST_MODULES)
def test_docstring_examples_run(modname, be):
    mod = _import(modname)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {modname}"
