"""ONNX export (anynet.export): the graph that ndonnx records runs in onnxruntime and gives
what ``model.predict`` gives, for every layer, every loss's outputs, any batch size.

Run in the ``onnx`` nox session (``pytest --backend numpy tests/test_export.py``); the
other sessions skip it: they do not install the ``onnx`` extra.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

_WHY = "onnx, ndonnx or onnxruntime not installed: the export is tested in the onnx nox session"
onnx = pytest.importorskip("onnx", reason=_WHY)
ndonnx = pytest.importorskip("ndonnx", reason=_WHY)
ort = pytest.importorskip("onnxruntime", reason=_WHY)

import anynet as an  # noqa: E402
from anynet.backends import to_numpy  # noqa: E402
from anynet.export import ExportError, export_onnx  # noqa: E402

build_mlp = an.layers.mlp  # the command line's MLP

ROOT = Path(__file__).resolve().parents[1]
L = an.layers
RTOL = {"float32": 1e-5, "float64": 1e-12}


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-30))


def run_onnx(path, x) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def inputs(model, n, seed=1) -> np.ndarray:
    shape = (n, *model.input_shape)
    return np.random.default_rng(seed).normal(size=shape).astype(model.dtype)


# one small model per layer type that anynet ships; the test below fails when a layer is added
# to an.layers without a case here
LAYER_CASES = {
    "Linear": lambda: ([L.Linear(5, 3)], None),
    "Sigmoid": lambda: ([L.Linear(5, 6), L.Sigmoid(), L.Linear(6, 3)], None),
    "Tanh": lambda: ([L.Linear(5, 6), L.Tanh(), L.Linear(6, 3)], None),
    "ReLU": lambda: ([L.Linear(5, 6), L.ReLU(), L.Linear(6, 3)], None),
    "LeakyReLU": lambda: ([L.Linear(5, 6), L.LeakyReLU(0.1), L.Linear(6, 3)], None),
    "ELU": lambda: ([L.Linear(5, 6), L.ELU(0.7), L.Linear(6, 3)], None),
    "GELU": lambda: ([L.Linear(5, 6), L.GELU(), L.Linear(6, 3)], None),
    "Softplus": lambda: ([L.Linear(5, 6), L.Softplus(), L.Linear(6, 3)], None),
    "Softmax": lambda: ([L.Linear(5, 3), L.Softmax()], None),
    "Maxout": lambda: ([L.Maxout(5, 4, pieces=3), L.Linear(4, 3)], None),
    "Dropout": lambda: ([L.Linear(5, 6), L.ReLU(), L.Dropout(0.3), L.Linear(6, 3)], None),
    "Flatten": lambda: ([L.Flatten(), L.Linear(6, 3)], (2, 3)),
    # images are channels-last (N, H, W, C); odd sizes, padding and strides on purpose
    "Conv2D": lambda: ([L.Conv2D(2, 4, 3, padding="same"), L.ReLU(), L.Conv2D(4, 2, (2, 3), stride=2),
                        L.Flatten(), L.Linear(2 * 2 * 2, 3)], (5, 6, 2)),
    "MaxPool2D": lambda: ([L.MaxPool2D(2), L.Flatten(), L.Linear(2 * 3 * 2, 3)], (5, 6, 2)),
    "AvgPool2D": lambda: ([L.AvgPool2D(3, stride=2), L.Flatten(), L.Linear(2 * 2 * 2, 3)], (5, 6, 2)),
    "GlobalAvgPool2D": lambda: ([L.Conv2D(2, 4, 3), L.GlobalAvgPool2D(), L.Linear(4, 3)], (5, 6, 2)),
    # evaluation form: the running statistics (set to something other than 0 and 1 below)
    "BatchNorm": lambda: ([L.Linear(5, 4), L.BatchNorm(4), L.ReLU(), L.Linear(4, 3)], None),
    "Reshape": lambda: ([L.Reshape((3, 2, 1)), L.Conv2D(1, 2, 2), L.Flatten(), L.Linear(2 * 1 * 2, 3)],
                        (6,)),
}

#: names in an.layers that are not layers (builders, registries, the PyTorch weight converters)
NOT_LAYERS = ("Layer", "LAYERS", "ACTIVATIONS", "mlp", "cnn", "lenet", "from_torch_conv2d_weight",
              "to_torch_conv2d_weight")


def _nontrivial_state(model) -> None:
    """Running statistics that are not the initial 0 and 1, so the export must really use them."""
    rng = np.random.default_rng(5)
    for i, layer in enumerate(model.layers):
        if getattr(layer, "stateful", False):
            c = layer.num_features
            model.state[i] = {"running_mean": model.backend.asarray(rng.normal(size=c), dtype=model.dtype),
                              "running_var": model.backend.asarray(rng.uniform(0.5, 2.0, size=c),
                                                                   dtype=model.dtype)}


def test_every_shipped_layer_has_a_case():
    shipped = {n for n in L.__all__ if n not in NOT_LAYERS}
    assert shipped == set(LAYER_CASES), f"add an export case for {shipped - set(LAYER_CASES)}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_every_layer_exports_and_matches_predict(name, dtype, tmp_path):
    layers, input_shape = LAYER_CASES[name]()
    model = an.Sequential(layers, seed=3, dtype=dtype, backend="numpy", input_shape=input_shape)
    _nontrivial_state(model)
    path = tmp_path / f"{name}.onnx"
    info = model.export_onnx(path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    assert info.inputs == ("x",) and info.outputs == ("logits",)
    assert info.guards_removed == sum(isinstance(la, (L.Linear, L.Maxout, L.Conv2D)) for la in layers)
    for n in (1, 7):  # one file, any batch size: the batch axis is symbolic
        x = inputs(model, n)
        (y,) = run_onnx(path, x)
        assert y.dtype == np.dtype(dtype) and y.shape == (n, 3)
        assert rel(y, to_numpy(model.predict(x))) <= RTOL[dtype], (name, dtype, n)


def test_the_symbolic_batch_axis_is_named_in_the_graph(tmp_path):
    model = an.Sequential(build_mlp(4, (8,), 3), seed=0)
    model.export_onnx(tmp_path / "m.onnx")
    (x_in,) = onnx.load(tmp_path / "m.onnx").graph.input
    dims = x_in.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 4


def _train_digits(dtype="float32", epochs=3):
    data = an.datasets.load("digits")
    model = an.Sequential(build_mlp(64, (128, 64), 10), seed=0, dtype=dtype, backend="numpy")
    model.fit(data.x_train, data.t_train, loss=an.losses.SoftmaxCrossEntropy(), epochs=epochs,
              batch_size=32, optimizer=an.optim.SGD(lr=0.05, momentum=0.9), verbose=0)
    return model, data


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_main_jobs_model_exports_with_probabilities_and_labels(dtype, tmp_path, capsys):
    model, data = _train_digits(dtype)
    path = tmp_path / "digits.onnx"
    info = model.export_onnx(path, outputs=("logits", "probabilities", "labels"))
    logits_only = model.export_onnx(tmp_path / "logits.onnx")
    with capsys.disabled():  # the node counts, for the report
        print(f"\n  digits 64-128-64-10 {dtype}: {logits_only}\n  with probabilities and labels: {info}")
    assert info.outputs == ("logits", "probabilities", "labels")
    assert logits_only.guards_removed == 3 and logits_only.if_nodes_left == 0
    x = data.x_test.astype(dtype)
    for n in (1, 7, len(x)):
        logits, probs, labels = run_onnx(path, x[:n])
        ref = to_numpy(model.predict(x[:n]))
        assert rel(logits, ref) <= RTOL[dtype]
        assert rel(probs, softmax(np.asarray(ref, np.float64))) <= RTOL[dtype]
        assert labels.dtype == np.int64 and labels.shape == (n,)
        np.testing.assert_array_equal(labels, ref.argmax(axis=1))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# per loss: the model's layers, its targets, and the probabilities and labels NumPy expects
LOSS_CASES = {
    "SoftmaxCrossEntropy": (an.losses.SoftmaxCrossEntropy(), 3, softmax, lambda z: z.argmax(axis=1)),
    "MulticlassHinge": (an.losses.MulticlassHinge(), 3, softmax, lambda z: z.argmax(axis=1)),
    "BinaryCrossEntropy": (an.losses.BinaryCrossEntropy(), 1, sigmoid, lambda z: (z > 0).astype(np.int64)),
    "BinaryCrossEntropy(from_logits=False)": (an.losses.BinaryCrossEntropy(from_logits=False), 1,
                                              lambda p: p, lambda p: (p > 0.5).astype(np.int64)),
    "Hinge": (an.losses.Hinge(), 1, None, lambda z: np.where(z > 0, 1, -1)),
    "MSE": (an.losses.MSE(), 2, None, None),
}


def _targets(loss, n_out, n, rng):
    target = getattr(loss, "target", "any")
    if target == "labels":
        return rng.integers(0, n_out, size=n)
    if target == "binary":
        return rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    if target == "sign":
        return rng.choice([-1.0, 1.0], size=(n, 1))
    return rng.normal(size=(n, n_out))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(LOSS_CASES))
def test_one_model_per_loss_gives_its_probabilities_and_labels(case, dtype, tmp_path):
    loss, n_out, probs_ref, labels_ref = LOSS_CASES[case]
    rng = np.random.default_rng(0)
    layers = [L.Linear(4, 8), L.Tanh(), L.Linear(8, n_out)]
    if case.endswith("(from_logits=False)"):
        layers.append(L.Sigmoid())
    model = an.Sequential(layers, seed=1, dtype=dtype, backend="numpy")
    x = rng.normal(size=(40, 4))
    model.fit(x, _targets(loss, n_out, 40, rng), loss=loss, epochs=2, batch_size=8,
              optimizer=an.optim.SGD(lr=0.05), verbose=0)
    outputs = ["logits"] + (["probabilities"] if probs_ref else []) + (["labels"] if labels_ref else [])
    path = tmp_path / "m.onnx"
    info = export_onnx(model, path, outputs=outputs, loss=loss)
    assert info.outputs == tuple(outputs)
    for n in (1, 7):
        xb = x[:n].astype(dtype)
        got = dict(zip(outputs, run_onnx(path, xb)))
        ref = np.asarray(to_numpy(model.predict(xb)), np.float64)
        assert rel(got["logits"], ref) <= RTOL[dtype]
        if probs_ref:
            assert rel(got["probabilities"], probs_ref(ref)) <= RTOL[dtype]
        if labels_ref:
            assert got["labels"].dtype == np.int64
            np.testing.assert_array_equal(got["labels"], labels_ref(ref))
    if not probs_ref:  # asking for what the loss does not define is a clear error
        with pytest.raises(ValueError, match="probabilities"):
            export_onnx(model, tmp_path / "bad.onnx", outputs=["probabilities"], loss=loss)
    if not labels_ref:
        with pytest.raises(ValueError, match=r"need a classification loss, but this is loss MSE"):
            export_onnx(model, tmp_path / "bad.onnx", outputs=["labels"], loss=loss)


def test_without_a_loss_a_multi_output_model_gets_softmax_and_one_output_none(tmp_path):
    model = an.Sequential([L.Linear(4, 3)], seed=0)
    info = export_onnx(model, tmp_path / "m.onnx", outputs=("probabilities",))
    x = inputs(model, 7)
    (probs,) = run_onnx(tmp_path / "m.onnx", x)
    assert info.outputs == ("probabilities",)
    assert rel(probs, softmax(np.asarray(to_numpy(model.predict(x)), np.float64))) <= 1e-5
    one = an.Sequential([L.Linear(4, 1)], seed=0)
    with pytest.raises(ValueError, match="one output and no loss given; pass loss="):
        export_onnx(one, tmp_path / "one.onnx", outputs=("logits", "labels"))


def test_removing_the_zero_size_guards_changes_no_output(tmp_path, capsys):
    """The guard pass is exact: the same outputs, bit for bit, with and without it, empty batch included."""
    model, data = _train_digits("float32", epochs=1)
    outs = ("logits", "probabilities", "labels")
    kept = model.export_onnx(tmp_path / "kept.onnx", outputs=outs, remove_guards=False)
    gone = model.export_onnx(tmp_path / "gone.onnx", outputs=outs)
    with capsys.disabled():
        print(f"\n  guards kept: {kept}\n  guards removed: {gone}")
    assert kept.guards_removed == 0 and gone.guards_removed == 3
    assert gone.nodes == kept.nodes - gone.nodes_removed and gone.nodes_removed > 3 * 150
    for n in (0, 1, 7, None):  # None: the whole test set
        x = data.x_test[:n].astype(np.float32)
        for a, b in zip(run_onnx(tmp_path / "kept.onnx", x), run_onnx(tmp_path / "gone.onnx", x)):
            assert a.shape == b.shape and a.shape[0] == len(x)
            np.testing.assert_array_equal(a, b)


def test_the_standardization_is_part_of_the_graph(tmp_path):
    model = an.Sequential([L.Linear(3, 4), L.ReLU(), L.Linear(4, 2)], seed=0, dtype="float64")
    mean, std = np.asarray([1.0, -2.0, 3.0]), np.asarray([0.5, 2.0, 4.0])
    export_onnx(model, tmp_path / "m.onnx", standardize=(mean, std))
    raw = np.random.default_rng(0).normal(size=(7, 3)) * 3 + 1
    (y,) = run_onnx(tmp_path / "m.onnx", raw)
    assert rel(y, to_numpy(model.predict((raw - mean) / std))) <= 1e-12
    with pytest.raises(ValueError, match=r"standardize mean of shape \(2,\) does not fit .* \(3,\)"):
        export_onnx(model, tmp_path / "bad.onnx", standardize=(np.zeros(2), np.ones(3)))
    with pytest.raises(ValueError, match="std must be finite and non-zero"):
        export_onnx(model, tmp_path / "bad.onnx", standardize=(np.zeros(3), np.zeros(3)))


@dataclasses.dataclass(frozen=True)
class _UnitNorm(an.layers.Layer):
    """Rows scaled to unit length with ``xp.linalg``, an extension ndonnx does not have."""

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        return x / xp.linalg.vector_norm(x, axis=-1, keepdims=True), x


@dataclasses.dataclass(frozen=True)
class _DataDependent(an.layers.Layer):
    """Asks for a Python number from the data: no graph can record that."""

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        return x / float(xp.max(x)), x


@pytest.mark.parametrize(("layer", "what"), [
    (_UnitNorm(), r"AttributeError: module 'ndonnx' has no attribute 'linalg' \(at test_export\.py:\d+: "
                  r"return x / xp\.linalg\.vector_norm"),
    (_DataDependent(), r"ValueError: .* \(at test_export\.py:\d+: return x / float\(xp\.max\(x\)\)"),
])
def test_a_layer_ndonnx_cannot_record_gets_an_error_naming_layer_and_operation(layer, what, tmp_path):
    model = an.Sequential([L.Linear(3, 4), layer, L.Linear(4, 2)], seed=0)
    name = type(layer).__name__
    with pytest.raises(ExportError, match=rf"export_onnx: layer 1 \({name}: {name}\(\)\): its forward uses "
                                          rf"an operation that ndonnx cannot record as ONNX: {what}"):
        model.export_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()  # nothing half-written


@dataclasses.dataclass(frozen=True)
class _Center(an.layers.Layer):
    """A stateful layer (like BatchNorm in evaluation): ``y = (x - state["mean"]) * scale``."""

    stateful: ClassVar[bool] = True

    def init(self, rng: Any) -> dict:
        return {"scale": rng.uniform(0.5, 2.0, size=4)}

    def init_state(self) -> dict:
        return {"mean": np.zeros(4)}

    def forward(self, params, x, /, *, training=False, key=None, xp=None, state=None):
        y = (x - state["mean"]) * params["scale"]
        return y, None, state  # (y, cache, new_state): the state is unchanged in inference


def test_a_stateful_layer_exports_with_the_models_state(tmp_path):
    """The layer state the model holds (``model.state``) goes into the graph as constants."""
    model = an.Sequential([L.Linear(3, 4), _Center(), L.Linear(4, 2)], seed=0, dtype="float64")
    assert sorted(model.state[1]) == ["mean"]
    mean = np.asarray([0.5, -1.0, 2.0, 0.0])
    model.state = [{}, {"mean": model.backend.asarray(mean, dtype="float64")}, {}]
    model.export_onnx(tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(7, 3))
    (W0, b0), (W2, b2) = ((to_numpy(model.params[i]["W"]), to_numpy(model.params[i]["b"])) for i in (0, 2))
    h = ((x @ W0.T + b0) - mean) * to_numpy(model.params[1]["scale"])
    (y,) = run_onnx(tmp_path / "m.onnx", x)
    assert rel(y, h @ W2.T + b2) <= 1e-12


def test_bad_arguments_are_named(tmp_path):
    model = an.Sequential([L.Linear(3, 2)], seed=0)
    with pytest.raises(ValueError, match=r"outputs must be distinct names from \('logits', 'probabilities', "
                                         r"'labels'\), got \('scores',\)"):
        export_onnx(model, tmp_path / "m.onnx", outputs=("scores",))
    with pytest.raises(ValueError, match="input shape is unknown"):
        export_onnx(an.Sequential([L.ReLU(), L.Linear(3, 2)], seed=0), tmp_path / "m.onnx")


def test_an_older_opset_can_be_asked_for(tmp_path):
    model = an.Sequential([L.Linear(3, 4), L.ReLU(), L.Linear(4, 2)], seed=0)
    info = model.export_onnx(tmp_path / "m.onnx", opset=18)
    assert info.opset == 18
    x = inputs(model, 7)
    assert rel(run_onnx(tmp_path / "m.onnx", x)[0], to_numpy(model.predict(x))) <= 1e-5
    with pytest.raises(ExportError, match="cannot convert the graph to opset 7"):
        model.export_onnx(tmp_path / "old.onnx", opset=7)
    assert not (tmp_path / "old.onnx").exists()


# ------------------------------------------------------------------ as a user runs it
def _run(args, timeout=300):
    env = {**os.environ, "ANYNET_BACKEND": "numpy", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_cli_export_of_a_checkpoint_takes_raw_inputs_like_predict(tmp_path):
    ckpt, out = tmp_path / "iris.npz", tmp_path / "iris.onnx"
    r = _run(["-m", "anynet", "train", "--dataset", "iris", "--epochs", "30", "--quiet", "--save", str(ckpt)])
    assert r.returncode == 0, r.stderr
    r = _run(["-m", "anynet", "export", "--model", str(ckpt), "--out", str(out), "--proba", "--labels"])
    assert r.returncode == 0, r.stderr
    assert "outputs logits, probabilities, labels" in r.stdout and "standardization" in r.stdout, r.stdout
    raw = np.loadtxt(ROOT / "anynet" / "data" / "iris.csv.gz", delimiter=",", skiprows=1)[:, :-1]
    np.save(tmp_path / "x.npy", raw)
    r = _run(["-m", "anynet", "predict", "--model", str(ckpt), "--input", str(tmp_path / "x.npy")])
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    _, probs, labels = run_onnx(out, raw.astype(np.float32))
    class_names = np.asarray(["setosa", "versicolor", "virginica"])
    assert len(names) == 150
    np.testing.assert_array_equal(class_names[labels], names)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    bad = _run(["-m", "anynet", "export", "--model", str(tmp_path / "none.npz"), "--out", str(out)])
    assert bad.returncode == 1 and "anynet export: error:" in bad.stderr


def test_the_export_example_classifies_with_onnxruntime_alone(tmp_path):
    env_out = {"ANYNET_EXAMPLES_OUT": str(tmp_path)}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "export_onnx.py")], capture_output=True,
                       text=True, timeout=300, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "ANYNET_BACKEND": "numpy", **env_out})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "digits.onnx").stat().st_size > 10_000
    assert "anynet imported by the classifier: False" in r.stdout, r.stdout
    m = re.search(r"onnxruntime: sample \d+ is a (\d), the label says (\d)", r.stdout)
    assert m is not None, r.stdout
    acc = float(re.search(r"onnxruntime test accuracy ([0-9.]+)", r.stdout).group(1))
    assert acc > 0.9, r.stdout


def test_bench_inference_rows_compute_the_same_as_predict():
    """The inference benchmark's correctness column, not its timings."""
    r = _run(["-m", "anynet", "bench", "--inference", "--quick"])
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith(("digits (W1)", "mnist (W2)"))]
    assert [(row[0], row[2]) for row in rows] == [("digits", "1"), ("digits", "256"), ("mnist", "1"),
                                                  ("mnist", "256")], r.stdout
    for row in rows:
        assert float(row[-1]) <= 1e-5, row
