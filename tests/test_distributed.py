"""Data-parallel training over several devices (JAX sharding): the same numbers as one device.

Runs in the ``distributed`` nox session, on JAX with 4 simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4`` before JAX starts); skipped,
with the reason, anywhere with fewer devices.
"""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy
from anynet.engine import TrainConfig
from anynet.gradcheck import relative_error
from anynet.train import training_data

L = an.layers
N_DEVICES = 4


@pytest.fixture(autouse=True)
def _four_devices(be):
    if be.name != "jax":
        pytest.skip("data-parallel training runs on JAX (the distributed nox session)")
    n = len(be.visible_devices())
    if n < N_DEVICES:
        pytest.skip(f"needs {N_DEVICES} JAX devices, this process sees {n} (set XLA_FLAGS="
                    f"--xla_force_host_platform_device_count={N_DEVICES} before JAX starts: nox -s distributed)")


def blobs(n=200, seed=0):
    return an.datasets.make_blobs(n, noise=0.3, seed=seed)


def fit(devices, dtype, layers=None, epochs=3, **kw):
    x, t = blobs()
    model = an.Sequential(layers or L.mlp(2, (16, 8), 3, dropout=0.2), seed=0, dtype=dtype, backend="jax",
                          devices=devices)
    hist = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.01),
                     epochs=epochs, batch_size=32, seed=1, verbose=0, **kw)
    return model, hist


@pytest.mark.parametrize(("dtype", "tol"), [("float64", 1e-10), ("float32", 1e-5)])
def test_data_parallel_fit_equals_one_device(dtype, tol, be):
    one, h1 = fit(None, dtype)
    four, h4 = fit(N_DEVICES, dtype)
    assert len(four.backend.devices) == N_DEVICES and len(one.backend.devices) == 1
    assert "NamedSharding" in type(four.params[0]["W"].sharding).__name__
    err = max(relative_error(p[k], q[k]) for p, q in zip(four.params, one.params) for k in p)
    assert err <= tol, err
    np.testing.assert_allclose(h4.history["loss"], h1.history["loss"], rtol=tol)
    assert h4.history["accuracy"] == h1.history["accuracy"]
    assert h4.params["devices"] == [str(d) for d in four.backend.devices] and h4.params["per_device_batch"] == 8


def cnn_fit(devices, dtype):
    """A CNN with BatchNorm on 6x6x1 images: batch statistics over the whole (sharded) batch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(192, 36))
    t = (x[:, :18].sum(axis=1) > 0).astype(np.int64) + (x[:, 0] > 1.0)
    layers = [L.Reshape((6, 6, 1)), L.Conv2D(1, 4, 3, padding="same", bias=False), L.BatchNorm(4), L.ReLU(),
              L.MaxPool2D(2), L.Flatten(), L.Linear(36, 3)]
    model = an.Sequential(layers, seed=0, dtype=dtype, backend="jax", devices=devices)
    hist = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.01), epochs=2,
                     batch_size=32, seed=1, verbose=0)
    return model, hist


@pytest.mark.parametrize(("dtype", "tol"), [("float64", 1e-10), ("float32", 1e-5)])
def test_data_parallel_cnn_with_batchnorm_equals_one_device(dtype, tol, be):
    one, h1 = cnn_fit(None, dtype)
    four, h4 = cnn_fit(N_DEVICES, dtype)
    assert len(four.backend.devices) == N_DEVICES and h4.params["per_device_batch"] == 8
    err = max(relative_error(p[k], q[k]) for p, q in zip(four.params, one.params) for k in p)
    assert err <= tol, err
    # the running statistics: BatchNorm's batch mean and variance are over all 32 samples, not 8
    state_err = max(relative_error(p[k], q[k]) for p, q in zip(four.state, one.state) for k in p)
    assert state_err <= tol, state_err
    assert set(four.state[2]) == {"running_mean", "running_var"}
    np.testing.assert_allclose(h4.history["loss"], h1.history["loss"], rtol=tol)
    x = np.random.default_rng(5).normal(size=(8, 36))
    assert relative_error(four.predict(x), to_numpy(one.predict(x))) <= tol


def test_the_compiled_epoch_holds_one_all_reduce_per_step(be):
    """Every gradient and the loss travel in ONE combined all-reduce inside the loop body."""
    x, t = blobs(256)
    model = an.Sequential(L.mlp(2, (16, 8), 3), seed=0, backend="jax", devices=N_DEVICES)
    loss, opt = an.losses.SoftmaxCrossEntropy(), an.optim.SGD(lr=0.1, momentum=0.9)
    X, T = training_data(model, x, t, loss)
    mb = model.backend
    batches = mb.put_batch(mb.asarray(np.arange(256).reshape(8, 32), dtype="int32"), axis=1)
    fn = model.engine.compiled("epoch", TrainConfig(loss, opt), True)
    text = fn.lower(model.params, model.state, opt.init(model.params), X, T, batches).compile().as_text()
    reduces = [line for line in text.splitlines() if " all-reduce(" in line or "all-reduce-start(" in line]
    assert len(reduces) == 1, reduces
    assert "while" in text  # the steps are one compiled loop, the all-reduce inside its body


def test_a_batch_size_that_does_not_split_is_refused(be):
    x, t = blobs(40)
    model = an.Sequential(L.mlp(2, (4,), 3), backend="jax", devices=N_DEVICES)
    with pytest.raises(ValueError, match=r"fit: batch_size=30 does not split over the model's 4 devices; use a "
                                         r"multiple of 4"):
        model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), batch_size=30,
                  verbose=0)


def test_predict_evaluate_train_step_save_and_to_work_unchanged(be, tmp_path):
    four, _ = fit(N_DEVICES, "float64", epochs=1)
    one = four.to("jax")
    assert len(one.backend.devices) == 1
    x, t = blobs(64, seed=5)
    loss = an.losses.SoftmaxCrossEntropy()
    np.testing.assert_allclose(to_numpy(four.predict(x)), to_numpy(one.predict(x)), rtol=1e-12)
    assert four.evaluate(x, t, loss=loss) == pytest.approx(one.evaluate(x, t, loss=loss), rel=1e-12)
    opt = an.optim.SGD(lr=0.1)
    step = four.train_step(loss=loss, optimizer=opt)
    xb = four.backend.put_batch(four.backend.asarray(x[:32], dtype="float64"))
    params, _, value = step(four.params, opt.init(four.params), xb, four.backend.asarray(t[:32]))
    ref, _, ref_value = one.train_step(loss=loss, optimizer=opt)(
        one.params, opt.init(one.params), one.backend.asarray(x[:32], dtype="float64"), one.backend.asarray(t[:32]))
    assert float(value) == pytest.approx(float(ref_value), rel=1e-12)
    assert relative_error(params[0]["W"], ref[0]["W"]) < 1e-12
    path = tmp_path / "dp.npz"
    four.save(path)
    back = an.load(path, backend="jax")
    np.testing.assert_array_equal(to_numpy(back.params[0]["W"]), to_numpy(four.params[0]["W"]))
    spread = one.to(devices=N_DEVICES)
    assert len(spread.backend.devices) == N_DEVICES


def test_arrays_already_on_the_devices_go_in_as_they_are(be):
    """Data the user placed with the model's own backend (replicated over the mesh, or on one of
    its devices) trains to the numbers of NumPy input; an array on a device outside the model's
    mesh is refused with both named."""
    x, t = blobs()
    loss, opt = an.losses.SoftmaxCrossEntropy(), an.optim.SGD(lr=0.1)

    def trained(X, T):
        model = an.Sequential(L.mlp(2, (16,), 3), seed=0, backend="jax", devices=2)
        model.fit(X, T, loss=loss, optimizer=opt, epochs=2, batch_size=32, seed=1, verbose=0)
        return model

    ref = trained(x, t)
    mesh_model = ref.backend
    X, T = mesh_model.put_data(x, dtype="float32"), mesh_model.put_data(t, dtype=mesh_model.default_int())
    assert len(X.devices()) == 2
    placed = trained(X, T)
    for p, q in zip(placed.params, ref.params):
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), to_numpy(q[k]))
    np.testing.assert_array_equal(to_numpy(ref.predict(X)), to_numpy(ref.predict(x)))
    jax = pytest.importorskip("jax")
    outside = jax.device_put(x, jax.devices()[3])  # the mesh is devices 0 and 1
    with pytest.raises(ValueError, match=r"predict: x is on device .*3.* but the model lives on jax devices "
                                         r".*0.*, .*1"):
        ref.predict(outside)


def test_devices_are_checked(be):
    with pytest.raises(an.BackendError, match=r"backend 'jax': devices=99 but it sees \d+"):
        an.use("jax", devices=99)
    with pytest.raises(an.BackendError, match=r"backend 'numpy' computes on one device; devices='all'"):
        an.Sequential(L.mlp(2, (4,), 3), backend="numpy", devices="all")


WORKER = """
import sys
import numpy as np
import anynet as an
an.backends.initialize_distributed(sys.argv[1], 2, int(sys.argv[2]), local_device_count=2)
import jax
jax.config.update("jax_enable_x64", True)
x, t = an.datasets.make_blobs(200, noise=0.3, seed=0)
part = slice(int(sys.argv[2]) * 100, (int(sys.argv[2]) + 1) * 100)
x, t = x[part], t[part]  # each process feeds its own half of the data set
model = an.Sequential(an.layers.mlp(2, (16, 8), 3, dropout=0.2), seed=0, dtype="float64", backend="jax",
                      devices="all")
model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.01), epochs=3,
          batch_size=32, seed=1, verbose=0)
assert len(model.backend.devices) == 4 and jax.process_count() == 2
flat = np.concatenate([np.asarray(v.addressable_data(0)).ravel() for p in model.params for v in p.values()])
np.save(sys.argv[3], flat)
"""


def test_two_processes_on_the_loopback_give_the_parameters_of_one(be, tmp_path):
    """Two processes (jax.distributed over 127.0.0.1, gloo), 2 CPU devices each, each feeding its
    own half of the data: 4 global devices training one model end with the parameters of a
    one-process, one-device run on the whole data set."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, f"127.0.0.1:{port}", str(i), str(tmp_path / f"p{i}.npy")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
    one, _ = fit(None, "float64")
    ref = np.concatenate([to_numpy(v).ravel() for p in one.params for v in p.values()])
    for i in range(2):
        got = np.load(tmp_path / f"p{i}.npy")
        assert relative_error(got, ref) <= 1e-10


def test_an_epoch_in_pieces_equals_the_whole_epoch(be, monkeypatch):
    """The bar over a long epoch's steps runs it in pieces (anynet.train._chunked_epoch): each
    piece's batches split over the devices as the whole epoch's are; the same numbers."""
    import anynet.train as train

    out = []
    for piece in (None, 2):
        monkeypatch.setattr(train, "_CHUNK_STEPS", piece)
        model, hist = fit(N_DEVICES, "float32", epochs=2)
        out.append((hist.history, [to_numpy(v) for p in model.params for v in p.values()]))
    assert out[0][0] == out[1][0]
    for a, b in zip(out[0][1], out[1][1]):
        np.testing.assert_array_equal(a, b)
