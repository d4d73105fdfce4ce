"""NumPy: the default backend and the reference every other one is compared with."""

from __future__ import annotations

import functools
import types
from typing import Any, ClassVar

import numpy as np

from ._base import Backend, to_numpy
from ._memory import keep_freed_memory


class NumpyBackend(Backend):
    name: ClassVar[str] = "numpy"
    module: ClassVar[str] = "numpy"
    install: ClassVar[str] = "pip install numpy"
    array_modules: ClassVar[tuple[str, ...]] = ("numpy",)

    def __init__(self, device: Any = None, *, devices: Any = None) -> None:
        super().__init__(device, devices=devices)
        keep_freed_memory()  # the next step's arrays on pages already touched (see _memory)

    def _namespace(self, lib: Any) -> Any:
        return fast_namespace()

    @classmethod
    def owns_type(cls, a: Any) -> bool:
        return isinstance(a, (np.ndarray, np.generic))

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        out = np.asarray(to_numpy(a), dtype=None if dtype is None else self.dtype(dtype))
        return out.copy() if copy else out


@functools.cache
def fast_namespace() -> Any:
    """``array_api_compat.numpy``, with ``sum``/``max``/``min`` of floating arrays going
    straight to the ufunc reductions, and ``take``/``reshape``/``argmax``/``astype`` to
    the array methods.

    NumPy's ``np.sum`` and ``np.max`` are Python wrappers around ``np.add.reduce``
    and ``np.maximum.reduce``; in the overhead-bound training step (a small MLP,
    small batches) they cost about 6% of the time. Same results, same standard
    signatures; anything else (integer sums, ``dtype=``) goes to array-api-compat.
    """
    import array_api_compat.numpy as base

    ns = types.ModuleType("anynet.backends.numpy", base.__doc__)
    ns.__dict__.update({k: v for k, v in vars(base).items() if not k.startswith("__")})
    add, maximum, minimum = np.add.reduce, np.maximum.reduce, np.minimum.reduce

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        if dtype is None and x.dtype.kind == "f":
            return add(x, axis=axis, keepdims=keepdims)
        return base.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return maximum(x, axis=axis, keepdims=keepdims) if x.dtype.kind == "f" else \
            base.max(x, axis=axis, keepdims=keepdims)

    def min(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return minimum(x, axis=axis, keepdims=keepdims) if x.dtype.kind == "f" else \
            base.min(x, axis=axis, keepdims=keepdims)

    # the methods: np.take, np.reshape, np.argmax and the compat astype are Python
    # wrappers around them
    def take(x: Any, indices: Any, /, *, axis: Any = None) -> Any:
        return x.take(indices, axis=axis)

    def reshape(x: Any, /, shape: tuple[int, ...], *, copy: bool | None = None) -> Any:
        return x.reshape(shape) if copy is None else base.reshape(x, shape, copy=copy)

    def argmax(x: Any, /, *, axis: int | None = None, keepdims: bool = False) -> Any:
        return x.argmax(axis=axis, keepdims=keepdims)

    def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        return x.astype(dtype, copy=copy) if device is None else base.astype(x, dtype, copy=copy, device=device)

    ns.sum, ns.max, ns.min, ns.take = sum, max, min, take
    ns.reshape, ns.argmax, ns.astype = reshape, argmax, astype
    return ns
