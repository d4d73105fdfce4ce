"""Backends: the only module of anynet that knows array libraries by name.

Everything that computes (layers, losses, optimizers, the model, training)
takes its namespace from the arrays it is given
(``array_api_compat.array_namespace``) and calls only functions of the Array
API standard. What the standard does not cover lives here:

* which library a name stands for, and whether it can run on this machine;
* moving arrays between the host (NumPy) and a backend's device (DLPack when
  the two sides can share memory, a host copy otherwise);
* the host random generator that initializes every backend's weights equally;
* compiling a pure function (``jax.jit``; identity elsewhere);
* switching JAX to 64-bit floats when float64 is asked for.

The current backend lives in a :class:`contextvars.ContextVar`, so
:func:`using` is safe in threads and async code; :func:`use` sets it for the
rest of the program.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import importlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

# NumPy is anynet's host library (weights are drawn on the host, data arrive
# as NumPy arrays); it is a hard dependency, so importing it here is free.
import numpy as np

__all__ = [
    "BACKENDS",
    "Backend",
    "available_backends",
    "backend",
    "get_backend",
    "use",
    "using",
]

#: The backend names a user may pass to :func:`use`, in the order of preference.
BACKENDS: tuple[str, ...] = ("numpy", "jax", "cupy", "torch", "array_api_strict")

# Test-only variant: NumPy whose arrays handed to anynet are read-only, so any
# in-place write on a parameter or an input raises (JAX would silently differ).
_TEST_BACKENDS: tuple[str, ...] = ("numpy_readonly",)

_INSTALL: dict[str, str] = {
    "numpy": "pip install numpy",
    "jax": "pip install 'anynet[jax]'",
    "cupy": "pip install 'anynet[cuda12]' (or 'anynet[cuda13]'), on a machine with an NVIDIA GPU",
    "torch": "pip install 'anynet[torch]'",
    "array_api_strict": "pip install 'anynet[strict]'",
}

_MODULES: dict[str, str] = {
    "numpy": "numpy",
    "numpy_readonly": "numpy",
    "jax": "jax",
    "cupy": "cupy",
    "torch": "torch",
    "array_api_strict": "array_api_strict",
}


class BackendError(RuntimeError):
    """A backend was asked for that cannot run here (not installed, no device).

    Examples
    --------
    >>> import anynet as an
    >>> try:
    ...     with an.using("numpy", device="cuda:0"):
    ...         pass
    ... except an.BackendError as exc:
    ...     print(exc)
    backend 'numpy' runs on the CPU only, got device 'cuda:0'; use backend 'cupy', 'jax' or 'torch' for a GPU

    :func:`available_backends` gives the reason for every backend that cannot run here.
    """


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"backend name must be a str, one of {', '.join(map(repr, BACKENDS))}; "
            f"got {type(name).__name__}"
        )
    key = name.strip().lower().replace("-", "_")
    if key == "strict":
        key = "array_api_strict"
    if key not in BACKENDS and key not in _TEST_BACKENDS:
        close = difflib.get_close_matches(key, [*BACKENDS, "pytorch"], n=1)
        hint = f"; did you mean {'torch' if close == ['pytorch'] else close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown backend {name!r}: expected one of {', '.join(map(repr, BACKENDS))}{hint}"
        )
    return key


def _import(name: str) -> Any:
    mod = _MODULES[name]
    install = _INSTALL[name.replace("_readonly", "")]
    try:
        return importlib.import_module(mod)
    except ImportError as exc:
        raise BackendError(
            f"backend {name!r} is not installed ({mod} cannot be imported: {exc}); "
            f"install it with: {install}"
        ) from exc
    except Exception as exc:  # installed but broken: a missing shared library, a version clash...
        raise BackendError(
            f"backend {name!r} is installed but broken: importing {mod} failed with "
            f"{type(exc).__name__}: {exc}; reinstall it with: {install}"
        ) from exc


class Backend:
    """An array library, a device on it, and the few operations the standard lacks.

    Get one with :func:`use`, :func:`using`, :func:`backend` or
    :func:`get_backend`; do not build it yourself.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"jax"``, ``"cupy"``, ``"torch"`` or ``"array_api_strict"``.
    xp : module
        The Array API namespace (``array_api_compat`` wraps NumPy, CuPy and torch;
        JAX and array-api-strict are their own).
    device : object
        The device new arrays are placed on, in the library's own terms.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> with an.using("numpy") as be:
    ...     be
    Backend(name='numpy', device='cpu')
    >>> be = an.backend()  # the current one, whichever it is
    >>> a = be.asarray(np.ones((2, 3)), dtype="float32")  # NumPy in, this backend's array out
    >>> be.owns(a), tuple(a.shape), a.dtype == be.dtype("float32"), float(be.xp.sum(a))
    (True, (2, 3), True, 6.0)
    """

    __slots__ = ("name", "xp", "device", "_lib")

    def __init__(self, name: str, device: Any = None) -> None:
        name = _check_name(name)
        lib = _import(name)
        self.name = name
        self._lib = lib
        if name in ("numpy", "numpy_readonly"):
            xp = _numpy_namespace()

            if device is not None and str(device).lower() not in ("cpu", "cpu:0"):
                raise BackendError(f"backend {name!r} runs on the CPU only, got device {device!r}; "
                                   "use backend 'cupy', 'jax' or 'torch' for a GPU")
            device = "cpu"
        elif name == "jax":
            import jax
            import jax.numpy as xp

            device = _jax_device(jax, device)
        elif name == "cupy":
            device = _cupy_device(lib, device)  # first: without a GPU, say so plainly

            import array_api_compat.cupy as xp
        elif name == "torch":
            import array_api_compat.torch as xp

            device = _torch_device(lib, device)
        else:  # array_api_strict
            xp = lib
            device = _strict_device(lib, device)
        self.xp = xp
        self.device = device

    # ----------------------------------------------------------------- info
    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={str(self.device)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Backend)
            and other.name == self.name
            and str(other.device) == str(self.device)
        )

    def __hash__(self) -> int:
        return hash((self.name, str(self.device)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # rebuilt by name and device (modules cannot be pickled), e.g. for joblib workers
        return get_backend, (self.name, self._device_spec())

    def _device_spec(self) -> Any:
        if self.name == "jax":
            return f"{self.device.platform}:{self.device.id}"
        if self.name == "cupy":
            return int(self.device.id)
        if self.name == "torch":
            return str(self.device)
        return None

    @property
    def version(self) -> str:
        """The version of the array library."""
        return str(getattr(self._lib, "__version__", "?"))

    def devices(self) -> list[Any]:
        """The devices this library can see here."""
        return _devices(self.name, self._lib)

    def dtype(self, name: Any) -> Any:
        """The backend's dtype object for ``"float32"``, ``"float64"``, ``"int32"``...

        Asking for a 64-bit dtype on JAX turns on ``jax_enable_x64`` (with a
        warning that says so), because JAX silently truncates to 32 bits otherwise.
        """
        if not isinstance(name, str):
            name = (getattr(name, "name", None) or getattr(name, "__name__", None)
                    or str(name).rsplit(".", 1)[-1])
        if name not in ("float32", "float64", "int32", "int64", "bool"):
            raise ValueError(
                f"dtype must be one of 'float32', 'float64' (or an integer/bool dtype "
                f"for targets); got {name!r}"
            )
        if name.endswith("64"):
            self._require_64bit(name)
        return getattr(self.xp, name)

    def _require_64bit(self, what: str) -> None:
        if self.name == "jax":
            import jax

            if not jax.config.jax_enable_x64:
                jax.config.update("jax_enable_x64", True)
                warnings.warn(
                    f"anynet: {what} was requested on JAX, so anynet turned on "
                    "jax_enable_x64 for this process (JAX computes in 32 bits otherwise)",
                    UserWarning,
                    stacklevel=3,
                )
        elif self.name == "torch" and str(self.device).startswith("mps"):
            raise BackendError(
                f"backend 'torch' on device {self.device} cannot compute in {what} (Apple's MPS "
                "has no 64-bit floats); use dtype='float32', or device='cpu' for float64"
            )

    def default_int(self) -> str:
        """The integer dtype name used for class labels and indices on this backend."""
        if self.name == "jax":
            import jax

            return "int64" if jax.config.jax_enable_x64 else "int32"
        return "int64"

    # -------------------------------------------------------------- transfer
    def owns(self, a: Any) -> bool:
        """Whether ``a`` is an array of this backend (any device)."""
        import array_api_compat as c

        if self.name in ("numpy", "numpy_readonly"):
            return c.is_numpy_array(a)
        if self.name == "jax":
            return c.is_jax_array(a)
        if self.name == "cupy":
            return c.is_cupy_array(a)
        if self.name == "torch":
            return c.is_torch_array(a)
        return type(a).__module__.startswith("array_api_strict")

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        """Put ``a`` (NumPy, a list, or an array of any backend) on this backend's device.

        Arrays that can be shared go through DLPack without a host round trip;
        others (CuPy to JAX-CPU, say) through a host copy.
        """
        dt = None if dtype is None else self.dtype(dtype)
        name = self.name
        if name in ("numpy", "numpy_readonly"):
            out = np.asarray(to_numpy(a), dtype=dt)
            if copy:
                out = out.copy()
            if name == "numpy_readonly":
                out = out.view()
                out.flags.writeable = False
            return out
        if name == "jax":
            import jax

            if self.owns(a):
                out = a if dt is None else a.astype(dt)
                return jax.device_put(out, self.device)
            host = to_numpy(a)
            return jax.device_put(self.xp.asarray(host, dtype=dt), self.device)
        if name == "cupy":
            with self._lib.cuda.Device(self.device.id):
                if self.owns(a) or _is_torch_cuda(a):
                    src = a if self.owns(a) else self._lib.from_dlpack(a)
                    return self.xp.asarray(src, dtype=dt, copy=copy)
                return self.xp.asarray(to_numpy(a), dtype=dt, copy=copy)
        if name == "torch":
            if self.owns(a):
                return a.to(device=self.device, dtype=dt, copy=bool(copy))
            if _is_cupy(a) and self.device.type == "cuda":
                return self._lib.from_dlpack(a).to(device=self.device, dtype=dt)
            host = to_numpy(a)
            if isinstance(host, np.ndarray) and not host.flags.writeable:
                host = host.copy()  # torch warns on (and cannot share) read-only memory
            return self._lib.as_tensor(host, dtype=dt, device=self.device)
        # array_api_strict
        if self.owns(a):
            return a if dt is None else self.xp.astype(a, dt)
        return self.xp.asarray(to_numpy(a), dtype=dt, device=self.device)

    # ------------------------------------------------------------ numerics
    def host_rng(self, seed: int | None) -> np.random.Generator:
        """The host generator that draws initial weights: the same on every backend."""
        return np.random.default_rng(seed)

    @property
    def inplace(self) -> bool:
        """Whether arrays can be updated in place (``x -= y``): not on JAX (immutable)
        nor on the read-only test backend, whose point is to prove purity."""
        return self.name in ("numpy", "cupy", "torch", "array_api_strict")

    @property
    def views(self) -> bool:
        """Whether basic slices and reshapes of contiguous arrays are views that share
        memory with their base, so that updating the base in place updates them
        (NumPy, CuPy, torch; array_api_strict, which wraps NumPy). The standard leaves
        this to each library; ``fit`` relies on it only where this says so."""
        return self.inplace

    @property
    def pack_limit(self) -> int | None:
        """Up to how many parameter elements ``fit`` packs a stateful optimizer's
        parameters and buffers into one buffer each (``None``: no limit).

        Packed, a momentum or Adam update is a few operations on everything instead
        of a few per array, at the price of one copy of the gradients per step. On a
        GPU the operations (kernel launches) cost far more than the copy: always
        pack. On a CPU an operation costs about a microsecond, while copying a
        million float32 gradients costs more than a hundred: pack small models only.
        """
        if not self.views:
            return 0
        on_cpu = self.name in ("numpy", "array_api_strict") or str(self.device) == "cpu"
        return 1 << 18 if on_cpu else None

    def scan(self, f: Callable, init: Any, xs: Any) -> tuple[Any, Any]:
        """``carry = init; for x in xs: carry, y = f(carry, x)``, returning the last carry
        and the ``y`` stacked along a new first axis (``None`` if ``f`` gives ``None``):
        ``jax.lax.scan`` on JAX (one compiled loop), a Python loop elsewhere."""
        if self.name == "jax":
            import jax

            return jax.lax.scan(f, init, xs)
        carry, ys = init, []
        for i in range(xs.shape[0]):
            carry, y = f(carry, xs[i, ...])
            ys.append(y)
        if not ys or ys[0] is None:
            return carry, None
        return carry, self.xp.stack(ys)

    @property
    def donates(self) -> bool:
        """Whether :meth:`jit` honours ``donate_argnums`` (JAX): a donated input's
        buffer is reused for the output and must not be used after the call."""
        return self.name == "jax"

    def jit(self, fn: Callable, *, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """Compile a pure function on JAX (``jax.jit``); return it unchanged elsewhere."""
        if self.name != "jax":
            return fn
        import jax

        return jax.jit(fn, donate_argnums=donate_argnums)


# ----------------------------------------------------------------- helpers
@functools.cache
def _numpy_namespace() -> Any:
    """``array_api_compat.numpy``, with ``sum``/``max``/``min`` of floating arrays going
    straight to the ufunc reductions, and ``take``/``reshape``/``argmax``/``astype`` to
    the array methods.

    NumPy's ``np.sum`` and ``np.max`` are Python wrappers around ``np.add.reduce``
    and ``np.maximum.reduce``; in the overhead-bound training step (a small MLP,
    small batches) they cost about 6% of the time. Same results, same standard
    signatures; anything else (integer sums, ``dtype=``) goes to array-api-compat.
    """
    import types

    import array_api_compat.numpy as base

    ns = types.ModuleType("anynet._backend.numpy", base.__doc__)
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


def _pick(name: str, devs: list[Any], idx: Any, asked: Any) -> Any:
    """``devs[idx]`` or a BackendError listing the devices there are."""
    try:
        i = int(idx)
    except (TypeError, ValueError):
        i = -1
    if not 0 <= i < len(devs):
        raise BackendError(f"backend {name!r} has no device {asked!r}: it sees {len(devs)} "
                           f"({', '.join(map(str, devs))})")
    return devs[i]


def _jax_device(jax: Any, device: Any) -> Any:
    if device is None:
        return jax.devices()[0]
    if not isinstance(device, (str, int)):
        return device
    if isinstance(device, int):
        return _pick("jax", jax.devices(), device, device)
    kind, _, idx = device.lower().partition(":")
    kind = {"cuda": "gpu"}.get(kind, kind)
    try:
        devs = jax.devices(kind)
    except RuntimeError as exc:
        raise BackendError(
            f"backend 'jax' has no {kind!r} device here (it sees {', '.join(map(str, jax.devices()))}): {exc}"
        ) from exc
    return _pick("jax", devs, idx or 0, device)


def _cupy_device(cupy: Any, device: Any) -> Any:
    hint = "use backend 'numpy', 'jax' or 'torch' on this machine"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing, no GPU, ...
        raise BackendError(f"backend 'cupy' needs an NVIDIA GPU with a working CUDA driver, and none "
                           f"is usable here ({type(exc).__name__}: {exc}); {hint}") from exc
    if n < 1:
        raise BackendError(f"backend 'cupy' needs an NVIDIA GPU with CUDA: no CUDA device found; {hint}")
    if device is None:
        idx: Any = 0
    elif isinstance(device, int):
        idx = device
    elif isinstance(device, str):
        kind, _, idx = device.lower().partition(":")
        if kind not in ("cuda", "gpu"):
            raise BackendError(f"backend 'cupy' runs on CUDA devices only ('cuda', 'cuda:1', ...), "
                               f"got device {device!r}")
        idx = idx or 0
    else:
        idx = int(device.id)
    return _pick("cupy", [cupy.cuda.Device(i) for i in range(n)], idx, device)


def _torch_device(torch: Any, device: Any) -> Any:
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise BackendError(f"backend 'torch' has no device {device!r} ({exc}); "
                           "use 'cpu', 'cuda', 'cuda:1' or 'mps'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise BackendError(f"backend 'torch' has no device {device!r}: {why}; use device='cpu'")
        if dev.index is not None:
            _pick("torch", [f"cuda:{i}" for i in range(torch.cuda.device_count())], dev.index, device)
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise BackendError(f"backend 'torch' has no device {device!r}: MPS needs an Apple GPU; "
                               "use device='cpu'")
    return dev


def _strict_device(lib: Any, device: Any) -> Any:
    if device is None or (isinstance(device, str) and device.lower() in ("cpu", "cpu_device")):
        return lib.Device()
    if isinstance(device, lib.Device):
        return device
    try:
        return lib.Device(str(device))
    except ValueError as exc:
        raise BackendError(f"backend 'array_api_strict' has no device {device!r} ({exc}); "
                           "it has 'CPU_DEVICE', 'device1' and 'device2'") from exc


def _devices(name: str, lib: Any) -> list[Any]:
    if name in ("numpy", "numpy_readonly"):
        return ["cpu"]
    if name == "jax":
        return list(lib.devices())
    if name == "cupy":
        return [lib.cuda.Device(i) for i in range(lib.cuda.runtime.getDeviceCount())]
    if name == "torch":
        devs = ["cpu"]
        if lib.cuda.is_available():
            devs += [f"cuda:{i}" for i in range(lib.cuda.device_count())]
        return devs
    return [lib.Device()]


def _is_cupy(a: Any) -> bool:
    return type(a).__module__.startswith("cupy")


def _is_torch_cuda(a: Any) -> bool:
    return type(a).__module__.startswith("torch") and getattr(a, "is_cuda", False)


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy (or view, when free) of an array of any backend, or of a list."""
    if isinstance(a, np.ndarray):
        return a
    mod = type(a).__module__
    if mod.startswith("cupy"):
        return a.get()
    if mod.startswith("torch"):
        return a.detach().cpu().numpy()
    if mod.startswith("array_api_strict"):
        return np.asarray(a._array)  # the documented escape hatch is DLPack;
        # _array avoids a copy and works for every dtype array-api-strict has.
    return np.asarray(a)


def backend_of(a: Any) -> Backend:
    """The :class:`Backend` (and device) an array lives on."""
    import array_api_compat as c

    if c.is_numpy_array(a):
        return get_backend("numpy")
    if c.is_jax_array(a):
        devs = list(a.devices())
        return get_backend("jax", devs[0] if len(devs) == 1 else None)
    if c.is_cupy_array(a):
        return get_backend("cupy", int(a.device.id))
    if c.is_torch_array(a):
        return get_backend("torch", str(a.device))
    if type(a).__module__.startswith("array_api_strict"):
        return get_backend("array_api_strict")
    raise TypeError(f"not an array of a known backend: {type(a).__name__}")


def namespace_name(a: Any) -> str:
    """A short name for the library an array belongs to (for error messages)."""
    mod = type(a).__module__.split(".")[0]
    return {"jaxlib": "jax", "builtins": type(a).__name__}.get(mod, mod)


# ------------------------------------------------------------ current backend
@functools.cache
def _cached(name: str, device_key: str) -> Backend:
    return Backend(name, None if device_key == "" else device_key)


def get_backend(name: str | Backend | None = None, device: Any = None) -> Backend:
    """The :class:`Backend` for ``name`` (``None``: the current one), created once."""
    if isinstance(name, Backend):
        return name
    if name is None:
        return backend()
    name = _check_name(name)
    if device is None or isinstance(device, (str, int)):
        return _cached(name, "" if device is None else str(device))
    return Backend(name, device)


def _env_default() -> str:
    env = os.environ.get("ANYNET_BACKEND", "").strip()
    if not env:
        return "numpy"
    try:
        return _check_name(env)
    except ValueError as exc:
        raise ValueError(f"environment variable ANYNET_BACKEND: {exc}") from None


_DEFAULT_NAME = _env_default()
_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "anynet_backend", default=None
)


def backend() -> Backend:
    """The current :class:`Backend` (the one new models and arrays are created on).

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
        be = get_backend(_DEFAULT_NAME)
        _current.set(be)
    return be


def use(name: str | Backend = "numpy", device: Any = None) -> Backend:
    """Make ``name`` the current backend and return it.

    Parameters
    ----------
    name : {"numpy", "jax", "cupy", "torch", "array_api_strict"}
        The array library. ``ANYNET_BACKEND`` in the environment sets the default.
    device : str, int or device object, optional
        Where arrays go: ``"cpu"``, ``"gpu"``/``"cuda:0"``... (default: the
        library's default device).

    Examples
    --------
    >>> import anynet as an
    >>> an.use("numpy")
    Backend(name='numpy', device='cpu')
    """
    be = get_backend(name, device)
    _current.set(be)
    return be


@contextlib.contextmanager
def using(name: str | Backend, device: Any = None) -> Iterator[Backend]:
    """Switch the current backend inside a ``with`` block; restored on exit, also on error.

    >>> import anynet as an
    >>> with an.using("numpy") as be:
    ...     be.name
    'numpy'
    """
    token = _current.set(get_backend(name, device))
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
