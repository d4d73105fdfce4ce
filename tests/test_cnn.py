"""Convolutional networks end to end (issue 11): BatchNorm's running statistics through
Sequential, fit, predict and checkpoints on every backend; the CNN builders."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

from .conftest import assert_close

L = an.layers
LOSS = an.losses.SoftmaxCrossEntropy()


def small_cnn(be, dtype="float64", seed=0):
    """rows of 36 -> 6x6x1 images -> conv, BatchNorm, ReLU, max pool -> dense."""
    return an.Sequential([L.Reshape((6, 6, 1)), L.Conv2D(1, 3, 3, padding="same"), L.BatchNorm(3), L.ReLU(),
                          L.MaxPool2D(2), L.Flatten(), L.Linear(27, 3)], seed=seed, dtype=dtype, backend=be)


def images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=1.5, scale=2.0, size=(n, 36))  # mean 1.5, variance 4: far from the initial 0 and 1
    return x, (x[:, :12].sum(axis=1) > x[:, 24:].sum(axis=1)).astype(np.int64) + (x[:, 0] > 3.0)


def bn_eval_reference(model, x):
    """The model's inference pass in NumPy float64, BatchNorm with the running statistics."""
    p = [{k: to_numpy(v).astype(np.float64) for k, v in d.items()} for d in model.params]
    s = [{k: to_numpy(v).astype(np.float64) for k, v in d.items()} for d in model.state]
    h = np.pad(x.reshape(-1, 6, 6, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(h, (3, 3), axis=(1, 2))  # (N, 6, 6, 1, 3, 3)
    y = np.einsum("nijcab,oabc->nijo", win, p[1]["W"]) + p[1]["b"]
    y = (y - s[2]["running_mean"]) / np.sqrt(s[2]["running_var"] + 1e-5) * p[2]["gamma"] + p[2]["beta"]
    y = np.maximum(y, 0.0).reshape(-1, 3, 2, 3, 2, 3).max(axis=(2, 4))
    return y.reshape(len(x), -1) @ p[6]["W"].T + p[6]["b"]


def test_fit_updates_the_running_statistics_as_pytorch_does(be):
    model = small_cnn(be)
    x, t = images()
    before = [to_numpy(model.state[2][k]).copy() for k in ("running_mean", "running_var")]
    np.testing.assert_array_equal(before[0], np.zeros(3))
    np.testing.assert_array_equal(before[1], np.ones(3))
    # one full batch: one step of PyTorch's rule on the conv outputs of the parameters before the step
    conv_params = {k: v for k, v in model.params[1].items()}
    h, _ = L.Conv2D(1, 3, 3, padding="same").forward(conv_params, model.backend.asarray(
        x.reshape(-1, 6, 6, 1), dtype="float64"))
    h = to_numpy(h).reshape(-1, 3)
    model.fit(x, t, loss=LOSS, optimizer=an.optim.SGD(lr=0.1), epochs=1, batch_size=len(x), shuffle=False,
              verbose=0)
    rm, rv = (to_numpy(model.state[2][k]) for k in ("running_mean", "running_var"))
    np.testing.assert_allclose(rm, 0.1 * h.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * h.var(axis=0, ddof=1), rtol=1e-10)


def test_predict_and_evaluate_use_the_running_statistics(be):
    model = small_cnn(be)
    x, t = images()
    model.fit(x, t, loss=LOSS, optimizer=an.optim.Adam(lr=0.01), epochs=3, batch_size=8, verbose=0)
    rv = to_numpy(model.state[2]["running_var"])
    assert not np.allclose(rv, 1.0)  # really moved away from the start
    y = to_numpy(model.predict(x))
    ref = bn_eval_reference(model, x)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    # a batch of one gets the same rows: evaluation does not use batch statistics
    np.testing.assert_allclose(to_numpy(model.predict(x[:1])), ref[:1], rtol=1e-10, atol=1e-10)
    z = ref - ref.max(axis=1, keepdims=True)
    ce = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(t)), t]))
    assert model.evaluate(x, t, loss=LOSS)["loss"] == pytest.approx(ce, rel=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_checkpoint_round_trips_the_batchnorm_state(be, dtype, tmp_path):
    model = small_cnn(be, dtype)
    x, t = images()
    path = tmp_path / "cnn.npz"
    model.fit(x, t, loss=LOSS, optimizer=an.optim.Adam(lr=0.01), epochs=2, batch_size=8, verbose=0,
              checkpoint=path)
    with np.load(path, allow_pickle=False) as z:
        assert {"state/2/running_mean", "state/2/running_var"} <= set(z.files)
    for loaded in (an.load(path, backend=be), an.io.load_checkpoint(path, backend=be).model):
        for k in ("running_mean", "running_var"):
            got = loaded.state[2][k]
            assert got.dtype == be.dtype(dtype)
            assert_close(got, to_numpy(model.state[2][k]), be, dtype=dtype, rtol=0.0)
        assert_close(loaded.predict(x), to_numpy(model.predict(x)), be, dtype=dtype, rtol=0.0)
    # and through another backend and back
    there = model.to("numpy")
    np.testing.assert_array_equal(to_numpy(there.state[2]["running_var"]), to_numpy(model.state[2]["running_var"]))


def test_the_command_lines_cnn_has_the_issues_shape():
    layers = L.cnn((8, 8, 1), (32, 64, "M"), (128,), 10, from_rows=True)
    model = an.Sequential(layers, seed=0)
    assert model.output_shape == (10,)
    assert [la.out_channels for la in layers if isinstance(la, L.Conv2D)] == [32, 64]
    with_bn = L.cnn((8, 8, 1), (8, "M"), (), 10, batchnorm=True)
    assert [type(la).__name__ for la in with_bn] == ["Conv2D", "BatchNorm", "ReLU", "MaxPool2D", "Flatten",
                                                     "Linear"]


@pytest.mark.parametrize("call, message", [
    (lambda: L.cnn((8, 8), (4,), (), 2), r"cnn: input_shape must be a channels-last image shape \(H, W, C\)"),
    (lambda: L.cnn((2, 2, 1), ("M", "M"), (), 2), r"cnn: a 2x2 max pool needs an image of at least 2x2"),
    (lambda: L.cnn((8, 8, 1), (4, "avg"), (), 2), r"cnn: features must be channel counts .* got 'avg'"),
    (lambda: L.lenet((8, 8, 1)), r"lenet: expects images of at least 12x12 pixels"),
])
def test_the_builders_name_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("shape", [(28, 28, 1), (12, 12, 1), (16, 20, 3)])
def test_lenet_fits_its_input(shape, be):
    model = an.Sequential(L.lenet(shape, 10), seed=0, backend=be)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
    assert tuple(model.predict(x).shape) == (2, 10)


# ------------------------------------------------------------------ ReLU and max pooling commute
@pytest.mark.parametrize("pool", [an.layers.MaxPool2D(2), an.layers.MaxPool2D(3, stride=2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_before_max_pooling_runs_after_it_with_the_same_numbers(be, pool, dtype):
    """The engine runs a ReLU right before a MaxPool2D after it (a quarter of the values for
    2x2 pooling): outputs and every gradient equal the order as written, bit for bit, with
    ties, zeros and all-negative windows (inputs on a coarse grid)."""
    L = an.layers
    stack = [L.Conv2D(2, 3, 2), L.ReLU(), pool, L.Flatten(), L.Linear(27 if pool.pool_size == 3 else 48, 2)]
    model = an.Sequential(stack, seed=0, dtype=dtype, input_shape=(9, 9, 2))
    assert model.engine._order == (0, 2, 1, 3, 4)
    rng = np.random.default_rng(0)
    x = be.asarray(rng.integers(-2, 3, size=(5, 9, 9, 2)) * 0.5, dtype=dtype)  # many ties, zeros, negatives
    model.params = [{k: be.asarray(np.round(to_numpy(v) * 4) / 4, dtype=dtype) for k, v in p.items()}
                    for p in model.params]  # weights on a grid too: equal values stay equal
    dy = be.asarray(rng.standard_normal((5, 2)), dtype=dtype)
    reordered, written = (an.engine.Engine(model.layers, model.backend) for _ in range(2))
    for engine in (reordered, written):  # the reordering alone: no conv and pool run as one step
        engine._fused, engine._pooled = {}, frozenset()
    written._order = tuple(range(len(stack)))  # the layers exactly in the order given
    y, caches, _ = reordered.forward(model.params, model.state, x)
    grads = reordered.backward(model.params, caches, dy)
    y0, caches0, _ = written.forward(model.params, model.state, x)
    grads0 = written.backward(model.params, caches0, dy)
    h = to_numpy(caches0[1])  # the ReLU's output: pooled windows hold ties at 0 and above
    assert (h == 0).mean() > 0.3
    np.testing.assert_array_equal(to_numpy(y), to_numpy(y0))
    for g, g0 in zip(grads, grads0):
        for k in g0:
            np.testing.assert_array_equal(to_numpy(g[k]), to_numpy(g0[k]))
    assert any(float(np.abs(to_numpy(g["W"])).sum()) > 0 for g in grads if "W" in g)


def test_only_a_plain_relu_right_before_max_pooling_moves():
    L = an.layers
    order = an.engine._execution_order
    assert order((L.ReLU(), L.MaxPool2D(2), L.ReLU(), L.AvgPool2D(2))) == (1, 0, 2, 3)
    assert order((L.LeakyReLU(0.1), L.MaxPool2D(2))) == (0, 1)  # not ReLU: stays
    assert order((L.ReLU(), L.ReLU(), L.MaxPool2D(2), L.MaxPool2D(2))) == (0, 2, 1, 3)


# ------------------------------------------------------------------ Conv2D and MaxPool2D as one step
def _fused_case(be, dtype, conv, pool, relu, size, grid, seed=0):
    """A model conv -> (ReLU) -> pool -> flatten -> linear, its engine as built (fused) and
    one with the fusion switched off: outputs and gradients of both, on the same inputs."""
    L = an.layers
    stack = [conv, *([L.ReLU()] if relu else []), pool, L.Flatten()]
    shape = an.Sequential(stack, input_shape=(size, size, conv.in_channels)).output_shape
    stack.append(L.Linear(shape[0], 3))
    model = an.Sequential(stack, seed=seed, dtype=dtype, input_shape=(size, size, conv.in_channels))
    rng = np.random.default_rng(seed)
    if grid:  # values on a coarse grid: every product and sum exact, in any order; ties in every window
        x = rng.integers(-2, 3, size=(4, size, size, conv.in_channels)) * 0.5
        model.params = [{k: be.asarray(np.round(to_numpy(v) * 4) / 4, dtype=dtype) for k, v in p.items()}
                        for p in model.params]
        dy = rng.integers(-3, 4, size=(4, 3)) * 0.5
    else:
        x, dy = rng.standard_normal((4, size, size, conv.in_channels)), rng.standard_normal((4, 3))
    x, dy = be.asarray(x, dtype=dtype), be.asarray(dy, dtype=dtype)
    fused = model.engine
    plain = an.engine.Engine(model.layers, model.backend)
    plain._fused, plain._pooled = {}, frozenset()
    out = []
    for engine in (fused, plain):
        y, caches, _ = engine.forward(model.params, model.state, x, training=True)
        grads = engine.backward(model.params, caches, dy)
        out.append((y, grads))
    return model, out


_GEOMETRIES = [  # conv, pool, image size
    (lambda L: L.Conv2D(2, 3, 3), lambda L: L.MaxPool2D(2), 10),  # 8x8 -> 4x4
    (lambda L: L.Conv2D(2, 3, 3), lambda L: L.MaxPool2D(2), 9),  # 7x7: the last row and column dropped
    (lambda L: L.Conv2D(1, 4, 3, padding="same"), lambda L: L.MaxPool2D(2), 7),  # padding, odd
    (lambda L: L.Conv2D(2, 3, 2, stride=2, padding=1), lambda L: L.MaxPool2D(3), 11),  # stride, 3x3 pool
    (lambda L: L.Conv2D(3, 2, (3, 2), bias=False), lambda L: L.MaxPool2D((2, 3)), 9),  # no bias, rectangles
]


@pytest.mark.parametrize("geometry", range(len(_GEOMETRIES)))
@pytest.mark.parametrize("relu", [False, True])
def test_conv_and_max_pooling_as_one_step_give_the_layers_numbers(be, geometry, relu):
    """Values on a grid (exact in any order of sums, ties in every window): outputs and every
    gradient of the fused step equal the two layers' bit for bit; the tie rule is the same."""
    L = an.layers
    conv, pool, size = _GEOMETRIES[geometry]
    model, ((y, g), (y0, g0)) = _fused_case(be, "float64", conv(L), pool(L), relu, size, grid=True)
    assert model.engine._fused == {0: 2 if relu else 1}
    np.testing.assert_array_equal(to_numpy(y), to_numpy(y0))
    for a, b in zip(g, g0):
        assert sorted(a) == sorted(b)
        for k in b:
            np.testing.assert_array_equal(to_numpy(a[k]), to_numpy(b[k]))
    assert float(np.abs(to_numpy(g[0]["W"])).sum()) > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_and_max_pooling_as_one_step_with_the_input_gradient(be, dtype):
    """Random values, a conv that is not the first layer (its input gradient is computed):
    equal up to the order of float sums."""
    L = an.layers
    stack = [L.Conv2D(1, 2, 1), L.Conv2D(2, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten(),
             L.Linear(4 * 4 * 4, 3)]
    model = an.Sequential(stack, seed=0, dtype=dtype, input_shape=(9, 9, 1))
    assert model.engine._fused == {1: 3}
    rng = np.random.default_rng(1)
    x, dy = be.asarray(rng.standard_normal((5, 9, 9, 1)), dtype=dtype), be.asarray(rng.standard_normal((5, 3)), dtype=dtype)
    plain = an.engine.Engine(model.layers, model.backend)
    plain._fused, plain._pooled = {}, frozenset()
    res = []
    for engine in (model.engine, plain):
        y, caches, _ = engine.forward(model.params, model.state, x, training=True)
        res.append((y, engine.backward(model.params, caches, dy)))
    (y, g), (y0, g0) = res
    assert_close(y, to_numpy(y0), be, dtype=dtype)
    for a, b in zip(g, g0):
        for k in b:
            assert_close(a[k], to_numpy(b[k]), be, dtype=dtype, atol=1e-6 if dtype == "float32" else 1e-13)


def test_a_chunked_conv_runs_its_layers_as_they_are(be, monkeypatch):
    """Above the column-matrix limit the convolution builds its columns in chunks: the fused
    step then runs the two layers one after the other (same numbers, bit for bit)."""
    from anynet.layers import conv as conv_module

    L = an.layers
    monkeypatch.setattr(conv_module, "COLUMN_LIMIT_BYTES", 8 * 9 * 2 * 8 * 8)  # about one sample a chunk
    model, ((y, g), (y0, g0)) = _fused_case(be, "float64", L.Conv2D(2, 3, 3), L.MaxPool2D(2), True, 10, grid=False)
    x = be.asarray(np.zeros((4, 10, 10, 2)), dtype="float64")
    assert model.engine.forward(model.params, model.state, x)[1][0][0] == "layers"  # not fused this time
    np.testing.assert_array_equal(to_numpy(y), to_numpy(y0))
    for a, b in zip(g, g0):
        for k in b:
            np.testing.assert_array_equal(to_numpy(a[k]), to_numpy(b[k]))


def test_which_conv_and_pool_pairs_run_as_one_step():
    L = an.layers

    def fused(*stack):
        return an.engine.Engine(tuple(stack), an.backends.get_backend("numpy"))._fused

    class MyConv(L.Conv2D):
        pass

    assert fused(L.Conv2D(1, 2, 3), L.MaxPool2D(2)) == {0: 1}
    assert fused(L.Conv2D(1, 2, 3), L.ReLU(), L.MaxPool2D(2)) == {0: 2}  # the ReLU runs after the pool
    assert fused(L.Conv2D(1, 2, 3), L.LeakyReLU(0.1), L.MaxPool2D(2)) == {}  # not moved: not adjacent
    assert fused(L.Conv2D(1, 2, 3), L.AvgPool2D(2)) == {}
    assert fused(L.Conv2D(1, 2, 3), L.MaxPool2D(3, stride=2)) == {}  # overlapping windows
    assert fused(MyConv(1, 2, 3), L.MaxPool2D(2)) == {}  # a subclass may change either pass
    assert fused(L.MaxPool2D(2), L.Conv2D(1, 2, 3), L.MaxPool2D(2)) == {1: 2}
