"""Deploy: export the digits model to ONNX, then classify with onnxruntime alone.

Part 1 (with anynet): train the lecture's digits MLP (64 -> 128 -> 64 -> 10),
export it with ``model.export_onnx`` (outputs: logits, probabilities, labels; a
symbolic batch size) and save the test images next to it, in
$ANYNET_EXAMPLES_OUT (default: here).

Part 2 (the deployment machine: NumPy and onnxruntime, no anynet): the script
starts a fresh Python process that runs only ``classify`` below, which imports
onnxruntime and NumPy and nothing else, and says so at the end. Run it alone with

    python examples/export_onnx.py classify digits.onnx digits_test.npz

Needs the onnx extra: ``pip install '.[onnx]'`` in anynet's source tree (ndonnx, onnx,
onnxruntime).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def classify(onnx_path: str, samples_path: str) -> None:
    """The deployment side: NumPy and onnxruntime only."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    with np.load(samples_path, allow_pickle=False) as f:
        x, t = f["x"], f["t"]
    _, probs, labels = session.run(None, {"x": x[:1]})  # one image: a batch of one
    print(f"onnxruntime: sample 0 is a {labels[0]}, the label says {t[0]} "
          f"(probability {probs[0, labels[0]]:.3f})")
    _, _, labels = session.run(None, {"x": x})  # the whole test set: the same file, another batch size
    print(f"onnxruntime test accuracy {np.mean(labels == t):.3f} on {len(t)} images")
    print(f"anynet imported by the classifier: {'anynet' in sys.modules}")


def export(out_dir: Path) -> tuple[Path, Path]:
    """The training side: anynet."""
    import anynet as an

    data = an.datasets.load("digits")
    model = an.Sequential([
        an.layers.Linear(64, 128), an.layers.ReLU(),
        an.layers.Linear(128, 64), an.layers.ReLU(),
        an.layers.Linear(64, 10),
    ], seed=0)
    loss = an.losses.SoftmaxCrossEntropy()
    model.fit(data.x_train, data.t_train, loss=loss, optimizer=an.optim.SGD(lr=0.05, momentum=0.9),
              epochs=20, batch_size=32, seed=0, verbose=0)
    acc = model.evaluate(data.x_test, data.t_test, loss=loss)["accuracy"]
    print(f"backend {an.backend().name}: anynet test accuracy {acc:.3f}")
    onnx_path = out_dir / "digits.onnx"
    info = model.export_onnx(onnx_path, outputs=("logits", "probabilities", "labels"), loss=loss)
    print(info)
    samples = out_dir / "digits_test.npz"
    np.savez(samples, x=data.x_test.astype(np.float32), t=data.t_test)
    return onnx_path, samples


if __name__ == "__main__":
    if sys.argv[1:2] == ["classify"]:
        classify(sys.argv[2], sys.argv[3])
    else:
        out = Path(os.environ.get("ANYNET_EXAMPLES_OUT", "."))
        onnx_file, samples_file = export(out)
        # a fresh interpreter, as on a machine where only onnxruntime is installed
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "classify", str(onnx_file), str(samples_file)], check=True)
