"""Sequential: sizes checked at construction, gradients against finite differences
and jax.grad for random architectures, purity, jit, moving between backends."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import anynet as an
from anynet import _random
from anynet.backends import get_backend, to_numpy

from .conftest import assert_close, rel_err

L = an.layers
losses = an.losses
ACTIVATIONS = [L.Sigmoid, L.Tanh, L.ReLU, lambda: L.LeakyReLU(0.1), L.ELU, L.GELU, L.Softplus]


def random_problem(seed: int):
    """A random MLP (depth 1-4, every activation, Maxout, Dropout) with a random loss and data."""
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 5))
    n_in = int(rng.integers(2, 6))
    widths = [n_in] + [int(w) for w in rng.integers(2, 7, size=depth - 1)]
    layers = []
    for a, b in itertools.pairwise(widths):
        if rng.uniform() < 0.25:
            layers.append(L.Maxout(a, b, int(rng.integers(2, 4))))
        else:
            layers += [L.Linear(a, b), ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]()]
        if rng.uniform() < 0.2:
            layers.append(L.Dropout(0.3))
    kind = int(rng.integers(6))
    n = int(rng.integers(3, 9))
    x = rng.normal(size=(n, n_in))
    if kind == 0:
        loss, n_out, t = losses.SoftmaxCrossEntropy(), 3, rng.integers(0, 3, size=n)
    elif kind == 1:
        loss, n_out, t = losses.MulticlassHinge(), 4, rng.integers(0, 4, size=n)
    elif kind == 2:
        loss, n_out, t = losses.MSE(), 2, rng.normal(size=(n, 2))
    elif kind == 3:
        loss, n_out, t = losses.BinaryCrossEntropy(), 1, rng.integers(0, 2, size=(n, 1)).astype(float)
    elif kind == 4:
        loss, n_out, t = losses.Hinge(), 1, 2.0 * rng.integers(0, 2, size=(n, 1)) - 1.0
    else:
        loss, n_out, t = losses.SoftmaxCrossEntropy(), 3, np.eye(3)[rng.integers(0, 3, size=n)]
    layers.append(L.Linear(widths[-1], n_out))
    reg = [None, losses.L2(0.01), losses.L1(0.01)][int(rng.integers(3))]
    return layers, x, t, loss, reg


def jitter(model, seed):
    """Random non-zero biases too: with zero biases, a row that dropout emptied sits exactly
    on the kink of ReLU-like units, where one-sided derivatives (and conventions) differ."""
    rng = np.random.default_rng(seed)
    model.params = [{k: model.backend.asarray(to_numpy(v) + 0.3 * rng.normal(size=tuple(v.shape)),
                                              dtype=model.dtype) for k, v in p.items()} for p in model.params]
    return model


@pytest.mark.parametrize("seed", range(12))
def test_model_gradients_equal_jax_grad(seed, be, jax):
    from . import jax_reference as ref

    layers, x, t, loss, reg = random_problem(seed)
    model = jitter(an.Sequential(layers, seed=seed, dtype="float64", backend=be), seed)
    value, grads = model.loss_and_grads(x, t, loss=loss, regularizer=reg, seed=seed)
    # the dropout masks anynet drew are an input of the reference, not a gradient
    masks = None
    if any(isinstance(layer, L.Dropout) for layer in layers):
        X = be.asarray(x, dtype="float64")
        key = _random.key_from_seed(seed, xp=be.xp)
        _, caches = model.forward(model.params, X, training=True, key=key)
        masks = [jax.numpy.asarray(to_numpy(c)) if isinstance(layer, L.Dropout) else None
                 for layer, c in zip(layers, caches)]
    host_params = [{k: to_numpy(v) for k, v in p.items()} for p in model.params]
    ref_value, ref_grads = ref.model_grads(layers, host_params, x, t, loss, masks, reg)
    assert value == pytest.approx(float(ref_value), rel=1e-12)
    for i, (g, rg) in enumerate(zip(grads, ref_grads)):
        assert set(g) == set(rg)
        for k in g:
            assert rel_err(g[k], rg[k]) < 1e-8, (i, k, layers)


@pytest.mark.parametrize("seed", range(4))
def test_model_gradcheck_float64(seed, be):
    layers, x, t, loss, reg = random_problem(100 + seed)
    model = jitter(an.Sequential(layers, seed=seed, dtype="float64", backend=be), seed)
    assert an.gradcheck(model, x, t, loss=loss, regularizer=reg) < 1e-6


def test_params_structure_and_shapes(be):
    model = an.Sequential([L.Linear(64, 128), L.ReLU(), L.Linear(128, 10)], seed=0)
    assert model.backend == be
    assert [sorted(p) for p in model.params] == [["W", "b"], [], ["W", "b"]]
    assert tuple(model.params[0]["W"].shape) == (128, 64)
    assert tuple(model.params[0]["b"].shape) == (128,)
    assert model.params[2]["W"].dtype == be.dtype("float32")
    assert model.count_params() == 64 * 128 + 128 + 128 * 10 + 10
    assert "Linear(in_features=64, out_features=128" in repr(model)


def test_predict_is_the_forward_pass_and_returns_backend_arrays(be):
    model = an.Sequential([L.Linear(3, 4), L.Tanh(), L.Linear(4, 2)], seed=0, dtype="float64")
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = model.predict(x)
    p = [{k: to_numpy(v) for k, v in d.items()} for d in model.params]
    want = np.tanh(x @ p[0]["W"].T + p[0]["b"]) @ p[2]["W"].T + p[2]["b"]
    assert_close(y, want, be, dtype="float64", rtol=1e-12)
    assert_close(model.predict(x, batch_size=2), want, be, rtol=1e-12)
    assert_close(model.predict(be.asarray(x, dtype="float64")), want, be, rtol=1e-12)


def test_loss_and_grads_returns_a_float_and_the_params_structure(be):
    model = an.Sequential([L.Linear(3, 4), L.ReLU(), L.Linear(4, 2)], seed=0)
    value, grads = model.loss_and_grads(np.ones((2, 3)), np.array([0, 1]), loss=losses.SoftmaxCrossEntropy())
    assert isinstance(value, float)
    for g, p in zip(grads, model.params):
        assert set(g) == set(p)
        for k in p:
            assert be.owns(g[k]) and tuple(g[k].shape) == tuple(p[k].shape) and g[k].dtype == p[k].dtype


def test_model_keeps_its_backend_and_to_makes_a_copy(be):
    with an.using("numpy"):
        model = an.Sequential([L.Linear(3, 2)], seed=0, dtype="float64")
    x = np.ones((2, 3))
    ref = to_numpy(model.predict(x))
    moved = model.to(be)
    assert moved.backend == be and model.backend.name == "numpy"
    assert_close(moved.predict(x), ref, be, dtype="float64", rtol=1e-12)
    back = moved.to("numpy")
    np.testing.assert_allclose(to_numpy(back.predict(x)), ref, rtol=1e-12)
    as32 = model.to(be, dtype="float32")
    assert as32.params[0]["W"].dtype == be.dtype("float32")


def test_train_step_is_pure_and_matches_a_manual_update(be):
    model = an.Sequential([L.Linear(3, 4), L.Tanh(), L.Linear(4, 3)], seed=0, dtype="float64")
    opt = an.optim.SGD(lr=0.5)
    loss = losses.SoftmaxCrossEntropy()
    step = model.train_step(loss=loss, optimizer=opt)
    x = be.asarray(np.random.default_rng(1).normal(size=(6, 3)), dtype="float64")
    t = be.asarray([0, 1, 2, 0, 1, 2], dtype=be.default_int())
    before = [{k: to_numpy(v).copy() for k, v in p.items()} for p in model.params]
    params, state, value = step(model.params, opt.init(model.params), x, t)
    for p, b in zip(model.params, before):  # inputs untouched
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), b[k])
    v2, grads = model.loss_and_grads(x, t, loss=loss)
    assert float(value) == pytest.approx(v2, rel=1e-12)
    for p, g, b in zip(params, grads, before):
        for k in p:
            assert_close(p[k], b[k] - 0.5 * to_numpy(g[k]), be, rtol=1e-12)
    assert float(state["step"]) == 1.0


def test_whole_train_step_compiles_under_jax_jit(be):
    if be.name != "jax":
        pytest.skip("jax.jit runs on the jax backend (nox -s 'tests(backend=\"jax\")')")
    import jax

    model = an.Sequential([L.Linear(3, 8), L.ReLU(), L.Dropout(0.2), L.Maxout(8, 4, 2), L.Linear(4, 3)],
                          seed=0)
    opt = an.optim.Adam(lr=0.01)
    loss = losses.SoftmaxCrossEntropy()
    eager = model.train_step(loss=loss, optimizer=opt, jit=False)
    compiled = jax.jit(eager)
    x = be.asarray(np.random.default_rng(1).normal(size=(6, 3)), dtype="float32")
    t = be.asarray([0, 1, 2, 0, 1, 2], dtype=be.default_int())
    a = eager(model.params, opt.init(model.params), x, t)
    b = compiled(model.params, opt.init(model.params), x, t)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert_close(v, to_numpy(u), be, rtol=1e-5, atol=1e-6)


def test_consecutive_sizes_are_checked_at_construction():
    with pytest.raises(ValueError, match=r"layer 2 \(Linear\(in_features=64.*expects inputs of shape "
                                         r"\(N, 64\), but receives \(N, 128\).*layer 1 \(ReLU\(\)\)"):
        an.Sequential([L.Linear(10, 128), L.ReLU(), L.Linear(64, 10)])


def test_wrong_number_of_features_names_layer_0(be):
    model = an.Sequential([L.Linear(64, 8), L.ReLU(), L.Linear(8, 2)])
    with pytest.raises(ValueError, match=r"predict: x of shape \(5, 63\) has 63 features but layer 0 "
                                         r"\(Linear\(in_features=64.*\) expects 64"):
        model.predict(np.ones((5, 63)))


def test_arrays_of_another_backend_are_refused_with_both_names(be):
    """NumPy input is always welcome; an array of a third library is a mistake to report."""
    if be.name not in ("numpy", "numpy_readonly"):
        model, x = an.Sequential([L.Linear(2, 2)], backend="numpy"), be.asarray(np.ones((3, 2)))
        lib = be.name
    elif an.available_backends()["array_api_strict"] is None:
        model, x = an.Sequential([L.Linear(2, 2)]), get_backend("array_api_strict").asarray(np.ones((3, 2)))
        lib = "array_api_strict"
    else:
        pytest.skip("needs a second backend besides NumPy")
    with pytest.raises(TypeError, match=rf"predict: x is a {lib} array but the model lives on backend"):
        model.predict(x)


def test_non_numeric_and_non_finite_inputs_are_refused(be):
    model = an.Sequential([L.Linear(2, 2)])
    with pytest.raises(TypeError, match=r"x must hold real numbers .* got dtype <U1"):
        model.predict(np.array([["a", "b"]]))
    bad = np.ones((4, 2))
    bad[2, 1] = np.nan
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"x contains 2 non-finite values .* x\[2, 1\] = nan"):
        model.predict(bad)


def test_lists_are_accepted_like_numpy_would(be):
    model = an.Sequential([L.Linear(2, 2)])
    assert tuple(model.predict([[1.0, 2.0], [3.0, 4.0]]).shape) == (2, 2)


@pytest.mark.parametrize(
    ("loss", "n_out", "t", "message"),
    [
        (losses.SoftmaxCrossEntropy(), 3, [0, 1, 3], r"labels in \[0, 3\] but the model has 3 outputs, "
                                                      r"so labels must be in \[0, 2\]"),
        (losses.SoftmaxCrossEntropy(), 3, [0.5, 1, 2], "must be integer class labels"),
        (losses.SoftmaxCrossEntropy(), 3, np.eye(4)[:3], "one-hot rows of width 4 but the model has 3"),
        (losses.Hinge(), 1, [0.0, 1.0, 1.0], r"must be -1 or \+1, got values \[0.0, 1.0\] \(use 2 \* t - 1"),
        (losses.BinaryCrossEntropy(), 1, [0.0, 2.0, 1.0], r"must be in \[0, 1\]"),
        (losses.SoftmaxCrossEntropy(), 3, [0, 1], "x and t have different lengths: x has 3 samples, t has 2"),
    ],
)
def test_bad_targets_are_explained(loss, n_out, t, message, be):
    model = an.Sequential([L.Linear(2, n_out)])
    with pytest.raises(ValueError, match=message):
        model.loss_and_grads(np.ones((3, 2)), np.asarray(t), loss=loss)


def test_not_a_layer_is_refused():
    with pytest.raises(TypeError, match="layer 1 is a str, not a layer"):
        an.Sequential([L.Linear(2, 2), "relu"])


def test_custom_layer_works_inside_sequential(be):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Scale(L.Layer):
        n: int

        def init(self, rng):
            return {"g": rng.uniform(0.5, 1.5, size=(self.n,))}

        def forward(self, params, x, /, *, training=False, key=None, xp=None):
            return x * params["g"][None, :], x

        def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
            return dy * params["g"][None, :], {"g": (dy * cache).sum(axis=0) if xp is None
                                               else xp.sum(dy * cache, axis=0)}

    model = an.Sequential([L.Linear(3, 4), Scale(4), L.Tanh(), L.Linear(4, 2)], seed=0, dtype="float64")
    x, t = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    assert an.gradcheck(model, x, t, loss=losses.SoftmaxCrossEntropy()) < 1e-6
    assert an.gradcheck(Scale(4), be.asarray(np.ones((2, 4)) * 0.3, dtype="float64")) < 1e-7
