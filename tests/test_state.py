"""Layer state that is not trained (issue 10): a small stateful layer, a running mean,
carried by fit, predict, evaluate, train_step, checkpoints and ``to``; and a layer
whose backward breaks, named when training diverges."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy
from anynet.layers._base import Layer, namespace

from .conftest import assert_close

L = an.layers


@dataclasses.dataclass(frozen=True)
class RunningCenter(Layer):
    """``y = x - mean``: the batch mean in training (and a running mean kept as state,
    ``rm <- (1 - momentum) rm + momentum mean(x)``), the running mean in inference.
    BatchNorm without the scale. Shapes: (N, F) -> (N, F)."""

    features: int
    momentum: float = 0.5

    stateful: ClassVar[bool] = True

    def init_state(self) -> dict[str, Any]:
        return {"running_mean": np.zeros(self.features)}

    def forward(self, params, x, /, *, training=False, key=None, xp=None, state=None):
        xp = namespace(xp, x)
        if not training:
            return x - state["running_mean"][None, :], None, state
        mean = xp.mean(x, axis=0)
        new = {"running_mean": (1.0 - self.momentum) * state["running_mean"] + self.momentum * mean}
        return x - mean[None, :], x.shape[0], new

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        if cache is None:  # inference: y = x - constant
            return dy, {}
        # dx = dy - mean(dy): the batch mean depends on every x
        return dy - namespace(xp, dy).mean(dy, axis=0)[None, :], {}


def model_with_state(be, dtype="float64", seed=0):
    return an.Sequential([RunningCenter(3), L.Linear(3, 4), L.Tanh(), L.Linear(4, 2)], seed=seed, dtype=dtype,
                         backend=be)


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=[2.0, -1.0, 0.5], size=(n, 3))
    return x, (x[:, 0] + x[:, 1] > 1.0).astype(np.int64)


LOSS = an.losses.SoftmaxCrossEntropy()


def test_the_stateful_layer_is_gradient_checked(be):
    x = np.random.default_rng(1).normal(size=(5, 3))
    assert an.gradcheck(RunningCenter(3), x) < 1e-7


def test_state_starts_from_init_state_and_fit_updates_it(be):
    model = model_with_state(be)
    assert [sorted(s) for s in model.state] == [["running_mean"], [], [], []]
    assert_close(model.state[0]["running_mean"], np.zeros(3), be, dtype="float64", rtol=0.0)
    x, t = data()
    model.fit(x, t, loss=LOSS, optimizer=an.optim.SGD(lr=0.1), epochs=4, batch_size=8, verbose=0)
    rm = to_numpy(model.state[0]["running_mean"])
    # after 24 updates with momentum 0.5, the running mean is the mean of the last batches
    np.testing.assert_allclose(rm, x.mean(axis=0), atol=0.6)
    assert np.abs(rm - x.mean(axis=0)).max() < np.abs(x.mean(axis=0)).max()


def test_fit_is_train_step_batch_after_batch_with_the_state(be):
    """One epoch of fit equals the public pure step applied batch by batch, state included."""
    x, t = data(32)
    a, b = model_with_state(be), model_with_state(be)
    opt = an.optim.SGD(lr=0.1, momentum=0.9)
    a.fit(x, t, loss=LOSS, optimizer=opt, epochs=1, batch_size=8, shuffle=False, verbose=0)
    step = b.train_step(loss=LOSS, optimizer=opt, jit=True)
    params, opt_state, state = b.params, opt.init(b.params), b.state
    for i in range(0, 32, 8):
        xb, tb = be.asarray(x[i:i + 8], dtype="float64"), be.asarray(t[i:i + 8])
        params, opt_state, value, state = step(params, opt_state, xb, tb, state)
        assert tuple(value.shape) == ()
    assert_close(a.state[0]["running_mean"], to_numpy(state[0]["running_mean"]), be, rtol=1e-12)
    for p, q in zip(a.params, params):
        for k in p:
            assert_close(p[k], to_numpy(q[k]), be, rtol=1e-12, atol=1e-14)


def test_train_step_of_a_model_with_state_asks_for_it(be):
    model = model_with_state(be)
    opt = an.optim.SGD(lr=0.1)
    step = model.train_step(loss=LOSS, optimizer=opt, jit=False)
    x, t = data(8)
    with pytest.raises(TypeError, match=r"this model has layer state \(model.state\); call "
                                        r"step\(params, opt_state, x, t, state\)"):
        step(model.params, opt.init(model.params), be.asarray(x, dtype="float64"), be.asarray(t))


def test_predict_and_evaluate_use_the_running_state(be):
    model = model_with_state(be)
    x, t = data(16)
    rm = np.asarray([1.0, 2.0, 3.0])
    model.state = [{"running_mean": be.asarray(rm, dtype="float64")}, {}, {}, {}]
    y = to_numpy(model.predict(x))
    p = [{k: to_numpy(v) for k, v in d.items()} for d in model.params]
    h = np.tanh((x - rm) @ p[1]["W"].T + p[1]["b"])
    np.testing.assert_allclose(y, h @ p[3]["W"].T + p[3]["b"], rtol=1e-12)
    logits = y - y.max(axis=1, keepdims=True)
    ce = float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(16), t]))
    assert model.evaluate(x, t, loss=LOSS)["loss"] == pytest.approx(ce, rel=1e-10)


def test_checkpoints_and_to_carry_the_state(be, tmp_path):
    model = model_with_state(be)
    x, t = data()
    model.fit(x, t, loss=LOSS, optimizer=an.optim.Adam(lr=0.01), epochs=2, verbose=0)
    path = tmp_path / "stateful.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert "state/0/running_mean" in z.files
    loaded = an.load(path, backend=be)
    assert_close(loaded.state[0]["running_mean"], to_numpy(model.state[0]["running_mean"]), be, rtol=0.0)
    assert_close(loaded.predict(x), to_numpy(model.predict(x)), be, rtol=0.0)
    on_numpy = model.to("numpy")
    np.testing.assert_array_equal(to_numpy(on_numpy.state[0]["running_mean"]),
                                  to_numpy(model.state[0]["running_mean"]))
    assert an.backends.backend_of(on_numpy.state[0]["running_mean"]).name == "numpy"
    assert on_numpy.to(be).state[0]["running_mean"] is not None


def test_resume_restores_the_state_bit_for_bit(be, tmp_path):
    x, t = data()
    kw = dict(loss=LOSS, optimizer=an.optim.Adam(lr=0.01), batch_size=8, seed=3, verbose=0)
    whole = model_with_state(be)
    whole.fit(x, t, epochs=4, **kw)
    path = tmp_path / "run.npz"
    first = model_with_state(be)
    first.fit(x, t, epochs=2, checkpoint=path, **kw)
    resumed = model_with_state(be)
    resumed.fit(x, t, epochs=4, checkpoint=path, resume=True, **kw)
    np.testing.assert_array_equal(to_numpy(resumed.state[0]["running_mean"]), to_numpy(whole.state[0]["running_mean"]))
    for p, q in zip(resumed.params, whole.params):
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), to_numpy(q[k]))


@dataclasses.dataclass(frozen=True)
class BrokenBackward(Layer):
    """The identity whose backward turns the gradient into NaN once the input is large (a bug)."""

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        return x, x

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        xp = namespace(xp, dy)
        return xp.where(xp.abs(cache) > -1.0, dy * float("nan"), dy), {}


def test_divergence_names_the_layer_whose_backward_broke(be):
    model = an.Sequential([L.Linear(3, 4), BrokenBackward(), L.Linear(4, 2)], seed=0, backend=be)
    x, t = data(16)
    with pytest.raises(FloatingPointError, match=r"epoch 1/2, step 1/2: layer 1 \(BrokenBackward\(\)\) backward "
                                                 r"gave a non-finite input gradient"):
        model.fit(x, t, loss=LOSS, optimizer=an.optim.SGD(lr=0.1), epochs=2, batch_size=8, verbose=0)
