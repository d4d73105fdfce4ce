"""anynet: neural networks with explicit backpropagation, written once against the
Python Array API standard, running on NumPy, JAX, CuPy, PyTorch and array-api-strict.

>>> import anynet as an
>>> model = an.Sequential([an.layers.Linear(64, 32), an.layers.ReLU(),
...                        an.layers.Linear(32, 10)], seed=0)
"""

from . import (
    backends,
    callbacks,
    datasets,
    engine,
    export,
    io,
    layers,
    losses,
    metrics,
    optim,
    plot,
    random,
    train,
)
from ._version import __version__
from .backends import BACKENDS, Backend, BackendError, available_backends, backend, use, using
from .gradcheck import gradcheck
from .io import load, save
from .model import Sequential
from .train import History

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "History",
    "Sequential",
    "__version__",
    "available_backends",
    "backend",
    "backends",
    "callbacks",
    "datasets",
    "engine",
    "export",
    "gradcheck",
    "io",
    "layers",
    "load",
    "losses",
    "metrics",
    "optim",
    "plot",
    "random",
    "save",
    "train",
    "use",
    "using",
]
