"""Numeric against analytic gradients: central finite differences in float64.

``df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h`` for every entry ``i``
(the lecture's limit definition, made symmetric so the error is O(h^2)).
The analytic side is the hand-written backward pass. Both run on the arrays'
own backend; each perturbed copy goes through the host, so this is for small
problems (a few thousand entries), as in a course exercise or a test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np  # host-side: finite differences perturb a host copy

from . import _random
from .backends import Backend, backend_of, get_backend, to_numpy
from .engine import TrainConfig
from .layers import Layer
from .losses import Loss, Regularizer
from .model import Sequential

__all__ = ["gradcheck", "numeric_grad", "relative_error"]


def relative_error(a: Any, b: Any, *, floor: float = 1e-8, reference: bool = False) -> float:
    """The largest difference of two arrays relative to their scale: anynet's one measure.

    ``max|a - b| / max(max|a|, max|b|, floor)``; with ``reference=True``, ``b`` is the
    reference and the scale is ``max(max|b|, floor)`` alone. Relative to the scale of the
    whole array, not elementwise (which blows up on entries near zero). Arrays of any
    backend; shapes must match. ``inf`` when either holds NaN or infinity (a failure,
    never a pass).

    >>> import numpy as np
    >>> from anynet.gradcheck import relative_error
    >>> round(relative_error(np.asarray([1.0, 2.0]), np.asarray([1.0, 2.002])), 6)
    0.000999
    """
    a, b = to_numpy(a).astype("float64"), to_numpy(b).astype("float64")
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ: {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    scale = float(abs(b).max()) if reference else max(float(abs(a).max()), float(abs(b).max()))
    return float(abs(a - b).max()) / max(scale, floor)


def numeric_grad(f: Callable[[Any], float], a: Any, be: Backend, *, eps: float = 1e-6) -> Any:
    """Central differences of the scalar function ``f`` at the array ``a`` (host float64 result)."""
    host = to_numpy(a).astype("float64")  # a fresh host copy: perturbed in place below
    grad = host * 0.0
    flat, gflat = host.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(be.asarray(host, dtype="float64"))
        flat[i] = old - eps
        fm = f(be.asarray(host, dtype="float64"))
        flat[i] = old
        gflat[i] = (fp - fm) / (2.0 * eps)
    return grad


def gradcheck(target: Any, *args: Any, eps: float = 1e-6, seed: int = 0, details: bool = False,
              **kwargs: Any) -> float | dict[str, float]:
    """Compare the analytic gradient of a layer, a loss or a model with finite differences.

    Usage::

        gradcheck(layer, x, params=None)            # dL/dx and dL/dparams, L = sum(y * R)
        gradcheck(loss, y, t)                       # dL/dy
        gradcheck(model, x, t, loss=..., regularizer=None)   # dL/dparams of the whole model

    Everything is computed in float64 on the backend of the given arrays (the
    model's backend for a model). For a layer, ``params`` defaults to a fresh
    ``layer.init`` from ``seed``, and the upstream gradient ``R`` is random.
    Stochastic layers run in training mode with a fixed key, so the function is
    deterministic.

    Returns
    -------
    float
        The largest :func:`~anynet.gradcheck.relative_error` over all arrays checked (below 1e-6
        means the backward pass is right), or with ``details=True`` a dict
        naming each array's error.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x = np.random.default_rng(0).normal(size=(3, 4))
    >>> an.gradcheck(an.layers.Tanh(), x) < 1e-6
    True
    >>> errors = an.gradcheck(an.layers.Linear(4, 2), x, details=True)  # dL/dx and each parameter
    >>> sorted(errors), max(errors.values()) < 1e-6
    (['W', 'b', 'x'], True)
    >>> an.gradcheck(an.losses.SoftmaxCrossEntropy(), x, np.asarray([0, 3, 1])) < 1e-6
    True
    """
    if isinstance(target, Sequential):
        errors = _check_model(target, *args, eps=eps, seed=seed, **kwargs)
    elif isinstance(target, Loss) or callable(getattr(target, "value_and_grad", None)):
        errors = _check_loss(target, *args, eps=eps, **kwargs)
    elif isinstance(target, Layer) or callable(getattr(target, "backward", None)):
        errors = _check_layer(target, *args, eps=eps, seed=seed, **kwargs)
    else:
        raise TypeError(f"gradcheck: target must be a layer, a loss or a Sequential, got {type(target).__name__}")
    return errors if details else max(errors.values(), default=0.0)


def _float64(be: Backend, a: Any) -> Any:
    return be.asarray(a, dtype="float64")


def _forward(layer: Any, params: dict[str, Any], x: Any, *, state: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """``(y, cache)`` in training mode; a stateful layer (BatchNorm) runs from ``state``, its initial
    state (in training its output uses the batch's statistics; the state only passes through)."""
    if getattr(layer, "stateful", False):
        out = layer.forward(params, x, training=True, state=state, **kwargs)
        return out[0], out[1]
    return layer.forward(params, x, training=True, **kwargs)


def _check_layer(layer: Any, x: Any, params: dict[str, Any] | None = None, *, eps: float,
                 seed: int) -> dict[str, float]:
    be = backend_of(x) if not isinstance(x, (list, tuple)) else get_backend("numpy")
    xp = be.xp
    x = _float64(be, x)
    rng = be.host_rng(seed)
    if params is None:
        params = layer.init(rng)
    params = {k: _float64(be, v) for k, v in params.items()}
    key = _random.key_from_seed(seed, xp=xp) if getattr(layer, "stochastic", False) else None
    state = ({k: _float64(be, v) for k, v in layer.init_state().items()}
             if getattr(layer, "stateful", False) else None)
    y, cache = _forward(layer, params, x, state=state, key=key, xp=xp)
    R = _float64(be, rng.standard_normal(size=tuple(y.shape)))

    def f(xx: Any, pp: dict[str, Any]) -> float:
        return float(xp.sum(_forward(layer, pp, xx, state=state, key=key, xp=xp)[0] * R))

    dx, grads = layer.backward(params, cache, R, need_dx=True, xp=xp)
    if set(grads) != set(params):
        raise ValueError(f"gradcheck: {layer!r}.backward returned gradients for {sorted(grads)} "
                         f"but the layer has parameters {sorted(params)}")
    errors = {"x": relative_error(dx, numeric_grad(lambda xx: f(xx, params), x, be, eps=eps))}
    for k in params:
        num = numeric_grad(lambda v, k=k: f(x, {**params, k: v}), params[k], be, eps=eps)
        errors[k] = relative_error(grads[k], num)
    return errors


def _check_loss(loss: Any, y: Any, t: Any, *, eps: float) -> dict[str, float]:
    be = backend_of(y) if not isinstance(y, (list, tuple)) else get_backend("numpy")
    y = _float64(be, y)
    t = be.asarray(t)
    if be.xp.isdtype(t.dtype, "real floating"):
        t = _float64(be, t)
    _, dy = loss.value_and_grad(y, t, xp=be.xp)
    num = numeric_grad(lambda yy: float(loss.value_and_grad(yy, t, xp=be.xp)[0]), y, be, eps=eps)
    return {"y": relative_error(dy, num)}


def _check_model(model: Any, x: Any, t: Any, *, loss: Loss, regularizer: Regularizer | None = None,
                 eps: float, seed: int) -> dict[str, float]:
    m = model if model.dtype == "float64" else model.to(dtype="float64")
    X = m.check_inputs(x, where="gradcheck")
    T = m.check_targets(t, loss, where="gradcheck", n=X.shape[0])
    key = _random.key_from_seed(seed, xp=m.backend.xp)
    cfg = TrainConfig(loss, None, regularizer)
    _, grads = m.engine.compiled("grads", cfg, True)(m.params, m.state, X, T, key)
    value = m.engine.compiled("value", cfg, True)  # compiled once on JAX, reused per entry
    errors: dict[str, float] = {}
    for i, p in enumerate(m.params):
        for k in p:
            def f(v: Any, i: int = i, k: str = k) -> float:
                pp = [dict(d) for d in m.params]
                pp[i][k] = v
                return float(value(pp, m.state, X, T, key))

            errors[f"layer {i} {k}"] = relative_error(grads[i][k], numeric_grad(f, p[k], m.backend, eps=eps))
    return errors
