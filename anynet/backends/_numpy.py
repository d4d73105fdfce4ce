"""NumPy: the default backend and the reference every other one is compared with."""

from __future__ import annotations

import functools
import os
import threading
import types
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from ._base import Backend, BackendError, to_numpy
from ._memory import keep_freed_memory


class NumpyBackend(Backend):
    """NumPy on the CPU; ``threads=`` splits each training step's batch over CPU threads.

    NumPy runs its element-wise work (im2col gathers, pooling, ReLU) on one core
    and only its matrix products (BLAS) on several. With ``threads=n`` (or
    ``"auto"``: one per core) the engine splits each training step's batch into
    ``n`` contiguous pieces, runs forward and backward of each in its own thread
    (NumPy releases the GIL inside its loops), each thread's BLAS on one core, and
    sums the pieces' gradients: the same step up to float rounding (the gradient
    sums are added in another order), all cores busy. It pays where element-wise
    work is a large part of the step (convnets: W4's step 14.7 -> 11.1 ms on two
    cores, see BENCHMARKS.md) and costs about 90 microseconds per step (small MLPs:
    leave it at 1). Dropout draws, for each piece, its rows of the whole batch's mask,
    so its steps split too. Steps of models with a layer whose samples depend on each
    other (BatchNorm's batch statistics) run whole, as with ``threads=1``, so that they
    equal the one-thread step; so do those with a layer or loss of your own until it
    says ``per_sample = True`` (and, if it draws random numbers, ``takes_first_row``;
    see :class:`anynet.layers.Layer`).

    >>> import anynet as an
    >>> an.backends.get_backend("numpy", threads=2)
    Backend(name='numpy', device='cpu', threads=2)
    """

    name: ClassVar[str] = "numpy"
    module: ClassVar[str] = "numpy"
    install: ClassVar[str] = "pip install numpy"
    array_modules: ClassVar[tuple[str, ...]] = ("numpy",)
    takes_threads: ClassVar[bool] = True

    def __init__(self, device: Any = None, *, devices: Any = None, threads: Any = None) -> None:
        super().__init__(device, devices=devices)
        keep_freed_memory()  # the next step's arrays on pages already touched (see _memory)
        self.threads = _thread_count(threads, self.name)
        self._pool: ThreadPoolExecutor | None = None
        self._blas: Any = None
        self._lock = threading.Lock()

    def map_shards(self, fn: Callable[[Any], Any], shards: Sequence[Any]) -> list[Any]:
        """Every shard in its own thread (the first in the caller's), NumPy's BLAS on one core
        meanwhile (threadpoolctl), so that the threads do not fight over the cores."""
        if self.threads == 1 or len(shards) < 2:
            return [fn(s) for s in shards]
        with self._lock:  # one split step at a time per backend: the BLAS limit is process-wide
            if self._pool is None:
                from threadpoolctl import ThreadpoolController  # a dependency; imported on first use

                self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="anynet-numpy")
                self._blas = ThreadpoolController().select(user_api="blas")
            with self._blas.limit(limits=1):
                futures = [self._pool.submit(fn, s) for s in shards[1:]]
                first = fn(shards[0])
                return [first, *(f.result() for f in futures)]

    def _namespace(self, lib: Any) -> Any:
        return fast_namespace()

    @classmethod
    def owns_type(cls, a: Any) -> bool:
        return isinstance(a, (np.ndarray, np.generic))

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        out = np.asarray(to_numpy(a), dtype=None if dtype is None else self.dtype(dtype))
        return out.copy() if copy else out


def _thread_count(threads: Any, name: str) -> int:
    if threads is None:
        return 1
    if threads == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise BackendError(f"backend {name!r}: threads must be a positive int or 'auto', got {threads!r}")
    return threads


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
