"""Probabilities, labels and metrics from a model's outputs: pure functions on arrays.

Everything here takes the namespace from its arrays (array API standard only),
so it runs on every backend, eagerly, after an epoch or in ``evaluate``: no
metric adds work to a training step.

From outputs to probabilities and labels (:func:`probabilities`, :func:`labels`):
a loss, when given, says what the outputs are; without one, a model with several
outputs is read as class scores (softmax, argmax) and a model with one output as
one logit (sigmoid, ``> 0``), the convention of the losses that take logits
(``SoftmaxCrossEntropy``, ``BinaryCrossEntropy()``).

Metrics (:class:`Metric` objects, or their names for ``fit(metrics=[...])``)
follow scikit-learn's definitions and are checked against them in the tests:
``precision``, ``recall``, ``f1`` (macro over the classes present in the targets
or predictions, as ``sklearn.metrics.f1_score(average="macro")``; binary, for the
positive class, on a model with one output, as ``average="binary"``), their
``*_per_class`` variants, ``top_k_accuracy``, ``roc_auc`` (binary tasks),
``mae`` and ``r2`` (regression).

>>> import numpy as np, anynet as an
>>> y = np.asarray([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 2.0, 1.0]])  # logits of 3 samples
>>> t = np.asarray([0, 1, 1])
>>> an.metrics.labels(y).tolist(), round(an.metrics.f1_score(t, an.metrics.labels(y), 3), 4)
([0, 2, 1], 0.5556)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .losses import BinaryCrossEntropy, Hinge, Loss, one_hot

Array = Any

__all__ = [
    "F1",
    "MAE",
    "R2",
    "METRICS",
    "Metric",
    "Precision",
    "ROCAUC",
    "Recall",
    "TopKAccuracy",
    "compute",
    "confusion_matrix",
    "f1_score",
    "get",
    "labels",
    "mean_absolute_error",
    "classification_report",
    "precision_recall_f1",
    "probabilities",
    "r2_score",
    "roc_auc_score",
    "target_labels",
    "top_k_accuracy",
]


# ------------------------------------------------------------------ outputs -> probabilities, labels
def _reading(y: Array, loss: Loss | None) -> str:
    """How to read outputs ``y``: "softmax", "sigmoid", "probability" or "sign"."""
    if loss is None:
        return "softmax" if y.ndim >= 2 and y.shape[-1] > 1 else "sigmoid"
    if isinstance(loss, BinaryCrossEntropy):
        return "sigmoid" if loss.from_logits else "probability"
    if isinstance(loss, Hinge):
        return "sign"
    if getattr(loss, "target", None) == "labels":
        return "softmax"
    raise ValueError(f"{type(loss).__name__} is not a classification loss: its outputs are not class "
                     "scores, so they have no probabilities or labels")


def _sigmoid(xp: Any, z: Array) -> Array:
    e = xp.exp(-xp.abs(z))  # stable on both sides: never exp of a large positive number
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def probabilities(y: Array, /, *, loss: Loss | None = None) -> Array:
    """Class probabilities from a model's outputs.

    Softmax over the last axis for several outputs (scores of exclusive classes),
    the sigmoid for one output (the logit of the positive class); ``loss`` decides
    instead when given: ``SoftmaxCrossEntropy``/``MulticlassHinge`` softmax,
    ``BinaryCrossEntropy()`` the sigmoid of every output (multi-label too),
    ``BinaryCrossEntropy(from_logits=False)`` the outputs as they are. ``Hinge``
    and ``MSE`` outputs are not probabilities: a ``ValueError`` says so.

    Shapes
    ------
    y (N, C) -> (N, C), rows summing to 1; y (N, 1) or (N,) -> same shape, P(class 1).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.probabilities(np.asarray([[0.0, np.log(3.0)]])).round(4).tolist()
    [[0.25, 0.75]]
    >>> an.metrics.probabilities(np.asarray([[0.0], [2.0]])).round(4).tolist()
    [[0.5], [0.8808]]
    """
    xp = array_namespace(y)
    how = _reading(y, loss)
    if how == "softmax":
        e = xp.exp(y - xp.max(y, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)
    if how == "sigmoid":
        return _sigmoid(xp, y)
    if how == "probability":
        return y
    raise ValueError(f"{type(loss).__name__} outputs are margins (targets -1/+1), not probabilities; "
                     "use labels() for the predicted classes")


def labels(y: Array, /, *, loss: Loss | None = None) -> Array:
    """Predicted class labels from a model's outputs (the decisions ``fit``'s accuracy counts).

    The argmax over the last axis for several outputs; for one output: 1 where
    the logit is > 0 (probability > 0.5 for ``BinaryCrossEntropy(from_logits=False)``,
    margin > 0 for ``Hinge``), else 0. ``loss`` decides as in :func:`probabilities`.

    Shapes
    ------
    y (N, C) -> (N,) integers in [0, C); y (N, 1) or (N,) -> (N,) of 0/1.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.labels(np.asarray([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])).tolist()
    [1, 0]
    >>> an.metrics.labels(np.asarray([[-0.5], [0.5]])).tolist()
    [0, 1]
    """
    xp = array_namespace(y)
    how = _reading(y, loss)
    if how == "softmax":
        return xp.argmax(y, axis=-1)
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"labels: outputs of shape {tuple(y.shape)} hold {y.shape[1]} independent yes/no "
                         "decisions (multi-label); threshold probabilities() instead")
    score = xp.reshape(y, (y.shape[0],))
    threshold = 0.5 if how == "probability" else 0.0
    return xp.astype(score > threshold, xp.int64)


def target_labels(t: Array, /) -> Array:
    """Class labels from targets: labels as they are, one-hot rows by argmax, a 0/1
    (or -1/+1) column as 0/1.

    Shapes
    ------
    t (N,), (N, 1) or (N, C) -> (N,) integers.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.target_labels(np.asarray([[0.0, 1.0], [1.0, 0.0]])).tolist()
    [1, 0]
    """
    xp = array_namespace(t)
    if t.ndim == 2 and t.shape[1] > 1:
        return xp.argmax(t, axis=-1)
    t = xp.reshape(t, (t.shape[0],))
    if xp.isdtype(t.dtype, "integral"):
        return xp.astype(t, xp.int64)
    return xp.astype(t > 0.5, xp.int64)  # 0/1 and -1/+1 alike


# ------------------------------------------------------------------ classification metrics
def confusion_matrix(t: Array, pred: Array, n_classes: int, /) -> Array:
    """Counts ``C[i, j]``: samples of true class ``i`` predicted as ``j`` (scikit-learn's layout).

    Shapes
    ------
    t, pred (N,) integer labels in [0, n_classes) -> (n_classes, n_classes) float counts.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.confusion_matrix(np.asarray([0, 1, 1]), np.asarray([0, 0, 1]), 2).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    xp = array_namespace(t, pred)
    dtype = xp.float64 if _has_float64(xp, t) else xp.float32
    return one_hot(xp, t, n_classes, dtype).T @ one_hot(xp, xp.astype(pred, t.dtype), n_classes, dtype)


def _has_float64(xp: Any, a: Array) -> bool:
    try:
        xp.zeros((), dtype=xp.float64, device=device_of(a))
        return True
    except Exception:  # a device without float64 (Apple MPS in torch): counts in float32
        return False


def _divide(xp: Any, a: Array, b: Array) -> Array:
    """``a / b`` with 0 where ``b`` is 0 (scikit-learn's ``zero_division``, without the warning)."""
    safe = xp.where(b > 0, b, xp.ones_like(b))
    return xp.where(b > 0, a / safe, xp.zeros_like(a))


def precision_recall_f1(t: Array, pred: Array, n_classes: int, /, *, average: str | None = "macro"
                        ) -> tuple[Any, Any, Any]:
    """Precision, recall and F1 from labels, as scikit-learn's ``precision_recall_fscore_support``.

    Parameters
    ----------
    t, pred : arrays (N,) of integer labels in [0, n_classes)
    n_classes : int
    average : {"macro", "binary", None}
        "macro": the unweighted mean over the classes present in ``t`` or ``pred``
        (scikit-learn's default set of labels); "binary": class 1 alone; None: one
        value per class (every class in [0, n_classes)). A class never predicted
        has precision 0, one never present recall 0 (``zero_division=0``).

    Returns
    -------
    (precision, recall, f1): floats, or arrays (n_classes,) for ``average=None``.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> t, pred = np.asarray([0, 0, 1, 1, 2]), np.asarray([0, 1, 1, 1, 0])
    >>> [round(v, 4) for v in an.metrics.precision_recall_f1(t, pred, 3)]
    [0.3889, 0.5, 0.4333]
    >>> [v.round(4).tolist() for v in an.metrics.precision_recall_f1(t, pred, 3, average=None)]
    [[0.5, 0.6667, 0.0], [0.5, 1.0, 0.0], [0.5, 0.8, 0.0]]
    """
    xp = array_namespace(t, pred)
    cm = confusion_matrix(t, pred, n_classes)
    tp = xp.linalg.diagonal(cm)
    predicted, actual = xp.sum(cm, axis=0), xp.sum(cm, axis=1)
    p, r = _divide(xp, tp, predicted), _divide(xp, tp, actual)
    f = _divide(xp, 2.0 * tp, predicted + actual)  # = 2 p r / (p + r), 0 where both are 0
    if average is None:
        return p, r, f
    if average == "binary":
        if n_classes != 2:
            raise ValueError(f"precision_recall_f1: average='binary' needs 2 classes, got {n_classes}")
        return float(p[1]), float(r[1]), float(f[1])
    if average != "macro":
        raise ValueError(f"precision_recall_f1: average must be 'macro', 'binary' or None, got {average!r}")
    present = xp.astype((predicted + actual) > 0, p.dtype)
    k = float(xp.sum(present))
    return tuple(float(xp.sum(v * present)) / k for v in (p, r, f))


def classification_report(t: Array, pred: Array, n_classes: int, /, *,
                          class_names: Sequence[str] | None = None, digits: int = 4) -> str:
    """Precision, recall, F1 and support per class, then accuracy and the macro average, as a
    text table (scikit-learn's ``classification_report``; what ``anynet train`` prints at the end).

    Shapes
    ------
    t, pred (N,) integer labels in [0, n_classes) -> str.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> t, pred = np.asarray([0, 0, 1, 1, 2]), np.asarray([0, 1, 1, 1, 0])
    >>> print(an.metrics.classification_report(t, pred, 3, class_names=["cat", "dog", "pig"], digits=2))
                  precision  recall  f1-score  support
    cat                0.50    0.50      0.50        2
    dog                0.67    1.00      0.80        2
    pig                0.00    0.00      0.00        1
    <BLANKLINE>
    accuracy                             0.60        5
    macro avg          0.39    0.50      0.43        5
    """
    xp = array_namespace(t, pred)
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n_classes)]
    if len(names) != n_classes:
        raise ValueError(f"classification_report: {len(names)} class names for {n_classes} classes")
    p, r, f = precision_recall_f1(t, pred, n_classes, average=None)
    support = xp.sum(confusion_matrix(t, pred, n_classes), axis=1)
    mp, mr, mf = precision_recall_f1(t, pred, n_classes, average="macro")
    n = int(t.shape[0])
    accuracy = float(xp.sum(xp.astype(t == xp.astype(pred, t.dtype), xp.float32))) / n
    w = max(12, *(len(name) for name in names))
    rows = [f"{'':<{w}}  precision  recall  f1-score  support"]
    for i, name in enumerate(names):
        rows.append(f"{name:<{w}}  {float(p[i]):>9.{digits}f}  {float(r[i]):>6.{digits}f}  {float(f[i]):>8.{digits}f}"
                    f"  {int(support[i]):>7d}")
    rows += ["", f"{'accuracy':<{w}}  {'':>9}  {'':>6}  {accuracy:>8.{digits}f}  {n:>7d}",
             f"{'macro avg':<{w}}  {mp:>9.{digits}f}  {mr:>6.{digits}f}  {mf:>8.{digits}f}  {n:>7d}"]
    return "\n".join(rows)


def f1_score(t: Array, pred: Array, n_classes: int, /, *, average: str | None = "macro") -> Any:
    """F1 (the harmonic mean of precision and recall); see :func:`precision_recall_f1`.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> round(an.metrics.f1_score(np.asarray([0, 1, 1]), np.asarray([0, 1, 0]), 2), 4)
    0.6667
    """
    return precision_recall_f1(t, pred, n_classes, average=average)[2]


def top_k_accuracy(t: Array, scores: Array, /, k: int = 5) -> float:
    """The share of samples whose true class is among the ``k`` highest scores
    (scikit-learn's ``top_k_accuracy_score`` for scores without ties).

    Shapes
    ------
    t (N,) labels; scores (N, C) -> float.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> s = np.asarray([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    >>> an.metrics.top_k_accuracy(np.asarray([1, 0]), s, k=2)  # 1 is second; 0 is last
    0.5
    """
    xp = array_namespace(t, scores)
    true_score = xp.sum(scores * one_hot(xp, t, scores.shape[-1], scores.dtype), axis=-1, keepdims=True)
    above = xp.sum(xp.astype(scores > true_score, xp.int64), axis=-1)  # classes scored higher
    return float(xp.sum(xp.astype(above < k, scores.dtype))) / t.shape[0]


def roc_auc_score(t: Array, scores: Array, /) -> float:
    """Area under the ROC curve of a binary task: the probability that a random positive
    scores higher than a random negative, ties counting one half (scikit-learn's
    ``roc_auc_score``). ``nan`` when ``t`` holds one class only (scikit-learn raises).

    Shapes
    ------
    t (N,) of 0/1; scores (N,) (any monotone score of class 1: logit or probability) -> float.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.roc_auc_score(np.asarray([0, 0, 1, 1]), np.asarray([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    xp = array_namespace(t, scores)
    pos = t == 1
    n_pos = int(xp.sum(xp.astype(pos, xp.int64)))
    n_neg = t.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    # every positive counts the negatives below it (+ half the ties): sort the negatives
    # (positives moved to +inf, out of the way) and search each score in them
    neg_sorted = xp.sort(xp.where(pos, xp.asarray(math.inf, dtype=scores.dtype), scores))
    below = xp.searchsorted(neg_sorted, scores, side="left")
    at_or_below = xp.searchsorted(neg_sorted, scores, side="right")
    wins = xp.astype(below, scores.dtype) + 0.5 * xp.astype(at_or_below - below, scores.dtype)
    return float(xp.sum(xp.where(pos, wins, xp.zeros_like(wins)))) / (n_pos * n_neg)


# ------------------------------------------------------------------ regression metrics
def mean_absolute_error(t: Array, y: Array, /) -> float:
    """``mean(|y - t|)`` over every element (scikit-learn's, averaged uniformly over outputs).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.mean_absolute_error(np.asarray([1.0, 2.0]), np.asarray([1.5, 1.0]))
    0.75
    """
    xp = array_namespace(t, y)
    return float(xp.mean(xp.abs(xp.reshape(y, t.shape) - t)))


def r2_score(t: Array, y: Array, /) -> float:
    """The coefficient of determination ``1 - SS_res / SS_tot`` per output, averaged over
    outputs (scikit-learn's ``r2_score``: 1.0 for a constant target predicted exactly, 0.0
    for a constant target missed).

    Shapes
    ------
    t, y (N,) or (N, K) -> float.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.r2_score(np.asarray([1.0, 2.0, 3.0]), np.asarray([1.0, 2.0, 4.0]))
    0.5
    """
    xp = array_namespace(t, y)
    t2 = xp.reshape(t, (t.shape[0], -1))
    y2 = xp.reshape(y, t2.shape)
    ss_res = xp.sum((t2 - y2) ** 2, axis=0)
    ss_tot = xp.sum((t2 - xp.mean(t2, axis=0, keepdims=True)) ** 2, axis=0)
    one, zero = xp.ones_like(ss_res), xp.zeros_like(ss_res)
    r2 = xp.where(ss_tot > 0, 1.0 - ss_res / xp.where(ss_tot > 0, ss_tot, one),
                  xp.where(ss_res == 0, one, zero))
    return float(xp.mean(r2))


# ------------------------------------------------------------------ metric objects, by name
class Metric:
    """A metric of a model's outputs ``y`` against targets ``t``, for ``fit``/``evaluate``.

    ``metric(y, t, loss=loss)`` returns a dict of named floats (one entry for most
    metrics, one per class for the ``*_per_class`` ones). ``loss`` says how to read
    the outputs (see :func:`labels`). Subclass and implement ``__call__`` for your own.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t = np.asarray([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), np.asarray([0, 1, 1])
    >>> an.metrics.get("recall")(y, t, loss=an.losses.SoftmaxCrossEntropy())
    {'recall': 0.75}
    """

    name: str = "metric"

    def __call__(self, y: Array, t: Array, /, *, loss: Loss | None = None) -> dict[str, float]:
        raise NotImplementedError


def _classes(y: Array, t: Array, loss: Loss | None) -> tuple[Array, Array, int]:
    """(true labels, predicted labels, number of classes) for a single-label task."""
    pred = labels(y, loss=loss)
    n = 2 if y.ndim < 2 or y.shape[-1] == 1 else y.shape[-1]
    return target_labels(t), pred, n


class _PRF(Metric):
    """Precision, recall or F1 (``_which``: 0, 1, 2), averaged or per class."""

    average: str | None
    per_class: bool
    _which: ClassVar[int]
    _key: ClassVar[str]

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._key + ("_per_class" if self.per_class else "")

    def __call__(self, y, t, /, *, loss=None):
        true, pred, n = _classes(y, t, loss)
        if self.per_class:
            values = precision_recall_f1(true, pred, n, average=None)[self._which]
            return {f"{self._key}_{c}": float(values[c]) for c in range(n)}
        average = ("binary" if n == 2 and (y.ndim < 2 or y.shape[-1] == 1) else "macro") \
            if self.average == "auto" else self.average
        return {self._key: precision_recall_f1(true, pred, n, average=average)[self._which]}


@dataclasses.dataclass(frozen=True)
class Precision(_PRF):
    """Precision (``"precision"``; per class: ``"precision_0"``, ``"precision_1"``...).

    ``average="auto"``: binary (class 1) for a model with one output, else macro;
    ``"macro"`` or ``"binary"`` to choose (see :func:`precision_recall_f1`).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t = np.asarray([[1.0], [2.0], [-1.0]]), np.asarray([0.0, 1.0, 1.0])
    >>> an.metrics.Precision()(y, t)  # predicted 1, 1, 0: one of two right
    {'precision': 0.5}
    """

    average: str | None = "auto"
    per_class: bool = False
    _which: ClassVar[int] = 0
    _key: ClassVar[str] = "precision"


@dataclasses.dataclass(frozen=True)
class Recall(_PRF):
    """Recall (``"recall"``, or per class); ``average`` as :class:`Precision`.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t = np.asarray([[1.0], [2.0], [-1.0]]), np.asarray([0.0, 1.0, 1.0])
    >>> an.metrics.Recall()(y, t)  # one of the two positives found
    {'recall': 0.5}
    """

    average: str | None = "auto"
    per_class: bool = False
    _which: ClassVar[int] = 1
    _key: ClassVar[str] = "recall"


@dataclasses.dataclass(frozen=True)
class F1(_PRF):
    """F1 (``"f1"``, or per class ``"f1_0"``...); ``average`` as :class:`Precision`.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t = np.asarray([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), np.asarray([0, 1, 1])
    >>> {k: round(v, 4) for k, v in an.metrics.F1(per_class=True)(y, t).items()}
    {'f1_0': 0.6667, 'f1_1': 0.6667}
    """

    average: str | None = "auto"
    per_class: bool = False
    _which: ClassVar[int] = 2
    _key: ClassVar[str] = "f1"


@dataclasses.dataclass(frozen=True)
class TopKAccuracy(Metric):
    """The true class among the ``k`` highest scores (``"top_k_accuracy"``; Keras'
    ``TopKCategoricalAccuracy``, k=5 by default).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y = np.asarray([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    >>> an.metrics.TopKAccuracy(k=2)(y, np.asarray([1, 0]))
    {'top_k_accuracy': 0.5}
    """

    k: int = 5
    name: str = "top_k_accuracy"

    def __call__(self, y, t, /, *, loss=None):
        if y.ndim != 2 or y.shape[-1] < 2:
            raise ValueError(f"{self.name}: needs class scores (N, C), got outputs of shape {tuple(y.shape)}")
        return {self.name: top_k_accuracy(target_labels(t), y, k=self.k)}


@dataclasses.dataclass(frozen=True)
class ROCAUC(Metric):
    """Area under the ROC curve for binary tasks (``"roc_auc"``): a model with one output
    (its logit) or two (the probability of class 1); ``nan`` if the targets hold one class.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.ROCAUC()(np.asarray([[-1.0], [0.5], [0.2], [2.0]]), np.asarray([0, 0, 1, 1]))
    {'roc_auc': 0.75}
    """

    name: str = "roc_auc"

    def __call__(self, y, t, /, *, loss=None):
        xp = array_namespace(y)
        if y.ndim == 2 and y.shape[-1] == 2:
            score = probabilities(y, loss=loss)[:, 1]
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[-1] == 1):
            score = xp.reshape(y, (y.shape[0],))  # the logit or probability: monotone, the same AUC
        else:
            raise ValueError(f"{self.name}: for binary tasks (one or two outputs), got outputs of shape "
                             f"{tuple(y.shape)}")
        return {self.name: roc_auc_score(target_labels(t), score)}


@dataclasses.dataclass(frozen=True)
class MAE(Metric):
    """Mean absolute error (``"mae"``).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.MAE()(np.asarray([[1.5], [1.0]]), np.asarray([[1.0], [2.0]]))
    {'mae': 0.75}
    """

    name: str = "mae"

    def __call__(self, y, t, /, *, loss=None):
        return {self.name: mean_absolute_error(t, y)}


@dataclasses.dataclass(frozen=True)
class R2(Metric):
    """The coefficient of determination (``"r2"``), averaged over outputs.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> an.metrics.R2()(np.asarray([[1.0], [2.0], [4.0]]), np.asarray([[1.0], [2.0], [3.0]]))
    {'r2': 0.5}
    """

    name: str = "r2"

    def __call__(self, y, t, /, *, loss=None):
        return {self.name: r2_score(t, y)}


#: The names ``get`` knows (Keras' long names too).
METRICS = {
    "precision": Precision, "recall": Recall, "f1": F1, "f1_score": F1,
    "precision_per_class": lambda: Precision(per_class=True), "recall_per_class": lambda: Recall(per_class=True),
    "f1_per_class": lambda: F1(per_class=True),
    "top_k_accuracy": TopKAccuracy, "top_k_categorical_accuracy": TopKAccuracy,
    "roc_auc": ROCAUC, "auc": ROCAUC,
    "mae": MAE, "mean_absolute_error": MAE, "r2": R2, "r2_score": R2,
}


def get(metric: str | Metric) -> Metric:
    """A metric from its name (see :data:`METRICS`) or itself.

    Examples
    --------
    >>> import anynet as an
    >>> an.metrics.get("f1").name, an.metrics.get("mae")
    ('f1', MAE(name='mae'))
    >>> an.metrics.get("bleu")
    Traceback (most recent call last):
    ...
    ValueError: unknown metric 'bleu': expected one of 'auc', 'f1', 'f1_per_class', 'f1_score', 'mae', 'mean_absolute_error', 'precision', 'precision_per_class', 'r2', 'r2_score', 'recall', 'recall_per_class', 'roc_auc', 'top_k_accuracy', 'top_k_categorical_accuracy' or a Metric
    """
    if isinstance(metric, Metric):
        return metric
    key = metric.strip().lower() if isinstance(metric, str) else None
    if key not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: expected one of "
                         f"{', '.join(map(repr, sorted(METRICS)))} or a Metric")
    return METRICS[key]()


def compute(metrics: Sequence[Metric], y: Array, t: Array, /, *, loss: Loss | None = None,
            prefix: str = "") -> dict[str, float]:
    """Every metric of ``metrics`` on outputs ``y`` and targets ``t``, keys prefixed (``"val_"``).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t = np.asarray([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), np.asarray([0, 1, 1])
    >>> an.metrics.compute([an.metrics.get("precision"), an.metrics.get("recall")], y, t, prefix="val_")
    {'val_precision': 0.75, 'val_recall': 0.75}
    """
    out: dict[str, float] = {}
    for m in metrics:
        out.update({prefix + k: v for k, v in m(y, t, loss=loss).items()})
    return out
