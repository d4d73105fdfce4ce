"""Convolutional layers (Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Reshape, BatchNorm),
proven like every layer: finite differences in float64, parity with NumPy, jax.grad of an
independent jax implementation (lax.conv_general_dilated, lax.reduce_window), torch.autograd
through torch.nn.functional (torch session), the same tie rule in max pooling on every
backend, a compiled run on JAX, and errors that name the layer."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import get_backend, to_numpy
from anynet.layers import conv as conv_module

from .conftest import assert_close, rel_err

L = an.layers

# (layer, per-sample input shape): every configuration the issue names
CASES = [
    (L.Conv2D(2, 3, 3), (6, 7, 2)),  # stride 1, padding 0
    (L.Conv2D(2, 3, 3, stride=2, padding=1), (7, 6, 2)),
    (L.Conv2D(2, 3, 3, padding="same"), (5, 6, 2)),
    (L.Conv2D(2, 3, 3, stride=2, padding="same"), (6, 5, 2)),  # odd total padding: extra at the end
    (L.Conv2D(2, 3, (2, 3), stride=(2, 1), padding="valid", bias=False), (5, 6, 2)),
    (L.Conv2D(1, 2, 5, padding=2, weight_init="glorot_uniform"), (5, 5, 1)),
    (L.Conv2D(1, 5, 2, padding=1), (4, 5, 1)),  # out >= kh*kw*in: col2im pads dcols, not dy
    (L.MaxPool2D(2), (6, 6, 2)),
    (L.MaxPool2D(3), (7, 6, 2)),  # windows that do not fit are dropped
    (L.MaxPool2D(3, stride=2), (7, 7, 2)),  # overlapping windows
    (L.AvgPool2D(2), (6, 5, 2)),
    (L.AvgPool2D(3, stride=1), (5, 5, 2)),
    (L.GlobalAvgPool2D(), (4, 5, 3)),
    (L.Reshape((3, 4)), (12,)),
    (L.Reshape((-1, 2)), (2, 3, 2)),
    (L.BatchNorm(3), (3,)),  # features of a batch of vectors
    (L.BatchNorm(2), (4, 3, 2)),  # channels of images
]
IDS = [repr(layer) for layer, _ in CASES]
#: the layers test_torch_reference's coverage check counts as covered here
COVERED = {type(layer).__name__ for layer, _ in CASES}


def _inputs(shape, seed=0, n=3):
    return np.random.default_rng(seed).normal(size=(n, *shape))


def _params(layer, seed=0):
    """Host float64 parameters, with non-zero biases and a non-trivial gamma/beta."""
    rng = np.random.default_rng(seed)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in layer.init(rng).items()}
    for k in ("b", "beta"):
        if k in p:
            p[k] = rng.normal(size=p[k].shape) * 0.3
    if "gamma" in p:
        p["gamma"] = 1.0 + rng.normal(size=p["gamma"].shape) * 0.3
    return p


def _forward(layer, p, x, *, training=True, xp=None, state=None):
    """(y, cache, new_state) for every layer (new_state None for stateless ones)."""
    if getattr(layer, "stateful", False):
        return layer.forward(p, x, training=training, xp=xp, state=state)
    y, cache = layer.forward(p, x, training=training, xp=xp)
    return y, cache, None


def _on(b, host, dtype):
    return {k: b.asarray(v, dtype=dtype) for k, v in host.items()}


# ------------------------------------------------------------------ finite differences


@pytest.mark.parametrize(("layer", "shape"), CASES, ids=IDS)
def test_gradcheck_float64(layer, shape, be):
    # not seed 0: gradcheck draws its upstream gradient R from seed 0 too, and R == x makes
    # BatchNorm's dL/dx = gamma/std (R - mean R - xhat mean(R xhat)) cancel to ~0
    x = be.asarray(_inputs(shape, seed=21), dtype="float64")
    err = an.gradcheck(layer, x, _params(layer), details=True)
    assert set(err) == {"x", *_params(layer)}
    assert max(err.values()) < 1e-7, err


def test_batchnorm_evaluation_gradient_by_finite_differences(be):
    """Evaluation mode (running statistics) has its own backward; an.gradcheck runs training mode."""
    from anynet.gradcheck import numeric_grad, relative_error

    bn = L.BatchNorm(2)
    p = _on(be, _params(bn), "float64")
    state = {"running_mean": be.asarray([0.3, -0.2], dtype="float64"),
             "running_var": be.asarray([1.5, 0.7], dtype="float64")}
    x = be.asarray(_inputs((3, 2, 2)), dtype="float64")
    R = be.asarray(_inputs((3, 2, 2), seed=9), dtype="float64")
    xp = be.xp

    def f(xx, pp):
        return float(xp.sum(bn.forward(pp, xx, state=state)[0] * R))

    _, cache, _ = bn.forward(p, x, state=state)
    dx, grads = bn.backward(p, cache, R)
    assert relative_error(dx, numeric_grad(lambda xx: f(xx, p), x, be)) < 1e-7
    for k in p:
        assert relative_error(grads[k], numeric_grad(lambda v, k=k: f(x, {**p, k: v}), p[k], be)) < 1e-7


# ------------------------------------------------------------------ parity with NumPy


@pytest.mark.parametrize(("layer", "shape"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_backward_match_numpy(layer, shape, dtype, be):
    ref = get_backend("numpy")
    host_x, host_p = _inputs(shape, seed=1), _params(layer)
    dy_host = None
    outs = {}
    for b in (ref, be):
        x, p = b.asarray(host_x, dtype=dtype), _on(b, host_p, dtype)
        y, cache, state = _forward(layer, p, x, xp=b.xp)
        if dy_host is None:
            dy_host = np.random.default_rng(2).normal(size=tuple(y.shape))
        dx, grads = layer.backward(p, cache, b.asarray(dy_host, dtype=dtype), xp=b.xp)
        assert b.owns(y) and y.dtype == b.dtype(dtype)
        assert tuple(y.shape) == (host_x.shape[0], *layer.output_shape(shape))
        assert tuple(dx.shape) == tuple(x.shape) and dx.dtype == x.dtype
        assert set(grads) == set(p) and all(tuple(grads[k].shape) == tuple(p[k].shape) for k in p)
        outs[b.name] = (y, dx, grads, state)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    y0, dx0, g0, s0 = outs["numpy"]
    y1, dx1, g1, s1 = outs[be.name]
    assert_close(y1, y0, be, dtype=dtype, rtol=rtol, atol=rtol)
    assert_close(dx1, dx0, be, dtype=dtype, rtol=rtol, atol=rtol)
    for k in g0:
        assert_close(g1[k], g0[k], be, dtype=dtype, rtol=rtol, atol=rtol)
    for k in s0 or {}:
        assert_close(s1[k], s0[k], be, dtype=dtype, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("layer", "shape"), CASES, ids=IDS)
def test_layers_do_not_modify_their_inputs(layer, shape, be):
    host_x, host_p = _inputs(shape), _params(layer)
    x, p = be.asarray(host_x, dtype="float64"), _on(be, host_p, "float64")
    state = None
    if getattr(layer, "stateful", False):
        state = _on(be, layer.init_state(), "float64")
    y, cache, _ = _forward(layer, p, x, state=state)
    dy = be.asarray(np.ones(tuple(y.shape)), dtype="float64")
    layer.backward(p, cache, dy)
    np.testing.assert_array_equal(to_numpy(x), host_x)
    np.testing.assert_array_equal(to_numpy(dy), np.ones(tuple(y.shape)))
    for k, v in host_p.items():
        np.testing.assert_array_equal(to_numpy(p[k]), v)
    for k, v in (state or {}).items():
        np.testing.assert_array_equal(to_numpy(v), layer.init_state()[k])


def test_big_batches_build_the_columns_in_chunks_with_the_same_result(be, monkeypatch):
    conv = L.Conv2D(2, 3, 3, stride=2, padding=1)
    host_x, host_p = _inputs((7, 6, 2), n=5), _params(conv)
    x, p = be.asarray(host_x, dtype="float64"), _on(be, host_p, "float64")
    dy = be.asarray(_inputs((4, 3, 3), seed=3, n=5), dtype="float64")
    y, cache = conv.forward(p, x)
    dx, grads = conv.backward(p, cache, dy)
    assert len(cache[-1]) == 1  # small: one piece, the columns kept
    # 2 samples' columns fit: 4*3*9*2 entries of 8 bytes per sample
    monkeypatch.setattr(conv_module, "COLUMN_LIMIT_BYTES", 2 * 4 * 3 * 9 * 2 * 8)
    y2, cache2 = conv.forward(p, x)
    assert [tuple(c) for c in cache2[-1]] == [(0, 2), (2, 4), (4, 5)]
    dx2, grads2 = conv.backward(p, cache2, dy)
    assert_close(y2, to_numpy(y), be, rtol=1e-12, atol=1e-12)
    assert_close(dx2, to_numpy(dx), be, rtol=1e-12, atol=1e-12)
    for k in grads:
        assert_close(grads2[k], to_numpy(grads[k]), be, rtol=1e-12, atol=1e-12)
    small = be.asarray(host_x[:3], dtype="float64")  # chunks (0, 2), (2, 3): still chunked, fewer entries
    assert len(conv.forward(p, small)[1][-1]) == 2
    assert an.gradcheck(conv, small, host_p) < 1e-7  # the chunked backward, by finite differences


# ------------------------------------------------------------------ jax.grad


def _jax_layer(layer, p, x):
    """The layer written with jax.lax / jax.numpy, sharing no code with anynet."""
    import jax
    import jax.numpy as jnp

    lax = jax.lax
    if isinstance(layer, L.Conv2D):
        k = layer.kernel_size
        s = layer.stride
        kh, kw = (k, k) if isinstance(k, int) else k
        strides = (s, s) if isinstance(s, int) else s
        pad = layer.padding
        if isinstance(pad, str):
            padding = pad.upper()  # lax's "SAME" and "VALID" mean the same as anynet's
        else:
            ph, pw = (pad, pad) if isinstance(pad, int) else pad
            padding = [(ph, ph), (pw, pw)]
        assert p["W"].shape[1:3] == (kh, kw)
        y = lax.conv_general_dilated(x, p["W"], strides, padding,
                                     dimension_numbers=("NHWC", "OHWI", "NHWC"),
                                     precision=lax.Precision.HIGHEST)
        return y + jnp.reshape(p["b"], (1, 1, 1, -1)) if layer.bias else y
    if isinstance(layer, (L.MaxPool2D, L.AvgPool2D)):
        k, s = layer.pool_size, layer.stride
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (kh, kw) if s is None else ((s, s) if isinstance(s, int) else s)
        if isinstance(layer, L.MaxPool2D):
            return lax.reduce_window(x, -jnp.inf, lax.max, (1, kh, kw, 1), (1, sh, sw, 1), "VALID")
        return lax.reduce_window(x, 0.0, lax.add, (1, kh, kw, 1), (1, sh, sw, 1), "VALID") / (kh * kw)
    if isinstance(layer, L.GlobalAvgPool2D):
        return jnp.mean(x, axis=(1, 2))
    if isinstance(layer, L.Reshape):
        return jnp.reshape(x, (x.shape[0], *layer.shape))
    if isinstance(layer, L.BatchNorm):
        axes = tuple(range(x.ndim - 1))
        per_feature = (1,) * (x.ndim - 1) + (-1,)
        mean, var = jnp.mean(x, axis=axes, keepdims=True), jnp.var(x, axis=axes, keepdims=True)
        return ((x - mean) / jnp.sqrt(var + layer.eps) * jnp.reshape(p["gamma"], per_feature)
                + jnp.reshape(p["beta"], per_feature))
    raise NotImplementedError(type(layer).__name__)


@pytest.mark.parametrize(("layer", "shape"), CASES, ids=IDS)
def test_backward_equals_jax_grad(layer, shape, be, jax):
    jnp = jax.numpy
    host_x, host_p = _inputs(shape, seed=4), _params(layer, seed=5)
    x, p = be.asarray(host_x, dtype="float64"), _on(be, host_p, "float64")
    y, cache, _ = _forward(layer, p, x)
    R = np.random.default_rng(6).normal(size=tuple(y.shape))
    dx, grads = layer.backward(p, cache, be.asarray(R, dtype="float64"))

    def f(pp, xx):
        return jnp.sum(_jax_layer(layer, pp, xx) * R)

    jp = {k: jnp.asarray(v) for k, v in host_p.items()}
    assert rel_err(y, _jax_layer(layer, jp, jnp.asarray(host_x))) < 1e-12
    gp, gx = jax.grad(f, argnums=(0, 1))(jp, jnp.asarray(host_x))
    assert rel_err(dx, gx) < 1e-10
    for k in host_p:
        assert rel_err(grads[k], gp[k]) < 1e-10, k


# ------------------------------------------------------------------ torch.autograd


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is not installed in this session: the "
                               "torch.autograd cross-checks run in the torch session")


def _same_pads(size, k, s):
    """TensorFlow's SAME padding (torch's padding="same" only exists for stride 1)."""
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _torch_layer(torch, layer, p, x, state=None, training=True):
    """The layer with torch.nn.functional on channels-first tensors (x is NHWC; so is y)."""
    F = torch.nn.functional
    if isinstance(layer, L.BatchNorm):
        if x.ndim == 2:
            return F.batch_norm(x, state["running_mean"], state["running_var"], p["gamma"], p["beta"],
                                training=training, momentum=layer.momentum, eps=layer.eps)
        y = F.batch_norm(x.permute(0, 3, 1, 2), state["running_mean"], state["running_var"], p["gamma"],
                         p["beta"], training=training, momentum=layer.momentum, eps=layer.eps)
        return y.permute(0, 2, 3, 1)
    if isinstance(layer, L.Reshape):
        return torch.reshape(x, (x.shape[0], *layer.shape))
    if isinstance(layer, L.GlobalAvgPool2D):
        return F.adaptive_avg_pool2d(x.permute(0, 3, 1, 2), 1)[:, :, 0, 0]
    xc = x.permute(0, 3, 1, 2)
    if isinstance(layer, L.Conv2D):
        w = p["W"].permute(0, 3, 1, 2)  # anynet (out, kh, kw, in) -> torch (out, in, kh, kw)
        kh, kw = w.shape[2:]
        s = layer.stride
        sh, sw = (s, s) if isinstance(s, int) else s
        pad = layer.padding
        if pad == "same" and (sh, sw) == (1, 1):
            padding = "same"
        elif pad == "same":
            (t, b), (lft, r) = _same_pads(xc.shape[2], kh, sh), _same_pads(xc.shape[3], kw, sw)
            xc, padding = F.pad(xc, (lft, r, t, b)), 0
        else:
            padding = 0 if pad == "valid" else pad
        y = F.conv2d(xc, w, p.get("b"), stride=(sh, sw), padding=padding)
    elif isinstance(layer, L.MaxPool2D):
        y = F.max_pool2d(xc, layer.pool_size, layer.stride)
    elif isinstance(layer, L.AvgPool2D):
        y = F.avg_pool2d(xc, layer.pool_size, layer.stride)
    else:
        raise NotImplementedError(type(layer).__name__)
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize(("layer", "shape"), CASES, ids=IDS)
def test_forward_and_gradients_equal_torch_autograd(layer, shape, be, torch):
    from . import torch_reference as ref

    host_x, host_p = _inputs(shape, seed=7), _params(layer, seed=8)
    x, p = be.asarray(host_x, dtype="float64"), _on(be, host_p, "float64")
    host_s = layer.init_state() if getattr(layer, "stateful", False) else None
    y, cache, state = _forward(layer, p, x, state=None if host_s is None else _on(be, host_s, "float64"))
    dy = np.random.default_rng(9).normal(size=tuple(y.shape))
    dx, grads = layer.backward(p, cache, be.asarray(dy, dtype="float64"))

    xt, pt = ref.tensor(host_x, grad=True), {k: ref.tensor(v, grad=True) for k, v in host_p.items()}
    st = None if host_s is None else {k: ref.tensor(v) for k, v in host_s.items()}
    yt = _torch_layer(torch, layer, pt, xt, st)
    dxt, *dps = torch.autograd.grad(torch.sum(yt * ref.tensor(dy)), [xt, *pt.values()])
    assert rel_err(y, yt.detach().numpy()) < 1e-12
    assert rel_err(dx, dxt.numpy()) < 1e-10
    for k, g in zip(pt, dps):
        assert rel_err(grads[k], g.numpy()) < 1e-10, k
    for k in st or {}:  # torch updated its running buffers in place; anynet returned new ones
        assert rel_err(state[k], st[k].numpy()) < 1e-12, k


def test_batchnorm_evaluation_equals_torch(be, torch):
    from . import torch_reference as ref

    bn = L.BatchNorm(2, momentum=0.3, eps=1e-3)
    host_x, host_p = _inputs((3, 4, 2), seed=10), _params(bn, seed=11)
    host_s = {"running_mean": np.asarray([0.5, -1.0]), "running_var": np.asarray([2.0, 0.3])}
    x, p, s = be.asarray(host_x, dtype="float64"), _on(be, host_p, "float64"), _on(be, host_s, "float64")
    y, cache, s2 = bn.forward(p, x, training=False, state=s)
    assert s2 is s  # evaluation: the state comes back unchanged
    dy = np.random.default_rng(12).normal(size=tuple(y.shape))
    dx, grads = bn.backward(p, cache, be.asarray(dy, dtype="float64"))
    xt, pt = ref.tensor(host_x, grad=True), {k: ref.tensor(v, grad=True) for k, v in host_p.items()}
    yt = _torch_layer(torch, bn, pt, xt, {k: ref.tensor(v) for k, v in host_s.items()}, training=False)
    dxt, *dps = torch.autograd.grad(torch.sum(yt * ref.tensor(dy)), [xt, *pt.values()])
    assert rel_err(y, yt.detach().numpy()) < 1e-12
    assert rel_err(dx, dxt.numpy()) < 1e-10
    for k, g in zip(pt, dps):
        assert rel_err(grads[k], g.numpy()) < 1e-10, k


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), (1, "same"), (2, "valid")])
def test_torch_conv2d_weights_give_the_same_outputs(stride, padding, be, torch):
    """A trained torch model's weights: from_torch_conv2d_weight, NCHW vs NHWC."""
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 5, 3, stride=stride, padding=padding, dtype=torch.float64)
    x = np.random.default_rng(13).normal(size=(2, 9, 8, 3))
    with torch.no_grad():
        want = net(torch.as_tensor(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    conv = L.Conv2D(3, 5, 3, stride=stride, padding=padding)
    host = L.from_torch_conv2d_weight(net.weight, net.bias)
    assert host["W"].shape == (5, 3, 3, 3) and host["b"].shape == (5,)
    y = conv({k: be.asarray(v, dtype="float64") for k, v in host.items()}, be.asarray(x, dtype="float64"))
    assert rel_err(y, want) < 1e-12
    np.testing.assert_array_equal(L.to_torch_conv2d_weight(host["W"]), net.weight.detach().numpy())
    assert "b" not in L.from_torch_conv2d_weight(net.weight)


# ------------------------------------------------------------------ ties in max pooling


def _first_max_gradient(x, k, s, dy):
    """Max-pool gradient by loops: the first maximum of each window (row by row) gets dy."""
    n, h, w, c = x.shape
    dx = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for i in range((h - k) // s + 1):
                for j in range((w - k) // s + 1):
                    win = x[b, i * s:i * s + k, j * s:j * s + k, ch].ravel()
                    r, q = divmod(int(np.flatnonzero(win == win.max())[0]), k)
                    dx[b, i * s + r, j * s + q, ch] += dy[b, i, j, ch]
    return dx


@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 2), (2, 1)])
def test_max_pool_ties_go_to_the_first_maximum_on_every_backend(k, s, be):
    rng = np.random.default_rng(14)
    x = rng.integers(0, 3, size=(2, 6, 7, 2)).astype(np.float64)  # three values: many ties
    x[0, :, :, 0] = 1.0  # a constant channel: every window is one big tie
    pool = L.MaxPool2D(k, stride=s)
    y, cache = pool.forward({}, be.asarray(x, dtype="float32"))
    dy = rng.normal(size=tuple(y.shape))
    dx, _ = pool.backward({}, cache, be.asarray(dy, dtype="float32"))
    want = _first_max_gradient(x, k, s, dy)
    assert_close(dx, want, be, dtype="float32", rtol=1e-6, atol=1e-6)
    assert np.count_nonzero(to_numpy(dx)[0, :, :, 0]) == min(y.shape[1] * y.shape[2],
                                                             np.count_nonzero(want[0, :, :, 0]))


@pytest.mark.parametrize("cls", [L.MaxPool2D, L.AvgPool2D])
@pytest.mark.parametrize("k", [2, 3, (2, 3)])
def test_tiled_pooling_equals_the_gather_path(cls, k, be, monkeypatch):
    """Windows that tile the image (stride = pool size) take the reshape path; it gives the
    gather path's numbers exactly, ties and dropped edge rows/columns included."""
    rng = np.random.default_rng(18)
    x = be.asarray(rng.integers(0, 3, size=(2, 7, 8, 3)).astype(np.float32), dtype="float32")
    pool = cls(k)
    out = []
    for tiled in (True, False):
        monkeypatch.setattr(cls, "tiled", tiled)
        y, cache = pool.forward({}, x, training=True)
        # the path taken shows in the cache: the tiled one keeps no gather tables
        assert len(cache) == {(L.MaxPool2D, True): 3, (L.MaxPool2D, False): 4,
                              (L.AvgPool2D, True): 2, (L.AvgPool2D, False): 3}[cls, tiled]
        dy = be.asarray(np.random.default_rng(19).normal(size=tuple(y.shape)), dtype="float32")
        dx, _ = pool.backward({}, cache, dy)
        out.append((to_numpy(y), to_numpy(dx)))
    (y1, dx1), (y2, dx2) = out
    assert y1.shape == y2.shape and dx1.shape == dx2.shape == tuple(x.shape)
    rtol = 0.0 if cls is L.MaxPool2D else 1e-6  # max picks values; a mean may add in another order
    np.testing.assert_allclose(y1, y2, rtol=rtol, atol=0)
    np.testing.assert_allclose(dx1, dx2, rtol=rtol, atol=0)


def test_max_pool_ties_match_torch(be, torch):
    x = np.random.default_rng(15).integers(0, 2, size=(2, 6, 6, 3)).astype(np.float64)
    pool = L.MaxPool2D(3, stride=1)
    y, cache = pool.forward({}, be.asarray(x, dtype="float64"))
    dy = np.random.default_rng(16).normal(size=tuple(y.shape))
    dx, _ = pool.backward({}, cache, be.asarray(dy, dtype="float64"))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt.permute(0, 3, 1, 2), 3, 1).permute(0, 2, 3, 1)
    (dxt,) = torch.autograd.grad(torch.sum(yt * torch.tensor(dy)), [xt])
    assert rel_err(dx, dxt.numpy()) < 1e-12


def test_max_pool_gradcheck_with_ties_among_the_losers(be):
    """Tied non-maximal values get no gradient and finite differences agree (a tied maximum
    itself has no derivative: there the rule above decides)."""
    x = np.random.default_rng(17).normal(size=(2, 6, 6, 2)) + 5.0
    x[:, ::2, ::2, :] = 0.0  # in every 2x2 window the top-left entry is below the rest...
    x[:, 1::2, 1::2, :] = 0.0  # ...and ties with the bottom-right one
    assert an.gradcheck(L.MaxPool2D(2), be.asarray(x, dtype="float64")) < 1e-7


# ------------------------------------------------------------------ jax.jit


@pytest.mark.parametrize(("layer", "shape"), CASES, ids=IDS)
def test_forward_backward_under_jax_jit(layer, shape, be):
    if be.name != "jax":
        pytest.skip("jax.jit runs on the jax backend (nox -s 'tests(backend=\"jax\")')")
    import jax

    x = be.asarray(_inputs(shape), dtype="float32")
    p = _on(be, _params(layer), "float32")
    state = _on(be, layer.init_state(), "float32") if getattr(layer, "stateful", False) else None

    def run(p, x, state):
        y, cache, new_state = _forward(layer, p, x, state=state)
        return y, new_state, layer.backward(p, cache, y)

    eager = run(p, x, state)
    compiled = jax.jit(run)(p, x, state)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(compiled)):
        assert_close(b, to_numpy(a), be, rtol=1e-5, atol=1e-6)


def test_compiled_conv_step_has_a_gather_and_no_scatter(be):
    if be.name != "jax":
        pytest.skip("jax.jit runs on the jax backend")
    import jax

    conv = L.Conv2D(2, 3, 3, padding=1)
    p = _on(be, _params(conv), "float32")
    x = be.asarray(_inputs((6, 6, 2)), dtype="float32")

    def step(p, x):
        y, cache = conv.forward(p, x)
        return conv.backward(p, cache, y)

    hlo = jax.jit(step).lower(p, x).as_text()
    assert "gather" in hlo and "scatter" not in hlo


# ------------------------------------------------------------------ a small CNN, whole


def test_a_small_cnn_in_sequential_has_correct_gradients(be):
    """Not BatchNorm (Sequential has no layer state yet): the rest, composed, by finite differences."""
    model = an.Sequential([L.Reshape((6, 6, 1)), L.Conv2D(1, 2, 3, padding="same"), L.Tanh(),
                           L.MaxPool2D(2), L.Conv2D(2, 3, 2), L.AvgPool2D(2, stride=1),
                           L.GlobalAvgPool2D(), L.Linear(3, 4)], seed=0, dtype="float64", backend=be)
    assert model.output_shape == (4,)
    x = np.random.default_rng(18).normal(size=(3, 36))
    t = np.asarray([0, 3, 1])
    err = an.gradcheck(model, x, t, loss=an.losses.SoftmaxCrossEntropy())
    assert err < 1e-7


def test_a_cnn_whose_conv_and_pool_run_as_one_step_has_correct_gradients(be):
    """Conv2D -> MaxPool2D pairs, which the engine runs as one step (an odd size: the dropped
    row and column; padding and stride in the second), by finite differences. (With a ReLU
    between them, central differences straddle its kink on zeros; that pairing is proven
    equal to the layers as written, bit for bit, in tests/test_cnn.py.)"""
    stack = [L.Reshape((7, 7, 1)), L.Conv2D(1, 2, 2), L.MaxPool2D(2),
             L.Conv2D(2, 3, 3, stride=2, padding=1), L.MaxPool2D(2), L.Flatten(), L.Linear(3, 4)]
    model = an.Sequential(stack, seed=0, dtype="float64", backend=be)
    assert len(model.engine._fused) == 2  # both pairs really run as one step
    x = np.random.default_rng(19).normal(size=(3, 49))
    err = an.gradcheck(model, x, np.asarray([0, 3, 1]), loss=an.losses.SoftmaxCrossEntropy())
    assert err < 1e-7


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        (L.Conv2D(3, 8, 3), (28, 28, 1),
         r"expects images of shape \(N, H, W, 3\) \(Conv2D: channels last, in_channels=3\), "
         r"but receives \(N, 28, 28, 1\)"),
        (L.Conv2D(1, 8, 3), (784,), r"expects images of shape \(N, H, W, 1\) \(Conv2D.*receives \(N, 784\)"),
        (L.Conv2D(1, 8, 5, padding=1), (2, 6, 1),
         r"expects images of at least 3x3 pixels \(Conv2D: kernel 5x5, padding \(1, 1, 1, 1\) "
         r"top/bottom/left/right\), shape \(N, >=3, >=3, 1\), but receives \(N, 2, 6, 1\)"),
        (L.MaxPool2D(3), (2, 8, 4), r"expects images of at least 3x3 pixels \(MaxPool2D: pool 3x3\).*"
         r"receives \(N, 2, 8, 4\)"),
        (L.AvgPool2D(2), (4, 8, 4, 1),
         r"expects images of shape \(N, H, W, C\) \(AvgPool2D.*receives \(N, 4, 8, 4, 1\)"),
        (L.GlobalAvgPool2D(), (10,),
         r"expects images of shape \(N, H, W, C\) \(GlobalAvgPool2D: channels last\), but receives \(N, 10\)"),
        (L.BatchNorm(4), (8, 8, 3), r"expects inputs of shape \(N, \.\.\., 4\) \(BatchNorm: num_features=4.*"
         r"receives \(N, 8, 8, 3\)"),
        (L.Reshape((8, 8, 1)), (60,), r"expects inputs with 64 values per sample \(Reshape to "
         r"\(N, 8, 8, 1\)\), but receives \(N, 60\) = 60 values"),
    ],
)
def test_bad_shapes_name_the_layer_and_both_shapes(layer, shape, message, be):
    with pytest.raises(ValueError, match=message):
        layer.output_shape(shape)
    # the same words from forward, when the layer is called on its own
    x = be.asarray(np.zeros((2, *shape)), dtype="float32")
    p = _on(be, _params(layer), "float32")
    with pytest.raises(ValueError, match=message):
        _forward(layer, p, x)
    with pytest.raises(ValueError, match=r"Sequential: layer 1 \(" + type(layer).__name__ + r"\(.*does not fit: it "
                       + message):
        an.Sequential([L.ReLU(), layer], input_shape=shape, backend=be)


def test_forward_on_a_batch_of_the_wrong_rank_says_so(be):
    with pytest.raises(ValueError, match=r"Conv2D: expects a batch of images \(N, H, W, 1\), but receives "
                       r"an array of shape \(28, 28, 1\)"):
        L.Conv2D(1, 2, 3).forward(_on(be, _params(L.Conv2D(1, 2, 3)), "float32"),
                                  be.asarray(np.zeros((28, 28, 1)), dtype="float32"))
    with pytest.raises(ValueError, match=r"BatchNorm: training needs more than one value per feature"):
        L.BatchNorm(3).forward(_on(be, _params(L.BatchNorm(3)), "float32"),
                               be.asarray(np.zeros((1, 3)), dtype="float32"), training=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: L.Conv2D(0, 3, 3), "Conv2D: in_channels must be a positive int, got 0"),
        (lambda: L.Conv2D(1, 3, 0), r"Conv2D: kernel_size must be an int >= 1 or a pair of them, got 0"),
        (lambda: L.Conv2D(1, 3, 3, stride=(1, 2, 3)), r"Conv2D: stride must be an int >= 1 .*\(1, 2, 3\)"),
        (lambda: L.Conv2D(1, 3, 3, padding="full"), r"Conv2D: padding must be an int >= 0 .*'full'"),
        (lambda: L.Conv2D(1, 3, 3, weight_init="magic"), "Conv2D: weight_init must be one of"),
        (lambda: L.MaxPool2D(0), r"MaxPool2D: pool_size must be an int >= 1"),
        (lambda: L.AvgPool2D(2, stride=0), r"AvgPool2D: stride must be an int >= 1"),
        (lambda: L.BatchNorm(3, momentum=1.5), r"BatchNorm: momentum must be a number in \[0, 1\]"),
        (lambda: L.BatchNorm(3, eps=0.0), "BatchNorm: eps must be a positive number"),
        (lambda: L.Reshape((2, -1, -1)), "Reshape: shape must be a tuple of positive ints with at most one -1"),
    ],
)
def test_bad_configs_say_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_configs_survive_json_lists():
    """A saved config comes back from JSON with lists where tuples were."""
    for layer in (L.Conv2D(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)), L.MaxPool2D((2, 3), stride=(1, 2)),
                  L.Reshape((8, 8, 1))):
        cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in layer.get_config().items()}
        again = type(layer)(**cfg)
        assert again == layer and hash(again) == hash(layer)


def test_weight_layout_is_the_lectures_out_by_in():
    """W (out, kh, kw, in) seen as (out, kh*kw*in) is a Linear weight over channels-last patches."""
    conv = L.Conv2D(2, 3, 2)
    p = _params(conv)
    x = _inputs((2, 2, 2), n=4)  # one patch per image: the conv is Linear on the flattened image
    y = conv(p, x)
    lin = L.Linear(8, 3)
    want = lin({"W": p["W"].reshape(3, 8), "b": p["b"]}, x.reshape(4, 8))
    np.testing.assert_allclose(y.reshape(4, 3), want, rtol=1e-12)


def test_a_saved_cnn_loads_with_the_same_layers_and_outputs(be, tmp_path):
    """Tuples in the configs (kernel_size, stride, padding, shape) come back from the JSON file."""
    layers = [L.Reshape((6, 6, 1)), L.Conv2D(1, 2, (3, 2), stride=(1, 2), padding=(1, 0)), L.ReLU(),
              L.MaxPool2D(2, stride=(2, 1)), L.AvgPool2D((1, 2)), L.GlobalAvgPool2D(), L.Linear(2, 3)]
    model = an.Sequential(layers, seed=3, backend=be)
    x = np.random.default_rng(19).normal(size=(4, 36)).astype(np.float32)
    model.save(tmp_path / "cnn.anynet")
    again = an.load(tmp_path / "cnn.anynet", backend=be)
    assert again.layers == model.layers
    assert_close(again.predict(x), to_numpy(model.predict(x)), be, rtol=1e-6, atol=1e-7)
