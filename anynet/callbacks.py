"""Callbacks for ``fit``, as in Keras: hooks called around every epoch.

A callback sees the running training through ``self.run`` (a :class:`Run`):
the model (whose ``params`` are current after every epoch), the optimizer and
its state, the history so far, and ``stop_training``. A plain function
``fn(epoch, logs)`` works too: it is called after every epoch and stops
training by returning ``True``.

>>> import anynet as an
>>> stop = an.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from array_api_compat import device as device_of

from ._tree import tree_map

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
           "ReduceLROnPlateau", "Run"]


class Run:
    """The state of a ``fit`` call that callbacks may read and steer.

    Attributes
    ----------
    model : Sequential
        Its ``params`` are the current weights after every epoch. They may be
        updated in place by the next epoch: copy them (``Run.copy_params``) to keep them.
    optimizer : Optimizer
    opt_state : dict
        The optimizer state (``"step"``: updates so far, ``"lr_scale"``: the factor
        applied to the learning rate, buffers).
    history : History
    epoch : int
        The current epoch (from 0).
    stop_training : bool
        Set to True to stop after this epoch.

    Examples
    --------
    A callback that halves the learning rate after every epoch and stops after
    the third, through its ``run``:

    >>> import numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> kw = dict(loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), verbose=0)
    >>> class HalveAndStop(an.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs):
    ...         self.run.set_lr(self.run.lr / 2)
    ...         logs["lr"] = self.run.lr
    ...         self.run.stop_training = self.run.epoch == 2
    >>> hist = model.fit(x, t, epochs=10, callbacks=[HalveAndStop()], **kw)
    >>> [round(lr, 4) for lr in hist.history["lr"]]
    [0.05, 0.025, 0.0125]
    """

    def __init__(self, model: Any, optimizer: Any, opt_state: dict, history: Any) -> None:
        self.model = model
        self.optimizer = optimizer
        self.opt_state = opt_state
        self.history = history
        self.epoch = 0
        self.stop_training = False

    @property
    def lr(self) -> float:
        """The learning rate the next update will use."""
        base = self.optimizer.lr
        step = int(float(self.opt_state["step"]))
        base = float(base(step)) if callable(base) else float(base)
        return base * float(self.opt_state["lr_scale"])

    def set_lr(self, lr: float) -> None:
        """Make the next updates use ``lr`` (through ``opt_state["lr_scale"]``: no recompilation)."""
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"set_lr: lr must be a positive number, got {lr!r}")
        current = self.lr / float(self.opt_state["lr_scale"])
        scale = self.opt_state["lr_scale"]
        xp = self.model.backend.xp
        self.opt_state["lr_scale"] = xp.asarray(lr / current, dtype=scale.dtype, device=device_of(scale))

    def copy_params(self) -> list[dict[str, Any]]:
        """A copy of the current weights that later epochs will not touch."""
        xp = self.model.backend.xp
        return tree_map(lambda v: xp.asarray(v, copy=True), self.model.params)

    def copy_state(self) -> list[dict[str, Any]]:
        """A copy of the current layer state (running statistics) that later epochs will not touch."""
        xp = self.model.backend.xp
        return tree_map(lambda v: xp.asarray(v, copy=True), self.model.state)


class Callback:
    """Base class; override any of the hooks. ``self.run`` is set before ``on_train_begin``.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> kw = dict(loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), verbose=0)
    >>> class Print(an.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs):
    ...         print(epoch, sorted(logs))
    ...     def on_train_end(self, logs):
    ...         print("done after", len(self.run.history.epoch), "epochs")
    >>> hist = model.fit(x, t, epochs=2, callbacks=[Print()], **kw)
    0 ['accuracy', 'loss']
    1 ['accuracy', 'loss']
    done after 2 epochs
    """

    run: Run

    def on_train_begin(self, logs: dict[str, float]) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float]) -> None:
        """Before each epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """After each epoch, with its metrics (``loss``, ``accuracy``, ``val_*``)."""

    def on_train_end(self, logs: dict[str, float]) -> None:
        """After the last epoch (also after an early stop)."""


class LambdaCallback(Callback):
    """Wrap ``fn(epoch, logs) -> bool | None`` (True stops training) as a callback.

    ``fit`` wraps plain functions in its ``callbacks`` list this way itself.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> kw = dict(loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), verbose=0)
    >>> stop = an.callbacks.LambdaCallback(lambda epoch, logs: epoch >= 1)
    >>> model.fit(x, t, epochs=10, callbacks=[stop], **kw).epoch
    [0, 1]
    """

    def __init__(self, fn: Callable[[int, dict[str, float]], Any]) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.fn(epoch, logs):
            self.run.stop_training = True

    def __repr__(self) -> str:
        return f"LambdaCallback({getattr(self.fn, '__name__', self.fn)!r})"


#: Parts of a metric's name that mean "higher is better" for ``mode="auto"``.
_HIGHER_IS_BETTER = ("acc", "precision", "recall", "f1", "auc", "r2")


def _better(mode: str, monitor: str) -> Callable[[float, float, float], bool]:
    if mode == "auto":
        mode = "max" if any(k in monitor for k in _HIGHER_IS_BETTER) else "min"
    if mode == "min":
        return lambda new, best, delta: new < best - delta
    if mode == "max":
        return lambda new, best, delta: new > best + delta
    raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs, e.g. ``"val_loss"`` (default) or ``"val_accuracy"``.
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        The smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}
        "auto": maximize metrics whose name contains "acc", "precision", "recall", "f1",
        "auc" or "r2"; minimize the rest.
    restore_best_weights : bool
        At the end, put back the weights of the best epoch (default True).
    verbose : int
        1: print one line at the end saying at which epoch training stopped and which
        epoch's weights were restored (epochs counted from 1 there, as fit's lines).

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch (from 0, as ``History.epoch``) after which training stopped; None if it ran out.
    best_epoch, best : int, float
        The best epoch (from 0) and its value of ``monitor``.
    restored_epoch : int or None
        The epoch (from 0) whose weights the model holds at the end; None if none were restored.

    Examples
    --------
    Here no epoch can improve on the first by ``min_delta``, so training stops
    after ``patience`` more epochs, with the first epoch's weights put back:

    >>> import numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> kw = dict(loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), verbose=0)
    >>> stop = an.callbacks.EarlyStopping("loss", patience=2, min_delta=10.0)
    >>> hist = model.fit(x, t, epochs=100, callbacks=[stop], **kw)
    >>> hist.epoch, stop.best_epoch, stop.stopped_epoch
    ([0, 1, 2], 0, 2)
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True, verbose: int = 0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode, self.restore_best_weights, self.verbose = mode, restore_best_weights, verbose
        self.restored_epoch: int | None = None
        self._better = _better(mode, monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_params: list | None = None
        self._wait = 0

    def on_train_begin(self, logs: dict[str, float]) -> None:
        self.best = self.best_epoch = self.stopped_epoch = self._best_params = self.restored_epoch = None
        self._wait = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not among the epoch logs "
                           f"{sorted(logs)}; pass validation_data= to monitor a val_ metric")
        value = logs[self.monitor]
        if self.best is None or self._better(value, self.best, self.min_delta):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = self.run.copy_params()
                self._best_state = self.run.copy_state()
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.run.stop_training = True

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self.restore_best_weights and self._best_params is not None:
            self.run.model.params = self._best_params
            self.run.model.state = self._best_state
            self.restored_epoch = self.best_epoch
        if self.verbose:
            print(self.summary(), file=sys.stdout, flush=True)

    def summary(self) -> str:
        """What happened, in one line (what ``verbose=1`` prints at the end)."""
        if self.best_epoch is None:
            return "EarlyStopping: no epoch ran"
        best = f"best {self.monitor} {self.best:.4f} at epoch {self.best_epoch + 1}"
        if self.stopped_epoch is None:
            head = f"EarlyStopping: did not stop early ({best})"
        else:
            head = (f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}: {self.monitor} did not "
                    f"improve for {self.patience} epochs ({best})")
        if self.restored_epoch is None:
            return head + "; the weights of the last epoch are kept"
        return head + f"; restored the weights of epoch {self.restored_epoch + 1}"

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, mode={self.mode!r}, "
                f"restore_best_weights={self.restore_best_weights})")


class ModelCheckpoint(Callback):
    """Save the model after every epoch, or only when ``monitor`` improves (Keras' ``ModelCheckpoint``).

    Each save is one atomic ``.npz`` (``model.save``: architecture, weights, no pickle);
    ``an.load(path)`` reads it back. For resuming an interrupted run with the optimizer
    state and the history too, use ``fit(checkpoint=..., resume=True)``.

    Parameters
    ----------
    filepath : str or path
        Where to write; may hold ``{epoch}`` (counted from 1) and any epoch log, as
        ``"model-{epoch:02d}-{val_loss:.3f}.npz"``. Its folder must exist: checked when
        training starts, not after the first epoch.
    monitor : str
        The epoch log to compare for ``save_best_only`` (default ``"val_loss"``).
    save_best_only : bool
        Save only when ``monitor`` improved on the best so far (default False, as Keras).
    mode : {"auto", "min", "max"}
        As :class:`EarlyStopping`.
    verbose : int
        1: a line for every save.

    Attributes
    ----------
    best, best_epoch : float, int
        The best value of ``monitor`` and its epoch (from 0).
    saved : list of str
        The paths written, in order.

    Examples
    --------
    >>> import os, tempfile, numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "best.npz")
    >>> ckpt = an.callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True)
    >>> hist = model.fit(x, t, loss="softmax_cross_entropy", optimizer=an.optim.SGD(lr=0.5), epochs=3,
    ...                  callbacks=[ckpt], verbose=0)
    >>> len(ckpt.saved), ckpt.best_epoch, an.load(path).count_params()
    (3, 2, 6)
    """

    def __init__(self, filepath: str | os.PathLike[str], monitor: str = "val_loss", *,
                 save_best_only: bool = False, mode: str = "auto", verbose: int = 0) -> None:
        self.filepath, self.monitor, self.save_best_only = os.fspath(filepath), monitor, save_best_only
        self.mode, self.verbose = mode, verbose
        self._better = _better(mode, monitor)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.saved: list[str] = []

    def on_train_begin(self, logs: dict[str, float]) -> None:
        self.best = self.best_epoch = None
        self.saved = []
        folder = os.path.dirname(os.path.abspath(self.filepath))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"ModelCheckpoint: the folder of {self.filepath!r} does not exist "
                                    f"({folder}); create it before training")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.save_best_only:
            if self.monitor not in logs:
                raise KeyError(f"ModelCheckpoint: monitor {self.monitor!r} is not among the epoch logs "
                               f"{sorted(logs)}; pass validation_data= to monitor a val_ metric")
            value = logs[self.monitor]
            if self.best is not None and not self._better(value, self.best, 0.0):
                return
            self.best, self.best_epoch = value, epoch
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot fill in {self.filepath!r} ({exc!r}); it may use "
                             f"{{epoch}} and the epoch logs {sorted(logs)}") from None
        self.run.model.save(path)
        self.saved.append(path)
        if self.verbose:
            why = f" ({self.monitor} {self.best:.4f})" if self.save_best_only else ""
            print(f"ModelCheckpoint: epoch {epoch + 1}: saved the model to {path}{why}", file=sys.stdout,
                  flush=True)

    def __repr__(self) -> str:
        return (f"ModelCheckpoint({self.filepath!r}, monitor={self.monitor!r}, "
                f"save_best_only={self.save_best_only}, mode={self.mode!r})")


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file, one row per epoch (Keras' ``CSVLogger``).

    The columns are ``epoch`` (from 0, as Keras) and the logs of the first epoch, in
    their order; a later missing value is written ``NA``. Each row is written whole
    and flushed when its epoch ends, so an interrupted run leaves every finished row.

    Parameters
    ----------
    filename : str or path
    separator : str
        Between values (default ``","``).
    append : bool
        Add to an existing file (no second header) instead of starting it afresh.

    Examples
    --------
    >>> import os, tempfile, numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> hist = model.fit(x, t, loss="softmax_cross_entropy", optimizer="sgd", epochs=2,
    ...                  callbacks=[an.callbacks.CSVLogger(path)], verbose=0)
    >>> with open(path) as f:
    ...     rows = f.read().splitlines()
    >>> rows[0], len(rows), rows[1].split(",")[0]
    ('epoch,loss,accuracy', 3, '0')
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None

    def on_train_begin(self, logs: dict[str, float]) -> None:
        self.keys = None
        folder = os.path.dirname(os.path.abspath(self.filename))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"CSVLogger: the folder of {self.filename!r} does not exist ({folder})")
        self._header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename))
        if not self.append:
            with open(self.filename, "w", newline="", encoding="utf-8"):
                pass  # start afresh now, so that no row of an older run is left below this one's

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.keys is None:
            self.keys = list(logs)
        rows = [["epoch", *self.keys]] if self._header else []
        rows.append([str(epoch), *(repr(float(logs[k])) if k in logs else "NA" for k in self.keys)])
        with open(self.filename, "a", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=self.separator).writerows(rows)
        self._header = False

    def __repr__(self) -> str:
        return f"CSVLogger({self.filename!r}, separator={self.separator!r}, append={self.append})"


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch: ``schedule(epoch, lr) -> new lr``
    (Keras' ``LearningRateScheduler``). For per-update schedules, give the optimizer a
    :class:`~anynet.optim.Schedule` instead.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> kw = dict(loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), verbose=0)
    >>> halving = an.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    >>> hist = model.fit(x, t, epochs=3, callbacks=[halving], **kw)
    >>> [round(lr, 4) for lr in hist.history["lr"]]  # the rate each epoch used
    [0.1, 0.05, 0.025]
    """

    def __init__(self, schedule: Callable[[int, float], float]) -> None:
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: dict[str, float]) -> None:
        self.run.set_lr(float(self.schedule(epoch, self.run.lr)))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        logs["lr"] = self.run.lr


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving for
    ``patience`` epochs (not below ``min_lr``).

    Examples
    --------
    With a ``min_delta`` no epoch reaches, every epoch after the first is a plateau:

    >>> import numpy as np, anynet as an
    >>> x, t = np.asarray([[0.0, 1.0], [1.0, 0.0]]), np.asarray([0, 1])
    >>> model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    >>> kw = dict(loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), verbose=0)
    >>> reduce = an.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=1, min_delta=10.0,
    ...                                         min_lr=0.02)
    >>> hist = model.fit(x, t, epochs=4, callbacks=[reduce], **kw)
    >>> [round(lr, 4) for lr in hist.history["lr"]]  # the rate for the next epoch
    [0.1, 0.05, 0.025, 0.02]
    """

    def __init__(self, monitor: str = "val_loss", *, factor: float = 0.1, patience: int = 3,
                 min_delta: float = 1e-4, mode: str = "auto", min_lr: float = 0.0) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.min_delta, self.min_lr = min_delta, min_lr
        self._better = _better(mode, monitor)
        self.best: float | None = None
        self._wait = 0

    def on_train_begin(self, logs: dict[str, float]) -> None:
        self.best, self._wait = None, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"ReduceLROnPlateau: monitor {self.monitor!r} is not among the epoch logs "
                           f"{sorted(logs)}")
        if self.best is None or self._better(value, self.best, self.min_delta):
            self.best, self._wait = value, 0
        else:
            self._wait += 1
            if self._wait >= self.patience:
                self.run.set_lr(max(self.run.lr * self.factor, self.min_lr))
                self._wait = 0
        logs["lr"] = self.run.lr
