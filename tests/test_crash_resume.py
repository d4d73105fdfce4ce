"""Hard stops: ``anynet train --checkpoint F --resume`` killed with SIGKILL again and again
(while it starts, inside an epoch, inside a save) ends with the parameters of a run that
was never interrupted, bit for bit; and two processes saving to one path at once always
leave one of the two whole checkpoints there, never a mix.

``ANYNET_CRASH_KILLS`` sets the number of kills (default 20; the nox session ``fuzz``
asks for more). NumPy backend: the comparison is bit for bit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from anynet import io
from anynet.backends import to_numpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILLS = int(os.environ.get("ANYNET_CRASH_KILLS", "20"))
EPOCHS = max(60, 3 * KILLS)  # enough epochs (of a few ms each) that the kills come before the run ends

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or os.name != "posix",
                                reason="SIGKILL and atomic rename-over are POSIX")


@pytest.fixture(autouse=True)
def _numpy_session_only(be):
    if be.name != "numpy":
        pytest.skip("bit-identical resume is checked on NumPy (the CLI runs the numpy backend here)")


def env():
    e = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    e.pop("ANYNET_BACKEND", None)
    return e


def train_args(tmp_path, save, *extra):
    return [sys.executable, "-m", "anynet", "train", "--dataset", "digits", "--epochs", str(EPOCHS), "--hidden",
            "256,256", "--dtype", "float64", "--batch-size", "64", "--backend", "numpy", "--quiet", "--save",
            str(tmp_path / save), *extra]


def params_of(path):
    return [{k: to_numpy(v) for k, v in p.items()} for p in io.load(path, backend="numpy").params]


def temporary_files(directory, base):
    return [n for n in os.listdir(directory) if n.startswith(f".{base}.") and n.endswith(".tmp")]


def wait_then_kill(proc, mode, ckpt, rng):
    """Kill ``proc`` as ``mode`` says; return False if it ended first."""
    directory, base = os.path.dirname(ckpt), os.path.basename(ckpt)

    def stamp():
        try:
            st = os.stat(ckpt)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    deadline = time.monotonic() + 60
    if mode == "start":  # while Python imports, reads the data, builds the model, resumes
        time.sleep(rng.uniform(0.0, 0.5))
    elif mode == "epoch":  # a moment after a save: inside the next epoch
        first = stamp()
        while stamp() == first and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0.0, 0.02))
    else:  # "save": as soon as a temporary file of a save appears
        while not temporary_files(directory, base) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0002)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # and close its pipes
    return proc.returncode == -signal.SIGKILL


def test_train_killed_at_random_moments_resumes_to_the_same_parameters(tmp_path):
    done = subprocess.run(train_args(tmp_path, "reference.npz"), env=env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    reference = params_of(tmp_path / "reference.npz")

    ckpt = str(tmp_path / "run.npz")
    command = train_args(tmp_path, "final.npz", "--checkpoint", ckpt, "--resume")
    rng = np.random.default_rng(0)
    modes = ["start", "epoch", "save"]
    kills, caught_in_save, epochs_seen = Counter(), 0, []
    while True:
        proc = subprocess.Popen(command, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        mode = modes[sum(kills.values()) % 3]
        if sum(kills.values()) < KILLS and wait_then_kill(proc, mode, ckpt, rng):
            kills[mode] += 1
            leftovers = temporary_files(tmp_path, "run.npz")
            caught_in_save += bool(leftovers) and mode == "save"
            if os.path.exists(ckpt):  # whatever the moment, the checkpoint is a whole one
                epochs_seen.append(io.load_checkpoint(ckpt, backend="numpy").extra["fit"]["epoch"])
            continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        break
    print(f"\n[crash] {sum(kills.values())} SIGKILLs {dict(kills)}, {caught_in_save} with a save's temporary "
          f"file left behind; checkpoint epochs after the kills: {epochs_seen}")
    assert sum(kills.values()) >= KILLS
    assert caught_in_save >= 1, "no kill landed inside a save"
    assert len(set(epochs_seen)) >= 5, "the kills did not come at many points of the training"
    assert epochs_seen == sorted(epochs_seen), "a resumed run went back in time"
    final = params_of(tmp_path / "final.npz")
    for got, want in zip(final, reference, strict=True):
        for k in want:
            assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k
    assert temporary_files(tmp_path, "run.npz") == []  # the last save removed the killed saves' leftovers


def test_resume_needs_a_checkpoint_file(tmp_path):
    out = subprocess.run([sys.executable, "-m", "anynet", "train", "--resume"], env=env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "--resume needs --checkpoint FILE" in out.stderr


# ------------------------------------------------------------------ concurrent saves
SAVER = r"""
import sys
import numpy as np
import anynet as an

path, who, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
layers = ([an.layers.Linear(300, 200), an.layers.ReLU(), an.layers.Linear(200, 10)] if who == "A"
          else [an.layers.Linear(100, 500), an.layers.Tanh(), an.layers.Linear(500, 3)])
model = an.Sequential(layers, backend="numpy", dtype="float64")
value = 1.0 if who == "A" else 2.0
model.params = [{k: np.full(tuple(v.shape), value) for k, v in p.items()} for p in model.params]
print("ready", flush=True)
sys.stdin.readline()  # both start together
for i in range(rounds):
    an.save(model, path, extra={"who": who, "round": i})
"""


def test_two_processes_saving_to_one_path_leave_one_whole_checkpoint(tmp_path):
    path = tmp_path / "shared.npz"
    rounds = 60
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(path), who, str(rounds)], env=env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in "AB"]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        seen = Counter()
        while any(p.poll() is None for p in procs) or not seen:
            if not path.exists():
                continue
            ck = io.load_checkpoint(path, backend="numpy")  # never a CheckpointError: always whole
            who = ck.extra["who"]
            value = 1.0 if who == "A" else 2.0
            shapes = [tuple(p["W"].shape) for p in ck.model.params if "W" in p]
            assert shapes == ([(200, 300), (10, 200)] if who == "A" else [(500, 100), (3, 500)])
            assert all(np.all(to_numpy(a) == value) for p in ck.model.params for a in p.values()), who
            seen[who] += 1
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    last = io.load_checkpoint(path, backend="numpy").extra
    assert last["who"] in "AB" and last["round"] == rounds - 1
    assert [n for n in os.listdir(tmp_path)] == ["shared.npz"]  # no temporary file left
    print(f"\n[concurrent] {2 * rounds} saves by two processes, {sum(seen.values())} reads in between: "
          f"{dict(seen)}, each a whole checkpoint")
    assert sum(seen.values()) >= 5
