"""The main job (``anynet train``) and every example, run as a user would, on the session's backend."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def process_name(be) -> str:
    """The backend's name for a new process: the test suite's read-only NumPy exists only in
    this process (tests/conftest.py), so a command or script runs on plain NumPy there."""
    return "numpy" if be.name == "numpy_readonly" else be.name


def run(args, be, timeout=300, out_dir=None):
    env = {**os.environ, "ANYNET_BACKEND": process_name(be), "PYTHONPATH": str(ROOT)}
    if out_dir is not None:
        env["ANYNET_EXAMPLES_OUT"] = str(out_dir)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.mark.slow
def test_anynet_train_reaches_the_accuracy_bar(be):
    out = run(["-m", "anynet", "train"], be)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"backend {process_name(be)}" in lines[0]
    assert sum(line.startswith("epoch ") for line in lines) == 30
    acc = float(re.search(r"test accuracy: ([0-9.]+)", out.stdout).group(1))
    assert acc >= 0.96, out.stdout


def test_anynet_train_options_and_errors(be):
    out = run(["-m", "anynet", "train", "--epochs", "2", "--hidden", "32", "--activation", "tanh",
               "--optimizer", "adam", "--lr", "0.01", "--batch-size", "64", "--seed", "3"], be)
    assert out.returncode == 0, out.stderr
    assert "64 -> 32 -> 10 (tanh)" in out.stdout and "epoch 2/2" in out.stdout
    bad = run(["-m", "anynet", "train", "--hidden", "12,x"], be)
    assert bad.returncode == 2 and "--hidden must be comma-separated sizes" in bad.stderr
    bad = run(["-m", "anynet", "train", "--backend", "tensorflow"], be)
    assert bad.returncode == 1 and "unknown backend 'tensorflow'" in bad.stderr


def test_anynet_info_lists_every_backend(be):
    out = run(["-m", "anynet", "info"], be)
    assert out.returncode == 0, out.stderr
    for name in ("numpy", "jax", "cupy", "torch", "array_api_strict"):
        assert re.search(rf"^  {name}\s", out.stdout, re.M), out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, be, tmp_path):
    if path.name == "export_onnx.py":  # needs the onnx extra, installed only in its own session
        pytest.skip("examples/export_onnx.py needs onnx, ndonnx and onnxruntime: tests/test_export.py "
                    "runs it in the onnx nox session")
    if path.name == "lenet_idx.py":  # needs --data DIR: test_lenet_example_trains_on_idx_files runs it
        pytest.skip("examples/lenet_idx.py needs --data DIR: test_lenet_example_trains_on_idx_files runs it "
                    "on IDX files it writes")
    out = run([str(path)], be, out_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    pictures = {"spiral_two_layer.py": ["spiral_decision_boundary.png"],
                "digits_mlp.py": ["digits_training_curves.png", "digits_confusion_matrix.png"]}
    for name in pictures.get(path.name, []):
        assert (tmp_path / name).stat().st_size > 1000, name
    assert f"backend {process_name(be)}" in out.stdout
    for acc in re.findall(r"test accuracy ([0-9.]+)", out.stdout):
        assert float(acc) > 0.9, out.stdout


@pytest.mark.slow
def test_readme_python_example_runs(be, tmp_path):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    block = block.replace('an.use("numpy")', f"an.use({process_name(be)!r})")
    script = tmp_path / "readme_example.py"
    script.write_text(block)
    out = run([str(script)], be)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()
    assert float(last[-3]) > 0.9 and float(last[-1]) < 1e-7


def test_train_other_datasets_quiet_and_plot(be, tmp_path):
    png = tmp_path / "moons.png"
    out = run(["-m", "anynet", "train", "--dataset", "moons", "--quiet", "--plot", str(png)], be)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy: ")
    assert float(lines[0].split()[2]) > 0.9
    assert png.stat().st_size > 1000


def test_train_save_then_predict_from_npy_and_csv(be, tmp_path):
    import numpy as np

    model = tmp_path / "iris.npz"
    out = run(["-m", "anynet", "train", "--dataset", "iris", "--epochs", "30", "--quiet", "--save", str(model)], be)
    assert out.returncode == 0, out.stderr
    raw = np.loadtxt(ROOT / "anynet" / "data" / "iris.csv.gz", delimiter=",", skiprows=1)
    x, t = raw[:, :-1], raw[:, -1].astype(int)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b,c,d", comments="")
    pred = run(["-m", "anynet", "predict", "--model", str(model), "--input", str(tmp_path / "x.npy")], be)
    assert pred.returncode == 0, pred.stderr
    names = pred.stdout.split()
    assert len(names) == 150 and set(names) <= {"setosa", "versicolor", "virginica"}
    acc = np.mean(np.array(names) == np.array(["setosa", "versicolor", "virginica"])[t])
    assert acc > 0.85  # the raw rows were standardized with the training statistics
    out_csv = tmp_path / "pred.csv"
    pred = run(["-m", "anynet", "predict", "--model", str(model), "--input", str(tmp_path / "x.csv"),
                "--output", str(out_csv)], be)
    assert pred.returncode == 0, pred.stderr
    assert out_csv.read_text().split() == names


def test_cli_errors_have_exit_codes_and_messages(be, tmp_path):
    out = run(["-m", "anynet", "predict", "--model", str(tmp_path / "none.npz"), "--input", "x.npy"], be)
    assert out.returncode == 1 and "anynet predict: error:" in out.stderr
    out = run(["-m", "anynet", "train", "--dataset", "nope"], be)
    assert out.returncode == 2 and "invalid choice: 'nope'" in out.stderr
    out = run(["-m", "anynet", "train", "--data", str(tmp_path)], be)
    assert out.returncode == 1 and "no train-images" in out.stderr.replace("_", "-").lower()
    out = run(["-m", "anynet", "train", "--batch-size", "0"], be)
    assert out.returncode == 2 and "expected a positive int" in out.stderr


@pytest.mark.slow
def test_bench_runs_and_every_implementation_computes_the_same(be):
    """The benchmark's correctness check, not its timings (speed is the benchmark's business)."""
    out = run(["-m", "anynet", "bench", "--quick", "--workloads", "digits", "--backends", process_name(be)], be)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()
            if line.startswith(("numpy-ref", "anynet-", "torch-", "jax-jit"))]
    names = [r[0] for r in rows]
    assert names[0] == "numpy-ref" and f"anynet-{process_name(be)}" in [n.split(":")[0] for n in names], out.stdout
    for r in rows[1:]:
        assert "failed" not in r, out.stdout
        assert float(r[-1]) < 1e-5, r  # weights after 5 steps, relative to the NumPy reference


def test_bench_labels_gpu_rows_and_compares_them_with_torch_cuda():
    """GPU rows get a ':gpu' label, no share of the CPU's peak, and a ratio to torch-cuda."""
    from anynet.bench import WORKLOADS, Result, _against_torch_cuda, _on_gpu, _table

    assert not _on_gpu("cpu") and not _on_gpu("TFRT_CPU_0") and _on_gpu("cuda:0") and _on_gpu("gpu:0")
    rows = [Result("numpy-ref", "wide", times=[4.0]), Result("anynet-cupy:gpu", "wide", times=[0.5], check=1e-7),
            Result("torch-cuda", "wide", times=[0.4], check=1e-7)]
    assert _against_torch_cuda(rows) == "against torch-cuda (same rounds): anynet-cupy:gpu 1.25x, torch-cuda 1.00x"
    assert _against_torch_cuda(rows[:2]) == ""
    table = _table(WORKLOADS["wide"], rows, peak=100.0).splitlines()
    gpu_row = next(line.split() for line in table if line.startswith("anynet-cupy:gpu"))
    cpu_row = next(line.split() for line in table if line.startswith("numpy-ref"))
    assert gpu_row[-3] == "-" and cpu_row[-3].endswith("%")


# ------------------------------------------------------------------ convnets (issue 11)
@pytest.mark.slow
def test_anynet_train_cnn_reaches_the_accuracy_bar(be):
    """The CNN main job: conv 32, pool, conv 64, dense 128 on the digits as 8x8x1 images."""
    out = run(["-m", "anynet", "train", "--model", "cnn"], be, timeout=900)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"backend {process_name(be)}" in lines[0]
    assert "8x8x1 images -> conv 3x3 32" in lines[1] and "Adam" in lines[1], lines[1]
    assert sum(line.startswith("epoch ") for line in lines) == 8
    acc = float(re.search(r"test accuracy: ([0-9.]+)", out.stdout).group(1))
    assert acc >= 0.98, out.stdout


def test_anynet_train_cnn_options_and_errors(be, tmp_path):
    out = run(["-m", "anynet", "train", "--model", "cnn", "--epochs", "1", "--optimizer", "sgd", "--lr", "0.01",
               "--save", str(tmp_path / "cnn.npz")], be)
    assert out.returncode == 0, out.stderr
    assert "epoch 1/1" in out.stdout and "SGD(" in out.stdout
    bad = run(["-m", "anynet", "train", "--model", "cnn", "--dataset", "wine", "--epochs", "1"], be)
    assert bad.returncode == 1 and "--model cnn: expects square grayscale images" in bad.stderr, bad.stderr
    bad = run(["-m", "anynet", "train", "--model", "resnet"], be)
    assert bad.returncode == 2 and "invalid choice: 'resnet'" in bad.stderr


def write_idx_images(directory, n_train=240, n_test=60, side=12, seed=0):
    """MNIST-format files of side x side images: class k is a bright square in quadrant k, on noise."""
    import numpy as np

    from .test_datasets import idx_bytes

    rng = np.random.default_rng(seed)
    half = side // 2

    def make(n):
        t = np.arange(n) % 4
        x = rng.integers(0, 90, (n, side, side))
        for i, k in enumerate(t):
            r, c = (k // 2) * half, (k % 2) * half
            x[i, r + 1:r + half - 1, c + 1:c + half - 1] += 150
        return x.astype(np.uint8), t.astype(np.uint8)

    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x, t = make(n)
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(x))
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(t))


@pytest.mark.slow
def test_lenet_example_trains_on_idx_files(be, tmp_path):
    data = tmp_path / "idx"
    data.mkdir()
    write_idx_images(data)
    out = run([str(ROOT / "examples" / "lenet_idx.py"), "--data", str(data), "--epochs", "4",
               "--batch-size", "16"], be, out_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "240 training images of 12x12" in out.stdout and f"backend {process_name(be)}" in out.stdout
    acc = float(re.search(r"test accuracy ([0-9.]+)", out.stdout).group(1))
    assert acc >= 0.9, out.stdout
    for name in ("lenet_filters.png", "lenet_feature_maps.png"):
        assert (tmp_path / name).stat().st_size > 1000, name


_W4_FLOAT64 = """
import importlib.util, sys
import numpy as np
from anynet import bench
from anynet.gradcheck import relative_error
backend = sys.argv[1]
x, t, order = bench._w4_data(3, dtype=np.float64)
params = bench._w4_params(dtype=np.float64)
makers = {"anynet-numpy": lambda: bench.w4_anynet("numpy", params, x, t)}
if backend == "numpy":  # the bench's anynet-numpy-t2 row: each step split over two threads
    from anynet.backends import get_backend
    makers["anynet-numpy-t2"] = lambda: bench.w4_anynet(get_backend("numpy", threads=2), params, x, t)
else:
    makers[f"anynet-{backend}"] = lambda: bench.w4_anynet(backend, params, x, t)
if importlib.util.find_spec("torch"):
    makers["torch-eager"] = lambda: bench.w4_torch(params, x, t)
if importlib.util.find_spec("jax"):
    makers["jax-jit"] = lambda: bench.w4_jax(params, x, t)
after = {}
for name, make in makers.items():
    run, get = make()
    run(order)
    after[name] = get()
    assert after[name][0][0].dtype == np.float64, (name, after[name][0][0].dtype)
ref = after.pop("anynet-numpy")
for name, weights in after.items():
    err = max(relative_error(a, r, reference=True) for pair, rpair in zip(weights, ref) for a, r in zip(pair, rpair))
    print(name, err)
"""


@pytest.mark.slow
def test_w4_implementations_agree_in_float64(be):
    """W4's float32 check shows up to ~1e-3 between implementations (rounding amplified at ReLU
    kinks); in float64 anynet and the hand-written PyTorch and JAX peers take the same 3 steps."""
    if be.name not in ("numpy", "jax", "torch"):
        pytest.skip(f"the W4 bench runs anynet on numpy, jax and torch, not {be.name}")
    out = subprocess.run([sys.executable, "-c", _W4_FLOAT64, be.name], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "JAX_ENABLE_X64": "1"})
    assert out.returncode == 0, out.stderr
    rows = dict(line.split() for line in out.stdout.splitlines())
    assert rows, out.stdout  # at least anynet on this backend or a peer was compared
    for name, err in rows.items():
        assert float(err) < 1e-10, (name, err)
