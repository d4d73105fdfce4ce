"""Docs: every public name has a docstring (layers and losses with their shapes), and the
examples in docstrings run (doctest)."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import anynet as an

MODULES = ["anynet", "anynet.layers", "anynet.losses", "anynet.optim", "anynet.callbacks",
           "anynet.datasets", "anynet.plot", "anynet.io", "anynet.model", "anynet.train",
           "anynet.gradcheck", "anynet._backend"]


def _public(modname):
    mod = importlib.import_module(modname)
    return [(f"{modname}.{n}", getattr(mod, n)) for n in getattr(mod, "__all__", [])]


@pytest.mark.parametrize("modname", MODULES)
def test_every_public_name_has_a_docstring(modname):
    missing = [name for name, obj in _public(modname)
               if (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj))
               and not (inspect.getdoc(obj) or "").strip()]
    assert not missing, f"no docstring: {missing}"


@pytest.mark.parametrize("name", [n for n in an.layers.__all__ if n not in ("LAYERS",)] +
                         [n for n in an.losses.__all__ if n not in ("Loss", "Regularizer")])
def test_layers_and_losses_document_their_shapes(name):
    obj = getattr(an.layers, name, None) or getattr(an.losses, name)
    doc = inspect.getdoc(obj) or ""
    if obj in (an.layers.Layer,) or issubclass(obj, an.losses.Regularizer):
        return
    assert "Shapes" in doc or "Shapes:" in doc, f"{name}: no Shapes section"


@pytest.mark.parametrize("modname", [m for m in MODULES if m != "anynet._backend"] + ["anynet._backend"])
def test_docstring_examples_run(modname, be):
    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {modname}"
