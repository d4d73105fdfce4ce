"""The fit loop: mini-batches, shuffling, history, validation.

The work per batch is one call of the pure step ``(params, opt_state, X, T,
idx) -> (params, opt_state, loss, correct)``, compiled on JAX, with the batch
gathered inside it from data moved to the device once per ``fit``. Losses and
correct counts are summed on the device and read once per epoch, so no batch
waits for the host.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _checks
from .losses import Loss, Regularizer

__all__ = ["History", "fit"]


class History:
    """What ``fit`` returns: per-epoch metrics, as Keras' ``History``.

    Attributes
    ----------
    history : dict of str -> list of float
        ``"loss"`` and, for classification losses, ``"accuracy"``; with
        validation data also ``"val_loss"`` and ``"val_accuracy"``.
    epoch : list of int
        The epoch numbers (from 0).
    params : dict
        The settings of the run (epochs, batch_size, steps per epoch, ...).
    """

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = dict(params or {})

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


def fit(
    model: Any,
    x: Any,
    t: Any,
    /,
    *,
    loss: Loss,
    optimizer: Any,
    epochs: int = 1,
    batch_size: int = 32,
    validation_data: tuple[Any, Any] | None = None,
    seed: int = 0,
    regularizer: Regularizer | None = None,
    shuffle: bool = True,
    verbose: int = 1,
    callbacks: Sequence[Callable[[int, dict[str, float]], Any]] = (),
) -> History:
    """Train ``model`` in place with mini-batch gradient descent.

    Parameters
    ----------
    x : array (N, *input_shape)
        Inputs, NumPy or the model's backend; moved to the device once.
    t : array (N,) or (N, ...)
        Targets as the loss wants them (labels, one-hot, 0/1, -1/+1, values).
    loss : Loss
    optimizer : Optimizer
        Its state starts fresh at every call.
    epochs : int
        Passes over the data.
    batch_size : int
        Samples per step; the last, smaller batch of an epoch is used too.
    validation_data : (x_val, t_val), optional
        Evaluated after every epoch (``val_loss``, ``val_accuracy``).
    seed : int
        Seeds the shuffling and dropout: the same seed gives the same run.
    regularizer : Regularizer, optional
        ``lambda R(W)``, included in the loss and the gradient.
    shuffle : bool
        Shuffle the samples each epoch (default True).
    verbose : {0, 1}
        1 prints a line per epoch.
    callbacks : sequence of callables
        Each is called as ``cb(epoch, logs)`` after every epoch; returning
        ``True`` stops training.

    Returns
    -------
    History
    """
    where = "fit"
    epochs = _checks.check_positive_int(epochs, name="epochs", where=where, minimum=0)
    batch_size = _checks.check_positive_int(batch_size, name="batch_size", where=where)
    _checks.check_positive_int(seed, name="seed", where=where, minimum=0)
    be = model.backend
    X = model._inputs(x, where=where)
    n = X.shape[0]
    T = model._targets(t, loss, where=where, n=n)
    val = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError(f"{where}: validation_data must be a pair (x_val, t_val)")
        xv = model._inputs(validation_data[0], name="validation_data[0]", where=where)
        val = (xv, model._targets(validation_data[1], loss, name="validation_data[1]", where=where,
                                  n=xv.shape[0]))

    step = model._compiled_fn("step", loss, optimizer, regularizer, seed)
    state = optimizer.init(model.params)
    params = model.params
    rng = be.host_rng(seed)
    steps = -(-n // batch_size)
    hist = History({"epochs": epochs, "batch_size": batch_size, "steps": steps, "samples": n,
                    "backend": be.name, "dtype": model.dtype})
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n) if shuffle else range(n)
        idx_all = be.asarray(order, dtype=be.default_int())  # one transfer per epoch
        batches = [idx_all[s * batch_size:min(n, (s + 1) * batch_size)] for s in range(steps)]
        start = _keep(be, params, state)  # to replay the epoch if it diverges
        total = correct = None
        for idx in batches:
            params, state, value, c = step(params, state, X, T, idx)
            b = idx.shape[0]
            total = value * b if total is None else total + value * b
            if c is not None:
                correct = c if correct is None else correct + c
        logs = {"loss": float(total) / n}
        if not (math.isfinite(logs["loss"]) and _finite(be.xp, params)):
            _diverged(model, step, start, X, T, batches, epoch, epochs)
        model.params = params
        if correct is not None:
            logs["accuracy"] = float(correct) / n
        if val is not None:
            v = model._evaluate(val[0], val[1], loss, regularizer, 4096)
            logs.update({f"val_{k}": value for k, value in v.items()})
        hist.append(epoch, logs)
        if verbose:
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
            print(f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}  {metrics}  "
                  f"({time.perf_counter() - t0:.2f}s)", file=sys.stdout, flush=True)
        stop = False
        for cb in callbacks:
            stop = bool(cb(epoch, logs)) or stop
        if stop:
            break
    return hist


def _keep(be: Any, params: Any, state: Any) -> tuple[Any, Any]:
    """References to (params, state), or copies where the step donates its buffers."""
    if not be.donates:
        return params, state
    xp = be.xp
    copy = [{k: xp.asarray(v, copy=True) for k, v in p.items()} for p in params]
    st = {k: (xp.asarray(v, copy=True) if not isinstance(v, list)
              else [{kk: xp.asarray(vv, copy=True) for kk, vv in d.items()} for d in v])
          for k, v in state.items()}
    return copy, st


def _finite(xp: Any, params: Any) -> bool:
    return all(bool(xp.all(xp.isfinite(v))) for p in params for v in p.values())


def _diverged(model: Any, step: Callable, start: tuple[Any, Any], X: Any, T: Any, batches: list,
              epoch: int, epochs: int) -> None:
    """Replay the epoch step by step from its start to name the step where the loss or
    the parameters stopped being finite; leave the model at the last finite parameters."""
    be, xp = model.backend, model.backend.xp
    params, state = start
    for s, idx in enumerate(batches):
        kept = _keep(be, params, state)
        new_params, new_state, value, _ = step(params, state, X, T, idx)
        v = float(value)
        if not math.isfinite(v) or not _finite(xp, new_params):
            model.params = kept[0]
            what = (f"the loss became {v}" if not math.isfinite(v)
                    else "a gradient made the parameters non-finite")
            raise FloatingPointError(
                f"fit: training diverged in epoch {epoch + 1}/{epochs}, step {s + 1}/{len(batches)}: "
                f"{what}. The model keeps its parameters from before that step. Lower the learning "
                "rate, scale the inputs, or clip gradients (e.g. optimizer clip_norm=1.0)."
            )
        params, state = new_params, new_state
    model.params = start[0]
    raise FloatingPointError(
        f"fit: training diverged in epoch {epoch + 1}/{epochs} but not when replayed step by step "
        "(a non-deterministic backend?); the model keeps its parameters from the start of that epoch."
    )
