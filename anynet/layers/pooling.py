"""Pooling on channels-last images: max, average, and global average.

The windows come from the same gathers as :class:`~anynet.layers.Conv2D`
(see ``anynet._windows``): a (N, Ho*Wo, k*k, C) stack of windows,
reduced over its window axis; the backward pass is the second gather, each
input pixel summing the gradient of the window entries that read it.

Ties in max pooling: the whole gradient goes to the FIRST maximum of the
window in window order (row by row, left to right), PyTorch's choice on the
CPU. It is computed with standard operations only, a "first hit" mask
``is_max & (cumulative_sum(is_max) == 1)`` along the window axis, so it is
the same on every backend (``argmax``'s tie rule is not specified by the
standard, and a scatter of repeated indices sums differently on NumPy and
JAX).

Windows that tile the image (stride = pool size, the default) take a faster
path that gathers nothing: the image, cropped to whole windows, is reshaped
to (N, Ho, kh, Wo, kw, C) and reduced over the two window axes; the backward
pass writes each window offset's share with ``where`` and stacks them back.
It gives the same numbers and the same tie rule (its first-hit mask walks the
window offsets in the same row-by-row order), and was measured 3.4x faster
on W4's first pooling (64x26x26x32: 20.0 -> 5.9 ms forward and backward on
NumPy, one thread; PyTorch's max_pool2d 4.0 ms). Overlapping windows
(stride < pool size) take the gathers.

Inside a model, a ``MaxPool2D`` whose windows tile the image and that follows a
``Conv2D`` (directly, or behind a ``ReLU``, which the engine runs after the
pooling) runs together with the convolution as one step, faster still: see
``Conv2D.forward_pooled``. The layer on its own, as documented here, gives the
same numbers.

Memory: the window stack of the gather path has ``(k/stride)^2`` times the
input's size; the tiled path keeps only a view of the input; no chunking is
needed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .. import _windows
from ._base import Array, Layer, Params, Shape, device_of, namespace


@dataclasses.dataclass(frozen=True)
class _Pool2D(Layer):
    """Shared geometry of MaxPool2D and AvgPool2D: windows of ``pool_size``, step ``stride``."""

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    _abstract = True

    pool_size: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None

    #: take the reshape path where windows tile the image (tests turn it off to compare)
    tiled: ClassVar[bool] = True

    def __post_init__(self) -> None:
        name = type(self).__name__
        for field in ("pool_size", "stride"):
            v = getattr(self, field)
            if isinstance(v, list):  # from a saved JSON config
                object.__setattr__(self, field, tuple(v))
        _windows.pair(self.pool_size, "pool_size", name)
        if self.stride is not None:
            _windows.pair(self.stride, "stride", name)

    def _geometry(self) -> tuple[int, int, int, int]:
        kh, kw = _windows.pair(self.pool_size, "", "")
        sh, sw = (kh, kw) if self.stride is None else _windows.pair(self.stride, "", "")
        return kh, kw, sh, sw

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        kh, kw, sh, sw = self._geometry()
        name = type(self).__name__
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(f"expects images of shape (N, H, W, C) ({name}: channels last), "
                             f"but receives {_windows.fmt(shape)}")
        h, w, c = shape
        if h < kh or w < kw:
            raise ValueError(f"expects images of at least {kh}x{kw} pixels ({name}: pool {kh}x{kw}), "
                             f"shape (N, >={kh}, >={kw}, C), but receives {_windows.fmt(shape)}")
        return (h - kh) // sh + 1, (w - kw) // sw + 1, c

    def _tiles(self, xp: Any, x: Array) -> Array | None:
        """The windows as a (N, Ho, kh, Wo, kw, C) view of ``x`` when they tile it (stride =
        pool size), else None (overlapping windows: the gather path)."""
        kh, kw, sh, sw = self._geometry()
        if (sh, sw) != (kh, kw) or not self.tiled:
            return None
        shape = tuple(x.shape)
        if len(shape) != 4:
            return None  # the gather path explains the error
        self.output_shape(shape[1:])
        n, h, w, c = shape
        ho, wo = h // kh, w // kw
        if (h, w) != (ho * kh, wo * kw):  # windows that do not fit are dropped
            x = x[:, :ho * kh, :wo * kw, :]
        return xp.reshape(x, (-1 if n is None else n, ho, kh, wo, kw, c))

    @staticmethod
    def _untile(xp: Any, d: Array, shape: tuple[int, ...]) -> Array:
        """(N, Ho, kh, Wo, kw, C) -> (N, H, W, C), zeros where the dropped rows and columns were."""
        n, h, w, c = shape
        _, ho, kh, wo, kw, _ = d.shape
        dx = xp.reshape(d, (n, ho * kh, wo * kw, c))
        if h > ho * kh:
            dx = xp.concat([dx, xp.zeros((n, h - ho * kh, wo * kw, c), dtype=d.dtype, device=device_of(d))], axis=1)
        if w > wo * kw:
            dx = xp.concat([dx, xp.zeros((n, h, w - wo * kw, c), dtype=d.dtype, device=device_of(d))], axis=2)
        return dx

    def _windows(self, xp: Any, x: Array) -> tuple[Array, Array, _windows.Tables]:
        """(windows (N, Ho*Wo, kh*kw, C), backward table on x's device, host tables)."""
        shape = tuple(x.shape)
        if len(shape) == 3:  # one image without its batch axis, or images without their channel axis
            raise ValueError(f"{type(self).__name__}: expects a batch of images (N, H, W, C), "
                             f"but receives an array of shape {shape}")
        self.output_shape(shape[1:])
        kh, kw, sh, sw = self._geometry()
        t = _windows.tables(shape[1], shape[2], kh, kw, sh, sw, 0, 0, 0, 0)
        win = _windows.gather(xp, x, _windows.to_device(xp, t.forward, x), t.pads_forward)
        n = -1 if shape[0] is None else shape[0]  # None: a symbolic batch (ONNX export)
        win = xp.reshape(win, (n, t.out_h * t.out_w, kh * kw, shape[3]))
        return win, _windows.to_device(xp, t.backward, x), t

    def _back(self, xp: Any, dwin: Array, back: Array, t: _windows.Tables, shape: tuple[int, ...]) -> Array:
        n, m, k, c = dwin.shape
        return _windows.gather_back(xp, xp.reshape(dwin, (n, m * k, c)), back, t.pads_backward, shape)


@dataclasses.dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    """The largest value of each ``pool_size`` window (no padding; windows that do not fit are dropped).

    Ties: the whole gradient goes to the first maximum in window order (row by
    row), on every backend (see the docstring of ``anynet.layers.pooling``).

    Parameters
    ----------
    pool_size : int or (int, int)
        Window ``kh, kw`` (default 2).
    stride : int, (int, int) or None
        Step between windows; None (default) means ``pool_size``.

    Shapes
    ------
    x : (N, H, W, C) -> y : (N, (H - kh) // sh + 1, (W - kw) // sw + 1, C).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> pool = an.layers.MaxPool2D(2)
    >>> x = np.asarray([[1.0, 2.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0]]).reshape(1, 2, 4, 1)
    >>> y, cache = pool.forward({}, x)
    >>> y[0, :, :, 0].tolist()
    [[4.0, 0.0]]
    >>> dx, _ = pool.backward({}, cache, np.ones_like(y))  # the 4, and the first of the tied zeros
    >>> dx[0, :, :, 0].tolist()
    [[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    """

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        xp = namespace(xp, x)
        tiles = self._tiles(xp, x)
        if tiles is not None:
            _, _, kh, _, kw, _ = tiles.shape
            y = tiles[:, :, 0, :, 0, :]  # the maximum over the kh*kw window offsets
            for i in range(kh):
                for j in range(kw):
                    if i or j:
                        y = xp.maximum(y, tiles[:, :, i, :, j, :])
            return y, (tiles, y, tuple(x.shape))
        win, back, t = self._windows(xp, x)
        y = xp.max(win, axis=2)
        is_max = win == y[:, :, None, :]
        # the first maximum in window order: a max whose running count of maxima is 1
        first = is_max & (xp.cumulative_sum(xp.astype(is_max, xp.int32), axis=2) == 1)
        n = -1 if x.shape[0] is None else x.shape[0]  # None: a symbolic batch (ONNX export)
        return xp.reshape(y, (n, t.out_h, t.out_w, x.shape[3])), (first, back, t, tuple(x.shape))

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        xp = namespace(xp, dy)
        if len(cache) == 3:  # tiled: each window offset in row-by-row order, the first hit wins
            tiles, y, shape = cache
            n, ho, kh, wo, kw, c = tiles.shape
            hits = first_maxima(xp, [tiles[:, :, i, :, j, :] for i in range(kh) for j in range(kw)], y)
            rows = [xp.stack(hits[i * kw:(i + 1) * kw], axis=3) for i in range(kh)]  # (N, Ho, Wo, kw, C)
            first = xp.stack(rows, axis=2)  # (N, Ho, kh, Wo, kw, C): a mask, cheaper to stack than floats
            # dy times the mask: 2.4x faster than a broadcasting where() on NumPy (as ReLU's backward)
            d = xp.astype(first, dy.dtype) * xp.reshape(dy, (n, ho, 1, wo, 1, c))
            return self._untile(xp, d, shape), {}
        first, back, t, shape = cache
        n, m, _, c = first.shape
        # dx: the window's first maximum gets dy, the other entries 0; col2im sums over windows
        dwin = xp.where(first, xp.reshape(dy, (n, m, 1, c)), 0.0)
        return self._back(xp, dwin, back, t, shape), {}


def first_maxima(xp: Any, parts: list[Array], best: Array) -> list[Array]:
    """For each ``parts[k]`` (a window offset's values, in window order), the mask of where it
    holds the maximum ``best`` and no earlier offset does: the tie rule of max pooling."""
    taken, out = None, []
    for part in parts:
        hit = part == best
        if taken is None:
            taken = hit
        else:
            hit = hit & ~taken
            taken = taken | hit
        out.append(hit)
    return out


@dataclasses.dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    """The mean of each ``pool_size`` window (no padding; windows that do not fit are dropped).

    Parameters
    ----------
    pool_size : int or (int, int)
        Window ``kh, kw`` (default 2).
    stride : int, (int, int) or None
        Step between windows; None (default) means ``pool_size``.

    Shapes
    ------
    x : (N, H, W, C) -> y : (N, (H - kh) // sh + 1, (W - kw) // sw + 1, C).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> pool = an.layers.AvgPool2D(2)
    >>> x = np.asarray([[1.0, 2.0, 0.0, 0.0], [3.0, 4.0, 0.0, 8.0]]).reshape(1, 2, 4, 1)
    >>> y, cache = pool.forward({}, x)
    >>> y[0, :, :, 0].tolist()
    [[2.5, 2.0]]
    >>> dx, _ = pool.backward({}, cache, np.ones_like(y))  # each entry: 1 / (window size)
    >>> dx[0, :, :, 0].tolist()
    [[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]
    """

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        xp = namespace(xp, x)
        tiles = self._tiles(xp, x)
        if tiles is not None:
            return xp.mean(tiles, axis=(2, 4)), (tiles.shape, tuple(x.shape))
        win, back, t = self._windows(xp, x)
        y = xp.mean(win, axis=2)
        n = -1 if x.shape[0] is None else x.shape[0]  # None: a symbolic batch (ONNX export)
        return xp.reshape(y, (n, t.out_h, t.out_w, x.shape[3])), (back, t, tuple(x.shape))

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        xp = namespace(xp, dy)
        if len(cache) == 2:  # tiled: every entry of a window gets dy / k
            (n, ho, kh, wo, kw, c), shape = cache
            d = xp.reshape(dy * (1.0 / (kh * kw)), (n, ho, 1, wo, 1, c))
            return self._untile(xp, d + xp.zeros((n, ho, kh, wo, kw, c), dtype=dy.dtype, device=device_of(dy)),
                                shape), {}
        back, t, shape = cache
        n, c = shape[0], shape[3]
        k = t.forward.size // (t.out_h * t.out_w)
        m = t.out_h * t.out_w
        # dx: every entry of a window gets dy / k; col2im sums over the windows that read a pixel
        dwin = xp.broadcast_to(xp.reshape(dy, (n, m, 1, c)) * (1.0 / k), (n, m, k, c))
        return self._back(xp, dwin, back, t, shape), {}


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool2D(Layer):
    """The mean of each channel over the whole image: (N, H, W, C) -> (N, C).

    Shapes
    ------
    x : (N, H, W, C) -> y : (N, C).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> gap = an.layers.GlobalAvgPool2D()
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)  # channel 0: 0, 2, 4, 6; channel 1: 1, 3, 5, 7
    >>> y, cache = gap.forward({}, x)
    >>> y.tolist(), gap.output_shape((2, 2, 2))
    ([[3.0, 4.0]], (2,))
    >>> dx, _ = gap.backward({}, cache, np.ones_like(y))
    >>> dx[0, :, :, 0].tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    """

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(f"expects images of shape (N, H, W, C) (GlobalAvgPool2D: channels last), "
                             f"but receives {_windows.fmt(shape)}")
        return (shape[2],)

    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        xp = namespace(xp, x)
        shape = tuple(x.shape)
        if len(shape) == 3:  # one image without its batch axis, or images without their channel axis
            raise ValueError(f"GlobalAvgPool2D: expects a batch of images (N, H, W, C), "
                             f"but receives an array of shape {shape}")
        self.output_shape(shape[1:])
        return xp.mean(x, axis=(1, 2)), shape

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        xp = namespace(xp, dy)
        n, h, w, c = cache
        # dx = dy / (H W), the same for every pixel of the channel
        scaled = xp.reshape(dy * (1.0 / (h * w)), (n, 1, 1, c))
        # a fresh array (not a read-only broadcast view): callers may own their gradients
        return xp.zeros((n, h, w, c), dtype=dy.dtype, device=device_of(dy)) + scaled, {}
