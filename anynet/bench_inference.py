"""``anynet bench --inference``: inference time of an exported model in onnxruntime
against anynet's own ``predict`` on NumPy, for the bench's MLPs W1 (digits,
64-128-64-10) and W2 (mnist, 784-512-256-10) at batch 1 and batch 256.

Both compute the same float32 forward pass from the same weights (checked before
timing: the largest relative difference of the outputs is printed). Each figure
is the median over rounds of the mean time of ``calls`` back-to-back calls; the
two runners alternate within each round, so that the machine's drifting speed
affects both alike. ``predict`` includes what it does for a user (input checks,
the move to the backend); the onnxruntime session is created once. Threads:
the libraries' defaults; ``OMP_NUM_THREADS=1 anynet bench --inference`` makes
both single-threaded (NumPy's BLAS reads it; onnxruntime is given it here),
steadier on a busy machine.

Needs the ``onnx`` extra (``pip install '.[onnx]'`` in anynet's source tree).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

# host-side measurements: inputs and checks in NumPy
import numpy as np  # host-side: input batches and the comparison with onnxruntime's outputs

from . import layers
from .backends import to_numpy
from .model import Sequential

#: The bench's W1 and W2 MLPs (anynet.bench.WORKLOADS), by name.
SIZES = {"digits": (64, 128, 64, 10), "mnist": (784, 512, 256, 10)}

__all__ = ["main", "run"]

BATCHES = (1, 256)


def _time(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def run(workloads: Sequence[str] = ("digits", "mnist"), *, repeats: int = 15, calls: int | None = None,
        batches: Sequence[int] = BATCHES) -> list[dict]:
    """Time and print; return one row per (workload, batch):
    ``{"workload", "batch", "anynet", "onnxruntime", "ratio", "check"}`` (seconds per call)."""
    import onnxruntime as ort

    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)  # 0: onnxruntime's default
    print(f"anynet inference: predict on NumPy {np.__version__} vs onnxruntime {ort.__version__} "
          f"({os.cpu_count()} CPUs, OMP_NUM_THREADS={threads or 'unset'}); median of {repeats} rounds, "
          "microseconds per call")
    print(f"{'workload':<18} {'batch':>5} {'anynet-numpy':>13} {'onnxruntime':>12} {'anynet/ort':>10} "
          f"{'max rel diff':>12}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in workloads:
            sizes = SIZES[name]
            model = Sequential(layers.mlp(sizes[0], sizes[1:-1], sizes[-1]), seed=0,
                                  dtype="float32", backend="numpy")
            path = os.path.join(tmp, f"{name}.onnx")
            model.export_onnx(path)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            for batch in batches:
                x = np.random.default_rng(1).normal(size=(batch, sizes[0])).astype(np.float32)
                ours = np.asarray(to_numpy(model.predict(x)))
                theirs = session.run(None, {"x": x})[0]
                check = float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(ours)), 1e-30))
                n = calls or (200 if batch == 1 else max(5, 20_000 // (batch * sizes[1] // 64)))
                a_times, o_times = [], []
                for _ in range(repeats):
                    a_times.append(_time(lambda x=x, m=model: m.predict(x), n))
                    o_times.append(_time(lambda x=x, s=session: s.run(None, {"x": x}), n))
                a, o = statistics.median(a_times), statistics.median(o_times)
                rows.append({"workload": name, "batch": batch, "anynet": a, "onnxruntime": o,
                             "ratio": a / o, "check": check})
                label = f"{name} ({'W1' if name == 'digits' else 'W2' if name == 'mnist' else name})"
                print(f"{label:<18} {batch:>5} {a * 1e6:>13.1f} {o * 1e6:>12.1f} {a / o:>9.2f}x {check:>12.1e}")
    return rows


def main(*, repeats: int = 15, quick: bool = False) -> int:
    """Run from ``anynet bench --inference`` (``--quick``: 2 rounds of few calls)."""
    run(repeats=2 if quick else repeats, calls=5 if quick else None)
    return 0
