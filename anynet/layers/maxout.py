"""Maxout (Goodfellow et al. 2013): the max of ``pieces`` linear maps."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from ._base import Array, Params, SizedLayer, device_of, namespace


@dataclasses.dataclass(frozen=True)
class Maxout(SizedLayer):
    """``y_j = max_k (x @ W[k].T + b[k])_j``, the lecture's ``max(w1.x + b1, w2.x + b2)``.

    Parameters
    ----------
    in_features, out_features : int
    pieces : int
        Number of linear pieces ``k`` per output unit (default 2).

    Shapes
    ------
    x : (N, in_features) -> y : (N, out_features);
    params: ``W`` (pieces, out_features, in_features), ``b`` (pieces, out_features).
    ``W`` is initialized Glorot-uniform per piece.

    Examples
    --------
    Two pieces that pick ``x0`` and ``x1``: the unit outputs ``max(x0, x1)``, and
    the gradient reaches only the piece that won.

    >>> import numpy as np, anynet as an
    >>> mo = an.layers.Maxout(2, 1, pieces=2)
    >>> params = {"W": np.asarray([[[1.0, 0.0]], [[0.0, 1.0]]]), "b": np.zeros((2, 1))}
    >>> y, cache = mo.forward(params, np.asarray([[3.0, 5.0]]))
    >>> dx, grads = mo.backward(params, cache, np.ones((1, 1)))
    >>> y.tolist(), grads["W"].tolist(), dx.tolist()
    ([[5.0]], [[[0.0, 0.0]], [[3.0, 5.0]]], [[0.0, 1.0]])
    """

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    in_features: int
    out_features: int
    pieces: int = 2

    regularized: ClassVar[tuple[str, ...]] = ("W",)

    def __post_init__(self) -> None:
        for name in ("in_features", "out_features", "pieces"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Maxout: {name} must be a positive int, got {v!r}")

    def init(self, rng: Any) -> Params:
        lim = math.sqrt(6.0 / (self.in_features + self.out_features))
        k, o, i = self.pieces, self.out_features, self.in_features
        return {"W": rng.uniform(-lim, lim, size=(k, o, i)), "b": [[0.0] * o for _ in range(k)]}

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        xp = namespace(xp, x)
        k, o, i = self.pieces, self.out_features, self.in_features
        W2 = xp.reshape(params["W"], (k * o, i))
        z = x @ W2.T + xp.reshape(params["b"], (1, k * o))  # all k pieces in one matmul
        z = xp.reshape(z, (-1, k, o))  # -1: the batch size may be symbolic (None), k*o >= 1
        win = xp.argmax(z, axis=1)  # (N, o): which piece is the max
        y = xp.max(z, axis=1)
        return y, (x, win)

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        xp = namespace(xp, dy)
        x, win = cache
        k, o, i = self.pieces, self.out_features, self.in_features
        # the gradient flows only into the winning piece: dz[n, k, j] = dy[n, j] [win[n, j] == k]
        pieces = xp.reshape(xp.arange(k, dtype=win.dtype, device=device_of(win)), (1, k, 1))
        dz = xp.where(win[:, None, :] == pieces, dy[:, None, :], 0.0)
        dz = xp.reshape(dz, (x.shape[0], k * o))
        grads = {
            "W": xp.reshape(dz.T @ x, (k, o, i)),  # dW_k = dz_k^T x
            "b": xp.reshape(xp.sum(dz, axis=0), (k, o)),
        }
        dx = dz @ xp.reshape(params["W"], (k * o, i)) if need_dx else None
        return dx, grads
