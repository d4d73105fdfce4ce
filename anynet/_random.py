"""Counter-based random numbers written against the Array API standard.

Dropout needs random masks inside a pure, compilable training step. Instead of
each library's own generator (stateful in NumPy, CuPy and torch; key-based in
JAX), anynet hashes ``(key, element index)`` with integer operations that every
namespace has: the same seed gives bit-identical masks on NumPy, JAX, CuPy,
torch and array-api-strict, and the function stays pure under ``jax.jit``.

The mixer is Chris Wellons' "lowbias32" integer hash, computed in int32 with
wrap-around multiplication (two's complement gives the same bits as uint32) and
logical right shifts emulated by masking (int32 ``>>`` is arithmetic). It is a
statistically good hash, not a cryptographic generator: fine for dropout masks.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device as device_of

_M1 = 0x7FEB352D  # 2146121005, fits int32
_M2 = 0x846CA68B - (1 << 32)  # as a signed int32
_GOLDEN = 0x9E3779B9 - (1 << 32)


def _shr(x: Any, k: int) -> Any:
    # logical right shift of int32 bits
    return (x >> k) & ((1 << (32 - k)) - 1)


def mix(x: Any) -> Any:
    """lowbias32 on an int32 array (elementwise bijection of the 32 bits)."""
    x = x ^ _shr(x, 16)
    x = x * _M1
    x = x ^ _shr(x, 15)
    x = x * _M2
    return x ^ _shr(x, 16)


def fold_in(key: Any, data: Any, *, xp: Any) -> Any:
    """A new key from ``key`` and ``data`` (a Python int, or an int32 array of shape (1,)).

    Keys are int32 arrays of shape (1,), not 0-d: NumPy turns 0-d results into
    scalars, whose (intended) wrap-around would raise overflow warnings.
    """
    if isinstance(data, int):
        data = xp.asarray([_wrap(data)], dtype=xp.int32, device=device_of(key))
    return mix(key ^ mix(data * _GOLDEN))


def key_from_seed(seed: int, *, xp: Any, device: Any = None) -> Any:
    """A key (int32, shape (1,)) from a Python int seed."""
    return mix(xp.asarray([_wrap(seed * 0x2545F491 + 1)], dtype=xp.int32, device=device))


def uniform(key: Any, shape: tuple[int, ...], dtype: Any, *, xp: Any, offset: int = 0) -> Any:
    """Uniform floats in [0, 1) with 24 random bits, a pure function of ``key`` and the shape.

    Element ``i`` (in row-major order) gets the number of index ``offset + i``: the rows
    ``s:e`` of a batch, drawn with ``offset = s * row_size``, get exactly the numbers of
    those rows of the whole batch (a step split over threads draws the same masks).
    """
    n = 1
    for s in shape:
        n *= int(s)
    idx = xp.arange(offset, offset + n, dtype=xp.int32, device=device_of(key))
    bits = mix(mix(idx) ^ key)
    u = xp.astype(_shr(bits, 8), dtype) * (1.0 / (1 << 24))
    return xp.reshape(u, shape)


def _wrap(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v
