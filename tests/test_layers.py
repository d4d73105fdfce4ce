"""Every layer: shapes, dtype, finite differences in float64, parity with NumPy,
jax.grad, purity, and a compiled run on JAX."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet import _random
from anynet.backends import get_backend, to_numpy

from .conftest import assert_close, rel_err

L = an.layers

# (layer, per-sample input shape)
LAYERS = [
    (L.Linear(5, 4), (5,)),
    (L.Linear(5, 3, bias=False), (5,)),
    (L.Linear(5, 4, weight_init="glorot_uniform"), (5,)),
    (L.Sigmoid(), (6,)),
    (L.Tanh(), (6,)),
    (L.ReLU(), (6,)),
    (L.LeakyReLU(0.1), (6,)),
    (L.ELU(0.7), (6,)),
    (L.GELU(), (6,)),
    (L.Softplus(), (6,)),
    (L.Softmax(), (6,)),
    (L.Maxout(5, 3, pieces=3), (5,)),
    (L.Dropout(0.3), (6,)),
    (L.Flatten(), (2, 3)),
]
IDS = [repr(layer) for layer, _ in LAYERS]


def _inputs(shape, seed=0, n=4):
    x = np.random.default_rng(seed).normal(size=(n, *shape)) * 1.5
    return x + np.sign(x) * 0.05  # keep away from the kinks of ReLU/LeakyReLU/ELU at 0


def _params(layer, seed=0):
    return layer.init(np.random.default_rng(seed))


def _key(be):
    return _random.key_from_seed(3, xp=be.xp)


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=IDS)
def test_gradcheck_float64(layer, shape, be):
    x = be.asarray(_inputs(shape), dtype="float64")
    err = an.gradcheck(layer, x, details=True)
    assert max(err.values()) < 1e-7, err


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_backward_match_numpy(layer, shape, dtype, be):
    """Same numbers as the NumPy backend (the reference) for forward and backward."""
    ref = get_backend("numpy")
    host_x = _inputs(shape, seed=1)
    host_p = _params(layer)
    outs = {}
    for b in (ref, be):
        x = b.asarray(host_x, dtype=dtype)
        p = {k: b.asarray(v, dtype=dtype) for k, v in host_p.items()}
        key = _random.key_from_seed(7, xp=b.xp)
        y, cache = layer.forward(p, x, training=True, key=key, xp=b.xp)
        dy = b.asarray(np.random.default_rng(2).normal(size=tuple(y.shape)), dtype=dtype)
        dx, grads = layer.backward(p, cache, dy, xp=b.xp)
        outs[b.name] = (y, dx, grads)
        assert b.owns(y) and y.dtype == b.dtype(dtype)
        assert tuple(dx.shape) == tuple(x.shape) and dx.dtype == x.dtype
        assert set(grads) == set(p)
        for k in p:
            assert tuple(grads[k].shape) == tuple(p[k].shape)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    y0, dx0, g0 = outs["numpy"]
    y1, dx1, g1 = outs[be.name]
    assert_close(y1, y0, be, dtype=dtype, rtol=rtol, atol=rtol)
    assert_close(dx1, dx0, be, dtype=dtype, rtol=rtol, atol=rtol)
    for k in g0:
        assert_close(g1[k], g0[k], be, dtype=dtype, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=IDS)
def test_backward_equals_jax_grad(layer, shape, be, jax):
    from . import jax_reference as ref

    jnp = jax.numpy
    host_x, host_p = _inputs(shape, seed=4), _params(layer, seed=5)
    x = be.asarray(host_x, dtype="float64")
    p = {k: be.asarray(v, dtype="float64") for k, v in host_p.items()}
    key = _key(be)
    y, cache = layer.forward(p, x, training=True, key=key, xp=be.xp)
    R = np.random.default_rng(6).normal(size=tuple(y.shape))
    dx, grads = layer.backward(p, cache, be.asarray(R, dtype="float64"), xp=be.xp)
    mask = jnp.asarray(to_numpy(cache)) if isinstance(layer, L.Dropout) else None

    def f(pp, xx):
        return jnp.sum(ref.layer_fn(layer, pp, xx, mask) * R)

    jp = {k: jnp.asarray(np.asarray(v, dtype=np.float64)) for k, v in host_p.items()}
    gp, gx = jax.grad(f, argnums=(0, 1))(jp, jnp.asarray(host_x))
    assert rel_err(dx, gx) < 1e-8
    for k in host_p:
        assert rel_err(grads[k], gp[k]) < 1e-8, k


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=IDS)
def test_layers_do_not_modify_their_inputs(layer, shape, be):
    host_x, host_p = _inputs(shape), _params(layer)
    x = be.asarray(host_x, dtype="float64")
    p = {k: be.asarray(v, dtype="float64") for k, v in host_p.items()}
    y, cache = layer.forward(p, x, training=True, key=_key(be), xp=be.xp)
    dy = be.asarray(np.ones(tuple(y.shape)), dtype="float64")
    layer.backward(p, cache, dy, xp=be.xp)
    np.testing.assert_array_equal(to_numpy(x), host_x)
    np.testing.assert_array_equal(to_numpy(dy), np.ones(tuple(y.shape)))
    for k, v in host_p.items():
        np.testing.assert_array_equal(to_numpy(p[k]), np.asarray(v, dtype=np.float64))


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=IDS)
def test_forward_backward_under_jax_jit(layer, shape, be):
    if be.name != "jax":
        pytest.skip("jax.jit runs on the jax backend (nox -s 'tests(backend=\"jax\")')")
    import jax

    x = be.asarray(_inputs(shape), dtype="float32")
    p = {k: be.asarray(v, dtype="float32") for k, v in _params(layer).items()}
    key = _key(be)

    def run(p, x, key):
        y, cache = layer.forward(p, x, training=True, key=key)
        return y, layer.backward(p, cache, y)

    eager = run(p, x, key)
    compiled = jax.jit(run)(p, x, key)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(compiled)):
        assert_close(b, to_numpy(a), be, rtol=1e-5, atol=1e-6)


def test_linear_is_the_lectures_Wx_plus_b(be):
    """The course's linear classifier: W (3, 4), x = the 2x2 image [[1, 2], [3, 4]] flattened."""
    W = [[0.2, 0.4, 0.1, 0.6], [0.3, 0.8, 0.2, 0.1], [0.5, 0.6, 0.4, 0.7]]
    b = [3.6, 2.6, -3.0]
    p = {"W": be.asarray(W, dtype="float64"), "b": be.asarray(b, dtype="float64")}
    x = L.Flatten()({}, be.asarray([[[1.0, 2.0], [3.0, 4.0]]], dtype="float64"))
    y = L.Linear(4, 3)(p, x)
    assert_close(y, [[7.3, 5.5, 2.7]], be, dtype="float64", rtol=1e-12)


def test_sigmoid_local_gradient_is_one_minus_s_times_s(be):
    x = be.asarray([[-2.0, 0.0, 3.0]], dtype="float64")
    s, cache = L.Sigmoid().forward({}, x)
    dx, _ = L.Sigmoid().backward({}, cache, be.asarray([[1.0, 1.0, 1.0]], dtype="float64"))
    s_h = 1.0 / (1.0 + np.exp(-np.array([[-2.0, 0.0, 3.0]])))
    assert_close(s, s_h, be, rtol=1e-12)
    assert_close(dx, (1 - s_h) * s_h, be, rtol=1e-12)


@pytest.mark.parametrize("layer", [L.Sigmoid(), L.Tanh(), L.Softplus(), L.ELU(), L.GELU(), L.Softmax()],
                         ids=repr)
def test_activations_are_finite_for_huge_inputs(layer, be):
    x = be.asarray([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype="float32")
    y, cache = layer.forward({}, x)
    dx, _ = layer.backward({}, cache, be.asarray(np.ones((1, 5)), dtype="float32"))
    assert np.isfinite(to_numpy(y)).all() and np.isfinite(to_numpy(dx)).all()


def test_dropout_masks_are_reproducible_and_identical_across_backends(be):
    x_host = np.ones((64, 50))
    ref = get_backend("numpy")
    masks = []
    for b in (ref, be):
        key = _random.key_from_seed(11, xp=b.xp)
        y, _ = L.Dropout(0.25).forward({}, b.asarray(x_host, dtype="float32"), training=True, key=key)
        masks.append(to_numpy(y) != 0)
    assert np.array_equal(masks[0], masks[1])
    kept = masks[0].mean()
    assert 0.72 < kept < 0.78  # 3200 draws with p=0.25 dropped
    y_eval, _ = L.Dropout(0.25).forward({}, be.asarray(x_host, dtype="float32"), training=False)
    np.testing.assert_array_equal(to_numpy(y_eval), x_host)


def test_counter_hash_is_uniform_enough(be):
    u = to_numpy(_random.uniform(_random.key_from_seed(0, xp=be.xp), (100_000,), be.dtype("float32"),
                                 xp=be.xp))
    assert 0.0 <= u.min() and u.max() < 1.0
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(hist - 10_000) < 5 * 100)  # 5 sigma of a binomial(1e5, 0.1)
    other = to_numpy(_random.uniform(_random.key_from_seed(1, xp=be.xp), (100_000,), be.dtype("float32"),
                                     xp=be.xp))
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.02


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: L.Linear(0, 3), "Linear: in_features must be a positive int, got 0"),
        (lambda: L.Linear(3, 2.5), "Linear: out_features must be a positive int, got 2.5"),
        (lambda: L.Linear(3, 2, weight_init="magic"), "Linear: weight_init must be one of"),
        (lambda: L.Dropout(1.0), r"Dropout: p must be a probability in \[0, 1\), got 1.0"),
        (lambda: L.Maxout(3, 2, pieces=0), "Maxout: pieces must be a positive int, got 0"),
        (lambda: L.LeakyReLU(float("nan")), "LeakyReLU: negative_slope must be a finite number"),
    ],
)
def test_bad_layer_configs_say_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_same_seed_same_initial_weights_on_every_backend(be):
    a = an.Sequential([L.Linear(7, 5), L.Tanh(), L.Maxout(5, 3, 2)], seed=42, backend="numpy")
    b = an.Sequential([L.Linear(7, 5), L.Tanh(), L.Maxout(5, 3, 2)], seed=42, backend=be)
    for pa, pb in zip(a.params, b.params):
        for k in pa:
            assert_close(pb[k], pa[k], be, dtype="float32", rtol=0)


def test_public_random_key_drives_dropout_on_every_backend(be):
    """an.random.key makes the key a hand-called Dropout needs: the same mask on every backend."""
    k = an.random.key(3, backend=be)
    assert tuple(k.shape) == (1,)
    np.testing.assert_array_equal(to_numpy(k), to_numpy(_key(be)))  # what fit's keys are made of
    x = be.asarray(np.ones((3, 40)), dtype="float32")
    y, _ = L.Dropout(0.25).forward({}, x, training=True, key=an.random.fold_in(k, 2))
    y_np, _ = L.Dropout(0.25).forward({}, np.ones((3, 40), np.float32), training=True,
                                      key=an.random.fold_in(an.random.key(3, backend="numpy"), 2))
    np.testing.assert_array_equal(to_numpy(y), y_np)
    assert 0 < int((y_np == 0).sum()) < y_np.size
    with pytest.raises(ValueError, match=r"Dropout: forward\(training=True\) needs a key, e\.g\. key=anynet\.random\.key"):
        L.Dropout(0.5).forward({}, x, training=True)
    with pytest.raises(TypeError, match="seed must be an int"):
        an.random.key(1.5)
    with pytest.raises(TypeError, match=r"anynet\.random\.fold_in: data must be an int"):
        an.random.fold_in(k, "step")
    with pytest.raises(TypeError, match=r"anynet.random.fold_in: key must be a key from anynet.random.key .*list"):
        an.random.fold_in([1], 2)
    with pytest.raises(TypeError, match=r"key must be a key .*float32"):
        an.random.fold_in(x, 2)
