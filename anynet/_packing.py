"""The one fast path of training: small models kept in one flat array.

A momentum or Adam update is a few array operations per parameter array; for a
small MLP on a CPU each operation costs about a microsecond of Python and
dispatch, more than the arithmetic. ``fit`` therefore keeps a small model's
parameters as ONE flat array, ``[{"all": flat}]``, and gives the optimizer a
model of one array: its update rule, written once for any tree, runs a few
operations on everything. The step views ``flat`` as the layers' arrays
(:meth:`Packing.unflatten`: slices and reshapes, no copies on NumPy) and joins
their gradients into one flat gradient (:meth:`Packing.flatten`: one
``concat``). Nothing is written in place; the numbers are those of the
per-array update (the same operations, element by element).

Only optimizers whose rule treats every element alike may see a packed model
(``optimizer.elementwise``: all of anynet's); :attr:`Backend.pack_limit` says
up to which size it pays (see there). A compiler (XLA) fuses the per-array
updates itself, so JAX never packs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from array_api_compat import array_namespace

from ._tree import Params

__all__ = ["KEY", "Packing"]

#: The one entry of a packed model's single "layer".
KEY = "all"


@dataclasses.dataclass(frozen=True)
class Packing:
    """Where each parameter array sits in the flat array: ``(layer, name, shape)`` in order.

    Examples
    --------
    >>> import numpy as np
    >>> from anynet._packing import Packing
    >>> params = [{"W": np.ones((2, 3)), "b": np.zeros(2)}, {}]
    >>> packing = Packing.of(params)
    >>> flat = packing.flatten(params)
    >>> flat.shape, packing.size
    ((8,), 8)
    >>> back = packing.unflatten(flat)
    >>> back[0]["W"].shape, back[1]
    ((2, 3), {})
    """

    entries: tuple[tuple[int, str, tuple[int, ...]], ...]
    n_layers: int

    @classmethod
    def of(cls, params: Params) -> Packing:
        entries = tuple((i, k, tuple(int(s) for s in v.shape)) for i, d in enumerate(params) for k, v in d.items())
        return cls(entries, len(params))

    @property
    def size(self) -> int:
        return sum(math.prod(shape) for _, _, shape in self.entries)

    def flatten(self, tree: Params, xp: Any = None) -> Any:
        """One 1-D array holding every array of ``tree`` (a copy)."""
        if xp is None:
            xp = array_namespace(*(tree[i][k] for i, k, _ in self.entries))
        return xp.concat([xp.reshape(tree[i][k], (-1,)) for i, k, _ in self.entries])

    def unflatten(self, flat: Any, xp: Any = None) -> Params:
        """The layers' arrays as slices of ``flat`` (views where the library makes views)."""
        if xp is None:
            xp = array_namespace(flat)
        out: Params = [{} for _ in range(self.n_layers)]
        start = 0
        for i, k, shape in self.entries:
            n = math.prod(shape)
            out[i][k] = xp.reshape(flat[start:start + n], shape)
            start += n
        return out

    # the optimizer state: per-parameter buffers (lists shaped like the params) <-> one flat array
    def pack_state(self, state: dict[str, Any], xp: Any = None) -> dict[str, Any]:
        return {k: [{KEY: self.flatten(v, xp)}] if isinstance(v, list) else v for k, v in state.items()}

    def unpack_state(self, state: dict[str, Any], xp: Any = None) -> dict[str, Any]:
        return {k: self.unflatten(v[0][KEY], xp) if isinstance(v, list) else v for k, v in state.items()}
