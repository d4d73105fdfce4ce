"""Keys for anynet's random numbers (dropout masks), for code that calls layers directly.

``fit`` and ``train_step`` make their own keys from ``seed`` and the step count.
A layer called by hand (``Dropout.forward(..., training=True, key=...)``) needs
one: :func:`key` makes it from a seed, :func:`fold_in` derives independent ones.
Keys are int32 arrays of shape (1,); the masks they give are bit-identical on
every backend (see ``anynet/_random.py``). Make a key on the backend of the
arrays it will meet (``backend=``; the default is the current backend).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from . import _random
from .backends import get_backend

__all__ = ["fold_in", "key"]


def key(seed: int, *, backend: Any = None) -> Any:
    """A key from the int ``seed``, on ``backend`` (a name or Backend; default: the current one).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> k = an.random.key(0, backend="numpy")
    >>> k.shape, str(k.dtype)
    ((1,), 'int32')
    >>> y, mask = an.layers.Dropout(0.5).forward({}, np.ones((2, 500)), training=True, key=k)
    >>> round(float((y == 0).mean()), 1)  # about half the units dropped
    0.5
    >>> same = an.random.key(0, backend="numpy")
    >>> bool(np.array_equal(same, k)), bool(np.array_equal(an.random.key(1, backend="numpy"), k))
    (True, False)
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"anynet.random.key: seed must be an int, got {seed!r}")
    be = get_backend(backend)
    return _random.key_from_seed(seed, xp=be.xp, device=be.device)


def fold_in(key: Any, data: int) -> Any:
    """A new key from ``key`` and the int ``data`` (e.g. a step or layer number).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> k = an.random.key(0, backend="numpy")
    >>> a, b = an.random.fold_in(k, 1), an.random.fold_in(k, 2)
    >>> bool(np.array_equal(a, b)), bool(np.array_equal(a, an.random.fold_in(k, 1)))
    (False, True)
    """
    if isinstance(data, bool) or not isinstance(data, int):
        raise TypeError(f"anynet.random.fold_in: data must be an int, got {data!r}")
    try:
        xp = array_namespace(key)
    except TypeError:
        xp = None
    if xp is None or tuple(key.shape) != (1,) or key.dtype != xp.int32:
        raise TypeError("anynet.random.fold_in: key must be a key from anynet.random.key (an int32 array "
                        f"of shape (1,)), got {type(key).__name__} "
                        f"{getattr(key, 'shape', '')} {getattr(key, 'dtype', '')}".rstrip())
    return _random.fold_in(key, data, xp=xp)
