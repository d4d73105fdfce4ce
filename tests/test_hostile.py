"""Hostile files: checkpoints, IDX and CSV files mutated at random (a seeded loop) and
built by hand to attack the readers (zip bombs, forged sizes, odd names, huge shapes).

Every checkpoint case either loads a model equal to the original (same parameters, bit
for bit, and the same predictions) or raises ``CheckpointError`` naming the file; a
mutation that makes another valid file (an edited setting in the JSON, a value changed
behind a valid CRC) may load that other model. Every IDX or CSV case either returns what
an independent reference decoder reads from the same bytes or raises ``ValueError``
naming the file. Never another exception, never a warning, never a hang (a watchdog of
``HANG_S`` seconds per case), and never more memory than a bound stated below
(measured per case with tracemalloc, which sees NumPy's buffers too).

The default run tries ``ANYNET_FUZZ_CASES`` cases per class (300 unless set); the nox
session ``fuzz`` sets thousands. The file readers are host-side NumPy code, the same on
every backend, so these tests run in the numpy session only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io as _io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
import zlib
from collections import Counter

import numpy as np
import pytest

import anynet as an
from anynet import io
from anynet.backends import to_numpy

CASES = int(os.environ.get("ANYNET_FUZZ_CASES", "300"))
SEED = int(os.environ.get("ANYNET_FUZZ_SEED", "0"))
HANG_S = 30  # a watchdog, not a speed test: a case takes milliseconds
FUZZ_MAX_BYTES = 16 * 2**20  # the loads below use this max_bytes, so the memory bound is small
MIB = 2**20
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _numpy_session_only(be):
    if be.name != "numpy":
        pytest.skip("host-side file readers, the same on every backend: checked in the numpy session")


class Hang(Exception):
    pass


@contextlib.contextmanager
def guarded(stats, label):
    """Run one case under a watchdog, with warnings as errors, measuring its peak memory."""
    def alarm(signum, frame):
        raise Hang(f"{label}: no answer after {HANG_S} s")

    old = signal.signal(signal.SIGALRM, alarm) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
    tracemalloc.reset_peak()
    start, t0 = tracemalloc.get_traced_memory()[0], time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    finally:
        if old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        peak = tracemalloc.get_traced_memory()[1] - start
        seconds = time.perf_counter() - t0
        if peak > stats["peak"][0]:
            stats["peak"] = (peak, label)
        if seconds > stats["slowest"][0]:
            stats["slowest"] = (seconds, label)


@pytest.fixture(scope="module")
def tracing():
    tracemalloc.start()
    yield
    tracemalloc.stop()


def new_stats():
    return {"outcome": Counter(), "peak": (0, ""), "slowest": (0.0, "")}


def report(kind, stats, bound):
    out = stats["outcome"]
    print(f"\n[fuzz] {kind}: {sum(out.values())} cases, outcomes {dict(sorted(out.items()))}; worst peak "
          f"memory {stats['peak'][0] / MIB:.1f} MiB (bound {bound / MIB:.0f} MiB) in {stats['peak'][1]}; "
          f"slowest case {stats['slowest'][0] * 1000:.0f} ms ({stats['slowest'][1]})")
    assert stats["peak"][0] <= bound, f"{kind}: a case used {stats['peak'][0]} bytes, over {bound}"


# ====================================================================== checkpoints
def layer_models():
    """A small model around every built-in layer class (``an.layers.__all__``)."""
    L = an.layers
    models = {}
    for name in L.__all__:
        cls = getattr(L, name)
        if not (isinstance(cls, type) and issubclass(cls, L.Layer)) or cls is L.Layer:
            continue
        if name in ("Linear", "Maxout"):  # sized: (in_features, out_features)
            models[name] = ([cls(4, 3), L.Linear(3, 2)], (4,))
        elif cls is L.Flatten:
            models[name] = ([L.Flatten(), L.Linear(4, 2)], (2, 2))
        elif cls is L.Conv2D:  # channels-last images (N, H, W, C)
            models[name] = ([L.Conv2D(2, 3, 2), L.Flatten(), L.Linear(3 * 3 * 3, 2)], (4, 4, 2))
        elif cls in (L.MaxPool2D, L.AvgPool2D):
            models[name] = ([cls(2), L.Flatten(), L.Linear(2 * 2 * 2, 2)], (4, 4, 2))
        elif cls is L.GlobalAvgPool2D:
            models[name] = ([L.GlobalAvgPool2D(), L.Linear(2, 2)], (4, 4, 2))
        elif cls is L.BatchNorm:  # layer state: running_mean, running_var
            models[name] = ([L.Linear(4, 3), L.BatchNorm(3), L.Linear(3, 2)], (4,))
        elif cls is L.Reshape:
            models[name] = ([L.Reshape((2, 2, 1)), L.Flatten(), L.Linear(4, 2)], (4,))
        else:  # activations, Dropout, Softmax: settings by default
            models[name] = ([L.Linear(4, 3), cls(), L.Linear(3, 2)], (4,))
    return models


def test_every_built_in_layer_is_in_the_fuzz_corpus():
    names = {n for n in an.layers.__all__ if isinstance(getattr(an.layers, n), type)} - {"Layer"}
    assert set(layer_models()) == names


def make_corpus(directory):
    """Valid checkpoints: every layer type, with and without optimizer state, float64 and
    float32; each with its parameters, optimizer state and predictions on fixed inputs."""
    corpus = []
    for i, (name, (layers, shape)) in enumerate(sorted(layer_models().items())):
        for with_state in (False, True):
            dtype = "float32" if i % 3 == 0 and with_state else "float64"
            model = an.Sequential(layers, seed=i, dtype=dtype, backend="numpy", input_shape=shape)
            path = directory / f"{name}-{'state' if with_state else 'model'}.npz"
            x = np.random.default_rng(i).normal(size=(5, *shape))
            if with_state:
                opt = an.optim.Adam(lr=0.01) if i % 2 else an.optim.SGD(lr=0.1, momentum=0.9)
                t = np.arange(5) % 2
                model.fit(x, t, loss=an.losses.SoftmaxCrossEntropy(), optimizer=opt, epochs=2, batch_size=5,
                          verbose=0, checkpoint=path)
            else:
                io.save(model, path, extra={"note": name, "nested": {"a": [1, 2, {"b": None}]}})
            ck = io.load_checkpoint(path, backend="numpy")
            corpus.append({
                "name": path.name, "blob": path.read_bytes(), "x": x,
                "params": [{k: to_numpy(v) for k, v in p.items()} for p in ck.model.params],
                "configs": [(type(la).__name__, la.get_config()) for la in ck.model.layers],
                "y": to_numpy(ck.model.predict(x)),
                "state": ck.opt_state,
            })
    return corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def entries(blob):
    with zipfile.ZipFile(_io.BytesIO(blob)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def zip_of(items, compression=zipfile.ZIP_STORED):
    buf = _io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        with zipfile.ZipFile(buf, "w", compression=compression) as zf:
            for name, data in items:
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=compression)
    return buf.getvalue()


def npy(a):
    buf = _io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def meta_of(blob):
    data = dict(entries(blob))["__anynet__.npy"]
    return json.loads(np.lib.format.read_array(_io.BytesIO(data)).tobytes())


def with_meta_text(blob, text):
    items = [(n, npy(np.frombuffer(text.encode("utf-8"), np.uint8)) if n == "__anynet__.npy" else d)
             for n, d in entries(blob)]
    return zip_of(items)


ODD_NAMES = ["../params/0/W.npy", "/abs.npy", "params\\0\\W.npy", "params/0/W.npy\x00.txt", "a//b.npy",
             "./params/0/W.npy", "C:/x.npy", "params/0/W", "evil.txt", "params/99/W.npy", "opt/m/0/W.npy",
             "__anynet__.npy", "state/0/mean.npy", "params/0/W.npy"]
HOSTILE_VALUES = [-1, 0, 1, 2, 2**31, 2**63, 10**30, -10**30, 1e308, -0.0, float("nan"), float("inf"), "", "x",
                  "float128", "object", "<f8", ">f8", "V8", "O", "bool", "int64", None, True, [], {}, [-1],
                  [2**40, 2**40], [0] * 40, "Linear", "Sequential", "Layer", "Evil", "__anynet__", "DEEP",
                  "DEEPER", "A" * 5000]


def json_paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from json_paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from json_paths(v, (*path, i))


def edit_json(rng, blob):
    meta = meta_of(blob)
    paths = list(json_paths(meta))[1:]
    path = paths[rng.integers(len(paths))]
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    action = rng.integers(4)
    if action == 0 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == 1 and isinstance(parent, dict):
        parent[f"k{rng.integers(9)}"] = HOSTILE_VALUES[rng.integers(len(HOSTILE_VALUES))]
    else:
        parent[path[-1]] = HOSTILE_VALUES[rng.integers(len(HOSTILE_VALUES))]
    text = json.dumps(meta)
    depth = (100, 10**5)[rng.integers(2)]
    text = text.replace('"DEEP"', "[" * depth + "]" * depth).replace('"DEEPER"', "{\"a\":" * depth + "1" + "}" * depth)
    return with_meta_text(blob, text), f"json {path} ({action})"


def zip_op(rng, blob):
    items = entries(blob)
    op = rng.integers(8)
    j = rng.integers(len(items))
    if op == 0:  # remove an entry
        del items[j]
        what = "remove"
    elif op == 1:  # add an entry: an odd or foreign name, a valid array or junk
        name = ODD_NAMES[rng.integers(len(ODD_NAMES))]
        data = npy(np.zeros(3)) if rng.integers(2) else rng.bytes(rng.integers(0, 200))
        items.insert(rng.integers(len(items) + 1), (name, data))
        what = f"add {name!r}"
    elif op == 2:  # rename an entry (onto an odd name, or onto another entry's: a duplicate)
        name = ODD_NAMES[rng.integers(len(ODD_NAMES))] if rng.integers(2) else items[rng.integers(len(items))][0]
        items[j] = (name, items[j][1])
        what = f"rename to {name!r}"
    elif op == 3:  # duplicate an entry
        items.insert(rng.integers(len(items) + 1), items[j])
        what = "duplicate"
    elif op == 4:  # the same entries, deflated: still a valid checkpoint
        return zip_of(items, zipfile.ZIP_DEFLATED), "deflate all"
    elif op == 5:  # swap two entries' contents (a valid file if the shapes agree)
        k = rng.integers(len(items))
        items[j], items[k] = (items[j][0], items[k][1]), (items[k][0], items[j][1])
        return zip_of(items), "swap contents"
    elif op == 6:  # flip bits inside one entry, with a valid CRC: only the parser can notice
        data = bytearray(items[j][1])
        for _ in range(rng.integers(1, 4)):
            if data:
                pos = rng.integers(min(len(data), 160)) if rng.integers(2) else rng.integers(len(data))
                data[pos] ^= 1 << rng.integers(8)
        items[j] = (items[j][0], bytes(data))
        return zip_of(items), "flip inside an entry"
    else:  # an entry replaced by another array: other shape, dtype or order
        a = [np.zeros((3, 4)), np.zeros((4, 3), np.float32), np.asfortranarray(np.ones((3, 4))),
             np.array(["a"]), np.zeros((2**20,), np.uint8), np.zeros(()), np.arange(6) < 3][rng.integers(7)]
        items[j] = (items[j][0], npy(a))
        return zip_of(items), f"replace with {a.dtype} {a.shape}"
    return zip_of(items), what


def forge_directory(rng, blob):
    """Lie in the zip's records: an entry's sizes, method, flags or the entry count."""
    data = bytearray(blob)
    starts = [m.start() for m in re.finditer(b"PK\x01\x02", bytes(data))]
    at = starts[rng.integers(len(starts))]
    field, fmt, value = [
        (20, "<I", int(rng.choice([0, 1, 2**31, 2**32 - 1]))),  # compressed size
        (24, "<I", int(rng.choice([0, 1, 10**9, 2**32 - 1]))),  # uncompressed size
        (10, "<H", int(rng.choice([8, 12, 14, 99]))),  # method: deflate, bzip2, lzma, unknown
        (8, "<H", int(rng.choice([1, 0x41, 0x800]))),  # flags: encrypted, strong encryption, utf-8
    ][rng.integers(4)]
    struct.pack_into(fmt, data, at + field, value)
    return bytes(data), f"forge central record +{field} = {value}"


def damage(rng, blob):
    kind = rng.integers(3)
    if kind == 0:
        data = bytearray(blob)
        for _ in range(rng.integers(1, 9)):
            data[rng.integers(len(data))] ^= 1 << rng.integers(8)
        return bytes(data), "bit flips"
    if kind == 1:
        return blob[:rng.integers(len(blob))], "truncate"
    cut = rng.integers(len(blob))
    return blob[:cut] + blob[cut + rng.integers(1, 64):], "cut out a span"


#: mutation -> may it make another valid checkpoint (then loading that other model is right)?
MUTATIONS = {"damage": (damage, False), "zip": (zip_op, True), "json": (edit_json, True),
             "forge": (forge_directory, False)}


def check_checkpoint(path, original, semantic):
    """'refused', 'same' or 'other' (a valid, different checkpoint); anything else fails."""
    try:
        ck = io.load_checkpoint(path, backend="numpy", max_bytes=FUZZ_MAX_BYTES)
    except io.CheckpointError as exc:
        assert str(path) in str(exc), f"the message does not name the file: {exc}"
        return "refused"
    params = [{k: to_numpy(v) for k, v in p.items()} for p in ck.model.params]
    configs = [(type(la).__name__, la.get_config()) for la in ck.model.layers]
    same = (configs == original["configs"]
            and [sorted(p) for p in params] == [sorted(p) for p in original["params"]]
            and all(np.array_equal(p[k], q[k]) and p[k].dtype == q[k].dtype
                    for p, q in zip(params, original["params"]) for k in p))
    if same:
        y = to_numpy(ck.model.predict(original["x"]))
        assert np.array_equal(y, original["y"], equal_nan=True), "same model, other predictions"
        return "same"
    assert semantic, "damage made a different model load"
    return "other"


def test_checkpoint_fuzz(corpus, tmp_path, tracing):
    rng = np.random.default_rng(SEED)
    stats = new_stats()
    names = list(MUTATIONS)
    for case in range(CASES):
        original = corpus[case % len(corpus)]
        kind = names[(case // len(corpus)) % len(names)] if CASES >= 4 * len(corpus) else names[case % len(names)]
        mutate, semantic = MUTATIONS[kind]
        blob, what = mutate(rng, original["blob"])
        path = tmp_path / f"case{case}.npz"
        path.write_bytes(blob)
        label = f"case {case}: {original['name']} {kind}: {what}"
        try:
            with guarded(stats, label):
                outcome = check_checkpoint(path, original, semantic)
        except Exception as exc:
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from exc
        stats["outcome"][f"{kind}:{outcome}"] += 1
        path.unlink()
    # per case: the entries (at most FUZZ_MAX_BYTES), a copy of one, the model, the JSON
    report("checkpoints", stats, bound=3 * FUZZ_MAX_BYTES)
    assert sum(v for k, v in stats["outcome"].items() if k.endswith("refused")) > CASES // 4


# ---------------------------------------------------------------- hand-made attacks
@pytest.fixture
def saved(tmp_path):
    model = an.Sequential([an.layers.Linear(4, 3), an.layers.ReLU(), an.layers.Linear(3, 2)], seed=0,
                          backend="numpy", dtype="float64")
    path = tmp_path / "good.npz"
    io.save(model, path)
    return path


def refused(path, pattern, **kw):
    with pytest.raises(io.CheckpointError, match=pattern) as info:
        io.load(path, backend="numpy", **kw)
    assert str(path) in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("name, why", [
    ("../params/0/W.npy", r"'\.\.' part"), ("/params/0/W.npy", "absolute path"),
    ("params\\0\\W.npy", "backslash"), ("params/0/W.npy\x00x", "NUL byte"), ("params//0/W.npy", "empty"),
])
def test_odd_entry_names_are_refused(saved, name, why):
    items = entries(saved.read_bytes())
    blob = zip_of([*items, (name.replace("\x00", "\x01"), npy(np.zeros(3)))])
    saved.write_bytes(blob.replace(b"W.npy\x01x", b"W.npy\x00x"))  # zipfile cuts names at NUL when writing
    refused(saved, rf"zip entry .* {why}")


def test_duplicate_entries_are_refused_even_when_identical(saved):
    items = entries(saved.read_bytes())
    saved.write_bytes(zip_of([*items, items[1]]))
    refused(saved, rf"zip entry '{re.escape(items[1][0])}' appears more than once")


def test_entries_not_in_the_manifest_are_refused(saved):
    items = entries(saved.read_bytes())
    saved.write_bytes(zip_of([*items, ("params/0/extra.npy", npy(np.zeros(3)))]))
    refused(saved, r"entries its metadata does not list: \['params/0/extra'\]")
    saved.write_bytes(zip_of([*items, ("README.txt", b"hello")]))
    refused(saved, r"entries its metadata does not list: \['README.txt'\]")


def test_the_same_file_deflated_still_loads(saved):
    model = io.load(saved, backend="numpy")
    saved.write_bytes(zip_of(entries(saved.read_bytes()), zipfile.ZIP_DEFLATED))
    again = io.load(saved, backend="numpy")
    for p, q in zip(model.params, again.params):
        assert all(np.array_equal(to_numpy(p[k]), to_numpy(q[k])) for k in p)


def bomb(uncompressed, *, lie_to=None, name="params/0/W.npy"):
    """A zip with one deflated entry of ``uncompressed`` zero bytes (optionally declaring
    ``lie_to`` bytes in its records instead)."""
    blob = bytearray(zip_of([(name, bytes(uncompressed))], zipfile.ZIP_DEFLATED))
    if lie_to is not None:
        for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            struct.pack_into("<I", blob, blob.index(sig) + at, lie_to)
    return bytes(blob)


def test_a_zip_bomb_is_refused_by_its_declared_size_before_inflating(tmp_path, tracing):
    path = tmp_path / "bomb.npz"
    path.write_bytes(bomb(200 * MIB))  # 200 KB on disk
    assert path.stat().st_size < MIB
    tracemalloc.reset_peak()
    refused(path, "no '__anynet__' metadata entry")  # under max_bytes: refused, and never inflated
    refused(path, "'params/0/W.npy' brings the uncompressed size to 209715200 bytes, more than "
                  "max_bytes=1000000", max_bytes=10**6)
    assert tracemalloc.get_traced_memory()[1] < 16 * MIB
    path.write_bytes(bomb(200 * MIB, name="__anynet__.npy"))
    refused(path, "the metadata entry is 209715200 bytes, more than the 8388608 bytes of JSON")


def test_a_zip_bomb_lying_about_its_size_is_inflated_no_further_than_declared(tmp_path, tracing):
    path = tmp_path / "liar.npz"
    path.write_bytes(bomb(200 * MIB, lie_to=1000, name="__anynet__.npy"))  # read first: the metadata
    tracemalloc.reset_peak()
    refused(path, "Bad CRC-32")  # inflated to its declared 1000 bytes only, which do not match
    assert tracemalloc.get_traced_memory()[1] < 16 * MIB  # not 200 MiB


def test_other_compression_methods_and_encryption_are_refused(saved):
    items = entries(saved.read_bytes())
    saved.write_bytes(zip_of(items, zipfile.ZIP_BZIP2))
    refused(saved, "uses compression method 12; anynet reads stored")
    blob = bytearray(zip_of(items))
    struct.pack_into("<H", blob, blob.index(b"PK\x01\x02") + 8, 1)
    saved.write_bytes(bytes(blob))
    refused(saved, "is encrypted")


def test_declared_array_sizes_are_checked_against_max_bytes_before_reading(saved):
    assert io.load(saved, backend="numpy", max_bytes=1000)  # 15 + 8 float64: 184 bytes of arrays
    refused(saved, r"arrays need more than max_bytes=100 bytes", max_bytes=100)
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        io.load(saved, max_bytes=0)
    meta = meta_of(saved.read_bytes())
    meta["arrays"]["params/0/W"]["shape"] = [2**40, 2**20]
    saved.write_bytes(with_meta_text(saved.read_bytes(), json.dumps(meta)))
    refused(saved, r"arrays need more than max_bytes=2147483648 bytes \(up to 'params/0/W'")


def test_huge_layers_are_refused_before_their_parameters_are_initialized(saved, tracing):
    meta = meta_of(saved.read_bytes())
    meta["model"]["layers"][0]["config"]["in_features"] = 10**6
    meta["model"]["layers"][0]["config"]["out_features"] = 10**6  # 8 TB of float64 weights
    saved.write_bytes(with_meta_text(saved.read_bytes(), json.dumps(meta)))
    tracemalloc.reset_peak()
    refused(saved, r"layer 0 \(Linear\) has sizes .* more than max_bytes=2147483648 bytes of float64")
    assert tracemalloc.get_traced_memory()[1] < 16 * MIB


@pytest.mark.parametrize("text, why", [
    ("[" * 100000 + "]" * 100000, "nested more than 64 deep"),
    ('{"format": "anynet.checkpoint", "x": ' + "[" * 70 + "]" * 70 + "}", "nested more than 64 deep"),
    ("1" * 5000, "not valid UTF-8 JSON"),
    ('{"format": "anynet.checkpoint", "format_version": 1, "pad": "' + "x" * (9 * MIB) + '"}',
     r"metadata entry is \d+ bytes, more than the 8388608 bytes"),
])
def test_deep_huge_or_odd_json_is_refused(saved, text, why):
    saved.write_bytes(with_meta_text(saved.read_bytes(), text))
    refused(saved, why)


@dataclasses.dataclass(frozen=True)
class HostileTestSeededIdentity(an.layers.Layer):
    """A custom layer with a large int setting that is not a size."""

    seed: int = 2**40

    def init(self, rng):
        return {}

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        return x, None

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        return dy, {}


def test_a_large_setting_that_is_not_a_size_is_not_taken_for_one(tmp_path):
    model = an.Sequential([an.layers.Linear(4, 3), HostileTestSeededIdentity()], backend="numpy", seed=0)
    io.save(model, tmp_path / "m.npz")
    assert io.load(tmp_path / "m.npz", backend="numpy", max_bytes=1000).layers == model.layers


def test_save_refuses_extra_that_load_would_refuse(tmp_path):
    model = an.Sequential([an.layers.Linear(2, 2)], backend="numpy")
    deep = []
    for _ in range(70):
        deep = [deep]
    with pytest.raises(ValueError, match=r"nested more than 64 deep; load reads at most .* nested 64 deep"):
        io.save(model, tmp_path / "m.npz", extra={"deep": deep})
    assert not (tmp_path / "m.npz").exists()


def test_a_directory_of_a_million_entries_is_refused_before_it_is_parsed(saved):
    blob = bytearray(saved.read_bytes())
    at = blob.rindex(b"PK\x05\x06")
    struct.pack_into("<HHI", blob, at + 8, 65535, 65535, 2**31)  # entries here, in all; directory bytes
    saved.write_bytes(bytes(blob))
    refused(saved, "truncated|lists 65535 entries in 2147483648 bytes")


# Peak memory from /proc/self/status: VmHWM is this process image's peak RSS (ru_maxrss
# would also count the pytest process it was forked from: Linux keeps it across exec).
LOADER = r"""
import json, sys
import anynet as an

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

path, max_bytes = sys.argv[1], int(sys.argv[2])
before = status("VmRSS")
try:
    an.io.load(path, backend="numpy", max_bytes=max_bytes)
    outcome = "loaded"
except an.io.CheckpointError as exc:
    outcome = str(exc).split(": ", 1)[1][:100]
print(json.dumps({"before_kib": before, "after_kib": status("VmHWM"), "outcome": outcome}))
"""


def small_meta(**edits):
    meta = {"format": "anynet.checkpoint", "format_version": 1, "anynet_version": "0", "optimizer": None,
            "opt_state": None, "extra": {},
            "model": {"class": "Sequential", "layers": [{"class": "Linear", "config": {"in_features": 4,
                      "out_features": 3}}], "dtype": "float64", "seed": 0, "input_shape": None},
            "arrays": {"params/0/W": {"shape": [3, 4], "dtype": "float64"},
                       "params/0/b": {"shape": [3], "dtype": "float64"}}}
    for path, value in edits.items():
        *parents, last = path.split(".")
        d = meta
        for k in parents:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[last] = value
    return meta


def write_worst(path, kind):
    """The most expensive hostile checkpoints we know, written without holding them in memory."""
    params = [("params/0/W.npy", npy(np.zeros((3, 4)))), ("params/0/b.npy", npy(np.zeros(3)))]
    text = json.dumps(small_meta())
    max_bytes = 2**31
    if kind == "json-objects":  # as many empty objects as allowed, then short unique keys
        text = text[:-1] + ', "pad": [' + ",".join(["{}"] * (2**17 - 100)) + "]}"
    elif kind == "json-keys":  # the most metadata allowed, in short unique keys: the costliest JSON
        keys = ",".join(f'"{i:x}":0' for i in range(8 * MIB // 9))
        text = text[:-1] + ', "pad": {' + keys[:keys.rindex(",", 0, 8 * MIB - 2000)] + "}}"
    elif kind == "json-numbers":  # the most metadata allowed, in floats
        text = text[:-1] + ', "pad": [' + ",".join(["1e1"] * (8 * MIB // 4 - 1000)) + "]}"
    elif kind == "shape":  # arrays declaring 2 GiB, the entries holding a few bytes
        text = json.dumps(small_meta(**{"arrays.params/0/W.shape": [2**14, 2**14]}))
    elif kind == "layers":  # a 240 MB layer, under max_bytes=256 MiB so it is built, then refused
        max_bytes = 256 * MIB
        text = json.dumps(small_meta(**{"model.layers.0.config": {"in_features": 5000, "out_features": 6000}}))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if kind == "directory":  # as many entries as 8 MiB of directory holds, the count a lie
            for i in range(160_000):
                zf.writestr(zipfile.ZipInfo(f"{i:x}", date_time=(1980, 1, 1, 0, 0, 0)), b"")
        elif kind == "liar":  # 256 MiB of zeros deflated to 250 KB, its records declaring 2 MiB
            with zf.open("__anynet__.npy", "w") as f:
                for _ in range(256):
                    f.write(bytes(MIB))
        else:
            zf.writestr("__anynet__.npy", npy(np.frombuffer(text.encode(), np.uint8)))
            for name, data in params:
                zf.writestr(name, data)
    if kind == "directory":  # the zip64 end record's entry counts: 1,000, not 160,000
        blob = bytearray(path.read_bytes())
        struct.pack_into("<QQ", blob, blob.rindex(b"PK\x06\x06") + 24, 1000, 1000)
        path.write_bytes(bytes(blob))
    if kind == "liar":
        blob = bytearray(path.read_bytes())
        for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            struct.pack_into("<I", blob, blob.index(sig) + at, 2 * MIB)
        path.write_bytes(bytes(blob))
    return max_bytes


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS read from Linux's /proc")
def test_worst_hostile_checkpoints_stay_within_the_stated_memory_bound(tmp_path):
    """Peak RSS of a fresh process loading the most expensive hostile files we know, each
    refused or loaded as harmless junk. Bound: 200 MiB over the process's size before the
    load, whatever the file declares (the costliest is 8 MiB of JSON in short unique keys,
    about 140 MiB); a layer that max_bytes allows is built first (twice its size at most)."""
    for kind in ("json-objects", "json-keys", "json-numbers", "directory", "liar", "shape", "layers"):
        path = tmp_path / f"{kind}.npz"
        max_bytes = write_worst(path, kind)
        env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
        out = subprocess.run([sys.executable, "-c", LOADER, str(path), str(max_bytes)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        row = json.loads(out.stdout)
        grew = (row["after_kib"] - row["before_kib"]) / 1024
        print(f"\n[memory] {kind}: file {path.stat().st_size / MIB:.2f} MiB, max_bytes {max_bytes / MIB:.0f} MiB, "
              f"peak RSS +{grew:.0f} MiB (from {row['before_kib'] / 1024:.0f} MiB): {row['outcome']}")
        assert row["outcome"] != "loaded" or kind.startswith("json")  # junk under an unknown key is allowed
        assert grew < (2 * 240e6 / MIB + 50 if kind == "layers" else 200), row


# ====================================================================== IDX files
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_BOUND = 8 * MIB  # far below what the mutated headers declare (up to 2 GiB): never allocated


def idx_bytes(a):
    code = {np.dtype(t).name: c for c, t in IDX_TYPES.items()}[a.dtype.name]
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(
        a.dtype.newbyteorder(">")).tobytes()


def idx_corpus():
    rng = np.random.default_rng(1)
    out = []
    for k, t in enumerate(IDX_TYPES.values()):
        shape = [(7,), (4, 3), (3, 2, 5)][k % 3]
        a = (rng.normal(size=shape) * 50).astype(np.dtype(t).newbyteorder("="))
        out.append(idx_bytes(a))
    return out


def reference_idx(raw):
    """An independent IDX decoder: the array, or None where the file is not valid."""
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] not in IDX_TYPES or raw[3] == 0:
        return None
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        return None
    shape = struct.unpack(f">{ndim}I", raw[4:head])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    n = 1
    for s in shape:
        n *= s
    if any(s >= 2**31 for s in shape) or n * dtype.itemsize > 2**31 or len(raw) != head + n * dtype.itemsize:
        return None
    return np.frombuffer(raw, dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


def mutate_idx(rng, raw):
    data = bytearray(raw)
    kind = rng.integers(6)
    if kind == 0:  # a header byte: magic, type code, ndim
        data[rng.integers(4)] = rng.integers(256)
        what = "magic"
    elif kind == 1:  # a size: 0, huge, "negative", off by one
        i = rng.integers(data[3]) if data[3] else 0
        value = int(rng.choice([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 10**6, 46341, 2**16 + 1]))
        if rng.integers(3) == 0:
            value = struct.unpack(">I", data[4 + 4 * i:8 + 4 * i])[0] + int(rng.choice([-1, 1]))
        struct.pack_into(">I", data, 4 + 4 * i, value % 2**32)
        what = f"size {i} = {value}"
    elif kind == 2:
        for _ in range(rng.integers(1, 6)):
            data[rng.integers(len(data))] ^= 1 << rng.integers(8)
        what = "bit flips"
    elif kind == 3:
        data = data[:rng.integers(len(data))]
        what = "truncate"
    elif kind == 4:
        data += rng.bytes(rng.integers(1, 64))
        what = "append"
    else:
        data[3] = rng.integers(0, 256)  # many dimensions: a header longer than the file
        what = f"ndim = {data[3]}"
    return bytes(data), what


BOMBS = {}  # raw file -> its gzip bomb, made once


def mutate_gz(rng, raw):
    """Gzip the (maybe mutated) file, then maybe damage the stream, or make it a bomb."""
    kind = rng.integers(5)
    if kind == 0:
        body, what = mutate_idx(rng, raw)
        return gzip.compress(body, mtime=0), f"gz of {what}"
    if kind == 1:  # a bomb: a valid header and values, then 32 MiB of zeros (160 KB of gzip)
        if raw not in BOMBS:
            BOMBS[raw] = gzip.compress(raw + bytes(32 * MIB), compresslevel=9, mtime=0)
        return BOMBS[raw], "gz bomb"
    blob = bytearray(gzip.compress(raw, mtime=0))
    if kind == 2:
        for _ in range(rng.integers(1, 4)):
            blob[rng.integers(len(blob))] ^= 1 << rng.integers(8)
        return bytes(blob), "gz bit flips"
    if kind == 3:
        return bytes(blob[:rng.integers(len(blob))]), "gz truncated"
    return bytes(blob) + rng.bytes(rng.integers(1, 32)), "gz trailing junk"


def test_idx_fuzz(tmp_path, tracing):
    rng = np.random.default_rng(SEED + 1)
    corpus = idx_corpus()
    stats = new_stats()
    for case in range(CASES):
        raw = corpus[case % len(corpus)]
        gz = case % 2 == 1
        blob, what = (mutate_gz if gz else mutate_idx)(rng, raw)
        path = tmp_path / f"case{case}-idx{'.gz' if gz else ''}"
        path.write_bytes(blob)
        try:  # the bombs are invalid by construction (extra bytes): not inflated here
            plain = None if what == "gz bomb" else gzip.decompress(blob) if gz else blob
        except (OSError, EOFError, zlib.error):
            plain = None
        want = None if plain is None else reference_idx(plain)
        label = f"case {case}: {what}"
        try:
            with guarded(stats, label):
                try:
                    got = an.datasets.read_idx(path)
                except ValueError as exc:
                    assert str(path) in str(exc), f"the message does not name the file: {exc}"
                    got = None
        except Exception as exc:
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from exc
        if want is None:
            assert got is None, f"{label}: read {got!r} from an invalid file"
            stats["outcome"]["refused"] += 1
        else:
            assert got is not None, f"{label}: refused a valid file"
            assert got.dtype == want.dtype and got.dtype.isnative and np.array_equal(got, want, equal_nan=True)
            stats["outcome"]["read"] += 1
        path.unlink()
    report("IDX", stats, bound=IDX_BOUND)


def test_idx_sizes_are_checked_before_anything_is_allocated(tmp_path, tracing):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 2**31 - 1, 2**31 - 1, 2**31 - 1) + bytes(64))
    tracemalloc.reset_peak()
    with pytest.raises(ValueError, match=r"huge-idx3-ubyte: its header announces shape .* more than max_bytes"):
        an.datasets.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2**14, 2**16) + bytes(64))  # 1 GiB declared
    with pytest.raises(ValueError, match=r"is truncated: its header announces shape \(16384, 65536\)"):
        an.datasets.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 2**32 - 5))
    with pytest.raises(ValueError, match=r"size 0 in its header is 4294967291 \(-5 as a signed 32-bit count\)"):
        an.datasets.read_idx(path)
    assert tracemalloc.get_traced_memory()[1] < 8 * MIB  # not 1 GiB
    gz = tmp_path / "bomb-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 3) + bytes(64 * MIB), mtime=0))
    tracemalloc.reset_peak()
    with pytest.raises(ValueError, match=r"bomb-idx1-ubyte.gz has extra bytes: .* the file has \d+ or more bytes"):
        an.datasets.read_idx(gz)
    assert tracemalloc.get_traced_memory()[1] < 8 * MIB  # not 1 GiB, not the bomb's 64 MiB
    path.write_bytes(idx_bytes(np.zeros((5, 5), np.uint8)))
    assert an.datasets.read_idx(path, max_bytes=25).shape == (5, 5)
    with pytest.raises(ValueError, match="25 bytes, more than max_bytes=24"):
        an.datasets.read_idx(path, max_bytes=24)


# ====================================================================== CSV files
CSV_ALPHABET = [",", ";", "\t", '"', "'", "\n", "\r\n", " ", "e", "E", "-", "+", ".", "nan", "inf", "x", "1e999",
                "\x00", "\x07", "\ufeff", "\u2028", "\u0661", "_", "0", "7", "#", "1,2", "\xa0"]


def csv_corpus():
    rng = np.random.default_rng(2)
    out = []
    for k in range(6):
        a = rng.normal(size=(rng.integers(1, 6), rng.integers(1, 5))) * 10.0 ** rng.integers(-3, 4)
        fmt = ["%.17g", "%.3f", "%d", "%.6e", "%g", "%.2f"][k]
        if fmt == "%d":
            a = np.round(a)
        header = ",".join(f"col{j}" for j in range(a.shape[1])) + "\n" if k % 2 else ""
        sep = ", " if k == 4 else ","
        text = header + "".join(sep.join(fmt % v for v in row) + ("\r\n" if k == 5 else "\n") for row in a)
        out.append(text.encode())
    return out


def reference_csv(raw):
    """An independent reading of the rules read_csv states: the array, or None."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 32 and c not in "\t\n\r") or c == "\x7f" for c in text):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def number(cell):
        try:
            return float(cell) if cell.strip() else None
        except ValueError:
            return None

    if not lines or any('"' in line or "'" in line for line in lines):
        return None
    if any(number(c) is None for c in lines[0].split(",")):
        lines = lines[1:]
    rows = [[number(c) for c in line.split(",")] for line in lines]
    if not rows or len({len(r) for r in rows}) != 1 or any(v is None for r in rows for v in r):
        return None
    a = np.array(rows, dtype=np.float64)
    return a if np.isfinite(a).all() else None


def mutate_csv(rng, raw):
    text = raw.decode()
    kind = rng.integers(6)
    for _ in range(rng.integers(1, 4)):
        pos = rng.integers(len(text) + 1)
        piece = CSV_ALPHABET[rng.integers(len(CSV_ALPHABET))]
        if kind in (0, 1):
            text = text[:pos] + piece + text[pos:]
        elif kind == 2:
            text = text[:pos] + piece + text[pos + 1:]
        elif kind == 3:
            text = text[:pos] + text[pos + rng.integers(1, 4):]
    if kind == 4:
        text = text.replace(",", CSV_ALPHABET[rng.integers(len(CSV_ALPHABET))])
    blob = text.encode()
    if kind == 5:
        blob = blob[:rng.integers(len(blob) + 1)] + (rng.bytes(2) if rng.integers(2) else b"")
    return blob, f"kind {kind}"


def test_csv_fuzz(tmp_path, tracing):
    rng = np.random.default_rng(SEED + 2)
    corpus = csv_corpus()
    for raw in corpus:  # the corpus itself reads back
        assert reference_csv(raw) is not None
    stats = new_stats()
    for case in range(CASES):
        blob, what = mutate_csv(rng, corpus[case % len(corpus)])
        path = tmp_path / f"case{case}.csv"
        path.write_bytes(blob)
        want = reference_csv(blob)
        label = f"case {case}: {what}: {blob[:80]!r}"
        try:
            with guarded(stats, label):
                try:
                    got = an.datasets.read_csv(path)
                except ValueError as exc:
                    assert str(path) in str(exc), f"the message does not name the file: {exc}"
                    got = None
        except Exception as exc:
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from exc
        if want is None:
            assert got is None, f"{label}: read {got!r}, the rules say the file is invalid"
            stats["outcome"]["refused"] += 1
        else:
            assert got is not None, f"{label}: refused a valid file"
            assert got.dtype == np.float64 and np.array_equal(got, want), label
            stats["outcome"]["read"] += 1
        path.unlink()
    report("CSV", stats, bound=4 * MIB)


@pytest.mark.parametrize("text, message", [
    ("1;2;3\n4;5;6\n", r"line 1 has ';' between values: anynet reads comma-separated"),
    ("a\tb\n1\t2\n", "line 1 has a tab between values"),
    ('"a","b"\n"1","2"\n', "line 1 has quoted fields"),
    ("1,2\n3\n", "line 2 has 1 values but line 1 has 2"),
    ("1,2\n3,x\n", "line 2 column 2: 'x' is not a number"),
    ("1,nan\n", "line 1 column 2 is nan: inputs must be finite"),
    ("", "is empty: no rows of numbers"),
    ("a,b\n", "has a header line and no rows"),
    ("1,2\x00\n", r"line 1 has the control character '\\x00'"),
])
def test_csv_mistakes_are_named_without_numpy_warnings(tmp_path, text, message):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=rf"read_csv: .*x\.csv {message}"):
            an.datasets.read_csv(path)


def test_csv_over_max_bytes_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1,2\n3,4\n")
    assert an.datasets.read_csv(path, max_bytes=8).shape == (2, 2)
    with pytest.raises(ValueError, match=r"x\.csv is 8 bytes, more than max_bytes=7"):
        an.datasets.read_csv(path, max_bytes=7)


# ====================================================================== anynet predict --input
def test_predict_names_a_bad_input_file_without_a_traceback_or_a_warning(tmp_path):
    model = an.Sequential([an.layers.Linear(4, 3)], backend="numpy", seed=0)
    io.save(model, tmp_path / "m.npz")
    (tmp_path / "semi.csv").write_text("1;2;3;4\n5;6;7;8\n")
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 4)))
    header["shape"] = (2**40, 4)  # 32 TiB declared, 64 bytes held
    with open(tmp_path / "huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(64))
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONWARNINGS": "error"}
    for name, message in [("semi.csv", "line 1 has ';' between values"),
                          ("huge.npy", r"declares shape \(1099511627776, 4\) of float64, 35184372088832 bytes, "
                                       "more than max_bytes")]:
        out = subprocess.run([sys.executable, "-m", "anynet", "predict", "--model", str(tmp_path / "m.npz"),
                              "--input", str(tmp_path / name), "--backend", "numpy"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert re.search(rf"anynet predict: error: --input: read_\w+: .*{name}.* {message}", out.stderr), \
            out.stderr
