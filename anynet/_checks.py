"""Validation of user input, with messages that say what, where, expected and got.

Inputs are converted to the model's backend first and then checked with
standard calls only, so the same checks run on every backend (one host
synchronization per check, once per ``fit``/``predict`` call, never per batch).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace, is_array_api_obj, is_numpy_array

from .backends import Backend, namespace_name, to_numpy

Array = Any

_KIND_NAMES = {
    "U": "str",
    "S": "bytes",
    "O": "object",
    "M": "datetime64",
    "m": "timedelta64",
    "c": "complex",
    "V": "void",
}


def check_source(be: Backend, a: Any, *, name: str, where: str = "") -> None:
    """Raise TypeError for an array of another library than ``be`` (mixing backends is
    almost always a mistake: say which two) and for non-numeric data.

    NumPy arrays, Python lists/tuples/numbers and anything else NumPy reads
    (objects with ``__array__``, such as pandas frames) are welcome.
    """
    ctx = f"{where}: " if where else ""
    if is_array_api_obj(a) and not is_numpy_array(a) and not be.owns(a):
        lib = namespace_name(a)
        raise TypeError(
            f"{ctx}{name} is a {lib} array but the model lives on backend {be.name!r}; "
            f"pass a NumPy array or a {be.name} array (or move the model with model.to({lib!r}))"
        )
    kind = getattr(getattr(a, "dtype", None), "kind", None)
    if kind in _KIND_NAMES:
        raise TypeError(
            f"{ctx}{name} must hold real numbers (int, float or bool), got dtype {a.dtype} "
            f"({_KIND_NAMES[kind]})"
        )


def check_device(be: Backend, a: Any, *, name: str, where: str = "") -> None:
    """Raise ValueError for an array of ``be``'s library on a device that ``be`` does not
    compute on, naming both; an array on some or all of a data-parallel model's devices
    (JAX, ``devices=``) is fine: it is placed on the model's devices as it goes in."""
    try:
        devs = be.array_devices(a)
    except Exception:  # a library that cannot say: it will itself, if it matters
        return
    if not all(any(same_device(d, m) for m in be.devices) for d in devs):
        ctx = f"{where}: " if where else ""
        here = ", ".join(map(str, devs))
        mine = (f"device {be.device}" if len(be.devices) == 1
                else f"devices {', '.join(map(str, be.devices))}")
        raise ValueError(
            f"{ctx}{name} is on device{'s' if len(devs) > 1 else ''} {here} but the model lives on {be.name} "
            f"{mine}; move {name} there first (model.backend.asarray({name})) or the model to {name}'s device "
            f"(model.to(device=...))"
        )


def same_device(a: Any, b: Any) -> bool:
    """Whether two device objects (or names) mean the same device; ``"cuda"`` (the
    current device) matches ``"cuda:0"``, ``"cuda:1"``...: only the kind is known."""
    if a == b:
        return True
    sa, sb = str(a), str(b)
    if sa == sb:
        return True
    ka, _, ia = sa.partition(":")
    kb, _, ib = sb.partition(":")
    return ka == kb and (not ia or not ib)


def host_array(a: Any, *, name: str, where: str = "") -> Any:
    """``a`` as a host (NumPy) array, as NumPy itself would read it, or a clear error:
    ValueError for ragged nested lists, TypeError for non-numeric contents."""
    ctx = f"{where}: " if where else ""
    try:
        host = to_numpy(a)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{ctx}{name} cannot be read as an array (NumPy refuses it too): {exc}") from exc
    kind = getattr(getattr(host, "dtype", None), "kind", None)
    if kind in _KIND_NAMES:
        raise TypeError(
            f"{ctx}{name} must hold real numbers (int, float or bool), got dtype {host.dtype} "
            f"({_KIND_NAMES[kind]})"
        )
    return host


def to_backend(be: Backend, a: Any, *, name: str, dtype: Any = None, where: str = "",
               finite: bool = False) -> Array:
    """``a`` (a NumPy array, a list, or an array of ``be``) on ``be``, cast to ``dtype``;
    ``finite``: also refuse NaN and inf (:func:`check_finite`), after the cast (a float64
    1e300 is inf in float32)."""
    check_source(be, a, name=name, where=where)
    ctx = f"{where}: " if where else ""
    if be.owns(a):
        if not be.xp.isdtype(a.dtype, ("real floating", "integral", "bool")):
            raise TypeError(f"{ctx}{name} must hold real numbers (int, float or bool), got dtype {a.dtype}")
        check_device(be, a, name=name, where=where)
        out = be.asarray(a, dtype=dtype)  # no copy when it is already there, in that dtype
        if finite:
            check_finite(be.xp, out, name=name, where=where)
        return out
    host = host_array(a, name=name, where=where)
    if finite and isinstance(dtype, str):
        # checked on the host, before it is placed: once, not on every device of a mesh (a
        # 4-device model spent 19 ms of each fit call checking MNIST-size data replicated)
        hxp = array_namespace(host)
        host = hxp.astype(host, getattr(hxp, dtype), copy=False)
        check_finite(hxp, host, name=name, where=where)
        return be.put_data(host, dtype=dtype)
    out = be.put_data(host, dtype=dtype)
    if finite:
        check_finite(be.xp, out, name=name, where=where)
    return out


def check_finite(xp: Any, a: Array, *, name: str, where: str = "") -> None:
    """Raise ValueError naming how many entries of ``a`` are NaN/inf and the first one."""
    if not xp.isdtype(a.dtype, "real floating"):
        return
    if bool(xp.all(xp.isfinite(a))):  # the usual case in two operations; the details only on failure
        return
    bad = ~xp.isfinite(a)
    n_bad = int(xp.sum(xp.astype(bad, xp.int32)))
    if n_bad:
        flat = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int32)))
        idx = _unravel(flat, tuple(a.shape))
        value = float(a[idx])
        ctx = f"{where}: " if where else ""
        raise ValueError(
            f"{ctx}{name} contains {n_bad} non-finite value{'s' if n_bad > 1 else ''} "
            f"(NaN or inf); the first is {name}[{', '.join(map(str, idx))}] = {value}"
        )


def check_batch_axis(a: Array, *, name: str, where: str = "", min_ndim: int = 1) -> None:
    ctx = f"{where}: " if where else ""
    if a.ndim < min_ndim:
        raise ValueError(
            f"{ctx}{name} must have at least {min_ndim} dimension{'s' if min_ndim > 1 else ''} "
            f"with the samples on axis 0, got shape {tuple(a.shape)}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"{ctx}{name} is empty (shape {tuple(a.shape)}): there is nothing to compute on")


def check_positive_int(value: Any, *, name: str, where: str = "", minimum: int = 1) -> int:
    ctx = f"{where}: " if where else ""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{ctx}{name} must be an int >= {minimum}, got {value!r}")
    return value


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    idx = []
    for s in reversed(shape):
        flat, r = divmod(flat, s)
        idx.append(r)
    return tuple(reversed(idx))


def fmt_shape(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "(N, ...)"
    return "(N, " + ", ".join(map(str, shape)) + ")"
