"""PyTorch, through array-api-compat: CPU, CUDA and Apple's MPS."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ._base import Backend, BackendError, to_numpy
from ._memory import keep_freed_memory


class TorchBackend(Backend):
    name: ClassVar[str] = "torch"
    module: ClassVar[str] = "torch"
    install: ClassVar[str] = "pip install torch (from anynet's source tree: pip install '.[torch]')"
    array_modules: ClassVar[tuple[str, ...]] = ("torch",)

    def __init__(self, device: Any = None, *, devices: Any = None) -> None:
        super().__init__(device, devices=devices)
        if self.device.type == "cpu":
            keep_freed_memory()  # the next step's tensors on pages already touched (see _memory)

    def _namespace(self, lib: Any) -> Any:
        import array_api_compat.torch as xp

        return xp

    def _device(self, torch: Any, device: Any) -> Any:
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
            n = torch.cuda.device_count()
            if dev.index is not None and not 0 <= dev.index < n:
                raise BackendError(f"backend 'torch' has no device {device!r}: it sees {n} CUDA device(s)")
        elif dev.type == "mps":
            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                raise BackendError(f"backend 'torch' has no device {device!r}: MPS needs an Apple GPU; "
                                   "use device='cpu'")
        return dev

    def visible_devices(self) -> list[Any]:
        devs = ["cpu"]
        if self._lib.cuda.is_available():
            devs += [f"cuda:{i}" for i in range(self._lib.cuda.device_count())]
        return devs

    @classmethod
    def device_spec_of(cls, a: Any) -> Any:
        return str(a.device)

    def _device_spec(self) -> Any:
        return str(self.device)

    def _require_64bit(self, what: str) -> None:
        if self.device.type == "mps":
            raise BackendError(f"backend 'torch' on device {self.device} cannot compute in {what} (Apple's "
                               "MPS has no 64-bit floats); use dtype='float32', or device='cpu' for float64")

    @classmethod
    def to_host(cls, a: Any) -> np.ndarray:
        return a.detach().cpu().numpy()

    def asarray(self, a: Any, dtype: Any = None, *, copy: bool | None = None) -> Any:
        dt = None if dtype is None else self.dtype(dtype)
        if self.owns(a):
            return a.to(device=self.device, dtype=dt, copy=bool(copy))
        if type(a).__module__.startswith("cupy") and self.device.type == "cuda":
            return self._lib.from_dlpack(a).to(device=self.device, dtype=dt)  # GPU to GPU
        host = to_numpy(a)
        if isinstance(host, np.ndarray) and not host.flags.writeable:
            host = host.copy()  # torch warns on (and cannot share) read-only memory
        out = self._lib.as_tensor(host, dtype=dt, device=self.device)
        return out.clone() if copy else out

    @property
    def pack_limit(self) -> int | None:
        return 1 << 18 if self.device.type == "cpu" else None
