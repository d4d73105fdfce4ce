"""Checkpoints: one safe, portable file with the architecture, the weights and the
optimizer state.

The file is a NumPy ``.npz`` (a zip of ``.npy`` arrays) that anynet writes with
plain numeric arrays only and reads with ``allow_pickle=False``: loading a file
from a stranger runs no code, whatever it contains. Its entries:

``__anynet__``
    JSON metadata as a ``uint8`` byte array: the format name and version, the
    anynet version, the architecture (each layer's class name and
    ``get_config()``), dtype, seed and input shape, the optimizer's class and
    settings, the name, shape and dtype of every array, and ``extra`` (any
    JSON-serializable dict: epoch, history, random-number state...).
``params/<layer>/<name>``
    One array per parameter, ``<layer>`` the layer's index (``params/0/W``).
``state/<layer>/<name>``
    One array per entry of the layers' state that is not trained (BatchNorm's
    ``running_mean``...), only in files of models that have such state (format
    version 2; files without state are written as version 1, which any anynet reads).
``opt/step``, ``opt/<slot>/<layer>/<name>``
    The optimizer state (:meth:`anynet.optim.Optimizer.init`), when saved.

Writing is atomic: the file is written to a temporary file in the same
directory, flushed to disk (``fsync``), then renamed over ``path`` (and the
directory entry synced), so a crash or a kill in the middle of a save leaves
the previous checkpoint as it was. The killed writer's hidden temporary file
(``.<name>.<host>.<pid>.<random>.tmp``) is removed by the next successful save
of the same path from that host, once that process is gone. Arrays come off any backend through the
host; :func:`load` builds the model on whichever backend you ask for, so a
model trained with JAX or CuPy loads on a laptop with NumPy alone.

Anything wrong with a file (not a zip, truncated, corrupted, foreign, from a
newer anynet, or not matching its own architecture) raises
:class:`CheckpointError`, naming the file and what is wrong.

Loading a file from a stranger is bounded. Before anything is read or
allocated, :func:`load` and :func:`load_checkpoint` check every zip entry: only
the entries the metadata lists, each once, with plain names (no ``/`` at the
start, no ``..``, ``\\`` or NUL), stored or deflated (not encrypted) and at
most about 1,100 times smaller compressed than uncompressed, as deflate allows.
They check the metadata (at most 8 MiB of JSON, nested at most 64 deep, at
most 131,072 lists and objects) and the declared arrays: numeric dtypes,
shapes that match the architecture, and at most ``max_bytes`` bytes in all
(default 2 GiB), a bound that also applies to the layers' sizes
(``in_features``, ``out_features``, ``pieces``) before their parameters are
initialized. Entries are inflated a chunk at a time and never beyond their
declared size, so a small file cannot expand to gigabytes. A hostile file
costs at most about twice ``max_bytes`` of memory (a layer that ``max_bytes``
allows is initialized before its arrays are found not to match it), plus about
150 MiB for the costliest metadata (measured in ``tests/test_hostile.py``).

Examples
--------
>>> import os, tempfile, numpy as np, anynet as an
>>> from anynet import io
>>> model = an.Sequential([an.layers.Linear(4, 3)], seed=0)
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, "model.npz")
...     io.save(model, path)
...     same = io.load(path)
>>> bool(np.array_equal(same.predict(np.ones((2, 4))), model.predict(np.ones((2, 4)))))
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import io as _io
import json
import math
import os
import re
import secrets
import socket
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any

# Host-side file format: the arrays are NumPy's .npy/.npz (read and written
# through numpy.lib.format), so this module uses NumPy directly.
import numpy as np

from . import _npy
from . import optim as _optim
from ._version import __version__
from .backends import Backend, get_backend, to_numpy
from .layers import LAYERS, Layer

__all__ = ["DEFAULT_MAX_BYTES", "FORMAT", "FORMAT_VERSION", "MODELS", "Checkpoint", "CheckpointError", "load", "load_checkpoint",
           "register_model", "save"]

#: The ``format`` field of the metadata: what marks a file as an anynet checkpoint.
FORMAT = "anynet.checkpoint"
#: The version of the layout described in the module docstring. A reader refuses
#: files of a newer version (it cannot know what they hold).
FORMAT_VERSION = 2

#: Model classes by name, so that a file can name the class to rebuild (``"Sequential"``).
#: A model class registers itself with :func:`register_model`; only registered classes
#: can be named by a file, nothing is imported.
MODELS: dict[str, Any] = {}


def register_model(cls: type) -> type:
    """Let files name the model class ``cls`` (it needs ``from_config``, ``get_config``,
    ``params`` and ``state``); returns ``cls``, so it works as a decorator.

    >>> import anynet as an
    >>> an.io.MODELS["Sequential"] is an.Sequential
    True
    """
    MODELS[cls.__name__] = cls
    return cls

_META = "__anynet__"  # the metadata entry (``__anynet__.npy`` inside the zip)
_NUMERIC_KINDS = _npy.NUMERIC_KINDS  # bool, signed and unsigned ints, floats: nothing that needs pickle
_MAX_META_BYTES = 8 * 2**20  # a bound on the JSON (a fit history of 10,000 epochs, 4 metrics: 0.8 MiB)
_MAX_META_DEPTH = 64  # JSON nesting: anynet's own metadata is about 6 deep
_MAX_META_CONTAINERS = 2**17  # JSON lists and objects (anynet writes about 3 per array): each costs
# 60-100 bytes as a Python object from 2 bytes of text, so 8 MiB of "[]" would cost 400 MiB
_NPY_HEADER_SLACK = 2**16  # an .npy header is at most this big (format 1.0 limit)
#: load's default ``max_bytes``: 2 GiB of arrays, 268 million float64 parameters.
DEFAULT_MAX_BYTES = 2 * 2**30
_MAX_ENTRIES = 100_000  # zip entries (a model of 10,000 layers with Adam has about 60,000)
_MAX_DIRECTORY_BYTES = 8 * 2**20  # the zip's central directory, which zipfile parses whole (about
# 10 bytes of memory per byte) before any entry can be checked: 100,000 entries fit
_MAX_RATIO = 1100  # deflate cannot compress more than about 1032:1; anything above is forged
_CHUNK = 2**20  # entries are read (and decompressed) this much at a time
#: The dtypes a checkpoint may declare (what ``numpy.dtype(...).name`` gives for numeric arrays).
_DTYPES = frozenset(["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                     "float16", "float32", "float64"])
#: The layer settings that size its parameters (anynet's Dense convention; Maxout's pieces).
_LAYER_SIZES = ("in_features", "out_features", "pieces")
#: The kinds of array entry a checkpoint holds, by their first path component: the
#: grammar of the rest of the name (``params/<layer>/<name>``, ``opt/<key>`` or
#: ``opt/<slot>/<layer>/<name>``). A name of no kind here is refused.
_ENTRY_KINDS: dict[str, re.Pattern[str]] = {
    "params": re.compile(r"params/(?P<layer>0|[1-9][0-9]{0,8})/(?P<name>[^/]+)"),
    "state": re.compile(r"state/(?P<layer>0|[1-9][0-9]{0,8})/(?P<name>[^/]+)"),
    "opt": re.compile(r"opt/(?P<key>[^/]+)(?:/(?P<layer>0|[1-9][0-9]{0,8})/(?P<name>[^/]+))?"),
}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same model gives the same bytes


class CheckpointError(ValueError):
    """A file is not a valid anynet checkpoint: the message names the file and what is wrong.

    A subclass of ``ValueError``.

    Examples
    --------
    >>> import os, tempfile, anynet as an
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "notes.npz")
    ...     with open(path, "w") as f:
    ...         _ = f.write("not a checkpoint")
    ...     an.load(path)
    Traceback (most recent call last):
    ...
    anynet.io.CheckpointError: .../notes.npz: not an anynet checkpoint: a .npz (zip) file starts with ...
    """


@dataclasses.dataclass
class Checkpoint:
    """Everything :func:`save` wrote, as :func:`load_checkpoint` reads it back.

    Attributes
    ----------
    model : Sequential
        The model, on the backend asked for, with the saved weights and layer state.
    opt_state : dict or None
        The optimizer state as host (NumPy) arrays, in the structure of
        :meth:`anynet.optim.Optimizer.init` (``"step"`` and one list of dicts
        per slot); ``None`` if none was saved. :meth:`opt_state_on` puts it on
        a backend.
    optimizer : Optimizer or None
        The optimizer rebuilt from its saved class and settings (``None`` if
        none was saved).
    optimizer_config : dict or None
        What was saved for it: ``{"class": "Adam", "config": {...}}``.
    extra : dict
        The ``extra`` dict given to :func:`save` (after a JSON round trip:
        tuples come back as lists).
    meta : dict
        The whole metadata (format version, anynet version, architecture...).
    path : str
        The file it came from.

    Examples
    --------
    ``fit(checkpoint=...)`` writes one every epoch; reading it back gives the
    model, the optimizer, its state and where training was:

    >>> import os, tempfile, numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "run.npz")
    ...     _ = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1),
    ...                   epochs=3, verbose=0, checkpoint=path)
    ...     ckpt = an.io.load_checkpoint(path)
    >>> ckpt.optimizer, ckpt.extra["fit"]["epoch"], len(ckpt.extra["history"]["loss"])
    (SGD(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0, clip_norm=None, clip_value=None), 3, 3)
    >>> state = ckpt.opt_state_on()  # on the model's backend, ready for optimizer.update
    >>> float(state["step"])  # one update per epoch (two samples, one batch)
    3.0
    """

    model: Any
    opt_state: dict[str, Any] | None
    optimizer: Any
    optimizer_config: dict[str, Any] | None
    extra: dict[str, Any]
    meta: dict[str, Any]
    path: str

    def opt_state_on(self, backend: str | Backend | None = None) -> dict[str, Any] | None:
        """The optimizer state on ``backend`` (default: the model's), as fresh arrays
        in their saved dtypes, ready for ``optimizer.update``."""
        if self.opt_state is None:
            return None
        be = self.model.backend if backend is None else get_backend(backend)

        def put(a: np.ndarray) -> Any:  # a fresh copy: the caller may update it in place
            return be.asarray(a.copy(), dtype=a.dtype.name)

        return {k: (put(v) if not isinstance(v, list) else [{n: put(a) for n, a in d.items()} for d in v])
                for k, v in self.opt_state.items()}


# ====================================================================== save
def save(model: Any, path: str | os.PathLike[str], *, opt_state: dict[str, Any] | None = None,
         optimizer: Any = None, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` (and optionally its optimizer and state) to one file, atomically.

    Parameters
    ----------
    model : Sequential
        Its layers must be registered :class:`~anynet.layers.Layer` subclasses
        whose ``get_config()`` is JSON-serializable (true of every built-in layer
        and of frozen-dataclass custom layers with plain fields).
    path : str or path-like
        The file to write (overwritten as a whole, never partially). ``.npz`` is
        the conventional suffix; the path is used exactly as given.
    opt_state : dict, optional
        The state from ``optimizer.init``/``update`` (arrays of any backend):
        ``"step"`` and per-slot lists shaped like ``model.params``.
    optimizer : Optimizer, optional
        Saved as its class name and settings (a dataclass; a learning-rate
        :class:`~anynet.optim.Schedule` is saved the same way), so
        :func:`~anynet.io.load_checkpoint` can rebuild it.
    extra : dict, optional
        Anything JSON-serializable (NumPy scalars are converted), e.g. the epoch,
        the history, ``numpy.random.Generator.bit_generator.state``.

    Raises
    ------
    TypeError, ValueError
        If something cannot be saved (a layer or optimizer setting that is not
        JSON, an array of a non-numeric dtype, an ``opt_state`` that does not
        match the parameters): nothing is written then.
    OSError
        If the file cannot be written; the previous file at ``path``, if any,
        is left untouched and no temporary file is left behind.

    Examples
    --------
    >>> import os, tempfile, numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(4, 3), an.layers.ReLU()], seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "model.npz")
    ...     an.save(model, path, extra={"note": "first try"})
    ...     same = an.load(path)
    ...     note = an.io.load_checkpoint(path).extra["note"]
    >>> xp, x = model.backend.xp, np.ones((2, 4))
    >>> same.layers == model.layers, float(xp.max(xp.abs(same.predict(x) - model.predict(x)))), note
    (True, 0.0, 'first try')
    """
    where = "save"
    if MODELS.get(type(model).__name__) is not type(model):
        raise TypeError(f"{where}: model must be an anynet Sequential, got {type(model).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for i, p in enumerate(model.params):
        for k, v in p.items():
            arrays[f"params/{i}/{k}"] = _host_array(v, f"{where}: model.params[{i}][{k!r}]")
    for i, p in enumerate(model.state):
        for k, v in p.items():
            arrays[f"state/{i}/{k}"] = _host_array(v, f"{where}: model.state[{i}][{k!r}]")
    has_state = any(model.state)
    state_meta = None
    if opt_state is not None:
        state_meta = _flatten_state(model, opt_state, arrays, where)
    opt_meta = None if optimizer is None else _optimizer_config(optimizer, where)
    if opt_meta is not None and state_meta is not None:
        _check_slots(optimizer, state_meta, lambda msg: ValueError(f"{where}: {msg}"))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if has_state else 1,  # version 1: readable by older anynet
        "anynet_version": __version__,
        "model": {
            "class": type(model).__name__,
            "layers": [_layer_config(i, layer, where) for i, layer in enumerate(model.layers)],
            "dtype": model.dtype,
            "seed": model.seed,
            "input_shape": None if model.input_shape is None else list(model.input_shape),
            "saved_from": {"backend": model.backend.name, "device": str(model.backend.device)},
        },
        "arrays": {name: {"shape": list(a.shape), "dtype": a.dtype.name} for name, a in arrays.items()},
        "optimizer": opt_meta,
        "opt_state": state_meta,
        "extra": _json_ready(dict(extra) if extra is not None else {}, "extra", where),
    }
    blob = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    if (len(blob) > _MAX_META_BYTES or _json_depth(meta, _MAX_META_DEPTH) > _MAX_META_DEPTH
            or blob.count(b"[") + blob.count(b"{") > _MAX_META_CONTAINERS):
        depth = _json_depth(meta, _MAX_META_DEPTH)
        raise ValueError(f"{where}: the metadata would be {len(blob)} bytes of JSON nested "
                         f"{'more than ' if depth > _MAX_META_DEPTH else ''}{min(depth, _MAX_META_DEPTH)} deep; "
                         f"load reads at most {_MAX_META_BYTES} bytes nested {_MAX_META_DEPTH} deep, "
                         f"{_MAX_META_CONTAINERS} lists and objects: keep extra= smaller and flatter")
    meta_array = np.frombuffer(blob, dtype=np.uint8)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            _write_npy(zf, _META, meta_array)
            for name, a in arrays.items():
                _write_npy(zf, name, a)

    _atomic_write(os.fspath(path), write)


def _host_array(a: Any, what: str) -> np.ndarray:
    host = np.asarray(to_numpy(a))
    if host.dtype.kind not in _NUMERIC_KINDS or host.dtype.name not in _DTYPES:
        raise TypeError(f"{what} has dtype {host.dtype}: only numeric arrays of a portable dtype can be "
                        f"saved ({', '.join(sorted(_DTYPES))})")
    return host


def _flatten_state(model: Any, state: Any, arrays: dict[str, np.ndarray], where: str
                   ) -> dict[str, str]:
    """Add the optimizer state's arrays to ``arrays``; return ``{key: "array" | "per_param"}``."""
    if not isinstance(state, Mapping) or "step" not in state:
        raise TypeError(f"{where}: opt_state must be the dict from optimizer.init/update "
                        f"(with a 'step' entry), got {type(state).__name__}")
    kinds: dict[str, str] = {}
    for key, value in state.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"{where}: opt_state key {key!r} must be a non-empty str without '/'")
        if isinstance(value, (list, tuple)):
            if len(value) != len(model.params):
                raise ValueError(f"{where}: opt_state[{key!r}] has {len(value)} entries but the model "
                                 f"has {len(model.params)} layers")
            for i, (d, p) in enumerate(zip(value, model.params)):
                if not isinstance(d, Mapping) or set(d) != set(p):
                    got = sorted(d) if isinstance(d, Mapping) else type(d).__name__
                    raise ValueError(f"{where}: opt_state[{key!r}][{i}] has entries {got} but layer {i} "
                                     f"has parameters {sorted(p)}")
                for k in p:
                    what = f"{where}: opt_state[{key!r}][{i}][{k!r}]"
                    a = _host_array(d[k], what)
                    if a.shape != tuple(p[k].shape):
                        raise ValueError(f"{what} has shape {a.shape} but the parameter has shape "
                                         f"{tuple(p[k].shape)}")
                    arrays[f"opt/{key}/{i}/{k}"] = a
            kinds[key] = "per_param"
        else:
            arrays[f"opt/{key}"] = _host_array(value, f"{where}: opt_state[{key!r}]")
            kinds[key] = "array"
    return kinds


def _layer_config(i: int, layer: Layer, where: str) -> dict[str, Any]:
    name = type(layer).__name__
    if LAYERS.get(name) is not type(layer):
        raise TypeError(f"{where}: layer {i} ({name}) is not a registered anynet layer class "
                        "(subclass anynet.layers.Layer at module level, with a unique class name)")
    config = _json_ready(layer.get_config(), f"layer {i} ({name}) config", where)
    try:  # refuse now what load could not rebuild, rather than write a file that cannot be read
        type(layer)(**config)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: layer {i} ({name}) cannot be rebuilt from its get_config() = {config} "
                        f"({exc}); make it a dataclass or define get_config()") from exc
    return {"class": name, "config": config}


def _optimizer_config(optimizer: Any, where: str) -> dict[str, Any]:
    name = type(optimizer).__name__
    if not (isinstance(optimizer, _optim.Optimizer) and dataclasses.is_dataclass(optimizer)):
        raise TypeError(f"{where}: optimizer must be an anynet optimizer (a dataclass subclass of "
                        f"anynet.optim.Optimizer), got {name}")
    config = {}
    for f in dataclasses.fields(optimizer):
        if not f.init:
            continue
        value = getattr(optimizer, f.name)
        if isinstance(value, _optim.Schedule):
            if not dataclasses.is_dataclass(value):
                raise TypeError(f"{where}: optimizer {name}.{f.name} is a {type(value).__name__}, "
                                "which cannot be saved (a Schedule must be a dataclass)")
            value = {"__schedule__": type(value).__name__,
                     "config": {g.name: getattr(value, g.name) for g in dataclasses.fields(value) if g.init}}
        config[f.name] = value
    return {"class": name, "config": _json_ready(config, f"optimizer {name} config", where)}


def _json_ready(value: Any, what: str, where: str) -> Any:
    """``value`` with NumPy scalars turned into Python numbers; TypeError naming the
    first entry JSON cannot hold."""

    def convert(v: Any, at: str) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.generic) and v.dtype.kind in _NUMERIC_KINDS:
            return v.item()
        if isinstance(v, Mapping):
            out = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"{where}: {at} has a key {k!r} of type {type(k).__name__}; "
                                    "JSON keys must be str")
                out[k] = convert(x, f"{at}[{k!r}]")
            return out
        if isinstance(v, (list, tuple)):
            return [convert(x, f"{at}[{j}]") for j, x in enumerate(v)]
        raise TypeError(f"{where}: {at} is a {type(v).__name__}, which cannot be saved as JSON "
                        "(use numbers, strings, bools, None, lists and dicts)")

    return convert(value, what)


def _write_npy(zf: zipfile.ZipFile, name: str, a: np.ndarray) -> None:
    info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    with zf.open(info, mode="w", force_zip64=a.nbytes >= 2**31 - _NPY_HEADER_SLACK) as f:
        np.lib.format.write_array(f, a, allow_pickle=False)


def _atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write(file)`` to a temporary file next to ``path``, fsync it, and
    rename it over ``path``; on any error remove the temporary file and re-raise.

    The temporary file's name holds this host and process id, so that a later save can
    tell a write killed midway (its process is gone) from one still running."""
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    host = _host()
    while True:
        tmp = os.path.join(directory, f".{base}.{host}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # 0o666 minus the umask, as for any new file
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        except OSError as exc:  # no such folder, no permission: say so with the caller's path
            raise _unwritable(path, directory, exc) from None
    try:
        with contextlib.suppress(OSError):  # keep the permissions of the file being replaced
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:  # path is a folder, say: name it, not the temporary file
            raise _unwritable(path, directory, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
    _remove_abandoned(directory, base, host)


def _unwritable(path: str, directory: str, exc: OSError) -> OSError:
    """``exc`` (of its own type and errno) retold with the caller's ``path``, never the temporary name."""
    if isinstance(exc, IsADirectoryError) or os.path.isdir(path):
        why = "it is a directory"
    elif not os.path.isdir(directory):
        why = (f"no such directory {os.path.dirname(path) or '.'!r}" if not os.path.exists(directory)
               else f"{os.path.dirname(path)!r} is not a directory")
    elif isinstance(exc, PermissionError):
        why = f"no permission to create files in {os.path.dirname(path) or '.'!r}"
    else:
        why = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot write {path!r}: {why}")


def _host() -> str:
    """This machine's name as it goes into temporary file names (no dots or separators)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _remove_abandoned(directory: str, base: str, host: str) -> None:
    """Remove temporary files of ``base`` left by writers on this host that no longer run
    (a save killed midway). Files of other hosts (a shared file system) and of running
    processes stay; so does anything that does not match the name exactly."""
    pattern = re.compile(rf"\.{re.escape(base)}\.{re.escape(host)}\.(\d+)\.[0-9a-f]{{12}}\.tmp")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or int(m.group(1)) == os.getpid() or _running(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (when in doubt: yes)."""
    if os.name != "posix":  # Windows' os.kill(pid, 0) would send a Ctrl-C, not ask
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # exists but belongs to another user (PermissionError), or cannot be asked
    return True


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# ====================================================================== load
def load(path: str | os.PathLike[str], *, backend: str | Backend | None = None,
         device: Any = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Read a model written by :func:`save` (or ``model.save``).

    Parameters
    ----------
    path : str or path-like
    backend : str or Backend, optional
        Where to build the model (default: the current backend, see
        :func:`anynet.use`), whatever backend it was saved from.
    device : optional
        Device on that backend.
    max_bytes : int
        The most array data the file may declare, all arrays together
        (default ``2**31``, 2 GiB: 268 million float64 parameters). Checked,
        like every entry's size and the layers' sizes, before anything is read
        or allocated, so a hostile file costs at most about twice this much
        memory. Raise it to load a bigger model.

    Returns
    -------
    Sequential
        With the saved architecture, dtype, seed and weights.

    Raises
    ------
    CheckpointError
        The file is not a valid anynet checkpoint, or declares more than
        ``max_bytes`` (the message says why).
    FileNotFoundError
        There is no such file.

    Examples
    --------
    Whatever backend a model was trained on, it loads on any other:

    >>> import os, tempfile, anynet as an
    >>> model = an.Sequential([an.layers.Linear(4, 3)], seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "model.npz")
    ...     model.save(path)
    ...     on_numpy = an.load(path, backend="numpy")
    >>> on_numpy.backend.name, on_numpy.layers == model.layers, on_numpy.count_params()
    ('numpy', True, 15)
    """
    return _read(path, backend, device, with_state=False, max_bytes=max_bytes).model


def load_checkpoint(path: str | os.PathLike[str], *, backend: str | Backend | None = None,
                    device: Any = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Checkpoint:
    """Read everything :func:`save` wrote: model, optimizer, optimizer state and ``extra``.

    Parameters and errors as :func:`load` (``max_bytes``, default 2 GiB, bounds
    the parameters and the optimizer state together). The optimizer state comes
    back as host arrays (:meth:`Checkpoint.opt_state_on` moves it to a backend).

    Examples
    --------
    >>> import os, tempfile, anynet as an
    >>> model = an.Sequential([an.layers.Linear(4, 3)], seed=0)
    >>> opt = an.optim.Adam(lr=0.01)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "ckpt.npz")
    ...     an.save(model, path, optimizer=opt, opt_state=opt.init(model.params), extra={"epoch": 7})
    ...     ckpt = an.io.load_checkpoint(path)
    >>> ckpt.optimizer == opt, sorted(ckpt.opt_state), ckpt.extra
    (True, ['lr_scale', 'm', 'step', 'v'], {'epoch': 7})
    >>> ckpt.opt_state["m"][0]["W"].shape  # host (NumPy) arrays, shaped like model.params
    (3, 4)
    """
    return _read(path, backend, device, with_state=True, max_bytes=max_bytes)


def _read(path: str | os.PathLike[str], backend: Any, device: Any, *, with_state: bool,
          max_bytes: int) -> Checkpoint:
    path = os.fspath(path)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"load: max_bytes must be a positive int (bytes), got {max_bytes!r}")
    be = get_backend(backend, device)  # a bad backend name is the caller's error, not the file's

    def fail(msg: str) -> CheckpointError:
        return CheckpointError(f"{path}: {msg}")

    with open(path, "rb") as f:
        _check_magic(f.read(8), fail)
        _check_directory(f, fail)
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except zipfile.BadZipFile as exc:  # it starts like a zip: its end is missing
            raise fail(f"the file is truncated: it starts like a .npz (zip) but its end, the zip's "
                       f"directory, is missing or damaged (an interrupted copy or download?) ({exc})"
                       ) from exc
        except (OSError, ValueError, EOFError, struct.error, NotImplementedError) as exc:
            # NotImplementedError: a damaged directory entry that claims a zip version or
            # feature zipfile does not support (the fuzz session found one)
            raise fail(f"the file is truncated or corrupted ({type(exc).__name__}: {exc})") from exc
        try:
            with zf:
                return _read_zip(zf, be, path, fail, with_state, max_bytes)
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError,
                NotImplementedError, UnicodeDecodeError, RuntimeError) as exc:
            raise fail(f"the file is truncated or corrupted ({type(exc).__name__}: {exc})") from exc
        except (ValueError, OSError) as exc:  # numpy.lib.format's own checks, short reads
            raise fail(f"the file is corrupted or not an anynet checkpoint ({type(exc).__name__}: {exc})"
                       ) from exc


def _check_magic(head: bytes, fail: Callable[[str], CheckpointError]) -> None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return
    if not head:
        raise fail("the file is empty (a save that never completed?)")
    if head.startswith(b"\x93NUMPY"):
        raise fail("this is a single NumPy .npy array, not an anynet checkpoint (a .npz zip)")
    if head[:1] == b"\x80":  # the PROTO opcode that starts every pickle since protocol 2
        raise fail("this looks like a Python pickle, not an anynet checkpoint; anynet never unpickles "
                   "(unpickling a file can run arbitrary code), so it was not opened")
    raise fail(f"not an anynet checkpoint: a .npz (zip) file starts with b'PK\\x03\\x04', "
               f"this one with {head[:4]!r}")


def _check_directory(f: IO[bytes], fail: Callable[[str], CheckpointError]) -> None:
    """Bound the zip's central directory (entries, bytes) before :class:`zipfile.ZipFile`
    parses all of it into memory: a small file cannot list millions of entries."""
    end_record = getattr(zipfile, "_EndRecData", None)  # the stdlib's own finder (private, stable)
    if end_record is None:  # pragma: no cover - a future Python without it: the entry count below
        return
    try:
        rec = end_record(f)
    except (OSError, ValueError, struct.error):
        return  # zipfile.ZipFile says what is wrong
    if rec is None:
        return
    entries, size = rec[zipfile._ECD_ENTRIES_TOTAL], rec[zipfile._ECD_SIZE]
    if entries > _MAX_ENTRIES or size > _MAX_DIRECTORY_BYTES:
        raise fail(f"the zip's directory lists {entries} entries in {size} bytes; an anynet checkpoint "
                   f"has at most {_MAX_ENTRIES} entries in {_MAX_DIRECTORY_BYTES} bytes")


def _odd_name(name: str) -> str | None:
    """What is wrong with a zip entry's name, or None: an anynet checkpoint's names are
    relative, '/'-separated, without '.', '..' or empty parts, backslashes or NUL."""
    if "\x00" in name:
        return "has a NUL byte in its name"
    if "\\" in name:
        return "has a backslash in its name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "is an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' part in its path"
    return None


def _check_entries(zf: zipfile.ZipFile, fail: Callable[[str], CheckpointError], max_bytes: int
                   ) -> dict[str, zipfile.ZipInfo]:
    """Every zip entry by name, after checking what its directory record declares:
    a plain unique name, stored or deflated (not encrypted), a size within the limit
    and a compression ratio deflate can give. Nothing is decompressed here."""
    infos = zf.infolist()
    if len(infos) > _MAX_ENTRIES:
        raise fail(f"the zip holds {len(infos)} entries; an anynet checkpoint has at most {_MAX_ENTRIES}")
    limit = max_bytes + _MAX_META_BYTES + len(infos) * _NPY_HEADER_SLACK  # arrays + metadata + headers
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.orig_filename  # before zipfile cuts it at a NUL byte
        why = _odd_name(name)
        if why is not None:
            raise fail(f"zip entry {name!r} {why}")
        if name in members:
            raise fail(f"zip entry {name!r} appears more than once")
        if info.flag_bits & 0x1:
            raise fail(f"zip entry {name!r} is encrypted; anynet checkpoints never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise fail(f"zip entry {name!r} uses compression method {info.compress_type}; anynet reads "
                       f"stored ({zipfile.ZIP_STORED}) or deflated ({zipfile.ZIP_DEFLATED}) entries only")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise fail(f"zip entry {name!r} is stored (not compressed) but its sizes differ: "
                       f"{info.compress_size} bytes in the file, {info.file_size} declared")
        if info.file_size > _MAX_RATIO * info.compress_size + 1024:
            raise fail(f"zip entry {name!r} declares {info.file_size} bytes from {info.compress_size} "
                       f"compressed, a ratio deflate cannot reach (at most about 1032:1): a zip bomb?")
        total += info.file_size
        if total > limit:
            raise fail(f"zip entry {name!r} brings the uncompressed size to {total} bytes, more than "
                       f"max_bytes={max_bytes} of arrays allows; pass a larger max_bytes= to load a "
                       "file you trust")
        members[name] = info
    return members


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                fail: Callable[[str], CheckpointError]) -> bytearray:
    """The entry's bytes, read (and inflated) a chunk at a time, never beyond the size
    its directory record declares (checked by :func:`_check_entries`); zipfile checks
    the CRC when the last byte is read."""
    size = info.file_size
    buf = bytearray(size)
    view = memoryview(buf)
    pos = 0
    with zf.open(info) as f:
        while pos < size:
            chunk = f.read(min(_CHUNK, size - pos))
            if not chunk:
                raise fail(f"entry {name!r} is truncated: it ends after {pos} of its {size} bytes")
            view[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
    view.release()
    return buf


def _parse_npy(raw: bytearray, what: str, fail: Callable[[str], CheckpointError], plain: str = "numeric"
               ) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """An .npy entry's header: (dtype, shape, fortran_order, offset of the data)."""
    head = _io.BytesIO(bytes(raw[:_NPY_HEADER_SLACK + 16]))
    try:
        shape, fortran, dtype = _npy.read_header(head)
    except ValueError as exc:
        raise fail(f"{what} is not a plain {plain} array: {exc}") from None
    return dtype, shape, fortran, head.tell()


def _read_zip(zf: zipfile.ZipFile, be: Backend, path: str, fail: Callable[[str], CheckpointError],
              with_state: bool, max_bytes: int) -> Checkpoint:
    members = _check_entries(zf, fail, max_bytes)
    if _META + ".npy" not in members:
        raise fail(f"no '{_META}' metadata entry: this .npz was not written by anynet.save "
                   f"(it holds {sorted(members)[:5]}{' ...' if len(members) > 5 else ''})")
    meta = _read_meta(zf, members[_META + ".npy"], fail)
    declared: dict[str, dict[str, Any]] = meta["arrays"]

    # every entry declared, nothing else in the zip
    present = {name[:-4] for name in members if name.endswith(".npy")} - {_META}
    strays = sorted(n for n in members if not n.endswith(".npy"))
    missing = sorted(set(declared) - present)
    undeclared = sorted(present - set(declared))
    if missing:
        raise fail(f"arrays listed in the metadata are missing from the file: {missing}")
    if undeclared or strays:
        raise fail(f"the file holds entries its metadata does not list: {undeclared + strays}")

    total = 0
    for name, spec in declared.items():  # sizes first: a file cannot claim more than it holds
        nbytes = math.prod(spec["shape"]) * np.dtype(spec["dtype"]).itemsize
        total += nbytes
        if total > max_bytes:
            raise fail(f"its arrays need more than max_bytes={max_bytes} bytes (up to {name!r}: {total}); "
                       "pass a larger max_bytes= to load a file you trust")
        size = members[name + ".npy"].file_size
        if not nbytes <= size <= nbytes + _NPY_HEADER_SLACK:
            raise fail(f"entry {name!r} is {size} bytes but a {spec['dtype']} array of shape "
                       f"{tuple(spec['shape'])} needs {nbytes} plus a header")

    _check_layer_sizes(meta["model"], max_bytes, fail)
    model = _build_model(meta["model"], be, fail)

    # the parameters and the layer state: exactly the model's, in its shapes and dtype
    expected: dict[str, tuple[tuple[int, ...], str]] = {}
    for kind, tree in (("params", model.params), ("state", model.state)):
        for i, p in enumerate(tree):
            for k, v in p.items():
                expected[f"{kind}/{i}/{k}"] = (tuple(v.shape), model.dtype)
        what = "parameters" if kind == "params" else "layer state"
        saved = {n for n in declared if _entry_kind(n) == kind}
        wanted = {n for n in expected if _entry_kind(n) == kind}
        if wanted - saved:
            raise fail(f"the architecture needs {what} the file lacks: {sorted(wanted - saved)}")
        if saved - wanted:
            raise fail(f"the file holds {what} the architecture has no place for: {sorted(saved - wanted)}")
    for name, (shape, dtype) in expected.items():
        got = declared[name]
        if tuple(got["shape"]) != shape or got["dtype"] != dtype:
            i = int(name.split("/")[1])
            raise fail(f"array {name!r} is {got['dtype']} of shape {tuple(got['shape'])} in the file, but "
                       f"layer {i} ({model.layers[i]!r}) of this {dtype} model needs {dtype} of shape {shape}")

    # optimizer: rebuilt from its settings; its state checked against the parameters
    optimizer = None
    if meta["optimizer"] is not None:
        optimizer = _build_optimizer(meta["optimizer"], fail)
    kinds = meta["opt_state"]
    state_names: dict[str, tuple[str, int | None, str | None]] = {}
    if kinds is not None:
        if optimizer is not None:
            _check_slots(optimizer, kinds, lambda msg: fail(msg))
        for key, kind in kinds.items():
            if kind == "array":
                state_names[f"opt/{key}"] = (key, None, None)
                continue
            for i, p in enumerate(model.params):
                for k, v in p.items():
                    name = f"opt/{key}/{i}/{k}"
                    if name not in declared:
                        raise fail(f"optimizer state {name!r} is missing")
                    if tuple(declared[name]["shape"]) != tuple(v.shape):
                        raise fail(f"optimizer state {name!r} has shape {tuple(declared[name]['shape'])} "
                                   f"but the parameter has shape {tuple(v.shape)}")
                    state_names[name] = (key, i, k)
    missing_state = sorted(n for n in state_names if n not in declared)
    if missing_state:
        raise fail(f"optimizer state {missing_state[0]!r} is missing")
    other = set(declared) - set(expected) - set(state_names)
    if other:
        raise fail(f"the file holds arrays that are neither parameters nor optimizer state: {sorted(other)}")

    host = {name: _read_array(zf, members[name + ".npy"], name, declared[name], fail) for name in expected}
    model.params = [{k: be.asarray(host[f"params/{i}/{k}"], dtype=model.dtype) for k in p}
                    for i, p in enumerate(model.params)]
    model.state = [{k: be.asarray(host[f"state/{i}/{k}"], dtype=model.dtype) for k in p}
                   for i, p in enumerate(model.state)]

    opt_state = None
    if kinds is not None and with_state:
        opt_state = {key: ([{} for _ in model.params] if kind == "per_param" else None)
                     for key, kind in kinds.items()}
        for name, (key, i, k) in state_names.items():
            a = _read_array(zf, members[name + ".npy"], name, declared[name], fail)
            if i is None:
                opt_state[key] = a
            else:
                opt_state[key][i][k] = a
    return Checkpoint(model=model, opt_state=opt_state, optimizer=optimizer,
                      optimizer_config=meta["optimizer"], extra=meta["extra"], meta=meta, path=path)


def _entry_kind(name: str) -> str | None:
    """The kind of an array entry (a key of ``_ENTRY_KINDS``), or None if its name fits none."""
    kind = name.split("/", 1)[0]
    pattern = _ENTRY_KINDS.get(kind)
    return kind if pattern is not None and pattern.fullmatch(name) and _odd_name(name) is None else None


def _json_depth(obj: Any, limit: int) -> int:
    """How deeply ``obj`` nests lists and dicts (iteratively: no recursion), or ``limit + 1``
    as soon as it is deeper than ``limit``."""
    deepest, todo = 0, [(obj, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return limit + 1
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)
                        if isinstance(v, (dict, list)))  # not a tuple per number: they cannot nest
    return deepest


def _read_meta(zf: zipfile.ZipFile, info: zipfile.ZipInfo, fail: Callable[[str], CheckpointError]
               ) -> dict[str, Any]:
    if info.file_size > _MAX_META_BYTES + _NPY_HEADER_SLACK:
        raise fail(f"the metadata entry is {info.file_size} bytes, more than the {_MAX_META_BYTES} "
                   "bytes of JSON an anynet checkpoint may have")
    raw = _read_entry(zf, info, _META, fail)
    dtype, shape, _, offset = _parse_npy(raw, "the metadata entry", fail, plain="byte")
    if dtype != np.uint8 or len(shape) != 1:
        raise fail(f"the metadata entry must be a 1-d uint8 array, got {dtype} of shape {shape}")
    if len(raw) - offset != shape[0]:
        raise fail(f"the metadata entry declares {shape[0]} bytes but holds {len(raw) - offset}")
    blob = bytes(raw[offset:])
    del raw
    containers = blob.count(b"[") + blob.count(b"{")  # an upper bound (brackets in strings count too)
    if containers > _MAX_META_CONTAINERS:
        raise fail(f"the metadata's JSON has up to {containers} lists and objects; an anynet checkpoint "
                   f"has at most {_MAX_META_CONTAINERS}")
    try:
        meta = json.loads(blob.decode("utf-8"))
    except RecursionError:
        raise fail(f"the metadata's JSON is nested more than {_MAX_META_DEPTH} deep") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, and ints of over 4300 digits
        raise fail(f"the metadata is not valid UTF-8 JSON ({exc})") from exc
    if _json_depth(meta, _MAX_META_DEPTH) > _MAX_META_DEPTH:
        raise fail(f"the metadata's JSON is nested more than {_MAX_META_DEPTH} deep")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise fail(f"the metadata's format is {got!r}, not {FORMAT!r}: not an anynet checkpoint")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise fail(f"format_version must be a positive int, got {version!r}")
    if version > FORMAT_VERSION:
        raise fail(f"written by a newer anynet ({meta.get('anynet_version', '?')}, format version "
                   f"{version}); this anynet reads format version {FORMAT_VERSION}: upgrade anynet")

    def need(obj: Any, key: str, types: type | tuple[type, ...], at: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise fail(f"the metadata lacks {at}{key!r}")
        if not isinstance(obj[key], types):
            raise fail(f"the metadata's {at}{key!r} must be {_type_names(types)}, "
                       f"got {type(obj[key]).__name__}")
        return obj[key]

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    model = need(meta, "model", dict, "")
    layers = need(model, "layers", list, "model.")
    if not layers:
        raise fail("the metadata's model has no layers")
    for i, entry in enumerate(layers):
        need(entry, "class", str, f"model.layers[{i}].")
        need(entry, "config", dict, f"model.layers[{i}].")
    dtype = need(model, "dtype", str, "model.")
    if dtype not in ("float32", "float64"):
        raise fail(f"the model dtype must be 'float32' or 'float64', got {dtype!r}")
    seed = need(model, "seed", int, "model.")
    if isinstance(seed, bool) or seed < 0:
        raise fail(f"the model seed must be an int >= 0, got {seed!r}")
    shape = need(model, "input_shape", (list, type(None)), "model.")
    if shape is not None and not (len(shape) <= 32 and all(is_int(s) and 1 <= s < 2**63 for s in shape)):
        raise fail(f"the model input_shape must be a list of at most 32 positive ints, got {shape!r}")
    arrays = need(meta, "arrays", dict, "")
    for name, spec in arrays.items():
        if _entry_kind(name) is None:
            raise fail(f"the metadata declares an array {name!r} of no known kind; an anynet checkpoint "
                       f"holds {', '.join(p.pattern for p in _ENTRY_KINDS.values())}")
        at = f"arrays[{name!r}]."
        dims = need(spec, "shape", list, at)
        if not (len(dims) <= 32 and all(is_int(s) and 0 <= s < 2**63 for s in dims)):
            raise fail(f"the metadata's {at}'shape' must be a list of at most 32 ints >= 0, got {dims!r}")
        dt = need(spec, "dtype", str, at)
        if dt not in _DTYPES:
            raise fail(f"array {name!r} is declared as {dt!r}; a checkpoint holds only numeric arrays "
                       f"({', '.join(sorted(_DTYPES))})")
    opt = need(meta, "optimizer", (dict, type(None)), "")
    if opt is not None:
        need(opt, "class", str, "optimizer.")
        need(opt, "config", dict, "optimizer.")
    kinds = need(meta, "opt_state", (dict, type(None)), "")
    if kinds is not None:
        if "step" not in kinds:
            raise fail("the metadata's opt_state has no 'step'")
        for key, kind in kinds.items():
            if kind not in ("array", "per_param"):
                raise fail(f"the metadata's opt_state[{key!r}] must be 'array' or 'per_param', got {kind!r}")
            if not key or "/" in key:
                raise fail(f"the metadata's opt_state key {key!r} must be a non-empty name without '/'")
    need(meta, "extra", dict, "")
    return meta


def _check_layer_sizes(spec: dict[str, Any], max_bytes: int, fail: Callable[[str], CheckpointError]) -> None:
    """Refuse, before any layer initializes its parameters, layers whose sizes promise
    more than ``max_bytes``: the product of the size settings in ``_LAYER_SIZES`` that a
    layer's config has (``in_features * out_features`` for Linear, times ``pieces`` for
    Maxout; their weights, and about twice that bounds what they allocate). A custom
    layer with other size settings is initialized before its arrays are checked."""
    itemsize = np.dtype(spec["dtype"]).itemsize
    budget = max_bytes // itemsize
    total = 0
    for i, entry in enumerate(spec["layers"]):
        sizes = [entry["config"].get(key) for key in _LAYER_SIZES]
        n = math.prod(v for v in sizes if isinstance(v, int) and not isinstance(v, bool) and v > 1)
        total += n
        if total > budget:
            raise fail(f"layer {i} ({entry['class']}) has sizes {entry['config']} that need more than "
                       f"max_bytes={max_bytes} bytes of {spec['dtype']} parameters (with the layers before "
                       "it); pass a larger max_bytes= to load a file you trust")


def _type_names(types: type | tuple[type, ...]) -> str:
    names = {"dict": "an object", "list": "a list", "str": "a string", "int": "an int", "NoneType": "null"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t.__name__, t.__name__) for t in types)


def _build_model(spec: dict[str, Any], be: Backend, fail: Callable[[str], CheckpointError]) -> Any:
    layers = []
    for i, entry in enumerate(spec["layers"]):
        name = entry["class"]
        cls = LAYERS.get(name)
        if cls is None:
            raise fail(f"layer {i} is a {name!r}, a layer class this program does not know; if it is your "
                       f"own layer, import the module that defines it before loading (a Layer subclass "
                       f"registers itself when defined). Known layers: {', '.join(sorted(LAYERS))}")
        try:
            layers.append(cls(**entry["config"]))
        except (TypeError, ValueError) as exc:
            raise fail(f"layer {i} ({name}) cannot be built from its saved config {entry['config']}: "
                       f"{exc}") from exc
    be.dtype(spec["dtype"])  # a dtype the backend cannot do is the caller's choice of backend
    name = spec.get("class", "Sequential")
    cls = MODELS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise fail(f"the model is a {name!r}, not a model class this program knows "
                   f"({', '.join(sorted(MODELS))})")
    try:
        return cls.from_config({**spec, "layers": layers}, backend=be)
    except (TypeError, ValueError) as exc:
        raise fail(f"the saved architecture is inconsistent: {exc}") from exc
    except MemoryError as exc:
        raise fail("the saved architecture needs more memory than is available "
                   f"({sum(1 for _ in layers)} layers: {layers})") from exc


def _build_optimizer(spec: dict[str, Any], fail: Callable[[str], CheckpointError]) -> Any:
    cls = _subclass(_optim.Optimizer, spec["class"])
    if cls is None:
        raise fail(f"the optimizer is a {spec['class']!r}, which this program does not know "
                   "(import the module that defines it before loading)")
    config = dict(spec["config"])
    for key, value in config.items():
        if isinstance(value, dict) and "__schedule__" in value:
            sched = _subclass(_optim.Schedule, value["__schedule__"])
            if sched is None or not isinstance(value.get("config"), dict):
                raise fail(f"optimizer setting {key!r} is an unknown schedule {value['__schedule__']!r}")
            try:
                config[key] = sched(**value["config"])
            except (TypeError, ValueError) as exc:
                raise fail(f"schedule {value['__schedule__']} cannot be built from {value['config']}: "
                           f"{exc}") from exc
    try:
        return cls(**config)
    except (TypeError, ValueError) as exc:
        raise fail(f"optimizer {spec['class']} cannot be built from its saved config {config}: {exc}") from exc


def _subclass(base: type, name: str) -> type | None:
    """The subclass of ``base`` (at any depth) called ``name``: only classes this program
    defined can be named by a file, nothing is imported."""
    todo = [base]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name and cls is not base:
            return cls
        todo.extend(cls.__subclasses__())
    return None


def _check_slots(optimizer: Any, kinds: Mapping[str, str], error: Callable[[str], Exception]) -> None:
    want = set(optimizer.slots)
    got = {k for k, kind in kinds.items() if kind == "per_param"}
    if want != got:
        raise error(f"the optimizer state has slots {sorted(got)} but {optimizer!r} uses {sorted(want)}")


def _read_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, spec: dict[str, Any],
                fail: Callable[[str], CheckpointError]) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    shape = tuple(spec["shape"])
    raw = _read_entry(zf, info, name, fail)  # its size was checked against the declared shape
    got_dtype, got_shape, fortran, offset = _parse_npy(raw, f"entry {name!r}", fail)
    if got_dtype != dtype or got_shape != shape:
        raise fail(f"entry {name!r} holds {got_dtype} of shape {got_shape} but the metadata says "
                   f"{spec['dtype']} of shape {shape}")
    count = math.prod(shape)
    left = len(raw) - offset - count * dtype.itemsize
    if left < 0:
        raise fail(f"entry {name!r} is truncated: its data is {-left} bytes short of {dtype} {shape}")
    if left > 0:
        raise fail(f"entry {name!r} has {left} bytes after its data")
    a = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    a = a.reshape(shape[::-1]).T if fortran else a.reshape(shape)
    return np.array(a, copy=True, order="C")  # writable, C-ordered, owning its memory
