"""2-D convolution on channels-last images, as im2col gathers and one matrix product.

Layout
------
Images are channels-last, ``x`` of shape (N, H, W, C): a window's ``kh*kw*C``
values are then ``kh*kw`` contiguous runs of ``C``, and the gathers that build
the column matrix were measured 2-3.5x faster than channels-first (issue 11).

The weight ``W`` has shape (out, kh, kw, in). It is the lecture's (out, in)
convention of :class:`~anynet.layers.Linear` with the input of one output
pixel being its patch: ``W`` seen as (out, kh*kw*in) is a Linear weight, and
with the patches of all output pixels as rows of ``cols`` (N*Ho*Wo, kh*kw*in),

    ``y = cols @ W.T + b``, ``dW = dy.T @ cols``, ``dcols = dy @ W``,

exactly Linear's three lines. (kh, kw, in) is also the order in which a
channels-last patch lies in memory, so no transpose is needed anywhere.
PyTorch stores (out, in, kh, kw); :func:`anynet.convert.from_torch_conv2d_weight` and
:func:`anynet.convert.to_torch_conv2d_weight` convert.

Memory
------
The column matrix holds ``kh*kw`` copies of the input. Up to
:data:`COLUMN_LIMIT_BYTES` (64 MiB) it is built for the whole batch and kept
for the backward pass; above, the batch is split into chunks that each stay
under the limit, only ``x`` is kept, and the backward pass rebuilds each
chunk's columns, so a step never holds more than about one limit's worth of
columns (and as much again of their gradient).

Followed by max pooling
-----------------------
On its own, the convolution writes its output (N, Ho, Wo, C) pixel by pixel, and a
2x2 max pooling then reads each window's values from two rows, C values at a time:
on NumPy, short runs of memory for the maximum, its first-hit masks and the
interleaved gradient. The engine runs a ``Conv2D`` and the ``MaxPool2D`` it runs
right after (tiling windows) as one step, :meth:`Conv2D.forward_pooled`: the
convolution computes only the output pixels the pooling reads, in its order, one
(Hp, Wp, C) block per window offset (``anynet._windows.pooled_tables``), so the
maximum and its gradient are whole-block operations; pixels no window reads (an
odd-sized image's last row or column) are not computed, their gradient being 0.
The same outputs and tie rule as the two layers, gradients equal up to the order of
float sums (bit for bit on exact values: ``tests/test_cnn.py``). Measured on W4
(NumPy, one thread, 32 samples, forward and backward): first conv and pool 2.70 ->
2.03 ms, second 5.18 -> 4.10 ms.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from .. import _windows
from ._base import Array, Layer, Params, Shape, device_of, namespace
from .linear import _INITS, init_weight
from .pooling import MaxPool2D, first_maxima

__all__ = ["COLUMN_LIMIT_BYTES", "Conv2D"]

#: Largest column matrix (bytes) built for a whole batch at once; above it, chunks of the batch.
COLUMN_LIMIT_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch and Keras) on channels-last images.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
        ``kh, kw``.
    stride : int or (int, int)
        Step between windows (default 1).
    padding : int, (int, int), "valid" or "same"
        Zeros added on each side of the rows and columns: ``p`` (the same
        everywhere, like PyTorch's ``padding=p``), ``(ph, pw)``, ``"valid"``
        (none, = 0) or ``"same"`` (output size ``ceil(H / stride)``; where the
        total is odd, the extra zero goes to the bottom/right, as in PyTorch
        and TensorFlow).
    bias : bool
        Learn ``b`` (default True).
    weight_init : str
        As :class:`~anynet.layers.Linear`, with fan-in ``kh*kw*in`` and
        fan-out ``kh*kw*out`` (default ``"he_normal"``). Biases start at zero.

    Shapes
    ------
    x : (N, H, W, in_channels) -> y : (N, Ho, Wo, out_channels), with
    ``Ho = (H + pad_top + pad_bottom - kh) // stride_h + 1`` (and ``Wo`` alike);
    params: ``W`` (out_channels, kh, kw, in_channels), ``b`` (out_channels,).

    Examples
    --------
    A 2x2 kernel of ones sums each 2x2 window of a 3x3 image:

    >>> import numpy as np, anynet as an
    >>> conv = an.layers.Conv2D(1, 1, kernel_size=2)
    >>> p = {"W": np.ones((1, 2, 2, 1)), "b": np.zeros(1)}
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)  # [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    >>> y, cache = conv.forward(p, x)
    >>> y[0, :, :, 0].tolist()
    [[8.0, 12.0], [20.0, 24.0]]
    >>> dx, grads = conv.backward(p, cache, np.ones_like(y))  # each pixel: how many windows read it
    >>> dx[0, :, :, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    >>> conv.output_shape((28, 28, 1)), an.layers.Conv2D(1, 8, 3, padding="same").output_shape((28, 28, 1))
    ((27, 27, 1), (28, 28, 8))
    """

    per_sample: ClassVar[bool] = True  # each sample's output depends on that sample alone

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] | str = 0
    bias: bool = True
    weight_init: str = "he_normal"

    regularized: ClassVar[tuple[str, ...]] = ("W",)

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Conv2D: {name} must be a positive int, got {v!r}")
        # lists (from a saved JSON config) become tuples: the config stays hashable
        for name in ("kernel_size", "stride", "padding"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(v))
        _windows.pair(self.kernel_size, "kernel_size", "Conv2D")
        _windows.pair(self.stride, "stride", "Conv2D")
        if not (isinstance(self.padding, str) and self.padding in ("same", "valid")):
            _windows.pair(self.padding, "padding", "Conv2D", minimum=0)
        if self.weight_init not in _INITS:
            raise ValueError(f"Conv2D: weight_init must be one of {sorted(_INITS)}, got {self.weight_init!r}")

    # ------------------------------------------------------------ geometry
    def _pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zeros for an h x w image."""
        (kh, kw), (sh, sw) = _windows.pair(self.kernel_size, "", ""), _windows.pair(self.stride, "", "")
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            th = max((-(-h // sh) - 1) * sh + kh - h, 0)
            tw = max((-(-w // sw) - 1) * sw + kw - w, 0)
            return th // 2, th - th // 2, tw // 2, tw - tw // 2
        ph, pw = _windows.pair(self.padding, "", "", minimum=0)
        return ph, ph, pw, pw

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is None:
            return None
        kh, kw = _windows.pair(self.kernel_size, "", "")
        sh, sw = _windows.pair(self.stride, "", "")
        c = self.in_channels
        if len(input_shape) != 3 or input_shape[2] != c:
            raise ValueError(f"expects images of shape (N, H, W, {c}) (Conv2D: channels last, "
                             f"in_channels={c}), but receives {_windows.fmt(tuple(input_shape))}")
        h, w = input_shape[0], input_shape[1]
        pt, pb, pl, pr = self._pads(h, w)
        if h + pt + pb < kh or w + pl + pr < kw:
            raise ValueError(f"expects images of at least {kh - pt - pb}x{kw - pl - pr} pixels "
                             f"(Conv2D: kernel {kh}x{kw}, padding {(pt, pb, pl, pr)} top/bottom/left/right), "
                             f"shape (N, >={kh - pt - pb}, >={kw - pl - pr}, {c}), "
                             f"but receives {_windows.fmt(tuple(input_shape))}")
        return (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1, self.out_channels

    def _tables(self, x: Array) -> _windows.Tables:
        shape = tuple(x.shape)
        if len(shape) == 3:  # one image without its batch axis, or images without their channel axis
            raise ValueError(f"Conv2D: expects a batch of images (N, H, W, {self.in_channels}), "
                             f"but receives an array of shape {shape}")
        self.output_shape(shape[1:])
        h, w = shape[1], shape[2]
        return _windows.tables(h, w, *_windows.pair(self.kernel_size, "", ""),
                               *_windows.pair(self.stride, "", ""), *self._pads(h, w))

    def _chunks(self, xp: Any, x: Array, t: _windows.Tables) -> list[tuple[int, int]]:
        """Batch ranges whose column matrices each stay under COLUMN_LIMIT_BYTES."""
        n = x.shape[0]
        if n is None:  # a symbolic batch (ndonnx recording the inference pass): one chunk
            return [(0, n)]
        per_sample = t.forward.size * self.in_channels * (xp.finfo(x.dtype).bits // 8)
        step = max(1, COLUMN_LIMIT_BYTES // max(per_sample, 1))
        return [(s, min(s + step, n)) for s in range(0, n, step)]

    # ------------------------------------------------------------ params
    def init(self, rng: Any) -> Params:
        kh, kw = _windows.pair(self.kernel_size, "", "")
        fan_in, fan_out = kh * kw * self.in_channels, kh * kw * self.out_channels
        shape = (self.out_channels, kh, kw, self.in_channels)
        W = init_weight(self.weight_init, shape, fan_in, fan_out, rng)
        params = {"W": W}
        if self.bias:
            params["b"] = [0.0] * self.out_channels  # host values: the model moves them
        return params

    # ------------------------------------------------------------ passes
    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, Any]:
        xp = namespace(xp, x)
        t = self._tables(x)
        n, c, o = x.shape[0], self.in_channels, self.out_channels
        if n is None:  # a symbolic batch (ndonnx recording the inference pass): reshape infers it
            n = -1
        k = t.forward.size // (t.out_h * t.out_w) * c  # kh*kw*in: one patch
        Wm = xp.reshape(params["W"], (o, k))
        fwd = _windows.to_device(xp, t.forward, x)
        back = _windows.to_device(xp, t.backward, x)
        chunks = self._chunks(xp, x, t)
        if len(chunks) == 1:
            kept, y = self._product(xp, params, x, fwd, t, Wm)
        else:  # the same, chunk by chunk; the backward pass rebuilds the columns
            y = xp.concat([xp.reshape(_windows.gather(xp, x[s:e, ...], fwd, t.pads_forward),
                                      ((e - s) * t.out_h * t.out_w, k)) @ Wm.T for s, e in chunks],
                          axis=0)
            kept = x
            if self.bias:
                y += xp.reshape(params["b"], (1, o))
        y = xp.reshape(y, (n, t.out_h, t.out_w, o))
        return y, (kept, fwd, back, t, tuple(x.shape), chunks)

    def _product(self, xp: Any, params: Params, x: Array, fwd: Array, t: _windows.Tables,
                 Wm: Array) -> tuple[Array, Array]:
        """``(cols, cols W^T + b)``: the Linear layer on every patch of ``x``, in the order of
        the table ``fwd`` (one row per output pixel)."""
        cols = xp.reshape(_windows.gather(xp, x, fwd, t.pads_forward), (-1, Wm.shape[1]))  # -1: N*pixels
        y = cols @ Wm.T
        if self.bias:  # in place on the fresh product (rebinds on JAX): no second (N*Ho*Wo, out) array
            y += xp.reshape(params["b"], (1, self.out_channels))
        return cols, y

    def backward(self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True,
                 xp: Any = None) -> tuple[Array | None, Params]:
        xp = namespace(xp, dy)
        kept, fwd, back, t, shape, chunks = cache
        n, o = shape[0], self.out_channels
        c = self.in_channels
        k = t.forward.size // (t.out_h * t.out_w) * c
        m = t.out_h * t.out_w  # output pixels per sample
        Wm = xp.reshape(params["W"], (o, k))
        dy2 = xp.reshape(dy, (n * m, o))
        grads: Params = {}
        if len(chunks) == 1:
            # dW = dy^T cols
            dW = dy2.T @ kept
            # dx: dcols = dy W, then each pixel sums the column entries that read it (col2im)
            dx = self._col2im(xp, dy2, Wm, back, t, shape) if need_dx else None
        else:
            dW, parts = None, []
            for s, e in chunks:
                cols = xp.reshape(_windows.gather(xp, kept[s:e, ...], fwd, t.pads_forward), ((e - s) * m, k))
                d = dy2[s * m:e * m, ...]
                # dW = sum over chunks of dy_chunk^T cols_chunk
                dW = d.T @ cols if dW is None else dW + d.T @ cols
                if need_dx:  # dx of the chunk: col2im of dy_chunk W
                    parts.append(self._col2im(xp, d, Wm, back, t, (e - s, *shape[1:])))
            dx = xp.concat(parts, axis=0) if need_dx else None
        grads["W"] = xp.reshape(dW, tuple(params["W"].shape))
        if self.bias:
            grads["b"] = self._bias_grad(xp, dy2)
        return dx, grads

    def _bias_grad(self, xp: Any, dy2: Array) -> Array:
        """db = the sum of dy (rows: output pixels) as a product with ones: NumPy's float32 sum
        down a tall array's columns adds row after row; BLAS blocks it, 4x faster and 2.4x
        closer to the float64 sum on W4's first conv (43,264 rows)."""
        ones = xp.ones((1, dy2.shape[0]), dtype=dy2.dtype, device=device_of(dy2))
        return xp.reshape(ones @ dy2, (self.out_channels,))

    # ------------------------------------------------------------ with the max pooling after it
    def pools_with(self, pool: Any) -> bool:
        """Whether the engine may run this convolution and ``pool`` after it as one step
        (:meth:`forward_pooled`): exactly these two classes (a subclass may change either
        pass) and pooling windows that tile the image (stride = pool size)."""
        if type(self) is not Conv2D or type(pool) is not MaxPool2D or not MaxPool2D.tiled:
            return False
        return pool.stride is None or _windows.pair(pool.stride, "", "") == _windows.pair(pool.pool_size, "", "")

    def forward_pooled(self, pool: MaxPool2D, params: Params, x: Array, /, *, training: bool = False,
                       xp: Any = None) -> tuple[Array, Any]:
        """``pool(self(x))`` as one step, and one cache for both (see "Followed by max
        pooling" in the module docstring). Falls back to the two layers one after the other
        where the columns would be built in chunks."""
        xp = namespace(xp, x)
        t = self._tables(x)  # checks x (errors name Conv2D) and gives the convolution's own geometry
        ph, pw = _windows.pair(pool.pool_size, "", "")
        pool.output_shape((t.out_h, t.out_w, self.out_channels))  # errors name MaxPool2D
        if x.shape[0] is None or len(self._chunks(xp, x, t)) > 1:
            y1, c1 = self.forward(params, x, training=training, xp=xp)
            y, c2 = pool.forward({}, y1, training=training, xp=xp)
            return y, ("layers", c1, c2)
        h, w = x.shape[1], x.shape[2]
        t = _windows.pooled_tables(h, w, *_windows.pair(self.kernel_size, "", ""),
                                   *_windows.pair(self.stride, "", ""), *self._pads(h, w), ph, pw)
        n, o = x.shape[0], self.out_channels
        q, m = ph * pw, t.out_h * t.out_w  # window offsets, pooled pixels
        Wm = xp.reshape(params["W"], (o, t.forward.size // (q * m) * self.in_channels))
        cols, z = self._product(xp, params, x, _windows.to_device(xp, t.forward, x), t, Wm)
        z = xp.reshape(z, (n, q, m * o))  # per sample, one (Hp, Wp, out) block per window offset
        y = z[:, 0, :]
        for i in range(1, q):
            y = xp.maximum(y, z[:, i, :])
        back = _windows.to_device(xp, t.backward, x)
        return xp.reshape(y, (n, t.out_h, t.out_w, o)), ("pooled", cols, z, y, back, t, tuple(x.shape))

    def backward_pooled(self, pool: MaxPool2D, params: Params, cache: Any, dy: Array, /, *,
                        need_dx: bool = True, xp: Any = None) -> tuple[Array | None, Params]:
        """``(dx, this layer's grads)`` from the pooled output's gradient ``dy``."""
        xp = namespace(xp, dy)
        if cache[0] == "layers":
            _, c1, c2 = cache
            d, _ = pool.backward({}, c2, dy, xp=xp)
            return self.backward(params, c1, d, need_dx=need_dx, xp=xp)
        _, cols, z, y, back, t, shape = cache
        n, q, mo = z.shape
        o = self.out_channels
        d = xp.reshape(dy, (n, mo))
        # the window's first maximum (offsets in row-by-row order) gets dy, every other entry 0;
        # a mask times dy rather than where(): faster on NumPy, as in MaxPool2D
        hits = first_maxima(xp, [z[:, i, :] for i in range(q)], y)
        dz = xp.reshape(xp.stack([xp.astype(hit, dy.dtype) * d for hit in hits], axis=1), (-1, o))
        # then this layer's backward on the pixels the pooling read (the others' gradient is 0)
        grads: Params = {"W": xp.reshape(dz.T @ cols, tuple(params["W"].shape))}
        if self.bias:
            grads["b"] = self._bias_grad(xp, dz)
        if not need_dx:
            return None, grads
        # col2im reads out_h * out_w output pixels per sample: here every window offset's
        Wm = xp.reshape(params["W"], (o, cols.shape[1]))
        return self._col2im(xp, dz, Wm, back, t._replace(out_h=t.out_h * q), shape), grads

    def _col2im(self, xp: Any, dy2: Array, Wm: Array, back: Array, t: _windows.Tables,
                shape: tuple[int, ...]) -> Array:
        """dx from dy (N*m, out): dcols = dy W, then the backward gather."""
        n, c, o = shape[0], self.in_channels, Wm.shape[0]
        m, k = t.out_h * t.out_w, Wm.shape[1]
        if t.pads_backward and o < k:
            # the zero entry the sentinel reads comes from a zero row of dy (out values per
            # output pixel) rather than of dcols (kh*kw*in values): a smaller copy
            dy3 = xp.reshape(dy2, (n, m, o))
            dy3 = xp.concat([dy3, xp.zeros((n, 1, o), dtype=dy2.dtype, device=device_of(dy2))], axis=1)
            dcols = xp.reshape(xp.reshape(dy3, (n * (m + 1), o)) @ Wm, (n, (m + 1) * k // c, c))
            return _windows.gather_back(xp, dcols, back, False, shape)
        dcols = xp.reshape(dy2 @ Wm, (n, m * k // c, c))
        return _windows.gather_back(xp, dcols, back, t.pads_backward, shape)
