"""Batch normalization (Ioffe & Szegedy 2015) with running statistics as layer state.

A stateful layer: besides its trained parameters (``gamma``, ``beta``) it
keeps running estimates of each feature's mean and variance, which are not
trained but updated by every training forward pass and used in evaluation.
The state travels like the parameters, through pure functions:
``init_state() -> host arrays`` and
``forward(params, x, *, training, key, xp, state) -> (y, cache, new_state)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from .. import _windows
from ._base import Array, Layer, Params, Shape, device_of, namespace


@dataclasses.dataclass(frozen=True)
class BatchNorm(Layer):
    """Normalize each feature (the last axis) over every other axis, then scale and shift.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``, per feature. In
    training, ``mean`` and ``var`` are the batch's (over the batch and, for
    images (N, H, W, C), every pixel: PyTorch's ``BatchNorm1d``/``BatchNorm2d``
    on channels-last data); in evaluation the running estimates. PyTorch's
    conventions: each training pass sets
    ``running = (1 - momentum) * running + momentum * batch_statistic``,
    with the unbiased batch variance (divided by ``M - 1``, ``M`` values per
    feature) for ``running_var``, while the normalization itself divides by
    ``M``.

    Parameters
    ----------
    num_features : int
        Size of the last axis ``C``.
    momentum : float
        Weight of the new batch statistic in the running ones (default 0.1).
    eps : float
        Added to the variance (default 1e-5).

    Shapes
    ------
    x : (N, ..., C) -> y : (N, ..., C), e.g. (N, C) features or (N, H, W, C) images;
    params: ``gamma`` (C,) (starts at 1), ``beta`` (C,) (starts at 0);
    state: ``running_mean`` (C,) (starts at 0), ``running_var`` (C,) (starts at 1).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> bn = an.layers.BatchNorm(1)
    >>> p, s = bn.init(None), bn.init_state()
    >>> p = {k: np.asarray(v) for k, v in p.items()}
    >>> x = np.asarray([[1.0], [3.0]])  # batch mean 2, biased variance 1, unbiased 2
    >>> y, cache, s = bn.forward(p, x, training=True, state=s)
    >>> np.round(y, 3).tolist(), s["running_mean"].tolist(), s["running_var"].tolist()
    ([[-1.0], [1.0]], [0.2], [1.1])
    >>> y_eval, _, _ = bn.forward(p, x, state=s)  # evaluation: the running statistics
    >>> np.round(y_eval, 3).tolist()
    [[0.763], [2.67]]
    >>> dx, grads = bn.backward(p, cache, np.ones_like(y))  # a shift of every output: no x gradient
    >>> dx.tolist(), sorted(grads)
    ([[0.0], [0.0]], ['beta', 'gamma'])
    """

    num_features: int
    momentum: float = 0.1
    eps: float = 1e-5

    stateful: ClassVar[bool] = True
    per_sample: ClassVar[bool] = False  # training normalizes with the batch's statistics

    def __post_init__(self) -> None:
        v = self.num_features
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"BatchNorm: num_features must be a positive int, got {v!r}")
        m = self.momentum
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.0 <= m <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be a number in [0, 1], got {m!r}")
        e = self.eps
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not e > 0.0:
            raise ValueError(f"BatchNorm: eps must be a positive number, got {e!r}")

    def init(self, rng: Any) -> Params:
        c = self.num_features
        return {"gamma": [1.0] * c, "beta": [0.0] * c}  # host values: the model moves them

    def init_state(self) -> dict[str, Any]:
        """The running statistics before any training: mean 0, variance 1 (host values,
        like ``init``'s parameters: the model moves them to its backend)."""
        c = self.num_features
        return {"running_mean": [0.0] * c, "running_var": [1.0] * c}

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        shape = tuple(input_shape)
        if len(shape) < 1 or shape[-1] != self.num_features:
            raise ValueError(f"expects inputs of shape (N, ..., {self.num_features}) (BatchNorm: "
                             f"num_features={self.num_features}, the last axis), but receives "
                             f"{_windows.fmt(shape)}")
        return shape

    def forward(self, params: Params, x: Array, /, *, training: bool = False, key: Array | None = None,
                xp: Any = None, state: dict[str, Array] | None = None) -> tuple[Array, Any, dict[str, Array]]:
        xp = namespace(xp, x)
        shape = tuple(x.shape)
        if len(shape) < 2:
            raise ValueError(f"BatchNorm: expects a batch (N, ..., {self.num_features}), "
                             f"but receives an array of shape {shape}")
        self.output_shape(shape[1:])
        if state is None:
            state = {k: xp.asarray(v, dtype=x.dtype, device=device_of(x)) for k, v in self.init_state().items()}
        given = state  # evaluation returns it unchanged (the very object)
        # host arrays (from init_state) or the backend's own (then no copy)
        state = {k: xp.asarray(v, device=device_of(x)) for k, v in state.items()}
        c = self.num_features
        axes = tuple(range(len(shape) - 1))
        per_feature = (1,) * (len(shape) - 1) + (c,)  # broadcasts over every axis but the last
        if training:
            m = math.prod(shape[:-1])
            if m < 2:
                raise ValueError(f"BatchNorm: training needs more than one value per feature, "
                                 f"but receives an array of shape {shape}")
            mean = xp.mean(x, axis=axes)
            xc = x - xp.reshape(mean, per_feature)
            var = xp.mean(xc * xc, axis=axes)  # biased: the normalization's variance
            rm, rv = state["running_mean"], state["running_var"]
            new_state = {
                "running_mean": (1.0 - self.momentum) * rm + self.momentum * xp.astype(mean, rm.dtype),
                "running_var": ((1.0 - self.momentum) * rv
                                + self.momentum * xp.astype(var * (m / (m - 1)), rv.dtype)),
            }
        else:
            mean = xp.astype(state["running_mean"], x.dtype)
            var = xp.astype(state["running_var"], x.dtype)
            xc = x - xp.reshape(mean, per_feature)
            new_state = given
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        xhat = xc * xp.reshape(inv_std, per_feature)
        y = xhat * xp.reshape(params["gamma"], per_feature) + xp.reshape(params["beta"], per_feature)
        return y, (xhat, inv_std, training), new_state

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        xp = namespace(xp, dy)
        xhat, inv_std, batch_stats = cache
        shape = tuple(dy.shape)
        axes = tuple(range(len(shape) - 1))
        per_feature = (1,) * (len(shape) - 1) + (self.num_features,)
        # dgamma = sum dy * xhat, dbeta = sum dy (over every axis but the features)
        grads = {"gamma": xp.sum(dy * xhat, axis=axes), "beta": xp.sum(dy, axis=axes)}
        if not need_dx:
            return None, grads
        scale = xp.reshape(params["gamma"] * inv_std, per_feature)
        if not batch_stats:  # evaluation: fixed statistics, dx = dy gamma / sqrt(var + eps)
            return dy * scale, grads
        m = math.prod(shape[:-1])
        # batch statistics: dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))
        dx = scale * (dy - xp.reshape(grads["beta"] * (1.0 / m), per_feature)
                      - xhat * xp.reshape(grads["gamma"] * (1.0 / m), per_feature))
        return dx, grads
