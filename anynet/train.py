"""The fit loop: mini-batches, shuffling, history, validation.

The work per batch is one call of the pure step ``(params, opt_state, X, T,
idx) -> (params, opt_state, loss, correct)``, compiled on JAX, with the batch
gathered inside it from data moved to the device once per ``fit``. Losses are
summed on the device and read once per epoch, so no batch waits for the host;
right predictions are counted once per epoch from the outputs of all its steps.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _checks
from ._tree import Flat, pack
from .callbacks import Callback, LambdaCallback, Run
from .losses import Loss, Regularizer
from .losses import _one_hot as one_hot

__all__ = ["History", "fit"]


#: Up to how many output elements per epoch (samples x outputs) fit keeps the outputs of
#: an epoch's steps to count right predictions once (64 MB of float32), not per step.
_STACK_LIMIT = 1 << 24


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

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> hist = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.5),
    ...                  epochs=3, verbose=0, validation_data=(x, t))
    >>> hist.epoch, sorted(hist.history), hist.params["steps"]
    ([0, 1, 2], ['accuracy', 'loss', 'val_accuracy', 'val_loss'], 1)
    >>> hist.history["loss"][-1] < hist.history["loss"][0]
    True
    >>> h = an.History()  # built by fit, one append per epoch
    >>> h.append(0, {"loss": 0.9})
    >>> h.append(1, {"loss": 0.5})
    >>> h
    History(epochs=2, last={'loss': 0.5})
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
    callbacks: Sequence[Callback | Callable[[int, dict[str, float]], Any]] = (),
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
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
    verbose : {0, 1, 2}
        0: silent. 1: a progress bar over the epochs with the latest metrics
        when the output is a terminal and ``tqdm`` is installed, else a line per
        epoch. 2: a line per epoch.
    callbacks : sequence of Callback or callables
        :mod:`anynet.callbacks` objects (``EarlyStopping``, ``LearningRateScheduler``,
        ...) or functions ``fn(epoch, logs)`` called after every epoch (returning
        ``True`` stops training).
    checkpoint : path, optional
        Write a checkpoint there (atomically: one ``.npz``, no pickle) every
        ``checkpoint_every`` epochs and after the last: weights, optimizer state,
        the shuffling generator's position, the epoch and the history.
    checkpoint_every : int
        Epochs between checkpoints (default 1).
    resume : bool
        If ``checkpoint`` exists, continue from it: the run then ends exactly as
        one that was never interrupted (same seed, batch size, optimizer and
        architecture required; callbacks start afresh). If it does not exist,
        start from the beginning. So the same command can be rerun after a crash.

    Returns
    -------
    History
    """
    where = "fit"
    epochs = _checks.check_positive_int(epochs, name="epochs", where=where, minimum=0)
    batch_size = _checks.check_positive_int(batch_size, name="batch_size", where=where)
    _checks.check_positive_int(seed, name="seed", where=where, minimum=0)
    checkpoint_every = _checks.check_positive_int(checkpoint_every, name="checkpoint_every", where=where)
    if resume and checkpoint is None:
        raise ValueError(f"{where}: resume=True needs checkpoint= (the file to resume from)")
    if verbose not in (0, 1, 2):
        raise ValueError(f"{where}: verbose must be 0, 1 or 2, got {verbose!r}")
    cbs = [cb if isinstance(cb, Callback) else LambdaCallback(cb) for cb in callbacks]
    for i, cb in enumerate(cbs):
        if isinstance(cb, LambdaCallback) and not callable(cb.fn):
            raise TypeError(f"{where}: callbacks[{i}] must be a Callback or a callable, got {cb.fn!r}")
    be = model.backend
    X, T = training_data(model, x, t, loss, where=where)
    n = X.shape[0]
    val = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError(f"{where}: validation_data must be a pair (x_val, t_val)")
        xv = model._inputs(validation_data[0], name="validation_data[0]", where=where)
        val = (xv, model._targets(validation_data[1], loss, name="validation_data[1]", where=where,
                                  n=xv.shape[0]))

    # In-place updates (NumPy, CuPy, torch) or donated buffers (JAX) work on copies
    # that fit owns: the caller's arrays (the model's params before fit) stay intact.
    inplace = be.inplace
    step = model._compiled_fn("step", loss, optimizer, regularizer, seed, inplace)
    # count an epoch's right predictions after its loop from all its outputs, if they fit
    out = model.output_shape
    stack = out is not None and n * math.prod(out) <= _STACK_LIMIT
    epoch_fn = model._compiled_fn("epoch", loss, optimizer, regularizer, seed, inplace, batch_size, stack)
    params = _copy(be.xp, model.params) if (inplace or be.donates) else model.params
    rng = be.host_rng(seed)
    full, rest = divmod(n, batch_size)
    steps = full + (rest > 0)
    hist = History({"epochs": epochs, "batch_size": batch_size, "steps": steps, "samples": n,
                    "backend": be.name, "dtype": model.dtype})
    run = Run(model, optimizer, optimizer.init(params), hist)
    first = 0
    if resume and os.path.exists(checkpoint):
        params, first = _resume(model, checkpoint, run, rng, optimizer=optimizer, seed=seed,
                                batch_size=batch_size, inplace=inplace)
    if inplace and _packs(be, model, optimizer):  # fit's copies, packed: one update for all
        params, run.opt_state = _pack(be.xp, params, run.opt_state, optimizer)
    for cb in cbs:
        cb.run = run
        cb.on_train_begin({})
    progress = _Progress(verbose, epochs)
    try:
        for epoch in range(first, epochs):
            run.epoch = epoch
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            t0 = time.perf_counter()
            order = rng.permutation(n) if shuffle else range(n)
            idx_all = be.asarray(order, dtype=be.default_int())  # one transfer per epoch
            state = run.opt_state
            start = _keep(be, params, state)  # to replay the epoch if it diverges
            total = correct = 0.0
            if full:  # every full batch in one call: one compiled loop on JAX
                batches = be.xp.reshape(idx_all[:full * batch_size], (full, batch_size))
                params, state, total, correct = epoch_fn(params, state, X, T, batches)
            if rest:  # the last, partial batch
                params, state, value, c = step(params, state, X, T, idx_all[full * batch_size:])
                total, correct = total + value * rest, correct + c
            run.opt_state = state
            logs = {"loss": float(total) / n}  # the one host synchronization of the epoch
            if not (math.isfinite(logs["loss"]) and _finite(be.xp, params)):
                batches = [idx_all[i:min(n, i + batch_size)] for i in range(0, n, batch_size)]
                _diverged(model, step, start, X, T, batches, epoch, epochs)
            model.params = _unpacked(params)
            if getattr(loss, "classifies", False):
                logs["accuracy"] = float(correct) / n
            if val is not None:
                v = model._evaluate(val[0], val[1], loss, regularizer, 4096)
                logs.update({f"val_{k}": value for k, value in v.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            hist.append(epoch, logs)
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
                                           or run.stop_training):
                _save(model, checkpoint, run, rng, epoch=epoch + 1, seed=seed, batch_size=batch_size)
            progress.update(epoch, logs, time.perf_counter() - t0)
            if run.stop_training:
                break
    finally:
        progress.close()
    model.params = _unpacked(params)
    for cb in cbs:
        cb.on_train_end(_last(hist))
    return hist


def _last(hist: History) -> dict[str, float]:
    return {k: v[-1] for k, v in hist.history.items() if v}


class _Progress:
    """Per-epoch reporting: a tqdm bar on a terminal (verbose=1), else one line per epoch."""

    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose, self.epochs, self.bar = verbose, epochs, None
        if verbose == 1 and sys.stdout.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=epochs, unit="epoch", file=sys.stdout, dynamic_ncols=True)

    def update(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            self.bar.update(1)
            return
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
        print(f"epoch {epoch + 1:>{len(str(self.epochs))}}/{self.epochs}  {metrics}  ({seconds:.2f}s)",
              file=sys.stdout, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def training_data(model: Any, x: Any, t: Any, loss: Loss, *, where: str = "fit") -> tuple[Any, Any]:
    """Inputs and targets checked and moved to the model's device, as ``fit`` trains on them.

    Class labels become one-hot rows here, once, rather than in every step (the
    classification losses take either; this saves a few operations per step).
    """
    X = model._inputs(x, where=where)
    n = X.shape[0]
    T = model._targets(t, loss, where=where, n=n)
    out = model.output_shape
    if getattr(loss, "target", None) == "labels" and T.ndim == 1 and out and n * out[-1] <= 1 << 25:
        T = one_hot(model.backend.xp, T, out[-1], X.dtype)
    return X, T


def _copy(xp: Any, tree: Any) -> Any:
    """Copies of every array in a list/dict structure (packed ones stay packed)."""
    if isinstance(tree, Flat):
        return pack(xp, tree)
    if isinstance(tree, list):
        return [_copy(xp, v) for v in tree]
    if isinstance(tree, dict):
        return {k: _copy(xp, v) for k, v in tree.items()}
    return xp.asarray(tree, copy=True)


def _packs(be: Any, model: Any, optimizer: Any) -> bool:
    """Whether fit packs (see :func:`_pack`): an elementwise optimizer with buffers
    (plain SGD has none: its update is as short per array), a backend whose slices
    are views, and a model within the backend's ``pack_limit``."""
    limit = be.pack_limit
    return (be.views and getattr(optimizer, "_elementwise", False) and bool(optimizer._slots)
            and (limit is None or model.count_params() <= limit))


def _pack(xp: Any, params: Any, state: dict[str, Any], optimizer: Any) -> tuple[Any, dict[str, Any]]:
    """``params`` and the optimizer's per-parameter buffers as views into one buffer
    each (:func:`anynet._tree.pack`), so that an elementwise optimizer updates
    them all with a few operations. The values are the same; only the storage changes."""
    params = pack(xp, params)
    slots = set(getattr(optimizer, "_slots", ()))
    return params, {k: pack(xp, v, params) if k in slots else v for k, v in state.items()}


def _unpacked(params: Any) -> Any:
    """A plain list of dicts for the model to hold (the arrays may stay views of fit's
    buffer): the user may replace its entries without the buffer knowing."""
    return [dict(d) for d in params] if isinstance(params, Flat) else params


def _keep(be: Any, params: Any, state: Any) -> tuple[Any, Any]:
    """(params, state) as they are now: references where steps create new arrays, copies
    where they update in place or donate their buffers."""
    if be.inplace or be.donates:
        return _copy(be.xp, params), _copy(be.xp, state)
    return params, state


def _finite(xp: Any, params: Any) -> bool:
    if isinstance(params, Flat):
        return bool(xp.all(xp.isfinite(params.flat)))
    return all(bool(xp.all(xp.isfinite(v))) for p in params for v in p.values())


def _diverged(model: Any, step: Callable, start: tuple[Any, Any], X: Any, T: Any, batches: list,
              epoch: int, epochs: int) -> None:
    """Replay the epoch step by step from its start to name the step where the loss or
    the parameters stopped being finite; leave the model at the last finite parameters."""
    be, xp = model.backend, model.backend.xp
    params, state = _keep(be, *start)
    for s, idx in enumerate(batches):
        kept = _keep(be, params, state)
        new_params, new_state, value, _ = step(params, state, X, T, idx)
        v = float(value)
        if not math.isfinite(v) or not _finite(xp, new_params):
            model.params = _unpacked(kept[0])
            what = (f"the loss became {v}" if not math.isfinite(v)
                    else "a gradient made the parameters non-finite")
            raise FloatingPointError(
                f"fit: training diverged in epoch {epoch + 1}/{epochs}, step {s + 1}/{len(batches)}: "
                f"{what}. The model keeps its parameters from before that step. Lower the learning "
                "rate, scale the inputs, or clip gradients (e.g. optimizer clip_norm=1.0)."
            )
        params, state = new_params, new_state
    model.params = _unpacked(start[0])
    raise FloatingPointError(
        f"fit: training diverged in epoch {epoch + 1}/{epochs} but not when replayed step by step "
        "(a non-deterministic backend?); the model keeps its parameters from the start of that epoch."
    )


def _save(model: Any, path: Any, run: Run, rng: Any, *, epoch: int, seed: int, batch_size: int) -> None:
    from .io import save

    save(model, path, opt_state=run.opt_state, optimizer=run.optimizer,
         extra={"fit": {"epoch": epoch, "seed": seed, "batch_size": batch_size},
                "history": run.history.history, "history_params": run.history.params,
                "rng": rng.bit_generator.state})


def _resume(model: Any, path: Any, run: Run, rng: Any, *, optimizer: Any, seed: int, batch_size: int,
            inplace: bool) -> tuple[Any, int]:
    """Load a checkpoint written by fit into this run; return (params, first epoch)."""
    from .io import CheckpointError, load_checkpoint

    be = model.backend
    ck = load_checkpoint(path, backend=be)
    fit_info = (ck.extra or {}).get("fit")
    if not isinstance(fit_info, dict) or ck.opt_state is None:
        raise CheckpointError(f"{path}: not a checkpoint written by fit (no optimizer state or fit "
                              "progress); load it with an.load(path) instead")
    if tuple(ck.model.layers) != tuple(model.layers) or ck.model.dtype != model.dtype:
        raise ValueError(f"fit(resume=True): {path} holds a different model "
                         f"({len(ck.model.layers)} layers, {ck.model.dtype}) than this one "
                         f"({len(model.layers)} layers, {model.dtype})")
    wanted = {"optimizer": (ck.optimizer, optimizer), "seed": (fit_info.get("seed"), seed),
              "batch_size": (fit_info.get("batch_size"), batch_size)}
    for name, (saved, now) in wanted.items():
        if saved != now:
            raise ValueError(f"fit(resume=True): {path} was written with {name}={saved!r} but this call "
                             f"has {name}={now!r}; resuming would not reproduce the run")
    params = ck.model.params
    run.opt_state = ck.opt_state_on(be)
    if inplace or be.donates:
        params = _copy(be.xp, params)
    model.params = params
    rng.bit_generator.state = ck.extra["rng"]
    run.history.history = {k: list(v) for k, v in ck.extra.get("history", {}).items()}
    first = int(fit_info["epoch"])
    run.history.epoch = list(range(first))
    return params, first
