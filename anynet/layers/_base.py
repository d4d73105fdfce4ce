"""The layer protocol: config in the object, arrays in and out of pure functions."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from array_api_compat import array_namespace
from array_api_compat import device as device_of

__all__ = ["LAYERS", "Array", "Layer", "Params", "Shape", "SizedLayer", "device_of", "namespace"]

Array = Any
Params = dict[str, Array]
Shape = tuple[int, ...]

#: Every Layer subclass by class name, so a saved architecture (JSON) can be rebuilt.
LAYERS: dict[str, type[Layer]] = {}


class Layer:
    """Base class of every layer, built-in or your own.

    A layer holds only its configuration (sizes, slopes, ...). Its arrays travel
    through two pure functions, so a whole training step can be compiled:

    ``init(rng) -> params``
        a ``dict`` of host (NumPy) arrays drawn from ``rng``, a seeded
        :class:`numpy.random.Generator`; ``{}`` for layers without parameters.
    ``forward(params, x, *, training, key, xp) -> (y, cache)``
        the output and whatever the backward pass needs (the lecture's "local
        gradients"): plain arrays, or tuples of them.
    ``backward(params, cache, dy, *, need_dx, xp) -> (dx, grads)``
        the gradient w.r.t. the input (``None`` when ``need_dx`` is false: the
        first layer's input gradient is never used in training) and a ``dict``
        with exactly the keys of ``params``.

    Layers with state that is not trained (BatchNorm's running mean and variance)
    set ``stateful = True`` and define ``init_state() -> dict`` of host arrays; their
    ``forward`` takes the layer's current state as ``state=`` and returns a third
    item, the new state (updated in training, unchanged in inference). The model
    keeps it beside the parameters (``model.state``), the training step returns it,
    and checkpoints and ``model.to`` carry it.

    Neither may modify its arguments in place (JAX arrays are immutable, and a
    caller's arrays are the caller's). ``xp`` is the array namespace, resolved
    once per step by the model; a layer called on its own looks it up itself.
    Define a subclass as a frozen dataclass to get ``repr``, equality and a
    saveable config for free (see ``examples/custom_layer.py``).

    Class attributes
    ----------------
    regularized : tuple of str
        Parameter names that weight penalties (L1/L2) apply to (weights, not biases).
    stochastic : bool
        True when ``forward`` needs a ``key`` in training (dropout).
    takes_first_row : bool
        For a stochastic layer: ``forward`` also takes ``first_row=`` (an int), the row of
        the whole batch that its input's first row is, and draws for its rows what the
        whole batch would (Dropout does). Only then may the NumPy backend's ``threads=``
        split the steps of a model with that layer.
    stateful : bool
        True when the layer has state that is not trained (see above).
    per_sample : bool or None
        True when each sample's output and gradients depend on that sample alone
        (every built-in layer but BatchNorm, whose training uses the batch's
        statistics: False). The NumPy backend's ``threads=`` splits a training step
        over threads only when every layer (and the loss) says True; your own layers
        leave it None ("not known"), and their steps run whole, until you set it.

    Examples
    --------
    The protocol, step by step, on a built-in layer:

    >>> import numpy as np, anynet as an
    >>> layer = an.layers.Linear(3, 2)
    >>> params = {k: np.asarray(v) for k, v in layer.init(np.random.default_rng(0)).items()}
    >>> y, cache = layer.forward(params, np.ones((4, 3)))
    >>> dx, grads = layer.backward(params, cache, np.ones_like(y))
    >>> tuple(y.shape), tuple(dx.shape), {k: tuple(g.shape) for k, g in grads.items()}
    ((4, 2), (4, 3), {'W': (2, 3), 'b': (2,)})
    """

    regularized: ClassVar[tuple[str, ...]] = ()
    stochastic: ClassVar[bool] = False
    takes_first_row: ClassVar[bool] = False
    stateful: ClassVar[bool] = False
    per_sample: ClassVar[bool | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("_abstract", False):  # bases like SizedLayer are not saved layers
            LAYERS[cls.__name__] = cls

    def init(self, rng: Any) -> Params:
        """Initial parameters as host arrays (default: none)."""
        return {}

    def init_state(self) -> Params:
        """Initial state that is not trained, as host arrays (default: none)."""
        return {}

    def forward(
        self, params: Params, x: Array, /, *, training: bool = False, key: Array | None = None,
        xp: Any = None,
    ) -> tuple[Array, Any]:
        """Compute ``y`` from ``x``; return ``(y, cache)``."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(
        self, params: Params, cache: Any, dy: Array, /, *, need_dx: bool = True, xp: Any = None
    ) -> tuple[Array | None, Params]:
        """Given dL/dy, return ``(dL/dx, {name: dL/dparam})``."""
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        """Per-sample output shape for a per-sample input shape (``None``: unknown).

        Raise ``ValueError`` when the input cannot fit; :class:`~anynet.Sequential`
        calls this at construction so that sizes are checked before any data flows.
        """
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serializable (used by ``save``)."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return {}

    def __call__(self, params: Params, x: Array, /, **kwargs: Any) -> Array:
        """``layer(params, x)``: the forward output alone."""
        return self.forward(params, x, **kwargs)[0]


class SizedLayer(Layer):
    """A layer from ``in_features`` to ``out_features`` per sample (Linear, Maxout): the
    base class that checks the sizes of consecutive layers."""

    _abstract = True

    in_features: int
    out_features: int

    def output_shape(self, input_shape: Shape | None) -> Shape | None:
        if input_shape is not None and input_shape != (self.in_features,):
            raise ValueError(
                f"expects inputs of shape (N, {self.in_features}), "
                f"but receives (N, {', '.join(map(str, input_shape))})"
            )
        return (self.out_features,)


def namespace(xp: Any, *arrays: Array) -> Any:
    """The namespace: ``xp`` when given, else looked up from the arrays."""
    return xp if xp is not None else array_namespace(*arrays)
