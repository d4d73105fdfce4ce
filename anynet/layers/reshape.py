"""Flatten: images (N, H, W, ...) to rows (N, H*W*...)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ._base import Array, Layer, Params, Shape, namespace


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    """Keep the batch axis, flatten the rest (the lecture's M x N x 3 image to a 3MN vector).

    Shapes: (N, d1, d2, ...) -> (N, d1*d2*...).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> flat = an.layers.Flatten()
    >>> y, cache = flat.forward({}, np.zeros((2, 3, 4)))
    >>> dx, _ = flat.backward({}, cache, np.ones_like(y))  # the gradient gets its image shape back
    >>> tuple(y.shape), tuple(dx.shape), flat.output_shape((3, 4))
    ((2, 12), (2, 3, 4), (12,))
    """

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        shape = tuple(x.shape)
        # the standard lets a shape hold None for a size not known yet (a symbolic batch,
        # as when ndonnx records an ONNX graph): then let reshape infer the batch axis
        n = -1 if shape[0] is None else shape[0]
        return namespace(xp, x).reshape(x, (n, math.prod(shape[1:]))), shape

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        return namespace(xp, dy).reshape(dy, cache), {}

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        return None if input_shape is None else (math.prod(input_shape),)
