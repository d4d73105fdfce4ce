"""Property-based tests (Hypothesis) over random layer stacks, shapes, batch sizes and dtypes.

Every layer type in ``anynet.layers`` can appear, in any order that fits, on inputs of
1 to 5 samples (so batches of 1 and the whole set both occur), in float32 and float64.
For each drawn network:

* forward and backward keep shapes, dtypes and the backend (every layer's input
  gradient has its input's shape and dtype; parameter gradients have the parameters');
* the hand-written gradients equal central finite differences in float64 (< 1e-6);
* ``predict`` is the forward pass of ``fit``'s step in inference mode, at every batch size;
* one epoch of ``fit`` is the same as ``train_step`` applied batch after batch.

Finite differences disagree with any derivative at a kink (ReLU and LeakyReLU at 0,
a Maxout tie) and drown in rounding when a gradient is tiny next to the loss, so the
gradient check only uses draws away from both (``assume``). Inputs and targets come
from a drawn seed rather than drawn floats: Hypothesis then explores architectures,
not values piled onto a kink. Each property runs 16 to 60 examples (a sixth as many
on JAX, see ``examples``).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import anynet as an
from anynet import _random
from anynet.backends import to_numpy
from anynet.gradcheck import numeric_grad, relative_error

L = an.layers
losses = an.losses



def examples(be, n):
    """Hypothesis settings for ``n`` examples; a sixth as many on JAX, whose eager mode
    compiles every operation anew for each new shape (so the file stays well under a
    minute there too: the other backends run all ``n`` in seconds)."""
    return settings(max_examples=n if be.name != "jax" else max(3, n // 6), deadline=None)


# ------------------------------------------------------------------ strategies
def _elementwise(cls, **params):
    def build(draw, width):
        return cls(**{k: draw(v) for k, v in params.items()}), width

    return build


def _linear(draw, width):
    out = draw(st.integers(1, 4))
    init = draw(st.sampled_from(["he_normal", "he_uniform", "glorot_uniform", "glorot_normal", "zeros"]))
    return L.Linear(width, out, bias=draw(st.booleans()), weight_init=init), out


def _maxout(draw, width):
    out = draw(st.integers(1, 4))
    return L.Maxout(width, out, draw(st.integers(1, 3))), out


def _dropout(draw, width):
    return L.Dropout(draw(st.sampled_from([0.0, 0.25, 0.5]))), width


def _flatten(draw, width):
    return L.Flatten(), width


def _image(draw, width, *, min_pixels=1):
    """A Linear to h*w*c features and a Reshape to a channels-last (h, w, c) image."""
    while True:
        h, w, c = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
        if h * w >= min_pixels:
            break
    return [L.Linear(width, h * w * c), L.Reshape((h, w, c))], (h, w, c)


def _on_images(make, min_pixels=1):
    """An image layer inside a stack of rows: Linear, Reshape to an image, the layer, Flatten."""
    def build(draw, width):
        head, (h, w, c) = _image(draw, width, min_pixels=min_pixels)
        layer = make(draw, h, w, c)
        out = layer.output_shape((h, w, c))
        tail = [L.Flatten()] if len(out) > 1 else []
        return [*head, layer, *tail], math.prod(out)

    return build


def _conv(draw, h, w, c):
    padding = draw(st.sampled_from([0, 1, "same", "valid", (1, 0)]))
    ph, pw = {0: (0, 0), 1: (1, 1), "valid": (0, 0), (1, 0): (1, 0)}.get(padding, (h, w))
    kh, kw = draw(st.integers(1, min(3, h + 2 * ph))), draw(st.integers(1, min(3, w + 2 * pw)))
    return L.Conv2D(c, draw(st.integers(1, 3)), (kh, kw), stride=draw(st.sampled_from([1, 2, (1, 2)])),
                    padding=padding, bias=draw(st.booleans()))


def _pool(cls):
    def make(draw, h, w, c):
        size = (draw(st.integers(1, min(2, h))), draw(st.integers(1, min(2, w))))
        return cls(size, stride=draw(st.sampled_from([None, 1])))

    return _on_images(make)


#: How to draw each layer type inside a stack of (N, width) activations (an image layer
#: comes with the Linear and Reshape that make its image, and the Flatten after it).
BUILDERS = {
    "Linear": _linear,
    "Maxout": _maxout,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Sigmoid": _elementwise(L.Sigmoid),
    "Tanh": _elementwise(L.Tanh),
    "ReLU": _elementwise(L.ReLU),
    "LeakyReLU": _elementwise(L.LeakyReLU, negative_slope=st.sampled_from([0.01, 0.2, -0.5])),
    "ELU": _elementwise(L.ELU, alpha=st.sampled_from([1.0, 0.5])),
    "GELU": _elementwise(L.GELU),
    "Softplus": _elementwise(L.Softplus),
    "Softmax": _elementwise(L.Softmax),
    "Reshape": lambda draw, width: ([L.Reshape((1, width)), L.Flatten()], width),
    "Conv2D": _on_images(_conv),
    "MaxPool2D": _pool(L.MaxPool2D),
    "AvgPool2D": _pool(L.AvgPool2D),
    "GlobalAvgPool2D": _on_images(lambda draw, h, w, c: L.GlobalAvgPool2D()),
    # batch statistics need two values per channel even for a batch of one: h*w >= 2
    "BatchNorm": _on_images(lambda draw, h, w, c: L.BatchNorm(c, momentum=draw(st.sampled_from([0.1, 0.5]))),
                            min_pixels=2),
}

LOSSES = ["MSE", "SoftmaxCrossEntropy", "BinaryCrossEntropy"]


@st.composite
def problems(draw, dtypes=("float32", "float64")):
    """A network, data for it, a smooth loss and targets: everything from draws."""
    if draw(st.booleans()):  # images: (N, h, w), flattened first
        sample = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
        layers, width = [L.Flatten()], math.prod(sample)
    else:
        width = draw(st.integers(1, 4))
        sample, layers = (width,), []
    for _ in range(draw(st.integers(1, 5))):
        layer, width = BUILDERS[draw(st.sampled_from(sorted(BUILDERS)))](draw, width)
        layers.extend(layer if isinstance(layer, list) else [layer])
    n_out = draw(st.integers(1, 3))
    layers.append(L.Linear(width, n_out))
    if draw(st.booleans()):  # sometimes an activation on the output too
        name = draw(st.sampled_from(["Sigmoid", "Tanh", "Softmax", "Softplus", "GELU"]))
        layers.append(BUILDERS[name](draw, n_out)[0])
    loss = draw(st.sampled_from(LOSSES if n_out > 1 else ["MSE", "BinaryCrossEntropy"]))
    return {
        "layers": layers,
        "sample": sample,
        "n_out": n_out,
        "n": draw(st.integers(1, 5)),
        "dtype": draw(st.sampled_from(dtypes)),
        "loss": loss,
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build(be, p):
    """The model (parameters jittered away from init: biases non-zero), x and t (host)."""
    rng = np.random.default_rng(p["seed"])
    model = an.Sequential(p["layers"], seed=p["seed"] % 1000, dtype=p["dtype"], backend=be,
                          input_shape=p["sample"])
    model.params = [{k: be.asarray(to_numpy(v) + 0.3 * rng.normal(size=tuple(v.shape)), dtype=p["dtype"])
                     for k, v in d.items()} for d in model.params]
    n, n_out = p["n"], p["n_out"]
    x = rng.normal(size=(n, *p["sample"]))
    if p["loss"] == "SoftmaxCrossEntropy":
        t = rng.integers(0, n_out, size=n)
    elif p["loss"] == "BinaryCrossEntropy":
        t = rng.uniform(size=(n, n_out))
    else:
        t = rng.normal(size=(n, n_out))
    return model, x, t, getattr(losses, p["loss"])()


def on_backend(be, model, x, t):
    X = be.asarray(x, dtype=model.dtype)
    T = be.asarray(t, dtype=be.default_int() if t.dtype.kind == "i" else model.dtype)
    return X, T


def stochastic(model):
    """Training mode differs from inference mode: dropout, or batch statistics (BatchNorm)."""
    return any(layer.stochastic or layer.stateful for layer in model.layers)


def same(a, b, be, dtype, *, exact):
    """Equal bit for bit where the same operations run in the same order; within a few
    rounding errors where they may not (XLA fuses a jitted function differently)."""
    a, b = to_numpy(a), to_numpy(b)
    if exact and be.name != "jax":
        np.testing.assert_array_equal(a, b)
    else:
        rtol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_the_strategy_draws_every_layer_type():
    public = {name for name, obj in vars(L).items()
              if isinstance(obj, type) and issubclass(obj, L.Layer) and obj is not L.Layer}
    assert set(BUILDERS) == public


# ------------------------------------------------------------------ shapes and dtypes
def test_forward_and_backward_keep_shapes_dtypes_and_backend(be):
    @examples(be, 40)
    @given(p=problems())
    def prop(p):
        model, x, t, loss = build(be, p)
        X, T = on_backend(be, model, x, t)
        xp, dt, n = be.xp, be.dtype(p["dtype"]), p["n"]
        key = _random.key_from_seed(p["seed"] % 1000, xp=xp)

        y, caches = model.forward(model.params, X, training=True, key=key)
        assert be.owns(y) and y.dtype == dt and tuple(y.shape) == (n, *model.output_shape)
        dy = be.asarray(np.random.default_rng(0).normal(size=tuple(y.shape)), dtype=p["dtype"])
        grads = model.backward(model.params, caches, dy)
        assert len(grads) == len(model.params)
        for g, q in zip(grads, model.params):
            assert set(g) == set(q)
            for k in q:
                assert be.owns(g[k]) and g[k].dtype == dt and tuple(g[k].shape) == tuple(q[k].shape)

        h, shape = X, p["sample"]
        for i, (layer, q) in enumerate(zip(model.layers, model.params)):
            k = _random.fold_in(key, i, xp=xp) if layer.stochastic else None
            if layer.stateful:  # forward(..., state=) -> (y, cache, new_state)
                out, cache, _ = layer.forward(q, h, training=True, key=k, xp=xp, state=model.state[i])
            else:
                out, cache = layer.forward(q, h, training=True, key=k, xp=xp)
            shape = layer.output_shape(shape)
            assert out.dtype == dt and tuple(out.shape) == (n, *shape), (i, layer)
            dh, _ = layer.backward(q, cache, xp.ones_like(out), need_dx=True, xp=xp)
            assert be.owns(dh) and dh.dtype == dt and tuple(dh.shape) == tuple(h.shape), (i, layer)
            h = out

        value, dy_loss = loss.value_and_grad(y, T)
        assert value.dtype == dt and tuple(value.shape) == () and math.isfinite(float(value))
        assert dy_loss.dtype == dt and tuple(dy_loss.shape) == tuple(y.shape)

    prop()


# ------------------------------------------------------------------ gradient check
def kink_margin(model, X, key):
    """The smallest distance of a ReLU/LeakyReLU input from 0 and of a Maxout winner from
    its runner-up. Exact zeros are left out: they are units a dropout mask zeroed, which no
    parameter perturbation moves (and random values are never exactly 0 otherwise)."""
    xp = model.backend.xp
    h, margin = X, math.inf
    for i, (layer, q) in enumerate(zip(model.layers, model.params)):
        if isinstance(layer, (L.ReLU, L.LeakyReLU)):
            v = np.abs(to_numpy(h))
            if (v > 0).any():
                margin = min(margin, float(v[v > 0].min()))
        elif isinstance(layer, L.MaxPool2D):  # the winner of each window vs its runner-up
            kh, kw = (layer.pool_size,) * 2 if isinstance(layer.pool_size, int) else layer.pool_size
            sh, sw = (kh, kw) if layer.stride is None else (layer.stride,) * 2
            if kh * kw > 1:
                v = np.lib.stride_tricks.sliding_window_view(to_numpy(h), (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
                v = np.sort(v.reshape(*v.shape[:4], kh * kw), axis=-1)
                margin = min(margin, float((v[..., -1] - v[..., -2]).min()))
        elif isinstance(layer, L.Maxout) and layer.pieces > 1:
            z = np.einsum("koi,ni->nko", to_numpy(q["W"]), to_numpy(h)) + to_numpy(q["b"])[None]
            top = np.sort(z, axis=1)
            margin = min(margin, float((top[:, -1] - top[:, -2]).min()))
        k = _random.fold_in(key, i, xp=xp) if layer.stochastic else None
        extra = {"state": model.state[i]} if layer.stateful else {}
        h = layer.forward(q, h, training=True, key=k, xp=xp, **extra)[0]
    return margin


def input_gradient(model, X, T, loss, key):
    """dL/dx through every layer's hand-written backward pass (``Sequential.backward``
    skips layer 0's, which training never needs)."""
    y, caches = model.forward(model.params, X, training=True, key=key)
    _, d = loss.value_and_grad(y, T)
    for i in range(len(model.layers) - 1, -1, -1):
        d, _ = model.layers[i].backward(model.params[i], caches[i], d, need_dx=True)
    return d


def test_gradients_equal_finite_differences_in_float64(be):
    @examples(be, 60)
    @given(p=problems(dtypes=("float64",)))
    def prop(p):
        model, x, t, loss = build(be, p)
        X, T = on_backend(be, model, x, t)
        key = _random.key_from_seed(0, xp=be.xp)  # the key an.gradcheck uses (seed=0)
        assume(kink_margin(model, X, key) > 1e-4)
        value, grads, _ = model.value_and_grads(model.params, X, T, loss=loss, key=key)
        dx = input_gradient(model, X, T, loss, key)
        scales = [float(np.abs(to_numpy(g)).max()) for g in [dx, *(g for d in grads for g in d.values())]]
        # a gradient far below the loss is below what float64 differences can resolve
        assume(all(s == 0.0 or s > 1e-3 * max(1.0, abs(float(value))) for s in scales))

        errors = an.gradcheck(model, x, t, loss=loss, details=True)  # every parameter
        # and the input: this checks the backward pass of layers that come before any parameter
        def f(xx):
            return float(model.value_and_grads(model.params, xx, T, loss=loss, key=key)[0])

        errors["x"] = relative_error(dx, numeric_grad(f, X, be))
        assert max(errors.values()) < 1e-6, (errors, model.layers)

    prop()


# ------------------------------------------------------------------ predict is fit's forward pass
def test_predict_is_the_forward_pass_of_fits_step(be):
    @examples(be, 30)
    @given(p=problems(), batch=st.sampled_from(["one", "some", "all"]))
    def prop(p, batch):
        model, x, t, loss = build(be, p)
        X, T = on_backend(be, model, x, t)
        n = p["n"]
        y_forward, _ = model.forward(model.params, X)  # inference mode: dropout off
        y_predict = model.predict(x)
        assert be.owns(y_predict) and y_predict.dtype == be.dtype(p["dtype"])
        same(y_predict, y_forward, be, p["dtype"], exact=True)
        size = {"one": 1, "some": max(1, n // 2), "all": n}[batch]
        same(model.predict(x, batch_size=size), y_forward, be, p["dtype"], exact=False)

        # the step fit runs computes its output with the same forward pass
        _, _, y_eval = model.value_and_grads(model.params, X, T, loss=loss, training=False)
        same(y_eval, y_forward, be, p["dtype"], exact=True)
        if not stochastic(model):  # no dropout: training mode is inference mode
            _, _, y_train = model.value_and_grads(model.params, X, T, loss=loss)
            same(y_train, y_forward, be, p["dtype"], exact=True)

    prop()


# ------------------------------------------------------------------ fit is train_step, batch by batch
def test_one_epoch_of_fit_is_train_step_batch_after_batch(be):
    @examples(be, 16)
    @given(p=problems(), batch=st.sampled_from(["one", "some", "all"]))
    def prop(p, batch):
        model, x, t, loss = build(be, p)
        X, T = on_backend(be, model, x, t)
        n = p["n"]
        size = {"one": 1, "some": max(1, (n + 1) // 2), "all": n}[batch]
        opt = an.optim.SGD(lr=0.05, momentum=0.5)
        step = model.train_step(loss=loss, optimizer=opt, seed=1, jit=False)
        params, state = model.params, opt.init(model.params)
        layer_state = model.state  # BatchNorm's running statistics: a fifth argument and result
        stateful = any(layer.stateful for layer in model.layers)
        for i in range(0, n, size):
            j = min(n, i + size)
            if stateful:
                params, state, _, layer_state = step(params, state, X[i:j, ...], T[i:j, ...], layer_state)
            else:
                params, state, _ = step(params, state, X[i:j, ...], T[i:j, ...])

        hist = model.fit(x, t, loss=loss, optimizer=opt, epochs=1, batch_size=size, shuffle=False, seed=1,
                         verbose=0)
        assert math.isfinite(hist.history["loss"][0])
        for got, want in zip(model.params, params):
            assert set(got) == set(want)
            for k in want:
                assert got[k].dtype == want[k].dtype and tuple(got[k].shape) == tuple(want[k].shape)
                rtol = 1e-5 if p["dtype"] == "float32" else 1e-10
                np.testing.assert_allclose(to_numpy(got[k]), to_numpy(want[k]), rtol=rtol, atol=rtol)
        for got, want in zip(model.state, layer_state):  # and fit updated the running statistics alike
            assert set(got) == set(want)
            for k in want:
                rtol = 1e-5 if p["dtype"] == "float32" else 1e-10
                np.testing.assert_allclose(to_numpy(got[k]), to_numpy(want[k]), rtol=rtol, atol=rtol)

    prop()
