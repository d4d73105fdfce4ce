"""Helpers over anynet's parameter structure: a list with one ``dict[str, array]`` per layer.

Plain lists and dicts are JAX pytrees, so the same structure crosses ``jax.jit``.
"""

from __future__ import annotations

import math
from typing import Any

Params = list[dict[str, Any]]


def first_leaf(tree: Params) -> Any:
    """The first array of a parameter list (``None`` if it holds none)."""
    for d in tree:
        for v in d.values():
            return v
    return None


class Flat(list):
    """A parameter structure whose arrays are views into one 1-D buffer, ``.flat``.

    ``fit`` packs its own copies of the parameters (and the optimizer's buffers)
    this way on backends whose slices and reshapes are views (NumPy, CuPy,
    torch): an elementwise optimizer then updates every parameter with a few
    operations on the whole buffer instead of a few per array.
    """

    flat: Any


def pack(xp: Any, tree: Params, order: Params | None = None) -> Flat:
    """Copies of the arrays of ``tree`` (keys in the order of ``order``, default
    ``tree``) in one new 1-D buffer; returns the structure of views into it."""
    copy_of_packed = isinstance(tree, Flat) and order is None
    order = tree if order is None else order
    if copy_of_packed:  # its buffer holds every array already: one copy
        buf = xp.asarray(tree.flat, copy=True)
    else:
        leaves = [tree[i][k] for i, d in enumerate(order) for k in d]
        buf = xp.concat([xp.reshape(v, (-1,)) for v in leaves]) if leaves else None
    out = Flat()
    start = 0
    for i, d in enumerate(order):
        layer = {}
        for k in d:
            shape = tuple(tree[i][k].shape)
            layer[k] = xp.reshape(buf[start:start + math.prod(shape)], shape)
            start += math.prod(shape)
        out.append(layer)
    out.flat = buf
    return out
