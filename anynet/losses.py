"""Losses (value and gradient together) and weight regularizers.

Every loss is the mean over the batch of a per-sample loss, and returns
``(value, dL/dy)`` from one call so that shared work (the softmax, the sigmoid)
is done once. Losses that take raw scores say so: ``SoftmaxCrossEntropy`` and
``BinaryCrossEntropy()`` take logits, fusing the final softmax/sigmoid with the
log for numerical stability (log-sum-exp, log-sigmoid): values and gradients
stay finite for logits of +-1e4.

Regularizers add ``lambda * R(W)`` over the layers' weights (not biases) to
the loss and ``lambda * dR/dW`` to the gradients; pass one as
``regularizer=`` to ``Sequential.fit``, ``loss_and_grads`` or ``evaluate``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from array_api_compat import array_namespace
from array_api_compat import device as device_of

Array = Any

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "MSE",
    "BinaryCrossEntropy",
    "Hinge",
    "Loss",
    "MulticlassHinge",
    "Regularizer",
    "SoftmaxCrossEntropy",
    "get",
    "one_hot",
]


def _ns(xp: Any, *arrays: Array) -> Any:
    return xp if xp is not None else array_namespace(*arrays)


def one_hot(xp: Any, labels: Array, n_classes: int, dtype: Any) -> Array:
    """Rows of ``n_classes`` with a 1 at each label.

    Shapes: labels (N,) integers -> (N, n_classes) of ``dtype``.

    >>> import numpy as np, anynet as an
    >>> an.losses.one_hot(np, np.asarray([2, 0]), 3, np.float32).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    classes = xp.arange(n_classes, dtype=labels.dtype, device=device_of(labels))
    return xp.astype(labels[:, None] == classes[None, :], dtype)


def _weigh(xp: Any, a: Array, weights: Array | None) -> Array:
    """``a`` (N, ...) with row ``i`` times ``weights[i]``: per-sample weights (``None``: all 1)."""
    if weights is None:
        return a
    return a * xp.reshape(weights, (a.shape[0], *(1,) * (a.ndim - 1)))


def _count(xp: Any, hits: Array, dtype: Any) -> Array:
    """Right decisions in a batch, per sample: with several decisions per sample (multi-label
    BCE, targets (N, K)) each counts 1/K, so that accuracy = count / N is their mean."""
    count = xp.sum(xp.astype(hits, dtype))
    per_sample = math.prod(hits.shape[1:])
    return count / per_sample if per_sample > 1 else count


class Loss:
    """Base class: a loss is a configuration with pure ``value_and_grad``.

    Subclasses implement ``value_and_grad(y, t, *, xp=None, weights=None) -> (value, dy)``:
    ``value`` a 0-d array (the mean over the batch), ``dy`` of the shape of ``y``.

    ``weights`` (N,), optional: per-sample weights ``w``. The value is then
    ``sum_i w_i L_i / N`` (Keras' default reduction, "sum over batch size": weights
    of 1 give the plain mean, a weight of 2 counts a sample twice) and ``dy`` its exact
    gradient, each sample's row times ``w_i``. ``fit(sample_weight=, class_weight=)``
    uses this.

    Class attributes
    ----------------
    target : {"labels", "binary", "sign", "any"}
        What the targets are: integer class labels (or one-hot rows), 0/1
        values, -1/+1 values, or any real values. The model validates targets
        accordingly before training.
    per_sample : bool or None
        True when the value is a mean over the batch of per-sample terms (every
        built-in loss), so that a batch's value and gradient are the size-weighted
        sums of its pieces': the NumPy backend's ``threads=`` then may split a step.
        Your own losses leave it None ("not known": steps run whole) until you set it.

    Examples
    --------
    Every loss answers the same three calls:

    >>> import numpy as np, anynet as an
    >>> loss, y, t = an.losses.MSE(), np.asarray([[1.0, 2.0]]), np.asarray([[0.0, 2.0]])
    >>> value, dy = loss.value_and_grad(y, t)  # the value and dL/dy, from one pass
    >>> round(float(value), 4), tuple(dy.shape), round(float(loss(y, t)), 4)
    (0.5, (1, 2), 0.5)
    >>> loss.target, loss.classifies, loss.correct(y, t)
    ('any', False, None)
    """

    target: ClassVar[str] = "any"
    #: Whether ``correct`` counts right predictions (fit then reports accuracy).
    classifies: ClassVar[bool] = False
    per_sample: ClassVar[bool | None] = None

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        raise NotImplementedError

    def check_targets(self, t: Array, output_shape: tuple[int, ...] | None, /, *, name: str = "t",
                      where: str = "fit") -> Array:
        """Check targets for this loss and a model whose per-sample output shape is
        ``output_shape`` (``None``: unknown); return them as the loss takes them.

        ``t`` is any array with the samples on axis 0 (the model passes a host
        array, once per call, before anything is computed). Raises ``ValueError`` or
        ``TypeError`` naming ``where``, ``name``, this loss and what was expected.
        The base class takes real values of the output's shape (``(N,)`` for a
        ``(N, 1)`` output is reshaped); subclasses add their own rules.

        >>> import numpy as np, anynet as an
        >>> an.losses.MSE().check_targets(np.asarray([1.0, 2.0]), (1,)).shape
        (2, 1)
        >>> an.losses.Hinge().check_targets(np.asarray([0.0, 1.0]), (1,))
        Traceback (most recent call last):
        ...
        ValueError: fit: t for Hinge must be -1 or +1, got values [0.0, 1.0] (use 2 * t - 1 for 0/1 labels)
        """
        xp = array_namespace(t)
        if not xp.isdtype(t.dtype, ("real floating", "integral", "bool")):
            raise TypeError(f"{where}: {name} must hold numbers, got dtype {t.dtype}")
        if output_shape is not None:
            want = (t.shape[0], *output_shape)
            if tuple(t.shape) != want:
                if math.prod(t.shape) != math.prod(want):
                    raise ValueError(f"{where}: {name} of shape {tuple(t.shape)} does not match the model's "
                                     f"output (N, {', '.join(map(str, output_shape))}) for {type(self).__name__}: "
                                     f"expected shape {want}")
                t = xp.reshape(t, want)  # (N,) targets for a (N, 1) output
        self._check_values(xp, t, name, where)
        return t

    def _check_values(self, xp: Any, t: Array, name: str, where: str) -> None:
        """Raise ValueError for target values this loss cannot take (default: any)."""

    def forward(self, y: Array, t: Array, /, *, xp: Any = None, weights: Array | None = None) -> Array:
        """The loss value alone (a 0-d array); ``weights`` as in ``value_and_grad``."""
        if weights is None:
            return self.value_and_grad(y, t, xp=xp)[0]
        return self.value_and_grad(y, t, xp=xp, weights=weights)[0]

    __call__ = forward

    def correct(self, y: Array, t: Array, /, *, xp: Any = None) -> Array | None:
        """How many predictions in the batch are right (a 0-d float array), or
        ``None`` for losses that do not classify (MSE). Where a sample holds several
        0/1 decisions (multi-label BCE) each counts 1/K: accuracy = correct / N is then
        the share of right decisions (Keras' ``binary_accuracy``)."""
        return None

    def get_config(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {}


# ------------------------------------------------------------------ regression
@dataclasses.dataclass(frozen=True)
class MSE(Loss):
    """Mean squared error ``mean((y - t)**2)`` over every element.

    Shapes: y (N, ...) and t of the same shape -> value ().
    Gradient: ``2 (y - t) / y.size``.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> value, dy = an.losses.MSE().value_and_grad(np.asarray([[1.0, 2.0]]), np.asarray([[0.0, 2.0]]))
    >>> round(float(value), 4), dy.tolist()  # (1 + 0) / 2; 2 (y - t) / 2
    (0.5, [[1.0, 0.0]])
    """

    per_sample: ClassVar[bool] = True  # a mean of per-sample terms

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        xp = _ns(xp, y)
        d = y - t
        n = _size(y)
        wd = _weigh(xp, d, weights)
        return xp.sum(wd * d) / n, wd * (2.0 / n)


# ------------------------------------------------------------------ binary
@dataclasses.dataclass(frozen=True)
class BinaryCrossEntropy(Loss):
    """Binary cross-entropy ``-mean(t log p + (1 - t) log(1 - p))``, the lecture's BCE.

    Parameters
    ----------
    from_logits : bool
        True (default): ``y`` are scores ``z`` and ``p = sigmoid(z)`` is fused
        into the loss, ``softplus(z) - t z``, with gradient ``sigmoid(z) - t``
        (the lecture's ``a - y``): stable for any finite ``z``. End the network
        with a ``Linear`` layer. False: ``y`` are probabilities (after a
        ``Sigmoid`` layer), clipped to ``[eps, 1 - eps]`` so that 0 and 1 give
        finite values; the gradient is zero where clipping acted.
    eps : float
        The clipping margin for ``from_logits=False`` (default 1e-7, as Keras).

    Shapes: y (N,) or (N, K); t of the same size with values in [0, 1] -> value ().

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> z, t = np.asarray([0.0, 2.0]), np.asarray([1.0, 0.0])
    >>> value, dz = an.losses.BinaryCrossEntropy().value_and_grad(z, t)
    >>> round(float(value), 4), [round(float(v), 4) for v in dz]  # dz = (sigmoid(z) - t) / N
    (1.41, [-0.25, 0.4404])
    >>> p = 1.0 / (1.0 + np.exp(-z))  # the same loss from probabilities
    >>> round(float(an.losses.BinaryCrossEntropy(from_logits=False)(p, t)), 4)
    1.41
    """

    per_sample: ClassVar[bool] = True  # a mean of per-sample terms

    from_logits: bool = True
    eps: float = 1e-7

    target: ClassVar[str] = "binary"
    classifies: ClassVar[bool] = True

    def _check_values(self, xp: Any, t: Array, name: str, where: str) -> None:
        if bool(xp.any((t < 0) | (t > 1))):
            raise ValueError(f"{where}: {name} for {type(self).__name__} must be in [0, 1], got values in "
                             f"[{float(xp.min(t))}, {float(xp.max(t))}]")

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        xp = _ns(xp, y)
        n = _size(y)
        if self.from_logits:
            # softplus(z) - t z = max(z, 0) - t z + log(1 + e^-|z|)
            e = xp.exp(-xp.abs(y))
            value = xp.sum(_weigh(xp, xp.maximum(y, 0.0) - t * y + xp.log1p(e), weights)) / n
            sig = xp.where(y >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            return value, _weigh(xp, (sig - t) * (1.0 / n), weights)  # dz = (sigmoid(z) - t) / n
        p = xp.clip(y, self.eps, 1.0 - self.eps)
        value = -xp.sum(_weigh(xp, t * xp.log(p) + (1.0 - t) * xp.log1p(-p), weights)) / n
        # dp = (p - t) / (p (1 - p)) / n inside the clip range, 0 outside
        inside = (y > self.eps) & (y < 1.0 - self.eps)
        grad = xp.where(inside, (p - t) / (p * (1.0 - p)), 0.0) * (1.0 / n)
        return value, _weigh(xp, grad, weights)

    def correct(self, y: Array, t: Array, /, *, xp: Any = None) -> Array | None:
        xp = _ns(xp, y)
        return _count(xp, (y > (0.0 if self.from_logits else 0.5)) == (t > 0.5), y.dtype)


@dataclasses.dataclass(frozen=True)
class Hinge(Loss):
    """Binary hinge loss ``mean(max(0, 1 - t y))`` for targets ``t`` in {-1, +1}.

    Shapes: y (N,) or (N, 1); t of the same size -> value ().
    Gradient: ``-t / n`` where the margin ``t y < 1``, else 0.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t = np.asarray([2.0, 0.5, -1.0]), np.asarray([1.0, 1.0, 1.0])
    >>> value, dy = an.losses.Hinge().value_and_grad(y, t)  # margins 1 - t y: -1, 0.5, 2
    >>> round(float(value), 4), [round(float(v), 4) for v in dy]  # only the last two count
    (0.8333, [0.0, -0.3333, -0.3333])
    """

    per_sample: ClassVar[bool] = True  # a mean of per-sample terms

    target: ClassVar[str] = "sign"
    classifies: ClassVar[bool] = True

    def _check_values(self, xp: Any, t: Array, name: str, where: str) -> None:
        if not bool(xp.all((t == 1) | (t == -1))):
            vals = [float(v) for v in xp.unique_values(xp.reshape(t, (-1,)))[:5]]
            raise ValueError(f"{where}: {name} for {type(self).__name__} must be -1 or +1, got values {vals}"
                             + (" (use 2 * t - 1 for 0/1 labels)" if set(vals) <= {0, 1} else ""))

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        xp = _ns(xp, y)
        n = _size(y)
        margin = 1.0 - t * y
        value = xp.sum(_weigh(xp, xp.maximum(margin, 0.0), weights)) / n
        return value, _weigh(xp, xp.where(margin > 0, -t, 0.0) * (1.0 / n), weights)

    def correct(self, y: Array, t: Array, /, *, xp: Any = None) -> Array | None:
        xp = _ns(xp, y)
        return _count(xp, (y > 0) == (t > 0), y.dtype)


# ------------------------------------------------------------------ multiclass
class _Multiclass(Loss):
    target: ClassVar[str] = "labels"
    classifies: ClassVar[bool] = True
    per_sample: ClassVar[bool] = True  # a mean of per-sample terms

    def check_targets(self, t: Array, output_shape: tuple[int, ...] | None, /, *, name: str = "t",
                      where: str = "fit") -> Array:
        """Class labels (N,) in [0, C) (returned as int64) or one-hot/probability rows (N, C)."""
        xp = array_namespace(t)
        cls = type(self).__name__
        n_classes = output_shape[-1] if output_shape else None
        if t.ndim == 2 and t.shape[1] == 1 and n_classes != 1:
            raise ValueError(f"{where}: {name} for {cls} has shape {tuple(t.shape)}: give class labels as "
                             f"shape ({t.shape[0]},) ({name}.ravel()) or one-hot rows of width {n_classes}")
        if t.ndim == 2:
            if n_classes is not None and t.shape[1] != n_classes:
                raise ValueError(f"{where}: {name} for {cls} has one-hot rows of width {t.shape[1]} but the "
                                 f"model has {n_classes} outputs")
            return Loss.check_targets(self, t, output_shape, name=name, where=where)
        if t.ndim != 1:
            raise ValueError(f"{where}: {name} for {cls} must be labels (N,) or one-hot rows (N, C), "
                             f"got shape {tuple(t.shape)}")
        if xp.isdtype(t.dtype, "real floating"):
            frac = t != xp.round(t)
            if bool(xp.any(frac)):
                i = int(xp.argmax(xp.astype(frac, xp.int32)))
                raise ValueError(f"{where}: {name} for {cls} must be integer class labels, got non-integer "
                                 f"values such as {name}[{i}] = {float(t[i])}")
        elif not xp.isdtype(t.dtype, "integral"):
            raise TypeError(f"{where}: {name} for {cls} must be integer class labels, got dtype {t.dtype}")
        labels = xp.astype(t, xp.int64)
        lo, hi = int(xp.min(labels)), int(xp.max(labels))
        if lo < 0 or (n_classes is not None and hi >= n_classes):
            bad = (labels < 0) if n_classes is None else (labels < 0) | (labels >= n_classes)
            i = int(xp.argmax(xp.astype(bad, xp.int32)))
            allowed = ">= 0" if n_classes is None else f"in [0, {n_classes - 1}]"
            raise ValueError(f"{where}: {name} for {cls} holds labels in [{lo}, {hi}] but the model has "
                             f"{n_classes} outputs, so labels must be {allowed} (the first that is not: "
                             f"{name}[{i}] = {int(labels[i])})")
        return labels

    def _targets(self, xp: Any, y: Array, t: Array) -> Array:
        """One-hot (or probability) rows of the dtype of ``y`` from labels or rows."""
        if t.ndim == 1:
            return one_hot(xp, t, y.shape[-1], y.dtype)
        return t

    def correct(self, y: Array, t: Array, /, *, xp: Any = None) -> Array | None:
        xp = _ns(xp, y)
        pred = xp.argmax(y, axis=-1)
        labels = t if t.ndim == 1 else xp.argmax(t, axis=-1)
        if labels.dtype != pred.dtype:
            labels = xp.astype(labels, pred.dtype)
        return _count(xp, pred == labels, y.dtype)


@dataclasses.dataclass(frozen=True)
class SoftmaxCrossEntropy(_Multiclass):
    """Softmax followed by cross-entropy, fused: takes logits (scores) ``s``.

    ``L_i = -log(exp(s_k) / sum_j exp(s_j))`` for the true class ``k`` (the
    lecture's cross-entropy), computed as ``logsumexp(s) - s_k``.
    Gradient: ``(softmax(s) - onehot(t)) / N``.

    Shapes: s (N, C); t (N,) integer labels in [0, C), or (N, C) one-hot /
    probability rows -> value ().

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> value, ds = an.losses.SoftmaxCrossEntropy().value_and_grad(
    ...     np.asarray([[2.0, 1.0, 0.1]]), np.asarray([0]))
    >>> round(float(value), 4)
    0.417
    """

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        xp = _ns(xp, y)
        n = y.shape[0]
        T = self._targets(xp, y, t)
        z = y - xp.max(y, axis=-1, keepdims=True)
        e = xp.exp(z)
        s = xp.sum(e, axis=-1, keepdims=True)
        value = xp.sum(_weigh(xp, T * (z - xp.log(s)), weights)) * (-1.0 / n)  # mean of -log softmax at the target
        # ds = (softmax(s) - t) / N, in place on the fresh e (rebinds on JAX)
        e /= s
        e -= T
        e *= 1.0 / n
        return value, _weigh(xp, e, weights)


@dataclasses.dataclass(frozen=True)
class MulticlassHinge(_Multiclass):
    """Multiclass SVM loss (Weston-Watkins, as in CS231n):
    ``L_i = sum_{j != k} max(0, s_j - s_k + margin)`` for the true class ``k``.

    Shapes: s (N, C); t (N,) integer labels or (N, C) one-hot -> value ().
    Gradient: +1 for every class violating the margin, minus their count on
    the true class, over N.

    Examples
    --------
    CS231n's cat image, scored cat 3.2, car 5.1, frog -1.7: only "car" beats the
    margin, ``max(0, 5.1 - 3.2 + 1) = 2.9``.

    >>> import numpy as np, anynet as an
    >>> s, t = np.asarray([[3.2, 5.1, -1.7]]), np.asarray([0])
    >>> value, ds = an.losses.MulticlassHinge().value_and_grad(s, t)
    >>> round(float(value), 4), ds.tolist()
    (2.9, [[-1.0, 1.0, 0.0]])
    """

    margin: float = 1.0

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        xp = _ns(xp, y)
        n = y.shape[0]
        T = self._targets(xp, y, t)
        true_score = xp.sum(y * T, axis=-1, keepdims=True)
        m = xp.where(T > 0, 0.0, y - true_score + self.margin)
        value = xp.sum(_weigh(xp, xp.maximum(m, 0.0), weights)) / n
        active = xp.astype(m > 0, y.dtype)
        grad = active - T * xp.sum(active, axis=-1, keepdims=True)
        return value, _weigh(xp, grad * (1.0 / n), weights)


# ------------------------------------------------------------------ regularizers
class Regularizer:
    """``lambda * R(W)`` summed over every layer's weights (``layer.regularized``).

    Examples
    --------
    Only weights are penalized (``Linear.regularized == ("W",)``), not biases:

    >>> import numpy as np, anynet as an
    >>> layers = [an.layers.Linear(2, 2), an.layers.ReLU()]
    >>> params = [{"W": np.ones((2, 2)), "b": np.ones(2)}, {}]
    >>> value, grads = an.losses.L2(0.1).value_and_grad(params, layers)
    >>> round(float(value), 4), [sorted(g) for g in grads]
    (0.4, [['W'], []])
    """

    def value_and_grad(
        self, params: Sequence[dict[str, Array]], layers: Sequence[Any], /, *, xp: Any = None
    ) -> tuple[Array, list[dict[str, Array]]]:
        """Return the penalty (0-d) and its gradient for the regularized entries only."""
        value = None
        grads: list[dict[str, Array]] = []
        for p, layer in zip(params, layers):
            g = {}
            for k in getattr(layer, "regularized", ()):
                v, g[k] = self._term(_ns(xp, p[k]), p[k])
                value = v if value is None else value + v
            grads.append(g)
        if value is None:
            value = 0.0
        return value, grads

    def _term(self, xp: Any, w: Array) -> tuple[Array, Array]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class L2(Regularizer):
    """``lam * sum(W**2)`` (gradient ``2 lam W``): weight decay in the lecture's ``lambda R(W)``.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> params = [{"W": np.asarray([[1.0, -2.0]]), "b": np.zeros(1)}]
    >>> value, grads = an.losses.L2(0.1).value_and_grad(params, [an.layers.Linear(2, 1)])
    >>> round(float(value), 4), grads[0]["W"].tolist()  # 0.1 * (1 + 4); 2 * 0.1 * W
    (0.5, [[0.2, -0.4]])
    """

    lam: float = 1e-4

    def _term(self, xp, w):
        return self.lam * xp.sum(w * w), (2.0 * self.lam) * w


@dataclasses.dataclass(frozen=True)
class L1(Regularizer):
    """``lam * sum(|W|)`` (gradient ``lam sign(W)``): pushes weights to exactly zero.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> params = [{"W": np.asarray([[1.0, -2.0]]), "b": np.zeros(1)}]
    >>> value, grads = an.losses.L1(0.1).value_and_grad(params, [an.layers.Linear(2, 1)])
    >>> round(float(value), 4), grads[0]["W"].tolist()  # 0.1 * (1 + 2); the same pull on both
    (0.3, [[0.1, -0.1]])
    """

    lam: float = 1e-4

    def _term(self, xp, w):
        return self.lam * xp.sum(xp.abs(w)), self.lam * xp.sign(w)


@dataclasses.dataclass(frozen=True)
class L1L2(Regularizer):
    """``l1 * sum(|W|) + l2 * sum(W**2)`` (elastic net).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> params = [{"W": np.asarray([[1.0, -2.0]]), "b": np.zeros(1)}]
    >>> reg = an.losses.L1L2(l1=0.1, l2=0.1)
    >>> value, grads = reg.value_and_grad(params, [an.layers.Linear(2, 1)])
    >>> round(float(value), 4), [round(float(g), 4) for g in grads[0]["W"][0]]  # L1 + L2
    (0.8, [0.3, -0.5])
    """

    l1: float = 0.0
    l2: float = 0.0

    def _term(self, xp, w):
        return (self.l1 * xp.sum(xp.abs(w)) + self.l2 * xp.sum(w * w),
                self.l1 * xp.sign(w) + (2.0 * self.l2) * w)


@dataclasses.dataclass(frozen=True)
class WithWeights(Loss):
    """``loss`` with per-sample weights carried as the last column of the targets (fit's
    plumbing for ``sample_weight``/``class_weight``: not among the losses of ``__all__``).

    ``fit(sample_weight=..., class_weight=...)`` trains with this: packed into the
    targets, the weights are shuffled, batched and gathered with them inside the
    compiled epoch, so the engine needs no second data array. ``pack`` builds such
    targets; ``value_and_grad`` splits them and calls ``loss.value_and_grad(y, T,
    weights=w)``; ``correct`` counts unweighted right predictions.

    Parameters
    ----------
    loss : Loss
        The loss to weight (its ``value_and_grad`` takes ``weights=``).
    shape : tuple of int
        The per-sample shape of the targets ``loss`` takes.

    Shapes
    ------
    y (N, ...); t (N, prod(shape) + 1): the flattened targets, then the weight -> value ().

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> y, t, w = np.asarray([[1.0], [3.0]]), np.asarray([[0.0], [1.0]]), np.asarray([2.0, 0.0])
    >>> loss = an.losses.WithWeights(an.losses.MSE(), (1,))
    >>> value, dy = loss.value_and_grad(y, loss.pack(t, w))  # (2 * 1 + 0 * 4) / 2
    >>> float(value), dy.tolist()
    (1.0, [[2.0], [0.0]])
    """

    loss: Loss
    shape: tuple[int, ...] = ()

    @property
    def target(self) -> str:  # type: ignore[override]
        return self.loss.target

    @property
    def per_sample(self) -> bool | None:  # type: ignore[override]
        return self.loss.per_sample

    @property
    def classifies(self) -> bool:  # type: ignore[override]
        return self.loss.classifies

    def pack(self, t: Array, weights: Array) -> Array:
        """Targets (N, *shape) and weights (N,) as one array (N, prod(shape) + 1)."""
        xp = array_namespace(t, weights)
        flat = xp.reshape(t, (t.shape[0], -1))
        return xp.concat([flat, xp.reshape(xp.astype(weights, flat.dtype), (-1, 1))], axis=1)

    def split(self, t: Array, xp: Any = None) -> tuple[Array, Array]:
        """``(targets (N, *shape), weights (N,))`` from packed targets."""
        xp = _ns(xp, t)
        return xp.reshape(t[:, :-1], (t.shape[0], *self.shape)), t[:, -1]

    def value_and_grad(self, y: Array, t: Array, /, *, xp: Any = None,
                       weights: Array | None = None) -> tuple[Array, Array]:
        xp = _ns(xp, y)
        T, w = self.split(t, xp)
        if weights is not None:
            w = w * weights
        return self.loss.value_and_grad(y, T, xp=xp, weights=w)

    def correct(self, y: Array, t: Array, /, *, xp: Any = None) -> Array | None:
        return self.loss.correct(y, self.split(t, xp)[0], xp=xp)


#: Names ``get`` knows, Keras' among them. The cross-entropies take logits here (fused,
#: stable): end the network with a ``Linear`` layer, not ``Softmax``/``Sigmoid``.
LOSSES: dict[str, type] = {}


def get(loss: Any, **kwargs: Any) -> Loss:
    """A loss from its name (as Keras' ``keras.losses.get``), its class, or itself.

    Names (any case): ``"softmax_cross_entropy"``, ``"categorical_crossentropy"``,
    ``"sparse_categorical_crossentropy"``, ``"cross_entropy"`` (all
    :class:`SoftmaxCrossEntropy`: labels or one-hot rows); ``"binary_crossentropy"``,
    ``"bce"`` (:class:`BinaryCrossEntropy`); ``"hinge"``; ``"multiclass_hinge"``;
    ``"mse"``, ``"mean_squared_error"``. Unlike Keras, the cross-entropies take logits
    (the softmax or sigmoid is fused into the loss), so the network ends with a
    ``Linear`` layer; ``kwargs`` go to the constructor (``from_logits=False``).
    A loss object passes through unchanged.

    Shapes
    ------
    Those of the loss returned.

    Examples
    --------
    >>> import anynet as an
    >>> an.losses.get("categorical_crossentropy")
    SoftmaxCrossEntropy()
    >>> an.losses.get("binary_crossentropy", from_logits=False)
    BinaryCrossEntropy(from_logits=False, eps=1e-07)
    >>> an.losses.get("mae")
    Traceback (most recent call last):
    ...
    ValueError: unknown loss 'mae': expected one of 'bce', 'binary_crossentropy', 'categorical_crossentropy', 'cross_entropy', 'hinge', 'mean_squared_error', 'mse', 'multiclass_hinge', 'softmax_cross_entropy', 'sparse_categorical_crossentropy', a Loss or a Loss class
    """
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss(**kwargs)
    if not isinstance(loss, str):  # a loss object (its own checks judge it where it is used)
        if kwargs:
            raise TypeError(f"losses.get: {loss!r} is built already; settings {sorted(kwargs)} cannot apply")
        return loss
    key = loss.strip().lower() if isinstance(loss, str) else None
    if key not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: expected one of "
                         f"{', '.join(map(repr, sorted(LOSSES)))}, a Loss or a Loss class")
    return LOSSES[key](**kwargs)


LOSSES.update({
    "softmax_cross_entropy": SoftmaxCrossEntropy, "categorical_crossentropy": SoftmaxCrossEntropy,
    "sparse_categorical_crossentropy": SoftmaxCrossEntropy, "cross_entropy": SoftmaxCrossEntropy,
    "binary_crossentropy": BinaryCrossEntropy, "bce": BinaryCrossEntropy, "hinge": Hinge,
    "multiclass_hinge": MulticlassHinge, "mse": MSE, "mean_squared_error": MSE,
})


def _size(a: Array) -> int:
    n = 1
    for s in a.shape:
        n *= int(s)
    return n
