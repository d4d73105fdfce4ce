"""Pictures of a model and its training: decision regions, training curves, confusion matrix,
and a convnet's first filters and feature maps.

matplotlib is an optional extra (``pip install '.[plot]'`` in anynet's source tree) imported only
when a function here is called. Each function returns a
:class:`matplotlib.figure.Figure` drawn on the Agg canvas (no window, no
``pyplot`` state, safe in scripts, servers and threads), draws into your own
axes when given ``ax=``, and writes a PNG when given ``path``. Nothing calls
``plt.show``: in a notebook the returned figure displays itself.

Model outputs come from ``model.predict`` on any backend and are copied to the
host; the plotting itself uses NumPy directly (host-side drawing, no backend).

>>> import anynet as an
>>> from anynet import plot
>>> data = an.datasets.load("moons")
>>> model = an.Sequential([an.layers.Linear(2, 16), an.layers.Tanh(), an.layers.Linear(16, 2)])
>>> fig = plot.decision_boundary(model, data.x_test, data.t_test, "moons.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np  # host-side: grids, counts and the arrays handed to matplotlib

from .backends import to_numpy

__all__ = ["confusion_matrix", "decision_boundary", "feature_maps", "filters", "picture_formats", "training_curves"]

_INSTALL = "pip install matplotlib (from anynet's source tree: pip install '.[plot]')"


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"anynet.plot needs matplotlib, which is not installed here: {_INSTALL}") from exc
    return matplotlib, Figure, FigureCanvasAgg


def picture_formats() -> list[str]:
    """The file name endings the plots can be written as (``png``, ``pdf``, ``svg``...), as
    matplotlib's Agg canvas writes them; ImportError with the install line without matplotlib.

    >>> import anynet as an
    >>> "png" in an.plot.picture_formats()
    True
    """
    _, _, canvas = _matplotlib()
    return sorted(canvas.get_supported_filetypes())


def _figure(ax: Any, ncols: int = 1, size: tuple[float, float] = (5.0, 5.0)) -> tuple[Any, Any]:
    """``(figure, axes)``: the given axes' figure, or a new Agg figure with one axes
    (``ncols`` > 1: a list of them)."""
    if ax is not None:
        return ax.figure, ax
    _, Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas: renders to PNG without a display
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, (axes[0] if ncols == 1 else list(axes))


def _save(fig: Any, path: str | os.PathLike | None, dpi: int) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi)


def _colors(k: int) -> list[Any]:
    matplotlib = _matplotlib()[0]
    base = matplotlib.colormaps["tab10" if k <= 10 else "tab20"].colors
    return [base[i % len(base)] for i in range(k)]


def _host(a: Any, name: str, where: str) -> np.ndarray:
    try:
        return np.asarray(to_numpy(a))
    except Exception as exc:
        raise TypeError(f"{where}: {name} must be an array (NumPy or any anynet backend), "
                        f"got {type(a).__name__}") from exc


def _classes(scores: np.ndarray, where: str, threshold: float = 0.0) -> np.ndarray:
    """Class labels from model outputs: argmax of (N, C) scores, ``> threshold`` for
    one score per sample (a logit), or the labels themselves."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        return np.argmax(scores, axis=1)
    if scores.ndim == 2:
        scores = scores[:, 0]
    if scores.ndim != 1:
        raise ValueError(f"{where}: predictions must be labels (N,), scores (N, C) or one score (N, 1); "
                         f"got shape {scores.shape}")
    if scores.dtype.kind in "iub":
        return scores.astype(np.int64)
    return (scores > threshold).astype(np.int64)


def _labels(t: Any, n: int | None, where: str) -> np.ndarray:
    t = _host(t, "t", where)
    if t.ndim == 2 and t.shape[1] > 1:
        t = np.argmax(t, axis=1)  # one-hot rows
    t = t.reshape(-1) if t.ndim == 2 else t
    if t.ndim != 1 or (t.size and (t.min() < 0 or not np.all(t == np.round(t)))):
        raise ValueError(f"{where}: t must be integer class labels >= 0 (N,) or one-hot rows, "
                         f"got shape {t.shape} of {t.dtype}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{where}: x has {n} samples but t has {t.shape[0]}")
    return t.astype(np.int64)


def _names(class_names: Sequence[str] | None, k: int, where: str) -> list[str]:
    if class_names is None:
        return [str(c) for c in range(k)]
    names = [str(c) for c in class_names]
    if len(names) < k:
        raise ValueError(f"{where}: class_names has {len(names)} names but the labels go up to {k - 1}")
    return names


def decision_boundary(model: Any, x: Any, t: Any, path: str | os.PathLike | None = None, *,
                      ax: Any = None, class_names: Sequence[str] | None = None,
                      resolution: int = 200, padding: float = 0.1, threshold: float = 0.0,
                      title: str | None = None, dpi: int = 100) -> Any:
    """The classes a 2-D model predicts over the plane, with the data on top (the ConvNetJS picture).

    Parameters
    ----------
    model : object with ``predict``
        An anynet model on any backend (or anything whose ``predict`` returns
        scores (M, C), one logit (M, 1), or labels (M,)).
    x : array (N, 2)
        The points to draw; the grid covers them plus ``padding`` of their range.
    t : array (N,)
        Their true labels (colour of each point).
    path : str or path, optional
        Write a PNG there.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.
    class_names : sequence of str, optional
        Legend entries (default: the label numbers).
    resolution : int
        Grid points per axis (``resolution**2`` predictions, in one batch).
    threshold : float
        For one output per sample: class 1 where the output exceeds it (0 for
        logits; use 0.5 for probabilities).

    Returns
    -------
    matplotlib.figure.Figure

    Shapes
    ------
    x (N, 2), t (N,); the model maps (M, 2) to (M, C), (M, 1) or (M,).

    Examples
    --------
    >>> import os, tempfile, anynet as an
    >>> x, t = an.datasets.make_moons(60, seed=0)
    >>> model = an.Sequential([an.layers.Linear(2, 8), an.layers.Tanh(), an.layers.Linear(8, 2)])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "moons.png")
    ...     fig = an.plot.decision_boundary(model, x, t, path, resolution=40, class_names=["up", "down"])
    ...     os.path.getsize(path) > 0
    True
    >>> type(fig).__name__, [label.get_text() for label in fig.axes[0].get_legend().get_texts()]
    ('Figure', ['up', 'down'])
    """
    where = "decision_boundary"
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"{where}: model must have a predict method, got {type(model).__name__}")
    x = _host(x, "x", where).astype(np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{where}: x must have shape (N, 2) (a 2-D dataset), got {x.shape}")
    t = _labels(t, x.shape[0], where)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"{where}: resolution must be an int >= 2, got {resolution!r}")
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = padding * np.where(hi > lo, hi - lo, 1.0)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    pred = _classes(_host(model.predict(grid), "model.predict(grid)", where), where, threshold)
    k = max(int(pred.max()), int(t.max(initial=0))) + 1
    names = _names(class_names, k, where)
    k = max(k, len(names))
    colors = _colors(k)

    matplotlib = _matplotlib()[0]
    fig, ax = _figure(ax)
    cmap = matplotlib.colors.ListedColormap(colors)
    ax.contourf(xx, yy, pred.reshape(xx.shape), levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
    for c in range(k):
        m = t == c
        if m.any():
            ax.scatter(x[m, 0], x[m, 1], s=18, color=colors[c], edgecolors="black", linewidths=0.4,
                       label=names[c])
    if t.size:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.set_title(title if title is not None else "decision boundary")
    _save(fig, path, dpi)
    return fig


def training_curves(history: Any, path: str | os.PathLike | None = None, *,
                    title: str | None = None, dpi: int = 100) -> Any:
    """Loss and accuracy per epoch, training and (when present) validation.

    Parameters
    ----------
    history : History or dict
        What ``model.fit`` returns, or its ``.history`` dict
        (``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``).
    path : str or path, optional
        Write a PNG there.

    Returns
    -------
    matplotlib.figure.Figure
        One panel for the loss and, for classification, one for the accuracy.

    Examples
    --------
    >>> import anynet as an
    >>> logs = {"loss": [0.9, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9], "val_loss": [1.0, 0.7, 0.6]}
    >>> fig = an.plot.training_curves(logs)  # or the History that fit returns
    >>> [ax.get_ylabel() for ax in fig.axes], [line.get_label() for line in fig.axes[0].lines]
    (['loss', 'accuracy'], ['train', 'validation'])
    """
    where = "training_curves"
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(f"{where}: history must be a History (what fit returns) or a dict of lists, "
                        f"got {type(history).__name__}")
    metrics = [m for m in ("loss", "accuracy") if logs.get(m) or logs.get(f"val_{m}")]
    if not metrics:
        raise ValueError(f"{where}: history has no 'loss' or 'accuracy' values; keys: {sorted(logs)}")
    fig, axes = _figure(None, ncols=len(metrics), size=(5.0 * len(metrics), 3.8))
    from matplotlib.ticker import MaxNLocator  # importable: _figure checked matplotlib
    for ax, m in zip(axes if len(metrics) > 1 else [axes], metrics):
        for key, label in ((m, "train"), (f"val_{m}", "validation")):
            values = logs.get(key)
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                        markersize=3, label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
        ax.legend()
    if title is not None:
        fig.suptitle(title)
    _save(fig, path, dpi)
    return fig


def confusion_matrix(model_or_predictions: Any, x: Any = None, t: Any = None,
                     path: str | os.PathLike | None = None, *, class_names: Sequence[str] | None = None,
                     ax: Any = None, normalize: bool = False, title: str | None = None,
                     dpi: int = 100) -> Any:
    """How often each true class (rows) is predicted as each class (columns).

    Parameters
    ----------
    model_or_predictions : model or array
        A model (its ``predict(x)`` gives scores or labels), or predictions
        already made: labels (N,) or scores (N, C); then leave ``x`` out
        (``confusion_matrix(pred, t=t)``).
    x : array (N, ...), optional
        Inputs for the model.
    t : array (N,)
        True labels.
    path : str or path, optional
        Write a PNG there.
    class_names : sequence of str, optional
        Tick labels (default: the label numbers).
    normalize : bool
        Show each row as fractions of its true class instead of counts.

    Returns
    -------
    matplotlib.figure.Figure
        The image holds the matrix (``fig.axes[0].images[0].get_array()``).

    Shapes
    ------
    x ``(N, *input_shape)``, t (N,) -> a (C, C) matrix.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> pred, t = np.asarray([0, 1, 1, 2]), np.asarray([0, 1, 0, 2])
    >>> fig = an.plot.confusion_matrix(pred, t=t, class_names=["a", "b", "c"])
    >>> fig.axes[0].images[0].get_array().tolist()  # row: true class, column: predicted
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    >>> fig.axes[0].get_title()
    'confusion matrix (accuracy 0.750)'
    """
    where = "confusion_matrix"
    if t is None:
        raise ValueError(f"{where}: t (the true labels) is required")
    if callable(getattr(model_or_predictions, "predict", None)):
        if x is None:
            raise ValueError(f"{where}: x is required to get predictions from the model")
        scores = _host(model_or_predictions.predict(x), "model.predict(x)", where)
    else:
        if x is not None:
            raise ValueError(f"{where}: the first argument is predictions, not a model, so x is not "
                             "used; call confusion_matrix(predictions, t=labels)")
        scores = _host(model_or_predictions, "predictions", where)
    pred = _classes(scores, where)
    t = _labels(t, pred.shape[0], where)
    k = max(int(pred.max(initial=0)), int(t.max(initial=0))) + 1
    if scores.ndim == 2 and scores.shape[1] > 1:
        k = max(k, scores.shape[1])
    names = _names(class_names, k, where)
    k = len(names)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (t, pred), 1)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts

    fig, ax = _figure(ax, size=(1.2 + 0.45 * max(k, 6), 1.0 + 0.45 * max(k, 6)))
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    if k <= 30:
        top = shown.max() if shown.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if normalize else str(counts[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize="small",
                        color="white" if shown[i, j] > 0.5 * top else "black")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                  if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = float(np.trace(counts)) / max(int(counts.sum()), 1)
    ax.set_title(title if title is not None else f"confusion matrix (accuracy {accuracy:.3f})")
    fig.colorbar(image, ax=ax, shrink=0.8)
    _save(fig, path, dpi)
    return fig


# ------------------------------------------------------------------ convnets
def _conv_index(model: Any, layer: int | None, where: str) -> int:
    """The index of the Conv2D to show: ``layer``, or the model's first Conv2D."""
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"{where}: model must have a predict method, got {type(model).__name__}")
    convs = [i for i, la in enumerate(model.layers) if type(la).__name__ == "Conv2D"]
    if layer is None:
        if not convs:
            raise ValueError(f"{where}: the model has no Conv2D layer; its layers are "
                             f"{[type(la).__name__ for la in model.layers]}")
        return convs[0]
    if layer not in convs:
        raise ValueError(f"{where}: layer must be the index of a Conv2D layer (the model's are {convs}), "
                         f"got {layer!r}")
    return layer


def _grid(images: Sequence[np.ndarray], titles: Sequence[str], suptitle: str, cmap: str) -> Any:
    n = len(images)
    ncols = int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    _, Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(1.3 * ncols + 0.4, 1.3 * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, image, title in zip(axes, images, titles):
        ax.imshow(image, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize="small")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(suptitle)
    return fig


def filters(model: Any, path: str | os.PathLike | None = None, *, layer: int | None = None,
            dpi: int = 100) -> Any:
    """The kernels of a model's first ``Conv2D`` (or of ``model.layers[layer]``), one image each.

    A kernel of one input channel is drawn in grey (dark: negative weights); of three, as an
    RGB image (each filter scaled to [0, 1]); of any other number, the mean over its input
    channels in grey.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per output channel; axes ``i`` shows filter ``i``
        (``fig.axes[i].images[0].get_array()``).

    Shapes
    ------
    ``W`` (out, kh, kw, in) -> ``out`` images of kh x kw.

    Examples
    --------
    >>> import anynet as an
    >>> model = an.Sequential([an.layers.Conv2D(1, 4, 3), an.layers.Flatten(), an.layers.Linear(144, 2)],
    ...                       input_shape=(8, 8, 1), seed=0)
    >>> fig = an.plot.filters(model)
    >>> len(fig.axes), fig.axes[0].images[0].get_array().shape
    (4, (3, 3))
    """
    i = _conv_index(model, layer, "filters")
    W = _host(model.params[i]["W"], "W", "filters").astype(np.float64)  # (out, kh, kw, in)
    if W.shape[3] == 3:
        lo = W.min(axis=(1, 2, 3), keepdims=True)
        span = np.maximum(W.max(axis=(1, 2, 3), keepdims=True) - lo, 1e-12)
        images = list((W - lo) / span)
    else:
        images = list(W.mean(axis=3))
    fig = _grid(images, [str(k) for k in range(W.shape[0])],
                f"layer {i} (Conv2D) filters, {W.shape[1]}x{W.shape[2]}", "gray")
    _save(fig, path, dpi)
    return fig


def feature_maps(model: Any, x: Any, path: str | os.PathLike | None = None, *, layer: int | None = None,
                 dpi: int = 100) -> Any:
    """What the first ``Conv2D`` (or ``model.layers[layer]``) outputs for one sample, a
    grey image per output channel (inference mode: BatchNorm's running statistics).

    Parameters
    ----------
    model : Sequential
    x : array
        One sample of the model's input shape (rows or images), or a batch of one.
    path : str or path, optional
        Write a PNG there.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per channel; axes ``c`` shows channel ``c`` (``fig.axes[c].images[0].get_array()``).

    Shapes
    ------
    x ``(*input_shape)`` or ``(1, *input_shape)`` -> ``out_channels`` images of Ho x Wo.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> model = an.Sequential(an.layers.cnn((8, 8, 1), (4,), (), 10, from_rows=True), seed=0)
    >>> fig = an.plot.feature_maps(model, np.ones(64))  # one digit's 64 pixels
    >>> len(fig.axes), fig.axes[0].images[0].get_array().shape
    (4, (8, 8))
    """
    i = _conv_index(model, layer, "feature_maps")
    sample = np.asarray(to_numpy(x))
    shape = tuple(getattr(model, "input_shape", None) or sample.shape)
    if sample.shape == shape:
        sample = sample[None]
    if sample.shape != (1, *shape):
        raise ValueError(f"feature_maps: x must be one sample of shape {shape} or a batch of one "
                         f"(1, {', '.join(map(str, shape))}), got shape {sample.shape}")
    be = model.backend
    h = be.asarray(sample, dtype=model.dtype)
    for j in range(i + 1):  # the model's own inference pass up to the layer
        la = model.layers[j]
        extra = {"state": model.state[j]} if getattr(la, "stateful", False) else {}
        h = la.forward(model.params[j], h, training=False, xp=be.xp, **extra)[0]
    maps = np.asarray(to_numpy(h), dtype=np.float64)[0]  # (Ho, Wo, C)
    fig = _grid([maps[:, :, c] for c in range(maps.shape[2])], [str(c) for c in range(maps.shape[2])],
                f"layer {i} (Conv2D) feature maps, {maps.shape[0]}x{maps.shape[1]}", "viridis")
    _save(fig, path, dpi)
    return fig
