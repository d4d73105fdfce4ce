"""Helpers over anynet's parameter structure: a list with one ``dict[str, array]`` per layer.

Plain lists and dicts are JAX pytrees, so the same structure crosses ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Params = list[dict[str, Any]]


def tree_map(fn: Callable[..., Any], tree: Params, *rest: Params) -> Params:
    """Apply ``fn`` leafwise to one or more parameter lists of the same structure."""
    return [{k: fn(v, *(r[i][k] for r in rest)) for k, v in d.items()} for i, d in enumerate(tree)]


def leaves(tree: Params) -> list[Any]:
    """All arrays, layer by layer, in key order."""
    return [d[k] for d in tree for k in d]


def first_leaf(tree: Params) -> Any:
    for d in tree:
        for v in d.values():
            return v
    return None
