"""Datasets: bundled tables, toy generators, IDX files. Host NumPy, the same on every backend."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import anynet as an
from anynet import datasets as ds

TABLES = {"digits": (1797, 64, 10), "iris": (150, 4, 3), "wine": (178, 13, 3), "breast_cancer": (569, 30, 2)}
TOYS = {"spiral": 300, "moons": 200, "circles": 200, "xor": 200, "blobs": 300}


# ------------------------------------------------------------------ every name
@pytest.mark.parametrize("name", ds.DATASETS)
def test_load_gives_a_stratified_float32_int64_split(name):
    d = ds.load(name)
    n, dim, k = TABLES.get(name, (TOYS.get(name), 2, 3 if name in ("spiral", "blobs") else 2))
    assert d.name == name and len(d.class_names) == k == d.n_classes and d.n_features == dim
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.t_train.dtype == np.int64 and d.t_test.dtype == np.int64
    assert d.x_train.shape == (len(d.t_train), dim) and d.x_test.shape == (len(d.t_test), dim)
    assert len(d.t_train) + len(d.t_test) == n
    assert np.isfinite(d.x_train).all() and np.isfinite(d.x_test).all()
    for c in range(k):  # each class split 80/20 on its own
        total = int((d.t_train == c).sum() + (d.t_test == c).sum())
        assert int((d.t_test == c).sum()) == round(0.2 * total), (c, total)


def test_table_class_names_and_features_follow_the_files():
    assert ds.load("iris").class_names == ("setosa", "versicolor", "virginica")
    assert ds.load("wine").class_names == ("class_0", "class_1", "class_2")
    bc = ds.load("breast_cancer")
    assert bc.class_names == ("malignant", "benign")
    assert len(bc.feature_names) == 30 and bc.feature_names[0] == "mean radius"
    assert bc.feature_names[10] == "radius error" and bc.feature_names[-1] == "worst fractal dimension"
    counts = np.bincount(np.concatenate([bc.t_train, bc.t_test]))
    assert counts.tolist() == [212, 357]  # the documented class distribution


def test_raw_iris_matches_fishers_first_row():
    d = ds.load("iris", standardize=False)
    x = np.concatenate([d.x_train, d.x_test])
    assert d.mean is None and d.std is None
    assert np.any(np.all(np.isclose(x, [5.1, 3.5, 1.4, 0.2]), axis=1))
    assert 4.3 <= x[:, 0].min() and x[:, 0].max() <= 7.9


def test_names_are_normalized_and_unknown_names_list_the_valid_ones():
    assert ds.load("Breast-Cancer").name == "breast_cancer"
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'.*'digits'.*'iris'.*'spiral'.*IDX"):
        ds.load("mnist")
    with pytest.raises(TypeError, match="name must be"):
        ds.load(3)


def test_bad_split_arguments_are_named():
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\), got 1.5"):
        ds.load("iris", test_size=1.5)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        ds.load("iris", seed=-1)
    with pytest.raises(ValueError, match=r"t must be 1-D labels"):
        ds.stratified_split(np.zeros((4, 2)))


# ------------------------------------------------------------------ split and seed
def test_stratified_split_keeps_each_class_proportion():
    t = np.asarray([0] * 50 + [1] * 30 + [2] * 20)
    tr, te = ds.stratified_split(t, test_size=0.3, seed=1)
    assert np.bincount(t[te]).tolist() == [15, 9, 6]
    assert np.bincount(t[tr]).tolist() == [35, 21, 14]
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(100))  # disjoint and complete


def test_same_seed_same_data_other_seed_other_split():
    a, b, c = ds.load("wine", seed=3), ds.load("wine", seed=3), ds.load("wine", seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.t_test, b.t_test)
    assert not np.array_equal(a.t_train, c.t_train)
    s1, s2 = ds.load("spiral", seed=0), ds.load("spiral", seed=1)
    assert not np.allclose(np.sort(s1.x_train[:, 0]), np.sort(s2.x_train[:, 0]))


# ------------------------------------------------------------------ standardization
@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_tables_are_standardized_with_training_statistics_only(name):
    raw, std = ds.load(name, standardize=False, seed=5), ds.load(name, seed=5)
    np.testing.assert_array_equal(raw.t_train, std.t_train)  # the same split
    xtr, xte = raw.x_train.astype(np.float64), raw.x_test.astype(np.float64)
    np.testing.assert_allclose(std.mean, xtr.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std.std, xtr.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std.x_train, (xtr - std.mean) / std.std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.x_test, (xte - std.mean) / std.std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std.x_train.std(axis=0), 1.0, atol=1e-4)
    # the test statistics were not used: with them the test set would be exactly centred
    assert np.abs(xte.mean(axis=0) - std.mean).max() > 1e-3
    np.testing.assert_allclose(std.standardize(raw.x_test), std.x_test, rtol=1e-6, atol=1e-6)


def test_digits_stay_pixels_unless_asked():
    d = ds.load("digits")
    assert d.mean is None and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    s = ds.load("digits", standardize=True)
    assert np.isfinite(s.x_train).all()  # constant (always-0) pixels stay 0, not NaN
    assert np.all(s.std > 0)
    with pytest.raises(ValueError, match=r"Dataset.standardize: x must have shape \(N, 64\)"):
        s.standardize(np.zeros((2, 3)))


# ------------------------------------------------------------------ toy generators
@pytest.mark.parametrize("make", [ds.make_spiral, ds.make_moons, ds.make_circles, ds.make_xor, ds.make_blobs])
def test_generators_are_seeded_balanced_and_typed(make):
    x, t = make(101, seed=7)
    assert x.shape == (101, 2) and x.dtype == np.float32 and t.shape == (101,) and t.dtype == np.int64
    counts = np.bincount(t)
    assert counts.max() - counts.min() <= 1  # as even as 101 allows
    x2, t2 = make(101, seed=7)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(t, t2)
    assert not np.array_equal(x, make(101, seed=8)[0])


def test_generators_draw_the_shapes_they_promise():
    x, t = ds.make_xor(400, noise=0.0)
    np.testing.assert_array_equal(t, (x[:, 0] * x[:, 1] < 0).astype(np.int64))
    assert np.abs(x).max() <= 1.0
    x, t = ds.make_circles(200, factor=0.3, noise=0.0)
    r = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(r, np.where(t == 0, 1.0, 0.3), rtol=1e-5)
    x, t = ds.make_moons(200, noise=0.0)
    upper = np.hypot(x[t == 0, 0] + 0.5, x[t == 0, 1] + 0.25)
    lower = np.hypot(x[t == 1, 0] - 0.5, x[t == 1, 1] - 0.25)
    np.testing.assert_allclose(upper, 1.0, rtol=1e-5)
    np.testing.assert_allclose(lower, 1.0, rtol=1e-5)
    x, t = ds.make_spiral(500, n_classes=5, noise=0.0)
    assert np.hypot(x[:, 0], x[:, 1]).max() <= 1.0 + 1e-6 and set(t.tolist()) == set(range(5))
    x, t = ds.make_blobs(3000, n_classes=4, noise=0.1)
    centres = np.stack([x[t == c].mean(axis=0) for c in range(4)])
    np.testing.assert_allclose(np.hypot(centres[:, 0], centres[:, 1]), 1.0, atol=0.02)


def test_generator_arguments_are_checked():
    with pytest.raises(ValueError, match="make_spiral: n_classes must be an int >= 2, got 1"):
        ds.make_spiral(n_classes=1)
    with pytest.raises(ValueError, match=r"make_moons: noise must be a number >= 0, got -0\.1"):
        ds.make_moons(noise=-0.1)
    with pytest.raises(ValueError, match=r"make_blobs: n_samples must be an int >= n_classes \(3\), got 2"):
        ds.make_blobs(2)
    with pytest.raises(ValueError, match=r"make_circles: factor must be in \(0, 1\)"):
        ds.make_circles(factor=1.5)


def test_load_passes_generator_options_and_refuses_them_elsewhere():
    d = ds.load("spiral", n_samples=150, n_classes=5, noise=0.1)
    assert d.class_names == tuple(f"arm {c}" for c in range(5)) and len(d.t_train) + len(d.t_test) == 150
    with pytest.raises(TypeError, match=r"load: bad option for 'moons'.*n_classes"):
        ds.load("moons", n_classes=3)
    with pytest.raises(ValueError, match=r"options \['noise'\] apply only to the toy sets"):
        ds.load("iris", noise=0.1)


# ------------------------------------------------------------------ IDX files
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX format written out by hand: magic, big-endian sizes, big-endian values."""
    head = struct.pack(">BBBB", 0, 0, _CODES[a.dtype], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write(path, data: bytes, gz: bool = False):
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def mnist_dir(tmp_path, *, gz=False, n_train=12, n_test=5, shape=(3, 2), dotted=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 4).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 4).astype(np.uint8),
    }
    for name, a in arrays.items():
        write(tmp_path / (name.replace("-idx", ".idx") if dotted else name), idx_bytes(a), gz)
    return arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_read_idx_round_trips_every_type(tmp_path, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) * 3 - (0 if dtype == np.uint8 else 20)).astype(dtype)
    path = write(tmp_path / "a-idx3", idx_bytes(a), gz)
    b = ds.read_idx(path)
    assert b.dtype == a.dtype and b.dtype.isnative and b.shape == a.shape
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_load_idx_reads_an_mnist_directory(tmp_path, gz):
    arrays = mnist_dir(tmp_path, gz=gz)
    d = ds.load_idx(tmp_path)
    assert d.x_train.shape == (12, 6) and d.x_test.shape == (5, 6) and d.x_train.dtype == np.float32
    np.testing.assert_allclose(d.x_train, arrays["train-images-idx3-ubyte"].reshape(12, 6) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.t_test, arrays["t10k-labels-idx1-ubyte"])
    assert d.t_train.dtype == np.int64 and d.class_names == ("0", "1", "2", "3") and d.name == tmp_path.name
    assert ds.load_idx(tmp_path, flatten=False).x_train.shape == (12, 3, 2)
    via_load = ds.load(str(tmp_path))
    np.testing.assert_array_equal(via_load.x_test, d.x_test)
    assert ds.load(tmp_path).x_train.shape == (12, 6)  # a Path works too


def test_load_idx_accepts_the_dotted_file_names(tmp_path):
    mnist_dir(tmp_path, dotted=True)
    assert ds.load_idx(tmp_path).x_train.shape == (12, 6)


def test_idx_directory_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        ds.load_idx(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no train-images-idx3-ubyte file in .*looked for "
                                                r"train-images-idx3-ubyte, train-images-idx3-ubyte.gz"):
        ds.load_idx(tmp_path)
    mnist_dir(tmp_path)
    with pytest.raises(ValueError, match="bring their own train/test files"):
        ds.load(tmp_path, test_size=0.3)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte holds 5 images but t10k-labels-idx1-ubyte "
                                         "holds 4 labels"):
        ds.load_idx(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(5, dtype=np.float32)))
    with pytest.raises(ValueError, match="must hold integer labels"):
        ds.load_idx(tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(5, dtype=np.uint8)))
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((5, 2, 2), dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"train images are \(3, 2\) but test images are \(2, 2\)"):
        ds.load_idx(tmp_path)


def test_corrupt_idx_files_are_named_with_what_is_wrong(tmp_path):
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    cases = {
        "short": (good[:3], "has 3 bytes, too short"),
        "magic": (b"\x08\x03" + good[2:], r"not an IDX file: magic number 0x0803.*0x00000803 for images"),
        "code": (good[:2] + b"\x07" + good[3:], r"magic number 0x00000702.*type code"),
        "header": (good[:6], r"truncated: its header announces 2 dimensions \(12 header bytes\)"),
        "data": (good[:-1], r"is truncated: its header announces shape \(3, 4\) of uint8, 24 bytes in all, "
                            r"but the file has 23 bytes"),
        "extra": (good + b"\x00", "has extra bytes"),
    }
    for name, (data, message) in cases.items():
        path = write(tmp_path / name, data)
        with pytest.raises(ValueError, match=message):
            ds.read_idx(path)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(ValueError, match=r"read_idx: cannot read .*cut.gz"):
        ds.read_idx(cut)
    fake = tmp_path / "fake.gz"
    fake.write_bytes(good)
    with pytest.raises(ValueError, match=r"read_idx: cannot read .*fake.gz"):
        ds.read_idx(fake)


def test_datasets_names_every_loadable_set():
    assert an.datasets is ds and set(ds.DATASETS) == set(TABLES) | set(TOYS)
