"""Checkpoints: round trip, portability between backends, no code run from a file,
atomic writes under SIGKILL, and a clear CheckpointError for every bad file."""

from __future__ import annotations

import dataclasses
import io as _io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

import anynet as an
from anynet import io
from anynet.backends import to_numpy

L = an.layers
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class IoTestScale(L.Layer):
    """A custom layer (registered by being defined) to save and load."""

    n: int

    def init(self, rng):
        return {"g": rng.uniform(0.5, 1.5, size=(self.n,))}

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        return x * params["g"][None, :], x

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        xp = xp or an.layers._base.namespace(None, dy)
        return dy * params["g"][None, :], {"g": xp.sum(dy * cache, axis=0)}


def trained(be, dtype="float64", steps=3):
    """A model with every kind of parameter (Linear, Maxout, a custom layer) moved away from
    its initial values by a few Adam steps, and the optimizer and its state."""
    model = an.Sequential([L.Linear(5, 8), L.ReLU(), L.Dropout(0.2), L.Maxout(8, 4, 2), IoTestScale(4),
                           L.Tanh(), L.Linear(4, 3)], seed=3, dtype=dtype, backend=be)
    opt = an.optim.Adam(lr=an.optim.StepDecay(0.01, step_size=2, gamma=0.5), clip_norm=1.0)
    step = model.train_step(loss=an.losses.SoftmaxCrossEntropy(), optimizer=opt, jit=False)
    rng = np.random.default_rng(0)
    x = be.asarray(rng.normal(size=(16, 5)), dtype=dtype)
    t = be.asarray(rng.integers(0, 3, size=16), dtype=be.default_int())
    params, state = model.params, opt.init(model.params)
    for _ in range(steps):
        params, state, _ = step(params, state, x, t)
    model.params = params
    return model, opt, state, (x, t)


def host(tree):
    if isinstance(tree, dict):
        return {k: host(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [host(v) for v in tree]
    return to_numpy(tree)


def assert_same_tree(a, b):
    a, b = host(a), host(b)
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            assert_same_tree(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same_tree(u, v)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_restores_model_optimizer_state_and_extra(dtype, be, tmp_path):
    model, opt, state, (x, t) = trained(be, dtype)
    rng = np.random.default_rng(7)
    rng.normal(size=5)
    extra = {"epoch": 4, "history": {"loss": [1.5, 0.75]}, "rng": rng.bit_generator.state,
             "note": np.float32(0.5)}
    path = tmp_path / "ckpt.npz"
    io.save(model, path, opt_state=state, optimizer=opt, extra=extra)
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind

    ck = io.load_checkpoint(path)  # the current backend: the session's
    loaded = ck.model
    assert loaded.backend == be and loaded.dtype == dtype and loaded.seed == 3
    assert loaded.layers == model.layers and loaded.input_shape == model.input_shape
    for p, q in zip(loaded.params, model.params):
        for k in q:
            assert be.owns(p[k]) and p[k].dtype == be.dtype(dtype)
    assert_same_tree(loaded.params, model.params)
    np.testing.assert_array_equal(to_numpy(loaded.predict(x)), to_numpy(model.predict(x)))

    assert ck.optimizer == opt  # Adam with its StepDecay schedule, rebuilt from its settings
    assert_same_tree(ck.opt_state, state)
    assert all(isinstance(a, np.ndarray) for a in [ck.opt_state["step"], *ck.opt_state["m"][0].values()])
    assert ck.extra["rng"] == rng.bit_generator.state and ck.extra["epoch"] == 4
    assert ck.extra["note"] == 0.5 and ck.extra["history"] == {"loss": [1.5, 0.75]}
    restored = np.random.default_rng()
    restored.bit_generator.state = ck.extra["rng"]
    assert restored.normal() == rng.normal()

    # training goes on from the loaded state exactly as from the original one
    step = model.train_step(loss=an.losses.SoftmaxCrossEntropy(), optimizer=opt, jit=False)
    want = step(model.params, state, x, t)
    got = step(loaded.params, ck.opt_state_on(), x, t)
    assert_same_tree(list(got[:2]), list(want[:2]))
    assert float(got[2]) == float(want[2])


def test_load_returns_the_model_and_the_file_is_a_plain_npz(be, tmp_path):
    model, opt, state, (x, _) = trained(be, "float32")
    path = tmp_path / "m.npz"
    io.save(model, path, opt_state=state, optimizer=opt)
    loaded = io.load(str(path))
    np.testing.assert_array_equal(to_numpy(loaded.predict(x)), to_numpy(model.predict(x)))
    with np.load(path, allow_pickle=False) as z:  # any NumPy reads it, without pickle
        names = set(z.files)
        w = z["params/0/W"]
        meta = json.loads(z["__anynet__"].tobytes())
    assert {"__anynet__", "params/0/W", "params/0/b", "opt/step", "opt/m/0/W", "opt/v/6/b"} <= names
    np.testing.assert_array_equal(w, to_numpy(model.params[0]["W"]))
    assert meta["format"] == io.FORMAT and meta["format_version"] == 1  # no layer state: version 1, as before
    assert meta["anynet_version"] == an.__version__
    assert [layer["class"] for layer in meta["model"]["layers"]][:4] == ["Linear", "ReLU", "Dropout", "Maxout"]
    assert meta["arrays"]["params/0/W"] == {"shape": [8, 5], "dtype": "float32"}
    assert meta["optimizer"]["class"] == "Adam"
    assert meta["optimizer"]["config"]["lr"] == {"__schedule__": "StepDecay",
                                                 "config": {"lr": 0.01, "step_size": 2, "gamma": 0.5}}


def test_saving_the_same_model_twice_gives_the_same_bytes(be, tmp_path):
    model, opt, state, _ = trained(be, "float32", steps=1)
    io.save(model, tmp_path / "a.npz", opt_state=state, optimizer=opt)
    io.save(model, tmp_path / "b.npz", opt_state=state, optimizer=opt)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


# ------------------------------------------------------------------ portability
def test_saved_on_this_backend_loads_on_numpy_with_the_same_predictions(be, tmp_path):
    model, opt, state, (x, _) = trained(be, "float64")
    io.save(model, tmp_path / "m.npz", opt_state=state, optimizer=opt)
    ck = io.load_checkpoint(tmp_path / "m.npz", backend="numpy")
    assert ck.model.backend.name == "numpy"
    assert_same_tree(ck.model.params, model.params)  # bit for bit
    np.testing.assert_allclose(to_numpy(ck.model.predict(to_numpy(x))), to_numpy(model.predict(x)),
                               rtol=1e-12, atol=1e-14)
    numpy_state = ck.opt_state_on()
    assert all(isinstance(v, np.ndarray) for v in numpy_state["m"][0].values())


def test_saved_on_numpy_loads_on_this_backend_with_the_same_predictions(be, tmp_path):
    model, opt, state, (x, _) = trained(an.backends.get_backend("numpy"), "float64")
    io.save(model, tmp_path / "m.npz", opt_state=state, optimizer=opt)
    loaded = io.load(tmp_path / "m.npz")  # the current backend: the session's
    assert loaded.backend == be
    assert_same_tree(loaded.params, model.params)
    np.testing.assert_allclose(to_numpy(loaded.predict(x)), to_numpy(model.predict(x)), rtol=1e-12, atol=1e-14)


def test_float32_model_keeps_its_dtype_on_another_backend(be, tmp_path):
    model, *_ = trained(be, "float32", steps=1)
    io.save(model, tmp_path / "m.npz")
    loaded = io.load(tmp_path / "m.npz", backend="numpy")
    assert loaded.dtype == "float32" and loaded.params[0]["W"].dtype == np.float32


# ------------------------------------------------------------------ no code from files
class Payload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def object_npy(marker) -> bytes:
    buf = _io.BytesIO()
    np.save(buf, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
    """The crafted payloads below are live: unpickled, they create their marker."""
    marker = tmp_path / "pwned-by-pickle"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.is_dir()
    marker2 = tmp_path / "pwned-by-npy"
    np.load(_io.BytesIO(object_npy(marker2)), allow_pickle=True)
    assert marker2.is_dir()


def rewrite(path, *, meta=None, drop=(), put=None):
    """Rewrite a checkpoint's zip: ``meta(dict)`` edits the metadata, ``drop`` removes
    entries, ``put`` maps entry names (without .npy) to raw .npy bytes."""
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename[:-4]: zf.read(i) for i in zf.infolist()}
    if meta is not None:
        m = json.loads(np.load(_io.BytesIO(entries["__anynet__"])).tobytes())
        meta(m)
        buf = _io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(m).encode(), dtype=np.uint8))
        entries["__anynet__"] = buf.getvalue()
    for name in drop:
        del entries[name]
    entries.update(put or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name + ".npy", data)


def npy(a) -> bytes:
    buf = _io.BytesIO()
    np.save(buf, np.asarray(a))
    return buf.getvalue()


@pytest.mark.parametrize("declared", ["float64", "object"])
def test_object_array_in_a_checkpoint_is_refused_without_running_it(declared, be, tmp_path):
    model = an.Sequential([L.Linear(3, 2)], seed=0, dtype="float64")
    path = tmp_path / "evil.npz"
    io.save(model, path)
    marker = tmp_path / "pwned"

    def claim(m):
        m["arrays"]["params/0/W"]["dtype"] = declared

    rewrite(path, meta=claim, put={"params/0/W": object_npy(marker)})
    with pytest.raises(io.CheckpointError, match=r"evil\.npz.*(Object arrays cannot be loaded|only numeric)"):
        io.load_checkpoint(path)
    assert not marker.exists()


def test_object_array_as_the_metadata_is_refused_without_running_it(be, tmp_path):
    path = tmp_path / "evil.npz"
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__anynet__.npy", object_npy(marker))
    with pytest.raises(io.CheckpointError, match=r"evil\.npz.*metadata entry is not a plain byte array"):
        io.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "npy"])
def test_a_pickle_named_npz_is_refused_without_running_it(kind, be, tmp_path):
    path = tmp_path / "model.npz"
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(Payload(marker)) if kind == "pickle" else object_npy(marker))
    message = "this looks like a Python pickle.*never unpickles" if kind == "pickle" else "this is a single NumPy .npy array"
    with pytest.raises(io.CheckpointError, match=rf"model\.npz: {message}"):
        io.load(path)
    assert not marker.exists()


# ------------------------------------------------------------------ atomic writes
WRITER = r"""
import os, sys, time, zipfile
import numpy as np
import anynet as an
from anynet import io

path, version, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = an.Sequential([an.layers.Linear(600, 600), an.layers.Linear(600, 10)], backend="numpy",
                      dtype="float64")
while True:
    model.params = [{k: np.full(tuple(v.shape), float(version)) for k, v in p.items()}
                    for p in model.params]
    io.save(model, path, extra={"version": version})
    print(version, flush=True)
    version += 1
    if pause == "before-rename":  # from now on, stop inside the save, the temporary file written
        real = os.replace
        def stuck(*args):
            print("in-save", flush=True)
            time.sleep(60)
        os.replace = stuck
    elif pause == "mid-file":  # stop before the zip's central directory is written
        def stuck_close(self):
            print("in-save", flush=True)
            time.sleep(60)
        zipfile.ZipFile.close = stuck_close
"""


def check_complete(path, done):
    """The file loads and is exactly one complete version: the last one reported, or the
    one being written if its rename happened just before the kill."""
    ck = io.load_checkpoint(path, backend="numpy")
    v = ck.extra["version"]
    assert v in (done, done + 1), (v, done)
    for p in ck.model.params:
        for a in p.values():
            assert np.all(to_numpy(a) == v), f"version {v} holds values of another version"
    return v


def run_writer(path, version, pause, wait_for):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ANYNET_BACKEND", None)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(version), pause],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    watchdog = threading.Timer(120, proc.kill)  # a writer that hangs must not hang the tests
    watchdog.start()
    try:
        while wait_for not in lines:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the writer exited early: {proc.wait()} {proc.stderr.read()}")
            lines.append(line.strip())
        return proc, lines
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        watchdog.cancel()


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return [line for line in out.split() if line.isdigit()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only")
def test_sigkill_at_random_moments_leaves_a_complete_checkpoint(be, tmp_path):
    path = tmp_path / "ckpt.npz"
    rng = np.random.default_rng(0)
    version = 0
    for _ in range(5):
        proc, lines = run_writer(path, version, "none", wait_for=str(version))  # one save done
        time.sleep(rng.uniform(0.0, 0.25))
        done = int((lines + kill(proc))[-1])
        version = check_complete(path, done) + 1
    assert version >= 5


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only")
@pytest.mark.parametrize("pause", ["mid-file", "before-rename"])
def test_sigkill_in_the_middle_of_a_save_keeps_the_previous_checkpoint(pause, be, tmp_path):
    path = tmp_path / "ckpt.npz"
    proc, _ = run_writer(path, 10, pause, wait_for="in-save")  # version 10 saved, 11 under way
    kill(proc)
    leftovers = [n for n in os.listdir(tmp_path) if n != "ckpt.npz"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.npz.")  # the unfinished write
    assert check_complete(path, 10) == 10
    unfinished = tmp_path / leftovers[0]
    if pause == "mid-file":  # the kill really came in the middle of writing version 11
        with pytest.raises(io.CheckpointError, match="the file is truncated"):
            io.load(unfinished)
    else:  # written but never renamed into place
        assert check_complete(unfinished, 11) == 11
    io.save(an.Sequential([L.Linear(3, 2)], seed=0), path)  # the next save clears the dead writer's file
    assert os.listdir(tmp_path) == ["ckpt.npz"]


@pytest.mark.skipif(os.name != "posix", reason="telling a dead writer from a live one needs POSIX")
def test_save_removes_only_temporary_files_of_dead_writers_on_this_host(be, tmp_path):
    from anynet.io import _host

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead, live = int(done.stdout), os.getppid()  # a process that has ended; one that runs
    names = {
        f".m.npz.{_host()}.{dead}.0123456789ab.tmp": False,  # this host, writer gone: removed
        f".m.npz.{_host()}.{live}.0123456789ab.tmp": True,  # writer still running
        f".m.npz.elsewhere.{dead}.0123456789ab.tmp": True,  # another host (shared file system)
        f".other.npz.{_host()}.{dead}.0123456789ab.tmp": True,  # another file's
        ".m.npz.0123456789ab.tmp": True,  # not a name anynet writes now
    }
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    io.save(an.Sequential([L.Linear(3, 2)], seed=0), tmp_path / "m.npz")
    left = set(os.listdir(tmp_path))
    assert left == {"m.npz"} | {n for n, stays in names.items() if stays}


def test_a_failing_save_leaves_the_old_file_and_no_temporary_file(be, tmp_path, monkeypatch):
    model = an.Sequential([L.Linear(3, 2)], seed=0)
    path = tmp_path / "m.npz"
    io.save(model, path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save(an.Sequential([L.Linear(3, 2)], seed=1), path)
    assert os.listdir(tmp_path) == ["m.npz"] and path.read_bytes() == before


def test_save_keeps_the_permissions_of_the_file_it_replaces(be, tmp_path):
    model = an.Sequential([L.Linear(3, 2)], seed=0)
    path = tmp_path / "m.npz"
    io.save(model, path)
    os.chmod(path, 0o600)
    io.save(model, path)
    assert (os.stat(path).st_mode & 0o777) == 0o600


# ------------------------------------------------------------------ bad files
@pytest.fixture(scope="module")
def good_bytes(be, tmp_path_factory):
    """One valid checkpoint, made once per module: each test corrupts its own copy."""
    model, opt, state, _ = trained(be, "float32", steps=1)
    path = tmp_path_factory.mktemp("good") / "ckpt.npz"
    io.save(model, path, opt_state=state, optimizer=opt, extra={"epoch": 1})
    assert io.load_checkpoint(path).extra == {"epoch": 1}
    return path.read_bytes()


@pytest.fixture
def saved(good_bytes, tmp_path):
    path = tmp_path / "ckpt.npz"
    path.write_bytes(good_bytes)
    return path


@pytest.mark.parametrize("keep", ["nothing", "10 bytes", "half", "all but 1 byte"])
def test_truncated_files_give_a_checkpoint_error(keep, saved):
    data = saved.read_bytes()
    n = {"nothing": 0, "10 bytes": 10, "half": len(data) // 2, "all but 1 byte": len(data) - 1}[keep]
    saved.write_bytes(data[:n])
    with pytest.raises(io.CheckpointError, match=rf"{re.escape(str(saved))}: .*(empty|truncated|corrupted)"):
        io.load_checkpoint(saved)


def data_offset(path, name):
    """Where the bytes of zip entry ``name`` start (after its local header)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        n, m = np.frombuffer(f.read(4), dtype="<u2")
    return info.header_offset + 30 + int(n) + int(m)


@pytest.mark.parametrize("where", ["array data", "array header", "optimizer state", "metadata",
                                   "central directory"])
def test_corrupted_bytes_give_a_checkpoint_error(where, saved):
    data = bytearray(saved.read_bytes())
    if where == "array data":
        i = data_offset(saved, "params/3/W.npy") + 128 + 20  # past the 128-byte .npy header
    elif where == "array header":
        i = data_offset(saved, "params/0/W.npy") + 20  # inside {'descr': '<f4', ...}
    elif where == "optimizer state":
        i = data_offset(saved, "opt/v/0/W.npy") + 128 + 4
    elif where == "metadata":
        i = data.index(b'"format"') + 3
    else:  # the name of the last entry in the central directory
        i = data.rindex(b"PK\x01\x02") + 46 + 2
    data[i] ^= 0x55
    saved.write_bytes(bytes(data))
    with pytest.raises(io.CheckpointError, match=rf"{re.escape(str(saved))}: "):
        io.load_checkpoint(saved)


def test_foreign_files_give_a_checkpoint_error(be, tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(io.CheckpointError, match=r"notes\.npz: not an anynet checkpoint"):
        io.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3), b=np.zeros(2))
    with pytest.raises(io.CheckpointError, match=r"other\.npz: no '__anynet__' metadata entry.*\['a.npy', 'b.npy'\]"):
        io.load(other)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(io.CheckpointError, match=r"empty\.npz: the file is empty"):
        io.load(empty)


def set_in(*keys, value):
    def edit(m):
        d = m
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return edit


def drop_key(*keys):
    def edit(m):
        d = m
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (set_in("format", value="someone.else"), "format is 'someone.else', not 'anynet.checkpoint'"),
        (set_in("format_version", value=99), r"newer anynet .*format version 99.*reads format version 2: "
                                             "upgrade anynet"),
        (set_in("format_version", value="1"), "format_version must be a positive int, got '1'"),
        (drop_key("model"), "the metadata lacks 'model'"),
        (set_in("model", "layers", value=[]), "has no layers"),
        (set_in("model", "dtype", value="float16"), "model dtype must be 'float32' or 'float64'"),
        (set_in("model", "layers", 0, "class", value="Conv3D"),
         r"layer 0 is a 'Conv3D', a layer class this program does not know.*import the module"),
        (set_in("model", "layers", 0, "config", "in_features", value=-1),
         r"layer 0 \(Linear\) cannot be built from its saved config.*in_features must be a positive int"),
        (set_in("model", "layers", 0, "config", "in_features", value=6),
         r"saved architecture is inconsistent: .*layer 0 \(Linear\(in_features=6"),
        (set_in("model", "layers", 3, "config", "pieces", value=3),
         r"array 'params/3/W' is float32 of shape \(2, 4, 8\) in the file, but layer 3 \(Maxout\(.*pieces=3\)\) "
         r"of this float32 model needs float32 of shape \(3, 4, 8\)"),
        (set_in("optimizer", "class", value="Adagrad"), "optimizer is a 'Adagrad', which this program does not know"),
        (set_in("optimizer", "config", "beta1", value=2.0), r"optimizer Adam cannot be built .*beta1 must be in"),
        (set_in("opt_state", "m", value="weird"), r"opt_state\['m'\] must be 'array' or 'per_param'"),
        (set_in("extra", value=[1, 2]), "the metadata's 'extra' must be an object, got list"),
        (set_in("arrays", "params/0/W", "dtype", value="<U3"), "declared as '<U3'.*only numeric arrays"),
        (set_in("arrays", "params/0/W", "shape", value=[5, 8]),
         r"array 'params/0/W' is float32 of shape \(5, 8\) in the file, but layer 0 \(Linear\(in_features=5, "
         r"out_features=8.*\)\) of this float32 model needs float32 of shape \(8, 5\)"),
        (set_in("arrays", "params/0/W", "shape", value=[800, 500]), r"entry 'params/0/W' is \d+ bytes but"),
    ],
)
def test_bad_metadata_gives_a_checkpoint_error_that_says_what(edit, message, saved):
    rewrite(saved, meta=edit)
    with pytest.raises(io.CheckpointError, match=rf"{re.escape(str(saved))}: .*{message}"):
        io.load_checkpoint(saved)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(drop=["params/0/W"]), r"missing from the file: \['params/0/W'\]"),
        (dict(put={"params/9/W": npy(np.ones(2, dtype=np.float32))}), r"does not list: \['params/9/W'\]"),
        (dict(put={"params/0/b": npy(np.ones(8, dtype=np.float64))}),
         r"entry 'params/0/b' holds float64 of shape \(8,\) but the metadata says float32 of shape \(8,\)"),
        (dict(put={"params/0/W": npy(np.ones((5, 8), dtype=np.float32))}),
         r"entry 'params/0/W' holds float32 of shape \(5, 8\) but the metadata says float32 of shape \(8, 5\)"),
        (dict(put={"params/0/b": npy(np.ones(7, dtype=np.float32)) + b"\0" * 4}),
         r"entry 'params/0/b' holds float32 of shape \(7,\) but the metadata says float32 of shape \(8,\)"),
    ],
)
def test_missing_extra_or_mismatched_arrays_give_a_checkpoint_error(change, message, saved):
    rewrite(saved, **change)
    with pytest.raises(io.CheckpointError, match=rf"{re.escape(str(saved))}: .*{message}"):
        io.load_checkpoint(saved)


def test_arrays_declared_and_present_but_foreign_to_the_architecture_are_refused(saved):
    def declare(m):
        m["arrays"]["params/1/W"] = {"shape": [2], "dtype": "float32"}
        m["arrays"]["opt/m/9/x"] = {"shape": [2], "dtype": "float32"}

    extra = npy(np.ones(2, dtype=np.float32))
    rewrite(saved, meta=declare, put={"params/1/W": extra, "opt/m/9/x": extra})
    with pytest.raises(io.CheckpointError, match=r"parameters the architecture has no place for: \['params/1/W'\]"):
        io.load_checkpoint(saved)
    rewrite(saved, meta=drop_key("arrays", "params/1/W"), drop=["params/1/W"])
    with pytest.raises(io.CheckpointError, match=r"neither parameters nor optimizer state: \['opt/m/9/x'\]"):
        io.load_checkpoint(saved)


def test_missing_file_is_a_file_not_found_error(be, tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "nope.npz")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(io.CheckpointError, ValueError)


# ------------------------------------------------------------------ what cannot be saved
def test_save_refuses_what_it_could_not_load_back(be, tmp_path):
    model, _, state, _ = trained(be, "float32", steps=1)
    path = tmp_path / "m.npz"
    with pytest.raises(TypeError, match=r"save: extra\['when'\] is a object, which cannot be saved as JSON"):
        io.save(model, path, extra={"when": object()})
    with pytest.raises(TypeError, match="extra has a key 1 of type int; JSON keys must be str"):
        io.save(model, path, extra={1: "a"})
    with pytest.raises(ValueError, match=r"save: opt_state\['m'\]\[0\] has entries \['W'\] but layer 0 has "
                                         r"parameters \['W', 'b'\]"):
        io.save(model, path, opt_state={**state, "m": [{"W": state["m"][0]["W"]}, *state["m"][1:]]})
    with pytest.raises(ValueError, match=r"optimizer state has slots \['m', 'v'\] but SGD\(.*\) uses \[\]"):
        io.save(model, path, opt_state=state, optimizer=an.optim.SGD())
    with pytest.raises(TypeError, match="optimizer must be an anynet optimizer"):
        io.save(model, path, optimizer="adam")
    with pytest.raises(TypeError, match="model must be an anynet Sequential"):
        io.save(model.params, path)
    assert not os.listdir(tmp_path)


def test_a_layer_that_cannot_be_rebuilt_is_refused_at_save(be, tmp_path):
    class NoConfig(L.Layer):  # not a dataclass: get_config() is {} but __init__ needs n
        def __init__(self, n):
            self.n = n

        def forward(self, params, x, /, *, training=False, key=None, xp=None):
            return x, None

        def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
            return dy, {}

    model = an.Sequential([L.Linear(2, 2), NoConfig(2)])
    with pytest.raises(TypeError, match=r"layer 1 \(NoConfig\) cannot be rebuilt from its get_config\(\) = \{\}"):
        io.save(model, tmp_path / "m.npz")


def test_loading_needs_the_custom_layer_class_and_names_it(be, tmp_path):
    model, *_ = trained(be, "float32", steps=1)
    path = tmp_path / "m.npz"
    io.save(model, path)
    saved_class = L.LAYERS.pop("IoTestScale")
    try:
        with pytest.raises(io.CheckpointError, match=r"layer 4 is a 'IoTestScale'.*import the module that defines it"):
            io.load(path)
    finally:
        L.LAYERS["IoTestScale"] = saved_class
    assert io.load(path).layers[4] == IoTestScale(4)
