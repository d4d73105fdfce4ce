"""Datasets bundled with anynet, returned as host (NumPy) arrays.

This module reads files and splits them on the host; it computes nothing on a
backend, so it uses NumPy directly (the model moves the arrays once per ``fit``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources

import numpy as np  # host-side file reading and splitting only

__all__ = ["Dataset", "load", "load_digits", "stratified_split"]


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays with class names.

    Attributes
    ----------
    x_train, x_test : ndarray (N, D) float32
    t_train, t_test : ndarray (N,) int64 labels
    class_names : tuple of str
    name : str
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    class_names: tuple[str, ...]
    name: str

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={len(self.class_names)})")


def stratified_split(t: np.ndarray, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with each class split in the same proportion, seeded.

    Each class contributes ``round(test_size * count)`` samples to the test set.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"stratified_split: test_size must be in (0, 1), got {test_size!r}")
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


def load_digits(*, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """The 8x8 handwritten digits (1,797 images, 10 classes, pixels 0..16 scaled to [0, 1]).

    The UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin &
    Kaynak, 1998; CC BY 4.0), in the copy scikit-learn ships, bundled here.
    Split 80/20 stratified by class with ``seed`` (the same split every time).

    Shapes: x (N, 64) float32, t (N,) int64.
    """
    with resources.files("anynet.data").joinpath("digits.csv.gz").open("rb") as fh:
        raw = np.loadtxt(gzip.open(fh, "rt"), delimiter=",", dtype=np.float64)
    x = (raw[:, :-1] / 16.0).astype(np.float32)
    t = raw[:, -1].astype(np.int64)
    tr, te = stratified_split(t, test_size, seed)
    return Dataset(x[tr], t[tr], x[te], t[te], tuple(str(i) for i in range(10)), "digits")


_LOADERS = {"digits": load_digits}


def load(name: str, *, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Load a bundled dataset by name (``"digits"``)."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"datasets.load: unknown dataset {name!r}; available: {sorted(_LOADERS)}") from None
    return loader(test_size=test_size, seed=seed)
