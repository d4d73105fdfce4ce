"""Plots: figures and PNG files from a model on the session's backend (matplotlib is optional)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import anynet as an
from anynet import plot
from anynet.backends import to_numpy

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def mpl():
    why = "matplotlib is not installed: pip install '.[plot]'"
    for sub in ("matplotlib.figure", "matplotlib.collections"):
        pytest.importorskip(sub, reason=why)
    return pytest.importorskip("matplotlib", reason=why)


@pytest.fixture(scope="module")
def moons():
    return an.datasets.load("moons", n_samples=120, noise=0.1)


def trained(be, data, epochs=30):
    model = an.Sequential([an.layers.Linear(2, 16), an.layers.Tanh(), an.layers.Linear(16, 2)],
                          seed=0, backend=be)
    hist = model.fit(data.x_train, data.t_train, loss=an.losses.SoftmaxCrossEntropy(),
                     optimizer=an.optim.Adam(lr=0.02), epochs=epochs, batch_size=16,
                     validation_data=(data.x_test, data.t_test), verbose=0)
    return model, hist


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG), f"{path} is not a PNG ({len(data)} bytes)"


def test_decision_boundary_draws_regions_and_points(be, mpl, moons, tmp_path):
    model, _ = trained(be, moons)
    assert be.owns(model.predict(moons.x_test))  # the predictions plotted are the backend's arrays
    path = tmp_path / "db.png"
    fig = plot.decision_boundary(model, moons.x_train, moons.t_train, path, class_names=moons.class_names,
                                 resolution=50)
    assert isinstance(fig, mpl.figure.Figure)
    assert_png(path)
    ax = fig.axes[0]
    scatters = [c for c in ax.collections if isinstance(c, mpl.collections.PathCollection)]
    assert len(scatters) == 2  # one per class, over the filled regions
    points = np.concatenate([c.get_offsets() for c in scatters])
    assert points.shape == moons.x_train.shape
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(moons.x_train[:, 0]), rtol=1e-6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["upper", "lower"]


def test_decision_boundary_draws_into_given_axes_and_checks_x(be, mpl, moons):
    model, _ = trained(be, moons, epochs=1)
    fig = mpl.figure.Figure()
    ax = fig.subplots()
    assert plot.decision_boundary(model, moons.x_test, moons.t_test, ax=ax, resolution=20) is fig
    with pytest.raises(ValueError, match=r"decision_boundary: x must have shape \(N, 2\).*\(5, 3\)"):
        plot.decision_boundary(model, np.zeros((5, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="x has 5 samples but t has 4"):
        plot.decision_boundary(model, np.zeros((5, 2)), np.zeros(4, dtype=int))
    with pytest.raises(TypeError, match="model must have a predict method"):
        plot.decision_boundary(object(), moons.x_test, moons.t_test)


def test_training_curves_plot_train_and_validation(be, mpl, moons, tmp_path):
    _, hist = trained(be, moons, epochs=4)
    path = tmp_path / "curves.png"
    fig = plot.training_curves(hist, path)
    assert_png(path)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), hist.history["loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), hist.history["val_accuracy"])
    only_loss = plot.training_curves({"loss": [1.0, 0.5, 0.25]})
    assert len(only_loss.axes) == 1 and len(only_loss.axes[0].lines) == 1
    with pytest.raises(ValueError, match=r"history has no 'loss' or 'accuracy' values; keys: \['lr'\]"):
        plot.training_curves({"lr": [0.1]})
    with pytest.raises(TypeError, match="history must be a History"):
        plot.training_curves([1.0, 2.0])


def test_confusion_matrix_counts_the_models_predictions(be, mpl, moons, tmp_path):
    model, _ = trained(be, moons)
    path = tmp_path / "cm.png"
    fig = plot.confusion_matrix(model, moons.x_test, moons.t_test, path, class_names=moons.class_names)
    assert_png(path)
    pred = np.argmax(to_numpy(model.predict(moons.x_test)), axis=1)
    expected = np.array([[np.sum((moons.t_test == i) & (pred == j)) for j in range(2)] for i in range(2)])
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(shown, expected)
    assert shown.sum() == len(moons.t_test)
    assert f"accuracy {np.mean(pred == moons.t_test):.3f}" in fig.axes[0].get_title()


def test_confusion_matrix_from_predictions(mpl):
    t = np.asarray([0, 0, 1, 1, 2, 2])
    pred = np.asarray([0, 1, 1, 1, 2, 0])
    fig = plot.confusion_matrix(pred, t=t, normalize=True, class_names=["a", "b", "c"])
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(shown, [[0.5, 0.5, 0], [0, 1, 0], [0.5, 0, 0.5]])
    assert [x.get_text() for x in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]
    scores = np.eye(3)[pred] * 2.0  # (N, C) scores work as well
    counts = np.asarray(plot.confusion_matrix(scores, t=t).axes[0].images[0].get_array())
    assert counts.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    with pytest.raises(ValueError, match="x is not used; call confusion_matrix"):
        plot.confusion_matrix(pred, np.zeros((6, 2)), t)
    with pytest.raises(ValueError, match="class_names has 2 names but the labels go up to 2"):
        plot.confusion_matrix(pred, t=t, class_names=["a", "b"])


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, moons):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib... now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib \(from anynet's source tree: pip install '\.\[plot\]'\)"):
        plot.training_curves({"loss": [1.0]})


# ------------------------------------------------------------------ convnets (issue 11)
def small_cnn(be):
    return an.Sequential(an.layers.cnn((8, 8, 1), (3, "M"), (), 4, batchnorm=True, from_rows=True), seed=0,
                         input_shape=(64,),
                         backend=be)


def test_filters_shows_each_kernel_of_the_first_conv(be, mpl, tmp_path):
    model = small_cnn(be)
    path = tmp_path / "filters.png"
    fig = plot.filters(model, path)
    assert_png(path)
    W = to_numpy(model.params[1]["W"])  # layer 0 is the Reshape: the first Conv2D is layer 1
    assert len(fig.axes) == 4  # 3 filters in a 2x2 grid, the fourth axes empty
    for k in range(3):
        np.testing.assert_allclose(np.asarray(fig.axes[k].images[0].get_array()), W[k, :, :, 0], rtol=1e-6)
    assert not fig.axes[3].images
    rgb = an.Sequential([an.layers.Conv2D(3, 2, 2)], seed=1, backend=be)
    shown = np.asarray(plot.filters(rgb).axes[1].images[0].get_array())
    assert shown.shape == (2, 2, 3) and shown.min() == 0.0 and shown.max() == 1.0


def test_feature_maps_are_the_first_convs_output_for_one_sample(be, mpl, tmp_path):
    model = small_cnn(be)
    x = np.random.default_rng(0).uniform(size=(5, 64))
    path = tmp_path / "maps.png"
    fig = plot.feature_maps(model, x[2], path)
    assert_png(path)
    p = {k: to_numpy(v) for k, v in model.params[1].items()}
    img = np.pad(x[2].reshape(8, 8), 1)
    win = np.lib.stride_tricks.sliding_window_view(img, (3, 3))  # (8, 8, 3, 3)
    want = np.einsum("ijab,oab->ijo", win, p["W"][..., 0])  # no bias: a BatchNorm follows
    for c in range(3):
        np.testing.assert_allclose(np.asarray(fig.axes[c].images[0].get_array()), want[:, :, c],
                                   rtol=1e-5, atol=1e-6)
    # a batch of one is the same sample
    again = plot.feature_maps(model, x[2:3])
    np.testing.assert_array_equal(np.asarray(again.axes[0].images[0].get_array()),
                                  np.asarray(fig.axes[0].images[0].get_array()))


def test_the_convnet_plots_say_what_is_wrong(be, mpl):
    model = small_cnn(be)
    with pytest.raises(ValueError, match=r"feature_maps: x must be one sample of shape \(64,\).*\(5, 64\)"):
        plot.feature_maps(model, np.zeros((5, 64)))
    with pytest.raises(ValueError, match=r"filters: layer must be the index of a Conv2D layer .*\[1\].*got 0"):
        plot.filters(model, layer=0)
    mlp = an.Sequential(an.layers.mlp(4, (3,), 2), backend=be)
    with pytest.raises(ValueError, match=r"filters: the model has no Conv2D layer"):
        plot.filters(mlp)
