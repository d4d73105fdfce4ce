"""Ready-made stacks of layers: the multilayer perceptron of the lecture, and convnets."""

from __future__ import annotations

from collections.abc import Sequence

from ._base import Layer
from .activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .batchnorm import BatchNorm
from .conv import Conv2D
from .dropout import Dropout
from .linear import Linear
from .maxout import Maxout
from .pooling import MaxPool2D
from .reshape import Flatten, Reshape

__all__ = ["ACTIVATIONS", "cnn", "lenet", "mlp"]

#: Activation names :func:`mlp` takes (scikit-learn's "logistic" is "sigmoid"; "identity": none).
ACTIVATIONS: dict[str, type[Layer] | None] = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid, "logistic": Sigmoid,
    "elu": ELU, "gelu": GELU, "softplus": Softplus, "maxout": Maxout, "identity": None,
}


def mlp(n_in: int, hidden: Sequence[int], n_out: int, *, activation: str = "relu",
        dropout: float = 0.0, maxout_pieces: int = 2) -> list[Layer]:
    """The layers of a multilayer perceptron: ``Linear`` + activation (+ ``Dropout``) per
    hidden size, then a ``Linear`` to ``n_out`` outputs (logits: the losses take scores).

    Weights start He-normal before ReLU-like activations and Glorot-uniform before
    tanh/sigmoid/identity and at the output. ``activation="maxout"`` makes each hidden
    layer a ``Maxout`` of ``maxout_pieces`` pieces instead of ``Linear`` + activation.

    Shapes: x (N, n_in) -> logits (N, n_out).

    Examples
    --------
    >>> import anynet as an
    >>> an.layers.mlp(64, (128, 64), 10)
    [Linear(in_features=64, out_features=128, bias=True, weight_init='he_normal'), ReLU(), Linear(in_features=128, out_features=64, bias=True, weight_init='he_normal'), ReLU(), Linear(in_features=64, out_features=10, bias=True, weight_init='glorot_uniform')]
    >>> [type(layer).__name__ for layer in an.layers.mlp(2, (8,), 3, activation="tanh", dropout=0.1)]
    ['Linear', 'Tanh', 'Dropout', 'Linear']
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    sizes = list(hidden)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in sizes):
        raise ValueError(f"mlp: hidden sizes must be positive ints, got {tuple(hidden)!r}")
    act = ACTIVATIONS[activation]
    init = "glorot_uniform" if activation in ("tanh", "sigmoid", "logistic", "identity") else "he_normal"
    out: list[Layer] = []
    width = n_in
    for h in sizes:
        if act is Maxout:
            out.append(Maxout(width, h, maxout_pieces))
        else:
            out.append(Linear(width, h, weight_init=init))
            if act is not None:
                out.append(act())
        if dropout:
            out.append(Dropout(dropout))
        width = h
    out.append(Linear(width, n_out, weight_init="glorot_uniform"))
    return out


def _image_shape(input_shape: Sequence[int], where: str) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape):
        raise ValueError(f"{where}: input_shape must be a channels-last image shape (H, W, C) of "
                         f"positive ints, got {tuple(input_shape)!r}")
    return shape  # type: ignore[return-value]


def cnn(input_shape: Sequence[int], features: Sequence[int | str], hidden: Sequence[int], n_out: int, *,
        kernel_size: int = 3, batchnorm: bool = False, dropout: float = 0.0,
        from_rows: bool = False) -> list[Layer]:
    """The layers of a convolutional network on channels-last images: convolutions and
    max pooling as ``features`` says, then an MLP head (``Flatten``, ``Linear`` + ReLU per
    ``hidden`` size, a ``Linear`` to ``n_out`` logits).

    ``features`` lists the blocks in order, as torchvision's VGG configurations do: an
    int ``c`` is a ``Conv2D`` to ``c`` channels (``kernel_size``, padding ``"same"``,
    He-normal) followed by ``BatchNorm`` (with ``batchnorm=True``; the convolution then
    has no bias, which BatchNorm's mean would cancel: its gradient is 0) and ReLU; ``"M"`` is a
    2x2 ``MaxPool2D``. ``from_rows=True`` starts with a ``Reshape`` so that the model takes
    rows of ``H*W*C`` values (such as the bundled digits' 64 pixels).

    Shapes: x (N, H, W, C) (or (N, H*W*C) with ``from_rows``) -> logits (N, n_out).

    Examples
    --------
    The command line's CNN for the 8x8 digits (``anynet train --model cnn``):

    >>> import anynet as an
    >>> layers = an.layers.cnn((8, 8, 1), (32, 64, "M"), (128,), 10, from_rows=True)
    >>> [type(layer).__name__ for layer in layers]
    ['Reshape', 'Conv2D', 'ReLU', 'Conv2D', 'ReLU', 'MaxPool2D', 'Flatten', 'Linear', 'ReLU', 'Linear']
    >>> an.Sequential(layers, seed=0).output_shape, layers[-3]
    ((10,), Linear(in_features=1024, out_features=128, bias=True, weight_init='he_normal'))
    """
    h, w, c = _image_shape(input_shape, "cnn")
    out: list[Layer] = [Reshape((h, w, c))] if from_rows else []
    for f in features:
        if f == "M":
            if h < 2 or w < 2:
                raise ValueError(f"cnn: a 2x2 max pool needs an image of at least 2x2, but the features "
                                 f"{tuple(features)!r} reach {h}x{w} before it")
            out.append(MaxPool2D(2))
            h, w = h // 2, w // 2
        elif isinstance(f, int) and not isinstance(f, bool) and f >= 1:
            out.append(Conv2D(c, f, kernel_size, padding="same", bias=not batchnorm))  # BatchNorm has beta
            if batchnorm:
                out.append(BatchNorm(f))
            out.append(ReLU())
            c = f
        else:
            raise ValueError(f"cnn: features must be channel counts (positive ints) or \"M\" (max pool), "
                             f"got {f!r} in {tuple(features)!r}")
    out.append(Flatten())
    return out + mlp(h * w * c, hidden, n_out, dropout=dropout)


def lenet(input_shape: Sequence[int] = (28, 28, 1), n_out: int = 10, *, from_rows: bool = False) -> list[Layer]:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, as most courses teach it:
    conv 5x5 to 6 channels (padding "same"), max pool 2, conv 5x5 to 16 channels ("valid"),
    max pool 2, then dense 120, 84 and ``n_out``.

    Shapes: x (N, H, W, C) (or (N, H*W*C) with ``from_rows``) -> logits (N, n_out); the
    images need at least 12x12 pixels.

    Examples
    --------
    >>> import anynet as an
    >>> model = an.Sequential(an.layers.lenet(), seed=0, input_shape=(28, 28, 1))  # MNIST
    >>> model.output_shape, model.count_params()
    ((10,), 61706)
    """
    h, w, c = _image_shape(input_shape, "lenet")
    if h < 12 or w < 12:
        raise ValueError(f"lenet: expects images of at least 12x12 pixels, got input_shape {tuple(input_shape)!r}")
    flat = ((h // 2 - 4) // 2) * ((w // 2 - 4) // 2) * 16
    return [*([Reshape((h, w, c))] if from_rows else []),
            Conv2D(c, 6, 5, padding="same"), ReLU(), MaxPool2D(2),
            Conv2D(6, 16, 5), ReLU(), MaxPool2D(2), Flatten(),
            Linear(flat, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, n_out, weight_init="glorot_uniform")]
