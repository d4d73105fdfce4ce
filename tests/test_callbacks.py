"""fit callbacks: early stopping with best weights, learning-rate changes, user functions."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

from .test_train import blobs, mlp

L = an.layers
cb = an.callbacks


def test_early_stopping_stops_and_restores_the_best_weights(be):
    x, t = blobs(80)
    xv, tv = blobs(40, seed=1)
    model = mlp(seed=0)
    snapshots = []
    keep = cb.LambdaCallback(lambda epoch, logs: snapshots.append(
        [{k: to_numpy(v).copy() for k, v in p.items()} for p in model.params]))
    # a learning rate so large that validation loss soon gets worse
    stop = cb.EarlyStopping(monitor="val_loss", patience=2)
    hist = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=3.0), epochs=30,
                     batch_size=8, validation_data=(xv, tv), verbose=0, callbacks=[keep, stop])
    assert stop.stopped_epoch is not None and len(hist.epoch) == stop.stopped_epoch + 1 < 30
    best = int(np.argmin(hist.history["val_loss"]))
    assert stop.best_epoch == best and stop.best == hist.history["val_loss"][best]
    for p, s in zip(model.params, snapshots[best]):
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), s[k])
    assert model.evaluate(xv, tv, loss=an.losses.SoftmaxCrossEntropy())["loss"] == pytest.approx(stop.best,
                                                                                                 rel=1e-5)


def test_early_stopping_needs_a_known_metric(be):
    x, t = blobs(20)
    with pytest.raises(KeyError, match=r"EarlyStopping: monitor 'val_loss' is not among the epoch logs .* "
                                       r"pass validation_data="):
        mlp().fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(), verbose=0,
                  callbacks=[cb.EarlyStopping()])


def test_learning_rate_scheduler_changes_the_rate_without_recompiling(be):
    x, t = blobs(40)
    seen = []
    sched = cb.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    model = mlp(seed=0)
    hist = model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=1.0), epochs=3,
                     verbose=0, callbacks=[sched, lambda e, logs: seen.append(len(model.engine._compiled))])
    assert hist.history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert seen[0] == seen[-1]


def test_learning_rate_changes_act_on_the_updates(be):
    """lr -> tiny after epoch 0: the weights then almost stop moving."""
    x, t = blobs(40)
    model = mlp(seed=0)
    w = []
    model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=0.5), epochs=3, verbose=0,
              callbacks=[cb.LearningRateScheduler(lambda e, lr: 0.5 if e == 0 else 1e-9),
                         lambda e, logs: w.append(to_numpy(model.params[0]["W"]).copy())])
    assert np.abs(w[2] - w[1]).max() < 1e-6 < np.abs(w[1] - to_numpy(mlp(seed=0).params[0]["W"])).max()


def test_reduce_lr_on_plateau(be):
    x, t = blobs(40)
    hist = mlp(seed=0).fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(lr=5.0),
                           epochs=8, verbose=0, callbacks=[cb.ReduceLROnPlateau("loss", factor=0.5, patience=1,
                                                                                min_delta=10.0)])
    lrs = hist.history["lr"]
    assert lrs[0] == pytest.approx(5.0) and lrs[-1] < lrs[0]


def test_callbacks_are_validated(be):
    x, t = blobs(20)
    with pytest.raises(TypeError, match=r"fit: callbacks\[0\] must be a Callback or a callable"):
        mlp().fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(), verbose=0,
                  callbacks=[3])
    with pytest.raises(ValueError, match="EarlyStopping: patience must be an int >= 0"):
        cb.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="fit: verbose must be 0, 1 or 2"):
        mlp().fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(), verbose=5)


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_verbose_levels_when_output_is_not_a_terminal(verbose, be, capsys):
    x, t = blobs(20)
    mlp().fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(), epochs=2, verbose=verbose)
    out = capsys.readouterr().out
    assert out.count("epoch ") == (0 if verbose == 0 else 2)


def test_progress_bar_on_a_terminal(be, capsys, monkeypatch):
    pytest.importorskip("tqdm", reason="tqdm is not installed in this session (pip install '.[progress]')")
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    x, t = blobs(20)
    mlp().fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=an.optim.SGD(), epochs=3, verbose=1)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "3/3" in text and "epoch" in text and "accuracy=" in text  # tqdm's bar with the metrics
    assert "epoch 1/3  loss" not in text  # not the plain lines
