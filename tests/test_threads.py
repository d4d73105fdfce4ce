"""``threads=``: a NumPy training step split over CPU threads.

On the NumPy backends (numpy, numpy_readonly) the split step must equal the
whole one up to float rounding, and must really have been split (counted), or
run whole where a split would change the result (BatchNorm, Dropout, a layer
that mixes samples). Every other backend refuses ``threads=`` with a clear error.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import anynet as an
from anynet.backends import BackendError, get_backend, to_numpy

L = an.layers


def _threaded(be, n=2):
    if not be.takes_threads:
        pytest.skip(f"threads= is the NumPy backend's; backend {be.name!r} refuses it "
                    "(test_other_backends_refuse_threads checks that)")
    return get_backend(be.name, threads=n)


@pytest.fixture
def counted(monkeypatch):
    """A threaded backend whose map_shards counts the pieces it was given."""
    def make(be, n=2):
        tb = _threaded(be, n)
        calls = []
        inner = tb.map_shards

        def counting(fn, shards):
            calls.append(len(shards))
            return inner(fn, shards)

        monkeypatch.setattr(tb, "map_shards", counting)
        return tb, calls
    return make


def _cnn():
    return [L.Conv2D(1, 4, 3), L.ReLU(), L.MaxPool2D(2), L.Conv2D(4, 6, 3, padding="same"), L.ReLU(),
            L.AvgPool2D(2), L.Flatten(), L.Linear(24, 16), L.Tanh(), L.Linear(16, 3)]


def _mlp():
    return [L.Linear(5, 16), L.ReLU(), L.Linear(16, 8), L.LeakyReLU(0.1), L.Linear(8, 3)]


def _data(kind, n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 10, 10, 1) if kind == "cnn" else (n, 5))
    return x, rng.integers(0, 3, size=n)


def _fit(stack, be, x, t, dtype, loss="softmax_cross_entropy", **kw):
    model = an.Sequential(stack, seed=0, dtype=dtype, backend=be)
    hist = model.fit(x, t, loss=loss, optimizer=an.optim.Adam(1e-2), epochs=3,
                     batch_size=32, verbose=0, seed=1, **kw)
    return model, hist


def _max_rel(a, b):
    return max(float(np.max(np.abs(to_numpy(p[k]) - to_numpy(q[k])))) / max(float(np.max(np.abs(to_numpy(p[k])))),
                                                                          1e-30)
               for p, q in zip(a.params, b.params) for k in p)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_split_step_equals_the_whole_step(be, counted, kind, dtype, tol):
    tb, calls = counted(be)
    x, t = _data(kind)
    stack = _cnn() if kind == "cnn" else _mlp()
    whole, h1 = _fit(stack, be, x, t, dtype)
    split, h2 = _fit(stack, tb, x, t, dtype)
    # 70 samples in batches of 32: 32, 32 and 6 rows, each split in two, for 3 epochs
    assert calls == [2] * 9
    assert split.backend.threads == 2 and whole.backend.threads == 1
    assert _max_rel(whole, split) <= tol
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=tol)
    if dtype == "float64":
        assert h2.history["accuracy"] == h1.history["accuracy"]
    # inference is not split: the threaded model's predict equals the one-thread model's on its weights
    np.testing.assert_array_equal(to_numpy(split.predict(x)), to_numpy(split.to(be).predict(x)))
    assert calls == [2] * 9


@pytest.mark.parametrize("n", [3, 4])
def test_uneven_pieces_and_more_threads(be, counted, n):
    tb, calls = counted(be, n)
    x, t = _data("mlp", n=45)
    whole, _ = _fit(_mlp(), be, x, t, "float64")
    split, _ = _fit(_mlp(), tb, x, t, "float64")
    # batches of 32 and 13 rows: both split (>= 2 rows per thread), 32/3 and 13/4 unevenly
    assert calls == [n, n] * 3
    assert _max_rel(whole, split) <= 1e-10


def test_a_batch_too_small_to_split_runs_whole(be, counted):
    tb, calls = counted(be, 4)
    x, t = _data("mlp", n=7)  # 7 < 2 rows x 4 threads
    whole, _ = _fit(_mlp(), be, x, t, "float64")
    split, _ = _fit(_mlp(), tb, x, t, "float64")
    assert calls == []
    assert _max_rel(whole, split) == 0.0


@pytest.mark.parametrize("what", ["batchnorm", "own dropout", "mixing", "unknown layer", "unknown loss"])
def test_steps_that_a_split_would_change_run_whole(be, counted, what):
    """BatchNorm's batch statistics, a stochastic layer that cannot draw a slice of the batch's
    numbers (no takes_first_row), a layer that mixes samples (per_sample = False) and a layer
    or loss of your own that does not say (per_sample None): the split step would or might
    differ, so it runs whole and gives the one-thread numbers bit for bit."""
    tb, calls = counted(be)
    extra = {"batchnorm": L.BatchNorm(16), "own dropout": _OwnDropout(0.3), "mixing": _BatchCentre(),
             "unknown layer": _Scale(), "unknown loss": L.ReLU()}[what]
    stack = [L.Linear(5, 16), extra, L.ReLU(), L.Linear(16, 3)]
    loss = _OwnCrossEntropy() if what == "unknown loss" else "softmax_cross_entropy"
    x, t = _data("mlp")
    whole, _ = _fit(stack, be, x, t, "float64", loss=loss)
    split, _ = _fit(stack, tb, x, t, "float64", loss=loss)
    assert calls == []
    assert _max_rel(whole, split) == 0.0


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_dropout_steps_split_with_the_whole_batch_masks(be, counted, dtype, tol):
    """Dropout draws, for each piece, its rows of the whole batch's mask (first_row): the split
    step drops the same units and equals the whole one."""
    tb, calls = counted(be)
    stack = [L.Linear(5, 16), L.ReLU(), L.Dropout(0.4), L.Linear(16, 8), L.Dropout(0.2), L.Linear(8, 3)]
    x, t = _data("mlp")
    whole, h1 = _fit(stack, be, x, t, dtype)
    split, h2 = _fit(stack, tb, x, t, dtype)
    assert calls == [2] * 9
    assert _max_rel(whole, split) <= tol
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=tol)


def test_a_slice_of_rows_draws_its_rows_of_the_whole_mask(be):
    """Bit for bit, on every backend: rows s:e drawn with first_row=s are rows s:e of the whole."""
    xp = be.xp
    drop = L.Dropout(0.5)
    key = an.random.key(3, backend=be)
    x = be.asarray(np.ones((7, 3, 4)), dtype="float32")
    whole, _ = drop.forward({}, x, training=True, key=key, xp=xp)
    for s, e in [(0, 3), (3, 7), (2, 5)]:
        part, _ = drop.forward({}, x[s:e, ...], training=True, key=key, xp=xp, first_row=s)
        np.testing.assert_array_equal(to_numpy(part), to_numpy(whole)[s:e])
    assert 0.2 < float(np.mean(to_numpy(whole) == 0)) < 0.8


def test_own_layers_and_losses_that_say_per_sample_are_split(be, counted):
    tb, calls = counted(be)
    stack = [L.Linear(5, 16), _Scale.PerSample(), L.ReLU(), L.Linear(16, 3)]
    x, t = _data("mlp")
    loss = _OwnCrossEntropy.PerSample()
    whole, _ = _fit(stack, be, x, t, "float64", loss=loss)
    split, _ = _fit(stack, tb, x, t, "float64", loss=loss)
    assert calls == [2] * 9
    assert _max_rel(whole, split) <= 1e-10


def test_sample_weights_split_with_the_batch(be, counted):
    tb, calls = counted(be)
    x, t = _data("mlp")
    w = np.random.default_rng(3).uniform(0.0, 2.0, size=x.shape[0])
    whole, _ = _fit(_mlp(), be, x, t, "float64", sample_weight=w)
    split, _ = _fit(_mlp(), tb, x, t, "float64", sample_weight=w)
    assert calls == [2] * 9
    assert _max_rel(whole, split) <= 1e-10


class _Scale(L.Layer):
    """y = 2 x, a layer of your own that does not say whether it is per sample."""

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        return 2.0 * x, None

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        return 2.0 * dy, {}

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))


class _ScalePerSample(_Scale):
    per_sample = True


_Scale.PerSample = _ScalePerSample


class _OwnCrossEntropy(an.losses.SoftmaxCrossEntropy):
    """The built-in loss as a loss of your own would be: per_sample not said."""

    per_sample = None


class _OwnCrossEntropyPerSample(an.losses.SoftmaxCrossEntropy):
    per_sample = True


_OwnCrossEntropy.PerSample = _OwnCrossEntropyPerSample


class _OwnDropout(L.Dropout):
    """Dropout as a stochastic layer of your own would be: no first_row, so steps run whole."""

    takes_first_row = False


class _BatchCentre(L.Layer):
    """y = x - mean over the batch: a layer whose samples depend on each other."""

    per_sample = False

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        xp = an.layers._base.namespace(xp, x)
        return x - xp.mean(x, axis=0, keepdims=True), None

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        xp = an.layers._base.namespace(xp, dy)
        return dy - xp.mean(dy, axis=0, keepdims=True), {}

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))


def test_blas_threads_are_given_back_after_a_split_step(be):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    tb = _threaded(be)
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    x, t = _data("mlp")
    _fit(_mlp(), tb, x, t, "float32")
    after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    assert after == before


def test_threads_backend_identity_repr_and_pickle(be):
    tb = _threaded(be)
    assert tb is get_backend(be.name, threads=2)  # made once
    assert get_backend(be.name, threads=1) is get_backend(be.name)  # 1 is the default: the same object
    assert tb != get_backend(be.name) and repr(tb).endswith("threads=2)")
    assert pickle.loads(pickle.dumps(tb)) is tb
    with an.using(be.name, threads=2) as current:
        assert current is tb and an.backend() is tb
    auto = get_backend(be.name, threads="auto")
    assert auto.threads >= 1


@pytest.mark.parametrize("bad", [0, -2, True, 1.5, "many", [2]])
def test_bad_thread_counts_are_refused_by_name(be, bad):
    if not be.takes_threads:
        pytest.skip(f"backend {be.name!r} refuses threads= whatever the value (checked below)")
    with pytest.raises((BackendError, TypeError), match="threads"):
        get_backend(be.name, threads=bad)


def test_other_backends_refuse_threads(be):
    if be.takes_threads:
        pytest.skip(f"backend {be.name!r} takes threads= (the tests above check it)")
    with pytest.raises(BackendError, match=rf"backend '{be.name}': threads=2 .* is for backend 'numpy'"):
        get_backend(be.name, threads=2)
    assert get_backend(be.name, threads=1) == be  # the default asks for nothing
