"""The engine: the pure functions that run and train a stack of layers, and their
compiled forms.

Everything here is a pure function of arrays (no array is written in place, no
global is read), so that a backend that compiles (``jax.jit``) can turn a whole
training step, or a whole epoch, into one program. The engine knows layers,
losses, optimizers and the backend; it does not know the model class, the fit
loop or files (those sit above it and call it).

How one batch travels (see ``docs/architecture.md``)::

    forward:   x -> layer 0 -> ... -> layer L-1 -> y        (each keeps a cache)
    loss:      value, dy = loss.value_and_grad(y, t)
    backward:  dy -> layer L-1 -> ... -> layer 0             (each returns its grads)
    update:    params, opt_state = optimizer.update(params, grads, opt_state)

Layer state that is not trained (``layer.stateful``: BatchNorm's running
statistics) travels beside the parameters: ``state`` is a list with one dict per
layer, and every function here takes it and returns its new value.

The compiled functions are cached per :class:`Engine` under a frozen
:class:`TrainConfig` (loss, optimizer, regularizer, seed: all frozen
dataclasses, so equal settings find the same compiled program).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from array_api_compat import device as device_of

from . import _inplace, _random
from ._packing import KEY, Packing
from ._tree import Params, leaves
from .backends import Backend
from .layers import Conv2D, Layer, MaxPool2D, ReLU
from .losses import Loss, Regularizer

__all__ = ["Engine", "TrainConfig"]

Array = Any
State = list[dict[str, Any]]


def _execution_order(layers: tuple[Layer, ...]) -> tuple[int, ...]:
    """The order the engine runs the layers in: as given, except that a ``ReLU`` right before a
    ``MaxPool2D`` runs after it.

    The two commute, exactly: ``max(relu(a), relu(b)) = relu(max(a, b))`` (ReLU does not
    change which value is largest), and the gradients agree too, bit for bit: both send
    ``dy`` to the window's first maximum when it is positive, and nothing anywhere else
    (where the largest value is <= 0, ReLU's gradient is 0 either way; ties among values
    > 0 go to the same first one). Pooling first, ReLU touches a quarter of the values
    (2x2 pooling): on W4's first conv output, 1.4 of the step's ~20 ms on NumPy. Only the
    order changes: every layer keeps its index, its parameters, its cache and its key.
    """
    order = list(range(len(layers)))
    for i in range(len(layers) - 1):
        if type(layers[i]) is ReLU and type(layers[i + 1]) is MaxPool2D and order[i] == i:
            order[i], order[i + 1] = i + 1, i
    return tuple(order)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What a training step depends on besides the arrays: the key of the compile cache.

    Attributes
    ----------
    loss : Loss
    optimizer : Optimizer or None
        ``None`` for functions that do not update (gradients, evaluation).
    regularizer : Regularizer, optional
    seed : int
        Drives stochastic layers (dropout) together with the update count.
    packing : Packing, optional
        The parameters travel as one flat array (see ``anynet._packing``).
    inplace : bool
        Update the parameters and the optimizer's buffers in place (``anynet._inplace``):
        only for arrays the caller owns, on backends whose arrays can be written.

    Examples
    --------
    >>> import anynet as an
    >>> a = an.engine.TrainConfig(an.losses.SoftmaxCrossEntropy(), an.optim.SGD(lr=0.1))
    >>> b = an.engine.TrainConfig(an.losses.SoftmaxCrossEntropy(), an.optim.SGD(lr=0.1))
    >>> a == b, hash(a) == hash(b)  # equal settings: the same compiled program
    (True, True)
    """

    loss: Loss
    optimizer: Any = None
    regularizer: Regularizer | None = None
    seed: int = 0
    packing: Packing | None = None
    inplace: bool = False


class Engine:
    """The pure forward, backward and training functions of ``layers`` on ``backend``.

    Parameters
    ----------
    layers : tuple of Layer
    backend : Backend
        Its namespace is used inside every function (the arrays are its arrays),
        and its :meth:`~anynet.backends.Backend.jit` compiles them.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(3, 2), an.layers.ReLU()], seed=0)
    >>> engine, xp = model.engine, model.backend.xp
    >>> x = model.backend.asarray(np.ones((4, 3)), dtype="float32")  # arrays of the model's backend
    >>> y, caches, state = engine.forward(model.params, model.state, x)
    >>> grads = engine.backward(model.params, caches, xp.ones_like(y))
    >>> tuple(y.shape), sorted(grads[0]), state
    ((4, 2), ['W', 'b'], [{}, {}])
    """

    def __init__(self, layers: tuple[Layer, ...], backend: Backend) -> None:
        self.layers = tuple(layers)
        self.backend = backend
        # per layer: (layer, stochastic, stateful), read once here rather than at every step
        self._plan = tuple((layer, bool(getattr(layer, "stochastic", False)), bool(getattr(layer, "stateful", False)))
                           for layer in self.layers)
        self._order = _execution_order(self.layers)
        # conv index -> the index of the MaxPool2D run with it as one step (Conv2D.forward_pooled)
        self._fused = {i: j for i, j in zip(self._order, self._order[1:])
                       if isinstance(self.layers[i], Conv2D) and self.layers[i].pools_with(self.layers[j])}
        self._pooled = frozenset(self._fused.values())
        self.stochastic = any(p[1] for p in self._plan)
        self.stateful = any(p[2] for p in self._plan)
        # whether a step may be split over threads as far as the layers go (see _shards): each
        # treats its samples alone, none keeps state, every stochastic one draws a slice's numbers
        self._splittable = (not self.stateful and all(layer.per_sample is True for layer in self.layers)
                            and all(layer.takes_first_row for layer, stochastic, _ in self._plan if stochastic))
        self._compiled: dict[tuple[Any, ...], Callable] = {}

    def __repr__(self) -> str:
        return f"Engine({len(self.layers)} layers on {self.backend!r}, {len(self._compiled)} compiled)"

    # ------------------------------------------------------------------ the pure core
    def forward(self, params: Params, state: State, x: Array, /, *, training: bool = False,
                key: Array | None = None, xp: Any = None, first_row: int = 0) -> tuple[Array, list[Any], State]:
        """``(y, caches, new_state)``: every layer in turn, each keeping its cache.

        ``key`` feeds stochastic layers in training; layer ``i`` gets ``fold_in(key, i)``.
        ``first_row`` (a step split over threads): the row of the whole batch that ``x``'s
        first row is, passed on to stochastic layers (``takes_first_row``).
        """
        xp = xp if xp is not None else self.backend.xp
        caches: list[Any] = [None] * len(self._plan)
        new_state = list(state)
        for i in self._order:  # 0, 1, 2, ... (see _execution_order)
            if i in self._pooled:  # run with its convolution
                continue
            if i in self._fused:
                j = self._fused[i]
                x, caches[i] = self.layers[i].forward_pooled(self.layers[j], params[i], x, training=training, xp=xp)
                continue
            layer, stochastic, stateful = self._plan[i]
            k = _random.fold_in(key, i, xp=xp) if (key is not None and stochastic) else None
            if stateful:
                x, cache, new_state[i] = layer.forward(params[i], x, training=training, key=k, xp=xp, state=state[i])
            elif first_row and k is not None:
                x, cache = layer.forward(params[i], x, training=training, key=k, xp=xp, first_row=first_row)
            else:
                x, cache = layer.forward(params[i], x, training=training, key=k, xp=xp)
            caches[i] = cache
        return x, caches, new_state

    def backward(self, params: Params, caches: list[Any], dy: Array, /, *, xp: Any = None) -> Params:
        """The chain rule from the last layer to the first: the parameter gradients, in the
        structure of ``params``. The first layer's input gradient is not computed."""
        xp = xp if xp is not None else self.backend.xp
        grads: Params = [{}] * len(self.layers)
        first = self._order[0] if self._order else 0
        for i in reversed(self._order):
            if i in self._pooled:  # its convolution's backward covers it
                continue
            if i in self._fused:
                dy, grads[i] = self.layers[i].backward_pooled(self.layers[self._fused[i]], params[i], caches[i], dy,
                                                              need_dx=i != first, xp=xp)
                continue
            dy, grads[i] = self.layers[i].backward(params[i], caches[i], dy, need_dx=i != first, xp=xp)
        return grads

    def value_and_grads(self, params: Params, state: State, x: Array, t: Array, /, *, loss: Loss,
                        regularizer: Regularizer | None = None, training: bool = True,
                        key: Array | None = None, xp: Any = None) -> tuple[Array, Params, State, Array]:
        """``(loss value (0-d), grads, new_state, y)`` for one batch on the backend."""
        xp = xp if xp is not None else self.backend.xp
        shards = self._shards(x.shape[0], loss)
        if shards:
            value, grads, y = self._split_value_and_grads(params, state, x, t, shards, loss=loss,
                                                          training=training, key=key, xp=xp)
        else:
            y, caches, state = self.forward(params, state, x, training=training, key=key, xp=xp)
            value, dy = loss.value_and_grad(y, t, xp=xp)
            grads = self.backward(params, caches, dy, xp=xp)
        if regularizer is not None:
            penalty, rgrads = regularizer.value_and_grad(params, self.layers, xp=xp)
            value = value + penalty
            grads = [{k: g + r[k] if k in r else g for k, g in gd.items()} for gd, r in zip(grads, rgrads)]
        return value, grads, state, y

    # ------------------------------------------------------------------ a step split over threads
    def _shards(self, n: Any, loss: Loss) -> list[tuple[int, int]]:
        """The batch's pieces for a backend that splits a step over threads (``threads > 1``):
        contiguous ranges of rows, as even as can be; ``[]`` to run it whole (one thread, a
        batch smaller than two rows per thread, a layer that draws random numbers but not
        for a slice of the batch (``takes_first_row``), or a layer or loss not known to treat
        each sample on its own (``per_sample``): the split step would then differ from the
        whole one)."""
        k = self.backend.threads
        if k < 2 or not self._splittable or not isinstance(n, int) or n < 2 * k \
                or getattr(loss, "per_sample", None) is not True:
            return []
        return [(i * n // k, (i + 1) * n // k) for i in range(k)]

    def _split_value_and_grads(self, params: Params, state: State, x: Array, t: Array,
                               shards: list[tuple[int, int]], *, loss: Loss, training: bool,
                               key: Array | None, xp: Any) -> tuple[Array, Params, Array]:
        """value_and_grads of the whole batch from its pieces, each in its own thread.

        A loss is a mean over the batch: the piece of ``m`` of ``n`` rows has value
        ``L_s`` (the mean over its rows) and gradient ``dL_s/dy``; the whole batch's are
        ``sum_s (m/n) L_s`` and ``(m/n) dL_s/dy`` on the piece's rows. Backward is linear
        in ``dy``, so each piece's parameter gradients, from its scaled ``dy``, add up
        to the whole batch's (in another order of the float sums: equal up to rounding).
        """
        n = x.shape[0]

        def piece(rows: tuple[int, int]) -> tuple[Array, Params, Array]:
            s, e = rows
            y, caches, _ = self.forward(params, state, x[s:e, ...], training=training, key=key, xp=xp, first_row=s)
            value, dy = loss.value_and_grad(y, t[s:e, ...], xp=xp)
            share = (e - s) / n
            return value * share, self.backward(params, caches, dy * share, xp=xp), y

        parts = self.backend.map_shards(piece, shards)
        value, grads, y = parts[0]
        ys = [y]
        for v, g, y in parts[1:]:
            value = value + v
            grads = [{k: a + b[k] for k, a in ga.items()} for ga, b in zip(grads, g)]
            ys.append(y)
        return value, grads, xp.concat(ys, axis=0)

    def step_key(self, seed: int, step: Array, xp: Any) -> Array | None:
        """The dropout key of update number ``step`` (``None`` without stochastic layers)."""
        if not self.stochastic:
            return None
        n_update = xp.reshape(xp.astype(step, xp.int32), (1,))
        return _random.fold_in(_random.key_from_seed(seed, xp=xp), n_update, xp=xp)

    # ------------------------------------------------------------------ builders
    def train_step(self, cfg: TrainConfig, *, gather: bool = False) -> Callable:
        """``(params, state, opt_state, x, t[, idx]) -> (params, state, opt_state, loss, y)``.

        ``gather``: ``x``/``t`` are the whole data set and ``idx`` the batch's
        indices, taken inside the step (on a compiling backend the data stay put).
        With ``cfg.packing``, ``params`` is ``[{"all": flat}]`` and ``opt_state``
        packed alike (see ``anynet._packing``).
        """
        xp = self.backend.xp
        packing, optimizer = cfg.packing, cfg.optimizer
        if cfg.inplace:
            def update(params, grads, opt_state, xp):
                return _inplace.update(optimizer, params, grads, opt_state, xp=xp)
        else:
            update = optimizer.update if optimizer is not None else None

        def step(params, state, opt_state, x, t, *idx):
            if gather:
                x, t = xp.take(x, idx[0], axis=0), xp.take(t, idx[0], axis=0)
            layer_params = packing.unflatten(params[0][KEY], xp) if packing else params
            key = self.step_key(cfg.seed, opt_state["step"], xp)
            value, grads, state, y = self.value_and_grads(layer_params, state, x, t, loss=cfg.loss,
                                                          regularizer=cfg.regularizer, key=key, xp=xp)
            if packing:
                grads = [{KEY: packing.flatten(grads, xp)}]
            params, opt_state = update(params, grads, opt_state, xp=xp)
            return params, state, opt_state, value, y

        return step

    def train_epoch(self, cfg: TrainConfig, *, stack: bool, chunk: bool = False) -> Callable:
        """``(params, state, opt_state, X, T, batches) -> (params, state, opt_state, stats)``:
        every row of ``batches`` (steps x batch_size indices) as one step, in one
        :meth:`anynet.backends.Backend.scan` (one compiled loop on JAX).

        ``stats`` is one 1-D array ``[loss sum, right predictions, finite]`` (read from
        the device once per epoch): the summed batch losses times the batch size,
        the number of right predictions (0 for losses that do not classify), and
        1.0 when the loss and every new parameter are finite.

        ``stack``: keep every step's output and count the right predictions of the
        whole epoch in one call after the loop (fewer operations); else count them
        step by step (for outputs too large to keep).

        ``chunk``: the function runs one piece of an epoch (for a progress bar within
        the epoch) and takes one more argument, ``acc``: the ``stats`` of the epoch's
        earlier pieces (``[0, 0, 1]`` before the first), whose running loss total it
        continues. Its ``stats`` keep that total as summed, not yet times the batch size:
        the fit loop multiplies once after the last piece, so that an epoch run piece by
        piece gives the numbers of one call, bit for bit.
        """
        be, loss = self.backend, cfg.loss
        classifies = loss.classifies
        stack = stack and classifies
        step = self.train_step(cfg, gather=True)

        def epoch(params, state, opt_state, X, T, batches, acc=None):
            xp = be.xp
            zero = xp.zeros((), dtype=X.dtype, device=device_of(X))
            total, correct = (zero, zero) if acc is None else (acc[0], acc[1])

            def body(carry, idx):
                p, s, o, total, correct = carry
                p, s, o, value, y = step(p, s, o, X, T, idx)
                if stack:
                    return (p, s, o, total + value, correct), y
                c = loss.correct(y, xp.take(T, idx, axis=0), xp=xp) if classifies else zero
                return (p, s, o, total + value, correct + c), None

            carry, ys = be.scan(body, (params, state, opt_state, total, correct), batches)
            params, state, opt_state, total, correct = carry
            if stack:  # all the epoch's outputs against their targets, in one call
                flat = xp.reshape(batches, (-1,))
                y_all = xp.reshape(ys, (flat.shape[0], *ys.shape[2:]))
                count = loss.correct(y_all, xp.take(T, flat, axis=0), xp=xp)
                correct = count if acc is None else correct + count  # whole counts: exact sums
            if acc is None:
                total = total * batches.shape[1]
            return params, state, opt_state, xp.stack([total, correct, self.all_finite(total, params, xp)])

        if chunk:
            def piece(params, state, opt_state, X, T, batches, acc):
                return epoch(params, state, opt_state, X, T, batches, acc)

            return piece
        return epoch

    def predict_fn(self) -> Callable:
        """``(params, state, x) -> y`` in inference mode."""
        def predict(params, state, x):
            return self.forward(params, state, x)[0]

        return predict

    def evaluate_fn(self, loss: Loss) -> Callable:
        """``(params, state, x, t[, w]) -> (mean loss, right predictions or None)`` in inference
        mode; with per-sample weights ``w`` the loss is ``sum_i w_i L_i / N``, as in training."""
        def evaluate(params, state, x, t, w=None):
            y = self.forward(params, state, x)[0]
            value = loss.forward(y, t) if w is None else loss.forward(y, t, weights=w)
            return value, loss.correct(y, t)

        return evaluate

    def grads_fn(self, cfg: TrainConfig, training: bool) -> Callable:
        """``(params, state, x, t, key) -> (value, grads)``."""
        def grads(params, state, x, t, key):
            value, g, _, _ = self.value_and_grads(params, state, x, t, loss=cfg.loss, regularizer=cfg.regularizer,
                                                  training=training, key=key)
            return value, g

        return grads

    def value_fn(self, cfg: TrainConfig, training: bool) -> Callable:
        """``(params, state, x, t, key) -> value`` (for finite differences)."""
        def value(params, state, x, t, key):
            y = self.forward(params, state, x, training=training, key=key)[0]
            v = cfg.loss.forward(y, t)
            if cfg.regularizer is not None:
                v = v + cfg.regularizer.value_and_grad(params, self.layers)[0]
            return v

        return value

    # ------------------------------------------------------------------ the compile cache
    def compiled(self, kind: str, *config: Any) -> Callable:
        """The builder ``kind`` (``"step"``, ``"epoch"``, ``"chunk"`` (a piece of an epoch),
        ``"predict"``, ``"evaluate"``, ``"grads"``, ``"value"``) applied to ``config`` and
        compiled, once per config.

        ``"step"`` gathers its batch from the data (``idx`` last) like the epoch.
        """
        key = (kind, *config)
        fn = self._compiled.get(key)
        if fn is None:
            build = {
                "step": lambda cfg: self.train_step(cfg, gather=True),
                "epoch": lambda cfg, stack: self.train_epoch(cfg, stack=stack),
                "chunk": lambda cfg, stack: self.train_epoch(cfg, stack=stack, chunk=True),
                "predict": self.predict_fn,
                "evaluate": self.evaluate_fn,
                "grads": self.grads_fn,
                "value": self.value_fn,
            }[kind]
            fn = self._compiled[key] = self.backend.jit(build(*config))
        return fn

    def clear(self) -> None:
        """Forget every compiled function (they are rebuilt on demand)."""
        self._compiled.clear()

    # ------------------------------------------------------------------ checks
    @staticmethod
    def all_finite(value: Array, params: Any, xp: Any) -> Array:
        """1.0 (of ``value``'s dtype) when ``value`` and every array of ``params`` are finite, else 0.0."""
        ok = xp.isfinite(value)
        for p in leaves(params):
            ok = ok & xp.all(xp.isfinite(p))
        return xp.astype(ok, value.dtype)

    def diagnose(self, params: Params, state: State, x: Array, t: Array, /, *, loss: Loss,
                 regularizer: Regularizer | None = None, key: Array | None = None) -> str:
        """Which layer first makes a step's numbers non-finite: its forward output, the
        loss, or a layer's backward (input gradient or parameter gradients). Eager,
        layer by layer: for error messages after training diverged."""
        xp = self.backend.xp

        def bad(a: Any) -> bool:
            return a is not None and not bool(xp.all(xp.isfinite(a)))

        caches, h = [], x
        for i, layer in enumerate(self.layers):
            k = _random.fold_in(key, i, xp=xp) if (key is not None and layer.stochastic) else None
            if layer.stateful:
                h, cache, _ = layer.forward(params[i], h, training=True, key=k, xp=xp, state=state[i])
            else:
                h, cache = layer.forward(params[i], h, training=True, key=k, xp=xp)
            caches.append(cache)
            if bad(h):
                return f"layer {i} ({layer!r}) forward gave non-finite outputs"
        value, dy = loss.value_and_grad(h, t, xp=xp)
        if bad(value) or bad(dy):
            return f"the loss ({loss!r}) became non-finite"
        for i in range(len(self.layers) - 1, -1, -1):
            dy, g = self.layers[i].backward(params[i], caches[i], dy, need_dx=i > 0, xp=xp)
            names = sorted(k for k, v in g.items() if bad(v))
            if names:
                return f"layer {i} ({self.layers[i]!r}) backward gave non-finite gradients for {names}"
            if bad(dy):
                return f"layer {i} ({self.layers[i]!r}) backward gave a non-finite input gradient"
        return "every gradient of the step is finite; the optimizer's update made the parameters non-finite"
