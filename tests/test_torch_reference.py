"""Every hand-written gradient against torch.autograd, in float64: every layer, every
loss (each kind of target), and random MLPs of depth 1-4 with every activation and
every loss. anynet computes on the session's backend; torch on the CPU, from the same
parameter values (see tests/torch_reference.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import anynet as an
from anynet import _random
from anynet.backends import to_numpy

from .conftest import rel_err
from .test_layers import LAYERS  # the same layer list as the NumPy-parity tests
from .test_model import jitter

L = an.layers
losses = an.losses


@pytest.fixture(scope="module")
def ref():
    pytest.importorskip("torch", reason="torch is not installed in this session: the torch.autograd "
                        "cross-checks run in the torch session (nox -s \"tests(backend='torch')\")")
    from . import torch_reference

    return torch_reference


def _away_from_zero(a):
    return a + np.sign(a) * 0.05  # off the kinks of ReLU-like units at 0


# ------------------------------------------------------------------ layers


def test_every_layer_is_covered():
    from .test_conv import COVERED  # the convolutional layers, against torch.nn.functional there

    covered = {type(layer).__name__ for layer, _ in LAYERS} | COVERED
    classes = {n for n in an.layers.__all__ if isinstance(getattr(an.layers, n), type)}
    assert covered == classes - {"Layer"}


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=[repr(lay) for lay, _ in LAYERS])
def test_layer_forward_and_gradients_equal_torch_autograd(layer, shape, be, ref):
    rng = np.random.default_rng(0)
    x_host = _away_from_zero(rng.normal(size=(4, *shape)) * 1.5)
    p_host = {k: np.asarray(v, dtype=np.float64) for k, v in layer.init(rng).items()}
    if "b" in p_host:
        p_host["b"] = _away_from_zero(rng.normal(size=p_host["b"].shape) * 0.3)
    x = be.asarray(x_host, dtype="float64")
    p = {k: be.asarray(v, dtype="float64") for k, v in p_host.items()}
    key = _random.key_from_seed(5, xp=be.xp) if layer.stochastic else None
    y, cache = layer.forward(p, x, training=True, key=key)
    dy_host = rng.normal(size=tuple(y.shape))
    dx, grads = layer.backward(p, cache, be.asarray(dy_host, dtype="float64"))
    mask = to_numpy(cache) if isinstance(layer, L.Dropout) else None  # an input, not a gradient
    ty, tdx, tgrads = ref.layer_grads(layer, p_host, x_host, dy_host, mask)
    assert rel_err(y, ty) < 1e-12
    assert rel_err(dx, tdx) < 1e-10
    assert set(grads) == set(tgrads)
    for k in grads:
        assert rel_err(grads[k], tgrads[k]) < 1e-10, k


# ------------------------------------------------------------------ losses
_RNG = np.random.default_rng(1)
_Y = _RNG.normal(size=(6, 4)) * 2.0
_LABELS = np.array([0, 3, 1, 2, 3, 1])
_SOFT = np.abs(_RNG.normal(size=(6, 4)))
_SOFT = _SOFT / _SOFT.sum(axis=1, keepdims=True)
_Z = _RNG.normal(size=(6, 1)) * 2.0
_BIN = np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0]])
LOSS_CASES = [
    ("SoftmaxCrossEntropy-labels", losses.SoftmaxCrossEntropy(), _Y, _LABELS),
    ("SoftmaxCrossEntropy-onehot", losses.SoftmaxCrossEntropy(), _Y, np.eye(4)[_LABELS]),
    ("SoftmaxCrossEntropy-probabilities", losses.SoftmaxCrossEntropy(), _Y, _SOFT),
    ("MulticlassHinge-labels", losses.MulticlassHinge(), _Y, _LABELS),
    ("MulticlassHinge-onehot-margin0.5", losses.MulticlassHinge(margin=0.5), _Y, np.eye(4)[_LABELS]),
    ("MSE", losses.MSE(), _Y, _SOFT),
    ("BinaryCrossEntropy-logits", losses.BinaryCrossEntropy(), _Z, _BIN),
    ("BinaryCrossEntropy-logits-1d", losses.BinaryCrossEntropy(), _Z[:, 0], _BIN[:, 0]),
    ("BinaryCrossEntropy-probabilities", losses.BinaryCrossEntropy(from_logits=False),
     1.0 / (1.0 + np.exp(-_Z)), _BIN),
    ("BinaryCrossEntropy-soft-targets", losses.BinaryCrossEntropy(), _Z, np.full((6, 1), 0.3)),
    ("Hinge", losses.Hinge(), _Z, 2.0 * _BIN - 1.0),
]


def test_every_loss_is_covered():
    covered = {type(c[1]).__name__ for c in LOSS_CASES}
    every = {n for n in losses.__all__ if n != "Loss" and isinstance(getattr(losses, n), type)
             and issubclass(getattr(losses, n), losses.Loss)}
    assert covered == every


def _targets(be, t):
    if np.asarray(t).dtype.kind in "iu":
        return be.asarray(t, dtype=be.default_int())
    return be.asarray(t, dtype="float64")


@pytest.mark.parametrize(("name", "loss", "y", "t"), LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_value_and_gradient_equal_torch_autograd(name, loss, y, t, be, ref):
    value, dy = loss.value_and_grad(be.asarray(y, dtype="float64"), _targets(be, t))
    ref_value, ref_dy = ref.loss_grads(loss, y, t)
    assert float(value) == pytest.approx(ref_value, rel=1e-12)
    assert rel_err(dy, ref_dy) < 1e-10


# ------------------------------------------------------------------ random MLPs
ACTIVATIONS = {
    "Sigmoid": L.Sigmoid, "Tanh": L.Tanh, "ReLU": L.ReLU, "LeakyReLU": lambda: L.LeakyReLU(0.1),
    "ELU": lambda: L.ELU(0.8), "GELU": L.GELU, "Softplus": L.Softplus, "Softmax": L.Softmax,
    "Maxout": None,  # a layer of its own, not Linear + activation
}
LOSS_KINDS = ["SoftmaxCrossEntropy-labels", "SoftmaxCrossEntropy-onehot", "MulticlassHinge", "MSE",
              "BinaryCrossEntropy-logits", "BinaryCrossEntropy-probabilities", "Hinge"]
MLP_CASES = [(i, act, kind) for i, (act, kind) in enumerate(itertools.product(ACTIVATIONS, LOSS_KINDS))]
REGULARIZERS = [None, losses.L2(0.01), losses.L1(0.01), losses.L1L2(0.01, 0.02)]


def _depth(act_index: int, loss_index: int) -> int:
    # every activation meets every depth 1-4 across the losses (depth 1: no hidden layer)
    return 1 + (act_index + loss_index) % 4


def random_mlp(index: int, activation: str, kind: str):
    """A random MLP for one (activation, loss) pair: widths, data and targets from ``index``."""
    rng = np.random.default_rng(1000 + index)
    depth = _depth(list(ACTIVATIONS).index(activation), LOSS_KINDS.index(kind))
    n_in, n = int(rng.integers(2, 6)), int(rng.integers(3, 9))
    widths = [n_in] + [int(w) for w in rng.integers(2, 7, size=depth - 1)]
    layers = []
    for j, (a, b) in enumerate(itertools.pairwise(widths)):
        if activation == "Maxout":
            layers.append(L.Maxout(a, b, int(rng.integers(2, 4))))
        else:
            layers += [L.Linear(a, b), ACTIVATIONS[activation]()]
        if j == 0 and index % 3 == 0:
            layers.append(L.Dropout(0.25))
    x = rng.normal(size=(n, n_in))
    if kind == "SoftmaxCrossEntropy-labels":
        loss, n_out, t = losses.SoftmaxCrossEntropy(), 3, rng.integers(0, 3, size=n)
    elif kind == "SoftmaxCrossEntropy-onehot":
        loss, n_out, t = losses.SoftmaxCrossEntropy(), 3, np.eye(3)[rng.integers(0, 3, size=n)]
    elif kind == "MulticlassHinge":
        loss, n_out, t = losses.MulticlassHinge(), 4, rng.integers(0, 4, size=n)
    elif kind == "MSE":
        loss, n_out, t = losses.MSE(), 2, rng.normal(size=(n, 2))
    elif kind == "BinaryCrossEntropy-logits":
        loss, n_out, t = losses.BinaryCrossEntropy(), 1, rng.integers(0, 2, size=(n, 1)).astype(float)
    elif kind == "BinaryCrossEntropy-probabilities":
        loss, n_out, t = (losses.BinaryCrossEntropy(from_logits=False), 1,
                          rng.integers(0, 2, size=(n, 1)).astype(float))
    else:
        loss, n_out, t = losses.Hinge(), 1, 2.0 * rng.integers(0, 2, size=(n, 1)) - 1.0
    layers.append(L.Linear(widths[-1], n_out))
    if kind == "BinaryCrossEntropy-probabilities":
        layers.append(L.Sigmoid())
    return layers, x, t, loss, REGULARIZERS[index % len(REGULARIZERS)]


def test_random_mlps_cover_every_depth_activation_and_loss():
    seen = {(act, _depth(list(ACTIVATIONS).index(act), LOSS_KINDS.index(kind))) for _, act, kind in MLP_CASES}
    assert seen == {(act, d) for act in ACTIVATIONS for d in (1, 2, 3, 4)}
    assert {kind for _, _, kind in MLP_CASES} == set(LOSS_KINDS)


@pytest.mark.parametrize(("index", "activation", "kind"), MLP_CASES,
                         ids=[f"{i}-{a}-{k}" for i, a, k in MLP_CASES])
def test_random_mlp_gradients_equal_torch_autograd(index, activation, kind, be, ref):
    layers, x, t, loss, reg = random_mlp(index, activation, kind)
    model = jitter(an.Sequential(layers, seed=index, dtype="float64", backend=be), index)
    value, grads = model.loss_and_grads(x, t, loss=loss, regularizer=reg, seed=index)
    # the dropout masks anynet drew (the same key as loss_and_grads) are an input of the reference
    key = _random.key_from_seed(index, xp=be.xp)
    _, caches = model.forward(model.params, be.asarray(x, dtype="float64"), training=True, key=key)
    masks = [to_numpy(c) if isinstance(layer, L.Dropout) else None for layer, c in zip(layers, caches)]
    host_params = [{k: to_numpy(v) for k, v in p.items()} for p in model.params]
    ref_value, ref_grads = ref.model_grads(layers, host_params, x, t, loss, masks, reg)
    assert value == pytest.approx(ref_value, rel=1e-12)
    # an array whose gradient is zero in exact arithmetic comes out as +-1e-17 from sums in
    # another order: measure it against the network's largest gradient (times 1e-4), not 1e-12
    scale = max(float(np.max(np.abs(v))) for rg in ref_grads for v in rg.values())
    for i, (g, rg) in enumerate(zip(grads, ref_grads)):
        assert set(g) == set(rg)
        for k in g:
            assert rel_err(g[k], rg[k], floor=1e-4 * scale) < 1e-8, (i, k, layers)
