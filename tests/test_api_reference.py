"""docs/check_api.py, which ``nox -s docs`` runs after the Sphinx build, finds a public name
that the API reference leaves out (Sphinx itself would not warn). Fed here with inventories
written by hand, so no Sphinx is needed; the real build is checked by the docs session."""

from __future__ import annotations

import importlib.util
import inspect
import zlib
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the reference documents anynet.sklearn, which needs scikit-learn")

_PATH = Path(__file__).resolve().parent.parent / "docs" / "check_api.py"
_spec = importlib.util.spec_from_file_location("check_api", _PATH)
check_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_api)


def _inventory(tmp_path, names):
    """An objects.inv as Sphinx writes it: four header lines, then zlib-compressed entries."""
    entries = "".join(f"{n} py:{role} 1 api.html#{n} -\n" for n, role in names)
    header = b"# Sphinx inventory version 2\n# Project: anynet\n# Version: 0\n# compressed with zlib\n"
    (tmp_path / "objects.inv").write_bytes(header + zlib.compress(entries.encode()))
    return tmp_path


def _complete():
    """Every name the pages in docs/api/ should index, as check_api expects it."""
    names = []
    for modname in check_api.documented_modules():
        mod = importlib.import_module(modname)
        names.append((modname, "module"))
        for name in mod.__all__:
            obj = getattr(mod, name)
            names.append((obj.__name__, "module") if inspect.ismodule(obj) else (f"{modname}.{name}", "class"))
    return names


def test_a_complete_reference_passes(tmp_path):
    assert check_api.check(_inventory(tmp_path, _complete())) == []


def test_a_name_missing_from_the_reference_is_reported(tmp_path):
    names = [n for n in _complete() if n[0] != "anynet.losses.Hinge"]
    problems = check_api.check(_inventory(tmp_path, names))
    assert len(problems) == 1 and problems[0].startswith("anynet.losses.Hinge:"), problems
    assert "docs/api/losses.rst" in problems[0]


def test_a_public_module_without_a_page_is_reported(tmp_path, monkeypatch):
    pages = [m for m in check_api.documented_modules() if m != "anynet.plot"]
    monkeypatch.setattr(check_api, "documented_modules", lambda: pages)
    problems = check_api.check(_inventory(tmp_path, _complete()))
    assert any(p.startswith("anynet.plot: a public module with no page") for p in problems), problems


def test_the_inventory_reader_refuses_another_format(tmp_path):
    (tmp_path / "objects.inv").write_bytes(b"# Sphinx inventory version 1\n# a\n# b\n# c\n")
    with pytest.raises(SystemExit, match="not a Sphinx inventory of version 2"):
        check_api.read_inventory(tmp_path / "objects.inv")
