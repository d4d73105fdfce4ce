"""The command line as a new user meets it (issue 13, part A): mistakes caught before work
starts, a device that is not there, ``anynet predict``'s input contract, install hints that
work from a checkout, a bad ``ANYNET_BACKEND``, a closed pipe, and the help texts.

Most commands run in this process (``cli.main`` inside ``an.using(be)``, so that the backend
a command makes current is put back); what depends on the environment at start-up or on the
process's stdout runs in a child process."""

from __future__ import annotations

import argparse
import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import anynet as an
from anynet import _cli_checks, cli

ROOT = Path(__file__).resolve().parents[1]


def child(args, be=None, env=None, **kw):
    """``python -m anynet ARGS`` in a new process (the read-only NumPy exists only in this one)."""
    name = "numpy" if be is None or be.name == "numpy_readonly" else be.name
    full = {**os.environ, "ANYNET_BACKEND": name, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "anynet", *map(str, args)], env=full, cwd=ROOT, text=True,
                          timeout=300, **({"capture_output": True} | kw))


@pytest.fixture
def once(be):
    """For a test that runs anynet in a child process on NumPy whatever the session's backend:
    run it in the numpy session only (it would give the same answer in every session)."""
    if be.name != "numpy":
        pytest.skip("backend-independent child-process check: runs in the numpy session")


def test_cli_checks_examples_run():
    result = doctest.testmod(_cli_checks, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0


# ------------------------------------------------------------------ 1. outputs, before training
def test_save_into_a_missing_folder_names_the_users_path(tmp_path):
    model = an.Sequential([an.layers.Linear(2, 2)], backend="numpy")
    target = tmp_path / "nodir" / "x.npz"
    with pytest.raises(FileNotFoundError, match=r"cannot write '.*nodir/x\.npz': no such directory") as err:
        model.save(target)
    assert ".tmp" not in str(err.value)
    with pytest.raises(IsADirectoryError, match=r"cannot write '.*': it is a directory") as err:
        model.save(tmp_path)
    assert ".tmp" not in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--plot"])
def test_train_checks_output_paths_before_training(anynet_cmd, tmp_path, option):
    target = tmp_path / "nodir" / ("out.png" if option == "--plot" else "m.npz")
    code, out, err = anynet_cmd("train", "--epochs", "1", option, target)
    assert code == 1, err
    assert f"{option} {str(target)!r}: no such directory" in err
    assert ".tmp" not in err and "epoch" not in out  # no internal name; no training was wasted


def test_train_plot_without_matplotlib_fails_before_training(anynet_cmd, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib... now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = anynet_cmd("train", "--epochs", "1", "--plot", tmp_path / "out.png")
    assert code == 1, err
    assert "pip install matplotlib (from anynet's source tree: pip install '.[plot]')" in err
    assert "epoch" not in out


def test_train_plot_with_a_format_matplotlib_cannot_write(anynet_cmd, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install '.[plot]'")
    code, out, err = anynet_cmd("train", "--epochs", "1", "--plot", tmp_path / "out.xyz")
    assert code == 1 and "expected a picture file name ending in one of" in err and ".png" in err
    assert "epoch" not in out


def test_predict_checks_its_output_path_first(anynet_cmd, tmp_path):
    code, _, err = anynet_cmd("predict", "--model", tmp_path / "none.npz", "--input", "x.npy",
                              "--output", tmp_path / "nodir" / "p.csv")
    assert code == 1 and "--output" in err and "no such directory" in err


# ------------------------------------------------------------------ 2. devices
@pytest.mark.parametrize("device", ["banana", "cuda:99"])
def test_a_device_that_is_not_there_is_an_error_without_backend(anynet_cmd, device):
    code, out, err = anynet_cmd("train", "--epochs", "1", "--device", device)
    assert code == 1, out
    assert f"--device {device!r}" in err and "devices here: numpy: cpu" in err
    assert "epoch" not in out


def test_a_gpu_device_on_numpy_is_an_error(anynet_cmd):
    code, out, err = anynet_cmd("train", "--epochs", "1", "--backend", "numpy", "--device", "cuda:0")
    assert code == 1 and "--device 'cuda:0': backend 'numpy' runs on the CPU only" in err
    assert "epoch" not in out


def test_train_threads_on_the_session_backend(anynet_cmd, be):
    """--threads 2 splits each step on NumPy (said in the first line); elsewhere an error
    naming the option and the backend, before any training."""
    code, out, err = anynet_cmd("train", "--epochs", "1", "--threads", "2")
    if be.takes_threads:
        assert code == 0, err
        assert f"backend {be.name} (cpu, 2 threads)" in out and "test accuracy" in out
    else:
        assert code == 1 and f"--threads 2: backend '{be.name}': threads=2" in err and "'numpy'" in err
        assert "epoch" not in out


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_train_threads_must_be_a_positive_count_or_auto(capsys, bad):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--threads", bad])
    assert exc.value.code == 2
    assert f"argument --threads: expected a positive whole number or 'auto', got {bad!r}" in capsys.readouterr().err


def test_devices_are_listed_as_device_takes_them():
    pytest.importorskip("array_api_strict", reason="array-api-strict is not installed: pip install '.[strict]'")
    assert _cli_checks.devices_here(["numpy", "array_api_strict"]) == "numpy: cpu; array_api_strict: CPU_DEVICE"
    assert an.backends.get_backend("array_api_strict", "CPU_DEVICE").name == "array_api_strict"


def test_a_device_that_is_there_works(once):
    out = child(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--backend", "numpy", "--device", "cpu"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("test accuracy")


# ------------------------------------------------------------------ 3. predict's input contract
@pytest.fixture
def iris_model(anynet_cmd, tmp_path):
    path = tmp_path / "iris.npz"
    code, _, err = anynet_cmd("train", "--dataset", "iris", "--epochs", "30", "--quiet", "--save", path)
    assert code == 0, err
    return path


def _iris_raw():
    raw = np.loadtxt(ROOT / "anynet" / "data" / "iris.csv.gz", delimiter=",", skiprows=1)
    return raw[:, :-1], raw[:, -1].astype(int)


def test_predict_refuses_input_that_is_standardized_already(anynet_cmd, iris_model, tmp_path):
    data = an.datasets.load("iris")  # x_test standardized with the training statistics
    np.save(tmp_path / "std.npy", data.x_test)
    code, out, err = anynet_cmd("predict", "--model", iris_model, "--input", tmp_path / "std.npy")
    assert code == 1, out
    assert "looks already standardized" in err and "--no-standardize" in err and "raw features" in err
    # said to be standardized: predicted as is, the same labels as for the raw rows
    code, as_is, err = anynet_cmd("predict", "--model", iris_model, "--input", tmp_path / "std.npy",
                                  "--no-standardize")
    assert code == 0, err
    np.save(tmp_path / "raw.npy", data.x_test * data.std + data.mean)
    code, from_raw, err = anynet_cmd("predict", "--model", iris_model, "--input", tmp_path / "raw.npy")
    assert code == 0, err
    assert as_is.split() == from_raw.split() and len(as_is.split()) == len(data.x_test)
    # --standardize: applied, unchecked (what the old command did silently)
    code, _, err = anynet_cmd("predict", "--model", iris_model, "--input", tmp_path / "std.npy", "--standardize")
    assert code == 0, err


def test_predict_takes_raw_rows_without_complaint(anynet_cmd, iris_model, tmp_path):
    x, t = _iris_raw()
    for rows in (x, x[:1], x[100:101]):  # a file of rows, and single rows
        np.save(tmp_path / "x.npy", rows)
        code, out, err = anynet_cmd("predict", "--model", iris_model, "--input", tmp_path / "x.npy")
        assert code == 0, err
    np.save(tmp_path / "x.npy", x)
    _, out, _ = anynet_cmd("predict", "--model", iris_model, "--input", tmp_path / "x.npy")
    names = np.array(["setosa", "versicolor", "virginica"])
    assert np.mean(np.array(out.split()) == names[t]) > 0.85


def test_standardized_evidence_separates_raw_from_standardized_rows():
    for name in ("iris", "wine", "breast_cancer"):
        d = an.datasets.load(name)
        raw = d.x_test * d.std + d.mean
        assert _cli_checks.standardized_evidence(raw, d.mean, d.std) < 0, name
        assert _cli_checks.standardized_evidence(d.x_test, d.mean, d.std) > 2 * _cli_checks.STANDARDIZED_NATS
        assert max(_cli_checks.standardized_evidence(r[None], d.mean, d.std) for r in raw) < 0, name
    # trained on data of mean 0, std 1: raw and standardized are the same; nothing is refused
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert abs(_cli_checks.standardized_evidence(x, x.mean(0), x.std(0))) < 0.1


def test_predict_help_states_the_input_contract(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "RAW features" in text and "mean/std" in text and "--no-standardize" in text


# ------------------------------------------------------------------ 4. packaging and install hints
def _pyproject():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_distribution_has_a_free_name_and_one_version():
    project = _pyproject()["project"]
    assert project["name"] == "anynet-nn"  # "anynet" on the package index is someone else's
    assert "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "anynet._version.__version__"}


def test_every_extra_is_listed_in_the_readme_and_by_anynet_info(anynet_cmd):
    extras = set(_pyproject()["project"]["optional-dependencies"])
    assert extras == set(_cli_checks.EXTRAS)
    readme = (ROOT / "README.md").read_text()
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    listed = {e for row in re.findall(r"^\| (`[^|]+) \|", install, re.M) for e in re.findall(r"`(\w+)`", row)}
    assert listed == extras
    code, out, _ = anynet_cmd("info")
    assert code == 0 and all(e in out for e in extras) and "pip install '.[EXTRA]'" in out


def test_no_install_hint_names_the_other_package():
    files = [ROOT / "README.md", *ROOT.glob("anynet/**/*.py"), *ROOT.glob("examples/*.py"),
             *ROOT.glob("backends/*.md")]
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"anynet\[", line)]
    assert not bad, f"'anynet[...]' installs an unrelated package from the index: {bad}"


def test_sklearn_missing_says_how_to_install_it(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.delitem(sys.modules, "anynet.sklearn", raising=False)
    with pytest.raises(ImportError, match=r"anynet\.sklearn needs scikit-learn.*pip install scikit-learn "
                                          r"\(from anynet's source tree: pip install '\.\[sklearn\]'\)"):
        importlib.import_module("anynet.sklearn")


# ------------------------------------------------------------------ 5. a bad ANYNET_BACKEND
@pytest.mark.parametrize("value", ["banana", "cupy"])
def test_anynet_info_explains_a_bad_anynet_backend(value, once):
    if value == "cupy" and an.available_backends()["cupy"] is None:
        pytest.skip("cupy runs on this machine, so ANYNET_BACKEND=cupy is not a bad value here")
    out = child(["info"], env={"ANYNET_BACKEND": value})
    assert out.returncode == 0, out.stderr
    assert "current backend: none" in out.stdout and f"ANYNET_BACKEND={value!r}" in out.stdout
    assert "The backends that run here: numpy" in out.stdout
    assert re.search(r"^  numpy\s+\S+\s+devices: cpu$", out.stdout, re.M)
    help_ = child(["--help"], env={"ANYNET_BACKEND": value})
    assert help_.returncode == 0 and "usage: anynet" in help_.stdout and not help_.stderr
    assert "ANYNET_BACKEND=NAME sets the default backend; anynet info says" in " ".join(help_.stdout.split())


def test_anynet_train_with_a_bad_anynet_backend_exits_1_with_a_hint(once):
    out = child(["train", "--epochs", "1"], env={"ANYNET_BACKEND": "banana"})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "ANYNET_BACKEND='banana'" in out.stderr and "pass --backend NAME or unset ANYNET_BACKEND" in out.stderr
    out = child(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--backend", "numpy"],
                env={"ANYNET_BACKEND": "banana"})
    assert out.returncode == 0, out.stderr  # --backend wins over the variable


# ------------------------------------------------------------------ smaller items
def test_a_closed_pipe_ends_quietly(once):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write fails
    try:
        out = child(["train", "--dataset", "xor", "--epochs", "2"], stdout=write, stderr=subprocess.PIPE,
                    capture_output=False)
    finally:
        os.close(write)
    assert out.returncode == 141, out.stderr
    assert out.stderr == ""  # no traceback, no "Exception ignored ... BrokenPipeError"


def test_anynet_train_piped_into_head_ends_quietly(once):
    cmd = f"{sys.executable} -m anynet train --dataset xor --epochs 50 | head -2"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=300,
                         cwd=ROOT, env={**os.environ, "ANYNET_BACKEND": "numpy", "PYTHONPATH": str(ROOT),
                                        "PYTHONUNBUFFERED": "1"})
    assert len(out.stdout.splitlines()) == 2
    assert "Error" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert out.returncode in (0, 141)  # 141: anynet saw the pipe close (the usual case)


def test_negative_seed_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--seed", "-1"])
    assert exc.value.code == 2
    assert "argument --seed: expected an integer >= 0, got '-1'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["nonexist", "digits"])
def test_data_that_is_not_a_directory(anynet_cmd, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = anynet_cmd("train", "--data", name)
    assert code == 1 and f"--data {name!r}: no such directory" in err and "unknown dataset" not in err
    if name == "digits":
        assert "--dataset digits" in err
    (tmp_path / "file").write_text("x")
    code, _, err = anynet_cmd("train", "--data", "file")
    assert code == 1 and "--data 'file': not a directory" in err


def test_resuming_with_another_architecture_says_what_differs(anynet_cmd, tmp_path):
    ckpt = tmp_path / "run.npz"
    code, _, err = anynet_cmd("train", "--dataset", "xor", "--epochs", "1", "--quiet", "--hidden", "8",
                              "--checkpoint", ckpt)
    assert code == 0, err
    code, _, err = anynet_cmd("train", "--dataset", "xor", "--epochs", "2", "--quiet", "--hidden", "16",
                              "--checkpoint", ckpt, "--resume")
    assert code == 1
    assert "holds a different model than this one: layer 0 is Linear(" in err and "16" in err


def _subparsers():
    parser = cli._parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, sub) for name, sub in action.choices.items() if name != "bench"]


@pytest.mark.parametrize("command", [name for name, _ in _subparsers()])
def test_every_option_has_help_and_says_its_default_once(command):
    sub = dict(_subparsers())[command]
    formatter = sub._get_formatter()
    for action in sub._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"anynet {command} {action.option_strings[0]} has no help text"
        shown = formatter._expand_help(action)  # as --help shows it, "(default: ...)" included
        assert "(default: None)" not in shown, (command, action.option_strings, shown)
        assert shown.count("(default") <= 1, (command, action.option_strings, shown)


def test_bench_options_have_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    text = capsys.readouterr().out
    assert re.search(r"--repeats REPEATS +\S", text), text  # its help on the same line


def test_train_ends_with_a_classification_report(anynet_cmd):
    code, out, _ = anynet_cmd("train", "--dataset", "iris", "--epochs", "5")
    assert code == 0
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if "precision  recall  f1-score  support" in line)
    assert [line.split()[0] for line in lines[head + 1:head + 4]] == ["setosa", "versicolor", "virginica"]
    assert any(line.startswith("macro avg") for line in lines[head:])
    code, out, _ = anynet_cmd("train", "--dataset", "iris", "--epochs", "5", "--quiet")
    assert "precision" not in out and len(out.splitlines()) == 1


def test_predict_proba_gives_probabilities_of_each_class(anynet_cmd, tmp_path):
    model = tmp_path / "iris.npz"
    assert anynet_cmd("train", "--dataset", "iris", "--epochs", "20", "--quiet", "--save", model)[0] == 0
    data = an.datasets.load("iris")
    raw = tmp_path / "x.npy"
    np.save(raw, data.x_test * data.std + data.mean)  # raw features, as in the training files
    code, out, _ = anynet_cmd("predict", "--model", model, "--input", raw, "--proba")
    assert code == 0
    rows = np.asarray([[float(v) for v in line.split(",")] for line in out.splitlines()])
    assert rows.shape == (30, 3) and np.all(rows >= 0)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-5)
    code, out, _ = anynet_cmd("predict", "--model", model, "--input", raw)
    labels = out.split()
    assert labels == [data.class_names[i] for i in rows.argmax(axis=1)]
    code, _, err = anynet_cmd("predict", "--model", model, "--input", raw, "--proba", "--scores")
    assert code == 1 and "--scores and --proba: give one" in err
