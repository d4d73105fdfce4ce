"""Conv2D forward + backward: anynet on NumPy against PyTorch's CPU conv2d (a measurement, not a test).

Usage: ``python benchmarks/conv_timing.py [--repeats 20] [--dtype float32]``

For each shape of issue 11 (batch 64, 3x3 kernels, no padding), times one
forward and one backward pass (input and weight gradients) of anynet's
:class:`~anynet.layers.Conv2D` on NumPy, channels-last, and of
``torch.nn.functional.conv2d`` + ``autograd`` on the CPU, channels-first, from
the same numbers; prints the medians and the median ratio anynet / torch
(timed alternately, repeat by repeat, so that a busy machine slows both alike). Both get
the whole machine (torch's thread count and NumPy's BLAS threads as they
come); the first runs are a warm-up and are not timed. Also prints the peak
memory that one anynet step allocates on NumPy (tracemalloc), for issue 11's
"report the peak memory of a step".
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np  # host data and the NumPy backend under test

import anynet as an

SHAPES = [  # (name, batch, in, out, H=W)
    ("1->32 3x3 on 28x28", 64, 1, 32, 28),
    ("32->64 3x3 on 14x14", 64, 32, 64, 14),
    ("32->64 3x3 on 28x28", 64, 32, 64, 28),
]


def _interleaved_ms(fa, fb, repeats: int) -> tuple[float, float, float]:
    """Median ms of ``fa`` and ``fb`` and the median of the per-repeat ratios, the two timed
    alternately so that a busy machine slows both alike."""
    for _ in range(3):
        fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        for f, ts in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    ratios = [a / b for a, b in zip(ta, tb)]
    return 1e3 * statistics.median(ta), 1e3 * statistics.median(tb), statistics.median(ratios)


def _steps(torch, conv, p, x, dy):
    """One forward + backward of anynet (NHWC) and of torch (NCHW), from the same numbers."""

    def anynet_step():
        _, cache = conv.forward(p, x)
        return conv.backward(p, cache, dy)

    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
    wt = torch.from_numpy(an.layers.to_torch_conv2d_weight(p["W"])).requires_grad_(True)
    bt = torch.from_numpy(p["b"]).requires_grad_(True)
    dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(0, 3, 1, 2)))

    def torch_step():
        yt = torch.nn.functional.conv2d(xt, wt, bt)
        return torch.autograd.grad(yt, [xt, wt, bt], dyt)

    return anynet_step, torch_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args(argv)
    import torch

    rng = np.random.default_rng(0)
    print(f"anynet Conv2D on NumPy {np.__version__} vs torch {torch.__version__} CPU conv2d "
          f"({torch.get_num_threads()} threads), {args.dtype}, forward + backward, "
          f"median of {args.repeats}")
    print(f"{'shape':22s} {'anynet ms':>10s} {'torch ms':>10s} {'ratio':>7s} {'peak MiB':>9s}  "
          "(ratio: median of per-repeat ratios; peak: anynet's step, inputs excluded)")
    for name, n, cin, cout, hw in SHAPES:
        conv = an.layers.Conv2D(cin, cout, 3)
        p = {k: np.asarray(v, dtype=args.dtype) for k, v in conv.init(rng).items()}
        x = rng.normal(size=(n, hw, hw, cin)).astype(args.dtype)
        y0 = conv(p, x)
        dy = rng.normal(size=tuple(y0.shape)).astype(args.dtype)

        anynet_step, torch_step = _steps(torch, conv, p, x, dy)

        # the same numbers first: outputs and all three gradients
        dx, grads = anynet_step()
        tdx, tdw, tdb = torch_step()
        tol = 1e-3 if args.dtype == "float32" else 1e-10
        for a, b in ((dx, tdx.numpy().transpose(0, 2, 3, 1)),
                     (grads["W"], an.layers.from_torch_conv2d_weight(tdw)["W"]), (grads["b"], tdb.numpy())):
            assert np.max(np.abs(a - b)) <= tol * max(np.max(np.abs(b)), 1.0), name
        t_any, t_torch, ratio = _interleaved_ms(anynet_step, torch_step, args.repeats)
        tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
        anynet_step()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"{name:22s} {t_any:10.1f} {t_torch:10.1f} {ratio:6.2f}x {peak:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
