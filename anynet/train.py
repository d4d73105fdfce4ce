"""The fit loop: epochs, shuffling, history, validation, callbacks, checkpoints.

The work of an epoch is one call of the engine's epoch function (one compiled
``lax.scan`` on JAX; a loop of steps elsewhere), with the batches gathered
inside the step from data moved to the device once per ``fit``, plus one step
for the last, partial batch. The epoch returns its loss sum, its right
predictions and a flag that says whether everything stayed finite, in one
array: the one host synchronization of the epoch.

This module knows a model only through its public seams (``backend``,
``engine``, ``params``, ``state``, ``check_inputs``, ``check_targets``,
``output_shape``, ``count_params``): it never imports the model class.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from array_api_compat import array_namespace

from . import _checks, io, losses, optim
from . import metrics as metrics_
from ._packing import KEY, Packing
from ._tree import leaves, tree_map
from .backends import to_numpy
from .callbacks import Callback, LambdaCallback, Run
from .engine import Engine, TrainConfig
from .losses import Loss, Regularizer, one_hot

__all__ = ["History", "evaluate", "fit", "sample_weights", "training_data"]


#: Up to how many output elements per epoch (samples x outputs) fit keeps the outputs of
#: an epoch's steps to count right predictions once (64 MB of float32), not per step.
STACK_LIMIT = 1 << 24

#: An epoch predicted to train longer than this (seconds) gets a progress bar over its steps
#: (``verbose=1`` on a terminal, with tqdm), updated about every ``CHUNK_SECONDS``: fit then
#: runs the epoch's steps in pieces of that much work, reading the running loss after each.
LONG_EPOCH_SECONDS = 2.0
CHUNK_SECONDS = 0.5

#: Tests only: run every epoch in pieces of this many steps, bar or not (``None``: as above).
_CHUNK_STEPS: int | None = None


class History:
    """What ``fit`` returns: per-epoch metrics, as Keras' ``History``.

    Attributes
    ----------
    history : dict of str -> list of float
        ``"loss"`` and, for classification losses, ``"accuracy"``; with
        validation data also ``"val_loss"`` and ``"val_accuracy"``; one entry per
        metric asked for (``fit(metrics=[...])``), ``val_`` ones too.
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
    metrics: Sequence[Any] = (),
    sample_weight: Any = None,
    class_weight: dict[int, float] | None = None,
    validation_split: float = 0.0,
    reset_optimizer: bool = False,
) -> History:
    """Train ``model`` in place with mini-batch gradient descent.

    Parameters
    ----------
    x : array (N, *input_shape)
        Inputs, NumPy or the model's backend; moved to the device once.
    t : array (N,) or (N, ...)
        Targets as the loss wants them (labels, one-hot, 0/1, -1/+1, values).
    loss : Loss, or its name
        A name (``"softmax_cross_entropy"``, ``"categorical_crossentropy"``, ``"mse"``...)
        gets the loss with its defaults (:func:`anynet.losses.get`).
    optimizer : Optimizer, or its name or class
        A name (``"sgd"``, ``"adam"``...) or an optimizer class gets its defaults
        (:func:`anynet.optim.get`). A second ``fit`` with an equal optimizer continues its
        state (Adam's moments, the update count, a learning rate changed by callbacks),
        as a Keras model keeps its optimizer between ``fit`` calls; another optimizer, or
        ``reset_optimizer=True``, starts afresh. The state is kept as ``model.optimizer``
        and ``model.opt_state``.
    epochs : int
        Passes over the data.
    batch_size : int
        Samples per step; the last, smaller batch of an epoch is used too. On a model
        spread over several devices (data-parallel, JAX) a multiple of their number:
        each device computes ``batch_size / n_devices`` samples of every step (the
        last, smaller batch runs on all devices replicated).
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
        epoch; there, a long epoch (over ``LONG_EPOCH_SECONDS``, 2 s) also gets a bar
        over its steps with the running loss and the time left, as Keras' (the epoch
        then runs in pieces of about 0.5 s: the same numbers, bit for bit). 2: a line
        per epoch.
    callbacks : sequence of Callback or callables
        :mod:`anynet.callbacks` objects (``EarlyStopping``, ``LearningRateScheduler``,
        ...) or functions ``fn(epoch, logs)`` called after every epoch (returning
        ``True`` stops training).
    checkpoint : path, optional
        Write a checkpoint there (atomically: one ``.npz``, no pickle) every
        ``checkpoint_every`` epochs and after the last: weights, layer state,
        optimizer state, the shuffling generator's position, the epoch and the history.
    checkpoint_every : int
        Epochs between checkpoints (default 1).
    resume : bool
        If ``checkpoint`` exists, continue from it: the run then ends exactly as
        one that was never interrupted (same seed, batch size, optimizer and
        architecture required; callbacks start afresh). If it does not exist,
        start from the beginning. So the same command can be rerun after a crash.
    metrics : sequence of str or Metric
        More metrics per epoch in the history (and ``val_`` ones with validation data):
        ``"precision"``, ``"recall"``, ``"f1"``, ``"f1_per_class"``, ``"top_k_accuracy"``,
        ``"roc_auc"``, ``"mae"``, ``"r2"``... (:mod:`anynet.metrics`). They are computed
        after each epoch from the model's outputs on the whole training (and validation)
        data, one inference pass each: exact for the epoch's final weights (Keras instead
        averages over the epoch's steps), and nothing is added to the training steps.
        ``"accuracy"`` is accepted and reported anyway for classification losses.
    sample_weight : array (N,), optional
        Non-negative weights per sample: the training loss is ``sum_i w_i L_i / N`` per
        batch (Keras' reduction; weights of 1 change nothing) and its exact gradient.
        The reported training loss is the weighted one; accuracy and validation are unweighted.
    class_weight : dict {class: weight}, optional
        Weights per class index (0..C-1; 0 and 1 for one output), 1 for classes not named;
        multiplied into ``sample_weight``.
    validation_split : float in [0, 1)
        Hold out the last fraction of ``x``/``t`` (before any shuffling, as Keras) as
        validation data. Not together with ``validation_data``.
    reset_optimizer : bool
        Start the optimizer's state afresh even if this model was fit with the same one.

    Returns
    -------
    History

    Examples
    --------
    ``model.fit(x, t, ...)`` calls this:

    >>> import numpy as np, anynet as an
    >>> x, t = an.datasets.make_blobs(60, noise=0.2, seed=0)
    >>> model = an.Sequential(an.layers.mlp(2, (8,), 3), seed=0)
    >>> hist = an.train.fit(model, x, t, loss=an.losses.SoftmaxCrossEntropy(),
    ...                     optimizer=an.optim.Adam(lr=0.05), epochs=5, verbose=0)
    >>> len(hist.history["loss"]), hist.history["loss"][-1] < hist.history["loss"][0]
    (5, True)
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
    cbs = _callbacks(callbacks, where)
    optimizer, loss = optim.get(optimizer), losses.get(loss)
    be, engine = model.backend, model.engine
    mets = _metrics(metrics, loss, where)
    X, T = training_data(model, x, t, loss, where=where)
    W = sample_weights(model, T, loss, sample_weight, class_weight, where)
    val = _validation(model, validation_data, loss, where)
    if validation_split:
        if val is not None:
            raise ValueError(f"{where}: give validation_data or validation_split, not both")
        X, T, W, val = _split(X, T, W, validation_split, where)
    T_plain, train_loss = T, loss  # the targets as the loss takes them (for metrics)
    if W is not None:  # the weights travel with the targets, as their last column
        if T.ndim == 1 and loss.target == "labels":  # labels left as they were (a large one-hot)
            T = one_hot(be.xp, T, model.output_shape[-1], X.dtype)
        train_loss = losses.WithWeights(loss, tuple(T.shape[1:]))
        T = train_loss.pack(T, W)
    n = X.shape[0]
    full, rest = divmod(n, batch_size)
    n_dev = len(be.devices)
    if batch_size % n_dev:
        raise ValueError(f"{where}: batch_size={batch_size} does not split over the model's {n_dev} devices; "
                         f"use a multiple of {n_dev} (each device computes batch_size / {n_dev} samples)")
    hist = History({"epochs": epochs, "batch_size": batch_size, "steps": full + (rest > 0), "samples": n,
                    "backend": be.name, "dtype": model.dtype, "devices": [str(d) for d in be.devices],
                    "per_device_batch": batch_size // n_dev})
    previous = getattr(model, "opt_state", None)
    if reset_optimizer or previous is None or getattr(model, "optimizer", None) != optimizer:
        previous = optimizer.init(model.params)
    else:
        previous = _copy(previous)  # the next epochs may update it in place
    model.opt_state = None  # set again when this fit ends well; a failed fit leaves no stale state
    run = Run(model, optimizer, previous, hist)
    rng = be.host_rng(seed)
    first = 0
    if resume and os.path.exists(checkpoint):
        first = _resume(model, checkpoint, run, rng, optimizer=optimizer, seed=seed, batch_size=batch_size)

    # the fast paths: small models as one flat array (anynet._packing), updated in place where
    # the arrays can be written (anynet._inplace): on fit's own copies, never the caller's arrays
    packing, inplace = _packing(model, optimizer), be.writable
    cfg = TrainConfig(train_loss, optimizer, regularizer, seed, packing, inplace)
    out = model.output_shape
    stack = out is not None and n * math.prod(out) <= STACK_LIMIT
    epoch_fn, step_fn = engine.compiled("epoch", cfg, stack), engine.compiled("step", cfg)
    params, state = _pack(packing, model.params), model.state
    if inplace and packing is None:
        params = _copy(params)
    run.opt_state = packing.pack_state(run.opt_state) if packing else run.opt_state

    for cb in cbs:
        cb.run = run
        cb.on_train_begin({})
    progress = _Progress(verbose, epochs)
    chunks = _Chunks(progress.tqdm is not None, be.compiles, full)
    try:
        for epoch in range(first, epochs):
            run.epoch = epoch
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            t0 = time.perf_counter()
            order = be.asarray(rng.permutation(n) if shuffle else range(n), dtype=be.default_int())
            start = _keep(inplace, (params, state, run.opt_state))  # to replay the epoch if it diverges
            if chunks.wanted():  # a long epoch: in pieces, with a bar over its steps
                params, state, run.opt_state, stats = _chunked_epoch(
                    engine, engine.compiled("chunk", cfg, stack), step_fn, (params, state, run.opt_state),
                    X, T, order, batch_size, train_loss, chunks,
                    functools.partial(progress.steps, epoch, hist.params["steps"]))
            else:
                params, state, run.opt_state, stats = _epoch(engine, epoch_fn, step_fn,
                                                             (params, state, run.opt_state),
                                                             X, T, order, batch_size, train_loss,
                                                             on_dispatch=chunks.dispatched)
            loss_sum, correct, finite = (float(v) for v in to_numpy(stats))  # the one synchronization
            chunks.measured(t0, time.perf_counter())
            if not (finite and math.isfinite(loss_sum)):
                _diverged(model, step_fn, start, X, T, order, batch_size, cfg, epoch, epochs)
            model.params, model.state = _unpack(packing, params), state
            logs = {"loss": loss_sum / n}
            if loss.classifies:
                logs["accuracy"] = correct / n
            if mets:
                logs.update(_metric_logs(engine, model.params, model.state, X, T_plain, mets, loss))
            if val is not None:
                v = evaluate(engine, model.params, model.state, *val, loss=loss, regularizer=regularizer,
                             metrics=mets)
                logs.update({f"val_{k}": value for k, value in v.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            hist.append(epoch, logs)
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
                                           or run.stop_training):
                _save(model, checkpoint, run, packing, rng, epoch=epoch + 1, seed=seed, batch_size=batch_size)
            progress.update(epoch, logs, time.perf_counter() - t0)
            if run.stop_training:
                break
    finally:
        progress.close()
        run.opt_state = packing.unpack_state(run.opt_state) if packing else run.opt_state
    model.optimizer, model.opt_state = optimizer, run.opt_state  # the next fit continues from here
    for cb in cbs:
        cb.on_train_end(_last(hist))
    return hist


def _epoch(engine: Engine, epoch_fn: Callable, step_fn: Callable, start: tuple[Any, Any, Any], X: Any, T: Any,
           order: Any, batch_size: int, loss: Loss, *,
           on_dispatch: Callable[[], None] | None = None) -> tuple[Any, Any, Any, Any]:
    """One epoch: every full batch in one call of ``epoch_fn``, then the last partial one.
    ``on_dispatch()`` is called when ``epoch_fn`` returns (on JAX: compiled and queued)."""
    xp = engine.backend.xp
    params, state, opt_state = start
    n = X.shape[0]
    full, rest = divmod(n, batch_size)
    stats = None
    if full:  # one row of indices per step, split over the devices for data-parallel training
        batches = engine.backend.put_batch(xp.reshape(order[:full * batch_size], (full, batch_size)), axis=1)
        params, state, opt_state, stats = epoch_fn(params, state, opt_state, X, T, batches)
        if on_dispatch is not None:
            on_dispatch()
    if rest:
        params, state, opt_state, stats = _last_batch(engine, step_fn, (params, state, opt_state), stats, X, T,
                                                      order, batch_size, loss)
    return params, state, opt_state, stats


def _last_batch(engine: Engine, step_fn: Callable, start: tuple[Any, Any, Any], stats: Any, X: Any, T: Any,
                order: Any, batch_size: int, loss: Loss) -> tuple[Any, Any, Any, Any]:
    """The last, partial batch: [loss sum, right predictions, finite] as the epoch's, added to ``stats``."""
    xp = engine.backend.xp
    params, state, opt_state = start
    n = X.shape[0]
    full, rest = divmod(n, batch_size)
    idx = order[full * batch_size:]
    params, state, opt_state, value, y = step_fn(params, state, opt_state, X, T, idx)
    correct = loss.correct(y, xp.take(T, idx, axis=0), xp=xp) if loss.classifies else value * 0.0
    tail = xp.stack([value * rest, correct, engine.all_finite(value, params, xp)])
    stats = tail if stats is None else xp.stack([stats[0] + tail[0], stats[1] + tail[1],
                                                 xp.minimum(stats[2], tail[2])])
    return params, state, opt_state, stats


def _chunked_epoch(engine: Engine, chunk_fn: Callable, step_fn: Callable, start: tuple[Any, Any, Any], X: Any,
                   T: Any, order: Any, batch_size: int, loss: Loss, chunks: _Chunks,
                   bar_of: Callable[[], _StepProgress | None]) -> tuple[Any, Any, Any, Any]:
    """One epoch as :func:`_epoch`, its full batches in pieces of steps (``chunks`` says how
    many), reading the running loss after each for the bar over the steps (``bar_of()`` makes
    it once ``chunks`` holds the epoch long): the same steps in the same order, the running
    totals carried from piece to piece, so the same numbers bit for bit."""
    be = engine.backend
    xp = be.xp
    params, state, opt_state = start
    n = X.shape[0]
    full, rest = divmod(n, batch_size)
    acc = be.asarray([0.0, 0.0, 1.0], dtype=X.dtype)  # [loss total, right predictions, finite]
    done, t0, bar = 0, time.perf_counter(), None
    try:
        k = chunks.size(0, 0.0)
        while done < full:
            batches = be.put_batch(xp.reshape(order[done * batch_size:(done + k) * batch_size], (k, batch_size)),
                                   axis=1)
            params, state, opt_state, acc = chunk_fn(params, state, opt_state, X, T, batches, acc)
            total, correct, finite = (float(v) for v in to_numpy(acc))  # the one synchronization of the piece
            done += k
            if done < full:  # the next piece's size (after the first piece of a first epoch: is it long?)
                k = chunks.size(done, time.perf_counter() - t0)
            if bar is None and chunks.length is not None:
                bar = bar_of()
            if bar is not None:
                bar.update(done, total / done, correct / (done * batch_size) if loss.classifies else None)
            if not (finite and math.isfinite(total)):  # diverged: fit replays the epoch from its start
                return params, state, opt_state, acc
        stats = xp.stack([acc[0] * batch_size, acc[1], acc[2]]) if full else None  # as the epoch's own
        if rest:
            params, state, opt_state, stats = _last_batch(engine, step_fn, (params, state, opt_state), stats, X, T,
                                                          order, batch_size, loss)
            if bar is not None:
                bar.update(full + 1, None, None)
    finally:
        if bar is not None:
            bar.close()
    return params, state, opt_state, stats


def evaluate(engine: Engine, params: Any, state: Any, X: Any, T: Any, /, *, loss: Loss,
             regularizer: Regularizer | None = None, batch_size: int = 4096,
             metrics: Sequence[Any] = (), sample_weight: Any = None) -> dict[str, float]:
    """Mean loss (plus the penalty) and, for classification losses, accuracy of arrays already
    checked and on the backend, in batches of ``batch_size`` (``Sequential.evaluate`` checks
    user input and calls this); ``metrics`` as in :func:`fit`; ``sample_weight`` (N,), checked
    and on the backend, weighs the loss as in :func:`fit` (accuracy and metrics are not
    weighted, as Keras's ``metrics=``).

    >>> import numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> be = model.backend  # arrays already checked and on the model's backend
    >>> x, t = be.asarray(np.eye(2), dtype="float32"), be.asarray(np.asarray([0, 1]))
    >>> logs = an.train.evaluate(model.engine, model.params, model.state, x, t,
    ...                          loss=an.losses.SoftmaxCrossEntropy())
    >>> sorted(logs)
    ['accuracy', 'loss']
    """
    loss = losses.get(loss)
    fn = engine.compiled("evaluate", loss)
    n = X.shape[0]
    total, correct = 0.0, 0.0
    for i in range(0, n, batch_size):
        j = min(n, i + batch_size)  # in bounds: the standard leaves larger stops unspecified
        extra = () if sample_weight is None else (sample_weight[i:j],)
        value, c = fn(params, state, X[i:j, ...], T[i:j, ...], *extra)
        total = total + value * (j - i)
        correct = None if c is None else correct + c
    out = {"loss": float(total) / n}
    if regularizer is not None:
        out["loss"] += float(regularizer.value_and_grad(params, engine.layers)[0])
    if correct is not None:
        out["accuracy"] = float(correct) / n
    mets = _metrics(metrics, loss, "evaluate")
    if mets:
        out.update(_metric_logs(engine, params, state, X, T, mets, loss, batch_size=batch_size))
    return out


def training_data(model: Any, x: Any, t: Any, loss: Loss, *, where: str = "fit") -> tuple[Any, Any]:
    """Inputs and targets checked and moved to the model's device, as ``fit`` trains on them.

    Class labels become one-hot rows here, once, rather than in every step (the
    classification losses take either; this saves a few operations per step).

    >>> import numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(2, 3)], seed=0)
    >>> X, T = an.train.training_data(model, np.ones((4, 2)), np.asarray([0, 1, 2, 1]),
    ...                               an.losses.SoftmaxCrossEntropy())
    >>> tuple(T.shape), T.dtype == model.backend.dtype("float32")
    ((4, 3), True)
    """
    X = model.check_inputs(x, where=where)
    n = X.shape[0]
    T = model.check_targets(t, loss, where=where, n=n)
    out = model.output_shape
    spread = model.backend.local_count(n) != n  # over several processes: one-hot inside the step instead
    if getattr(loss, "target", None) == "labels" and T.ndim == 1 and out and n * out[-1] <= 1 << 25 and not spread:
        T = one_hot(model.backend.xp, T, out[-1], X.dtype)
    return X, T


# ------------------------------------------------------------------ pieces of fit
def _callbacks(callbacks: Sequence[Any], where: str) -> list[Callback]:
    cbs = [cb if isinstance(cb, Callback) else LambdaCallback(cb) for cb in callbacks]
    for i, cb in enumerate(cbs):
        if isinstance(cb, LambdaCallback) and not callable(cb.fn):
            raise TypeError(f"{where}: callbacks[{i}] must be a Callback or a callable, got {cb.fn!r}")
    return cbs


def _metrics(metrics: Sequence[Any], loss: Loss, where: str) -> list[metrics_.Metric]:
    """The metrics asked for, by name or object; "accuracy" (reported anyway) dropped."""
    if isinstance(metrics, (str, metrics_.Metric)):
        metrics = [metrics]
    out = []
    for m in metrics:
        if isinstance(m, str) and m.strip().lower() in ("accuracy", "acc"):
            if not loss.classifies:
                raise ValueError(f"{where}: metric {m!r} needs a classification loss, not {type(loss).__name__}")
            continue
        try:
            out.append(metrics_.get(m))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return out


def _metric_logs(engine: Engine, params: Any, state: Any, X: Any, T: Any, mets: list[metrics_.Metric],
                 loss: Loss, *, batch_size: int = 4096) -> dict[str, float]:
    """``mets`` on the model's outputs for all of ``X`` (inference mode, in batches)."""
    fn, n = engine.compiled("predict"), X.shape[0]
    parts = [fn(params, state, X[i:min(n, i + batch_size), ...]) for i in range(0, n, batch_size)]
    y = parts[0] if len(parts) == 1 else engine.backend.xp.concat(parts, axis=0)
    return metrics_.compute(mets, y, T, loss=loss)


def sample_weights(model: Any, T: Any, loss: Loss, sample_weight: Any, class_weight: Any,
                    where: str) -> Any:
    """The per-sample weights (N,) of ``sample_weight`` times ``class_weight[t_i]``, checked
    (shape, finite, >= 0; class indices) and on the backend in the model's dtype; None when
    both are None. ``T`` are the targets as :func:`training_data` returns them.

    >>> import numpy as np, anynet as an
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> loss = an.losses.SoftmaxCrossEntropy()
    >>> _, T = an.train.training_data(model, np.zeros((3, 2)), np.asarray([0, 1, 1]), loss)
    >>> w = an.train.sample_weights(model, T, loss, [1.0, 2.0, 0.5], {1: 2.0}, "fit")
    >>> [float(v) for v in w]
    [1.0, 4.0, 1.0]
    """
    if sample_weight is None and class_weight is None:
        return None
    if "weights" not in inspect.signature(loss.value_and_grad).parameters:
        raise TypeError(f"{where}: sample_weight and class_weight need a loss whose value_and_grad takes "
                        f"weights= (every anynet loss does); {type(loss).__name__} does not")
    be, n = model.backend, T.shape[0]
    xp = be.xp
    w = None
    if sample_weight is not None:
        w = _checks.to_backend(be, sample_weight, name="sample_weight", dtype=model.dtype, where=where)
        if tuple(w.shape) != (n,):
            raise ValueError(f"{where}: sample_weight must have shape ({n},), one weight per sample, "
                             f"got {tuple(w.shape)}")
        _checks.check_finite(xp, w, name="sample_weight", where=where)
        if bool(xp.any(w < 0)):
            raise ValueError(f"{where}: sample_weight must be >= 0, got a minimum of {float(xp.min(w))}")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"{where}: class_weight must be a dict {{class index: weight}}, got "
                            f"{type(class_weight).__name__}")
        out = model.output_shape
        width = out[-1] if out else 1
        if not loss.classifies or (loss.target == "binary" and width > 1):
            raise ValueError(f"{where}: class_weight needs one class per sample (a classification loss on "
                             f"single-label targets), not {type(loss).__name__} with {width} outputs")
        n_classes = max(2, width)
        bad = [k for k in class_weight if isinstance(k, bool) or not isinstance(k, int)
               or not 0 <= k < n_classes]
        if bad:
            raise ValueError(f"{where}: class_weight has keys {bad} that are not class indices in "
                             f"[0, {n_classes - 1}]")
        values = [float(class_weight.get(c, 1.0)) for c in range(n_classes)]
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"{where}: class_weight values must be finite and >= 0, got {class_weight}")
        table = be.asarray(values, dtype=model.dtype)
        cw = xp.take(table, metrics_.target_labels(T), axis=0)
        w = cw if w is None else w * cw
    return w


def _split(X: Any, T: Any, W: Any, fraction: float, where: str) -> tuple[Any, Any, Any, Any]:
    """Keras' ``validation_split``: the last ``fraction`` of the samples, before shuffling."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"{where}: validation_split must be a number in [0, 1), got {fraction!r}")
    n = X.shape[0]
    k = math.floor(n * (1.0 - fraction))  # as Keras: the first k train
    if k < 1 or k == n:
        raise ValueError(f"{where}: validation_split={fraction} of {n} samples leaves "
                         f"{k} for training and {n - k} for validation; both need at least one")
    val = (X[k:, ...], T[k:, ...])
    return X[:k, ...], T[:k, ...], None if W is None else W[:k], val


def _validation(model: Any, data: Any, loss: Loss, where: str) -> tuple[Any, Any] | None:
    if data is None:
        return None
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{where}: validation_data must be a pair (x_val, t_val)")
    xv = model.check_inputs(data[0], name="validation_data[0]", where=where)
    return xv, model.check_targets(data[1], loss, name="validation_data[1]", where=where, n=xv.shape[0])


def _packing(model: Any, optimizer: Any) -> Packing | None:
    """The packing fit uses for ``model``: for an elementwise optimizer with buffers (plain
    SGD has none: its update is as short per array) within the backend's ``pack_limit``."""
    limit = model.backend.pack_limit
    if not (getattr(optimizer, "elementwise", False) and optimizer.slots) or limit == 0:
        return None
    if limit is not None and model.count_params() > limit:
        return None
    return Packing.of(model.params)


def _copy(tree: Any) -> Any:
    return tree_map(lambda a: array_namespace(a).asarray(a, copy=True), tree)


def _keep(inplace: bool, tree: Any) -> Any:
    """``tree`` as it is now: the arrays themselves where steps make new arrays, copies where
    they update in place (the divergence replay needs the epoch's start)."""
    return _copy(tree) if inplace else tree


def _pack(packing: Packing | None, params: Any) -> Any:
    return params if packing is None else [{KEY: packing.flatten(params)}]


def _unpack(packing: Packing | None, params: Any) -> Any:
    return params if packing is None else packing.unflatten(params[0][KEY])


def _last(hist: History) -> dict[str, float]:
    return {k: v[-1] for k, v in hist.history.items() if v}


def _diverged(model: Any, step: Callable, start: tuple[Any, Any, Any], X: Any, T: Any, order: Any,
              batch_size: int, cfg: TrainConfig, epoch: int, epochs: int) -> None:
    """Replay the epoch step by step from its start to name the step (and the layer) where
    the numbers stopped being finite; leave the model at the last finite parameters."""
    engine, xp = model.engine, model.backend.xp
    params, state, opt_state = start
    n = X.shape[0]
    batches = [order[i:min(n, i + batch_size)] for i in range(0, n, batch_size)]
    params, state, opt_state = _keep(cfg.inplace, (params, state, opt_state))
    for s, idx in enumerate(batches):
        before = _keep(cfg.inplace, (params, state, opt_state))
        new_params, new_state, new_opt, value, _ = step(params, state, opt_state, X, T, idx)
        v = float(value)
        if not (math.isfinite(v) and float(engine.all_finite(value, new_params, xp)) == 1.0):
            params, state, opt_state = before
            model.params, model.state = _unpack(cfg.packing, params), state
            key = engine.step_key(cfg.seed, opt_state["step"], xp)
            why = engine.diagnose(model.params, state, xp.take(X, idx, axis=0), xp.take(T, idx, axis=0),
                                  loss=cfg.loss, regularizer=cfg.regularizer, key=key)
            raise FloatingPointError(
                f"fit: training diverged in epoch {epoch + 1}/{epochs}, step {s + 1}/{len(batches)}: {why}. "
                "The model keeps its parameters from before that step. Lower the learning rate, scale the "
                "inputs, or clip gradients (e.g. optimizer clip_norm=1.0)."
            )
        params, state, opt_state = new_params, new_state, new_opt
    model.params, model.state = _unpack(cfg.packing, start[0]), start[1]
    raise FloatingPointError(
        f"fit: training diverged in epoch {epoch + 1}/{epochs} but not when replayed step by step "
        "(a non-deterministic backend?); the model keeps its parameters from the start of that epoch."
    )


def _save(model: Any, path: Any, run: Run, packing: Packing | None, rng: Any, *, epoch: int, seed: int,
          batch_size: int) -> None:
    opt_state = packing.unpack_state(run.opt_state) if packing else run.opt_state
    io.save(model, path, opt_state=opt_state, optimizer=run.optimizer,
            extra={"fit": {"epoch": epoch, "seed": seed, "batch_size": batch_size},
                   "history": run.history.history, "history_params": run.history.params,
                   "rng": rng.bit_generator.state})


def _resume(model: Any, path: Any, run: Run, rng: Any, *, optimizer: Any, seed: int, batch_size: int) -> int:
    """Load a checkpoint written by fit into this run and the model; return the first epoch to run."""
    be = model.backend
    # the file must hold this very model: its size bounds what may be read (weights, layer state
    # and up to two optimizer buffers per weight, float64 at most), so a model over load's 2 GiB
    # default resumes too, while a file declaring more is still refused before it is read
    own = 8 * 4 * (model.count_params() + sum(math.prod(a.shape) for a in leaves(model.state)))
    ck = io.load_checkpoint(path, backend=be, max_bytes=max(io.DEFAULT_MAX_BYTES, own + 2**20))
    fit_info = (ck.extra or {}).get("fit")
    if not isinstance(fit_info, dict) or ck.opt_state is None:
        raise io.CheckpointError(f"{path}: not a checkpoint written by fit (no optimizer state or fit "
                                 "progress); load it with an.load(path) instead")
    what = _difference(ck.model, model)
    if what:
        raise ValueError(f"fit(resume=True): {path} holds a different model than this one: {what}")
    wanted = {"optimizer": (ck.optimizer, optimizer), "seed": (fit_info.get("seed"), seed),
              "batch_size": (fit_info.get("batch_size"), batch_size)}
    for name, (saved, now) in wanted.items():
        if saved != now:
            raise ValueError(f"fit(resume=True): {path} was written with {name}={saved!r} but this call "
                             f"has {name}={now!r}; resuming would not reproduce the run")
    model.params, model.state = ck.model.params, ck.model.state
    run.opt_state = ck.opt_state_on(be)
    rng.bit_generator.state = ck.extra["rng"]
    run.history.history = {k: list(v) for k, v in ck.extra.get("history", {}).items()}
    first = int(fit_info["epoch"])
    run.history.epoch = list(range(first))
    return first


def _difference(saved: Any, model: Any) -> str:
    """What differs between two models' architectures, in words ("" if nothing)."""
    if saved.dtype != model.dtype:
        return f"the file's is {saved.dtype}, this one is {model.dtype}"
    if len(saved.layers) != len(model.layers):
        return f"the file's has {len(saved.layers)} layers, this one {len(model.layers)}"
    for i, (a, b) in enumerate(zip(saved.layers, model.layers)):
        if a != b:
            return f"layer {i} is {a!r} in the file but {b!r} here"
    return ""


class _Progress:
    """Per-epoch reporting: a tqdm bar on a terminal (verbose=1), else one line per epoch."""

    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose, self.epochs, self.bar, self.tqdm = verbose, epochs, None, None
        if verbose == 1 and sys.stdout.isatty():
            try:
                from tqdm.auto import tqdm  # optional: the 'progress' extra
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.tqdm = tqdm
                self.bar = tqdm(total=epochs, unit="epoch", file=sys.stdout, dynamic_ncols=True)

    def steps(self, epoch: int, steps: int) -> _StepProgress | None:
        """The bar over the steps of ``epoch`` (a long one), or ``None`` where there is no bar."""
        return None if self.tqdm is None else _StepProgress(self.tqdm, epoch, self.epochs, steps)

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




class _StepProgress:
    """The bar over one long epoch's steps, as Keras' ``123/1875 [====>...] - ETA: 1:02 - loss: 0.31``:
    tqdm's ``epoch 1/5: 7%|#  | 123/1875 [00:04<01:02, 30.2step/s, loss=0.3100, accuracy=0.9012]``,
    below the bar over the epochs, gone when the epoch ends (its line takes the epoch's metrics).
    ``loss`` and ``accuracy`` are the running means over the epoch's steps so far."""

    def __init__(self, tqdm: Callable[..., Any], epoch: int, epochs: int, steps: int) -> None:
        self.bar = tqdm(total=steps, unit="step", desc=f"epoch {epoch + 1}/{epochs}", leave=False, position=1,
                        file=sys.stdout, dynamic_ncols=True)

    def update(self, done: int, loss: float | None, accuracy: float | None) -> None:
        """``done`` steps of the epoch so far; the running ``loss`` and ``accuracy``, if new."""
        if loss is not None:
            logs = {"loss": f"{loss:.4f}"}
            if accuracy is not None:
                logs["accuracy"] = f"{accuracy:.4f}"
            self.bar.set_postfix(logs, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class _Chunks:
    """Whether fit runs an epoch in pieces (for the bar over its steps), and how many steps a piece.

    Never without that bar (``verbose`` 0 or 2, no terminal, no tqdm): then an epoch stays one
    call and one synchronization. With it, an epoch is long when the steps of the epoch before
    took longer than ``LONG_EPOCH_SECONDS``; for the first epoch on a backend that does not
    compile, its first piece (2% of the steps) is timed to tell. A long epoch runs in pieces of
    about ``CHUNK_SECONDS``. On a compiling backend (JAX) the length, once chosen, stays for
    the fit, so that the epoch's program is compiled for two more lengths at most (the piece
    and the remainder; one where a length near the target divides the steps), and the first
    epoch runs whole (one compiled program): the bar starts with the second. JAX dispatches
    the epoch's program asynchronously, so the time from its call's return to the epoch's
    result is the time of its steps without the compilation.
    """

    def __init__(self, bar: bool, compiles: bool, full: int) -> None:
        self.bar, self.compiles, self.full = bar, compiles, full
        self.forced = _CHUNK_STEPS
        self.length: int | None = None  # steps per piece, for the epoch under way
        self.per_step: float | None = None  # seconds per step, measured
        self.probing = False
        self.queued: float | None = None

    def wanted(self) -> bool:
        """Whether the next epoch runs in pieces."""
        self.probing = False
        if self.forced is not None:  # a test's
            self.length = self.forced
            return self.full > 0
        if not self.bar or self.full < 2:
            return False
        if self.compiles and self.length is not None:  # chosen once: no new lengths to compile
            return True
        if self.per_step is None:  # the first epoch: time its first piece where that costs nothing
            self.probing = not self.compiles
            return self.probing
        self.length = self._choose(self.per_step)
        return self.length is not None

    def size(self, done: int, seconds: float) -> int:
        """Steps in the next piece, ``done`` steps of the epoch's full batches and ``seconds`` in."""
        if self.probing:
            if done == 0:
                return max(1, -(-self.full // 50))
            self.probing = False
            self.length = self._choose(seconds / done)
            if self.length is None:
                return self.full - done  # short after all: the rest in one piece
        return min(self.length, self.full - done)

    def dispatched(self) -> None:
        """The epoch's program has been called (on JAX: compiled and queued, not yet run)."""
        self.queued = time.perf_counter()

    def measured(self, started: float, ended: float) -> None:
        """The epoch started at ``started`` and its result was read at ``ended``."""
        if self.compiles and self.queued is not None:
            started = max(started, self.queued)  # without compiling
        self.per_step, self.queued = (ended - started) / max(1, self.full), None

    def _choose(self, per_step: float) -> int | None:
        """Steps per piece for ``per_step`` seconds a step, or ``None`` for a short epoch."""
        if per_step * self.full <= LONG_EPOCH_SECONDS:
            return None
        target = max(1, min(self.full, round(CHUNK_SECONDS / max(per_step, 1e-9))))
        near = sorted(range(math.ceil(0.7 * target), math.floor(1.3 * target) + 1), key=lambda k: abs(k - target))
        # on JAX a length near the target that divides the steps: one compiled length fewer
        return next((k for k in near if self.compiles and self.full % k == 0), target)
