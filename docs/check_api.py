"""Check that the built API reference is complete: run after ``sphinx-build`` (``nox -s docs``
does), ``python docs/check_api.py docs/_build/html``.

The pages in ``docs/api/`` list their names by hand, so a name added to a module's
``__all__`` and forgotten there would be missing from the reference without any Sphinx
warning. This reads the inventory Sphinx wrote (``objects.inv``: every object it indexed)
and fails, naming them, when

- a name of a documented module's ``__all__`` is not indexed as ``<module>.<name>``
  (a submodule in ``__all__``: indexed as a module);
- a public module of anynet (no leading underscore) has no page and no reason, in
  ``NO_PAGE``, why it has none.

Exit status 0 when complete, 1 otherwise; prints what it counted either way.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import zlib
from pathlib import Path

import anynet

DOCS = Path(__file__).resolve().parent

#: Public modules without a page of their own, and why.
NO_PAGE = {
    "anynet.cli": "the command line; `anynet --help` and `anynet <command> --help` document it",
    "anynet.model": "Sequential, its only name, is documented on the page of anynet as anynet.Sequential",
    "anynet.convert": "its two functions are re-exported and documented in anynet.layers",
    "anynet.data": "the bundled data files, no API",
}


def read_inventory(path: Path) -> set[str]:
    """The names of the Python objects in a Sphinx ``objects.inv`` (format version 2):
    four header lines, then zlib-compressed lines ``name domain:role priority uri dispname``."""
    raw = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    if not raw.startswith(b"# Sphinx inventory version 2"):
        raise SystemExit(f"{path}: not a Sphinx inventory of version 2")
    names = set()
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        m = re.match(r"(.+?)\s+py:(\w+)\s+-?\d+\s", line)
        if m:
            names.add(m.group(1))
    return names


def documented_modules() -> list[str]:
    """The modules of the pages in docs/api/ (their ``.. automodule::``), in toctree order."""
    mods = []
    for page in sorted((DOCS / "api").glob("*.rst")):
        mods += re.findall(r"^\.\. automodule:: (\S+)", page.read_text(), flags=re.M)
    return mods


def public_modules() -> list[str]:
    """anynet's modules and packages one level down whose names do not start with ``_``."""
    return [f"anynet.{m.name}" for m in pkgutil.iter_modules(anynet.__path__) if not m.name.startswith("_")]


def check(html: Path) -> list[str]:
    inventory = read_inventory(html / "objects.inv")
    pages = documented_modules()
    problems = []
    for mod in public_modules():
        if mod not in pages and mod not in NO_PAGE:
            problems.append(f"{mod}: a public module with no page in docs/api/ (add one, or a reason to NO_PAGE)")
    n_names = 0
    for modname in pages:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            n_names += 1
            full = f"{modname}.{name}"
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                full = obj.__name__
                where = f"docs/api/{name}.rst, a page with its automodule"
            else:
                where = f"list it in docs/api/{modname.removeprefix('anynet.')}.rst"
            if full not in inventory:
                problems.append(f"{full}: in {modname}.__all__ but not in the reference ({where})")
    print(f"check_api: {len(pages)} module pages, {n_names} names of their __all__, "
          f"{len(inventory)} Python objects indexed; {len(problems)} missing")
    return problems


def main(argv: list[str]) -> int:
    html = Path(argv[0]) if argv else DOCS / "_build" / "html"
    problems = check(html)
    for p in problems:
        print("  missing:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
