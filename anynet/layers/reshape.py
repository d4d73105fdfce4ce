"""Flatten: images (N, H, W, ...) to rows (N, H*W*...)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ._base import Array, Layer, Params, Shape, ns


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    """Keep the batch axis, flatten the rest (the lecture's M x N x 3 image to a 3MN vector).

    Shapes: (N, d1, d2, ...) -> (N, d1*d2*...).
    """

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        shape = tuple(x.shape)
        return ns(xp, x).reshape(x, (shape[0], math.prod(shape[1:]))), shape

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        return ns(xp, dy).reshape(dy, cache), {}

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        return None if input_shape is None else (math.prod(input_shape),)
