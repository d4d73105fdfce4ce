"""A ``Conv2D`` followed by a ``MaxPool2D``, run as one step by the engine.

On its own, the convolution writes its output image (N, Ho, Wo, C) pixel by pixel,
and the pooling then reads each 2x2 window's four values from two rows, C values
at a time: on NumPy, short runs of memory (C floats) for the maximum, for its
first-hit masks and for the interleaved gradient it writes back. Run together,
the convolution computes its output pixels in the order the pooling reads them:
per sample, one (Hp, Wp, C) block per window offset ``q`` (see
:func:`anynet._windows.pooled_tables`); the maximum over the windows is then the
element-wise maximum of ``ph*pw`` whole blocks, and the backward pass stacks whole
blocks. Output pixels that no window reads (the last row or column of an odd-sized
image) are not computed at all, since their gradient is zero.

The numbers are those of the two layers one after the other: the same outputs
(the same products, row by row), the same tie rule (the first maximum of a window
in row-by-row order), the gradients equal up to the order of float sums. Measured
on W4 (NumPy, one thread, 32 samples): the first conv and pool 2.70 -> 2.03 ms,
the second 5.18 -> 4.10 ms, forward and backward.

The engine fuses a ``Conv2D`` at layer ``i`` with a ``MaxPool2D`` that it runs
right after (layer ``i + 1``, or ``i + 2`` behind a ``ReLU`` that it runs after
the pooling), when the pooling's windows tile the image (stride = pool size); a
batch whose column matrix would be built in chunks runs the two layers as they are.
Each layer keeps its index, its parameters and its place in ``model.forward``'s caches
(the pooling's cache entry is ``None``: the convolution's holds both).
"""

from __future__ import annotations

from typing import Any

from .. import _windows
from ._base import Array, Params, device_of, namespace
from .conv import Conv2D
from .pooling import MaxPool2D

__all__ = ["can_fuse", "forward", "backward"]


def can_fuse(conv: Any, pool: Any) -> bool:
    """Whether the engine may run ``conv`` then ``pool`` as one step: exactly these two
    classes (a subclass may change either pass), and pooling windows that tile the image."""
    if type(conv) is not Conv2D or type(pool) is not MaxPool2D or not MaxPool2D.tiled:
        return False
    kh, kw, sh, sw = pool._geometry()
    return (sh, sw) == (kh, kw)


def forward(conv: Conv2D, pool: MaxPool2D, params: Params, x: Array, /, *, training: bool = False,
            xp: Any = None) -> tuple[Array, Any]:
    """``pool(conv(x))`` and one cache for both."""
    xp = namespace(xp, x)
    conv_t = conv._tables(x)  # checks x (errors name Conv2D) and gives the conv's own geometry
    ph, pw, _, _ = pool._geometry()
    pool.output_shape((conv_t.out_h, conv_t.out_w, conv.out_channels))  # errors name MaxPool2D
    if x.shape[0] is None or len(conv._chunks(xp, x, conv_t)) > 1:  # the layers as they are
        y1, c1 = conv.forward(params, x, training=training, xp=xp)
        y, c2 = pool.forward({}, y1, training=training, xp=xp)
        return y, ("layers", c1, c2)
    h, w = x.shape[1], x.shape[2]
    t = _windows.pooled_tables(h, w, *_windows.pair(conv.kernel_size, "", ""),
                               *_windows.pair(conv.stride, "", ""), *conv._pads(h, w), ph, pw)
    n, c, o = x.shape[0], conv.in_channels, conv.out_channels
    q, m = ph * pw, t.out_h * t.out_w  # window offsets, pooled pixels
    k = t.forward.size // (q * m) * c  # kh*kw*in: one patch
    Wm = xp.reshape(params["W"], (o, k))
    fwd = _windows.to_device(xp, t.forward, x)
    back = _windows.to_device(xp, t.backward, x)
    cols = xp.reshape(_windows.gather(xp, x, fwd, t.pads_forward), (-1, k))  # rows (sample, offset, pixel)
    z = cols @ Wm.T
    if conv.bias:
        z += xp.reshape(params["b"], (1, o))  # in place on the fresh product (rebinds on JAX)
    z = xp.reshape(z, (n, q, m * o))  # per sample, one (Hp, Wp, out) block per window offset
    y = z[:, 0, :]
    for i in range(1, q):
        y = xp.maximum(y, z[:, i, :])
    return xp.reshape(y, (n, t.out_h, t.out_w, o)), ("fused", cols, z, y, back, t, tuple(x.shape))


def backward(conv: Conv2D, pool: MaxPool2D, params: Params, cache: Any, dy: Array, /, *,
             need_dx: bool = True, xp: Any = None) -> tuple[Array | None, Params]:
    """``(dx, conv's grads)`` from the pooled output's gradient ``dy``."""
    xp = namespace(xp, dy)
    if cache[0] == "layers":
        _, c1, c2 = cache
        d, _ = pool.backward({}, c2, dy, xp=xp)
        return conv.backward(params, c1, d, need_dx=need_dx, xp=xp)
    _, cols, z, y, back, t, shape = cache
    n, q, mo = z.shape
    o = conv.out_channels
    d = xp.reshape(dy, (n, mo))
    # the window's first maximum (offsets in row-by-row order) gets dy, every other entry 0
    taken, parts = None, []
    for i in range(q):
        hit = z[:, i, :] == y
        if taken is None:
            taken = hit
        else:
            hit = hit & ~taken
            taken = taken | hit
        parts.append(xp.astype(hit, dy.dtype) * d)  # a mask times dy: faster than where() on NumPy
    dz = xp.reshape(xp.stack(parts, axis=1), (-1, o))  # rows (sample, offset, pixel), as cols
    # then the convolution's backward on the pixels the pooling read (the others' gradient is 0)
    grads: Params = {"W": xp.reshape(dz.T @ cols, tuple(params["W"].shape))}
    if conv.bias:
        ones = xp.ones((1, dz.shape[0]), dtype=dz.dtype, device=device_of(dz))
        grads["b"] = xp.reshape(ones @ dz, (o,))
    if not need_dx:
        return None, grads
    # col2im reads out_h * out_w output pixels per sample: here every window offset's
    per_sample = t._replace(out_h=t.out_h * q)
    return conv._col2im(xp, dz, xp.reshape(params["W"], (o, cols.shape[1])), back, per_sample, shape), grads
