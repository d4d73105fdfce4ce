"""JAX: CPU, GPU and TPU; every step and every epoch compiled with ``jax.jit``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from ._base import Backend, BackendError, to_numpy


class JaxBackend(Backend):
    name: ClassVar[str] = "jax"
    module: ClassVar[str] = "jax"
    install: ClassVar[str] = "pip install jax (from anynet's source tree: pip install '.[jax]')"
    array_modules: ClassVar[tuple[str, ...]] = ("jax", "jaxlib")

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

    @classmethod
    def device_spec_of(cls, a: Any) -> Any:
        devs = list(a.devices())
        return devs[0] if len(devs) == 1 else None

    def _device_spec(self) -> Any:
        return f"{self.device.platform}:{self.device.id}"

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
        if self.owns(a):
            out = a if dt is None or a.dtype == dt else a.astype(dt)
            return self._lib.device_put(out, self.device)
        return self._lib.device_put(self.xp.asarray(to_numpy(a), dtype=dt), self.device)

    def jit(self, fn: Callable, *, donate_argnums: tuple[int, ...] = ()) -> Callable:
        return self._lib.jit(fn, donate_argnums=donate_argnums)

    def scan(self, f: Callable, init: Any, xs: Any) -> tuple[Any, Any]:
        return self._lib.lax.scan(f, init, xs)

    @property
    def compiles(self) -> bool:
        return True

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

