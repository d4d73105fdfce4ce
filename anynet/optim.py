"""Optimizers as pure ``init``/``update`` pairs, and learning-rate schedules.

``state = opt.init(params)`` and ``params, state = opt.update(params, grads,
state)`` never modify their arguments: the training step stays a pure function
that ``jax.jit`` compiles. ``state`` is a plain dict (``"step"``: a 0-d float
array counting updates; ``"lr_scale"``: a 0-d factor on the learning rate that
callbacks may change; per-parameter buffers in the structure of ``params``),
so it is saved in checkpoints and crosses ``jit`` as a pytree.

The update rules follow PyTorch's (``torch.optim``) so that results can be
compared with it step for step; ``weight_decay`` adds ``wd * p`` to the
gradient (SGD, Adam, RMSprop) or shrinks the weights directly (AdamW), on
every parameter, as PyTorch does.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ._tree import Params, first_leaf, leaves, tree_map

Array = Any

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "ConstantLR",
    "CosineDecay",
    "ExponentialDecay",
    "Optimizer",
    "RMSprop",
    "Schedule",
    "StepDecay",
    "get",
]


def _plain_numbers(obj: Any) -> None:
    """Hyperparameters given as NumPy scalars (``np.float64(0.1)``, ``np.float32``...) become
    Python numbers: a NumPy scalar times an array of another library (array-api-strict) is an
    error, a Python number is not."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v) not in (int, float):
            object.__setattr__(obj, f.name, int(v) if isinstance(v, numbers.Integral) else float(v))


# ------------------------------------------------------------------ schedules
class Schedule:
    """A learning rate as a function of the update count ``step`` (0 for the first update).

    ``step`` may be a Python int (returns a float) or a 0-d array (returns a 0-d
    array of its dtype, usable inside a compiled step).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> schedule = an.optim.ExponentialDecay(lr=0.1, decay_rate=0.5, decay_steps=10)
    >>> round(schedule(10), 4), round(float(schedule(np.asarray(20.0))), 4)
    (0.05, 0.025)
    >>> opt = an.optim.SGD(lr=schedule)  # the optimizer asks it at every update
    """

    def __post_init__(self) -> None:
        _plain_numbers(self)

    def __call__(self, step: Any) -> Any:
        if isinstance(step, (int, float)):
            return self._value(math, float(step))
        return self._value(array_namespace(step), step)

    def _value(self, m: Any, step: Any) -> Any:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ConstantLR(Schedule):
    """``lr`` at every step.

    Examples
    --------
    >>> import anynet as an
    >>> schedule = an.optim.ConstantLR(0.1)
    >>> schedule(0), schedule(1000)
    (0.1, 0.1)
    """

    lr: float

    def _value(self, m, step):
        return self.lr


@dataclasses.dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr * gamma ** floor(step / step_size)`` (PyTorch ``StepLR``, counted in updates).

    Examples
    --------
    >>> import anynet as an
    >>> schedule = an.optim.StepDecay(lr=0.1, step_size=10, gamma=0.1)
    >>> [round(schedule(step), 6) for step in (0, 9, 10, 25)]
    [0.1, 0.1, 0.01, 0.001]
    """

    lr: float
    step_size: int
    gamma: float = 0.1

    def _value(self, m, step):
        return self.lr * self.gamma ** m.floor(step / self.step_size)


@dataclasses.dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr * decay_rate ** (step / decay_steps)`` (Keras ``ExponentialDecay``).

    Examples
    --------
    >>> import anynet as an
    >>> schedule = an.optim.ExponentialDecay(lr=0.1, decay_rate=0.5, decay_steps=10)
    >>> [round(schedule(step), 4) for step in (0, 5, 10, 20)]  # halved every 10 updates, smoothly
    [0.1, 0.0707, 0.05, 0.025]
    """

    lr: float
    decay_rate: float
    decay_steps: int = 1

    def _value(self, m, step):
        return self.lr * self.decay_rate ** (step / self.decay_steps)


@dataclasses.dataclass(frozen=True)
class CosineDecay(Schedule):
    """Cosine from ``lr`` down to ``alpha * lr`` over ``decay_steps``, then flat (Keras ``CosineDecay``).

    Examples
    --------
    >>> import anynet as an
    >>> schedule = an.optim.CosineDecay(lr=0.1, decay_steps=100, alpha=0.1)
    >>> [round(schedule(step), 4) for step in (0, 50, 100, 500)]
    [0.1, 0.055, 0.01, 0.01]
    """

    lr: float
    decay_steps: int
    alpha: float = 0.0

    def _value(self, m, step):
        lim = float(self.decay_steps)
        frac = (min(step, lim) if m is math else m.minimum(step, lim)) / lim
        cos = 0.5 * (1.0 + m.cos(math.pi * frac))
        return self.lr * ((1.0 - self.alpha) * cos + self.alpha)


def _check_lr(lr: Any, owner: str) -> None:
    if isinstance(lr, Schedule):
        return
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"{owner}: lr must be a positive number or a Schedule, got {lr!r}")


# ------------------------------------------------------------------ optimizers
class Optimizer:
    """Base class. A subclass defines ``slots`` (its per-parameter buffers) and ``_step``,
    the update rule for one array, written once, as maths on arrays.

    Common options (keyword-only on every optimizer):

    clip_norm : float, optional
        Rescale all gradients together so that their global L2 norm is at most
        this (``torch.nn.utils.clip_grad_norm_``).
    clip_value : float, optional
        Clip every gradient element to ``[-clip_value, clip_value]``.

    Examples
    --------
    ``params`` and ``grads`` are lists of dicts (``model.params``); ``update``
    returns new ones and leaves its arguments untouched:

    >>> import numpy as np, anynet as an
    >>> opt = an.optim.SGD(lr=0.1, clip_norm=1.0)
    >>> params, grads = [{"W": np.asarray([1.0, 2.0])}], [{"W": np.asarray([3.0, 4.0])}]
    >>> state = opt.init(params)
    >>> new, state = opt.update(params, grads, state)  # |g| = 5, clipped to 1: g = (0.6, 0.8)
    >>> [round(float(v), 4) for v in new[0]["W"]], params[0]["W"].tolist(), float(state["step"])
    ([0.94, 1.92], [1.0, 2.0], 1.0)
    """

    #: The names of the per-parameter buffers in the state (``"velocity"``, ``"m"``, ``"v"``...).
    slots: tuple[str, ...] = ()
    #: Whether the rule treats every element alike (no per-array statistics), so that it
    #: gives the same numbers on all parameters joined in one array (see ``anynet._packing``).
    elementwise: bool = False
    lr: Any
    weight_decay: float
    clip_norm: float | None
    clip_value: float | None

    def _validate(self) -> None:
        name = type(self).__name__
        _plain_numbers(self)
        _check_lr(self.lr, name)
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"{name}: weight_decay must be >= 0, got {self.weight_decay!r}")
        for opt in ("clip_norm", "clip_value"):
            v = getattr(self, opt)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name}: {opt} must be a positive number or None, got {v!r}")

    def init(self, params: Params) -> dict[str, Any]:
        """Fresh state for ``params``: step 0 and zero buffers."""
        leaf = first_leaf(params)
        if leaf is None:
            raise ValueError(f"{type(self).__name__}.init: the model has no parameters to optimize")
        xp = array_namespace(leaf)
        state: dict[str, Any] = {
            "step": xp.zeros((), dtype=leaf.dtype, device=device_of(leaf)),
            # a factor on the learning rate that callbacks may change between epochs
            "lr_scale": xp.ones((), dtype=leaf.dtype, device=device_of(leaf)),
        }
        for slot in self.slots:
            state[slot] = tree_map(xp.zeros_like, params)
        return state

    def update(self, params: Params, grads: Params, state: dict[str, Any], *,
               inplace: bool = False, xp: Any = None) -> tuple[Params, dict[str, Any]]:
        """One update: ``(params, grads, state) -> (new params, new state)``.

        Pure: the inputs are untouched, new arrays come back. ``inplace=True``
        writes the new values into the arrays of ``params`` and ``state`` instead
        (and returns them): the same rule, its results copied back, for code that
        holds views of those arrays; not possible on JAX (immutable arrays).
        ``xp``: the namespace, when the caller has it already.
        """
        xp = xp if xp is not None else array_namespace(first_leaf(params))
        lr, t = self.learning_rate(state), state["step"] + 1.0  # t: this update's number, from 1
        grads = self.clip(xp, grads)
        slots, rule = self.slots, self._step
        if not slots:  # plain SGD: no buffers
            new_params = [{k: rule(xp, v, g[k], (), lr, t)[0] for k, v in p.items()} for p, g in zip(params, grads)]
            new_slots: dict[str, Params] = {}
        else:
            new_params, new_slots = [], {s: [] for s in slots}
            for i, (p, g) in enumerate(zip(params, grads)):
                layer_p: dict[str, Array] = {}
                layer_s: list[dict[str, Array]] = [{} for _ in slots]
                for k, v in p.items():
                    layer_p[k], new_bufs = rule(xp, v, g[k], tuple(state[s][i][k] for s in slots), lr, t)
                    for d, b in zip(layer_s, new_bufs):
                        d[k] = b
                new_params.append(layer_p)
                for s, d in zip(slots, layer_s):
                    new_slots[s].append(d)
        new_state = {**state, "step": t, **new_slots}
        if inplace:  # the same numbers, written into the caller's arrays
            def write(old: Array, new: Array) -> Array:
                old[...] = new
                return old

            tree_map(write, list(params), new_params)
            for s in slots:
                tree_map(write, state[s], new_slots[s])
            return params, {**new_state, **{s: state[s] for s in slots}}
        return new_params, new_state

    def _step(self, xp: Any, p: Array, g: Array, bufs: tuple[Array, ...], lr: Any, t: Array
              ) -> tuple[Array, tuple[Array, ...]]:
        """One parameter array: ``(p, g, buffers in slots order) -> (new p, new buffers)``."""
        raise NotImplementedError

    def learning_rate(self, state: dict[str, Any]) -> Any:
        """The learning rate of the next update: ``lr`` (or the schedule at ``state["step"]``)
        times ``state["lr_scale"]`` (callbacks change that)."""
        lr = self.lr(state["step"]) if isinstance(self.lr, Schedule) else self.lr
        return lr * state["lr_scale"] if "lr_scale" in state else lr

    def clip(self, xp: Any, grads: Params) -> Params:
        """The gradients after ``clip_value`` and ``clip_norm`` (unchanged without them)."""
        if self.clip_value is not None:
            c = self.clip_value
            grads = tree_map(lambda v: xp.clip(v, -c, c), grads)
        if self.clip_norm is not None:
            sq = None
            for v in leaves(grads):
                s = xp.sum(v * v)
                sq = s if sq is None else sq + s
            # scale = min(1, c / ||g||): leaves small gradients unchanged
            scale = xp.minimum(self.clip_norm / (xp.sqrt(sq) + 1e-12), 1.0)
            grads = tree_map(lambda v: v * scale, grads)
        return grads


@dataclasses.dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent, the lecture's ``W <- W - eta dL/dW``, with momentum.

    ``v = momentum * v + g``; ``p -= lr * v`` (or ``lr * (g + momentum * v)``
    with ``nesterov=True``), as ``torch.optim.SGD``.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> opt = an.optim.SGD(lr=0.1, momentum=0.9)
    >>> params, grads = [{"W": np.asarray([1.0, 2.0])}], [{"W": np.asarray([0.5, -1.0])}]
    >>> state = opt.init(params)
    >>> params, state = opt.update(params, grads, state)  # v = g: W - 0.1 g
    >>> [round(float(v), 4) for v in params[0]["W"]]
    [0.95, 2.1]
    >>> params, state = opt.update(params, grads, state)  # v = 0.9 g + g: a longer step
    >>> [round(float(v), 4) for v in params[0]["W"]]
    [0.855, 2.29]
    """

    lr: Any = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None

    def __post_init__(self) -> None:
        self._validate()
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")

    elementwise = True

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("velocity",) if self.momentum else ()

    def _step(self, xp, p, g, bufs, lr, t):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if not self.momentum:
            return p - lr * g, ()  # the lecture's W <- W - eta dL/dW
        (v,) = bufs
        v = self.momentum * v + g
        step = g + self.momentum * v if self.nesterov else v
        return p - lr * step, (v,)


@dataclasses.dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is L2 added to
    the gradient, as ``torch.optim.Adam`` (use :class:`AdamW` for decoupled decay).

    Examples
    --------
    Thanks to the bias correction, the first step moves every parameter by about
    ``lr``, whatever the gradient's scale:

    >>> import numpy as np, anynet as an
    >>> opt = an.optim.Adam(lr=0.1)
    >>> params, grads = [{"W": np.asarray([1.0, 2.0])}], [{"W": np.asarray([0.5, -100.0])}]
    >>> params, state = opt.update(params, grads, opt.init(params))
    >>> [round(float(v), 4) for v in params[0]["W"]], sorted(state)
    ([0.9, 2.1], ['lr_scale', 'm', 'step', 'v'])
    """

    lr: Any = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None

    slots = ("m", "v")
    elementwise = True
    _decoupled = False

    def __post_init__(self) -> None:
        self._validate()
        for name in ("beta1", "beta2"):
            b = getattr(self, name)
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{type(self).__name__}: {name} must be in [0, 1), got {b!r}")

    def _step(self, xp, p, g, bufs, lr, t):
        m, v = bufs
        b1, b2 = self.beta1, self.beta2
        if self.weight_decay and not self._decoupled:
            g = g + self.weight_decay * p
        if self.weight_decay and self._decoupled:
            p = p - (lr * self.weight_decay) * p  # p <- p (1 - lr wd)
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * (g * g)
        # bias-corrected step: lr * m_hat / (sqrt(v_hat) + eps)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        return p - lr * (m / c1) / (xp.sqrt(v / c2) + self.eps), (m, v)


@dataclasses.dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    Examples
    --------
    The decay shrinks the weights directly, ``p <- p (1 - lr wd)``, even where the
    gradient is zero:

    >>> import numpy as np, anynet as an
    >>> opt = an.optim.AdamW(lr=0.1, weight_decay=0.1)
    >>> params, grads = [{"W": np.asarray([1.0, 2.0])}], [{"W": np.zeros(2)}]
    >>> params, state = opt.update(params, grads, opt.init(params))
    >>> [round(float(v), 4) for v in params[0]["W"]]
    [0.99, 1.98]
    """

    weight_decay: float = 1e-2
    _decoupled = True


@dataclasses.dataclass(frozen=True)
class RMSprop(Optimizer):
    """RMSprop (Hinton), as ``torch.optim.RMSprop``: ``v = alpha v + (1 - alpha) g^2``,
    ``p -= lr g / (sqrt(v) + eps)`` (through a momentum buffer when ``momentum > 0``).

    Examples
    --------
    The step is divided by the gradient's running RMS; starting from ``v = 0``,
    the first one is ``lr / sqrt(1 - alpha) = 10 lr`` per parameter:

    >>> import numpy as np, anynet as an
    >>> opt = an.optim.RMSprop(lr=0.01, alpha=0.99)
    >>> params, grads = [{"W": np.asarray([1.0, 2.0])}], [{"W": np.asarray([0.5, -1.0])}]
    >>> params, state = opt.update(params, grads, opt.init(params))
    >>> [round(float(v), 4) for v in params[0]["W"]]
    [0.9, 2.1]
    """

    lr: Any = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None

    def __post_init__(self) -> None:
        self._validate()
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"RMSprop: alpha must be in [0, 1), got {self.alpha!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"RMSprop: momentum must be in [0, 1), got {self.momentum!r}")

    elementwise = True

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("square_avg", "momentum_buffer") if self.momentum else ("square_avg",)

    def _step(self, xp, p, g, bufs, lr, t):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = self.alpha * bufs[0] + (1.0 - self.alpha) * (g * g)  # running mean of g^2
        d = g / (xp.sqrt(v) + self.eps)
        if not self.momentum:
            return p - lr * d, (v,)
        b = self.momentum * bufs[1] + d
        return p - lr * b, (v, b)


def get(optimizer: Any, **kwargs: Any) -> Optimizer:
    """An optimizer from its name (as Keras' ``keras.optimizers.get``), its class, or itself.

    Names: ``"sgd"``, ``"nesterov"`` (SGD with Nesterov momentum, 0.9 unless given),
    ``"adam"``, ``"adamw"``, ``"rmsprop"`` (any case). ``kwargs`` go to the constructor.

    Examples
    --------
    >>> import anynet as an
    >>> an.optim.get("adam", lr=0.01)
    Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, clip_norm=None, clip_value=None)
    >>> an.optim.get(an.optim.SGD, lr=0.1, momentum=0.9).momentum
    0.9
    >>> an.optim.get("adagrad")
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'adagrad': expected one of 'adam', 'adamw', 'nesterov', 'rmsprop', 'sgd', an Optimizer or an Optimizer class
    """
    if isinstance(optimizer, Optimizer):
        if kwargs:
            raise TypeError(f"optim.get: {optimizer!r} is built already; settings {sorted(kwargs)} cannot apply")
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer(**kwargs)
    names = {"sgd": SGD, "nesterov": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
    key = optimizer.strip().lower() if isinstance(optimizer, str) else None
    if key not in names:
        raise ValueError(f"unknown optimizer {optimizer!r}: expected one of "
                         f"{', '.join(map(repr, sorted(names)))}, an Optimizer or an Optimizer class")
    if key == "nesterov":
        kwargs = {"momentum": 0.9, **kwargs, "nesterov": True}
    return names[key](**kwargs)
