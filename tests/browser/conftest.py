"""Browser tests run only when asked for (``pytest -m browser``, as ``nox -s browser`` does)
and where Debian's Chromium and its driver are installed; otherwise they skip, saying why."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="drives a real Chromium: run it with `pytest -m browser` "
                            "(or `nox -s browser`, which installs Debian's chromium and chromium-driver)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
