"""Backends: the only package of anynet that knows array libraries by name.

Everything that computes (layers, losses, optimizers, the engine, training)
takes its namespace from the arrays it is given
(``array_api_compat.array_namespace``) and calls only functions of the Array
API standard. What the standard does not cover lives here, one class per
library, each in its own module, behind :class:`Backend`:

* which library a name stands for, and whether it can run on this machine;
* moving arrays between the host (NumPy) and a backend's device;
* the host random generator that initializes every backend's weights equally;
* compiling a pure function (``jax.jit``; identity elsewhere) and looping
  over an epoch's batches (``jax.lax.scan``; a Python loop elsewhere);
* switching JAX to 64-bit floats when float64 is asked for.

A new backend is one subclass of :class:`Backend` and one call of
:func:`register`. The current backend lives in a :class:`contextvars.ContextVar`,
so :func:`using` is safe in threads and async code; :func:`use` sets it for the
rest of the program.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import os
from collections.abc import Iterator
from typing import Any

from ._base import CACHE, REGISTRY, Backend, BackendError, cached, make, owner, to_numpy
from ._cupy import CupyBackend
from ._jax import JaxBackend, initialize_distributed
from ._memory import keep_freed_memory
from ._numpy import NumpyBackend
from ._strict import StrictBackend
from ._torch import TorchBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "NumpyBackend",
    "available_backends",
    "backend",
    "backend_of",
    "get_backend",
    "initialize_distributed",
    "keep_freed_memory",
    "namespace_name",
    "register",
    "to_numpy",
    "use",
    "using",
]

_REGISTRY = REGISTRY  # the registry lives in _base, beside the class
_cache = CACHE  # (both names kept for the tests)
_PUBLIC: list[str] = []

#: The backend names a user may pass to :func:`use`, in the order of preference.
BACKENDS: tuple[str, ...] = ()


def register(cls: type[Backend], *, public: bool = True) -> type[Backend]:
    """Make ``cls`` (a :class:`Backend` subclass) available under ``cls.name``.

    ``public=False`` registers a backend that :func:`use` accepts but
    :data:`BACKENDS` and :func:`available_backends` do not list (the test suite's
    read-only NumPy backend, say).

    Examples
    --------
    >>> import anynet as an
    >>> from anynet.backends import NumpyBackend, register
    >>> class Float64Numpy(NumpyBackend):  # NumPy that computes in float64 whatever is asked
    ...     name = "numpy64"
    ...     def dtype(self, name):
    ...         return super().dtype("float64" if "float" in str(name) else name)
    >>> _ = register(Float64Numpy, public=False)
    >>> an.Sequential([an.layers.Linear(2, 2)], backend="numpy64").params[0]["W"].dtype
    dtype('float64')
    """
    global BACKENDS
    if not (isinstance(cls, type) and issubclass(cls, Backend) and cls.name):
        raise TypeError(f"register: expected a Backend subclass with a name, got {cls!r}")
    _REGISTRY[cls.name] = cls
    if public and cls.name not in _PUBLIC:
        _PUBLIC.append(cls.name)
    BACKENDS = tuple(_PUBLIC)
    CACHE.clear()
    return cls


for _cls in (NumpyBackend, JaxBackend, CupyBackend, TorchBackend, StrictBackend):
    register(_cls)


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a str, one of {', '.join(map(repr, BACKENDS))}; "
                        f"got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = {"strict": "array_api_strict"}.get(key, key)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, [*BACKENDS, "pytorch"], n=1)
        hint = f"; did you mean {'torch' if close == ['pytorch'] else close[0]!r}?" if close else ""
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(map(repr, BACKENDS))}{hint}")
    return key


# ------------------------------------------------------------------ arrays of any backend
def backend_of(a: Any) -> Backend:
    """The :class:`Backend` (and device) an array lives on.

    >>> import numpy as np, anynet as an
    >>> an.backends.backend_of(np.ones(3)).name
    'numpy'
    """
    cls = owner(a)
    if cls is None:
        raise TypeError(f"not an array of a known backend: {type(a).__name__}")
    return get_backend(cls.name, cls.device_spec_of(a))


def namespace_name(a: Any) -> str:
    """A short name for the library an array belongs to (for error messages).

    >>> import numpy as np, anynet as an
    >>> an.backends.namespace_name(np.ones(2)), an.backends.namespace_name([1.0])
    ('numpy', 'list')
    """
    mod = type(a).__module__.split(".")[0]
    return {"jaxlib": "jax", "builtins": type(a).__name__}.get(mod, mod)


# ------------------------------------------------------------------ the current backend
def get_backend(name: str | Backend | None = None, device: Any = None, *, devices: Any = None,
                threads: Any = None) -> Backend:
    """The :class:`Backend` for ``name`` (``None``: the current one), created once per device.

    ``devices`` (JAX): ``"all"``, a count, or a list of devices (names, indices or
    device objects) to train data-parallel over: parameters replicated, batches split.
    ``threads`` (NumPy): a count or ``"auto"`` (every core), the CPU threads each
    training step's batch is split over (see :class:`NumpyBackend`).

    >>> import anynet as an
    >>> an.backends.get_backend("numpy") is an.backends.get_backend("numpy")
    True
    """
    if isinstance(name, Backend) and devices is None and threads is None:
        return name
    if isinstance(name, Backend):
        name = name.name
    if name is None:
        if devices is None and threads is None:
            return backend()
        name = backend().name
    name = _check_name(name)
    if isinstance(devices, tuple):
        devices = list(devices)
    plain = devices is None or isinstance(devices, (str, int)) or all(isinstance(d, (str, int)) for d in devices)
    plain = plain and isinstance(threads, (str, int, type(None)))
    if (device is None or isinstance(device, (str, int))) and plain:
        return cached(name, device, devices, threads)
    return make(name, device, devices, threads)


_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar("anynet_backend", default=None)


def _env_default() -> Backend:
    env = os.environ.get("ANYNET_BACKEND", "").strip()
    if not env:
        return get_backend("numpy")
    try:
        return get_backend(env)
    except ValueError as exc:
        raise ValueError(f"environment variable ANYNET_BACKEND={env!r}: {exc}") from None
    except BackendError as exc:
        raise BackendError(f"environment variable ANYNET_BACKEND={env!r}: {exc}") from None


def backend() -> Backend:
    """The current :class:`Backend` (the one new models and arrays are created on).

    The default is NumPy, or ``$ANYNET_BACKEND`` when set (checked when first
    needed, so a bad value does not stop ``import anynet``).

    Examples
    --------
    >>> import anynet as an
    >>> with an.using("numpy"):
    ...     an.backend().name
    'numpy'
    >>> model = an.Sequential([an.layers.Linear(2, 2)])  # built on the current backend
    >>> model.backend == an.backend()
    True
    """
    be = _current.get()
    if be is None:
        be = _env_default()
        _current.set(be)
    return be


def use(name: str | Backend = "numpy", device: Any = None, *, devices: Any = None, threads: Any = None) -> Backend:
    """Make ``name`` the current backend and return it.

    Parameters
    ----------
    name : {"numpy", "jax", "cupy", "torch", "array_api_strict"}
        The array library. ``ANYNET_BACKEND`` in the environment sets the default.
    device : str, int or device object, optional
        Where arrays go: ``"cpu"``, ``"gpu"``/``"cuda:0"``... (default: the
        library's default device).
    devices : "all", int or list, optional
        JAX only: train data-parallel over these devices (``"all"``, the first
        ``n``, or a list): parameters and layer state replicated, each batch split
        over the devices, gradients summed by the compiled step (an all-reduce).
    threads : int or "auto", optional
        NumPy only: split each training step's batch over this many CPU threads
        (``"auto"``: one per core), its matrix products then on one core each; the
        gradients are summed. Default 1: one thread, NumPy's BLAS on every core. See
        :class:`anynet.backends.NumpyBackend` for when it pays.

    Examples
    --------
    >>> import anynet as an
    >>> an.use("numpy")
    Backend(name='numpy', device='cpu')
    """
    be = get_backend(name, device, devices=devices, threads=threads)
    _current.set(be)
    return be


@contextlib.contextmanager
def using(name: str | Backend, device: Any = None, *, devices: Any = None, threads: Any = None
          ) -> Iterator[Backend]:
    """Switch the current backend inside a ``with`` block; restored on exit, also on error.

    >>> import anynet as an
    >>> with an.using("numpy") as be:
    ...     be.name
    'numpy'
    """
    token = _current.set(get_backend(name, device, devices=devices, threads=threads))
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


def available_backends() -> dict[str, str | None]:
    """Every backend name mapped to ``None`` if it can run here, else the reason why not.

    >>> import anynet as an
    >>> an.available_backends()["numpy"] is None
    True
    """
    out: dict[str, str | None] = {}
    for name in BACKENDS:
        try:
            get_backend(name)
        except (BackendError, ImportError) as exc:
            out[name] = str(exc)
        except Exception as exc:  # a broken install: say what broke
            out[name] = f"{type(exc).__name__}: {exc}"
        else:
            out[name] = None
    return out
