"""Independent reference: the same layers, losses and networks written with PyTorch
operations and differentiated by ``torch.autograd`` (float64, CPU).

Nothing here uses anynet's gradient code: anynet supplies only the configuration
of each layer and loss (sizes, slopes, margins), the parameter values, and the
dropout masks, which are inputs (anynet draws them from its own counter-based
generator), not gradients.

Conventions at kinks differ between libraries (ReLU at 0, ties in Maxout, |x|
at 0); callers keep inputs and biases away from exact zeros and ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import anynet as an
from anynet.backends import to_numpy

L = an.layers
losses = an.losses

__all__ = ["layer_fn", "layer_grads", "loss_fn", "loss_grads", "model_grads", "model_loss", "tensor"]


def tensor(a: Any, *, grad: bool = False) -> torch.Tensor:
    """A float64 (or int64, for integer labels) CPU tensor from an array of any backend."""
    host = np.array(to_numpy(a))  # a writable copy: torch warns about read-only NumPy memory
    if host.dtype.kind in "iu":
        return torch.as_tensor(host.astype(np.int64))
    if host.dtype.kind == "b":
        return torch.as_tensor(host)
    return torch.as_tensor(host.astype(np.float64)).requires_grad_(grad)


def layer_fn(layer: Any, p: dict[str, torch.Tensor], x: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """The forward pass of an anynet layer, written with torch operations."""
    if isinstance(layer, L.Linear):
        return F.linear(x, p["W"], p["b"] if layer.bias else None)
    if isinstance(layer, L.Maxout):
        z = torch.einsum("ni,koi->nko", x, p["W"]) + p["b"][None]
        return torch.amax(z, dim=1)
    if isinstance(layer, L.Sigmoid):
        return torch.sigmoid(x)
    if isinstance(layer, L.Tanh):
        return torch.tanh(x)
    if isinstance(layer, L.ReLU):
        return F.relu(x)
    if isinstance(layer, L.LeakyReLU):
        return F.leaky_relu(x, layer.negative_slope)
    if isinstance(layer, L.ELU):
        return F.elu(x, layer.alpha)
    if isinstance(layer, L.GELU):
        return F.gelu(x, approximate="tanh")
    if isinstance(layer, L.Softplus):
        # torch returns x itself above x = 20; the inputs here stay far below that
        return F.softplus(x)
    if isinstance(layer, L.Softmax):
        return F.softmax(x, dim=-1)
    if isinstance(layer, L.Flatten):
        return torch.flatten(x, 1)
    if isinstance(layer, L.Dropout):
        return x if mask is None else torch.where(mask, x / (1.0 - layer.p), torch.zeros_like(x))
    raise NotImplementedError(f"torch_reference: no torch version of {type(layer).__name__}")


def loss_fn(loss: Any, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The value of an anynet loss, written with torch's own loss functions."""
    if isinstance(loss, losses.SoftmaxCrossEntropy):
        # labels, or one-hot / probability rows (class probabilities are a torch target too)
        return F.cross_entropy(y, t)
    if isinstance(loss, losses.MulticlassHinge):
        labels = t if t.ndim == 1 else torch.argmax(t, dim=1)  # one-hot rows only
        # torch divides the sum over the wrong classes by the number of classes C; anynet
        # (Weston-Watkins, CS231n) does not
        return F.multi_margin_loss(y, labels, margin=loss.margin) * y.shape[1]
    if isinstance(loss, losses.MSE):
        return F.mse_loss(y, t)
    if isinstance(loss, losses.BinaryCrossEntropy):
        if loss.from_logits:
            return F.binary_cross_entropy_with_logits(y, t)
        return F.binary_cross_entropy(y, t)
    if isinstance(loss, losses.Hinge):
        return torch.mean(torch.clamp(1.0 - t * y, min=0.0))
    raise NotImplementedError(f"torch_reference: no torch version of {type(loss).__name__}")


def penalty_fn(reg: Any, params: Sequence[dict[str, torch.Tensor]], layers: Sequence[Any]) -> Any:
    """``lambda R(W)`` over every layer's regularized parameters (weights, not biases)."""
    total: Any = 0.0
    for p, layer in zip(params, layers):
        for k in getattr(layer, "regularized", ()):
            w = p[k]
            if isinstance(reg, losses.L2):
                total = total + reg.lam * torch.sum(w * w)
            elif isinstance(reg, losses.L1):
                total = total + reg.lam * torch.sum(torch.abs(w))
            elif isinstance(reg, losses.L1L2):
                total = total + reg.l1 * torch.sum(torch.abs(w)) + reg.l2 * torch.sum(w * w)
            else:
                raise NotImplementedError(f"torch_reference: no torch version of {type(reg).__name__}")
    return total


def layer_grads(layer: Any, params: dict[str, Any], x: Any, dy: Any, mask: Any = None
                ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(y, dx, {name: dparam})`` for ``L = sum(y * dy)`` by torch.autograd, as float64
    NumPy arrays."""
    xt = tensor(x, grad=True)
    pt = {k: tensor(v, grad=True) for k, v in params.items()}
    y = layer_fn(layer, pt, xt, None if mask is None else tensor(mask))
    dxt, *dps = torch.autograd.grad(torch.sum(y * tensor(dy)), [xt, *pt.values()], allow_unused=True)
    return (y.detach().numpy(), dxt.numpy(),
            {k: g.numpy() for k, g in zip(pt, dps)})


def loss_grads(loss: Any, y: Any, t: Any) -> tuple[float, np.ndarray]:
    """``(value, dL/dy)`` by torch.autograd."""
    yt = tensor(y, grad=True)
    value = loss_fn(loss, yt, tensor(t))
    (dy,) = torch.autograd.grad(value, [yt])
    return float(value.detach()), dy.numpy()


def model_loss(layers: Sequence[Any], params: Sequence[dict[str, torch.Tensor]], x: torch.Tensor,
               t: torch.Tensor, loss: Any, masks: Sequence[Any] | None = None,
               regularizer: Any = None) -> torch.Tensor:
    for i, (layer, p) in enumerate(zip(layers, params)):
        x = layer_fn(layer, p, x, None if masks is None or masks[i] is None else tensor(masks[i]))
    value = loss_fn(loss, x, t)
    if regularizer is not None:
        value = value + penalty_fn(regularizer, params, layers)
    return value


def model_grads(layers: Sequence[Any], params: Sequence[dict[str, Any]], x: Any, t: Any, loss: Any,
                masks: Sequence[Any] | None = None, regularizer: Any = None
                ) -> tuple[float, list[dict[str, np.ndarray]]]:
    """``(value, grads)`` of a whole network by torch.autograd, in the structure of ``params``."""
    pt = [{k: tensor(v, grad=True) for k, v in p.items()} for p in params]
    value = model_loss(layers, pt, tensor(x), tensor(t), loss, masks, regularizer)
    flat = [v for p in pt for v in p.values()]
    grads = iter(torch.autograd.grad(value, flat))
    return float(value.detach()), [{k: next(grads).numpy() for k in p} for p in pt]
