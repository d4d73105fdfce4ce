"""Optimizers: pure init/update, known first steps, schedules, and torch.optim where installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet as an
from anynet._packing import KEY, Packing
from anynet.backends import to_numpy

from .conftest import assert_close

optim = an.optim


def _tree(be, *arrays, dtype="float64"):
    return [{"W": be.asarray(a, dtype=dtype)} for a in arrays]


def test_sgd_step_is_w_minus_lr_grad(be):
    p, g = _tree(be, [[1.0, -2.0]]), _tree(be, [[0.5, 0.25]])
    opt = optim.SGD(lr=0.1)
    new, state = opt.update(p, g, opt.init(p))
    assert_close(new[0]["W"], [[0.95, -2.025]], be, dtype="float64")
    assert float(state["step"]) == 1.0
    assert_close(p[0]["W"], [[1.0, -2.0]], be)  # untouched


def test_momentum_accumulates_geometrically(be):
    p, g = _tree(be, [0.0]), _tree(be, [1.0])
    opt = optim.SGD(lr=1.0, momentum=0.5)
    state = opt.init(p)
    for _ in range(3):
        p, state = opt.update(p, g, state)
    # velocities 1, 1.5, 1.75 -> position -(1 + 1.5 + 1.75)
    assert_close(p[0]["W"], [-4.25], be)


def test_adam_first_step_moves_every_weight_by_lr(be):
    p, g = _tree(be, [1.0, 1.0, 1.0]), _tree(be, [1e-3, -5.0, 200.0])
    opt = optim.Adam(lr=0.01)
    new, _ = opt.update(p, g, opt.init(p))
    assert_close(new[0]["W"], [0.99, 1.01, 0.99], be, rtol=1e-6)


def test_adamw_decays_decoupled_from_the_gradient(be):
    p, g = _tree(be, [2.0]), _tree(be, [0.0])
    new, _ = optim.AdamW(lr=0.1, weight_decay=0.5).update(p, g, optim.AdamW(lr=0.1).init(p))
    assert_close(new[0]["W"], [2.0 * (1 - 0.1 * 0.5)], be)


def test_clip_norm_rescales_the_global_norm(be):
    p, g = _tree(be, [0.0, 0.0], [0.0]), _tree(be, [3.0, 0.0], [4.0])
    opt = optim.SGD(lr=1.0, clip_norm=1.0)
    new, _ = opt.update(p, g, opt.init(p))
    assert_close(new[0]["W"], [-0.6, 0.0], be, rtol=1e-9)
    assert_close(new[1]["W"], [-0.8], be, rtol=1e-9)
    opt = optim.SGD(lr=1.0, clip_value=0.5)
    new, _ = opt.update(p, g, opt.init(p))
    assert_close(new[0]["W"], [-0.5, 0.0], be)


@pytest.mark.parametrize(
    ("sched", "values"),
    [
        (optim.StepDecay(1.0, step_size=2, gamma=0.5), [1.0, 1.0, 0.5, 0.5, 0.25]),
        (optim.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=2), [1.0, 0.5**0.5, 0.5, 0.5**1.5, 0.25]),
        (optim.CosineDecay(1.0, decay_steps=4), [1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5,
                                                 0.5 - 0.5 * math.cos(math.pi / 4), 0.0]),
    ],
    ids=["step", "exp", "cos"],
)
def test_schedules_on_ints_and_arrays(sched, values, be):
    for step, want in enumerate(values):
        assert sched(step) == pytest.approx(want, abs=1e-12)
        got = sched(be.asarray(float(step), dtype="float64"))
        assert float(got) == pytest.approx(want, abs=1e-12)


def test_schedule_drives_the_optimizer(be):
    p, g = _tree(be, [0.0]), _tree(be, [1.0])
    opt = optim.SGD(lr=optim.StepDecay(1.0, step_size=1, gamma=0.1))
    state = opt.init(p)
    for _ in range(3):
        p, state = opt.update(p, g, state)
    assert_close(p[0]["W"], [-1.11], be, rtol=1e-12)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: optim.SGD(lr=-1), "SGD: lr must be a positive number or a Schedule, got -1"),
        (lambda: optim.SGD(lr=0.1, momentum=1.5), r"SGD: momentum must be in \[0, 1\)"),
        (lambda: optim.SGD(lr=0.1, nesterov=True), "SGD: nesterov=True needs momentum > 0"),
        (lambda: optim.Adam(beta1=1.0), r"Adam: beta1 must be in \[0, 1\)"),
        (lambda: optim.RMSprop(weight_decay=-0.1), "RMSprop: weight_decay must be >= 0"),
        (lambda: optim.Adam(clip_norm=0), "Adam: clip_norm must be a positive number or None"),
    ],
)
def test_bad_optimizer_settings_say_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()


OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, weight_decay=0.05)),
]


@pytest.mark.parametrize(("name", "kw"), OPTIMIZERS, ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIMIZERS)])
def test_updates_match_torch_optim(name, kw, be):
    torch = pytest.importorskip("torch", reason="torch is not installed in this session (the torch "
                                "session runs this comparison)")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(5)]
    tw = torch.tensor(w0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kw)
    opt = getattr(optim, name)(**kw)
    p = _tree(be, w0)
    state = opt.init(p)
    for g in grads:
        tw.grad = torch.tensor(g)
        topt.step()
        p, state = opt.update(p, _tree(be, g), state)
    assert_close(p[0]["W"], tw.detach().numpy(), be, rtol=1e-10)


def test_update_never_writes_into_params_or_state(be):
    p, g = _tree(be, np.ones((2, 2))), _tree(be, np.full((2, 2), 0.5))
    opt = optim.Adam(lr=0.1)
    state = opt.init(p)
    snapshot = [to_numpy(state["m"][0]["W"]).copy(), to_numpy(state["v"][0]["W"]).copy()]
    opt.update(p, g, state)
    np.testing.assert_array_equal(to_numpy(p[0]["W"]), np.ones((2, 2)))
    np.testing.assert_array_equal(to_numpy(state["m"][0]["W"]), snapshot[0])
    np.testing.assert_array_equal(to_numpy(state["v"][0]["W"]), snapshot[1])


def _writable(be) -> bool:
    a = be.asarray(np.ones(2), dtype="float64")
    try:
        a[...] = 0.0
    except (TypeError, ValueError, AttributeError):  # JAX: immutable; numpy_readonly: read-only
        return False
    return True


@pytest.mark.parametrize(("name", "kw"), [*OPTIMIZERS, ("Adam", dict(lr=optim.CosineDecay(0.1, 4)))],
                         ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIMIZERS)] + ["Adam-schedule"])
def test_inplace_update_equals_the_pure_update(name, kw, be):
    """``inplace=True`` is the same rule with its results written back into the arrays."""
    if not _writable(be):
        pytest.skip(f"backend {be.name} has no in-place updates (immutable or read-only arrays)")
    rng = np.random.default_rng(1)
    opt = getattr(optim, name)(**kw)
    w0 = rng.normal(size=(3, 4))
    pure, own = _tree(be, w0), _tree(be, w0)
    s_pure, s_own = opt.init(pure), opt.init(own)
    arrays = [own[0]["W"], *(s_own[s][0]["W"] for s in opt.slots)]
    for _ in range(4):
        g = _tree(be, rng.normal(size=(3, 4)))
        pure, s_pure = opt.update(pure, g, s_pure)
        own, s_own = opt.update(own, g, s_own, inplace=True)
    assert own[0]["W"] is arrays[0] and all(s_own[s][0]["W"] is a for s, a in zip(opt.slots, arrays[1:]))
    assert_close(own[0]["W"], to_numpy(pure[0]["W"]), be, rtol=1e-13, atol=1e-15)
    assert float(s_own["step"]) == 4.0


def _layers(be, rng):
    """A parameter list like an MLP's: two layers with W and b, one without parameters."""
    return [{"W": be.asarray(rng.normal(size=(3, 4)), dtype="float64"),
             "b": be.asarray(rng.normal(size=(3,)), dtype="float64")},
            {},
            {"W": be.asarray(rng.normal(size=(2, 3)), dtype="float64"),
             "b": be.asarray(rng.normal(size=(2,)), dtype="float64")}]


def test_packing_flattens_and_unflattens_with_the_same_values(be):
    tree = _layers(be, np.random.default_rng(0))
    packing = Packing.of(tree)
    flat = packing.flatten(tree)
    assert be.owns(flat) and tuple(flat.shape) == (23,) and packing.size == 23
    back = packing.unflatten(flat)
    assert [sorted(d) for d in back] == [sorted(d) for d in tree]
    for d, p in zip(tree, back):
        for k in d:
            assert_close(p[k], to_numpy(d[k]), be, rtol=0.0)
    np.testing.assert_array_equal(to_numpy(flat[-2:]), to_numpy(tree[2]["b"]))


PACKED = [*OPTIMIZERS, ("Adam", dict(lr=0.01, clip_norm=0.5)), ("SGD", dict(lr=0.1, momentum=0.9, clip_value=0.3))]


@pytest.mark.parametrize(("name", "kw"), PACKED, ids=[f"{o[0]}-{i}" for i, o in enumerate(PACKED)])
def test_packed_update_equals_the_per_array_update(name, kw, be):
    """fit's packed update (every parameter in one array, the optimizer given a model of
    one array) gives what the update gives array by array: the rule is elementwise."""
    rng = np.random.default_rng(2)
    opt = getattr(optim, name)(**kw)
    assert opt.elementwise
    pure = _layers(be, rng)
    packing = Packing.of(pure)
    params = [{KEY: packing.flatten(pure)}]
    s_pure = opt.init(pure)
    state = packing.pack_state(opt.init(pure))
    for _ in range(4):
        g = _layers(be, rng)
        pure, s_pure = opt.update(pure, g, s_pure)
        params, state = opt.update(params, [{KEY: packing.flatten(g)}], state)
    unpacked, s_unpacked = packing.unflatten(params[0][KEY]), packing.unpack_state(state)
    for d, p in zip(pure, unpacked):
        for k in d:  # the same elementwise arithmetic; clip_norm sums its squares in another order
            assert_close(p[k], to_numpy(d[k]), be, rtol=1e-13, atol=1e-15)
    for s in opt.slots:
        assert_close(s_unpacked[s][2]["W"], to_numpy(s_pure[s][2]["W"]), be, rtol=1e-13, atol=1e-15)


def test_numpy_scalar_hyperparameters_work_on_every_backend(be):
    """np.float64(0.1) passes as a float, but a NumPy scalar times an array-api-strict array is an
    error: optimizers and schedules keep hyperparameters as Python numbers."""
    x, t = an.datasets.make_blobs(64, seed=0)
    sched = an.optim.StepDecay(lr=np.float64(0.05), step_size=np.int64(2), gamma=np.float32(0.5))
    for opt in (an.optim.SGD(lr=np.float64(0.1), momentum=np.float32(0.9)),
                an.optim.Adam(lr=sched, beta1=np.float64(0.9)), an.optim.RMSprop(lr=np.float32(0.01))):
        model = an.Sequential(an.layers.mlp(2, (8,), 3), seed=0, backend=be)
        hist = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=opt, epochs=2, verbose=0)
        assert np.isfinite(hist.history["loss"][-1])
    assert type(sched.lr) is float and type(sched.step_size) is int
