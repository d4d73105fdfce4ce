"""Helpers over anynet's parameter structure: a list with one ``dict[str, array]`` per layer.

Plain lists and dicts are JAX pytrees, so the same structure crosses ``jax.jit``.
"""

from __future__ import annotations

from typing import Any

Params = list[dict[str, Any]]


def first_leaf(tree: Params) -> Any:
    """The first array of a parameter list (``None`` if it holds none)."""
    for d in tree:
        for v in d.values():
            return v
    return None
