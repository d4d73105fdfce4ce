"""Datasets as host (NumPy) arrays: bundled tables, 2-D toy sets, MNIST-style IDX files, your own files.

Four sources, one result, a :class:`Dataset` with a seeded, stratified
train/test split and the class names:

* bundled tables: ``digits`` (8x8 images), ``iris``, ``wine``, ``breast_cancer``
  (see ``anynet/data/README.md`` for their origin and license);
* 2-D toy sets, generated from the seed, as in the ConvNetJS classify2d demo:
  ``spiral``, ``moons``, ``circles``, ``xor``, ``blobs`` (``make_spiral``, ...);
* a directory with MNIST-style IDX files (``load_idx``; nothing is downloaded);
* your own labelled data: a CSV table with a target column (``load_csv``) or a pair
  of ``.npy`` files (``load_npy``), class labels or regression values.

Its file readers (``read_idx``, ``read_csv``) check what a file declares before
they read or allocate it, and refuse more than ``max_bytes`` (default 2 GiB).

This module reads files and draws points on the host and computes nothing on a
backend, so it uses NumPy directly; a model moves the arrays to its device once
per ``fit``.

>>> import anynet as an
>>> data = an.datasets.load("iris")
>>> data.x_train.shape, data.x_test.shape, data.class_names
((120, 4), (30, 4), ('setosa', 'versicolor', 'virginica'))
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np  # host-side file reading, point generation and splitting only

from . import _npy

__all__ = [
    "DATASETS",
    "Dataset",
    "TASKS",
    "load",
    "load_breast_cancer",
    "load_digits",
    "load_csv",
    "load_idx",
    "load_npy",
    "load_iris",
    "load_wine",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spiral",
    "make_xor",
    "read_csv",
    "read_npy",
    "read_idx",
    "stratified_split",
]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test arrays with class names.

    Attributes
    ----------
    x_train, x_test : ndarray (N, D) float32
    t_train, t_test : ndarray (N,) int64 labels in ``[0, len(class_names))``
        (float32 values for a regression table of :func:`load_csv`/:func:`load_npy`)
    class_names : tuple of str
        Empty for regression targets.
    name : str
    feature_names : tuple of str
        Empty where the features have no names (pixels, toy coordinates).
    mean, std : ndarray (D,) float64 or None
        The training-set statistics the features were standardized with
        (``x = (raw - mean) / std``), or ``None`` when they were not.

    Shapes
    ------
    x_train (N_train, D), t_train (N_train,), x_test (N_test, D), t_test (N_test,).

    Examples
    --------
    >>> import anynet as an
    >>> data = an.datasets.load("iris")
    >>> data
    Dataset('iris', train=(120, 4), test=(30, 4), classes=3)
    >>> data.n_features, data.n_classes, data.feature_names[0]
    (4, 3, 'sepal length (cm)')
    >>> data.standardize([[5.1, 3.5, 1.4, 0.2]]).shape  # new flowers, scaled as the training set
    (1, 4)
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    class_names: tuple[str, ...]
    name: str
    feature_names: tuple[str, ...] = ()
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """D, the number of features per sample."""
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    def standardize(self, x: Any) -> np.ndarray:
        """New raw inputs, standardized as this dataset's features were (float32).

        Identity (apart from the cast) when the dataset is not standardized.
        Shapes: x (N, D) -> (N, D).
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"Dataset.standardize: x must have shape (N, {self.n_features}) "
                             f"for dataset {self.name!r}, got {x.shape}")
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return x.astype(np.float32)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={len(self.class_names)})")


# ---------------------------------------------------------------- splitting
def stratified_split(t: np.ndarray, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with each class split in the same proportion, seeded.

    Each class contributes ``round(test_size * count)`` samples to the test set;
    both index arrays are shuffled.

    Shapes: t (N,) -> train (N - N_test,), test (N_test,).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> t = np.asarray([0] * 8 + [1] * 4)
    >>> train, test = an.datasets.stratified_split(t, test_size=0.25, seed=0)
    >>> np.bincount(t[train]).tolist(), np.bincount(t[test]).tolist()  # 2:1 in both
    ([6, 3], [2, 1])
    """
    if not (isinstance(test_size, (int, float)) and 0.0 < test_size < 1.0):
        raise ValueError(f"stratified_split: test_size must be in (0, 1), got {test_size!r}")
    t = np.asarray(t)
    if t.ndim != 1:
        raise ValueError(f"stratified_split: t must be 1-D labels (N,), got shape {t.shape}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(t):
        idx = np.flatnonzero(t == c)
        rng.shuffle(idx)
        k = round(test_size * idx.size)
        test.append(idx[:k])
        train.append(idx[k:])
    tr, te = np.concatenate(train), np.concatenate(test)
    rng.shuffle(tr)
    rng.shuffle(te)
    return tr, te


def _finish(name: str, x: np.ndarray, t: np.ndarray, class_names: tuple[str, ...], *,
            test_size: float, seed: int, standardize: bool,
            feature_names: tuple[str, ...] = ()) -> Dataset:
    """Split, then standardize with the training statistics only (no test leakage)."""
    tr, te = stratified_split(t, test_size, seed)
    return _make(name, x[tr], t[tr], x[te], t[te], class_names, standardize, feature_names)


def _make(name: str, x_tr: np.ndarray, t_tr: np.ndarray, x_te: np.ndarray, t_te: np.ndarray,
          class_names: tuple[str, ...], standardize: bool, feature_names: tuple[str, ...] = ()) -> Dataset:
    mean = std = None
    if standardize:
        mean = x_tr.mean(axis=0, dtype=np.float64)
        std = x_tr.std(axis=0, dtype=np.float64)
        std = np.where(std > 0, std, 1.0)  # a constant feature stays 0 instead of NaN
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    t_type = np.int64 if class_names else np.float32  # labels, or regression values (load_csv, load_npy)
    return Dataset(x_tr.astype(np.float32), t_tr.astype(t_type), x_te.astype(np.float32),
                   t_te.astype(t_type), tuple(class_names), name, tuple(feature_names), mean, std)


# ---------------------------------------------------------------- bundled tables
def _bundled(filename: str):
    return resources.files("anynet.data").joinpath(filename).open("rb")


def _read_table(filename: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A scikit-learn style CSV: header ``n_samples,n_features,class names...``, label last."""
    with _bundled(filename) as fh, gzip.open(fh, "rt", encoding="utf-8") as text:
        head = text.readline().strip().split(",")
        raw = np.loadtxt(text, delimiter=",", dtype=np.float64, ndmin=2)
    n, d = int(head[0]), int(head[1])
    if raw.shape != (n, d + 1):
        raise ValueError(f"bundled file {filename} is damaged: its header says {n} rows of {d} "
                         f"features and a label, the file holds {raw.shape}")
    return raw[:, :-1], raw[:, -1].astype(np.int64), tuple(head[2:])


def load_digits(*, test_size: float = 0.2, seed: int = 0, standardize: bool = False) -> Dataset:
    """The 8x8 handwritten digits (1,797 images, 10 classes, pixels 0..16 scaled to [0, 1]).

    The UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin &
    Kaynak, 1998; CC BY 4.0), in the copy scikit-learn ships, bundled here.
    Split 80/20 stratified by class with ``seed`` (the same split every time).
    ``standardize=True`` standardizes every pixel with the training mean/std.

    Shapes: x (N, 64) float32, t (N,) int64.

    Examples
    --------
    >>> import anynet as an
    >>> data = an.datasets.load_digits()
    >>> data.x_train.shape, data.x_test.shape, data.class_names[:3]
    ((1438, 64), (359, 64), ('0', '1', '2'))
    >>> float(data.x_train.min()), float(data.x_train.max())  # pixels scaled to [0, 1]
    (0.0, 1.0)
    """
    with _bundled("digits.csv.gz") as fh:
        raw = np.loadtxt(gzip.open(fh, "rt"), delimiter=",", dtype=np.float64)
    x = raw[:, :-1] / 16.0
    t = raw[:, -1].astype(np.int64)
    return _finish("digits", x, t, tuple(str(i) for i in range(10)), test_size=test_size, seed=seed,
                   standardize=standardize)


_FEATURES = {
    "iris": ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"),
    "wine": ("alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
             "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
             "od280/od315_of_diluted_wines", "proline"),
}
_CELL = ("radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
         "concave points", "symmetry", "fractal dimension")
_FEATURES["breast_cancer"] = (tuple(f"mean {f}" for f in _CELL) + tuple(f"{f} error" for f in _CELL)
                              + tuple(f"worst {f}" for f in _CELL))


def _load_table(name: str, test_size: float, seed: int, standardize: bool) -> Dataset:
    x, t, classes = _read_table(f"{name}.csv.gz")
    return _finish(name, x, t, classes, test_size=test_size, seed=seed, standardize=standardize,
                   feature_names=_FEATURES[name])


def load_iris(*, test_size: float = 0.2, seed: int = 0, standardize: bool = True) -> Dataset:
    """Fisher's iris flowers: 150 samples, 4 measurements in cm, 3 species.

    Features are standardized with the TRAINING mean and std (the test set is
    not looked at; ``Dataset.mean``/``std`` hold them); ``standardize=False``
    gives the raw centimetres.

    Shapes: x (N, 4) float32, t (N,) int64.

    Examples
    --------
    >>> import anynet as an
    >>> data = an.datasets.load_iris()
    >>> data.x_train.shape, data.x_test.shape, data.class_names
    ((120, 4), (30, 4), ('setosa', 'versicolor', 'virginica'))
    >>> bool(an.datasets.load_iris(standardize=False).x_train.max() > 5)  # raw centimetres
    True
    """
    return _load_table("iris", test_size, seed, standardize)


def load_wine(*, test_size: float = 0.2, seed: int = 0, standardize: bool = True) -> Dataset:
    """Wines from three cultivars: 178 samples, 13 chemical measurements.

    Standardized with the TRAINING mean and std (``standardize=False``: raw values).

    Shapes: x (N, 13) float32, t (N,) int64.

    Examples
    --------
    >>> import anynet as an
    >>> data = an.datasets.load_wine()
    >>> data.x_train.shape, data.x_test.shape, data.n_classes
    ((142, 13), (36, 13), 3)
    """
    return _load_table("wine", test_size, seed, standardize)


def load_breast_cancer(*, test_size: float = 0.2, seed: int = 0, standardize: bool = True) -> Dataset:
    """Breast Cancer Wisconsin (Diagnostic): 569 samples, 30 cell-nucleus features,
    classes ``malignant`` (0) and ``benign`` (1).

    Standardized with the TRAINING mean and std (``standardize=False``: raw values).

    Shapes: x (N, 30) float32, t (N,) int64.

    Examples
    --------
    >>> import anynet as an
    >>> data = an.datasets.load_breast_cancer()
    >>> data.x_train.shape, data.x_test.shape, data.class_names
    ((456, 30), (113, 30), ('malignant', 'benign'))
    """
    return _load_table("breast_cancer", test_size, seed, standardize)


# ---------------------------------------------------------------- 2-D toy sets
def _check_toy(where: str, n_samples: int, noise: float, n_classes: int = 2) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"{where}: n_classes must be an int >= 2, got {n_classes!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < n_classes:
        raise ValueError(f"{where}: n_samples must be an int >= n_classes ({n_classes}), got {n_samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise ValueError(f"{where}: noise must be a number >= 0, got {noise!r}")


def _per_class(n: int, k: int) -> list[int]:
    """``n`` samples over ``k`` classes as evenly as possible."""
    return [n // k + (c < n % k) for c in range(k)]


def _shuffled(rng: np.random.Generator, parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate(parts)
    t = np.concatenate([np.full(len(p), c, dtype=np.int64) for c, p in enumerate(parts)])
    order = rng.permutation(len(t))
    return x[order].astype(np.float32), t[order]


def make_spiral(n_samples: int = 300, *, n_classes: int = 3, noise: float = 0.2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class (the CS231n / ConvNetJS spiral).

    Arm ``c`` runs from the centre to radius 1 while its angle sweeps 4 radians,
    starting at ``4 c``; ``noise`` is the std of Gaussian jitter on the angle.

    Shapes: x (n_samples, 2) float32, t (n_samples,) int64.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = an.datasets.make_spiral(300, n_classes=3, seed=0)
    >>> x.shape, np.bincount(t).tolist(), bool(np.hypot(x[:, 0], x[:, 1]).max() <= 1.0)
    ((300, 2), [100, 100, 100], True)
    """
    _check_toy("make_spiral", n_samples, noise, n_classes)
    rng = np.random.default_rng(seed)
    parts = []
    for c, m in enumerate(_per_class(n_samples, n_classes)):
        r = np.linspace(0.0, 1.0, m)
        theta = np.linspace(4.0 * c, 4.0 * (c + 1), m) + rng.normal(0.0, noise, m)
        parts.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
    return _shuffled(rng, parts)


def make_moons(n_samples: int = 200, *, noise: float = 0.1,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (upper: class 0, lower: class 1), centred at 0.

    ``noise`` is the std of Gaussian jitter on both coordinates.

    Shapes: x (n_samples, 2) float32, t (n_samples,) int64.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = an.datasets.make_moons(200, noise=0.0, seed=0)
    >>> x.shape, np.bincount(t).tolist()
    ((200, 2), [100, 100])
    >>> bool(x[t == 0, 1].mean() > x[t == 1, 1].mean())  # class 0 is the upper moon
    True
    """
    _check_toy("make_moons", n_samples, noise)
    rng = np.random.default_rng(seed)
    m0, m1 = _per_class(n_samples, 2)
    a0, a1 = np.linspace(0.0, math.pi, m0), np.linspace(0.0, math.pi, m1)
    upper = np.stack([np.cos(a0) - 0.5, np.sin(a0) - 0.25], axis=1)
    lower = np.stack([0.5 - np.cos(a1), 0.25 - np.sin(a1)], axis=1)
    parts = [p + rng.normal(0.0, noise, p.shape) for p in (upper, lower)]
    return _shuffled(rng, parts)


def make_circles(n_samples: int = 200, *, factor: float = 0.5, noise: float = 0.05,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A circle of radius 1 (class 0) around a circle of radius ``factor`` (class 1).

    ``noise`` is the std of Gaussian jitter on both coordinates.

    Shapes: x (n_samples, 2) float32, t (n_samples,) int64.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = an.datasets.make_circles(100, factor=0.5, noise=0.0, seed=0)
    >>> radius = np.hypot(x[:, 0], x[:, 1])
    >>> x.shape, round(float(radius[t == 0].mean()), 4), round(float(radius[t == 1].mean()), 4)
    ((100, 2), 1.0, 0.5)
    """
    _check_toy("make_circles", n_samples, noise)
    if not (isinstance(factor, (int, float)) and 0.0 < factor < 1.0):
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor!r}")
    rng = np.random.default_rng(seed)
    parts = []
    for radius, m in zip((1.0, factor), _per_class(n_samples, 2)):
        a = rng.uniform(0.0, 2.0 * math.pi, m)
        p = radius * np.stack([np.cos(a), np.sin(a)], axis=1)
        parts.append(p + rng.normal(0.0, noise, p.shape))
    return _shuffled(rng, parts)


def make_xor(n_samples: int = 200, *, noise: float = 0.0,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in the square [-1, 1]^2: class 0 where both coordinates have the
    same sign, class 1 where they differ (XOR of the signs).

    The classes are drawn in equal numbers; ``noise`` is the std of Gaussian
    jitter added after labelling (points near an axis may then cross it).

    Shapes: x (n_samples, 2) float32, t (n_samples,) int64.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = an.datasets.make_xor(200, seed=0)
    >>> x.shape, np.bincount(t).tolist()
    ((200, 2), [100, 100])
    >>> bool(np.all(t == (x[:, 0] * x[:, 1] < 0)))  # class 1 exactly where the signs differ
    True
    """
    _check_toy("make_xor", n_samples, noise)
    rng = np.random.default_rng(seed)
    parts = []
    for c, m in enumerate(_per_class(n_samples, 2)):
        s0 = rng.choice([-1.0, 1.0], m)
        s1 = s0 if c == 0 else -s0
        p = rng.uniform(0.0, 1.0, (m, 2)) * np.stack([s0, s1], axis=1)
        parts.append(p + rng.normal(0.0, noise, p.shape))
    return _shuffled(rng, parts)


def make_blobs(n_samples: int = 300, *, n_classes: int = 3, noise: float = 0.3,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class, centred evenly on the unit circle.

    ``noise`` is the std of each blob.

    Shapes: x (n_samples, 2) float32, t (n_samples,) int64.

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> x, t = an.datasets.make_blobs(300, n_classes=3, noise=0.1, seed=0)
    >>> x.shape, np.bincount(t).tolist()
    ((300, 2), [100, 100, 100])
    >>> [round(float(v)) for v in x[t == 0].mean(axis=0)]  # blob 0 sits at the top, (0, 1)
    [0, 1]
    """
    _check_toy("make_blobs", n_samples, noise, n_classes)
    rng = np.random.default_rng(seed)
    parts = []
    for c, m in enumerate(_per_class(n_samples, n_classes)):
        angle = 2.0 * math.pi * c / n_classes + math.pi / 2
        parts.append(np.array([math.cos(angle), math.sin(angle)]) + rng.normal(0.0, noise, (m, 2)))
    return _shuffled(rng, parts)


# name -> (generator, class names for k classes)
_TOYS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], Callable[[int], tuple[str, ...]]]] = {
    "spiral": (make_spiral, lambda k: tuple(f"arm {c}" for c in range(k))),
    "moons": (make_moons, lambda k: ("upper", "lower")),
    "circles": (make_circles, lambda k: ("outer", "inner")),
    "xor": (make_xor, lambda k: ("same sign", "opposite sign")),
    "blobs": (make_blobs, lambda k: tuple(f"blob {c}" for c in range(k))),
}


# ---------------------------------------------------------------- IDX (MNIST) files
# IDX type codes (http://yann.lecun.com/exdb/mnist/): all values big-endian.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_DEFAULT_MAX_BYTES = 2 * 2**30  # what a reader here accepts by default: 2 GiB (MNIST's images are 47 MB)
_CHUNK = 2**20  # files (and gzip streams) are read this much at a time


def _read_upto(fh: Any, n: int) -> bytearray:
    """At most ``n`` bytes from ``fh``, a chunk at a time: fewer only at the end of the
    file, and never more memory than the bytes actually there."""
    buf = bytearray()
    while len(buf) < n:
        chunk = fh.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _check_max_bytes(max_bytes: Any, where: str) -> None:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"{where}: max_bytes must be a positive int (bytes), got {max_bytes!r}")


def read_idx(path: str | os.PathLike, *, max_bytes: int = _DEFAULT_MAX_BYTES) -> np.ndarray:
    """One IDX file (MNIST's format; gzip-compressed when the name ends in ``.gz``).

    The file is 2 zero bytes, a type code, the number of dimensions ``ndim``,
    ``ndim`` big-endian uint32 sizes, then the values. Every part is checked:
    a wrong magic number, an unknown type code, a size of 2**31 or more (a
    negative count from a writer that used signed ints), more than
    ``max_bytes`` of values (default 2 GiB), or more or fewer bytes than the
    header announces raise ``ValueError`` naming the file, expected and found.
    Sizes are checked before the values are read; a gzip stream is inflated a
    chunk at a time and never beyond the size its header announces, so a small
    hostile file cannot make this allocate much more than its real contents.

    Shapes: the sizes in the header, e.g. (60000, 28, 28) uint8 for MNIST images.

    Examples
    --------
    A 2 x 3 uint8 array (type code 0x08, 2 dimensions) written by hand and read back:

    >>> import os, tempfile, anynet as an
    >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "tiny-idx2-ubyte")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(header + bytes(range(6)))
    ...     a = an.datasets.read_idx(path)
    >>> a.shape, a.dtype.name, a.tolist()
    ((2, 3), 'uint8', [[0, 1, 2], [3, 4, 5]])
    """
    _check_max_bytes(max_bytes, "read_idx")
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
            return _read_idx(fh, path, max_bytes)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, or a gzip stream cut short
        raise ValueError(f"read_idx: cannot read {path}: {exc}") from None


def _read_idx(fh: Any, path: Path, max_bytes: int) -> np.ndarray:
    data = _read_upto(fh, 4)
    if len(data) < 4:
        raise ValueError(f"read_idx: {path} has {len(data)} bytes, too short for the 4-byte IDX magic number")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if data[0] or data[1] or code not in _IDX_TYPES or ndim == 0:
        raise ValueError(
            f"read_idx: {path} is not an IDX file: magic number 0x{magic:08X}, expected "
            f"0x0000TTDD with type code TT in {{{', '.join(f'0x{c:02X}' for c in _IDX_TYPES)}}} "
            "and DD >= 1 dimensions (MNIST: 0x00000803 for images, 0x00000801 for labels)"
        )
    head = 4 + 4 * ndim
    data += _read_upto(fh, head - 4)
    if len(data) < head:
        raise ValueError(f"read_idx: {path} is truncated: its header announces {ndim} dimensions "
                         f"({head} header bytes) but the file has only {len(data)} bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    for i, size in enumerate(shape):
        if size >= 2**31:
            raise ValueError(f"read_idx: {path}: size {i} in its header is {size} ({size - 2**32} as a "
                             "signed 32-bit count): a corrupt or foreign file")
    dtype = np.dtype(_IDX_TYPES[code])
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise ValueError(f"read_idx: {path}: its header announces shape {shape} of {dtype.name}, "
                         f"{nbytes} bytes, more than max_bytes={max_bytes}; pass a larger max_bytes= "
                         "to read a file you trust")
    want = head + nbytes
    try:  # a plain file's size is known before its values are read
        size = os.fstat(fh.fileno()).st_size if not isinstance(fh, gzip.GzipFile) else None
    except (AttributeError, OSError, ValueError):
        size = None
    if size is None:
        values = _read_upto(fh, nbytes)
        size = head + len(values) + len(_read_upto(fh, _CHUNK) if len(values) == nbytes else b"")
    elif size == want:
        values = _read_upto(fh, nbytes)
        size = head + len(values)  # the file may have changed since
    if size != want:
        what = "is truncated" if size < want else "has extra bytes"
        more = "" if size <= want or not isinstance(fh, gzip.GzipFile) else " or more"
        raise ValueError(f"read_idx: {path} {what}: its header announces shape {shape} of "
                         f"{dtype.name}, {want} bytes in all, but the file has {size}{more} bytes")
    return np.frombuffer(values, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


_IDX_FILES = {
    "train images": "train-images-idx3-ubyte",
    "train labels": "train-labels-idx1-ubyte",
    "test images": "t10k-images-idx3-ubyte",
    "test labels": "t10k-labels-idx1-ubyte",
}


def _find_idx(directory: Path, stem: str) -> Path:
    # MNIST's own names, and the ``train-images.idx3-ubyte`` spelling of some mirrors
    dotted = stem.replace("-idx", ".idx")
    candidates = [directory / (s + ext) for s in (stem, dotted) for ext in ("", ".gz")]
    for p in candidates:
        if p.is_file():
            return p
    raise FileNotFoundError(f"load_idx: no {stem} file in {directory}; looked for "
                            f"{', '.join(p.name for p in candidates)}")


def load_idx(directory: str | os.PathLike, *, flatten: bool = True, standardize: bool = False) -> Dataset:
    """An MNIST-style directory: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``).

    The split is the files' own (train/t10k), not a new one. uint8 pixels are
    scaled to [0, 1]; images are flattened to rows unless ``flatten=False``;
    ``standardize=True`` standardizes with the training mean/std. Class names
    are the label values ``"0"``, ``"1"``, ... Works for MNIST, Fashion-MNIST,
    KMNIST and any file set of that layout; nothing is downloaded.

    Shapes: x (N, rows * cols) float32 (``flatten=False``: (N, rows, cols)),
    t (N,) int64.

    Examples
    --------
    A miniature MNIST (six 2 x 2 training images, two test images) written by hand:

    >>> import os, tempfile, numpy as np, anynet as an
    >>> def write_idx(path, a):  # 0, 0, type 0x08 (uint8), ndim, sizes (big-endian), values
    ...     with open(path, "wb") as f:
    ...         sizes = b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    ...         _ = f.write(bytes([0, 0, 0x08, a.ndim]) + sizes + a.tobytes())
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for split, n in (("train", 6), ("t10k", 2)):
    ...         write_idx(os.path.join(d, f"{split}-images-idx3-ubyte"), np.full((n, 2, 2), 255, np.uint8))
    ...         write_idx(os.path.join(d, f"{split}-labels-idx1-ubyte"), np.arange(n, dtype=np.uint8) % 3)
    ...     data = an.datasets.load_idx(d)
    >>> data.x_train.shape, data.x_test.shape, float(data.x_train.max()), data.class_names
    ((6, 4), (2, 4), 1.0, ('0', '1', '2'))
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"load_idx: {str(directory)!r} is not a directory "
                                "(give the folder that holds the IDX files)")
    paths = {k: _find_idx(directory, stem) for k, stem in _IDX_FILES.items()}
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        x, t = arrays[f"{split} images"], arrays[f"{split} labels"]
        px, pt = paths[f"{split} images"].name, paths[f"{split} labels"].name
        if x.ndim < 2:
            raise ValueError(f"load_idx: {px} must hold images (N, rows, cols), got shape {x.shape}")
        if t.ndim != 1 or t.dtype.kind not in "iu":
            raise ValueError(f"load_idx: {pt} must hold integer labels (N,), got shape {t.shape} of {t.dtype}")
        if x.shape[0] != t.shape[0]:
            raise ValueError(f"load_idx: {px} holds {x.shape[0]} images but {pt} holds {t.shape[0]} labels")
        if t.size and t.min() < 0:
            raise ValueError(f"load_idx: {pt} holds a negative label ({t.min()})")
    x_tr, x_te = arrays["train images"], arrays["test images"]
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise ValueError(f"load_idx: train images are {x_tr.shape[1:]} but test images are {x_te.shape[1:]}")
    scale = 255.0 if x_tr.dtype == np.uint8 else 1.0  # float32 throughout: MNIST is 47M pixels
    x_tr, x_te = x_tr.astype(np.float32) / np.float32(scale), x_te.astype(np.float32) / np.float32(scale)
    if flatten:
        x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    t_tr, t_te = arrays["train labels"], arrays["test labels"]
    k = int(max(t_tr.max(initial=0), t_te.max(initial=0))) + 1
    return _make(directory.name, x_tr, t_tr, x_te, t_te, tuple(str(c) for c in range(k)), standardize)


# ---------------------------------------------------------------- CSV and .npy inputs
def read_csv(path: str | os.PathLike, *, max_bytes: int = _DEFAULT_MAX_BYTES) -> np.ndarray:
    """Numbers from a comma-separated file: one row per sample, an optional header line.

    What ``anynet predict --input`` reads. The file must be UTF-8 text of plain
    numbers separated by commas (``,``), the same count on every line; blank
    lines are skipped. A first line that is not numbers is taken for a header.
    Anything else raises ``ValueError`` naming the file, the line and what is
    wrong, before NumPy parses a value: another separator (``;`` or a tab),
    quoted fields, a ragged row, a word, ``nan``/``inf``, a control character
    (NUL...), an empty file, or a file over ``max_bytes`` (default 2 GiB).

    Shapes: (rows, columns) float64.

    Examples
    --------
    >>> import os, tempfile, anynet as an
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "x.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("height,width\\n1.5,2\\n3,4e-1\\n")
    ...     x = an.datasets.read_csv(path)
    ...     with open(path, "w") as f:
    ...         _ = f.write("1.5;2\\n3;0.4\\n")
    ...     an.datasets.read_csv(path)
    Traceback (most recent call last):
    ...
    ValueError: read_csv: .../x.csv line 1 has ';' between values: ...
    >>> x.shape, x.dtype.name, x.tolist()
    ((2, 2), 'float64', [[1.5, 2.0], [3.0, 0.4]])
    """
    _check_max_bytes(max_bytes, "read_csv")
    path = Path(path)
    where = f"read_csv: {path}"
    lines = _csv_lines(path, max_bytes, where)
    rows = lines[1:] if lines[0][1] and not _is_numeric_row(lines[0][1]) else lines
    if not rows:
        raise ValueError(f"{where} has a header line and no rows of numbers")
    width = rows[0][1].count(",") + 1
    for number, line in rows:
        if line.count(",") + 1 != width:
            raise ValueError(f"{where} line {number} has {line.count(',') + 1} values but line "
                             f"{rows[0][0]} has {width}")
    flat = ",".join(line for _, line in rows).split(",")
    try:
        values = np.asarray(flat, dtype=np.str_).astype(np.float64)
    except ValueError:
        for number, line in rows:  # find and name the first value that is not a number
            for column, cell in enumerate(line.split(",")):
                if not _is_number(cell):
                    raise ValueError(f"{where} line {number} column {column + 1}: {cell.strip()[:40]!r} "
                                     "is not a number") from None
        raise  # pragma: no cover - NumPy and float() disagree
    values = values.reshape(len(rows), width)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{where} line {rows[r][0]} column {c + 1} is {values[r, c]}: inputs must be "
                         "finite numbers")
    return values


def _csv_lines(path: Path, max_bytes: int, where: str, plain: str = "plain numbers only") -> list[tuple[int, str]]:
    """The non-blank lines of a comma-separated text file, numbered from 1 and stripped, after
    the checks every CSV reader here makes before it parses a value: size, UTF-8, control
    characters, emptiness, another separator, quoted fields."""
    size = path.stat().st_size  # FileNotFoundError as it is
    if size > max_bytes:
        raise ValueError(f"{where} is {size} bytes, more than max_bytes={max_bytes}; pass a larger "
                         "max_bytes= to read a file you trust")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"
                         ) from None
    control = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if control is not None:
        number = text.count("\n", 0, control.start()) + 1
        raise ValueError(f"{where} line {number} has the control character {control.group()!r}: "
                         "not a text file of numbers")
    lines = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise ValueError(f"{where} is empty: no rows of numbers")
    for number, line in lines[:2]:  # the usual mistakes, named before the general check below
        for sep, name in ((";", "';'"), ("\t", "a tab")):
            if sep in line and "," not in line:
                raise ValueError(f"{where} line {number} has {name} between values: anynet reads "
                                 "comma-separated values (save with sep=',')")
    for number, line in lines:
        if '"' in line or "'" in line:
            raise ValueError(f"{where} line {number} has quoted fields: anynet reads {plain} "
                             f"({line[:60]!r})")
    return lines


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return bool(cell.strip())


def _is_numeric_row(line: str) -> bool:
    return all(_is_number(c) for c in line.split(","))


def read_npy(path: str | os.PathLike, *, max_bytes: int = _DEFAULT_MAX_BYTES) -> np.ndarray:
    """A numeric ``.npy`` file, its header checked against the file's size and ``max_bytes``
    before its values are read (never pickle).

    >>> import os, tempfile, numpy as np, anynet as an
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(os.path.join(d, "x.npy"), np.arange(6.0).reshape(2, 3))
    ...     an.datasets.read_npy(os.path.join(d, "x.npy")).shape
    (2, 3)
    """
    _check_max_bytes(max_bytes, "read_npy")
    path = Path(path)
    where = f"read_npy: {path}"
    with open(path, "rb") as fh:
        try:
            shape, fortran, dtype = _npy.read_header(fh)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > max_bytes:
            raise ValueError(f"{where} declares shape {shape} of {dtype}, {nbytes} bytes, more than "
                             f"max_bytes={max_bytes}")
        left = os.fstat(fh.fileno()).st_size - fh.tell()
        if left != nbytes:
            raise ValueError(f"{where} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
                             f"{left} bytes of values")
        values = _read_upto(fh, nbytes)
    if len(values) != nbytes:
        raise ValueError(f"{where} changed while it was read")
    a = np.frombuffer(values, dtype=dtype)
    return (a.reshape(shape[::-1]).T if fortran else a.reshape(shape)).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------- your own labelled data
#: What :func:`load_csv` and :func:`load_npy` may take the targets for.
TASKS: tuple[str, ...] = ("auto", "classification", "regression")
_MAX_AUTO_CLASSES = 100  # "auto": whole numbers with more distinct values than this are regression targets


def load_csv(path: str | os.PathLike, target: str | int, *, test_size: float = 0.2, seed: int = 0,
             task: str = "auto", standardize: bool = True, max_bytes: int = _DEFAULT_MAX_BYTES) -> Dataset:
    """A labelled table from a comma-separated file, split and standardized as the bundled tables.

    The ``target`` column holds the targets; every other column is a feature and must hold
    numbers. The file is checked as :func:`read_csv` checks its input (UTF-8 text, commas, no
    quotes, the same count of values on every line, at most ``max_bytes``), and every
    problem is a ``ValueError`` that names the line and the column: an empty cell, a word or
    ``nan`` among the features, a target column that is not there (the message lists the
    columns).

    Parameters
    ----------
    path : str or path
        One row per sample; an optional first line of column names (a header).
    target : str or int
        The target column: its name in the header line, or its 0-based index (negative
        counts from the end: ``-1`` is the last column), with or without a header. Given
        an index, the first line is a header if any of its other cells is not a number.
    test_size : float
        Fraction held out as the test set (default 0.2): of each class, seeded, as
        :func:`stratified_split`; for regression a seeded random part.
    seed : int
        Seeds the split: the same seed, the same split.
    task : {"auto", "classification", "regression"}
        ``"auto"``: targets that are words, or whole numbers with few distinct values (at
        most 100, and at most half as many as the rows), are class labels; other numbers
        are regression targets.
    standardize : bool
        Standardize every feature with the TRAINING part's mean and std (default True;
        ``Dataset.mean``/``std`` keep them, and ``anynet predict`` applies them).
    max_bytes : int
        Refuse a larger file (default 2 GiB).

    Returns
    -------
    Dataset
        For classification ``t`` holds class ids 0..K-1, the labels in sorted order
        (numbers by value, words alphabetically), and ``class_names`` the labels as text;
        for regression ``t`` holds the values (float32) and ``class_names`` is empty.
        ``feature_names`` are the header's names (empty without a header); ``name`` is the
        file's name without its suffix.

    Shapes: x_train (N_train, D) float32, t_train (N_train,); the same for the test part.

    Examples
    --------
    >>> import os, tempfile, anynet as an
    >>> rows = [f"{i % 7},{i % 5},{'big' if i % 7 > 3 else 'small'}" for i in range(40)]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "sizes.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("width,height,size\\n" + "\\n".join(rows) + "\\n")
    ...     data = an.datasets.load_csv(path, "size")
    ...     an.datasets.load_csv(path, "colour")
    Traceback (most recent call last):
    ...
    ValueError: load_csv: .../sizes.csv has no column 'colour'; its columns are 'width', 'height', 'size'
    >>> data, data.class_names, data.feature_names
    (Dataset('sizes', train=(32, 2), test=(8, 2), classes=2), ('big', 'small'), ('width', 'height'))
    """
    _check_max_bytes(max_bytes, "load_csv")
    _check_task(task, "load_csv")
    path = Path(path)
    where = f"load_csv: {path}"
    lines = _csv_lines(path, max_bytes, where, plain="plain values: numbers, and labels without quotes or commas")
    first = [c.strip() for c in lines[0][1].split(",")]
    width = len(first)
    col, header = _target_column(target, first, where)
    rows = lines[1:] if header else lines
    if not rows:
        raise ValueError(f"{where} has a header line and no rows")
    for number, line in rows:
        if line.count(",") + 1 != width:
            raise ValueError(f"{where} line {number} has {line.count(',') + 1} values but line "
                             f"{lines[0][0]} has {width}")
    cells = np.char.strip(np.asarray(",".join(line for _, line in rows).split(","), dtype=np.str_))
    cells = cells.reshape(len(rows), width)
    numbers = [number for number, _ in rows]
    label = [f"column {first[i]!r}" if header else f"column {i}" for i in range(width)]
    features = [i for i in range(width) if i != col]
    x = np.empty((len(rows), len(features)), dtype=np.float64)
    for j, i in enumerate(features):
        x[:, j] = _numeric_column(cells[:, i], label[i], numbers, where, "features")
    column = cells[:, col]
    empty = np.flatnonzero(column == "")
    if empty.size:
        raise ValueError(f"{where} line {numbers[empty[0]]}, {label[col]} (the target): an empty cell; every "
                         "row needs its target: fill it or drop the row")
    numeric = all(_is_number(c) for c in column)
    t = _numeric_column(column, label[col] + " (the target)", numbers, where, "targets") if numeric else column
    return _labelled(path.stem, x, t, task=task, test_size=test_size, seed=seed, standardize=standardize,
                     feature_names=tuple(first[i] for i in features) if header else (), where=where)


def load_npy(x_path: str | os.PathLike, t_path: str | os.PathLike, *, test_size: float = 0.2, seed: int = 0,
             task: str = "auto", standardize: bool = True, max_bytes: int = _DEFAULT_MAX_BYTES) -> Dataset:
    """Features and targets from a pair of ``.npy`` files, split and standardized as :func:`load_csv`.

    ``x_path`` holds one sample per row (N, D) of finite numbers (N, H, W... is flattened to
    rows); ``t_path`` holds N numbers, one target per row of ``x_path``: class labels or
    regression values, told apart by ``task`` as in :func:`load_csv` (integers and booleans
    are labels under ``"auto"`` when few are distinct). Both are read by :func:`read_npy`
    (header checked, never pickle). ``test_size``, ``seed``, ``standardize``: as in
    :func:`load_csv`.

    Shapes: x (N, D) or (N, ...), t (N,) or (N, 1) -> a Dataset as :func:`load_csv`'s.

    Examples
    --------
    >>> import os, tempfile, numpy as np, anynet as an
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(os.path.join(d, "x.npy"), x)
    ...     np.save(os.path.join(d, "t.npy"), (x[:, 0] > 0).astype(np.int64))
    ...     np.save(os.path.join(d, "y.npy"), x @ [1.0, 2.0, 3.0])
    ...     labels = an.datasets.load_npy(os.path.join(d, "x.npy"), os.path.join(d, "t.npy"))
    ...     values = an.datasets.load_npy(os.path.join(d, "x.npy"), os.path.join(d, "y.npy"))
    >>> labels.class_names, values.class_names, values.t_train.dtype.name
    (('0', '1'), (), 'float32')
    """
    _check_max_bytes(max_bytes, "load_npy")
    _check_task(task, "load_npy")
    x, t = read_npy(x_path, max_bytes=max_bytes), read_npy(t_path, max_bytes=max_bytes)
    where = f"load_npy: {x_path}"
    if x.ndim < 2:
        raise ValueError(f"{where} holds shape {x.shape}: the features must be one row per sample, (N, D)")
    x = x.reshape(len(x), -1).astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{where} row {r}, feature {c} is {x[r, c]}: features must be finite numbers")
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"load_npy: {t_path} holds shape {t.shape}: the targets must be one per sample, (N,)")
    if len(t) != len(x):
        raise ValueError(f"load_npy: {x_path} holds {len(x)} samples but {t_path} holds {len(t)} targets; "
                         "they must pair up row by row")
    if t.dtype.kind == "f":
        bad_t = np.flatnonzero(~np.isfinite(t))
        if bad_t.size:
            raise ValueError(f"load_npy: {t_path} row {bad_t[0]} is {t[bad_t[0]]}: targets must be finite")
    return _labelled(Path(x_path).stem, x, t, task=task, test_size=test_size, seed=seed, standardize=standardize,
                     feature_names=(), where=f"load_npy: {t_path}")


def _check_task(task: Any, where: str) -> None:
    if task not in TASKS:
        raise ValueError(f"{where}: task must be one of {', '.join(map(repr, TASKS))}, got {task!r}")


def _target_column(target: str | int, first: list[str], where: str) -> tuple[int, bool]:
    """The target's column index, and whether the first line is a header."""
    width = len(first)
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise TypeError(f"{where}: target must be a column name or a 0-based index, got {target!r}")
    index: int | None = target if isinstance(target, int) else None
    if isinstance(target, str) and re.fullmatch(r"[+-]?\d+", target.strip()):
        index = int(target)
    if index is None:  # a name: the first line is the header
        if not any(not _is_number(c) for c in first):
            raise ValueError(f"{where} has no header line (its first line is {width} numbers), so it has no "
                             f"column {target!r}; give the target as a 0-based column index, 0..{width - 1}")
        found = [i for i, c in enumerate(first) if c == target.strip()]
        if not found:
            hint = ("; if that first line is data, not column names, give the target as a 0-based "
                    f"column index, 0..{width - 1}") if any(_is_number(c) for c in first) else ""
            raise ValueError(f"{where} has no column {target!r}; its columns are "
                             f"{', '.join(map(repr, first))}{hint}")
        if len(found) > 1:
            raise ValueError(f"{where} has {len(found)} columns named {target!r} (at indices "
                             f"{', '.join(map(str, found))}); give the target as a 0-based column index")
        return found[0], True
    if not -width <= index < width:
        raise ValueError(f"{where}: target column index {index} is out of range: the file has {width} columns "
                         f"(0..{width - 1}, or -1 for the last)")
    index %= width
    header = any(not _is_number(c) for i, c in enumerate(first) if i != index)
    return index, header


def _numeric_column(cells: np.ndarray, label: str, numbers: list[int], where: str, what: str) -> np.ndarray:
    """One column of cells as float64, or a ValueError naming the line and the column."""
    empty = np.flatnonzero(cells == "")
    if empty.size:
        raise ValueError(f"{where} line {numbers[empty[0]]}, {label}: an empty cell (a missing value); anynet "
                         "needs a number in every cell: fill it or drop the row")
    try:
        values = cells.astype(np.float64)
    except ValueError:
        r = next(r for r, c in enumerate(cells) if not _is_number(c))
        raise ValueError(f"{where} {label} holds text ({str(cells[r])[:40]!r} on line {numbers[r]}): {what} "
                         "must be numbers; encode it as numbers (e.g. one 0/1 column per category) or drop "
                         "the column") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{where} line {numbers[bad[0]]}, {label} is {cells[bad[0]]!s}: a missing or infinite "
                         f"value; {what} must be finite numbers: fill it or drop the row")
    return values


def _labelled(name: str, x: np.ndarray, t: np.ndarray, *, task: str, test_size: float, seed: int,
              standardize: bool, feature_names: tuple[str, ...], where: str) -> Dataset:
    """Targets encoded (class ids and names, or values), then split and standardized."""
    _check_seed(seed)
    n = len(t)
    numeric = t.dtype.kind in "biuf"
    if task == "regression" and not numeric:
        raise ValueError(f"{where}: the targets are text ({str(t[0])[:40]!r}...); regression needs numbers")
    classes = None
    if task != "regression":
        classes, ids = np.unique(t, return_inverse=True)
        whole = t.dtype.kind in "biu" or (numeric and bool(np.all(t == np.round(t))))
        if task == "auto" and numeric and not (whole and len(classes) <= min(_MAX_AUTO_CLASSES, n // 2)):
            classes = None  # numbers with fractions, or too many distinct ones: regression (words: classes)
    if classes is None:
        if not (isinstance(test_size, (int, float)) and 0.0 < test_size < 1.0):
            raise ValueError(f"{where}: test_size must be in (0, 1), got {test_size!r}")
        order = np.random.default_rng(seed).permutation(n)
        k = round(test_size * n)
        tr, te = order[k:], order[:k]
        values, class_names = t.astype(np.float32), ()
    else:
        if len(classes) < 2:
            raise ValueError(f"{where}: every target is {_label_text(classes[0])!r}: one class, nothing to tell "
                             "apart (give the column of the labels as the target)")
        tr, te = stratified_split(ids, test_size, seed)
        values, class_names = ids.astype(np.int64), tuple(_label_text(c) for c in classes)
    if te.size == 0 or tr.size == 0:
        raise ValueError(f"{where}: test_size={test_size} of {n} rows leaves {tr.size} for training and "
                         f"{te.size} for testing; both need at least one")
    return _make(name, x[tr], values[tr], x[te], values[te], class_names, standardize, feature_names)


def _label_text(value: Any) -> str:
    """A class label as text: whole numbers without ``.0``."""
    if isinstance(value, (np.floating, float)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- one entry point
_TABLES = {"digits": False, "iris": True, "wine": True, "breast_cancer": True}  # standardized by default

#: Every name :func:`load` knows (a directory of IDX files works too).
DATASETS: tuple[str, ...] = (*_TABLES, *_TOYS)


def load(name: str | os.PathLike, *, test_size: float | None = None, seed: int = 0,
         standardize: bool | None = None, **options: Any) -> Dataset:
    """Load a dataset by name, or an MNIST-style IDX directory by path.

    Parameters
    ----------
    name : str or path
        ``"digits"``, ``"iris"``, ``"wine"``, ``"breast_cancer"`` (bundled),
        ``"spiral"``, ``"moons"``, ``"circles"``, ``"xor"``, ``"blobs"`` (2-D toy
        sets generated from ``seed``), or a directory of IDX files (see :func:`load_idx`).
    test_size : float, optional
        Fraction of each class held out for testing (default 0.2). IDX files
        bring their own split, so it does not apply to them.
    seed : int
        Seeds the split (and the toy generator): the same seed, the same data.
    standardize : bool, optional
        Standardize every feature with the mean and std of the TRAINING set
        (the test set is never looked at; ``Dataset.mean``/``std`` keep them).
        Default: True for the tables iris, wine, breast_cancer; False for
        images (digits, IDX: pixels scaled to [0, 1]) and the toy sets
        (already centred, of unit scale). ``False`` gives the raw features.
    **options
        Passed to the toy generator: ``n_samples``, ``noise``, ``n_classes``
        (spiral, blobs), ``factor`` (circles).

    Returns
    -------
    Dataset
        Shapes: x_train (N_train, D) float32, t_train (N_train,) int64, and the
        same for the test set.

    Examples
    --------
    >>> import anynet as an
    >>> an.datasets.load("spiral", n_samples=150).x_train.shape
    (120, 2)
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else None
    if key not in DATASETS and (isinstance(name, os.PathLike) or (key is not None and _looks_like_path(name))):
        if test_size is not None or options:
            raise ValueError("load: IDX data bring their own train/test files; test_size and "
                             f"generator options do not apply (got test_size={test_size!r}, "
                             f"options={sorted(options)})")
        return load_idx(name, standardize=bool(standardize))
    if key is None:
        raise TypeError(f"load: name must be a dataset name or a directory path, got {type(name).__name__}")
    test_size = 0.2 if test_size is None else test_size
    _check_seed(seed)
    if key in _TOYS:
        make, names = _TOYS[key]
        try:
            x, t = make(seed=seed, **options)
        except TypeError as exc:
            raise TypeError(f"load: bad option for {key!r}: {exc}") from None
        return _finish(key, x, t, names(int(t.max()) + 1), test_size=test_size, seed=seed,
                       standardize=bool(standardize))
    if key in _TABLES:
        if options:
            raise ValueError(f"load: options {sorted(options)} apply only to the toy sets "
                             f"({', '.join(_TOYS)}), not to {key!r}")
        std = _TABLES[key] if standardize is None else standardize
        if key == "digits":
            return load_digits(test_size=test_size, seed=seed, standardize=std)
        return _load_table(key, test_size, seed, std)
    raise ValueError(f"load: unknown dataset {name!r}; expected one of "
                     f"{', '.join(map(repr, DATASETS))}, or the path of a directory with MNIST-style IDX files")


def _looks_like_path(name: str) -> bool:
    return os.sep in name or "/" in name or name.startswith(".") or os.path.isdir(name)


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"load: seed must be an int >= 0, got {seed!r}")
