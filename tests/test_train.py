"""fit: mini-batches, reproducibility, parity of whole runs with NumPy, history, validation."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

L = an.layers
losses = an.losses


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, size=n)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centers[t] + 0.6 * rng.normal(size=(n, 2)), t


def mlp(**kw):
    return an.Sequential([L.Linear(2, 16), L.ReLU(), L.Dropout(0.1), L.Linear(16, 3)], **kw)


def test_fit_learns_and_reports_history(be):
    x, t = blobs()
    xv, tv = blobs(60, seed=1)
    model = mlp(seed=0)
    hist = model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1, momentum=0.9),
                     epochs=15, batch_size=16, validation_data=(xv, tv), seed=0, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in hist.history.values()) and hist.epoch == list(range(15))
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["val_accuracy"][-1] > 0.9
    assert hist.params["steps"] == 8  # 120 / 16 -> 7 full batches and the last partial one
    ev = model.evaluate(xv, tv, loss=losses.SoftmaxCrossEntropy())
    assert ev["accuracy"] == pytest.approx(hist.history["val_accuracy"][-1])


def test_same_seed_same_run_and_other_seed_other_run(be):
    x, t = blobs()
    runs = []
    for seed in (3, 3, 4):
        model = mlp(seed=0)
        h = model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.01), epochs=3,
                      batch_size=10, seed=seed, verbose=0)
        runs.append((h.history["loss"], to_numpy(model.params[0]["W"])))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", [an.optim.SGD(lr=0.1, momentum=0.9, nesterov=True), an.optim.Adam(lr=0.01),
                                 an.optim.RMSprop(lr=0.01, momentum=0.5)], ids=lambda o: type(o).__name__)
def test_whole_run_matches_numpy(dtype, opt, be):
    """The same seeded run (dropout included) on this backend and on NumPy."""
    x, t = blobs(64)
    out = {}
    for name in ("numpy", be):
        model = mlp(seed=1, dtype=dtype, backend=name)
        h = model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=opt, epochs=4, batch_size=8, seed=5,
                      verbose=0, regularizer=losses.L2(1e-3))
        out[str(name)] = (h.history["loss"], [to_numpy(v) for p in model.params for v in p.values()])
    (l0, p0), (l1, p1) = out["numpy"], out[str(be)]
    tol = 1e-10 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(l1, l0, rtol=tol)
    for a, b in zip(p1, p0):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_every_loss_trains_end_to_end(be):
    x, t = blobs(90)
    y2 = (t == 0).astype(float)
    cases = [
        (losses.MulticlassHinge(), 3, t),
        (losses.BinaryCrossEntropy(), 1, y2),
        (losses.Hinge(), 1, 2 * y2 - 1),
        (losses.MSE(), 1, y2),
    ]
    for loss, n_out, target in cases:
        model = an.Sequential([L.Linear(2, 8), L.Tanh(), L.Linear(8, n_out)], seed=0)
        h = model.fit(x, target, loss=loss, optimizer=an.optim.Adam(lr=0.05), epochs=10, batch_size=16,
                      verbose=0)
        assert h.history["loss"][-1] < h.history["loss"][0], loss
        if loss.correct is not losses.Loss.correct and not isinstance(loss, losses.MSE):
            assert h.history["accuracy"][-1] > 0.8, loss


def test_fit_prints_one_line_per_epoch(be, capsys):
    x, t = blobs(30)
    mlp(seed=0).fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), epochs=2,
                    batch_size=8, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2  loss ") and "accuracy" in lines[0]


def test_callback_can_stop_training(be):
    x, t = blobs(30)
    seen = []
    h = mlp(seed=0).fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), epochs=10,
                        verbose=0, callbacks=[lambda epoch, logs: seen.append(epoch) or epoch == 2])
    assert seen == [0, 1, 2] and len(h.epoch) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(batch_size=0), "fit: batch_size must be an int >= 1, got 0"),
        (dict(epochs=-1), "fit: epochs must be an int >= 0, got -1"),
        (dict(validation_data=np.ones(3)), r"fit: validation_data must be a pair \(x_val, t_val\)"),
    ],
)
def test_bad_fit_arguments_say_what_is_wrong(kwargs, message, be):
    x, t = blobs(10)
    with pytest.raises((ValueError, TypeError), match=message):
        mlp().fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(), verbose=0, **kwargs)


def test_empty_data_is_refused(be):
    with pytest.raises(ValueError, match=r"fit: x is empty \(shape \(0, 2\)\)"):
        mlp().fit(np.ones((0, 2)), np.ones(0, dtype=int), loss=losses.SoftmaxCrossEntropy(),
                  optimizer=an.optim.SGD(), verbose=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own overflow warning comes first
def test_divergence_names_epoch_and_step_and_keeps_finite_params(be):
    x, t = blobs(40)
    model = an.Sequential([L.Linear(2, 3)], seed=0)
    with pytest.raises(FloatingPointError,
                       match=r"fit: training diverged in epoch (\d+)/3, step (\d+)/5: .* keeps its parameters"):
        model.fit(x, np.eye(3)[t] * 1e3, loss=losses.MSE(), optimizer=an.optim.SGD(lr=1e6), epochs=3,
                  batch_size=8, verbose=0)
    for p in model.params:
        for v in p.values():
            assert np.isfinite(to_numpy(v)).all()


def test_fit_never_writes_into_the_callers_arrays(be):
    x, t = blobs(40)
    model = mlp(seed=0, dtype="float64")
    before = model.params
    snapshot = [{k: to_numpy(v).copy() for k, v in p.items()} for p in before]
    x_dev = be.asarray(x, dtype="float64")
    model.fit(x_dev, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.05), epochs=2,
              batch_size=8, verbose=0)
    for p, s in zip(before, snapshot):
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), s[k])
    np.testing.assert_array_equal(to_numpy(x_dev), x)
    assert not np.array_equal(to_numpy(model.params[0]["W"]), snapshot[0]["W"])


class _Crash(Exception):
    pass


def _crash_at(epoch_to_crash):
    class Crash(an.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs):
            if epoch == epoch_to_crash:
                raise _Crash(f"killed before epoch {epoch}")

    return Crash()


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(be, tmp_path):
    x, t = blobs(50)
    xv, tv = blobs(20, seed=1)
    kw = dict(loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.02), epochs=6, batch_size=8,
              seed=7, verbose=0, validation_data=(xv, tv), regularizer=losses.L2(1e-3))
    whole = mlp(seed=2, dtype="float64")
    h_whole = whole.fit(x, t, **kw)

    path = tmp_path / "run.npz"
    first = mlp(seed=2, dtype="float64")
    with pytest.raises(_Crash):
        first.fit(x, t, checkpoint=path, callbacks=[_crash_at(4)], **kw)  # dies after epoch 4's checkpoint
    second = mlp(seed=99, dtype="float64")  # a fresh process would start from other weights
    h = second.fit(x, t, checkpoint=path, resume=True, **kw)
    assert h.epoch == list(range(6))
    assert h.history == h_whole.history  # the first 4 epochs come from the checkpoint, the rest are recomputed
    for p, q in zip(second.params, whole.params):
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), to_numpy(q[k]))
    loaded = an.load(path, backend="numpy")  # the final checkpoint is a model too
    np.testing.assert_array_equal(to_numpy(loaded.predict(x)), to_numpy(whole.to("numpy").predict(x)))


def test_resume_refuses_other_settings_and_starts_fresh_without_a_file(be, tmp_path):
    x, t = blobs(30)
    path = tmp_path / "run.npz"
    kw = dict(loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), epochs=2, verbose=0)
    h = mlp(seed=0).fit(x, t, checkpoint=path, resume=True, **kw)  # no file yet: a fresh start
    assert h.epoch == [0, 1] and path.exists()
    with pytest.raises(ValueError, match=r"fit\(resume=True\): .* was written with seed=0 but this call has "
                                         r"seed=1; resuming would not reproduce the run"):
        mlp(seed=0).fit(x, t, checkpoint=path, resume=True, seed=1, **kw)
    with pytest.raises(ValueError, match=r"fit\(resume=True\): .* was written with optimizer=SGD"):
        mlp(seed=0).fit(x, t, checkpoint=path, resume=True, **{**kw, "optimizer": an.optim.SGD(lr=0.2)})
    with pytest.raises(ValueError, match="fit: resume=True needs checkpoint="):
        mlp(seed=0).fit(x, t, resume=True, **kw)
    done = mlp(seed=0).fit(x, t, checkpoint=path, resume=True, **kw)  # already at epoch 2 of 2
    assert done.epoch == [0, 1]


def test_resume_reads_a_model_larger_than_loads_default_bound(be, tmp_path, monkeypatch):
    """fit(resume=True) bounds what it reads by the model it resumes into (weights, state, two
    optimizer buffers each, float64 at most), not by load's 2 GiB default: shown with that
    default lowered below this model's size (the read must still succeed), and a file that
    declares more than the model's bound is still refused before it is read."""
    x, t = blobs(30)
    path = tmp_path / "run.npz"
    kw = dict(loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.Adam(lr=0.01), epochs=2, verbose=0)
    mlp(seed=0).fit(x, t, checkpoint=path, **{**kw, "epochs": 1})
    seen = []
    real = an.io.load_checkpoint

    def spy(*args, **kwargs):
        seen.append(kwargs.get("max_bytes"))
        return real(*args, **kwargs)

    monkeypatch.setattr(an.io, "DEFAULT_MAX_BYTES", 64)  # far below this model's 2 KB of Adam state
    monkeypatch.setattr(an.io, "load_checkpoint", spy)
    model = mlp(seed=0)
    h = model.fit(x, t, checkpoint=path, resume=True, **kw)
    assert h.epoch == [0, 1]
    n = model.count_params()
    assert seen and seen[0] >= 3 * 4 * n  # float32 weights and Adam's two buffers fit under the bound
    with pytest.raises(an.io.CheckpointError):
        real(path, max_bytes=64)  # the same file under the lowered bound: refused


def test_checkpoint_every(be, tmp_path):
    x, t = blobs(30)
    path = tmp_path / "every.npz"
    seen = []
    model = mlp(seed=0)
    model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1), epochs=5, verbose=0,
              checkpoint=path, checkpoint_every=2,
              callbacks=[lambda e, logs: seen.append(path.exists() and
                                                     an.io.load_checkpoint(path).extra["fit"]["epoch"])])
    # seen[e] is read before epoch e's own checkpoint: written after epochs 2, 4 and the last (5)
    assert seen == [False, False, 2, 2, 4]
    assert an.io.load_checkpoint(path).extra["fit"]["epoch"] == 5


@pytest.mark.parametrize("opt", [an.optim.SGD(lr=0.1, momentum=0.9), an.optim.Adam(lr=0.01, clip_norm=1.0)],
                         ids=lambda o: type(o).__name__)
def test_packed_fit_equals_the_unpacked_fit(opt, be, monkeypatch):
    """fit keeps small models as one flat array for elementwise optimizers with buffers; the
    run is the same as array by array."""
    import anynet.train as train

    x, t = blobs(64)
    runs = []
    real = train._packing
    for packs in (True, False):
        monkeypatch.setattr(train, "_packing", lambda m, o, packs=packs: an._packing.Packing.of(m.params)
                            if packs else None)
        model = mlp(seed=1, dtype="float64")
        h = model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=opt, epochs=3, batch_size=8, seed=2,
                      verbose=0)
        assert type(model.params) is list and all(type(d) is dict for d in model.params)
        runs.append((h.history["loss"], [to_numpy(v) for p in model.params for v in p.values()]))
    monkeypatch.setattr(train, "_packing", real)
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-13)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_packs_small_models_with_stateful_elementwise_optimizers(be):
    from anynet.train import _packing

    model = mlp(seed=0)
    assert (_packing(model, an.optim.Adam()) is not None) == (be.pack_limit != 0)
    assert _packing(model, an.optim.SGD(lr=0.1)) is None  # no buffers: nothing to gain
    custom = type("Custom", (an.optim.SGD,), {"elementwise": False})(lr=0.1, momentum=0.9)
    assert _packing(model, custom) is None


def test_multilabel_accuracy_is_the_share_of_right_decisions(be):
    """BCE with K outputs per sample: accuracy counts each of the N*K decisions once (at most 1)."""
    x = np.random.default_rng(0).normal(size=(40, 3))
    t = (x[:, :2] > 0).astype(float)
    model = an.Sequential([L.Linear(3, 2)], seed=0, backend=be)
    h = model.fit(x, t, loss=losses.BinaryCrossEntropy(), optimizer=an.optim.SGD(lr=0.5), epochs=5, verbose=0)
    assert 0.0 <= h.history["accuracy"][-1] <= 1.0
    y = to_numpy(model.predict(x))
    got = model.evaluate(x, t, loss=losses.BinaryCrossEntropy())["accuracy"]
    assert got == pytest.approx(((y > 0) == (t > 0.5)).mean(), abs=1e-12)


def test_accuracy_counted_per_epoch_equals_counted_per_step(be, monkeypatch):
    """fit counts an epoch's right predictions once from all its outputs, or step by step
    when the outputs would be too large to keep: the same history either way."""
    import anynet.train as train

    x, t = blobs(70)  # 8 full batches of 8 and a partial one
    hists = []
    for limit in (train.STACK_LIMIT, 0):
        monkeypatch.setattr(train, "STACK_LIMIT", limit)
        model = mlp(seed=3, dtype="float64", backend=be)
        hists.append(model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.1),
                               epochs=3, batch_size=8, seed=1, verbose=0).history)
    assert hists[0]["accuracy"] == hists[1]["accuracy"]
    np.testing.assert_allclose(hists[0]["loss"], hists[1]["loss"], rtol=1e-12)
    assert 0.0 < hists[0]["accuracy"][-1] <= 1.0
