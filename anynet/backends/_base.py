"""The base class of every backend: an array library, the device(s) its arrays live on,
and the few operations the Array API standard does not cover."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

# NumPy is anynet's host library (weights are drawn on the host, data arrive as
# NumPy arrays): a hard dependency, so importing it here is free.
import numpy as np
from array_api_compat import device as device_of

__all__ = ["Backend", "BackendError", "to_numpy"]

_DTYPES = ("float32", "float64", "int32", "int64", "bool")

#: Every registered backend class by name (see ``anynet.backends.register``).
REGISTRY: dict[str, type[Backend]] = {}
#: The Backend objects made so far, by (name, device), so that each is made once.
CACHE: dict[tuple[str, str], Backend] = {}


def cached(name: str, device: str | int | None, devices: Any = None, threads: Any = None) -> Backend:
    """The Backend ``name`` on ``device`` (a name, an index or ``None``) or over ``devices``
    (``"all"``, a count, or a list of names or indices), with ``threads`` (NumPy), made once."""
    spec = devices if not isinstance(devices, list) else tuple(devices)
    key = (name, "" if device is None else f"{type(device).__name__}:{device}", repr(spec),
           "" if _one_thread(threads) else repr(threads))
    be = CACHE.get(key)
    if be is None:
        be = CACHE[key] = make(name, device, devices, threads)
    return be


def make(name: str, device: Any, devices: Any = None, threads: Any = None) -> Backend:
    """A new Backend ``name``; ``devices``/``threads`` passed on only when given (a backend
    class that takes no ``threads`` says so)."""
    cls, kw = REGISTRY[name], {}
    if devices is not None:
        kw["devices"] = devices
    if not _one_thread(threads):
        if not cls.takes_threads:
            raise BackendError(f"backend {name!r}: threads={threads!r} (a training step split over CPU threads) "
                               "is for backend 'numpy'; this library spreads its own work over the cores")
        kw["threads"] = threads
    return cls(device, **kw)


def _one_thread(threads: Any) -> bool:
    """``threads`` asks for the default, one thread (``None`` or the int 1, not ``True``)."""
    return threads is None or (type(threads) is int and threads == 1)


def owner(a: Any) -> type[Backend] | None:
    """The registered backend class whose library ``a`` is an array of (``None``: none)."""
    for cls in REGISTRY.values():
        if cls.owns_type(a):
            return cls
    return None


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy (or view, when free) of an array of any backend, or of a list.

    >>> import anynet as an
    >>> an.backends.to_numpy([1.0, 2.0])
    array([1., 2.])
    """
    if isinstance(a, np.ndarray):
        return a
    cls = owner(a)
    return cls.to_host(a) if cls is not None else np.asarray(a)


class BackendError(RuntimeError):
    """A backend was asked for that cannot run here (not installed, no such device).

    Examples
    --------
    >>> import anynet as an
    >>> try:
    ...     with an.using("numpy", device="cuda:0"):
    ...         pass
    ... except an.BackendError as exc:
    ...     print(exc)
    backend 'numpy' runs on the CPU only, got device 'cuda:0'; use backend 'cupy', 'jax' or 'torch' for a GPU

    :func:`anynet.available_backends` gives the reason for every backend that cannot run here.
    """


class Backend:
    """An array library, the device its arrays live on, and what the standard lacks.

    One subclass per library, each in its own module of :mod:`anynet.backends`
    (``_numpy.py``, ``_jax.py``, ...), registered by name; a new backend is one
    such file (and its requirements file in the repository's ``backends/``).
    Get an instance with :func:`anynet.use`, :func:`anynet.using`,
    :func:`anynet.backend` or :func:`anynet.backends.get_backend`.

    A subclass sets the class attributes and overrides ``_namespace`` and
    ``_device``; everything else has a generic form here, written with
    ``array_api_compat`` and NumPy on the host, that a subclass overrides only
    where its library offers something better (DLPack moves, ``jax.jit``).

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"jax"``, ``"cupy"``, ``"torch"`` or ``"array_api_strict"``.
    xp : module
        The Array API namespace of the library.
    device : object
        The device new arrays are placed on, in the library's own terms.
    devices : tuple
        Every device the backend computes on: ``(device,)``, or, for data-parallel
        training (``an.use("jax", devices="all")``), the devices each batch is split
        over; parameters and layer state are then replicated on all of them.

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

    #: The name users pass to :func:`anynet.use`.
    name: ClassVar[str] = ""
    #: The Python module of the library (imported when the backend is first used).
    module: ClassVar[str] = ""
    #: How to install it (shown when it is missing).
    install: ClassVar[str] = ""
    #: Top-level module names of the library's array types (``type(a).__module__``).
    array_modules: ClassVar[tuple[str, ...]] = ()
    #: Whether the class takes ``threads=`` (a training step split over CPU threads: NumPy).
    takes_threads: ClassVar[bool] = False
    #: CPU threads a training step's batch is split over (see ``NumpyBackend``); 1 elsewhere.
    threads: int = 1

    def __init__(self, device: Any = None, *, devices: Any = None) -> None:
        self._lib = self._import()
        self.device = self._device(self._lib, device)  # first: without a GPU, say so plainly
        self.xp = self._namespace(self._lib)
        self.devices: tuple[Any, ...] = (self.device,)
        if devices is not None and devices not in (1, [self.device], (self.device,)):
            raise BackendError(f"backend {self.name!r} computes on one device; devices={devices!r} "
                               "(data-parallel training over several) is for backend 'jax'")

    # ------------------------------------------------------------ subclass hooks
    def _namespace(self, lib: Any) -> Any:
        """The Array API namespace of the library."""
        raise NotImplementedError

    def _device(self, lib: Any, device: Any) -> Any:
        """The library's device object for a user's ``device`` (``None``: the default)."""
        if device is not None and str(device).lower() not in ("cpu", "cpu:0"):
            raise BackendError(f"backend {self.name!r} runs on the CPU only, got device {device!r}; "
                               "use backend 'cupy', 'jax' or 'torch' for a GPU")
        return "cpu"

    def visible_devices(self) -> list[Any]:
        """Every device the library can see here."""
        return [self.device]

    def array_devices(self, a: Any) -> list[Any]:
        """The devices array ``a`` of this library lives on (several for an array split or
        replicated over a JAX mesh)."""
        return [device_of(a)]

    def _device_spec(self) -> Any:
        """The ``device`` argument that rebuilds this backend (for pickling)."""
        return None

    def _devices_spec(self) -> Any:
        """The ``devices`` argument that rebuilds this backend (``None``: one device)."""
        return None

    @classmethod
    def device_spec_of(cls, a: Any) -> Any:
        """The ``device`` argument of the backend that array ``a`` lives on."""
        return None

    # ------------------------------------------------------------ info
    def __repr__(self) -> str:
        threads = f", threads={self.threads}" if self.threads > 1 else ""
        if len(self.devices) > 1:
            return f"Backend(name={self.name!r}, devices=[{', '.join(map(str, self.devices))}]{threads})"
        return f"Backend(name={self.name!r}, device={str(self.device)!r}{threads})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Backend) and other.name == self.name and other.threads == self.threads
                and [str(d) for d in other.devices] == [str(d) for d in self.devices])

    def __hash__(self) -> int:
        return hash((self.name, self.threads, *map(str, self.devices)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # rebuilt by name and device (modules cannot be pickled), e.g. for joblib workers
        return cached, (self.name, self._device_spec(), self._devices_spec(),
                        self.threads if self.threads > 1 else None)

    @property
    def version(self) -> str:
        """The version of the array library."""
        return str(getattr(self._lib, "__version__", "?"))

    @classmethod
    def _import(cls) -> Any:
        try:
            return importlib.import_module(cls.module)
        except ImportError as exc:
            raise BackendError(f"backend {cls.name!r} is not installed ({cls.module} cannot be imported: "
                               f"{exc}); install it with: {cls.install}") from exc
        except Exception as exc:  # installed but broken: a missing shared library, a version clash...
            raise BackendError(f"backend {cls.name!r} is installed but broken: importing {cls.module} "
                               f"failed with {type(exc).__name__}: {exc}; reinstall it with: {cls.install}"
                               ) from exc

    # ------------------------------------------------------------ dtypes
    def dtype(self, name: Any) -> Any:
        """The backend's dtype object for ``"float32"``, ``"float64"``, ``"int32"``...

        Asking for a 64-bit dtype on JAX turns on ``jax_enable_x64`` (with a
        warning that says so), because JAX silently truncates to 32 bits otherwise.
        """
        if not isinstance(name, str):
            name = (getattr(name, "name", None) or getattr(name, "__name__", None)
                    or str(name).rsplit(".", 1)[-1])
        if name not in _DTYPES:
            raise ValueError(f"dtype must be one of 'float32', 'float64' (or an integer/bool dtype "
                             f"for targets); got {name!r}")
        if name.endswith("64"):
            self._require_64bit(name)
        return getattr(self.xp, name)

    def _require_64bit(self, what: str) -> None:
        """Make 64-bit ``what`` possible, or raise BackendError saying why it is not."""

    def default_int(self) -> str:
        """The integer dtype name used for class labels and indices on this backend."""
        return "int64"

    # ------------------------------------------------------------ arrays
    @classmethod
    def owns_type(cls, a: Any) -> bool:
        """Whether ``a`` is an array of this library (any device)."""
        return type(a).__module__.split(".")[0] in cls.array_modules

    def owns(self, a: Any) -> bool:
        """Whether ``a`` is an array of this backend's library (any device)."""
        return self.owns_type(a)

    @classmethod
    def to_host(cls, a: Any) -> np.ndarray:
        """A NumPy copy (or view, when free) of one of this library's arrays."""
        return np.asarray(a)

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        """Put ``a`` (NumPy, a list, or an array of any backend) on this backend's device,
        in ``dtype`` (a name or dtype object; default: ``a``'s own)."""
        dt = None if dtype is None else self.dtype(dtype)
        if self.owns(a):
            out = a if dt is None or a.dtype == dt else self.xp.astype(a, dt)
            return self.xp.asarray(out, copy=True) if copy else out
        return self.xp.asarray(to_numpy(a), dtype=dt, device=self.device, copy=copy)

    def put_data(self, a: Any, dtype: Any = None) -> Any:
        """Put a user's data set (host arrays, samples on axis 0) where computing reads it:
        :meth:`asarray`, except where several processes train together (JAX over several
        hosts), which each hand in their own part of the data (see ``JaxBackend``)."""
        return self.asarray(a, dtype)

    def local_count(self, n: int) -> int:
        """How many of a data set's ``n`` samples this process handed in (see :meth:`put_data`)."""
        return n

    def put_batch(self, a: Any, *, axis: int = 0) -> Any:
        """Place an array whose ``axis`` runs over samples for computing: as it is on
        one device; split along ``axis`` over ``self.devices`` for data-parallel training
        (where that axis divides evenly; replicated otherwise)."""
        return a

    # ------------------------------------------------------------ computing
    def host_rng(self, seed: int | None) -> np.random.Generator:
        """The host generator that draws initial weights: the same on every backend."""
        return np.random.default_rng(seed)

    def jit(self, fn: Callable, *, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """Compile a pure function (``jax.jit`` on JAX); return it unchanged elsewhere."""
        return fn

    def map_shards(self, fn: Callable[[Any], Any], shards: Sequence[Any]) -> list[Any]:
        """``[fn(s) for s in shards]``: the pieces of a batch that a training step was split
        into (see :attr:`threads`); the NumPy backend runs them in its threads at once."""
        return [fn(s) for s in shards]

    def scan(self, f: Callable, init: Any, xs: Any) -> tuple[Any, Any]:
        """``carry = init; for x in xs: carry, y = f(carry, x)``, returning the last carry
        and the ``y`` stacked along a new first axis (``None`` if ``f`` gives ``None``):
        ``jax.lax.scan`` on JAX (one compiled loop), a Python loop elsewhere."""
        carry, ys = init, []
        for i in range(xs.shape[0]):
            carry, y = f(carry, xs[i, ...])
            ys.append(y)
        if not ys or ys[0] is None:
            return carry, None
        return carry, self.xp.stack(ys)

    @property
    def writable(self) -> bool:
        """Whether arrays can be updated in place (``p -= lr * g``): ``fit`` then updates
        its own copies of the parameters in place (see ``anynet._inplace``). Not on JAX
        (immutable arrays), nor on the test suite's read-only NumPy."""
        return True

    @property
    def compiles(self) -> bool:
        """Whether :meth:`jit` compiles (then a whole epoch runs as one program)."""
        return False

    @property
    def pack_limit(self) -> int | None:
        """Up to how many parameter elements ``fit`` keeps a model's parameters and an
        elementwise optimizer's buffers in one flat array each (``None``: always; 0: never).

        Packed, a momentum or Adam update is a few operations on everything instead
        of a few per array, at the price of one ``concat`` of the gradients per step.
        On a GPU the operations (kernel launches) cost far more than the copy: always
        pack. On a CPU an operation costs about a microsecond, while copying a million
        float32 gradients costs more than a hundred: pack small models only. A compiler
        (XLA) fuses the per-array updates itself: never pack there.
        """
        return 1 << 18
