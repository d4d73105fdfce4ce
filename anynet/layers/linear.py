"""Linear (fully connected) layer: the lecture's ``f(x, W) = W x + b``, batched."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from ._base import Array, Params, SizedLayer, namespace

_INITS = {
    "he": "he_normal",
    "kaiming": "he_normal",
    "he_normal": "he_normal",
    "he_uniform": "he_uniform",
    "glorot": "glorot_uniform",
    "xavier": "glorot_uniform",
    "glorot_uniform": "glorot_uniform",
    "glorot_normal": "glorot_normal",
    "zeros": "zeros",
}


def init_weight(weight_init: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: Any) -> Any:
    """Initial weights of ``shape`` on the host: He (N(0, 2/fan_in) or U(+-sqrt(6/fan_in))),
    Glorot (U(+-sqrt(6/(fan_in+fan_out))) or N(0, 2/(fan_in+fan_out))) or zeros
    (nested lists, drawing nothing from ``rng``). Shared by ``Linear`` and ``Conv2D``."""
    kind = _INITS[weight_init]
    if kind == "he_normal":
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
    if kind == "he_uniform":
        lim = math.sqrt(6.0 / fan_in)
        return rng.uniform(-lim, lim, size=shape)
    if kind == "glorot_uniform":
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, size=shape)
    if kind == "glorot_normal":
        return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=shape)

    def zeros(dims: tuple[int, ...]) -> list:
        return [0.0] * dims[0] if len(dims) == 1 else [zeros(dims[1:]) for _ in range(dims[0])]

    return zeros(shape)


@dataclasses.dataclass(frozen=True)
class Linear(SizedLayer):
    """``y = x @ W.T + b``: one row of ``x`` per sample, ``W`` of shape (out, in).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input and output sample.
    bias : bool
        Learn ``b`` (default True).
    weight_init : str
        ``"he_normal"`` (alias ``"he"``, default: N(0, 2/in), right for ReLU
        networks), ``"he_uniform"``, ``"glorot_uniform"`` (alias ``"glorot"``:
        U(+-sqrt(6/(in+out))), right for tanh/sigmoid), ``"glorot_normal"`` or
        ``"zeros"``. Biases start at zero.

    Shapes
    ------
    x : (N, in_features) -> y : (N, out_features);
    params: ``W`` (out_features, in_features), ``b`` (out_features,).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> lin = an.layers.Linear(4, 3)
    >>> p = {"W": np.ones((3, 4)), "b": np.zeros(3)}
    >>> lin(p, np.asarray([[1.0, 2.0, 3.0, 4.0]])).tolist()  # each output: 1 + 2 + 3 + 4
    [[10.0, 10.0, 10.0]]
    """

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    in_features: int
    out_features: int
    bias: bool = True
    weight_init: str = "he_normal"

    regularized: ClassVar[tuple[str, ...]] = ("W",)

    def __post_init__(self) -> None:
        for name in ("in_features", "out_features"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {v!r}")
        if self.weight_init not in _INITS:
            raise ValueError(
                f"Linear: weight_init must be one of {sorted(_INITS)}, got {self.weight_init!r}"
            )

    def init(self, rng: Any) -> Params:
        fan_in, fan_out = self.in_features, self.out_features
        W = init_weight(self.weight_init, (fan_out, fan_in), fan_in, fan_out, rng)
        params = {"W": W}
        if self.bias:
            params["b"] = [0.0] * fan_out  # host values: the model moves them to the backend
        return params

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        # y = x W^T + b
        y = x @ params["W"].T
        if self.bias:
            # in place on the fresh product: one pass, no new array (JAX, whose arrays
            # are immutable, rebinds y instead; nobody else holds y yet either way)
            y += params["b"][None, :]
        return y, x

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        x = cache
        grads = {"W": dy.T @ x}  # dW = dy^T x
        if self.bias:
            grads["b"] = namespace(xp, dy).sum(dy, axis=0)  # db = sum over the batch of dy
        dx = dy @ params["W"] if need_dx else None  # dx = dy W
        return dx, grads
