"""Inverted dropout, reproducible from a key on every backend."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .. import _random
from ._base import Array, Layer, Params, namespace


@dataclasses.dataclass(frozen=True)
class Dropout(Layer):
    """Zero each element with probability ``p`` in training and scale the rest by ``1/(1-p)``.

    In inference (``training=False``) it is the identity. The mask is a pure
    function of ``key`` (see ``anynet._random``), so the same seed drops the
    same units on every backend, and the step stays compilable.

    Shapes: any -> same.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> drop, x = an.layers.Dropout(p=0.5), np.ones((4, 250))
    >>> y, mask = drop.forward({}, x, training=True, key=an.random.key(0, backend="numpy"))
    >>> sorted(set(y.ravel().tolist())), round(float((y == 0).mean()), 1)  # kept units scaled by 2
    ([0.0, 2.0], 0.5)
    >>> dx, _ = drop.backward({}, mask, np.ones_like(x))  # the gradient flows where y does
    >>> bool(np.array_equal(dx, y))
    True
    >>> drop({}, x) is x  # inference: the identity
    True
    """

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample (and the key) alone

    p: float = 0.5

    stochastic: ClassVar[bool] = True
    takes_first_row: ClassVar[bool] = True  # draws a batch slice's part of the whole batch's mask

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0.0 <= self.p < 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {self.p!r}")

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None, first_row: int = 0) -> tuple[Array, Any]:
        """``first_row``: the row of the whole batch that ``x``'s first row is, when a step
        is split into pieces (NumPy's ``threads=``): the piece gets its rows of the mask the
        whole batch would get."""
        if not training or self.p == 0.0:
            return x, None
        if key is None:
            raise ValueError("Dropout: forward(training=True) needs a key, e.g. key=anynet.random.key(0) "
                             "(fit and train_step make their own)")
        xp = namespace(xp, x)
        row = 1
        for s in x.shape[1:]:
            row *= int(s)
        keep = _random.uniform(key, tuple(x.shape), x.dtype, xp=xp, offset=first_row * row) >= self.p
        return xp.where(keep, x * (1.0 / (1.0 - self.p)), 0.0), keep

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        if cache is None:
            return dy, {}
        return namespace(xp, dy).where(cache, dy * (1.0 / (1.0 - self.p)), 0.0), {}
