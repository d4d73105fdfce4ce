"""Layers: each a small frozen config with pure ``init``/``forward``/``backward``."""

from ..convert import from_torch_conv2d_weight, to_torch_conv2d_weight
from ._base import LAYERS, Layer
from .activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .batchnorm import BatchNorm
from .conv import Conv2D
from .dropout import Dropout
from .linear import Linear
from .maxout import Maxout
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .reshape import Flatten, Reshape
from .stacks import ACTIVATIONS, cnn, lenet, mlp

__all__ = [
    "ACTIVATIONS",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "ELU",
    "GELU",
    "LAYERS",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MaxPool2D",
    "Maxout",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "from_torch_conv2d_weight",
    "to_torch_conv2d_weight",
    "cnn",
    "lenet",
    "mlp",
]
