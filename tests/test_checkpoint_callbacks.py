"""ModelCheckpoint, CSVLogger, and what EarlyStopping says when it stops."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

from .test_train import blobs, mlp

cb = an.callbacks
KW = dict(loss="softmax_cross_entropy", batch_size=8, verbose=0)


def _weights(model):
    return [{k: to_numpy(v).copy() for k, v in p.items()} for p in model.params]


def test_model_checkpoint_keeps_the_best_epoch(be, tmp_path):
    x, t = blobs(80)
    xv, tv = blobs(40, seed=1)
    model = mlp(seed=0)
    snapshots = []
    keep = cb.LambdaCallback(lambda epoch, logs: snapshots.append(_weights(model)))
    path = tmp_path / "best.npz"
    ckpt = cb.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    hist = model.fit(x, t, optimizer=an.optim.SGD(lr=3.0), epochs=8, validation_data=(xv, tv),
                     callbacks=[keep, ckpt], **KW)
    best = int(np.argmin(hist.history["val_loss"]))
    assert ckpt.best_epoch == best and ckpt.best == hist.history["val_loss"][best]
    improved = [e for e in range(8) if hist.history["val_loss"][e] == min(hist.history["val_loss"][:e + 1])]
    assert len(ckpt.saved) == len(improved)  # written only when val_loss improved
    loaded = an.load(path, backend=be)
    for p, s in zip(loaded.params, snapshots[best]):
        for k in p:
            np.testing.assert_array_equal(to_numpy(p[k]), s[k])
    ev = loaded.evaluate(xv, tv, loss="softmax_cross_entropy")
    assert ev["loss"] == pytest.approx(hist.history["val_loss"][best], rel=1e-5)


def test_model_checkpoint_every_epoch_with_a_pattern_and_mode_max(be, tmp_path):
    x, t = blobs(40)
    model = mlp(seed=0)
    every = cb.ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.2f}.npz")
    best_f1 = cb.ModelCheckpoint(tmp_path / "f1.npz", monitor="f1", save_best_only=True)  # auto: max
    hist = model.fit(x, t, optimizer="adam", epochs=3, metrics=["f1"], callbacks=[every, best_f1], **KW)
    names = sorted(p.name for p in tmp_path.glob("m-*.npz"))
    assert [n[:5] for n in names] == ["m-01-", "m-02-", "m-03-"]
    assert best_f1.best == max(hist.history["f1"])
    with pytest.raises(FileNotFoundError, match=r"ModelCheckpoint: the folder of .*nodir.* does not exist"):
        model.fit(x, t, optimizer="adam", epochs=1, callbacks=[cb.ModelCheckpoint(tmp_path / "nodir" / "m.npz")],
                  **KW)
    with pytest.raises(KeyError, match="ModelCheckpoint: monitor 'val_loss' is not among the epoch logs"):
        model.fit(x, t, optimizer="adam", epochs=1,
                  callbacks=[cb.ModelCheckpoint(tmp_path / "v.npz", save_best_only=True)], **KW)


def test_csv_logger_writes_a_row_per_epoch(be, tmp_path):
    x, t = blobs(40)
    path = tmp_path / "log.csv"
    hist = mlp(seed=0).fit(x, t, optimizer="adam", epochs=3, validation_split=0.25,
                           callbacks=[cb.CSVLogger(path)], **KW)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [float(r["val_loss"]) for r in rows] == hist.history["val_loss"]  # repr: every digit
    mlp(seed=0).fit(x, t, optimizer="adam", epochs=2, callbacks=[cb.CSVLogger(path, append=True)], **KW)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines[0].startswith("epoch,")  # one header
    mlp(seed=0).fit(x, t, optimizer="adam", epochs=1, callbacks=[cb.CSVLogger(path, separator=";")], **KW)
    assert path.read_text().splitlines()[0] == "epoch;loss;accuracy"  # started afresh


def test_early_stopping_says_where_it_stopped_and_what_it_restored(be, capsys):
    x, t = blobs(80)
    xv, tv = blobs(40, seed=1)
    stop = cb.EarlyStopping(monitor="val_loss", patience=2, verbose=1)
    hist = mlp(seed=0).fit(x, t, optimizer=an.optim.SGD(lr=3.0), epochs=30, validation_data=(xv, tv),
                           callbacks=[stop], **KW)
    best = int(np.argmin(hist.history["val_loss"]))
    assert stop.stopped_epoch == len(hist.epoch) - 1 and stop.restored_epoch == best
    out = capsys.readouterr().out
    assert (f"EarlyStopping: stopped after epoch {stop.stopped_epoch + 1}: val_loss did not improve for 2 "
            f"epochs (best val_loss {stop.best:.4f} at epoch {best + 1}); restored the weights of epoch "
            f"{best + 1}") in out
    quiet = cb.EarlyStopping("loss", patience=50, restore_best_weights=False)
    mlp(seed=0).fit(x, t, optimizer="adam", epochs=2, callbacks=[quiet], **KW)
    assert quiet.stopped_epoch is None and quiet.restored_epoch is None
    assert quiet.summary().startswith("EarlyStopping: did not stop early") and capsys.readouterr().out == ""


def test_readme_section_for_keras_and_scikit_learn_users_runs(be, tmp_path, monkeypatch, capsys):
    from pathlib import Path
    text = (Path(__file__).parents[1] / "README.md").read_text()
    section = text.split("## For Keras and scikit-learn users", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)  # it writes best.npz and log.csv
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    hist, model = scope["hist"], scope["model"]
    assert {"f1", "val_f1", "f1_9", "val_top_k_accuracy"} <= set(hist.history)
    assert (tmp_path / "best.npz").exists() and len((tmp_path / "log.csv").read_text().splitlines()) > 1
    assert float(model.opt_state["step"]) > hist.params["steps"] * len(hist.epoch)  # the last fit went on
    assert "precision" in capsys.readouterr().out
