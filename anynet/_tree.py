"""The parameter tree: a list with one ``dict[str, array]`` per layer, and the one
``tree_map`` that walks it (and the optimizer state, and the layer state).

Plain lists, tuples and dicts are JAX pytrees, so the same structures cross
``jax.jit`` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Params", "first_leaf", "leaves", "tree_map"]

Params = list[dict[str, Any]]


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """``f`` applied to every array (leaf) of ``tree`` and the matching leaves of ``rest``,
    in a structure like ``tree``'s (lists, tuples and dicts are walked; ``None`` stays).

    >>> from anynet._tree import tree_map
    >>> tree_map(lambda a, b: a + b, [{"W": 1, "b": 2}, {}], [{"W": 10, "b": 20}, {}])
    [{'W': 11, 'b': 22}, {}]
    """
    if isinstance(tree, dict):
        return {k: tree_map(f, v, *(r[k] for r in rest)) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(f, v, *(r[i] for r in rest)) for i, v in enumerate(tree))
    if tree is None:
        return None
    return f(tree, *rest)


def leaves(tree: Any) -> list[Any]:
    """The arrays of ``tree`` in ``tree_map``'s order.

    >>> from anynet._tree import leaves
    >>> leaves([{"W": 1, "b": 2}, {}, {"W": 3}])
    [1, 2, 3]
    """
    out: list[Any] = []
    tree_map(out.append, tree)
    return out


def first_leaf(tree: Any) -> Any:
    """The first array of ``tree`` (``None`` if it holds none)."""
    found = leaves(tree)
    return found[0] if found else None
