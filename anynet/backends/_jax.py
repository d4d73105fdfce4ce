"""JAX: CPU, GPU and TPU; every step and every epoch compiled with ``jax.jit``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ._base import Backend, BackendError, to_numpy


class JaxBackend(Backend):
    """JAX on one device, or data-parallel over several (``devices=``): a one-axis
    device mesh ``("data",)``; parameters, layer state and data placed replicated,
    batches split along the sample axis; ``jax.jit`` then compiles each step with
    the all-reduce of the gradients (computation follows the data's sharding)."""

    name: ClassVar[str] = "jax"
    module: ClassVar[str] = "jax"
    install: ClassVar[str] = "pip install jax (from anynet's source tree: pip install '.[jax]')"
    array_modules: ClassVar[tuple[str, ...]] = ("jax", "jaxlib")

    def __init__(self, device: Any = None, *, devices: Any = None) -> None:
        super().__init__(device)
        self.mesh = None
        if devices is None:
            return
        devs = self._resolve_devices(devices)
        self.devices, self.device = tuple(devs), devs[0]
        if len(devs) > 1:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec

            kw = {}
            axis_type = getattr(getattr(self._lib.sharding, "AxisType", None), "Auto", None)
            if axis_type is not None:  # JAX >= 0.9 would default to Explicit: batch contractions then fail
                kw["axis_types"] = (axis_type,)
            self.mesh = Mesh(np.asarray(devs, dtype=object), ("data",), **kw)
            self._replicated = NamedSharding(self.mesh, PartitionSpec())
            self._split = {0: NamedSharding(self.mesh, PartitionSpec("data")),
                           1: NamedSharding(self.mesh, PartitionSpec(None, "data"))}

    def _resolve_devices(self, devices: Any) -> list[Any]:
        jax = self._lib
        every = jax.devices()
        if devices == "all":
            return every
        if isinstance(devices, int) and not isinstance(devices, bool):
            if not 1 <= devices <= len(every):
                raise BackendError(f"backend 'jax': devices={devices} but it sees {len(every)} "
                                   f"({', '.join(map(str, every))}); on a CPU, simulate more with "
                                   "XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts")
            return every[:devices]
        if isinstance(devices, (list, tuple)) and devices:
            out = [self._device(jax, d) for d in devices]
            if len({str(d) for d in out}) != len(out):
                raise BackendError(f"backend 'jax': devices={devices!r} names a device twice")
            return out
        raise BackendError(f"backend 'jax': devices must be 'all', a positive int or a list of devices, "
                           f"got {devices!r}")

    def _namespace(self, lib: Any) -> Any:
        import jax.numpy as xp

        return xp

    def _device(self, jax: Any, device: Any) -> Any:
        if device is None:
            return jax.devices()[0]
        if not isinstance(device, (str, int)):
            return device
        if isinstance(device, int):
            return _pick(jax.devices(), device, device)
        kind, _, idx = device.lower().partition(":")
        kind = {"cuda": "gpu"}.get(kind, kind)
        try:
            devs = jax.devices(kind)
        except RuntimeError as exc:
            raise BackendError(f"backend 'jax' has no {kind!r} device here (it sees "
                               f"{', '.join(map(str, jax.devices()))}): {exc}") from exc
        return _pick(devs, idx or 0, device)

    def visible_devices(self) -> list[Any]:
        return list(self._lib.devices())

    def array_devices(self, a: Any) -> list[Any]:
        return sorted(a.devices(), key=lambda d: d.id)

    @classmethod
    def device_spec_of(cls, a: Any) -> Any:
        devs = list(a.devices())
        return devs[0] if len(devs) == 1 else None

    def _device_spec(self) -> Any:
        return f"{self.device.platform}:{self.device.id}"

    def _devices_spec(self) -> Any:
        return None if self.mesh is None else [f"{d.platform}:{d.id}" for d in self.devices]

    def _require_64bit(self, what: str) -> None:
        jax = self._lib
        if not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
            warnings.warn(f"anynet: {what} was requested on JAX, so anynet turned on jax_enable_x64 for "
                          "this process (JAX computes in 32 bits otherwise)", UserWarning, stacklevel=4)

    def default_int(self) -> str:
        return "int64" if self._lib.config.jax_enable_x64 else "int32"

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        dt = None if dtype is None else self.dtype(dtype)
        where = self.device if self.mesh is None else self._replicated
        if self.owns(a):
            out = a if dt is None or a.dtype == dt else a.astype(dt)
            return self._lib.device_put(out, where)
        return self._lib.device_put(self.xp.asarray(to_numpy(a), dtype=dt), where)

    def put_data(self, a: Any, dtype: Any = None) -> Any:
        """Several processes (``initialize_distributed``): each hands in ITS part of the data
        set; the parts, in process order, form one global array split over the processes'
        devices (``jax.make_array_from_process_local_data``). One process: replicated."""
        jax = self._lib
        if self.mesh is None or jax.process_count() == 1 or self.owns(a):
            return self.asarray(a, dtype)
        host = np.asarray(to_numpy(a))
        if dtype is not None:
            host = host.astype(np.dtype(self.dtype(dtype)))
        local = sum(d.process_index == jax.process_index() for d in self.devices)
        if host.shape[0] % local:
            raise BackendError(f"backend 'jax' over {jax.process_count()} processes: this process's part of the "
                               f"data has {host.shape[0]} samples, which does not split over its {local} devices; "
                               f"give each process a multiple of {local} samples")
        return jax.make_array_from_process_local_data(self._split[0], host)

    def local_count(self, n: int) -> int:
        processes = self._lib.process_count() if self.mesh is not None else 1
        return n // processes

    def put_batch(self, a: Any, *, axis: int = 0) -> Any:
        if self.mesh is None or a.shape[axis] % len(self.devices):
            return a
        return self._lib.device_put(a, self._split[axis])

    def jit(self, fn: Callable, *, donate_argnums: tuple[int, ...] = ()) -> Callable:
        return self._lib.jit(fn, donate_argnums=donate_argnums)

    def scan(self, f: Callable, init: Any, xs: Any) -> tuple[Any, Any]:
        return self._lib.lax.scan(f, init, xs)

    @property
    def compiles(self) -> bool:
        return True

    @property
    def writable(self) -> bool:
        return False

    @property
    def pack_limit(self) -> int | None:
        return 0  # XLA fuses the per-array updates itself


def _pick(devs: list[Any], idx: Any, asked: Any) -> Any:
    try:
        i = int(idx)
    except (TypeError, ValueError):
        i = -1
    if not 0 <= i < len(devs):
        raise BackendError(f"backend 'jax' has no device {asked!r}: it sees {len(devs)} "
                           f"({', '.join(map(str, devs))})")
    return devs[i]



def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int, *,
                           local_device_count: int | None = None) -> None:
    """Join a multi-process (multi-host) JAX run: call once per process, before any
    array exists, then ``an.use("jax", devices="all")`` spans every process's devices.

    A thin wrapper around ``jax.distributed.initialize``. On CPUs it picks the gloo
    collectives (CPU processes cannot all-reduce otherwise) and, with
    ``local_device_count``, simulates that many devices per process. Every process
    runs the same program, each with ITS OWN PART of the data set (the same number
    of samples, a multiple of its devices): the parts, in process order, form the
    data set that one process would train on, and ``fit`` ends, in every process,
    with the parameters that one process gets from the whole data set.

    Examples
    --------
    Two processes on one machine, each with two CPU devices (``tests/test_distributed.py``
    runs exactly this), each process running::

        an.backends.initialize_distributed("127.0.0.1:12355", 2, process_id, local_device_count=2)
        an.use("jax", devices="all")            # 4 devices over 2 processes
        model.fit(x, t, ..., batch_size=32)     # 8 samples per device per step

    It is called before JAX starts computing, so here only its signature:

    >>> import inspect, anynet as an
    >>> list(inspect.signature(an.backends.initialize_distributed).parameters)
    ['coordinator_address', 'num_processes', 'process_id', 'local_device_count']
    """
    import jax

    if local_device_count is not None:
        jax.config.update("jax_num_cpu_devices", int(local_device_count))
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):  # pragma: no cover - an older JAX: its default then
        pass
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)
