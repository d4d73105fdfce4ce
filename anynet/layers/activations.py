"""Elementwise activations and softmax, each with its hand-written backward pass.

Each ``forward`` keeps in its cache what the local gradient needs; each
``backward`` multiplies the upstream gradient ``dy`` by that local gradient
(the chain rule, one gate at a time).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ._base import Array, Layer, Params, ns


class _Elementwise(Layer):
    """Shape-preserving, parameter-free layer: subclasses define ``_f`` and ``_df``."""

    _abstract = True

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        return self._f(ns(xp, x), x)

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        return self._df(ns(xp, dy), cache, dy), {}

    def _f(self, xp: Any, x: Array) -> tuple[Array, Any]:
        raise NotImplementedError

    def _df(self, xp: Any, cache: Any, dy: Array) -> Array:
        raise NotImplementedError


def _sigmoid(xp: Any, x: Array) -> Array:
    # 1 / (1 + e^-x), evaluated without overflow for either sign of x
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclasses.dataclass(frozen=True)
class Sigmoid(_Elementwise):
    """Logistic function ``s = 1 / (1 + exp(-x))``; ``ds/dx = (1 - s) s``.

    Shapes: any -> same.
    """

    def _f(self, xp, x):
        s = _sigmoid(xp, x)
        return s, s

    def _df(self, xp, s, dy):
        return dy * (1.0 - s) * s  # dx = dy (1 - s) s


@dataclasses.dataclass(frozen=True)
class Tanh(_Elementwise):
    """``y = tanh(x)``; ``dy/dx = 1 - y**2``. Shapes: any -> same."""

    def _f(self, xp, x):
        y = xp.tanh(x)
        return y, y

    def _df(self, xp, y, dy):
        return dy * (1.0 - y * y)  # dx = dy (1 - y^2)


@dataclasses.dataclass(frozen=True)
class ReLU(_Elementwise):
    """``y = max(0, x)``; the gradient passes where ``x > 0``. Shapes: any -> same."""

    # forward/backward written out (not via _f/_df): the most used activation, one call less
    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        y = ns(xp, x).maximum(x, 0.0)
        return y, y

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        # dx = dy [x > 0]  (y > 0 exactly where x > 0); a multiply by the mask is
        # about twice as fast as where() on NumPy, and the same once compiled
        dx = ns(xp, dy).astype(cache > 0, dy.dtype)
        dx *= dy  # in place on the fresh mask (rebinds on JAX)
        return dx, {}


@dataclasses.dataclass(frozen=True)
class LeakyReLU(_Elementwise):
    """``y = x`` for ``x > 0``, else ``negative_slope * x`` (the lecture's ``max(0.1x, x)``
    is ``LeakyReLU(0.1)``). Shapes: any -> same.
    """

    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        if not isinstance(self.negative_slope, (int, float)) or not math.isfinite(self.negative_slope):
            raise ValueError(f"LeakyReLU: negative_slope must be a finite number, got {self.negative_slope!r}")

    def _f(self, xp, x):
        return xp.where(x > 0, x, self.negative_slope * x), x

    def _df(self, xp, x, dy):
        return xp.where(x > 0, dy, self.negative_slope * dy)  # dx = dy (1 or slope)


@dataclasses.dataclass(frozen=True)
class ELU(_Elementwise):
    """``y = x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``. Shapes: any -> same."""

    alpha: float = 1.0

    def _f(self, xp, x):
        y = xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0.0)))
        return y, (x, y)

    def _df(self, xp, cache, dy):
        x, y = cache
        return xp.where(x > 0, dy, dy * (y + self.alpha))  # for x <= 0: dy/dx = y + alpha


_GELU_C = math.sqrt(2.0 / math.pi)


@dataclasses.dataclass(frozen=True)
class GELU(_Elementwise):
    """Gaussian error linear unit, tanh form (Hendrycks & Gimpel):
    ``y = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``.

    The exact form needs ``erf``, which the Array API standard does not have;
    the tanh form is within 1e-3 of it (PyTorch ``approximate="tanh"``,
    ``jax.nn.gelu(approximate=True)``). Shapes: any -> same.
    """

    def _f(self, xp, x):
        u = _GELU_C * (x + 0.044715 * x * x * x)
        t = xp.tanh(u)
        return 0.5 * x * (1.0 + t), (x, t)

    def _df(self, xp, cache, dy):
        x, t = cache
        # dy/dx = (1 + t)/2 + x/2 (1 - t^2) du/dx,  du/dx = c (1 + 3 * 0.044715 x^2)
        du = _GELU_C * (1.0 + 0.134145 * x * x)
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


@dataclasses.dataclass(frozen=True)
class Softplus(_Elementwise):
    """``y = log(1 + exp(x))`` (stable for large ``|x|``); ``dy/dx = sigmoid(x)``.
    Shapes: any -> same.
    """

    def _f(self, xp, x):
        return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x))), x

    def _df(self, xp, x, dy):
        return dy * _sigmoid(xp, x)


@dataclasses.dataclass(frozen=True)
class Softmax(_Elementwise):
    """``y_k = exp(x_k) / sum_j exp(x_j)`` over the last axis.

    For classification, end the network with logits and use
    :class:`~anynet.losses.SoftmaxCrossEntropy`, which fuses the two stably;
    this layer is for when the probabilities themselves are the output.

    Shapes: (N, C) -> (N, C).
    """

    def _f(self, xp, x):
        e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
        y = e / xp.sum(e, axis=-1, keepdims=True)
        return y, y

    def _df(self, xp, y, dy):
        # dx = y * (dy - <dy, y>)   (the Jacobian diag(y) - y y^T applied to dy)
        return y * (dy - xp.sum(dy * y, axis=-1, keepdims=True))
