"""Optimizers as pure ``init``/``update`` pairs, and learning-rate schedules.

``state = opt.init(params)`` and ``params, state = opt.update(params, grads,
state)`` never modify their arguments: the training step stays a pure function
that ``jax.jit`` compiles. ``state`` is a plain dict (``"step"``: a 0-d float
array counting updates; per-parameter buffers in the structure of ``params``),
so it is saved in checkpoints and crosses ``jit`` as a pytree.

The update rules follow PyTorch's (``torch.optim``) so that results can be
compared with it step for step; ``weight_decay`` adds ``wd * p`` to the
gradient (SGD, Adam, RMSprop) or shrinks the weights directly (AdamW), on
every parameter, as PyTorch does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ._tree import Params, first_leaf

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
]


# ------------------------------------------------------------------ schedules
class Schedule:
    """A learning rate as a function of the update count ``step`` (0 for the first update).

    ``step`` may be a Python int (returns a float) or a 0-d array (returns a 0-d
    array of its dtype, usable inside a compiled step).
    """

    def __call__(self, step: Any) -> Any:
        if isinstance(step, (int, float)):
            return self._value(math, float(step))
        return self._value(array_namespace(step), step)

    def _value(self, m: Any, step: Any) -> Any:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ConstantLR(Schedule):
    """``lr`` at every step."""

    lr: float

    def _value(self, m, step):
        return self.lr


@dataclasses.dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr * gamma ** floor(step / step_size)`` (PyTorch ``StepLR``, counted in updates)."""

    lr: float
    step_size: int
    gamma: float = 0.1

    def _value(self, m, step):
        return self.lr * self.gamma ** m.floor(step / self.step_size)


@dataclasses.dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr * decay_rate ** (step / decay_steps)`` (Keras ``ExponentialDecay``)."""

    lr: float
    decay_rate: float
    decay_steps: int = 1

    def _value(self, m, step):
        return self.lr * self.decay_rate ** (step / self.decay_steps)


@dataclasses.dataclass(frozen=True)
class CosineDecay(Schedule):
    """Cosine from ``lr`` down to ``alpha * lr`` over ``decay_steps``, then flat (Keras ``CosineDecay``)."""

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
    """Base class. Subclasses define ``_slots`` (buffer names) and ``_step``.

    Common options (keyword-only on every optimizer):

    clip_norm : float, optional
        Rescale all gradients together so that their global L2 norm is at most
        this (``torch.nn.utils.clip_grad_norm_``).
    clip_value : float, optional
        Clip every gradient element to ``[-clip_value, clip_value]``.
    """

    _slots: tuple[str, ...] = ()
    lr: Any
    weight_decay: float
    clip_norm: float | None
    clip_value: float | None

    def _validate(self) -> None:
        name = type(self).__name__
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
            "step": xp.zeros((), dtype=leaf.dtype, device=device_of(leaf))
        }
        for slot in self._slots:
            state[slot] = [{k: xp.zeros_like(v) for k, v in d.items()} for d in params]
        return state

    def update(self, params: Params, grads: Params, state: dict[str, Any]) -> tuple[Params, dict[str, Any]]:
        """One update: ``(params, grads, state) -> (new params, new state)``, inputs untouched."""
        leaf = first_leaf(params)
        xp = array_namespace(leaf)
        step = state["step"]
        lr = self.lr(step) if isinstance(self.lr, Schedule) else self.lr
        grads = self._clip(xp, grads)
        new_params: Params = []
        new_slots: dict[str, Params] = {s: [] for s in self._slots}
        t = step + 1.0  # this update's number, from 1
        for i, (p, g) in enumerate(zip(params, grads)):
            np_, ns_ = {}, {s: {} for s in self._slots}
            for k in p:
                bufs = {s: state[s][i][k] for s in self._slots}
                np_[k], nb = self._step(xp, p[k], g[k], bufs, lr, t)
                for s in self._slots:
                    ns_[s][k] = nb[s]
            new_params.append(np_)
            for s in self._slots:
                new_slots[s].append(ns_[s])
        return new_params, {"step": t, **new_slots}

    def _step(self, xp: Any, p: Array, g: Array, bufs: dict[str, Array], lr: Any, t: Array
              ) -> tuple[Array, dict[str, Array]]:
        raise NotImplementedError

    def _clip(self, xp: Any, grads: Params) -> Params:
        if self.clip_value is not None:
            c = self.clip_value
            grads = [{k: xp.clip(v, -c, c) for k, v in d.items()} for d in grads]
        if self.clip_norm is not None:
            sq = None
            for d in grads:
                for v in d.values():
                    s = xp.sum(v * v)
                    sq = s if sq is None else sq + s
            # scale = min(1, c / ||g||): leaves small gradients unchanged
            scale = xp.minimum(self.clip_norm / (xp.sqrt(sq) + 1e-12), 1.0)
            grads = [{k: v * scale for k, v in d.items()} for d in grads]
        return grads


@dataclasses.dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent, the lecture's ``W <- W - eta dL/dW``, with momentum.

    ``v = momentum * v + g``; ``p -= lr * v`` (or ``lr * (g + momentum * v)``
    with ``nesterov=True``), as ``torch.optim.SGD``.
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

    @property
    def _slots(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("velocity",) if self.momentum else ()

    def _step(self, xp, p, g, bufs, lr, t):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if not self.momentum:
            return p - lr * g, {}
        v = self.momentum * bufs["velocity"] + g
        d = g + self.momentum * v if self.nesterov else v
        return p - lr * d, {"velocity": v}


@dataclasses.dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is L2 added to
    the gradient, as ``torch.optim.Adam`` (use :class:`AdamW` for decoupled decay)."""

    lr: Any = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float | None = None
    clip_value: float | None = None

    _slots = ("m", "v")
    _decoupled = False

    def __post_init__(self) -> None:
        self._validate()
        for name in ("beta1", "beta2"):
            b = getattr(self, name)
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{type(self).__name__}: {name} must be in [0, 1), got {b!r}")

    def _step(self, xp, p, g, bufs, lr, t):
        if self.weight_decay:
            if self._decoupled:
                p = p - (lr * self.weight_decay) * p  # p <- p (1 - lr wd)
            else:
                g = g + self.weight_decay * p
        m = self.beta1 * bufs["m"] + (1.0 - self.beta1) * g
        v = self.beta2 * bufs["v"] + (1.0 - self.beta2) * (g * g)
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        return p - lr * m_hat / (xp.sqrt(v_hat) + self.eps), {"m": m, "v": v}


@dataclasses.dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``."""

    weight_decay: float = 1e-2
    _decoupled = True


@dataclasses.dataclass(frozen=True)
class RMSprop(Optimizer):
    """RMSprop (Hinton), as ``torch.optim.RMSprop``: ``v = alpha v + (1 - alpha) g^2``,
    ``p -= lr g / (sqrt(v) + eps)`` (through a momentum buffer when ``momentum > 0``)."""

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

    @property
    def _slots(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("square_avg", "momentum_buffer") if self.momentum else ("square_avg",)

    def _step(self, xp, p, g, bufs, lr, t):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = self.alpha * bufs["square_avg"] + (1.0 - self.alpha) * (g * g)
        d = g / (xp.sqrt(v) + self.eps)
        if not self.momentum:
            return p - lr * d, {"square_avg": v}
        b = self.momentum * bufs["momentum_buffer"] + d
        return p - lr * b, {"square_avg": v, "momentum_buffer": b}
