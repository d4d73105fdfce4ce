"""array-api-strict: the standard's reference implementation, nothing more. The whole
test suite passing on it proves that anynet calls only the standard."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ._base import Backend, BackendError


class StrictBackend(Backend):
    name: ClassVar[str] = "array_api_strict"
    module: ClassVar[str] = "array_api_strict"
    install: ClassVar[str] = "pip install array-api-strict (from anynet's source tree: pip install '.[strict]')"
    array_modules: ClassVar[tuple[str, ...]] = ("array_api_strict",)

    def _namespace(self, lib: Any) -> Any:
        return lib

    def _device(self, lib: Any, device: Any) -> Any:
        if device is None or (isinstance(device, str) and device.lower() in ("cpu", "cpu_device")):
            return lib.Device()
        if isinstance(device, lib.Device):
            return device
        try:
            return lib.Device(str(device))
        except ValueError as exc:
            raise BackendError(f"backend 'array_api_strict' has no device {device!r} ({exc}); "
                               "it has 'CPU_DEVICE', 'device1' and 'device2'") from exc

    @classmethod
    def to_host(cls, a: Any) -> np.ndarray:
        # the documented escape hatch is DLPack; _array avoids a copy and works for
        # every dtype array-api-strict has
        return np.asarray(a._array)
