"""Flatten: images (N, H, W, ...) to rows (N, H*W*...); Reshape: rows to images and back."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

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

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

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


@dataclasses.dataclass(frozen=True)
class Reshape(Layer):
    """Give each sample the shape ``shape`` (the batch axis stays), e.g. rows to images.

    Parameters
    ----------
    shape : tuple of int
        The per-sample output shape; one entry may be ``-1`` (inferred).

    Shapes: (N, d1, d2, ...) -> (N, *shape), with the same number of values per sample.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> to_images = an.layers.Reshape((8, 8, 1))  # the digits' 64 pixels as a channels-last image
    >>> y, cache = to_images.forward({}, np.zeros((5, 64)))
    >>> dx, _ = to_images.backward({}, cache, np.ones_like(y))
    >>> tuple(y.shape), tuple(dx.shape), an.layers.Reshape((-1, 4)).output_shape((2, 8))
    ((5, 8, 8, 1), (5, 64), (4, 4))
    """

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        shape = self.shape
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if (not isinstance(shape, (tuple, list)) or not shape
                or any(isinstance(s, bool) or not isinstance(s, int) or (s < 1 and s != -1) for s in shape)
                or list(shape).count(-1) > 1):
            raise ValueError(f"Reshape: shape must be a tuple of positive ints with at most one -1, "
                             f"got {self.shape!r}")
        object.__setattr__(self, "shape", tuple(shape))  # a list from a saved JSON config

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None if -1 in self.shape else self.shape
        size, known = math.prod(input_shape), math.prod(s for s in self.shape if s != -1)
        fits = size % known == 0 if -1 in self.shape else size == known
        if not fits:
            raise ValueError(f"expects inputs with {'a multiple of ' if -1 in self.shape else ''}{known} "
                             f"values per sample (Reshape to (N, {', '.join(map(str, self.shape))})), "
                             f"but receives (N, {', '.join(map(str, input_shape))}) = {size} values")
        return tuple(size // known if s == -1 else s for s in self.shape)

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        shape = tuple(x.shape)
        out = self.output_shape(shape[1:])
        n = -1 if shape[0] is None else shape[0]  # None: a symbolic batch (ONNX export), as in Flatten
        return namespace(xp, x).reshape(x, (n, *out)), shape

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        # dx = dy with the input's shape back (a reshape moves no values)
        return namespace(xp, dy).reshape(dy, cache), {}
