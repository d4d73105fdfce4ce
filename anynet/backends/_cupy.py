"""CuPy: NumPy's API on NVIDIA GPUs, through array-api-compat."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ._base import Backend, BackendError, to_numpy


class CupyBackend(Backend):
    name: ClassVar[str] = "cupy"
    module: ClassVar[str] = "cupy"
    install: ClassVar[str] = ("pip install cupy-cuda12x or cupy-cuda13x (from anynet's source tree: "
                              "pip install '.[cuda12]'), on a machine with an NVIDIA GPU")
    array_modules: ClassVar[tuple[str, ...]] = ("cupy", "cupy_backends")

    def _namespace(self, lib: Any) -> Any:
        import array_api_compat.cupy as xp

        return xp

    def _device(self, cupy: Any, device: Any) -> Any:
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
        try:
            i = int(idx)
        except ValueError:
            i = -1
        if not 0 <= i < n:
            devs = ", ".join(str(cupy.cuda.Device(j)) for j in range(n))
            raise BackendError(f"backend 'cupy' has no device {device!r}: it sees {n} ({devs})")
        return cupy.cuda.Device(i)

    def visible_devices(self) -> list[Any]:
        return [self._lib.cuda.Device(i) for i in range(self._lib.cuda.runtime.getDeviceCount())]

    @classmethod
    def device_spec_of(cls, a: Any) -> Any:
        return int(a.device.id)

    def _device_spec(self) -> Any:
        return int(self.device.id)

    @classmethod
    def to_host(cls, a: Any) -> np.ndarray:
        return a.get()

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        dt = None if dtype is None else self.dtype(dtype)
        with self._lib.cuda.Device(self.device.id):
            if self.owns(a):
                return self.xp.asarray(a, dtype=dt, copy=copy)
            if type(a).__module__.startswith("torch") and getattr(a, "is_cuda", False):
                return self.xp.asarray(self._lib.from_dlpack(a), dtype=dt, copy=copy)  # GPU to GPU
            return self.xp.asarray(to_numpy(a), dtype=dt, copy=copy)

    @property
    def pack_limit(self) -> int | None:
        return None
