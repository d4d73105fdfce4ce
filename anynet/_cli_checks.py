"""What the ``anynet`` command checks before it starts work, so that a mistake costs nothing.

* output paths (``--save``, ``--checkpoint``, ``--plot``, ``--output``): their folder
  exists and takes files, and the error names the user's path;
* optional libraries (matplotlib for ``--plot``) with the line that installs them;
* the backend and device: a bad ``ANYNET_BACKEND`` or ``--device`` is an error that
  says what exists here, never a silent fall back to the CPU;
* ``anynet predict``'s input: raw features, as in the training files, not rows that
  were already standardized (:func:`check_raw_features`).

Host-side: the input check uses NumPy on rows read from a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import numpy as np  # host-side: statistics of the rows anynet predict read from a file

from . import plot
from .backends import Backend, BackendError, available_backends, backend, get_backend

__all__ = ["EXTRAS", "check_output", "check_plot", "check_raw_features", "describe_env_backend",
           "devices_here", "install_hint", "resolve_backend", "standardized_evidence"]

#: Every extra of the distribution (pyproject.toml ``[project.optional-dependencies]``) and what it adds.
EXTRAS: dict[str, str] = {
    "jax": "the JAX backend (CPU; GPU with a CUDA jaxlib)",
    "torch": "the PyTorch backend",
    "cuda12": "the CuPy backend for CUDA 12 (NVIDIA GPU)",
    "cuda13": "the CuPy backend for CUDA 13 (NVIDIA GPU)",
    "strict": "the array-api-strict backend",
    "plot": "anynet.plot and anynet train --plot (matplotlib)",
    "progress": "a progress bar in fit (tqdm)",
    "sklearn": "anynet.sklearn's estimators (scikit-learn)",
    "onnx": "anynet export and anynet.export (ndonnx, onnx, onnxruntime)",
    "test": "what the test suite needs",
    "lint": "ruff and import-linter",
    "docs": "the API reference (Sphinx; nox -s docs)",
}

#: Mean log-likelihood ratio per value above which rows count as already standardized
#: (see :func:`standardized_evidence`): e (2.7) times likelier per value, so 55 times for
#: one row of 4 features and far more for a file of rows.
STANDARDIZED_NATS = 1.0


def install_hint(package: str, extra: str) -> str:
    """The line that installs an optional library, from the package index or from a checkout.

    >>> from anynet._cli_checks import install_hint
    >>> install_hint("matplotlib", "plot")
    "pip install matplotlib (from anynet's source tree: pip install '.[plot]')"
    """
    return f"pip install {package} (from anynet's source tree: pip install '.[{extra}]')"


# ------------------------------------------------------------------ output paths
def check_output(path: str | os.PathLike, option: str) -> None:
    """Raise ``OSError`` naming ``option`` and ``path`` if a file cannot be written at ``path``.

    The folder must exist and take new files, and ``path`` must not be a folder. Nothing
    is created.

    >>> from anynet._cli_checks import check_output
    >>> check_output("model.npz", "--save")  # the current folder: fine
    >>> check_output("no/such/dir/model.npz", "--save")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --save 'no/such/dir/model.npz': no such directory 'no/such/dir'
    """
    text = os.fspath(path)
    folder = os.path.dirname(text) or "."
    if os.path.isdir(text):
        raise IsADirectoryError(f"{option} {text!r}: is a directory; give a file name")
    if not os.path.exists(folder):
        raise FileNotFoundError(f"{option} {text!r}: no such directory {folder!r}")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{option} {text!r}: {folder!r} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {text!r}: no permission to create files in {folder!r}")


def check_plot(path: str | os.PathLike, option: str = "--plot") -> None:
    """Raise if a picture cannot be written at ``path``: matplotlib missing (with the install
    line), a format matplotlib does not write, or an unwritable path (:func:`check_output`)."""
    check_output(path, option)
    formats = plot.picture_formats()  # ImportError with the install line when matplotlib is missing
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if suffix not in formats:
        raise ValueError(f"{option} {os.fspath(path)!r}: expected a picture file name ending in one of "
                         f"{', '.join('.' + f for f in sorted(formats))}, e.g. out.png")


# ------------------------------------------------------------------ backend and device
def _device_name(d: Any) -> str:
    """A device as a user would pass it to ``--device`` (``cpu:0``, ``cuda:1``...)."""
    if isinstance(d, str):
        return d
    platform, idx = getattr(d, "platform", None), getattr(d, "id", None)
    if platform is not None and idx is not None:  # JAX
        return f"{platform}:{idx}"
    if idx is not None and type(d).__module__.startswith("cupy"):
        return f"cuda:{idx}"
    named = re.fullmatch(r"[\w.]+\('([^']+)'\)", repr(d))  # array_api_strict.Device('CPU_DEVICE')
    return named.group(1) if named else str(d)


def devices_here(names: Iterable[str] | None = None) -> str:
    """The devices of every backend that runs here, as ``--device`` takes them.

    >>> from anynet._cli_checks import devices_here
    >>> devices_here(["numpy"])
    'numpy: cpu'
    """
    out = []
    if names is None:
        names = [name for name, why in available_backends().items() if why is None]
    for name in names:
        try:
            devs = get_backend(name).visible_devices()
        except (BackendError, ImportError, ValueError):
            continue
        out.append(f"{name}: {', '.join(_device_name(d) for d in devs)}")
    return "; ".join(out)


def _runnable() -> list[str]:
    return [name for name, why in available_backends().items() if why is None]


def resolve_backend(name: str | None, device: str | None) -> Backend:
    """The backend a command runs on: ``name`` (default ``$ANYNET_BACKEND`` or numpy) on
    ``device`` (default: the library's). Errors say what runs here. The caller makes it
    current (``anynet.use(be)``).

    A ``device`` without ``name`` goes to the default backend, so ``--device cuda:0`` on
    NumPy is an error, never a run on the CPU.

    >>> from anynet._cli_checks import resolve_backend
    >>> resolve_backend("numpy", "cpu")
    Backend(name='numpy', device='cpu')
    >>> resolve_backend("numpy", "cuda:0")
    Traceback (most recent call last):
    ...
    anynet.backends._base.BackendError: --device 'cuda:0': backend 'numpy' runs on the CPU only, ...
    """
    if name is None:
        try:
            current = backend()
        except (BackendError, ValueError) as exc:
            raise type(exc)(f"{exc}; pass --backend NAME or unset ANYNET_BACKEND (backends that run "
                            f"here: {', '.join(_runnable())})") from None
        if device is None:
            return current
        name = current.name
    try:
        return get_backend(name, device)
    except BackendError as exc:
        if device is None:
            raise
        raise BackendError(f"--device {device!r}: {exc}; devices here: {devices_here()}") from None


def describe_env_backend() -> str | None:
    """``None`` if ``$ANYNET_BACKEND`` (or the default) gives a backend, else why not and what
    runs here instead, in words for ``anynet info``."""
    try:
        backend()
    except (BackendError, ValueError) as exc:
        return (f"{exc}.\n  The backends that run here: {', '.join(_runnable())}; choose one with "
                "--backend NAME or ANYNET_BACKEND=NAME, or unset ANYNET_BACKEND for numpy.")
    return None


# ------------------------------------------------------------------ anynet predict's input
def standardized_evidence(x: Any, mean: Any, std: Any) -> float:
    """How much likelier rows ``x`` are to be already standardized than raw: the mean, per
    value, of ``log N(x; 0, 1) - log N(x; mean, std**2)``, each feature its own Gaussian.

    Raw rows from the training distribution give a negative number (about -7.7 for the iris
    test set, below -20,000 for wine's), rows standardized with that set's statistics a
    positive one (12.8, 23.4); where the training data were already about mean 0, std 1,
    the two hypotheses coincide and it is about 0. It depends on the rows only through
    their per-feature mean and spread, so it is the principled form of "the input's
    mean/std look standardized while the training data's were not".

    >>> import numpy as np
    >>> from anynet._cli_checks import standardized_evidence
    >>> mean, std = np.array([100.0, -5.0]), np.array([20.0, 3.0])
    >>> raw = np.array([[90.0, -4.0], [115.0, -9.0], [102.0, -2.0]])
    >>> standardized_evidence(raw, mean, std) < 0, standardized_evidence((raw - mean) / std, mean, std) > 1
    (True, True)
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if x.size == 0 or x.shape[1] != mean.shape[0]:
        return 0.0  # nothing to judge; the model reports a wrong width itself
    with np.errstate(all="ignore"):
        z = (x - mean) / std
        ratio = np.log(std) + 0.5 * (z * z - x * x)
    ratio = ratio[np.isfinite(ratio)]
    return float(ratio.mean()) if ratio.size else 0.0


def check_raw_features(x: Any, mean: Any, std: Any, path: str) -> None:
    """Raise ``ValueError`` if ``x`` (read from ``path``) looks standardized already.

    ``anynet predict`` standardizes its input with the training set's mean and std from
    the checkpoint; rows that were standardized before would be standardized twice and
    give nonsense, silently. :func:`standardized_evidence` above
    :data:`STANDARDIZED_NATS` per value refuses them.
    """
    nats = standardized_evidence(x, mean, std)
    if nats > STANDARDIZED_NATS:
        m = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        raise ValueError(
            f"--input {path!r} looks already standardized (per-feature mean "
            f"{_summary(m.mean(axis=0))}, std {_summary(m.std(axis=0))}) but the model was trained "
            f"on raw features (mean {_summary(mean)}, std {_summary(std)}); anynet predict "
            "standardizes with those itself: pass the raw features, as in the training files, or "
            "--no-standardize if these rows are standardized with the training statistics "
            f"({nats:.1f} nats per value likelier standardized than raw)")


def _summary(v: Any) -> str:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    shown = ", ".join(f"{a:.3g}" for a in v[:4])
    return f"[{shown}{', ...' if v.size > 4 else ''}]"
