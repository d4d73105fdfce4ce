"""Sequential: a stack of layers, its parameters, and the pure functions that train it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import _checks, _random
from ._backend import Backend, get_backend
from ._tree import Params
from .layers._base import Layer
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
    input_shape : tuple of int, optional
        Per-sample input shape, for networks that do not start with a sized
        layer (``Flatten`` first, say). Inferred from the first layer otherwise.

    Attributes
    ----------
    params : list of dict
        One dict of arrays per layer (``{}`` for layers without parameters);
        for ``Linear``: ``{"W": (out, in), "b": (out,)}``.

    Shapes
    ------
    x : (N, *input_shape) -> y : (N, *output_shape).

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
        self.backend: Backend = get_backend(backend, device)
        self.backend.dtype(dtype)  # float64 on JAX: turn x64 on now, before any array exists
        self.input_shape, self.output_shape = self._check_sizes(input_shape)
        rng = self.backend.host_rng(seed)
        host = [layer.init(rng) for layer in layers]
        self.params: Params = [
            {k: self.backend.asarray(v, dtype=dtype) for k, v in p.items()} for p in host
        ]
        self._compiled: dict[Any, Callable] = {}

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
        """The number of scalar parameters."""
        return sum(math.prod(v.shape) for p in self.params for v in p.values())

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts (also printed)."""
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
        text = "\n".join(lines)
        print(text)
        return text

    # ------------------------------------------------------------ pure core
    def forward(self, params: Params, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None) -> tuple[Array, list[Any]]:
        """Pure forward pass: ``(y, caches)``, one cache per layer.

        ``key`` (see :mod:`anynet._random`) feeds stochastic layers in training; each
        layer gets its own key folded from it.
        """
        xp = xp if xp is not None else array_namespace(x)
        caches = []
        for i, layer in enumerate(self.layers):
            k = _random.fold_in(key, i, xp=xp) if (key is not None and layer.stochastic) else None
            x, cache = layer.forward(params[i], x, training=training, key=k, xp=xp)
            caches.append(cache)
        return x, caches

    def backward(self, params: Params, caches: list[Any], dy: Array, /, *,
                 xp: Any = None) -> Params:
        """Pure backward pass: the chain rule from the last layer to the first.

        Returns the parameter gradients (the structure of ``params``). The input
        gradient of the first layer is not computed: training never needs it.
        """
        xp = xp if xp is not None else array_namespace(dy)
        grads: Params = [{}] * len(self.layers)
        for i in range(len(self.layers) - 1, -1, -1):
            dy, grads[i] = self.layers[i].backward(params[i], caches[i], dy, need_dx=i > 0, xp=xp)
        return grads

    def value_and_grads(self, params: Params, x: Array, t: Array, /, *, loss: Loss,
                        regularizer: Regularizer | None = None, training: bool = True,
                        key: Array | None = None, xp: Any = None
                        ) -> tuple[Array, Params, Array]:
        """Pure: ``(loss value as a 0-d array, grads, y)`` for one batch already on the backend."""
        xp = xp if xp is not None else array_namespace(x)
        y, caches = self.forward(params, x, training=training, key=key, xp=xp)
        value, dy = loss.value_and_grad(y, t, xp=xp)
        grads = self.backward(params, caches, dy, xp=xp)
        if regularizer is not None:
            penalty, rgrads = regularizer.value_and_grad(params, self.layers, xp=xp)
            value = value + penalty
            grads = [{k: g + r[k] if k in r else g for k, g in gd.items()}
                     for gd, r in zip(grads, rgrads)]
        return value, grads, y

    def train_step(self, *, loss: Loss, optimizer: Any, regularizer: Regularizer | None = None,
                   seed: int = 0, jit: bool = True) -> Callable:
        """The pure training step ``(params, opt_state, x, t) -> (params, opt_state, loss)``.

        Compiled with ``jax.jit`` on JAX (when ``jit``); ``x`` and ``t`` are one
        batch already on the backend. ``seed`` drives dropout together with
        ``opt_state["step"]``.

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
        inner = self._make_step(loss, optimizer, regularizer, seed)

        def step(params: Params, opt_state: dict, x: Array, t: Array) -> tuple[Params, dict, Array]:
            params, opt_state, value, _ = inner(params, opt_state, x, t)
            return params, opt_state, value

        return self.backend.jit(step) if jit else step

    def _make_step(self, loss: Loss, optimizer: Any, regularizer: Regularizer | None,
                   seed: int, *, gather: bool = False, inplace: bool = False, count: bool = True) -> Callable:
        """``(params, opt_state, x, t[, idx]) -> (params, opt_state, loss, n_correct)``.

        ``gather``: ``x``/``t`` are the whole data set and ``idx`` the batch's
        indices, gathered inside the step. ``inplace``: update params and state
        in place (only for arrays the caller owns, on backends that allow it).
        ``count=False``: the last output is the model's output ``y`` instead of the
        number of right predictions (the epoch then counts them all at once).
        """
        stochastic = any(getattr(layer, "stochastic", False) for layer in self.layers)
        classifies = getattr(loss, "classifies", False)
        # the namespace of the backend's arrays, resolved once (on NumPy: with faster reductions);
        # the step is only ever given arrays of the model's backend
        be_xp = self.backend.xp

        def step(params, opt_state, x, t, *idx):
            xp = be_xp
            if gather:  # batch gathered inside the (compiled) step: data stay put
                x = xp.take(x, idx[0], axis=0)
                t = xp.take(t, idx[0], axis=0)
            key = None
            if stochastic:
                n_update = xp.reshape(xp.astype(opt_state["step"], xp.int32), (1,))
                key = _random.fold_in(_random.key_from_seed(seed, xp=xp), n_update, xp=xp)
            value, grads, y = self.value_and_grads(params, x, t, loss=loss,
                                                   regularizer=regularizer, key=key, xp=xp)
            if not count:
                out = y
            elif classifies:
                out = loss.correct(y, t, xp=xp)
            else:
                out = value * 0.0
            params, opt_state = optimizer.update(params, grads, opt_state, inplace=inplace, xp=xp)
            return params, opt_state, value, out

        return step

    def _make_epoch(self, loss: Loss, optimizer: Any, regularizer: Regularizer | None, seed: int,
                    inplace: bool, batch_size: int, stack: bool) -> Callable:
        """``(params, opt_state, X, T, batches) -> (params, opt_state, loss_sum, n_correct)``
        for ``batches`` of shape (steps, batch_size): all full batches of an epoch in one
        ``Backend.scan`` (one compiled loop on JAX; a Python loop elsewhere).

        ``stack``: keep every step's output ``y`` and count the right predictions of
        the whole epoch in one call after the loop (a few operations per epoch instead
        of per step); else count them step by step (for outputs too large to keep).
        """
        be = self.backend
        classifies = getattr(loss, "classifies", False)
        stack = stack and classifies
        step = self._make_step(loss, optimizer, regularizer, seed, gather=True, inplace=inplace, count=not stack)

        def epoch(params, opt_state, X, T, batches):
            xp = be.xp
            zero = xp.zeros((), dtype=X.dtype, device=device_of(X))

            if stack:
                def body(carry, idx):
                    p, s, total = carry
                    p, s, value, y = step(p, s, X, T, idx)
                    return (p, s, total + value), y

                (params, opt_state, total), ys = be.scan(body, (params, opt_state, zero), batches)
                # all the epoch's outputs against their targets, in one call
                flat = xp.reshape(batches, (-1,))
                y_all = xp.reshape(ys, (flat.shape[0], *ys.shape[2:]))
                correct = loss.correct(y_all, xp.take(T, flat, axis=0), xp=xp)
                return params, opt_state, total * batch_size, correct

            def body(carry, idx):
                p, s, total, correct = carry
                p, s, value, c = step(p, s, X, T, idx)
                return (p, s, total + value, correct + c), None

            (params, opt_state, total, correct), _ = be.scan(body, (params, opt_state, zero, zero), batches)
            return params, opt_state, total * batch_size, correct  # every batch is full

        return epoch

    def _compiled_fn(self, kind: str, *config: Any) -> Callable:
        key = (kind, *config)
        fn = self._compiled.get(key)
        if fn is None:
            if kind == "step":
                loss, optimizer, regularizer, seed, inplace = config
                fn = self.backend.jit(self._make_step(loss, optimizer, regularizer, seed, gather=True,
                                                      inplace=inplace), donate_argnums=(0, 1))
            elif kind == "epoch":  # config: loss, optimizer, regularizer, seed, inplace, batch_size, stack
                fn = self.backend.jit(self._make_epoch(*config), donate_argnums=(0, 1))
            elif kind == "grads":  # (params, x, t, key) -> (value, grads)
                loss, regularizer, training = config

                def grads_fn(params, x, t, key):
                    value, grads, _ = self.value_and_grads(params, x, t, loss=loss, regularizer=regularizer,
                                                           training=training, key=key)
                    return value, grads

                fn = self.backend.jit(grads_fn)
            elif kind == "value":  # (params, x, t, key) -> value, for finite differences
                loss, regularizer, training = config

                def value_fn(params, x, t, key):
                    y = self.forward(params, x, training=training, key=key)[0]
                    value = loss.forward(y, t)
                    if regularizer is not None:
                        value = value + regularizer.value_and_grad(params, self.layers)[0]
                    return value

                fn = self.backend.jit(value_fn)
            elif kind == "predict":
                fn = self.backend.jit(lambda params, x: self.forward(params, x)[0])
            else:  # "evaluate"
                (loss,) = config

                def batch_eval(params, x, t):
                    y = self.forward(params, x)[0]
                    return loss.forward(y, t), loss.correct(y, t)

                fn = self.backend.jit(batch_eval)
            self._compiled[key] = fn
        return fn

    # ------------------------------------------------------------ inputs
    def _inputs(self, x: Any, *, name: str = "x", where: str = "predict") -> Array:
        """Validate inputs and put them on the backend in the model's dtype.

        Errors name ``name`` and ``where`` and say what was expected: a batch with
        the samples on axis 0, of the per-sample shape layer 0 takes, finite values.
        """
        be = self.backend
        x = _checks.to_backend(be, x, name=name, dtype=self.dtype, where=where)
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
        _checks.check_finite(be.xp, x, name=name, where=where)
        return x

    def _targets(self, t: Any, loss: Loss, *, name: str = "t", where: str = "fit",
                 n: int | None = None) -> Array:
        """Validate targets for ``loss`` and put them on the backend in the right dtype."""
        be = self.backend
        if not isinstance(loss, Loss) and not callable(getattr(loss, "value_and_grad", None)):
            raise TypeError(f"{where}: loss must be an anynet loss (e.g. an.losses.SoftmaxCrossEntropy()), "
                            f"got {loss!r}")
        kind = getattr(loss, "target", "any")
        _checks.check_source(be, t, name=name, where=where)
        if be.owns(t) and be.name != "numpy_readonly":
            _checks.check_device(be, t, name=name, where=where)
        host = _checks.host_array(t, name=name, where=where)
        if host.ndim == 0:
            raise ValueError(f"{where}: {name} must have the samples on axis 0, got a scalar")
        if n is not None and host.shape[0] != n:
            raise ValueError(f"{where}: x and {name} have different lengths: "
                             f"x has {n} samples, {name} has {host.shape[0]}")
        if host.dtype.kind == "f":
            _checks.check_finite(array_namespace(host), host, name=name, where=where)
        out = self.output_shape
        cls = type(loss).__name__
        if kind == "labels":
            n_classes = out[-1] if out else None
            if host.ndim == 2 and host.shape[1] == 1 and n_classes != 1:
                raise ValueError(f"{where}: {name} for {cls} has shape {host.shape}: give class labels as "
                                 f"shape ({host.shape[0]},) ({name}.ravel()) or one-hot rows of width "
                                 f"{n_classes}")
            if host.ndim == 1:
                if host.dtype.kind == "f":
                    frac = host != host.round()
                    if frac.any():
                        i = int(frac.argmax())
                        raise ValueError(f"{where}: {name} for {cls} must be integer class labels, "
                                         f"got non-integer values such as {name}[{i}] = {host[i]}")
                elif host.dtype.kind not in "iu":
                    raise TypeError(f"{where}: {name} for {cls} must be integer class labels, "
                                    f"got dtype {host.dtype}")
                lo, hi = int(host.min()), int(host.max())
                if lo < 0 or (n_classes is not None and hi >= n_classes):
                    bad = (host < 0) if n_classes is None else (host < 0) | (host >= n_classes)
                    i = int(bad.argmax())
                    allowed = ">= 0" if n_classes is None else f"in [0, {n_classes - 1}]"
                    raise ValueError(
                        f"{where}: {name} for {cls} holds labels in [{lo}, {hi}] but the model has "
                        f"{n_classes} outputs, so labels must be {allowed} (the first that is not: "
                        f"{name}[{i}] = {int(host[i])})"
                    )
                return be.asarray(host.astype("int64"), dtype=be.default_int())
            if host.ndim == 2:
                if n_classes is not None and host.shape[1] != n_classes:
                    raise ValueError(f"{where}: {name} for {cls} has one-hot rows of width "
                                     f"{host.shape[1]} but the model has {n_classes} outputs")
                return be.asarray(host, dtype=self.dtype)
            raise ValueError(f"{where}: {name} for {cls} must be labels (N,) or one-hot rows (N, C), "
                             f"got shape {host.shape}")
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{where}: {name} must hold numbers, got dtype {host.dtype}")
        if out is not None:
            want = (host.shape[0], *out)
            if host.shape != want:
                if math.prod(host.shape) == math.prod(want):
                    host = host.reshape(want)  # (N,) targets for a (N, 1) output
                else:
                    raise ValueError(f"{where}: {name} of shape {host.shape} does not match the "
                                     f"model's output {_checks.fmt_shape(out)} for {cls}: "
                                     f"expected shape {want}")
        if kind == "binary" and ((host < 0) | (host > 1)).any():
            raise ValueError(f"{where}: {name} for {cls} must be in [0, 1], got values in "
                             f"[{host.min()}, {host.max()}]")
        if kind == "sign" and not ((host == 1) | (host == -1)).all():
            vals = sorted(set(host.ravel().tolist()))[:5]
            raise ValueError(f"{where}: {name} for {cls} must be -1 or +1, got values {vals}"
                             + (" (use 2 * t - 1 for 0/1 labels)" if set(vals) <= {0, 1} else ""))
        return be.asarray(host, dtype=self.dtype)

    # ------------------------------------------------------------ user API
    def predict(self, x: Any, /, *, batch_size: int | None = None) -> Array:
        """Forward pass in inference mode (dropout off).

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
        X = self._inputs(x, where="predict")
        fn = self._compiled_fn("predict")
        n = X.shape[0]
        if batch_size is not None:
            _checks.check_positive_int(batch_size, name="batch_size", where="predict")
        if batch_size is None or batch_size >= n:
            return fn(self.params, X)
        parts = [fn(self.params, X[i:min(n, i + batch_size), ...]) for i in range(0, n, batch_size)]
        return self.backend.xp.concat(parts, axis=0)

    def loss_and_grads(self, x: Any, t: Any, /, *, loss: Loss, regularizer: Regularizer | None = None,
                       training: bool = True, seed: int = 0) -> tuple[float, Params]:
        """The loss on ``(x, t)`` and its gradient w.r.t. every parameter.

        Returns
        -------
        value : float
            Mean loss over the batch, plus the regularization penalty.
        grads : list of dict
            The structure and shapes of :attr:`params`.
        """
        X = self._inputs(x, where="loss_and_grads")
        T = self._targets(t, loss, where="loss_and_grads", n=X.shape[0])
        key = None
        if training and any(getattr(layer, "stochastic", False) for layer in self.layers):
            key = _random.key_from_seed(seed, xp=self.backend.xp)
        # compiled on JAX: one program instead of dozens of eagerly dispatched operations
        value, grads = self._compiled_fn("grads", loss, regularizer, training)(self.params, X, T, key)
        return float(value), grads

    def evaluate(self, x: Any, t: Any, /, *, loss: Loss, regularizer: Regularizer | None = None,
                 batch_size: int = 4096) -> dict[str, float]:
        """Mean loss (with the penalty, if any) and, for classification losses, accuracy.

        Returns ``{"loss": float, "accuracy": float}`` (no ``"accuracy"`` for MSE).
        """
        _checks.check_positive_int(batch_size, name="batch_size", where="evaluate")
        X = self._inputs(x, where="evaluate")
        T = self._targets(t, loss, where="evaluate", n=X.shape[0])
        return self._evaluate(X, T, loss, regularizer, batch_size)

    def _evaluate(self, X: Array, T: Array, loss: Loss, regularizer: Regularizer | None,
                  batch_size: int) -> dict[str, float]:
        fn = self._compiled_fn("evaluate", loss)
        n = X.shape[0]
        total, correct = 0.0, 0.0
        for i in range(0, n, batch_size):
            j = min(n, i + batch_size)  # in bounds: the standard leaves larger stops unspecified
            value, c = fn(self.params, X[i:j, ...], T[i:j, ...])
            b = j - i
            total = total + value * b
            correct = None if c is None else correct + c
        out = {"loss": float(total) / n}
        if regularizer is not None:
            out["loss"] += float(regularizer.value_and_grad(self.params, self.layers)[0])
        if correct is not None:
            out["accuracy"] = float(correct) / n
        return out

    def fit(self, x: Any, t: Any, /, **kwargs: Any) -> Any:
        """Train with mini-batch gradient descent; see :func:`anynet.train.fit` for every option.

        Returns a :class:`~anynet.train.History` (``.history["loss"]``, ``["accuracy"]``,
        ``["val_loss"]``, ``["val_accuracy"]``, one value per epoch).
        """
        from .train import fit

        return fit(self, x, t, **kwargs)

    def save(self, path: Any, **kwargs: Any) -> None:
        """Write the model to one ``.npz`` file (architecture as JSON, weights, no pickle),
        atomically; ``an.load(path)`` reads it back. See :func:`anynet.io.save` for
        ``opt_state=``, ``optimizer=`` and ``extra=``."""
        from .io import save

        save(self, path, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # compiled functions are rebuilt on demand; arrays pickle through their libraries
        return {k: v for k, v in self.__dict__.items() if k != "_compiled"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compiled = {}

    def to(self, backend: str | Backend | None = None, device: Any = None, *,
           dtype: str | None = None) -> Sequential:
        """A copy of this model on another backend/device (DLPack where possible, else
        via the host), optionally in another dtype (``"float32"``/``"float64"``)."""
        be = self.backend if backend is None else get_backend(backend, device)
        dtype = self.dtype if dtype is None else dtype
        if dtype not in ("float32", "float64"):
            raise ValueError(f"Sequential.to: dtype must be 'float32' or 'float64', got {dtype!r}")
        new = object.__new__(Sequential)
        new.layers, new.dtype, new.seed = self.layers, dtype, self.seed
        new.input_shape, new.output_shape = self.input_shape, self.output_shape
        new.backend = be
        be.dtype(dtype)
        new.params = [{k: be.asarray(v, dtype=dtype) for k, v in p.items()} for p in self.params]
        new._compiled = {}
        return new

    def export_onnx(self, path: Any, /, **kwargs: Any) -> Any:
        """Write the inference pass to an ONNX file; see :func:`anynet.export.export_onnx`
        for ``outputs=``, ``loss=``, ``standardize=``, ``opset=`` (needs ``anynet[onnx]``)."""
        from .export import export_onnx

        return export_onnx(self, path, **kwargs)
