"""Weights between anynet's layouts and other libraries' (host-side: NumPy in, NumPy out).

anynet's ``Conv2D`` works channels-last and keeps ``W`` as (out, kh, kw, in), so
that seen as (out, kh*kw*in) it is a ``Linear`` weight over image patches;
PyTorch keeps (out, in, kh, kw). These functions move trained weights across.
"""

from __future__ import annotations

from typing import Any

import numpy as np  # host-side conversion of user-supplied weights

from .backends import to_numpy

__all__ = ["from_torch_conv2d_weight", "to_torch_conv2d_weight"]


def from_torch_conv2d_weight(weight: Any, bias: Any = None) -> dict[str, Any]:
    """Parameters of :class:`Conv2D` from PyTorch's ``Conv2d`` weight (out, in, kh, kw) and bias.

    The result, ``{"W": (out, kh, kw, in), "b": (out,)}`` (no ``"b"`` when
    ``bias`` is None), gives the same outputs on channels-last images as
    PyTorch on the same images channels-first. Accepts anything with a NumPy
    view (``torch.Tensor`` via ``.detach().cpu().numpy()``, NumPy arrays,
    lists); returns NumPy arrays, ready for ``model.params`` or
    ``backend.asarray``.

    Shapes
    ------
    weight : (out, in, kh, kw) -> W : (out, kh, kw, in); bias : (out,) -> b : (out,).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> w_torch = np.arange(24.0).reshape(2, 3, 2, 2)  # out=2, in=3, 2x2
    >>> p = an.layers.from_torch_conv2d_weight(w_torch, bias=np.ones(2))
    >>> p["W"].shape, bool(p["W"][1, 0, 1, 2] == w_torch[1, 2, 0, 1])
    ((2, 2, 2, 3), True)
    >>> bool(np.array_equal(an.layers.to_torch_conv2d_weight(p["W"]), w_torch))
    True
    """
    def host(a: Any) -> np.ndarray:
        if hasattr(a, "detach"):  # a torch tensor, perhaps on a GPU and requiring grad
            a = a.detach().cpu().numpy()
        return np.asarray(a)

    w = host(weight)
    if w.ndim != 4:
        raise ValueError(f"from_torch_conv2d_weight: weight must have shape (out, in, kh, kw), got {w.shape}")
    params = {"W": np.ascontiguousarray(np.transpose(w, (0, 2, 3, 1)))}
    if bias is not None:
        b = host(bias)
        if b.shape != (w.shape[0],):
            raise ValueError(f"from_torch_conv2d_weight: bias must have shape ({w.shape[0]},), got {b.shape}")
        params["b"] = b.copy()
    return params


def to_torch_conv2d_weight(W: Any) -> Any:
    """The converse of :func:`from_torch_conv2d_weight`: (out, kh, kw, in) -> PyTorch's (out, in, kh, kw).

    Returns a NumPy array (``torch.from_numpy`` takes it as is).

    Shapes
    ------
    W : (out, kh, kw, in) -> (out, in, kh, kw).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.layers.to_torch_conv2d_weight(np.zeros((8, 3, 3, 1))).shape
    (8, 1, 3, 3)
    """
    w = np.asarray(to_numpy(W))
    if w.ndim != 4:
        raise ValueError(f"to_torch_conv2d_weight: W must have shape (out, kh, kw, in), got {w.shape}")
    return np.ascontiguousarray(np.transpose(w, (0, 3, 1, 2)))
