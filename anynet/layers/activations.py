"""Elementwise activations and softmax, each with its hand-written backward pass.

Each ``forward`` keeps in its cache what the local gradient needs; each
``backward`` multiplies the upstream gradient ``dy`` by that local gradient
(the chain rule, one gate at a time).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from ._base import Array, Layer, Params, namespace


class _Elementwise(Layer):
    """Shape-preserving, parameter-free layer: subclasses define ``_f`` and ``_df``."""

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    _abstract = True

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        return self._f(namespace(xp, x), x)

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        return self._df(namespace(xp, dy), cache, dy), {}

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

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> sig = an.layers.Sigmoid()
    >>> s, cache = sig.forward({}, np.asarray([0.0, 2.0]))
    >>> [round(float(v), 4) for v in s]
    [0.5, 0.8808]
    >>> dx, grads = sig.backward({}, cache, np.ones(2))  # dy = 1: dx is the local gradient
    >>> round(float(dx[0]), 4), grads  # (1 - s) s = 0.5 * 0.5 at x = 0; no parameters
    (0.25, {})
    """

    def _f(self, xp, x):
        s = _sigmoid(xp, x)
        return s, s

    def _df(self, xp, s, dy):
        return dy * (1.0 - s) * s  # dx = dy (1 - s) s


@dataclasses.dataclass(frozen=True)
class Tanh(_Elementwise):
    """``y = tanh(x)``; ``dy/dx = 1 - y**2``. Shapes: any -> same.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, cache = an.layers.Tanh().forward({}, np.asarray([0.0, 1.0]))
    >>> [round(float(v), 4) for v in y]
    [0.0, 0.7616]
    >>> dx, _ = an.layers.Tanh().backward({}, cache, np.ones(2))  # 1 - y**2
    >>> [round(float(v), 4) for v in dx]
    [1.0, 0.42]
    """

    def _f(self, xp, x):
        y = xp.tanh(x)
        return y, y

    def _df(self, xp, y, dy):
        return dy * (1.0 - y * y)  # dx = dy (1 - y^2)


@dataclasses.dataclass(frozen=True)
class ReLU(_Elementwise):
    """``y = max(0, x)``; the gradient passes where ``x > 0``. Shapes: any -> same.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> relu = an.layers.ReLU()
    >>> y, cache = relu.forward({}, np.asarray([[-1.0, 0.0, 2.0]]))
    >>> y.tolist()
    [[0.0, 0.0, 2.0]]
    >>> dx, _ = relu.backward({}, cache, np.asarray([[5.0, 5.0, 5.0]]))  # blocked where x <= 0
    >>> dx.tolist()
    [[0.0, 0.0, 5.0]]
    """

    # forward/backward written out (not via _f/_df): the most used activation, one call less
    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        y = namespace(xp, x).maximum(x, 0.0)
        return y, y

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        # dx = dy [x > 0]  (y > 0 exactly where x > 0); a multiply by the mask is
        # about twice as fast as where() on NumPy, and the same once compiled
        dx = namespace(xp, dy).astype(cache > 0, dy.dtype)
        dx *= dy  # in place on the fresh mask (rebinds on JAX)
        return dx, {}


@dataclasses.dataclass(frozen=True)
class LeakyReLU(_Elementwise):
    """``y = x`` for ``x > 0``, else ``negative_slope * x`` (the lecture's ``max(0.1x, x)``
    is ``LeakyReLU(0.1)``). Shapes: any -> same.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> leaky = an.layers.LeakyReLU(0.1)
    >>> y, cache = leaky.forward({}, np.asarray([-2.0, 3.0]))
    >>> [round(float(v), 4) for v in y]
    [-0.2, 3.0]
    >>> dx, _ = leaky.backward({}, cache, np.ones(2))  # slope 0.1 left of 0, 1 right of it
    >>> [round(float(v), 4) for v in dx]
    [0.1, 1.0]
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
    """``y = x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``. Shapes: any -> same.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> elu = an.layers.ELU(alpha=1.0)
    >>> y, cache = elu.forward({}, np.asarray([-1.0, 2.0]))
    >>> [round(float(v), 4) for v in y]  # exp(-1) - 1 = -0.6321
    [-0.6321, 2.0]
    >>> dx, _ = elu.backward({}, cache, np.ones(2))  # y + alpha = exp(x) for x <= 0
    >>> [round(float(v), 4) for v in dx]
    [0.3679, 1.0]
    """

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

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> gelu = an.layers.GELU()
    >>> y, cache = gelu.forward({}, np.asarray([-1.0, 0.0, 1.0]))
    >>> [round(float(v), 4) for v in y]  # close to x * Phi(x): -0.1587, 0, 0.8413
    [-0.1588, 0.0, 0.8412]
    >>> dx, _ = gelu.backward({}, cache, np.ones(3))
    >>> round(float(dx[1]), 4)  # the slope at 0 is 1/2
    0.5
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

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, cache = an.layers.Softplus().forward({}, np.asarray([0.0, 1000.0]))
    >>> [round(float(v), 4) for v in y]  # log 2, and no overflow for large x
    [0.6931, 1000.0]
    >>> dx, _ = an.layers.Softplus().backward({}, cache, np.ones(2))  # sigmoid(x)
    >>> [round(float(v), 4) for v in dx]
    [0.5, 1.0]
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

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, cache = an.layers.Softmax().forward({}, np.asarray([[1.0, 2.0, 3.0]]))
    >>> [round(float(v), 4) for v in y[0]], round(float(y.sum()), 4)
    ([0.09, 0.2447, 0.6652], 1.0)
    >>> dx, _ = an.layers.Softmax().backward({}, cache, np.ones((1, 3)))
    >>> [round(float(v), 4) for v in dx[0]]  # adding a constant to every score changes nothing
    [0.0, 0.0, 0.0]
    """

    def _f(self, xp, x):
        e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
        y = e / xp.sum(e, axis=-1, keepdims=True)
        return y, y

    def _df(self, xp, y, dy):
        # dx = y * (dy - <dy, y>)   (the Jacobian diag(y) - y y^T applied to dy)
        return y * (dy - xp.sum(dy * y, axis=-1, keepdims=True))
