"""Every loss: the lecture's numbers, finite differences, jax.grad, stability, accuracy counts."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

from .conftest import assert_close, rel_err

losses = an.losses
RNG = np.random.default_rng(0)
Y = RNG.normal(size=(6, 4)) * 2.0
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONEHOT = np.eye(4)[LABELS]
SOFT = np.abs(RNG.normal(size=(6, 4)))
SOFT = SOFT / SOFT.sum(axis=1, keepdims=True)
Z1 = RNG.normal(size=(6, 1)) * 2.0
BIN = (RNG.uniform(size=(6, 1)) > 0.5).astype(np.float64)
SIGN = 2.0 * BIN - 1.0
P1 = 1.0 / (1.0 + np.exp(-Z1))

# (loss, y, t); every loss with every kind of target it accepts
CASES = [
    (losses.SoftmaxCrossEntropy(), Y, LABELS),
    (losses.SoftmaxCrossEntropy(), Y, ONEHOT),
    (losses.SoftmaxCrossEntropy(), Y, SOFT),
    (losses.MulticlassHinge(), Y, LABELS),
    (losses.MulticlassHinge(margin=0.5), Y, ONEHOT),
    (losses.MSE(), Y, SOFT),
    (losses.BinaryCrossEntropy(), Z1, BIN),
    (losses.BinaryCrossEntropy(), Z1[:, 0], BIN[:, 0]),
    (losses.BinaryCrossEntropy(from_logits=False), P1, BIN),
    (losses.Hinge(), Z1, SIGN),
]
IDS = [f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)]


def _put(be, t, dtype="float64"):
    if np.issubdtype(np.asarray(t).dtype, np.integer):
        return be.asarray(t, dtype=be.default_int())
    return be.asarray(t, dtype=dtype)


@pytest.mark.parametrize(("loss", "y", "t"), CASES, ids=IDS)
def test_gradcheck_float64(loss, y, t, be):
    assert an.gradcheck(loss, be.asarray(y, dtype="float64"), _put(be, t)) < 1e-7


@pytest.mark.parametrize(("loss", "y", "t"), CASES, ids=IDS)
def test_value_and_grad_equal_jax(loss, y, t, be, jax):
    from . import jax_reference as ref

    jnp = jax.numpy
    value, dy = loss.value_and_grad(be.asarray(y, dtype="float64"), _put(be, t))
    jt = jnp.asarray(t)
    ref_value, ref_dy = jax.value_and_grad(lambda yy: ref.loss_fn(loss, yy, jt))(jnp.asarray(y))
    assert rel_err(value, ref_value) < 1e-12
    assert rel_err(dy, ref_dy) < 1e-8


@pytest.mark.parametrize(("loss", "y", "t"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_value_and_grad_dtype_shape_and_parity(loss, y, t, dtype, be):
    value, dy = loss.value_and_grad(be.asarray(y, dtype=dtype), _put(be, t, dtype))
    assert tuple(value.shape) == () and value.dtype == be.dtype(dtype)
    assert tuple(dy.shape) == y.shape and dy.dtype == be.dtype(dtype)
    nb = an.backends.get_backend("numpy")
    v0, d0 = loss.value_and_grad(nb.asarray(y, dtype=dtype), _put(nb, t, dtype))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    assert_close(dy, d0, be, rtol=rtol, atol=rtol * 1e-2)
    assert abs(float(value) - float(v0)) <= rtol * max(1.0, abs(float(v0)))


SCORES = np.array([[7.3, 5.5, 2.7]])  # the lecture's dog, cat, pig scores


@pytest.mark.parametrize(("true_class", "hinge", "xent"), [(0, 0.0, 0.1615665915), (1, 2.8, 1.9615665915),
                                                             (2, 9.4, 4.7615665915)])
def test_the_lectures_scores(true_class, hinge, xent, be):
    s = be.asarray(SCORES, dtype="float64")
    t = be.asarray([true_class], dtype=be.default_int())
    assert float(losses.MulticlassHinge()(s, t)) == pytest.approx(hinge, abs=1e-12)
    assert float(losses.SoftmaxCrossEntropy()(s, t)) == pytest.approx(xent, abs=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("loss", "y", "t"),
    [
        (losses.SoftmaxCrossEntropy(), [[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], [1, 1]),
        (losses.MulticlassHinge(), [[1e4, -1e4, 0.0]], [1]),
        (losses.BinaryCrossEntropy(), [[1e4], [-1e4], [1e4], [-1e4]], [[0.0], [1.0], [1.0], [0.0]]),
        (losses.BinaryCrossEntropy(from_logits=False), [[0.0], [1.0], [1.0], [0.0]],
         [[1.0], [0.0], [1.0], [0.0]]),
        (losses.Hinge(), [[1e4], [-1e4]], [[-1.0], [1.0]]),
        (losses.MSE(), [[1e4], [-1e4]], [[0.0], [0.0]]),
    ],
    ids=["xent", "svm", "bce-logits", "bce-probs", "hinge", "mse"],
)
def test_losses_are_finite_at_extremes(loss, y, t, dtype, be):
    t = np.asarray(t)
    value, dy = loss.value_and_grad(be.asarray(y, dtype=dtype), _put(be, t, dtype))
    assert np.isfinite(float(value)), float(value)
    assert np.isfinite(to_numpy(dy)).all()


def test_cross_entropy_of_a_confident_mistake_is_large_not_inf(be):
    value = losses.SoftmaxCrossEntropy()(be.asarray([[1e4, -1e4]], dtype="float32"),
                                         be.asarray([1], dtype=be.default_int()))
    assert float(value) == pytest.approx(2e4, rel=1e-6)


@pytest.mark.parametrize(
    ("loss", "y", "t", "n_right"),
    [
        (losses.SoftmaxCrossEntropy(), [[2.0, 1.0], [0.0, 3.0], [5.0, 1.0]], [0, 1, 1], 2),
        (losses.MulticlassHinge(), [[2.0, 1.0], [0.0, 3.0]], [[0.0, 1.0], [0.0, 1.0]], 1),
        (losses.BinaryCrossEntropy(), [[2.0], [-1.0], [0.5]], [[1.0], [1.0], [0.0]], 1),
        (losses.BinaryCrossEntropy(from_logits=False), [[0.9], [0.2]], [[1.0], [0.0]], 2),
        (losses.Hinge(), [[2.0], [-1.0]], [[1.0], [1.0]], 1),
        # multi-label: 2 decisions per sample, 3 of 4 right -> 1.5 samples' worth (accuracy 0.75)
        (losses.BinaryCrossEntropy(), [[2.0, -1.0], [0.5, 1.0]], [[1.0, 0.0], [0.0, 1.0]], 1.5),
    ],
)
def test_correct_counts_right_predictions(loss, y, t, n_right, be):
    t = np.asarray(t)
    assert float(loss.correct(be.asarray(y, dtype="float32"), _put(be, t, "float32"))) == n_right


def test_mse_does_not_classify(be):
    assert losses.MSE().correct(be.asarray([[1.0]]), be.asarray([[1.0]])) is None


@pytest.mark.parametrize("reg", [losses.L2(0.1), losses.L1(0.05), losses.L1L2(0.02, 0.3)], ids=repr)
def test_regularizers_penalize_weights_not_biases(reg, be):
    model = an.Sequential([an.layers.Linear(3, 2), an.layers.Tanh(), an.layers.Linear(2, 2)],
                          seed=1, dtype="float64", backend=be)
    value, grads = reg.value_and_grad(model.params, model.layers)
    Ws = [to_numpy(p["W"]) for p in (model.params[0], model.params[2])]
    l1 = sum(np.abs(w).sum() for w in Ws)
    l2 = sum((w * w).sum() for w in Ws)
    expected = {losses.L2: reg.lam * l2 if hasattr(reg, "lam") else 0, losses.L1: getattr(reg, "lam", 0) * l1,
                losses.L1L2: getattr(reg, "l1", 0) * l1 + getattr(reg, "l2", 0) * l2}[type(reg)]
    assert float(value) == pytest.approx(expected, rel=1e-12)
    assert set(grads[0]) == {"W"} and grads[1] == {} and set(grads[2]) == {"W"}
