"""Sliding windows over channels-last images as two gathers: im2col and its transpose.

The Array API standard has no convolution and no scatter-add whose result is the
same on every backend, so both directions are gathers (``take``) on index tables
built on the host:

``forward`` table, one entry per (output pixel, kernel offset)
    the flat input pixel ``r * W + c`` that the window reads there, or the
    sentinel ``H * W`` where the window hangs over the padding: the image gets
    one appended zero row, so a padded read is an ordinary gather of a zero.
``backward`` table, one column per input pixel
    the positions in the forward table that read this pixel (at most
    ``kh * kw`` of them), filled up with the sentinel ``P`` (one past the
    last column entry, which is an appended zero). col2im is then a gather of
    those entries and a sum over the column: no scatter, no in-place writes.
    Stored (kmax, H*W), so that the sum adds kmax whole contiguous images
    (7x faster on NumPy than summing runs of C values).

The tables depend only on the image size and the window geometry, so they are
built once per (geometry, input size) with NumPy (host-side index arithmetic,
never on data), cached with :func:`functools.lru_cache`, and moved to the
array's device once per forward pass.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np  # host-side index tables only (see the module docstring)
from array_api_compat import device as device_of

Array = Any


class Tables(NamedTuple):
    """Host index tables for one window geometry on one image size."""

    forward: np.ndarray  # (Ho * Wo * kh * kw,) flat input pixel, or H * W for padding
    backward: np.ndarray  # (kmax, H * W) position in ``forward``, or P for "nobody"
    out_h: int
    out_w: int
    pads_forward: bool  # some window reads the padding: append the zero row
    pads_backward: bool  # some pixel has fewer than kmax readers: append the zero entry


@functools.lru_cache(maxsize=256)
def tables(h: int, w: int, kh: int, kw: int, sh: int, sw: int,
           pt: int, pb: int, pl: int, pr: int) -> Tables:
    """The forward and backward index tables (NumPy arrays that nobody writes to), cached."""
    ho = (h + pt + pb - kh) // sh + 1
    wo = (w + pl + pr - kw) // sw + 1
    return _build(h, w, kh, kw, sh, sw, pt, pl, np.arange(ho).reshape(ho, 1), np.arange(wo).reshape(1, wo), ho, wo)


@functools.lru_cache(maxsize=256)
def pooled_tables(h: int, w: int, kh: int, kw: int, sh: int, sw: int, pt: int, pb: int, pl: int, pr: int,
                  ph: int, pw: int) -> Tables:
    """The tables of a convolution whose output a ``ph x pw`` max pooling (stride = size)
    reads next: only the output pixels the pooling reads (rows and columns that do not fill
    a window are dropped, as the pooling drops them), in the order (window offset ``q``,
    pooled pixel ``p``): the product ``cols @ W.T`` then gives, per sample, ``ph*pw``
    contiguous blocks, one per window offset, each the (Hp, Wp, C) image of that offset.
    ``out_h, out_w`` are the pooled size ``Hp, Wp``. See ``Conv2D.forward_pooled``."""
    ho = (h + pt + pb - kh) // sh + 1
    wo = (w + pl + pr - kw) // sw + 1
    hp, wp = ho // ph, wo // pw
    a = np.arange(ph).reshape(ph, 1, 1, 1)  # the window offset (a, b), q = a * pw + b
    b = np.arange(pw).reshape(1, pw, 1, 1)
    i = np.arange(hp).reshape(1, 1, hp, 1) * ph + a  # the output pixel (i, j) of offset (a, b) ...
    j = np.arange(wp).reshape(1, 1, 1, wp) * pw + b  # ... in pooled pixel (i // ph, j // pw)
    return _build(h, w, kh, kw, sh, sw, pt, pl, i, j, hp, wp)


def _build(h: int, w: int, kh: int, kw: int, sh: int, sw: int, pt: int, pl: int,
           i: np.ndarray, j: np.ndarray, out_h: int, out_w: int) -> Tables:
    """The tables for the output pixels ``(i, j)`` (broadcast against each other, in the
    order they are to come out), each window's entries in (di, dj) order."""
    i, j = np.broadcast_arrays(i, j)
    i, j = i[..., None, None], j[..., None, None]
    di = np.arange(kh).reshape(kh, 1)
    dj = np.arange(kw).reshape(1, kw)
    r = i * sh + di - pt
    c = j * sw + dj - pl
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    fwd = np.where(inside, r * w + c, h * w).reshape(-1).astype(np.int64)
    n_cols = fwd.size
    # invert: group the column positions by the pixel they read (stable: window order)
    order = np.argsort(fwd, kind="stable")
    pixel = fwd[order]
    keep = pixel < h * w
    order, pixel = order[keep], pixel[keep]
    counts = np.bincount(pixel, minlength=h * w)
    kmax = max(int(counts.max(initial=0)), 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(pixel.size) - starts[pixel]
    back = np.full((kmax, h * w), n_cols, dtype=np.int64)
    back[rank, pixel] = order
    # shared by every caller through the cache, so never written to; not flagged read-only,
    # because torch warns on (and cannot share) read-only NumPy memory
    return Tables(fwd, back, out_h, out_w, bool((fwd == h * w).any()), bool((back == n_cols).any()))


def to_device(xp: Any, table: np.ndarray, like: Array) -> Array:
    """A host table as an index array on ``like``'s device."""
    return xp.asarray(table, device=device_of(like))


def gather(xp: Any, x: Array, fwd: Array, pads: bool) -> Array:
    """im2col: (N, H, W, C) -> (N, Ho*Wo*kh*kw, C), window entries in (i, j, di, dj) order."""
    n, h, w, c = x.shape
    # n is None for a symbolic batch (ndonnx recording an ONNX graph): reshape infers it,
    # and the zero row is zeros_like of one row, whose shape follows the batch
    flat = xp.reshape(x, (-1 if n is None else n, h * w, c))
    if pads:  # the zero row that the sentinel index H*W reads
        flat = xp.concat([flat, xp.zeros_like(flat[:, :1, :])], axis=1)
    return xp.take(flat, fwd, axis=1)


def gather_back(xp: Any, dcols: Array, back: Array, pads: bool, shape: tuple[int, ...]) -> Array:
    """col2im as a gather: (N, P, C) -> (N, H, W, C), each pixel the sum of the entries that read it.

    With ``pads``, a zero entry is appended for the sentinel index P to read;
    a caller that already has zeros at index P (and beyond) passes False.
    """
    n, _, c = dcols.shape
    _, h, w, _ = shape
    kmax = back.shape[0]
    if pads:  # the zero entry that the sentinel index P reads
        dcols = xp.concat([dcols, xp.zeros((n, 1, c), dtype=dcols.dtype, device=device_of(dcols))],
                          axis=1)
    # one gather per row of the table, added up: the same sums as one (N, kmax*H*W, C) gather
    # reduced over kmax, without that intermediate (measured 2.8 -> 2.2 ms on W4's second conv)
    g = xp.take(dcols, back[0, ...], axis=1)  # (N, H*W, C)
    for r in range(1, kmax):
        g += xp.take(dcols, back[r, ...], axis=1)  # in place on the fresh gather (rebinds on JAX)
    return xp.reshape(g, (n, h, w, c))


def pair(v: Any, name: str, layer: str, *, minimum: int = 1) -> tuple[int, int]:
    """``3`` or ``(3, 3)`` -> ``(3, 3)``, with an error naming the argument and the layer."""
    vals = (v, v) if isinstance(v, int) and not isinstance(v, bool) else v
    if (not isinstance(vals, (tuple, list)) or len(vals) != 2
            or any(isinstance(a, bool) or not isinstance(a, int) or a < minimum for a in vals)):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} or a pair of them, got {v!r}")
    return int(vals[0]), int(vals[1])


def fmt(shape: tuple[int, ...]) -> str:
    """A per-sample shape as the batch shape ``(N, ...)``."""
    return "(N" + "".join(f", {s}" for s in shape) + ")"
