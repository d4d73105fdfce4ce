"""The in-place fast path: each optimizer's update rule, with in-place operators.

The rules themselves are written once, in ``anynet/optim.py`` (each optimizer's
``_step``: pure maths on arrays, what a reader and ``jax.jit`` see). On backends
whose arrays can be written (NumPy, CuPy, torch, array-api-strict), ``fit``
updates its own copies of the parameters and the optimizer's buffers in place
instead: the same maths without a new array per operation, which on a CPU is
worth about 10% of a small model's step (the allocation of every intermediate).
This module is the only place those in-place forms live, each beside the name of
the rule it mirrors; ``tests/test_optim.py`` proves each equal to its pure rule.
An optimizer without an entry here (your own) gets its pure rule with the results
written back (``Optimizer.update(..., inplace=True)``): the same numbers, slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._tree import Params
from .optim import SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = ["RULES", "update"]

Array = Any


def _sgd(opt: SGD, xp: Any, p: Array, g: Array, bufs: tuple[Array, ...], lr: Any, t: Array) -> None:
    """SGD._step in place."""
    if opt.weight_decay:
        g = g + opt.weight_decay * p
    if not opt.momentum:
        p -= lr * g
        return
    (v,) = bufs
    v *= opt.momentum  # v = momentum v + g
    v += g
    p -= lr * (g + opt.momentum * v if opt.nesterov else v)


def _adam(opt: Adam, xp: Any, p: Array, g: Array, bufs: tuple[Array, ...], lr: Any, t: Array) -> None:
    """Adam._step (and AdamW's) in place."""
    m, v = bufs
    b1, b2 = opt.beta1, opt.beta2
    decoupled = isinstance(opt, AdamW)
    if opt.weight_decay and not decoupled:
        g = g + opt.weight_decay * p
    if opt.weight_decay and decoupled:
        p *= 1.0 - lr * opt.weight_decay  # p <- p (1 - lr wd)
    m *= b1  # m = b1 m + (1 - b1) g
    m += (1.0 - b1) * g
    v *= b2  # v = b2 v + (1 - b2) g^2
    v += (1.0 - b2) * (g * g)
    p -= lr * (m / (1.0 - b1**t)) / (xp.sqrt(v / (1.0 - b2**t)) + opt.eps)


def _rmsprop(opt: RMSprop, xp: Any, p: Array, g: Array, bufs: tuple[Array, ...], lr: Any, t: Array) -> None:
    """RMSprop._step in place."""
    if opt.weight_decay:
        g = g + opt.weight_decay * p
    v = bufs[0]
    v *= opt.alpha  # v = alpha v + (1 - alpha) g^2
    v += (1.0 - opt.alpha) * (g * g)
    d = g / (xp.sqrt(v) + opt.eps)
    if opt.momentum:
        b = bufs[1]
        b *= opt.momentum
        b += d
        d = b
    p -= lr * d


#: The in-place form of each built-in optimizer's rule, by class.
RULES: dict[type, Callable[..., None]] = {SGD: _sgd, Adam: _adam, AdamW: _adam, RMSprop: _rmsprop}


def update(optimizer: Optimizer, params: Params, grads: Params, state: dict[str, Any], *, xp: Any
           ) -> tuple[Params, dict[str, Any]]:
    """``optimizer.update`` with the arrays of ``params`` and ``state`` updated in place (and
    returned). Only for arrays the caller owns (``fit``'s own copies)."""
    rule = RULES.get(type(optimizer))
    if rule is None:
        return optimizer.update(params, grads, state, inplace=True, xp=xp)
    lr, t = optimizer.learning_rate(state), state["step"] + 1.0
    grads = optimizer.clip(xp, grads)
    slots = optimizer.slots
    for i, (p, g) in enumerate(zip(params, grads)):
        for k, v in p.items():
            rule(optimizer, xp, v, g[k], tuple(state[s][i][k] for s in slots), lr, t)
    return params, {**state, "step": t}
