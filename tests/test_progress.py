"""The bar within a long epoch: fit then runs the epoch's steps in pieces; the numbers stay the same."""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import numpy as np
import pytest

import anynet as an
import anynet.train as train
from anynet.backends import to_numpy

L = an.layers


def data(n=203, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, size=n)
    return rng.normal(size=(n, 6)) + t[:, None], t


def model(**kw):
    """BatchNorm (state), dropout (keys per update): what a piece must carry on exactly."""
    return an.Sequential([L.Linear(6, 16), L.BatchNorm(16), L.ReLU(), L.Dropout(0.3), L.Linear(16, 3)], **kw)


def run(be, monkeypatch, piece, *, x=None, t=None, **kw):
    monkeypatch.setattr(train, "_CHUNK_STEPS", piece)
    if x is None:
        x, t = data()
    m = model(seed=0, backend=be)
    kw = {"optimizer": an.optim.Adam(lr=0.01), "epochs": 3, "batch_size": 16, "verbose": 0, **kw}
    h = m.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), **kw)
    arrays = [to_numpy(v) for tree in (m.params, m.state, m.opt_state["m"], m.opt_state["v"])
              for d in tree for v in d.values()]
    return h.history, arrays, m


@pytest.mark.parametrize("piece", [1, 5, 12])  # 12 full batches and a partial one
def test_an_epoch_in_pieces_gives_the_same_run_bit_for_bit(piece, be, monkeypatch):
    whole_hist, whole, _ = run(be, monkeypatch, None)
    hist, arrays, _ = run(be, monkeypatch, piece)
    assert hist == whole_hist  # loss and accuracy: the same floats, not only close
    assert len(arrays) == len(whole) > 8
    for a, b in zip(arrays, whole):
        np.testing.assert_array_equal(a, b)


def test_pieces_with_validation_sample_weights_and_per_step_counting(be, monkeypatch):
    """The running totals carried from piece to piece also when the right predictions are
    counted step by step (outputs too large to keep) and with weighted samples."""
    monkeypatch.setattr(train, "STACK_LIMIT", 0)
    x, t = data(96)  # 6 full batches, no partial one
    w = np.linspace(0.5, 2.0, 96)
    runs = [run(be, monkeypatch, piece, x=x, t=t, sample_weight=w, validation_data=(x[:20], t[:20]))
            for piece in (None, 4)]
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_jax_compiles_a_piece_for_two_lengths_only(be, monkeypatch):
    if be.name != "jax":
        pytest.skip("compiling backends only (JAX); elsewhere a piece is a loop of steps")
    _, _, m = run(be, monkeypatch, 5, epochs=4)  # 12 full batches: pieces of 5, 5 and 2
    chunk = [fn for key, fn in m.engine._compiled.items() if key[0] == "chunk"]
    assert len(chunk) == 1  # built once for the fit, not per epoch
    if hasattr(chunk[0], "_cache_size"):  # jax.jit's own cache: one program per length
        assert chunk[0]._cache_size() == 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own overflow warning comes first
def test_divergence_in_a_piece_names_the_same_step_and_keeps_the_same_params(be, monkeypatch):
    """A piece whose numbers are no longer finite ends the epoch early; fit replays it from its
    start as for a whole epoch: the same message, the same last finite parameters."""
    x, t = data(40)
    seen = []
    for piece in (None, 1, 2):
        monkeypatch.setattr(train, "_CHUNK_STEPS", piece)
        m = an.Sequential([L.Linear(6, 3)], seed=0, backend=be)
        with pytest.raises(FloatingPointError, match=r"diverged in epoch 1/3, step (\d+)/5") as err:
            m.fit(x, np.eye(3)[t] * 1e3, loss=an.losses.MSE(), optimizer=an.optim.SGD(lr=1e6), epochs=3,
                  batch_size=8, verbose=0)
        params = [to_numpy(v) for p in m.params for v in p.values()]
        assert all(np.isfinite(v).all() for v in params)
        seen.append((str(err.value), params))
    for message, params in seen[1:]:
        assert message == seen[0][0]
        for a, b in zip(params, seen[0][1]):
            np.testing.assert_array_equal(a, b)


class FakeTqdm:
    """Records what fit asks of tqdm."""
    made: ClassVar[list[FakeTqdm]] = []

    def __init__(self, total=None, unit="it", desc=None, leave=True, **kw):
        self.total, self.unit, self.desc, self.leave, self.n, self.postfix, self.closed = total, unit, desc, leave, 0, [], False
        FakeTqdm.made.append(self)

    def update(self, k=1):
        self.n += k

    def set_postfix(self, logs, refresh=True):
        self.postfix.append(dict(logs))

    def close(self):
        self.closed = True


@pytest.fixture
def fake_terminal(monkeypatch):
    FakeTqdm.made = []
    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=FakeTqdm))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    return FakeTqdm.made


def test_the_step_bar_counts_every_step_with_the_running_loss(be, monkeypatch, fake_terminal):
    hist, _, _ = run(be, monkeypatch, 5, verbose=1)  # 12 full batches of 16 and one of 11, 3 epochs
    epochs_bar, *step_bars = fake_terminal
    assert (epochs_bar.total, epochs_bar.unit, epochs_bar.n) == (3, "epoch", 3)
    assert [(b.total, b.unit, b.n, b.desc, b.leave, b.closed) for b in step_bars] == [
        (13, "step", 13, f"epoch {e}/3", False, True) for e in (1, 2, 3)]
    for bar, loss in zip(step_bars, hist["loss"]):
        assert len(bar.postfix) == 3  # one read per piece: 5 + 5 + 2 steps
        assert set(bar.postfix[-1]) == {"loss", "accuracy"}
        assert float(bar.postfix[-1]["loss"]) == pytest.approx(loss, abs=0.05)  # the 12 full batches' mean


def test_a_short_epoch_runs_whole_even_on_a_terminal(be, monkeypatch, fake_terminal):
    """The default rule: no piece, no step bar, when the epoch is short (a small model, 13 steps)."""
    calls = []
    real = train._chunked_epoch
    monkeypatch.setattr(train, "_chunked_epoch", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(train, "LONG_EPOCH_SECONDS", 1e9)
    run(be, monkeypatch, None, verbose=1)
    assert [b.unit for b in fake_terminal] == ["epoch"]
    # a first epoch timed by its first piece on a backend that does not compile; none on JAX
    assert len(calls) == (0 if be.compiles else 1)


def test_a_long_epoch_gets_the_step_bar(be, monkeypatch, fake_terminal):
    """With every epoch 'long' (threshold 0) the rule chooses pieces: from the first epoch on a
    backend that does not compile (its first piece timed), from the second on JAX."""
    monkeypatch.setattr(train, "LONG_EPOCH_SECONDS", 0.0)
    whole_hist, whole, _ = run(be, monkeypatch, None)  # verbose=0: no bar, no pieces
    hist, arrays, _ = run(be, monkeypatch, None, verbose=1)
    step_bars = [b for b in fake_terminal if b.unit == "step"]
    assert len(step_bars) == (2 if be.compiles else 3) and all(b.n == b.total == 13 for b in step_bars)
    assert hist == whole_hist
    for a, b in zip(arrays, whole):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("verbose", [0, 2])
def test_no_step_bar_and_no_pieces_without_verbose_1(verbose, be, monkeypatch, fake_terminal, capsys):
    calls = []
    real = train._chunked_epoch
    monkeypatch.setattr(train, "_chunked_epoch", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(train, "LONG_EPOCH_SECONDS", 0.0)
    run(be, monkeypatch, None, verbose=verbose)
    assert fake_terminal == [] and calls == []
    out = capsys.readouterr().out
    assert out.count("epoch ") == (0 if verbose == 0 else 3)
    if verbose == 0:
        assert out == ""


def test_without_tqdm_no_step_bar(be, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails: plain lines
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(train, "LONG_EPOCH_SECONDS", 0.0)
    run(be, monkeypatch, None, verbose=1)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 3 and "step" not in out


def test_the_rule_for_long_epochs_and_the_length_of_a_piece():
    """Pieces of about CHUNK_SECONDS for epochs over LONG_EPOCH_SECONDS; on a compiling backend
    a length near that which divides the steps (no remainder: one compiled length)."""
    for compiles, want in ((False, 167), (True, 125)):  # 0.5 s / 3 ms; 1875 = 15 * 125
        chunks = train._Chunks(True, compiles, 1875)
        chunks.measured(0.0, 1875 * 0.003)  # 5.6 s: long
        assert chunks.wanted() and chunks.length == want
    chunks = train._Chunks(True, False, 1875)
    chunks.measured(0.0, 1.0)  # 1 s: short
    assert not chunks.wanted() and chunks.length is None
    chunks = train._Chunks(True, True, 1875)
    chunks.queued = 9.0  # JAX: 9 s compiling and queueing, 1 s of steps: short
    chunks.measured(0.0, 10.0)
    assert not chunks.wanted()
    assert not train._Chunks(False, False, 1875).wanted()  # no bar: never in pieces
    probe = train._Chunks(True, False, 1875)  # a first epoch where pieces cost nothing: time a first piece
    assert probe.wanted() and probe.size(0, 0.0) == 38  # 2% of the steps
    assert probe.size(38, 38 * 0.0001) == 1875 - 38  # 0.19 s per epoch: the rest in one piece
    assert not train._Chunks(True, True, 1875).wanted()  # JAX's first epoch: whole



def test_a_first_epoch_misjudged_long_is_judged_again():
    """Where pieces cost nothing (no compiling), each epoch is judged by the one before: a
    first piece slowed by warming up does not put every epoch of a short fit in pieces."""
    chunks = train._Chunks(True, False, 44)
    assert chunks.wanted() and chunks.size(0, 0.0) == 1
    assert chunks.size(1, 0.1) == 5  # 1 step in 0.1 s: 4.4 s predicted, pieces of 0.5 s
    chunks.measured(0.0, 0.5)  # the epoch took 0.5 s
    assert not chunks.wanted()
    jax_like = train._Chunks(True, True, 44)
    jax_like.measured(0.0, 4.4)
    assert jax_like.wanted() and jax_like.length == 4  # 44 = 11 * 4, near the 5 asked for
    jax_like.measured(0.0, 0.5)
    assert jax_like.wanted() and jax_like.length == 4  # kept: no other length to compile
