"""Cross-backend parity: "the same code gives the same numbers on every backend", measured.

``python -m anynet.parity`` trains the same seeded network on the same data, in
the same batch order, for a fixed number of steps, on every backend that can
run here, in float64 and in float32, with several optimizers and losses,
through the public pure step ``model.train_step(loss=..., optimizer=...,
jit=True)``. Every step's loss and the final parameters are compared with the
NumPy float64 run of the same configuration. A second table does the same for
the forward and the backward pass of every layer and every loss on random
inputs. It prints both tables and exits with status 1 when a row fails.

Relative difference (one definition, used everywhere here)::

    rel_diff(a, b) = max|a - b| / max(max|b|, 1e-30)

with ``b`` the NumPy float64 reference: the largest error measured against the
scale of the reference array (not elementwise, which would blow up on entries
near zero). A row shows the maximum over every compared array of every run.

Targets: float64 within 1e-10, float32 within 1e-4 (after 50 steps for training).

Options: ``--backends numpy,jax,torch:cuda`` (``name[:device]``; default: every
backend available here, plus ``torch:cuda`` when torch sees a GPU), ``--dtypes``,
``--steps`` (default 50), ``--quick`` (5 runs of 10 steps: 4 MLPs and the CNN), ``--seed``.

This module is a host-side tool, not a compute module: it uses NumPy for the
data and for comparing results, and reaches every other library only through
:mod:`anynet.backends`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# NumPy: host data and host-side comparison of results (allowed: this module computes nothing
# on a backend itself).
import numpy as np

from . import _random, losses, optim
from . import layers as L
from .backends import Backend, available_backends, get_backend, to_numpy
from .gradcheck import relative_error
from .model import Sequential

__all__ = [
    "RTOL",
    "TINY",
    "LayerCase",
    "Row",
    "Run",
    "TrainCase",
    "compare_runs",
    "default_backends",
    "format_table",
    "layer_cases",
    "layer_parity",
    "main",
    "rel_diff",
    "train",
    "train_cases",
    "training_parity",
]

#: Tolerances on the relative difference to the NumPy float64 reference.
RTOL: dict[str, float] = {"float64": 1e-10, "float32": 1e-4}

#: Floor of the denominator of :func:`rel_diff` (only reached by all-zero references).
TINY: float = 1e-30

DEFINITION = ("rel diff = max|a - b| / max(max|b|, 1e-30), a: the backend's result, "
              "b: NumPy float64 (reference); max over every compared array")

N_SAMPLES, N_FEATURES, BATCH = 256, 8, 32


def rel_diff(a: Any, b: Any) -> float:
    """``max|a - b| / max(max|b|, TINY)``: the error of ``a`` relative to the scale of ``b``.

    Parameters
    ----------
    a : array of any backend, or a number
        The result under test (converted to float64 on the host).
    b : array of any backend, or a number
        The reference, of the same shape.

    Returns
    -------
    float
        ``inf`` when either side holds NaN or infinity (a failure, never a pass).

    Shapes
    ------
    a, b : any shape, equal.
    """
    return relative_error(np.asarray(to_numpy(a)), np.asarray(to_numpy(b)), floor=TINY, reference=True)


# ---------------------------------------------------------------- training runs
@dataclasses.dataclass(frozen=True)
class TrainCase:
    """One training configuration: an optimizer, a loss, and what the targets are."""

    optimizer: Any
    loss: losses.Loss
    n_out: int
    targets: str  # "labels", "binary", "sign" or "real"
    network: str = "mlp"  # "mlp" or "cnn" (see _network)

    @property
    def name(self) -> str:
        opt = type(self.optimizer).__name__
        if isinstance(self.optimizer, optim.SGD) and self.optimizer.momentum:
            opt += "(momentum)"
        return f"{opt}+{type(self.loss).__name__}" + ("+CNN" if self.network == "cnn" else "")


# Learning rates small enough that a small MLP stays well-conditioned for 50 steps:
# float32 rounding is then not amplified by a chaotic trajectory.
OPTIMIZERS: tuple[Any, ...] = (
    optim.SGD(lr=0.05, momentum=0.9),
    optim.Adam(lr=0.005),
    optim.RMSprop(lr=0.002),
)
LOSSES: tuple[tuple[losses.Loss, int, str], ...] = (
    (losses.SoftmaxCrossEntropy(), 3, "labels"),
    (losses.BinaryCrossEntropy(), 1, "binary"),
    (losses.MSE(), 2, "real"),
    (losses.MulticlassHinge(), 3, "labels"),
    (losses.Hinge(), 1, "sign"),
)


def train_cases(quick: bool = False) -> list[TrainCase]:
    """Every optimizer with every loss; ``quick``: 4 runs covering each optimizer and the
    four main losses once; both end with the CNN run (conv, BatchNorm, max pool)."""
    # the convnet (issue 11): conv, BatchNorm (running statistics carried step to step), max pool
    cnn = TrainCase(optim.Adam(lr=0.005), losses.SoftmaxCrossEntropy(), 3, "labels", network="cnn")
    if quick:
        picks = [(0, 0), (1, 1), (2, 2), (1, 3)]
        return [*(TrainCase(OPTIMIZERS[o], *LOSSES[k]) for o, k in picks), cnn]
    return [*(TrainCase(o, *spec) for o in OPTIMIZERS for spec in LOSSES), cnn]


def _network(n_out: int, kind: str = "mlp") -> list[L.Layer]:
    if kind == "cnn":  # the 8 features as a 2x4x1 channels-last image
        # no conv bias before BatchNorm: its gradient is exactly 0 (the batch mean takes it out)
        return [L.Reshape((2, 4, 1)), L.Conv2D(1, 4, 2, padding="same", bias=False), L.BatchNorm(4), L.ReLU(),
                L.MaxPool2D((1, 2)), L.Flatten(), L.Linear(16, n_out, weight_init="glorot_uniform")]
    # Smooth and kinked units, and dropout: its masks must be equal on every backend too.
    return [L.Linear(N_FEATURES, 16, weight_init="glorot_uniform"), L.Tanh(),
            L.Linear(16, 16), L.ReLU(), L.Dropout(0.1),
            L.Linear(16, n_out, weight_init="glorot_uniform")]


def _data(case: TrainCase, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Host data (NumPy, so every backend gets the same numbers): inputs and targets
    of a random teacher network."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_SAMPLES, N_FEATURES))
    hidden = np.tanh(x @ rng.normal(size=(N_FEATURES, 8)) / math.sqrt(N_FEATURES))
    scores = hidden @ rng.normal(size=(8, case.n_out)) + 0.3 * rng.normal(size=(N_SAMPLES, case.n_out))
    if case.targets == "labels":
        return x, np.argmax(scores, axis=1).astype(np.int64)
    if case.targets == "binary":
        return x, (scores > 0).astype(np.float64)
    if case.targets == "sign":
        return x, np.where(scores > 0, 1.0, -1.0)
    return x, scores


def _batch_order(seed: int, steps: int) -> list[np.ndarray]:
    """The sample indices of every step: a fresh permutation per epoch, full batches."""
    rng = np.random.default_rng(seed + 1)
    per_epoch = N_SAMPLES // BATCH
    out: list[np.ndarray] = []
    while len(out) < steps:
        perm = rng.permutation(N_SAMPLES)
        out += [perm[i * BATCH:(i + 1) * BATCH] for i in range(per_epoch)]
    return out[:steps]


@dataclasses.dataclass
class Run:
    """The result of one training run, on the host.

    Shapes
    ------
    losses : (steps,) float64, the loss returned by each step.
    params : list of dict of float64 arrays, the parameters after the last step.
    """

    losses: np.ndarray
    params: list[dict[str, np.ndarray]]
    seconds: float


def _put_targets(be: Backend, t: np.ndarray, dtype: str) -> Any:
    if t.dtype.kind in "iu":
        return be.asarray(t, dtype=be.default_int())
    return be.asarray(t, dtype=dtype)


def train(case: TrainCase, be: Backend, dtype: str, steps: int, seed: int = 0) -> Run:
    """Train the parity network for ``steps`` steps with the public pure step.

    The network, its initial weights (drawn on the host from ``seed``), the data and
    the batch order are the same on every backend; only the arithmetic differs.
    """
    x, t = _data(case, seed)
    model = Sequential(_network(case.n_out, case.network), seed=seed, dtype=dtype, backend=be)
    step = model.train_step(loss=case.loss, optimizer=case.optimizer, seed=seed, jit=True)
    batches = [(be.asarray(x[i], dtype=dtype), _put_targets(be, t[i], dtype))
               for i in _batch_order(seed, steps)]
    params, state = model.params, case.optimizer.init(model.params)
    layer_state = model.state
    stateful = any(layer.stateful for layer in model.layers)  # BatchNorm: the step takes and returns it
    values = []
    t0 = time.perf_counter()
    for xb, tb in batches:
        if stateful:
            params, state, value, layer_state = step(params, state, xb, tb, layer_state)
        else:
            params, state, value = step(params, state, xb, tb)
        values.append(value)
    host_losses = np.asarray([float(to_numpy(v)) for v in values], dtype=np.float64)
    # the parameters, then the running statistics: both compared with the reference's
    host_params = [{k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in p.items()}
                   for p in (*params, *layer_state)]
    return Run(host_losses, host_params, time.perf_counter() - t0)


# ---------------------------------------------------------------- result rows
@dataclasses.dataclass
class Row:
    """One line of a table: a backend (and device) in one dtype against the reference."""

    backend: str
    dtype: str
    diffs: dict[str, float]  # column -> max rel diff over every case
    worst: dict[str, str]  # column -> the case where that maximum was reached
    tolerance: float | None
    error: str | None = None  # an exception that stopped a case: the row fails
    reference: bool = False
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        if self.reference:
            return True
        return (self.error is None and self.tolerance is not None
                and all(v <= self.tolerance for v in self.diffs.values()))

    def add(self, column: str, value: float, case: str) -> None:
        """Keep the largest ``value`` seen for ``column`` and the case it came from."""
        old = self.diffs.get(column)
        if old is None or value > old:
            self.diffs[column] = value
            self.worst[column] = case


def _label(be: Backend) -> str:
    device = str(be.device)
    if be.name == "array_api_strict":  # its devices print as array_api_strict.Device('CPU_DEVICE')
        device = "cpu"
    return f"{be.name} ({device})"


def compare_runs(row: Row, case: str, run: Run, ref: Run) -> None:
    """Fold one run's differences to the reference run into ``row``."""
    row.add("loss", rel_diff(run.losses, ref.losses), case)
    row.add("params", max(rel_diff(p[k], q[k]) for p, q in zip(run.params, ref.params) for k in q), case)


def training_parity(backends: Iterable[str | Backend], dtypes: Sequence[str] = ("float64", "float32"),
                    *, steps: int = 50, cases: Sequence[TrainCase] | None = None, seed: int = 0,
                    log: Callable[[str], None] | None = None) -> list[Row]:
    """Train every case on every backend and dtype; one :class:`Row` per (backend, dtype).

    The NumPy float64 run of each case is the reference; its own row is marked as such.
    """
    cases = list(train_cases() if cases is None else cases)
    bes = [get_backend(b) if isinstance(b, str) else b for b in backends]
    ref_be = get_backend("numpy")
    refs = {c.name: train(c, ref_be, "float64", steps, seed) for c in cases}
    rows = []
    for be in bes:
        for dtype in dtypes:
            is_ref = be.name == "numpy" and dtype == "float64"
            row = Row(_label(be), dtype, {}, {}, RTOL[dtype], reference=is_ref)
            rows.append(row)
            if is_ref:
                row.seconds = sum(r.seconds for r in refs.values())
                continue
            for c in cases:
                try:
                    run = train(c, be, dtype, steps, seed)
                except Exception as exc:  # reported in the table, and the row fails
                    row.error = f"{c.name}: {type(exc).__name__}: {exc}"
                    break
                row.seconds += run.seconds
                compare_runs(row, c.name, run, refs[c.name])
            if log is not None:
                log(f"  trained {row.backend} {dtype}: {len(cases)} runs in {row.seconds:.1f}s")
    return rows


# ---------------------------------------------------------------- layers and losses
@dataclasses.dataclass(frozen=True)
class LayerCase:
    """A layer (forward: ``y``; backward: ``dx`` and every parameter gradient) or a loss
    (forward: the value; backward: ``dL/dy``) on fixed random host inputs."""

    name: str
    fn: Any  # a Layer or a Loss
    x: np.ndarray  # layer input, or loss scores y
    params: dict[str, np.ndarray]  # layer parameters ({} for losses)
    target: np.ndarray | None = None  # loss targets


def _away_from_zero(a: np.ndarray) -> np.ndarray:
    # keep inputs and biases off the kinks of ReLU-like units, where conventions differ
    return a + np.sign(a) * 0.05


def layer_cases(seed: int = 0) -> list[LayerCase]:
    """Every layer and every loss, with host inputs drawn from ``seed``."""
    rng = np.random.default_rng(seed)  # host data: the same numbers for every backend

    def x(*shape: int) -> np.ndarray:
        return _away_from_zero(rng.normal(size=(6, *shape)) * 1.5)

    def params(layer: L.Layer) -> dict[str, np.ndarray]:
        host = {k: np.asarray(v, dtype=np.float64) for k, v in layer.init(rng).items()}
        if "b" in host:  # non-zero biases
            host["b"] = _away_from_zero(rng.normal(size=host["b"].shape) * 0.3)
        return host

    layer_list: list[tuple[str, L.Layer, tuple[int, ...]]] = [
        ("Linear", L.Linear(5, 4), (5,)), ("Linear(bias=False)", L.Linear(5, 3, bias=False), (5,)),
        ("Sigmoid", L.Sigmoid(), (7,)), ("Tanh", L.Tanh(), (7,)), ("ReLU", L.ReLU(), (7,)),
        ("LeakyReLU(0.1)", L.LeakyReLU(0.1), (7,)), ("ELU(0.7)", L.ELU(0.7), (7,)),
        ("GELU", L.GELU(), (7,)), ("Softplus", L.Softplus(), (7,)), ("Softmax", L.Softmax(), (7,)),
        ("Maxout(pieces=3)", L.Maxout(5, 3, pieces=3), (5,)), ("Dropout(0.3)", L.Dropout(0.3), (7,)),
        ("Flatten", L.Flatten(), (2, 3)),
        ("Conv2D(3x3, stride 2, padding 1)", L.Conv2D(2, 3, 3, stride=2, padding=1), (5, 6, 2)),
        ("Conv2D(3x3, same)", L.Conv2D(2, 3, 3, padding="same"), (5, 4, 2)),
        ("MaxPool2D(2)", L.MaxPool2D(2), (4, 6, 2)), ("AvgPool2D(3, stride 2)", L.AvgPool2D(3, 2), (5, 5, 2)),
        ("GlobalAvgPool2D", L.GlobalAvgPool2D(), (3, 4, 2)), ("Reshape", L.Reshape((3, 2)), (6,)),
        ("BatchNorm (images)", L.BatchNorm(2), (3, 3, 2)),
    ]
    cases = [LayerCase(name, layer, x(*shape), params(layer)) for name, layer, shape in layer_list]
    y4 = rng.normal(size=(6, 4)) * 2.0
    z1 = rng.normal(size=(6, 1)) * 2.0
    labels = rng.integers(0, 4, size=6)
    binary = (rng.uniform(size=(6, 1)) > 0.5).astype(np.float64)
    cases += [
        LayerCase("SoftmaxCrossEntropy (labels)", losses.SoftmaxCrossEntropy(), y4, {}, labels),
        LayerCase("SoftmaxCrossEntropy (one-hot)", losses.SoftmaxCrossEntropy(), y4, {}, np.eye(4)[labels]),
        LayerCase("MulticlassHinge", losses.MulticlassHinge(), y4, {}, labels),
        LayerCase("MSE", losses.MSE(), y4, {}, rng.normal(size=(6, 4))),
        LayerCase("BinaryCrossEntropy (logits)", losses.BinaryCrossEntropy(), z1, {}, binary),
        LayerCase("BinaryCrossEntropy (probabilities)", losses.BinaryCrossEntropy(from_logits=False),
                  1.0 / (1.0 + np.exp(-z1)), {}, binary),
        LayerCase("Hinge", losses.Hinge(), z1, {}, 2.0 * binary - 1.0),
    ]
    return cases


def _evaluate(case: LayerCase, be: Backend, dtype: str, dy_host: np.ndarray | None
              ) -> tuple[list[Any], list[Any]]:
    """(forward outputs, backward outputs) of one case on one backend, as backend arrays."""
    xp = be.xp
    x = be.asarray(case.x, dtype=dtype)
    if isinstance(case.fn, losses.Loss):
        value, dy = case.fn.value_and_grad(x, _put_targets(be, case.target, dtype), xp=xp)
        return [value], [dy]
    p = {k: be.asarray(v, dtype=dtype) for k, v in case.params.items()}
    key = _random.key_from_seed(7, xp=xp) if case.fn.stochastic else None
    y, cache = case.fn.forward(p, x, training=True, key=key, xp=xp)[:2]  # stateful: (y, cache, state)
    dy = be.asarray(dy_host, dtype=dtype)
    dx, grads = case.fn.backward(p, cache, dy, xp=xp)
    return [y], [dx, *(grads[k] for k in sorted(grads))]


def layer_parity(backends: Iterable[str | Backend], dtypes: Sequence[str] = ("float64", "float32"),
                 *, seed: int = 0) -> list[Row]:
    """Forward and backward of every layer and loss on every backend and dtype against
    NumPy float64; one :class:`Row` per (backend, dtype)."""
    cases = layer_cases(seed)
    ref_be = get_backend("numpy")
    rng = np.random.default_rng(seed + 1)  # host upstream gradients, the same everywhere
    refs, dys = {}, {}
    for c in cases:
        dy = None
        if not isinstance(c.fn, losses.Loss):
            y = c.fn.forward({k: ref_be.asarray(v) for k, v in c.params.items()},
                             ref_be.asarray(c.x, dtype="float64"), training=False)[0]
            dy = rng.normal(size=tuple(y.shape))
        dys[c.name] = dy
        refs[c.name] = _evaluate(c, ref_be, "float64", dy)
    rows = []
    for b in backends:
        be = get_backend(b) if isinstance(b, str) else b
        for dtype in dtypes:
            is_ref = be.name == "numpy" and dtype == "float64"
            row = Row(_label(be), dtype, {}, {}, RTOL[dtype], reference=is_ref)
            rows.append(row)
            if is_ref:
                continue
            t0 = time.perf_counter()
            for c in cases:
                try:
                    fwd, bwd = _evaluate(c, be, dtype, dys[c.name])
                except Exception as exc:  # reported in the table, and the row fails
                    row.error = f"{c.name}: {type(exc).__name__}: {exc}"
                    break
                rf, rb = refs[c.name]
                row.add("forward", max(rel_diff(a, r) for a, r in zip(fwd, rf)), c.name)
                row.add("backward", max(rel_diff(a, r) for a, r in zip(bwd, rb)), c.name)
            row.seconds = time.perf_counter() - t0
    return rows


# ---------------------------------------------------------------- output
def format_table(rows: Sequence[Row], columns: Sequence[tuple[str, str]], title: str) -> str:
    """A plain-text table: backend, dtype, one column per ``(key, header)``, tolerance,
    pass/FAIL, seconds, and the case with the largest difference (or the error); the
    definition of the relative difference below it."""
    head = ["backend", "dtype", *(h for _, h in columns), "tolerance", "result", "time", "worst case"]
    body = []
    for r in rows:
        if r.reference:
            cells = [r.backend, r.dtype, *("reference" for _ in columns), "-", "-"]
        else:
            cells = [r.backend, r.dtype, *(f"{r.diffs[k]:.2e}" if k in r.diffs else "-" for k, _ in columns),
                     f"{r.tolerance:.0e}", "pass" if r.passed else "FAIL"]
        cells += [f"{r.seconds:.1f}s", "-" if r.reference else (r.error or _worst(r, columns))]
        body.append(cells)
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    out = [title, "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in body]
    out.append(DEFINITION)
    return "\n".join(out)


def _worst(r: Row, columns: Sequence[tuple[str, str]]) -> str:
    """The case behind the largest of the row's columns (relative to the tolerance)."""
    key = max((k for k, _ in columns if k in r.diffs), key=lambda k: r.diffs[k], default=None)
    if key is None or r.diffs[key] == 0.0:  # bit-identical: no case is worse than another
        return "-"
    return r.worst.get(key, "-")


# ---------------------------------------------------------------- command line
def _describe(cases: Sequence[TrainCase]) -> str:
    opts = list(dict.fromkeys(c.name.split("+")[0] for c in cases))
    loss_names = list(dict.fromkeys(c.name.split("+")[1] for c in cases))
    if len(cases) == len(opts) * len(loss_names):
        return f"every one of {', '.join(opts)} with every one of {', '.join(loss_names)}"
    return ", ".join(c.name for c in cases)


def _parse_backend(spec: str) -> Backend:
    name, _, device = spec.strip().partition(":")
    return get_backend(name, device or None)


def default_backends() -> tuple[list[Backend], dict[str, str]]:
    """Every backend that can run here on its default device, plus torch on CUDA when torch
    sees a GPU; and the reason for each one that cannot run."""
    bes, missing = [], {}
    for name, why in available_backends().items():
        if why is not None:
            missing[name] = why
            continue
        be = get_backend(name)
        bes.append(be)
        if name == "torch" and any(str(d).startswith("cuda") for d in be.visible_devices()):
            bes.append(get_backend("torch", "cuda"))
    return bes, missing


def main(argv: Sequence[str] | None = None) -> int:
    """Run both parity tables; return 0 when every row passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m anynet.parity",
        description="Train the same seeded model on every backend and compare every step's loss "
        "and the final parameters with NumPy float64; the same for every layer's and loss's "
        "forward and backward. Exits 1 when a row fails.",
    )
    parser.add_argument("--backends", default=None,
                        help="comma-separated name[:device], e.g. numpy,jax,torch:cuda,cupy "
                        "(default: every backend available here; a named backend that cannot "
                        "run is a failure)")
    parser.add_argument("--dtypes", default="float64,float32", help="default: float64,float32")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per run (default 50; 10 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="4 training runs (each optimizer, four losses) instead of 15, 10 steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and batch order")
    args = parser.parse_args(argv)
    # Parity compares arithmetic, not TensorFloat-32: on NVIDIA GPUs JAX multiplies float32
    # matrices in TF32 by default (about 1e-3 relative). Ask for full float32 unless the user
    # chose otherwise; this acts only if JAX is not imported yet (and changes nothing on CPUs).
    os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
    steps = args.steps if args.steps is not None else (10 if args.quick else 50)
    if steps < 1:
        parser.error(f"--steps must be >= 1, got {steps}")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    for d in dtypes:
        if d not in RTOL:
            parser.error(f"--dtypes: {d!r} is not one of {', '.join(RTOL)}")

    failed_setup: list[tuple[str, str]] = []  # (a backend named in --backends, why it cannot run)
    if args.backends is None:
        bes, missing = default_backends()
    else:
        bes, missing = [], {}
        for spec in (s for s in args.backends.split(",") if s.strip()):
            try:
                bes.append(_parse_backend(spec))
            except ValueError as exc:
                parser.error(f"--backends: {exc}")
            except Exception as exc:  # asked for by name: not being able to run it is a failure
                failed_setup.append((spec.strip(), str(exc)))

    print("anynet parity against NumPy float64")
    for be in bes:
        print(f"  {_label(be)}: {be.name} {be.version}")
    if any(be.name == "jax" for be in bes):
        print(f"  JAX_DEFAULT_MATMUL_PRECISION={os.environ.get('JAX_DEFAULT_MATMUL_PRECISION')}")
        if "float64" in dtypes:
            with warnings.catch_warnings():  # said here once instead
                warnings.simplefilter("ignore", UserWarning)
                next(be for be in bes if be.name == "jax").dtype("float64")
            print("  JAX: jax_enable_x64 is on for this process (float64 rows; float32 rows stay float32)")
    for name, why in missing.items():
        print(f"  not available here, skipped: {name}: {why}")
    for spec, why in failed_setup:
        print(f"  FAIL: cannot run {spec}: {why}")
    sys.stdout.flush()

    cases = train_cases(args.quick)
    t0 = time.perf_counter()
    print(f"\ntraining {len(cases)} runs of {steps} steps per backend and dtype...", flush=True)
    rows = training_parity(bes, dtypes, steps=steps, cases=cases, seed=args.seed,
                           log=lambda line: print(line, flush=True))
    print()
    print(format_table(rows, [("loss", "loss rel diff"), ("params", "param rel diff")],
                       f"Training: {len(cases)} runs per row ({_describe(cases)}), {steps} steps of "
                       f"batch {BATCH} each; every step's loss and the final parameters"))
    lrows = layer_parity(bes, dtypes, seed=args.seed)
    print()
    print(format_table(lrows, [("forward", "forward rel diff"), ("backward", "backward rel diff")],
                       f"Layers and losses: {len(layer_cases())} cases per row, forward (outputs, loss "
                       "values) and backward (input and parameter gradients, loss gradients)"))
    bad = [f"{r.backend} {r.dtype} ({what})" for what, rs in (("training", rows), ("layers", lrows))
           for r in rs if not r.passed]
    bad += [f"{spec} (cannot run)" for spec, _ in failed_setup]
    ok = not bad
    print(f"\nparity: {'PASS' if ok else 'FAIL: ' + ', '.join(bad)} ({time.perf_counter() - t0:.1f}s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
