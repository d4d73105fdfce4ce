"""Independent reference: the same networks and losses written with jax.numpy and
differentiated by ``jax.grad``, sharing no gradient code with anynet."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import anynet as an

L = an.layers
losses = an.losses


def layer_fn(layer, p, x, mask=None):
    if isinstance(layer, L.Linear):
        y = x @ p["W"].T
        return y + p["b"][None, :] if layer.bias else y
    if isinstance(layer, L.Maxout):
        z = jnp.einsum("ni,koi->nko", x, p["W"]) + p["b"][None]
        return jnp.max(z, axis=1)
    if isinstance(layer, L.Sigmoid):
        return jax.nn.sigmoid(x)
    if isinstance(layer, L.Tanh):
        return jnp.tanh(x)
    if isinstance(layer, L.ReLU):
        return jax.nn.relu(x)
    if isinstance(layer, L.LeakyReLU):
        return jax.nn.leaky_relu(x, layer.negative_slope)
    if isinstance(layer, L.ELU):
        return jax.nn.elu(x, layer.alpha)
    if isinstance(layer, L.GELU):
        return jax.nn.gelu(x, approximate=True)
    if isinstance(layer, L.Softplus):
        return jax.nn.softplus(x)
    if isinstance(layer, L.Softmax):
        return jax.nn.softmax(x, axis=-1)
    if isinstance(layer, L.Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(layer, L.Dropout):
        return x if mask is None else jnp.where(mask, x / (1.0 - layer.p), 0.0)
    raise NotImplementedError(type(layer).__name__)


def loss_fn(loss, y, t):
    if isinstance(loss, losses.SoftmaxCrossEntropy):
        logp = jax.nn.log_softmax(y, axis=-1)
        if t.ndim == 1:
            return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))
        return -jnp.mean(jnp.sum(t * logp, axis=-1))
    if isinstance(loss, losses.MulticlassHinge):
        onehot = jax.nn.one_hot(t, y.shape[1], dtype=y.dtype) if t.ndim == 1 else t
        correct = jnp.sum(y * onehot, axis=1, keepdims=True)
        margins = jax.nn.relu(y - correct + loss.margin) * (1.0 - onehot)
        return jnp.mean(jnp.sum(margins, axis=1))
    if isinstance(loss, losses.MSE):
        return jnp.mean((y - t) ** 2)
    if isinstance(loss, losses.BinaryCrossEntropy):
        if loss.from_logits:
            return -jnp.mean(t * jax.nn.log_sigmoid(y) + (1 - t) * jax.nn.log_sigmoid(-y))
        return -jnp.mean(t * jnp.log(y) + (1 - t) * jnp.log1p(-y))
    if isinstance(loss, losses.Hinge):
        return jnp.mean(jax.nn.relu(1.0 - t * y))
    raise NotImplementedError(type(loss).__name__)


def penalty_fn(reg, params, layers):
    total = 0.0
    for p, layer in zip(params, layers):
        for k in getattr(layer, "regularized", ()):
            w = p[k]
            if isinstance(reg, losses.L2):
                total = total + reg.lam * jnp.sum(w * w)
            elif isinstance(reg, losses.L1):
                total = total + reg.lam * jnp.sum(jnp.abs(w))
            else:
                total = total + reg.l1 * jnp.sum(jnp.abs(w)) + reg.l2 * jnp.sum(w * w)
    return total


def model_loss(layers, params, x, t, loss, masks=None, regularizer=None):
    for i, (layer, p) in enumerate(zip(layers, params)):
        x = layer_fn(layer, p, x, None if masks is None else masks[i])
    value = loss_fn(loss, x, t)
    if regularizer is not None:
        value = value + penalty_fn(regularizer, params, layers)
    return value


def model_grads(layers, params, x, t, loss, masks=None, regularizer=None):
    """``(value, grads)`` by jax.value_and_grad, params as lists of dicts of float64 arrays."""
    params = [{k: jnp.asarray(v, dtype=jnp.float64) for k, v in p.items()} for p in params]
    x = jnp.asarray(x, dtype=jnp.float64)
    t = jnp.asarray(t)
    if jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.float64)
    # compiled: one program per test instead of dozens of eagerly dispatched operations
    fn = jax.jit(jax.value_and_grad(lambda ps, x, t, masks: model_loss(layers, ps, x, t, loss, masks, regularizer)))
    return fn(params, x, t, masks)
