"""Per-sample weights in the losses (finite differences and jax.grad), sample_weight and
class_weight in fit, validation_split, and the optimizer's state across fit calls."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy
from anynet.gradcheck import relative_error

L, losses = an.layers, an.losses
rng = np.random.default_rng(0)
Y3 = rng.normal(size=(5, 3))
LABELS = np.asarray([0, 2, 1, 1, 0])
Y1 = rng.normal(size=(5, 1))
W = np.asarray([0.5, 2.0, 0.0, 1.0, 3.0])

CASES = [
    (losses.SoftmaxCrossEntropy(), Y3, LABELS),
    (losses.SoftmaxCrossEntropy(), Y3, np.eye(3)[LABELS]),
    (losses.MulticlassHinge(), Y3 * 0.3, LABELS),
    (losses.MSE(), Y3, rng.normal(size=(5, 3))),
    (losses.BinaryCrossEntropy(), Y1, (Y1 > 0.2).astype(float)),
    (losses.BinaryCrossEntropy(from_logits=False), 1 / (1 + np.exp(-Y1)), (Y1 > 0.2).astype(float)),
    (losses.BinaryCrossEntropy(), Y3, (Y3 > 0).astype(float)),  # multi-label
    (losses.Hinge(), Y1 * 0.5, np.where(Y1 > 0.2, 1.0, -1.0)),
]
IDS = ["sce-labels", "sce-onehot", "mc-hinge", "mse", "bce", "bce-probs", "bce-multilabel", "hinge"]


def _put(be, a):
    return be.asarray(a, dtype="float64" if a.dtype.kind == "f" else None)


@pytest.mark.parametrize(("loss", "y", "t"), CASES, ids=IDS)
def test_weighted_gradient_by_finite_differences(loss, y, t, be):
    T, Wb = _put(be, t), _put(be, W)
    value, dy = loss.value_and_grad(_put(be, y), T, weights=Wb)
    num = np.zeros_like(y)
    h = 1e-6
    for idx in np.ndindex(*y.shape):
        up, down = y.copy(), y.copy()
        up[idx] += h
        down[idx] -= h
        num[idx] = (float(loss.value_and_grad(_put(be, up), T, weights=Wb)[0])
                    - float(loss.value_and_grad(_put(be, down), T, weights=Wb)[0])) / (2 * h)
    assert relative_error(to_numpy(dy), num) < 1e-7
    # sum_i w_i L_i / N, each L_i the loss of sample i alone
    per = [float(loss(_put(be, y[i:i + 1]), T[i:i + 1, ...])) for i in range(5)]
    assert float(value) == pytest.approx(float(np.dot(W, per)) / 5, rel=1e-12)
    # weights of 1 change nothing
    v1, d1 = loss.value_and_grad(_put(be, y), T, weights=_put(be, np.ones(5)))
    v0, d0 = loss.value_and_grad(_put(be, y), T)
    assert float(v1) == pytest.approx(float(v0), rel=1e-14)
    np.testing.assert_allclose(to_numpy(d1), to_numpy(d0), rtol=1e-14)


@pytest.mark.parametrize(("loss", "y", "t"), CASES, ids=IDS)
def test_weighted_value_and_grad_equal_jax(loss, y, t, be, jax):
    from . import jax_reference as ref
    jnp = jax.numpy
    jt, jw = jnp.asarray(t), jnp.asarray(W)

    def weighted(yy):
        per = jnp.stack([ref.loss_fn(loss, yy[i:i + 1], jt[i:i + 1]) for i in range(5)])
        return jnp.sum(jw * per) / 5

    ref_value, ref_dy = jax.value_and_grad(weighted)(jnp.asarray(y))
    value, dy = loss.value_and_grad(_put(be, y), _put(be, t), weights=_put(be, W))
    assert float(value) == pytest.approx(float(ref_value), rel=1e-12)
    assert relative_error(to_numpy(dy), np.asarray(ref_dy)) < 1e-10


def test_with_weights_packs_and_matches_the_weighted_loss(be):
    loss = losses.WithWeights(losses.SoftmaxCrossEntropy(), (3,))
    T = _put(be, np.eye(3)[LABELS])
    packed = loss.pack(T, _put(be, W))
    assert tuple(packed.shape) == (5, 4) and loss.classifies and loss.target == "labels"
    v, d = loss.value_and_grad(_put(be, Y3), packed)
    v2, d2 = losses.SoftmaxCrossEntropy().value_and_grad(_put(be, Y3), T, weights=_put(be, W))
    assert float(v) == float(v2)
    np.testing.assert_array_equal(to_numpy(d), to_numpy(d2))
    assert float(loss.correct(_put(be, Y3), packed)) == float(losses.SoftmaxCrossEntropy().correct(_put(be, Y3), T))


# ------------------------------------------------------------------ fit
def _data(n=60, seed=0):
    x, t = an.datasets.make_blobs(n, noise=0.5, seed=seed)
    return x, t


def _model(seed=0, dtype="float64"):
    return an.Sequential(L.mlp(2, (6,), 3), seed=seed, dtype=dtype)


def test_zero_weights_train_as_if_the_samples_were_not_there(be):
    """Full batch, plain SGD: weights 0/1 give sum over the kept samples / N, the mean over
    them scaled by N_kept / N, so the same run as the kept samples alone at that learning rate."""
    x, t = _data()
    keep = (np.arange(60) % 3) != 0
    a = _model()
    a.fit(x, t, loss="softmax_cross_entropy", optimizer=an.optim.SGD(lr=0.3), epochs=5, batch_size=60,
          sample_weight=keep.astype(float), verbose=0)
    b = _model()
    b.fit(x[keep], t[keep], loss="softmax_cross_entropy", optimizer=an.optim.SGD(lr=0.3 * float(keep.sum()) / 60),
          epochs=5, batch_size=int(keep.sum()), verbose=0)
    for pa, pb in zip(a.params, b.params):
        for k in pa:
            np.testing.assert_allclose(to_numpy(pa[k]), to_numpy(pb[k]), rtol=1e-10, atol=1e-12)


def test_class_weight_is_sample_weight_by_class_and_ones_change_nothing(be):
    x, t = _data()
    kw = dict(loss="softmax_cross_entropy", optimizer=an.optim.Adam(lr=0.02), epochs=3, batch_size=16, verbose=0)
    h_cw = _model().fit(x, t, class_weight={0: 3.0, 2: 0.5}, **kw)
    h_sw = _model().fit(x, t, sample_weight=np.asarray([3.0, 1.0, 0.5])[t], **kw)
    assert h_cw.history == h_sw.history
    h_plain = _model().fit(x, t, **kw)
    h_ones = _model().fit(x, t, sample_weight=np.ones(60), **kw)
    for k in h_plain.history:
        np.testing.assert_allclose(h_ones.history[k], h_plain.history[k], rtol=1e-12)
    assert h_cw.history["loss"] != h_plain.history["loss"]
    binary = an.Sequential(L.mlp(2, (4,), 1), seed=0)
    tb = (t == 0).astype(float)
    h = binary.fit(x, tb, loss="bce", optimizer="adam", class_weight={1: 2.0}, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2


def test_weight_errors_name_the_argument(be):
    x, t = _data()
    kw = dict(loss="softmax_cross_entropy", optimizer="sgd", verbose=0)
    with pytest.raises(ValueError, match=r"fit: sample_weight must have shape \(60,\), one weight per sample"):
        _model().fit(x, t, sample_weight=np.ones(59), **kw)
    with pytest.raises(ValueError, match="fit: sample_weight must be >= 0"):
        _model().fit(x, t, sample_weight=-np.ones(60), **kw)
    with pytest.raises(ValueError, match=r"fit: class_weight has keys \[3\] that are not class indices in \[0, 2\]"):
        _model().fit(x, t, class_weight={3: 1.0}, **kw)
    with pytest.raises(ValueError, match="class_weight needs one class per sample"):
        _model().fit(x, np.eye(3)[t] * 2.0, loss="mse", optimizer="sgd", class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="give validation_data or validation_split, not both"):
        _model().fit(x, t, validation_split=0.2, validation_data=(x, t), **kw)
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\), got 1.5"):
        _model().fit(x, t, validation_split=1.5, **kw)


def test_validation_split_holds_out_the_last_fraction(be):
    x, t = _data()
    model = _model()
    hist = model.fit(x, t, loss="softmax_cross_entropy", optimizer="adam", epochs=2, validation_split=0.25,
                     sample_weight=np.linspace(0.5, 1.5, 60), verbose=0)
    assert hist.params["samples"] == 45  # floor(60 * 0.75), as Keras
    ev = model.evaluate(x[45:], t[45:], loss="softmax_cross_entropy")
    assert hist.history["val_loss"][-1] == pytest.approx(ev["loss"], rel=1e-12)
    assert hist.history["val_accuracy"][-1] == pytest.approx(ev["accuracy"])


@pytest.mark.parametrize("opt", [an.optim.Adam(lr=0.01), an.optim.SGD(lr=0.05, momentum=0.9)], ids=["adam", "sgd"])
def test_a_second_fit_continues_the_optimizer_state(opt, be):
    x, t = _data()
    kw = dict(loss="softmax_cross_entropy", optimizer=opt, batch_size=16, shuffle=False, verbose=0)
    once = _model()
    once.fit(x, t, epochs=5, **kw)
    twice = _model()
    twice.fit(x, t, epochs=2, **kw)
    twice.fit(x, t, epochs=3, **kw)
    assert float(twice.opt_state["step"]) == 5 * 4 and twice.optimizer == opt
    for pa, pb in zip(once.params, twice.params):
        for k in pa:
            np.testing.assert_allclose(to_numpy(pb[k]), to_numpy(pa[k]), rtol=1e-10, atol=1e-12)
    fresh = _model()
    fresh.fit(x, t, epochs=2, **kw)
    fresh.fit(x, t, epochs=3, reset_optimizer=True, **kw)
    assert float(fresh.opt_state["step"]) == 3 * 4
    assert not np.allclose(to_numpy(fresh.params[0]["W"]), to_numpy(once.params[0]["W"]), rtol=1e-6)
    other = _model()
    other.fit(x, t, epochs=2, **kw)
    other.fit(x, t, epochs=1, **{**kw, "optimizer": an.optim.RMSprop(lr=0.01)})  # another optimizer: fresh
    assert float(other.opt_state["step"]) == 4


@pytest.mark.parametrize(("loss", "y", "t"), CASES, ids=IDS)
def test_weighted_value_and_grad_equal_torch_autograd(loss, y, t, be):
    pytest.importorskip("torch", reason="torch is not installed in this session: the torch.autograd "
                        "cross-checks run in the torch session")
    import torch

    from . import torch_reference as ref
    yt = ref.tensor(y, grad=True)
    tt = ref.tensor(t)
    per = torch.stack([ref.loss_fn(loss, yt[i:i + 1], tt[i:i + 1]) for i in range(5)])
    value = torch.sum(torch.as_tensor(W) * per) / 5
    value.backward()
    mine, dy = loss.value_and_grad(_put(be, y), _put(be, t), weights=_put(be, W))
    assert float(mine) == pytest.approx(value.item(), rel=1e-12)
    assert relative_error(to_numpy(dy), yt.grad.numpy()) < 1e-10


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own overflow warning comes first
def test_a_failed_fit_leaves_no_optimizer_state_to_continue(be):
    x, t = _data()
    model = _model()
    model.fit(x, t, loss="softmax_cross_entropy", optimizer="adam", epochs=1, verbose=0)
    assert float(model.opt_state["step"]) == 2
    with pytest.raises(FloatingPointError, match="training diverged"):
        model.fit(x, np.eye(3)[t] * 1e3, loss="mse", optimizer=an.optim.SGD(lr=1e6), epochs=3, verbose=0)
    assert model.opt_state is None  # the next fit starts its optimizer afresh


def test_evaluate_weighs_the_loss_as_fit_does(be):
    """evaluate(sample_weight=w): the loss sum_i w_i L_i / N, per-sample losses computed here by
    hand; in batches too; accuracy unweighted (Keras's metrics= are); errors as in fit."""
    x = rng.normal(size=(7, 4))
    t = np.asarray([0, 1, 2, 1, 0, 2, 2])
    w = np.asarray([0.5, 2.0, 0.0, 1.0, 3.0, 1.5, 0.25])
    model = an.Sequential(L.mlp(4, (5,), 3), seed=3, dtype="float64", backend=be)
    logits = to_numpy(model.predict(x))
    logp = logits - logits.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    per_sample = -logp[np.arange(7), t]
    plain = model.evaluate(x, t, loss="softmax_cross_entropy")
    for batch_size in (4096, 3):
        weighted = model.evaluate(x, t, loss="softmax_cross_entropy", sample_weight=w, batch_size=batch_size)
        assert abs(weighted["loss"] - float((w * per_sample).sum() / 7)) < 1e-12
        assert weighted["accuracy"] == plain["accuracy"]
    ones = model.evaluate(x, t, loss="softmax_cross_entropy", sample_weight=np.ones(7))
    assert abs(ones["loss"] - plain["loss"]) < 1e-12
    with pytest.raises(ValueError, match=r"evaluate: sample_weight must have shape \(7,\)"):
        model.evaluate(x, t, loss="softmax_cross_entropy", sample_weight=np.ones(6))
    with pytest.raises(ValueError, match="evaluate: sample_weight must be >= 0"):
        model.evaluate(x, t, loss="softmax_cross_entropy", sample_weight=-np.ones(7))
