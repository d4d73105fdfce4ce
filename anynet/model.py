"""Sequential: a stack of layers, its parameters and state, and what users call on it.

The model holds the structure (layers, sizes, dtype, backend) and the arrays
(``params``, ``state``); the computing is done by its :class:`~anynet.engine.Engine`,
training by :func:`anynet.train.fit` and files by :mod:`anynet.io`. The
methods here check what users hand in (clear errors before any work) and call
those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from array_api_compat import array_namespace

from . import _checks, _random, export, io, losses, metrics, train
from ._tree import Params, tree_map
from .backends import Backend, get_backend, to_numpy
from .engine import Engine, TrainConfig
from .layers import Layer
from .losses import Loss, Regularizer

Array = Any

__all__ = ["Sequential"]


class Sequential:
    """Layers applied one after the other, with explicit forward and backward passes.

    Parameters
    ----------
    layers : iterable of Layer
        The layers, first to last. Consecutive sizes are checked here, before
        any data flows.
    seed : int
        Seeds the host generator that draws the initial weights: the same seed
        gives the same network on every backend.
    dtype : {"float32", "float64"}
        Floating-point type of parameters and computation (float64 on JAX turns
        on ``jax_enable_x64``, with a warning).
    backend : str or Backend, optional
        Where the model lives (default: the current backend, see :func:`anynet.use`).
        A model keeps its backend; :meth:`to` makes a copy on another.
    device : optional
        Device on that backend (default: its default device).
    devices : "all", int or list, optional
        JAX: train data-parallel over several devices (see :func:`anynet.use`).
    input_shape : tuple of int, optional
        Per-sample input shape, for networks that do not start with a sized
        layer (``Flatten`` first, say). Inferred from the first layer otherwise.

    Attributes
    ----------
    params : list of dict
        One dict of arrays per layer (``{}`` for layers without parameters);
        for ``Linear``: ``{"W": (out, in), "b": (out,)}``.
    state : list of dict
        One dict per layer of state that is not trained (``{}`` for most layers;
        BatchNorm's running mean and variance), updated by training.
    engine : Engine
        The pure functions that compute with this model's layers on its backend.
    optimizer, opt_state : Optimizer, dict
        Set by :meth:`fit`: the optimizer of the last fit and its state, which the next
        fit with an equal optimizer continues (``reset_optimizer=True`` starts afresh).

    Shapes
    ------
    x : ``(N, *input_shape)`` -> y : ``(N, *output_shape)``.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(4, 8), an.layers.ReLU(),
    ...                        an.layers.Linear(8, 3)], seed=0)
    >>> tuple(model.predict(np.ones((2, 4))).shape)
    (2, 3)
    """

    def __init__(
        self,
        layers: Iterable[Layer],
        *,
        seed: int = 0,
        dtype: str = "float32",
        backend: str | Backend | None = None,
        device: Any = None,
        devices: Any = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        layers = tuple(layers)
        if not layers:
            raise ValueError("Sequential: layers is empty; give at least one layer")
        for i, layer in enumerate(layers):
            if not all(callable(getattr(layer, m, None)) for m in ("init", "forward", "backward")):
                raise TypeError(
                    f"Sequential: layer {i} is a {type(layer).__name__}, not a layer "
                    "(a layer has init, forward and backward methods; subclass anynet.layers.Layer)"
                )
        _checks.check_positive_int(seed, name="seed", where="Sequential", minimum=0)
        if dtype not in ("float32", "float64"):
            raise ValueError(f"Sequential: dtype must be 'float32' or 'float64', got {dtype!r}")
        self.layers: tuple[Layer, ...] = layers
        self.dtype: str = dtype
        self.seed: int = seed
        self.backend: Backend = get_backend(backend, device, devices=devices)
        self.backend.dtype(dtype)  # float64 on JAX: turn x64 on now, before any array exists
        self.input_shape, self.output_shape = self._check_sizes(input_shape)
        rng = self.backend.host_rng(seed)
        host = [layer.init(rng) for layer in layers]
        self.params: Params = self._put(host)
        self.state: Params = self._put([getattr(layer, "init_state", dict)() for layer in layers])
        self.engine = Engine(layers, self.backend)

    def _put(self, tree: Any, backend: Backend | None = None, dtype: str | None = None) -> Any:
        """``tree``'s arrays (host or any backend) on ``backend`` in ``dtype`` (default: the model's)."""
        be, dt = backend or self.backend, dtype or self.dtype
        # not tree_map: a layer's init may give host values as nested lists, each one array
        return [{k: be.asarray(v, dtype=dt) for k, v in d.items()} for d in tree]

    # ------------------------------------------------------------ structure
    def _check_sizes(self, input_shape: tuple[int, ...] | None) -> tuple[Any, Any]:
        if input_shape is None:
            n_in = getattr(self.layers[0], "in_features", None)
            input_shape = (n_in,) if isinstance(n_in, int) else None
        else:
            input_shape = tuple(int(s) for s in input_shape)
        shape = input_shape
        for i, layer in enumerate(self.layers):
            try:
                new = layer.output_shape(shape)
            except ValueError as exc:
                prev = (f"layer {i - 1} ({self.layers[i - 1]!r}) outputs {_checks.fmt_shape(shape)}"
                        if i else f"the input is {_checks.fmt_shape(shape)}")
                raise ValueError(
                    f"Sequential: layer {i} ({layer!r}) does not fit: it {exc}; {prev}"
                ) from None
            shape = None if new is None else tuple(new)
        return input_shape, shape

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return (f"Sequential(\n{inner}\n) on {self.backend.name} ({self.backend.device}), "
                f"{self.dtype}, {self.count_params():,} parameters")

    def count_params(self) -> int:
        """The number of scalar parameters (trained ones; ``state`` is not counted)."""
        return sum(math.prod(v.shape) for p in self.params for v in p.values())

    def summary(self) -> None:
        """Print a table of layers, output shapes and parameter counts (as Keras: returns None)."""
        rows = [("#", "layer", "output", "params")]
        shape = self.input_shape
        for i, (layer, p) in enumerate(zip(self.layers, self.params)):
            shape = layer.output_shape(shape)
            rows.append((str(i), repr(layer), _checks.fmt_shape(shape),
                         f"{sum(math.prod(v.shape) for v in p.values()):,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total: {self.count_params():,} parameters, {self.dtype}, "
                     f"backend {self.backend.name} ({self.backend.device})")
        print("\n".join(lines))

    # ------------------------------------------------------------ the pure core (see Engine)
    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None, state: Params | None = None
                ) -> tuple[Array, list[Any]]:
        """Pure forward pass: ``(y, caches)``, one cache per layer (layer state from
        ``state``, default ``self.state``; ``engine.forward`` also returns its update)."""
        y, caches, _ = self.engine.forward(params, self.state if state is None else state, x,
                                           training=training, key=key, xp=xp)
        return y, caches

    def backward(self, params: Params, caches: list[Any], dy: Array, /, *, xp: Any = None) -> Params:
        """Pure backward pass: the chain rule from the last layer to the first; returns the
        parameter gradients (the structure of ``params``)."""
        return self.engine.backward(params, caches, dy, xp=xp)

    def value_and_grads(self, params: Params, x: Array, t: Array, /, *, loss: Loss,
                        regularizer: Regularizer | None = None, training: bool = True,
                        key: Array | None = None, xp: Any = None, state: Params | None = None
                        ) -> tuple[Array, Params, Array]:
        """Pure: ``(loss value as a 0-d array, grads, y)`` for one batch already on the backend."""
        value, grads, _, y = self.engine.value_and_grads(
            params, self.state if state is None else state, x, t, loss=loss, regularizer=regularizer,
            training=training, key=key, xp=xp)
        return value, grads, y

    def train_step(self, *, loss: Loss, optimizer: Any, regularizer: Regularizer | None = None,
                   seed: int = 0, jit: bool = True) -> Callable:
        """The pure training step ``(params, opt_state, x, t) -> (params, opt_state, loss)``.

        Compiled with ``jax.jit`` on JAX (when ``jit``); ``x`` and ``t`` are one
        batch already on the backend. ``seed`` drives dropout together with
        ``opt_state["step"]``. A model with layer state (``self.state`` not all
        empty: BatchNorm) takes it as a fifth argument and returns its update
        fourth: ``(params, opt_state, x, t, state) -> (params, opt_state, loss, state)``.

        Examples
        --------
        >>> import numpy as np, anynet as an
        >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
        >>> opt = an.optim.SGD(lr=0.1)
        >>> step = model.train_step(loss=an.losses.SoftmaxCrossEntropy(), optimizer=opt)
        >>> be = model.backend  # one batch already on the model's backend
        >>> x, t = be.asarray(np.ones((4, 2)), dtype="float32"), be.asarray(np.asarray([0, 1, 1, 0]))
        >>> params, state, value = step(model.params, opt.init(model.params), x, t)
        >>> float(state["step"]), tuple(value.shape)
        (1.0, ())
        """
        inner = self.engine.train_step(TrainConfig(loss, optimizer, regularizer, seed))
        engine = self.engine

        if engine.stateful:
            def step(params: Params, opt_state: dict, x: Array, t: Array, *state: Params) -> Any:
                if len(state) != 1:
                    raise TypeError("train_step: this model has layer state (model.state); call "
                                    "step(params, opt_state, x, t, state) -> (params, opt_state, loss, state)")
                params, new_state, opt_state, value, _ = inner(params, state[0], opt_state, x, t)
                return params, opt_state, value, new_state
        else:
            def step(params: Params, opt_state: dict, x: Array, t: Array) -> Any:
                params, _, opt_state, value, _ = inner(params, self.state, opt_state, x, t)
                return params, opt_state, value

        return self.backend.jit(step) if jit else step

    # ------------------------------------------------------------ checking what users hand in
    def check_inputs(self, x: Any, *, name: str = "x", where: str = "predict") -> Array:
        """``x`` checked and put on the backend in the model's dtype.

        Errors name ``name`` and ``where`` and say what was expected: a batch with
        the samples on axis 0, of the per-sample shape layer 0 takes, finite values.
        """
        be = self.backend
        x = _checks.to_backend(be, x, name=name, dtype=self.dtype, where=where, finite=True)
        shape = tuple(x.shape)
        expected = None if self.input_shape is None else tuple(self.input_shape)
        first = self.layers[0]
        want = "" if expected is None else f" of shape {_checks.fmt_shape(expected)}"
        if x.ndim == 0:
            raise ValueError(f"{where}: {name} must be a batch with the samples on axis 0{want}, "
                             "got a scalar")
        if expected is not None and x.ndim != len(expected) + 1:
            hint = ""
            if shape == expected:
                hint = f"; it looks like one sample: pass a batch of one, shape {(1, *expected)}"
            elif x.ndim >= 2 and math.prod(shape[1:]) == math.prod(expected):
                hint = f"; reshape it to {(shape[0], *expected)}"
                if len(expected) == 1:
                    hint += " or start the model with an.layers.Flatten()"
            raise ValueError(f"{where}: {name} must be {len(expected) + 1}-d{want} (samples on axis 0) "
                             f"for layer 0 ({first!r}), got shape {shape}{hint}")
        _checks.check_batch_axis(x, name=name, where=where, min_ndim=2)
        got = shape[1:]
        if expected is not None and got != expected:
            if len(expected) == 1 and len(got) == 1:
                what = f"{got[0]} features but layer 0 ({first!r}) expects {expected[0]}"
            else:
                what = f"per-sample shape {got} but the model expects {expected} (layer 0: {first!r})"
            raise ValueError(f"{where}: {name} of shape {shape} has {what}")
        return x

    def check_targets(self, t: Any, loss: Loss, *, n: int | None = None, name: str = "t",
                      where: str = "fit") -> Array:
        """Targets checked for ``loss`` (the loss's own rules: :meth:`anynet.losses.Loss.check_targets`)
        and put on the backend: class labels as integers, anything else in the model's dtype.
        ``n``: the number of samples they must have."""
        be = self.backend
        if not callable(getattr(loss, "value_and_grad", None)) or not callable(
                getattr(loss, "check_targets", None)):
            raise TypeError(f"{where}: loss must be an anynet loss (e.g. an.losses.SoftmaxCrossEntropy()), "
                            f"got {loss!r}")
        _checks.check_source(be, t, name=name, where=where)
        if be.owns(t):
            _checks.check_device(be, t, name=name, where=where)
        host = _checks.host_array(t, name=name, where=where)
        if host.ndim == 0:
            raise ValueError(f"{where}: {name} must have the samples on axis 0, got a scalar")
        if n is not None and host.shape[0] != be.local_count(n):  # several processes: this one's part
            raise ValueError(f"{where}: x and {name} have different lengths: "
                             f"x has {n} samples, {name} has {host.shape[0]}")
        if host.dtype.kind == "f":
            _checks.check_finite(array_namespace(host), host, name=name, where=where)
        out = loss.check_targets(host, self.output_shape, name=name, where=where)
        # integer labels stay integers for the losses that take labels; 0/1 or -1/+1 integers for
        # the others become floats (array API: no int * float promotion, JAX and strict refuse it)
        labels = out.dtype.kind in "iu" and getattr(loss, "target", None) == "labels"
        return be.put_data(out, dtype=be.default_int() if labels else self.dtype)

    # ------------------------------------------------------------ user API
    def predict(self, x: Any, /, *, batch_size: int | None = None) -> Array:
        """Forward pass in inference mode (dropout off, running statistics).

        Parameters
        ----------
        x : array (N, *input_shape)
            NumPy or this model's backend; cast to the model's dtype.
        batch_size : int, optional
            Compute in chunks of this many samples (default: all at once).

        Returns
        -------
        array (N, *output_shape) of the model's backend.
        """
        X = self.check_inputs(x, where="predict")
        if batch_size is not None:
            _checks.check_positive_int(batch_size, name="batch_size", where="predict")
        fn = self.engine.compiled("predict")
        n = X.shape[0]
        if batch_size is None or batch_size >= n:
            return fn(self.params, self.state, self.backend.put_batch(X))
        parts = [fn(self.params, self.state, X[i:min(n, i + batch_size), ...]) for i in range(0, n, batch_size)]
        return self.backend.xp.concat(parts, axis=0)

    def predict_proba(self, x: Any, /, *, loss: Loss | str | None = None, batch_size: int | None = None) -> Array:
        """Class probabilities: the softmax of the outputs for a model with several outputs,
        the sigmoid for one output (the logit of class 1). ``loss`` (the training loss) decides
        instead when given: see :func:`anynet.metrics.probabilities`.

        Shapes
        ------
        x ``(N, *input_shape)`` -> (N, C) rows summing to 1, or (N, 1) P(class 1).

        Examples
        --------
        >>> import numpy as np, anynet as an
        >>> model = an.Sequential([an.layers.Linear(4, 3)], seed=0)
        >>> p = an.backends.to_numpy(model.predict_proba(np.ones((2, 4))))
        >>> p.shape, np.allclose(p.sum(axis=1), 1.0)
        ((2, 3), True)
        """
        loss = _loss(loss)
        return metrics.probabilities(self.predict(x, batch_size=batch_size), loss=loss)

    def predict_classes(self, x: Any, /, *, loss: Loss | str | None = None, batch_size: int | None = None
                        ) -> Array:
        """Predicted class labels: the argmax of the outputs, or for one output 1 where its
        logit is > 0: the decisions ``fit``'s accuracy counts (``loss`` as in :meth:`predict_proba`).

        Keras 2.6 removed ``predict_classes`` because a model could not know what its
        outputs meant; here ``loss`` (or the rule above) says it, so the method stays.

        Shapes
        ------
        x ``(N, *input_shape)`` -> (N,) integers of the model's backend.

        Examples
        --------
        >>> import numpy as np, anynet as an
        >>> model = an.Sequential([an.layers.Linear(2, 3)], seed=0)
        >>> tuple(model.predict_classes(np.eye(2)).shape)
        (2,)
        """
        loss = _loss(loss)
        return metrics.labels(self.predict(x, batch_size=batch_size), loss=loss)

    def loss_and_grads(self, x: Any, t: Any, /, *, loss: Loss, regularizer: Regularizer | None = None,
                       training: bool = True, seed: int = 0) -> tuple[float, Params]:
        """The loss on ``(x, t)`` and its gradient w.r.t. every parameter.

        Returns
        -------
        value : float
            Mean loss over the batch, plus the regularization penalty.
        grads : list of dict
            The structure and shapes of ``self.params``.
        """
        loss = losses.get(loss)
        X = self.check_inputs(x, where="loss_and_grads")
        T = self.check_targets(t, loss, where="loss_and_grads", n=X.shape[0])
        key = _random.key_from_seed(seed, xp=self.backend.xp) if training and self.engine.stochastic else None
        fn = self.engine.compiled("grads", TrainConfig(loss, None, regularizer), training)
        value, grads = fn(self.params, self.state, X, T, key)
        return float(value), grads

    def evaluate(self, x: Any, t: Any, /, *, loss: Loss | str, regularizer: Regularizer | None = None,
                 batch_size: int = 4096, metrics: Any = (), sample_weight: Any = None) -> dict[str, float]:
        """Mean loss (with the penalty, if any) and, for classification losses, accuracy.

        Returns ``{"loss": float, "accuracy": float}`` (no ``"accuracy"`` for MSE), plus one
        entry per metric of ``metrics`` (names or :class:`anynet.metrics.Metric` objects:
        ``"f1"``, ``"roc_auc"``, ``"r2"``...; see :func:`anynet.train.fit`).
        ``sample_weight`` (N,), optional, weighs the loss as ``fit`` does,
        ``sum_i w_i L_i / N``; accuracy and ``metrics`` stay unweighted (Keras's
        ``metrics=`` are too).
        """
        _checks.check_positive_int(batch_size, name="batch_size", where="evaluate")
        loss = losses.get(loss)
        X = self.check_inputs(x, where="evaluate")
        T = self.check_targets(t, loss, where="evaluate", n=X.shape[0])
        W = train.sample_weights(self, T, loss, sample_weight, None, "evaluate")
        return train.evaluate(self.engine, self.params, self.state, X, T, loss=loss, regularizer=regularizer,
                              batch_size=batch_size, metrics=metrics, sample_weight=W)

    def fit(self, x: Any, t: Any, /, **kwargs: Any) -> train.History:
        """Train with mini-batch gradient descent; see :func:`anynet.train.fit` for every option.

        Returns a :class:`~anynet.train.History` (``.history["loss"]``, ``["accuracy"]``,
        ``["val_loss"]``, ``["val_accuracy"]``, one value per epoch).
        """
        return train.fit(self, x, t, **kwargs)

    def save(self, path: Any, **kwargs: Any) -> None:
        """Write the model to one ``.npz`` file (architecture as JSON, weights, no pickle),
        atomically; ``an.load(path)`` reads it back. See :func:`anynet.io.save` for
        ``opt_state=``, ``optimizer=`` and ``extra=``."""
        io.save(self, path, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # compiled functions are rebuilt on demand; arrays pickle through their libraries
        return {k: v for k, v in self.__dict__.items() if k != "engine"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.state = state.get("state", [{} for _ in self.layers])
        self.engine = Engine(self.layers, self.backend)

    def to(self, backend: str | Backend | None = None, device: Any = None, *,
           dtype: str | None = None, devices: Any = None) -> Sequential:
        """A copy of this model (parameters and layer state) on another backend/device
        (DLPack where possible, else via the host), optionally in another dtype, or
        replicated over ``devices`` for data-parallel training (JAX)."""
        if backend is None and device is None and devices is None:
            be = self.backend
        else:
            be = get_backend(self.backend.name if backend is None else backend, device, devices=devices)
        dtype = self.dtype if dtype is None else dtype
        if dtype not in ("float32", "float64"):
            raise ValueError(f"Sequential.to: dtype must be 'float32' or 'float64', got {dtype!r}")
        be.dtype(dtype)
        new = object.__new__(Sequential)
        new.layers, new.dtype, new.seed = self.layers, dtype, self.seed
        new.input_shape, new.output_shape = self.input_shape, self.output_shape
        new.backend = be
        new.params = self._put(self.params, be, dtype)
        new.state = self._put(self.state, be, dtype)
        new.engine = Engine(self.layers, be)
        return new

    # ------------------------------------------------------------ for io
    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-ready values (what :func:`anynet.io.save` writes)."""
        return {"layers": list(self.layers), "dtype": self.dtype, "seed": self.seed,
                "input_shape": None if self.input_shape is None else list(self.input_shape)}

    @classmethod
    def from_config(cls, config: dict[str, Any], *, backend: Backend) -> Sequential:
        """A model of the saved architecture on ``backend`` (its weights are set by the caller)."""
        shape = config["input_shape"]
        return cls(config["layers"], seed=config["seed"], dtype=config["dtype"], backend=backend,
                   input_shape=None if shape is None else tuple(shape))

    def host_arrays(self) -> tuple[Params, Params]:
        """``(params, state)`` as host (NumPy) arrays."""
        return tree_map(to_numpy, self.params), tree_map(to_numpy, self.state)


    def export_onnx(self, path: Any, /, **kwargs: Any) -> Any:
        """Write the inference pass to an ONNX file; see :func:`anynet.export.export_onnx`
        for ``outputs=``, ``loss=``, ``standardize=``, ``opset=`` (needs the ``onnx`` extra)."""
        return export.export_onnx(self, path, **kwargs)


def _loss(loss: Any) -> Any:
    return None if loss is None else losses.get(loss)


io.register_model(Sequential)
