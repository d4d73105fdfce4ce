"""Ready-made stacks of layers: the multilayer perceptron of the lecture."""

from __future__ import annotations

from collections.abc import Sequence

from ._base import Layer
from .activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .dropout import Dropout
from .linear import Linear
from .maxout import Maxout

__all__ = ["ACTIVATIONS", "mlp"]

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
