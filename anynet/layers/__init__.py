"""Layers: each a small frozen config with pure ``init``/``forward``/``backward``."""

from ._base import LAYERS, Layer
from .activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .dropout import Dropout
from .linear import Linear
from .maxout import Maxout
from .reshape import Flatten
from .stacks import ACTIVATIONS, mlp

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "LAYERS",
    "Dropout",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "Linear",
    "Maxout",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "mlp",
]
