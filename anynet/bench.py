"""``anynet bench``: time anynet's training step against its peers, in one run.

For each workload (an MLP and a batch size) it times the training step
(forward, softmax cross-entropy, backward, SGD update) of:

* ``numpy-ref``: a careful hand-written NumPy step with explicit backprop
  (in-place ops, the first layer's input gradient skipped): the reference;
* ``numpy-matmuls``: only the matrix products of that step: the ceiling;
* ``anynet-<backend>``: anynet on every available backend, exactly as ``fit``
  runs it (batches gathered from data on the device; the epoch compiled as one
  loop on JAX; in-place updates where the arrays allow it);
* ``torch-eager``: PyTorch eager (CPU, and CUDA where present);
* ``jax-jit``: a careful hand-written ``jax.jit`` value-and-grad step, batch
  gathered inside, parameters donated;
* ``sklearn``: scikit-learn's ``MLPClassifier``, per epoch on the digits.

Every figure is also a ratio to ``numpy-ref`` measured in the same run, with
GFLOP/s and the share of this machine's matmul peak (a 2048^3 SGEMM timed in the
same rounds as the steps, so that the machine's drifting speed affects both alike). Before timing, every implementation takes a few steps from the same
weights on the same batches and the bench prints how far its loss and weights
are from the reference's: they must compute the same thing.

The peers are written in their own libraries on purpose (that is what they
are); anynet's own code is not.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# host-side data, reference implementation and measurements
import numpy as np

from . import bench_inference, datasets, layers, losses, optim
from ._version import __version__
from .backends import get_backend, to_numpy
from .engine import TrainConfig
from .gradcheck import relative_error
from .model import Sequential
from .train import training_data

__all__ = ["WORKLOADS", "Workload", "main", "run"]


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    batch: int
    note: str

    @property
    def flops(self) -> float:
        """The FLOPs of one step (forward 2BKN per layer, dW 2BKN, dx 2BKN except layer 0)."""
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        mm = [2.0 * self.batch * a * b for a, b in pairs]
        return 2 * sum(mm) + sum(mm[1:])


#: The workloads by name: an MLP's layer sizes, its batch and what bounds its speed.
WORKLOADS = {
    "digits": Workload("digits", (64, 128, 64, 10), 32, "overhead-bound"),
    "mnist": Workload("mnist", (784, 512, 256, 10), 256, "compute-bound"),
    "wide": Workload("wide", (784, 2048, 2048, 10), 1024, "for GPUs"),
}

LR = 0.01


@dataclass
class Result:
    impl: str
    workload: str
    times: list[float] = field(default_factory=list)  # seconds per step, one per repeat
    check: float | None = None  # max relative difference vs numpy-ref after a few steps
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan


def _init(sizes: Sequence[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, math.sqrt(2 / a), size=(b, a)).astype(np.float32), np.zeros(b, np.float32))
            for a, b in itertools.pairwise(sizes)]


def _data(w: Workload, steps: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = w.batch * steps
    x = rng.normal(size=(n, w.sizes[0])).astype(np.float32)
    t = rng.integers(0, w.sizes[-1], size=n)
    order = rng.permutation(n).reshape(steps, w.batch)
    return x, t, order


# --------------------------------------------------------------------- peers
def numpy_ref(w: Workload, params, x, t) -> tuple[Callable, Callable]:
    """The hand-written NumPy step: the reference every ratio is relative to."""
    P = [(W.copy(), b.copy()) for W, b in params]
    n_layers = len(P)

    def run(order: np.ndarray) -> float:
        loss = math.nan
        for idx in order:
            xb, tb = x[idx], t[idx]
            acts = [xb]
            h = xb
            for i, (W, b) in enumerate(P):
                h = h @ W.T
                h += b
                if i < n_layers - 1:
                    np.maximum(h, 0, out=h)
                acts.append(h)
            z = acts[-1]  # fused softmax cross-entropy: dz = (softmax(z) - onehot) / B
            z -= z.max(axis=1, keepdims=True)
            rows = np.arange(len(tb))
            z_t = z[rows, tb]
            np.exp(z, out=z)
            s = z.sum(axis=1, keepdims=True)
            loss = np.mean(np.log(s[:, 0]) - z_t)  # stays an array: no host sync per step
            z /= s
            z[rows, tb] -= 1.0
            z /= len(tb)
            dz = z
            for i in range(n_layers - 1, -1, -1):
                W, b = P[i]
                a = acts[i]
                dW = dz.T @ a
                db = dz.sum(axis=0)
                if i > 0:
                    dz = dz @ W
                    dz *= a > 0
                W -= LR * dW
                b -= LR * db
        return float(loss)

    return run, lambda: [(W.copy(), b.copy()) for W, b in P]


def numpy_matmuls(w: Workload, params, x, t) -> tuple[Callable, None]:
    """Only the matrix products of a step (forward, dW, and dx but for the first layer),
    with the step's shapes, through NumPy's BLAS: the ceiling for any NumPy step, which
    must do these and more. It does not train: its ``check`` is blank."""
    Ws = [W.copy() for W, _ in params]
    outs = [np.empty((w.batch, W.shape[0]), np.float32) for W in Ws]

    def run(order: np.ndarray) -> float:
        for idx in order:
            h = x[idx]
            acts = [h]
            for W, o in zip(Ws, outs):
                h = np.matmul(h, W.T, out=o)
                acts.append(h)
            dz = h
            for i in range(len(Ws) - 1, -1, -1):
                dz.T @ acts[i]  # dW
                if i > 0:
                    dz = dz @ Ws[i]  # dx
        return 0.0

    return run, None


def _anynet_epoch(be: Any, stack: list, params, x, t) -> tuple[Callable, Callable]:
    """``(run, get)`` for anynet exactly as fit runs it: the engine's compiled epoch, in place on
    its own copies where the backend's arrays can be written (plain SGD: no packing). ``params``
    are the host weights of the stack's layers with parameters, in order."""
    dtype = str(params[0][0].dtype)  # float32 in the timings; float64 in the bench's own test
    model = Sequential(stack, seed=0, backend=be, dtype=dtype)
    host = iter(params)
    model.params = [dict(zip(("W", "b"), (be.asarray(a, dtype=dtype, copy=True) for a in next(host))))
                    if p else {} for p in model.params]
    loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(lr=LR)
    epoch = model.engine.compiled("epoch", TrainConfig(loss, opt, inplace=be.writable), True)
    X, T = training_data(model, x, t, loss, where="bench")
    state = {"params": model.params, "opt": opt.init(model.params)}

    def run(order: np.ndarray) -> float:
        batches = be.asarray(order, dtype=be.default_int())
        p, _, s, stats = epoch(state["params"], model.state, state["opt"], X, T, batches)
        state["params"], state["opt"] = p, s
        return float(stats[0]) / order.size  # reads the device once: waits for the work

    def get():
        return [(to_numpy(d["W"]), to_numpy(d["b"])) for d in state["params"] if d]

    return run, get


def anynet_impl(backend: Any, w: Workload, params, x, t) -> tuple[Callable, Callable]:
    """anynet's MLP exactly as fit runs it (see anynet.train.fit)."""
    return _anynet_epoch(get_backend(backend), layers.mlp(w.sizes[0], w.sizes[1:-1], w.sizes[-1]), params, x, t)


def torch_impl(device: str, w: Workload, params, x, t) -> tuple[Callable, Callable]:
    import torch  # a peer, written in its own library on purpose

    dev = torch.device(device)
    Ws = [torch.tensor(W, device=dev, requires_grad=True) for W, _ in params]
    bs = [torch.tensor(b, device=dev, requires_grad=True) for _, b in params]
    X, T = torch.tensor(x, device=dev), torch.tensor(t, device=dev)
    opt = torch.optim.SGD([*Ws, *bs], lr=LR)
    ce = torch.nn.CrossEntropyLoss()

    def run(order: np.ndarray) -> float:
        idx_all = torch.tensor(order, device=dev)
        for idx in idx_all:
            h = X[idx]
            for i, (W, b) in enumerate(zip(Ws, bs)):
                h = torch.nn.functional.linear(h, W, b)
                if i < len(Ws) - 1:
                    h = torch.relu(h)
            loss = ce(h, T[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    return run, lambda: [(W.detach().cpu().numpy(), b.detach().cpu().numpy()) for W, b in zip(Ws, bs)]


def _jax_sgd(loss_fn: Callable, P: Any, X: Any, T: Any) -> tuple[Callable, Callable]:
    """The hand-written JAX peers' training loop: ``jax.value_and_grad`` of ``loss_fn(P, xb, tb)``,
    a plain SGD update, one ``jax.jit`` step per batch (gathered inside), parameters donated."""
    import jax  # a peer, written in its own library on purpose
    import jax.numpy as jnp

    def _step(P, X, T, idx):
        value, g = jax.value_and_grad(loss_fn)(P, X[idx], T[idx])
        return jax.tree_util.tree_map(lambda p, d: p - LR * d, P, g), value

    step = jax.jit(_step, donate_argnums=(0,))
    state = {"P": P}

    def run(order: np.ndarray) -> float:
        idx_all = jnp.asarray(order, dtype=jnp.int32)
        p = state["P"]
        for i in range(order.shape[0]):
            p, value = step(p, X, T, idx_all[i])
        state["P"] = p
        return float(value)

    return run, lambda: [(np.asarray(W), np.asarray(b)) for W, b in state["P"]]


def _jax_mlp_loss(P, xb, tb):
    """The hand-written JAX peers' MLP: ReLU between the Linear layers, mean softmax cross-entropy."""
    import jax  # a peer, written in its own library on purpose
    import jax.numpy as jnp

    h = xb
    for i, (W, b) in enumerate(P):
        h = h @ W.T + b[None, :]
        if i < len(P) - 1:
            h = jax.nn.relu(h)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h, axis=-1), tb[:, None], axis=1))


def jax_impl(w: Workload, params, x, t) -> tuple[Callable, Callable]:
    import jax.numpy as jnp  # a peer, written in its own library on purpose

    P = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    X, T = jnp.asarray(x), jnp.asarray(t, dtype=jnp.int32)
    return _jax_sgd(_jax_mlp_loss, P, X, T)


# --------------------------------------------------------------------- measuring
def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matmul rate (GFLOP/s) through NumPy's BLAS, best of a few."""
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    a @ a  # warm up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


PEAK_N = 2048


def _sgemm() -> Callable:
    """One PEAK_N^3 float32 matmul through NumPy's BLAS, timed in the rounds of every
    workload: its rate in the same rounds is the peak that workload's "% peak" uses."""
    a = np.random.default_rng(0).normal(size=(PEAK_N, PEAK_N)).astype(np.float32)
    out = np.empty_like(a)
    return lambda order: np.matmul(a, a, out=out)


def prepare(make: Callable, w: Workload, params, x, t, order, *, check_steps: int,
            ref_after: list | None) -> tuple[Callable, float | None, list]:
    """Check that an implementation computes what the reference does, then warm it up.

    Returns the warmed-up ``run(order)``, the max relative difference of the weights
    from the reference's after the same ``check_steps`` steps, and its weights then.
    """
    run, get = make(w, params, x, t)
    run(order[:check_steps])
    if get is None:  # does not train (numpy-matmuls)
        run(order)
        return run, math.nan, None
    after = get()
    check = None
    if ref_after is not None:
        check = max(max(relative_error(a, b, reference=True), relative_error(c, d, reference=True)) for (a, c), (b, d) in zip(after, ref_after))
    run, _ = make(w, params, x, t)
    run(order)  # warm-up: compiles, allocator caches
    return run, check, after


def time_round_robin(runs: dict[str, Callable], order: np.ndarray, repeats: int) -> dict[str, list[float]]:
    """Seconds per step of each implementation, a whole pass each, taking turns so that
    a change in the machine's load affects every implementation alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        for name in rng.permutation(names):  # no implementation always follows the same one
            time.sleep(0.02)  # let the previous library's worker threads stop spinning
            t0 = time.perf_counter()
            runs[name](order)
            times[name].append((time.perf_counter() - t0) / order.shape[0])
    return times


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if platform.system() == "Linux" else kb / 2**20


def memory_growth(backend: str = "numpy", epochs: int = 20) -> tuple[float, float]:
    """Peak RSS after epoch 2 and after the last epoch of fit on the mnist workload (MB)."""
    w = WORKLOADS["mnist"]
    x, t, _ = _data(w, 20)
    model = Sequential(layers.mlp(784, (512, 256), 10), seed=0, backend=backend)
    seen: list[float] = []
    model.fit(x, t, loss=losses.SoftmaxCrossEntropy(), optimizer=optim.SGD(lr=LR), epochs=epochs,
              batch_size=w.batch, verbose=0, callbacks=[lambda e, logs: seen.append(peak_rss_mb())])
    return seen[1], seen[-1]


#: The optimizers of the scikit-learn comparison: (scikit-learn's settings, anynet's optimizer)
SKLEARN_SOLVERS = {
    "momentum": ("SGD momentum 0.9", dict(solver="sgd", learning_rate_init=0.05, momentum=0.9,
                                          nesterovs_momentum=False)),
    "plain": ("plain SGD", dict(solver="sgd", learning_rate_init=0.05, momentum=0.0)),
    "adam": ("Adam (sklearn's default)", dict(solver="adam", learning_rate_init=1e-3)),
}


def _anynet_optimizer(kind: str) -> Any:
    return {"momentum": lambda: optim.get("sgd", lr=0.05, momentum=0.9), "plain": lambda: optim.get("sgd", lr=0.05),
            "adam": lambda: optim.get("adam", lr=1e-3)}[kind]()


def sklearn_epoch(repeats: int = 5, epochs: int = 10) -> dict[str, list[float]] | None:
    """Seconds per epoch on the digits (64-128-64-10, batch 32, no L2): scikit-learn's
    ``MLPClassifier.fit`` (``sk-<kind>``) and anynet's ``fit`` (``anynet-<kind>``) with
    each optimizer of :data:`SKLEARN_SOLVERS`, ``epochs`` epochs per fit (setup included,
    as a user pays it), all taking turns ``repeats`` times.

    For scale, each round also times ``epochs`` epochs of the hand-written NumPy step on
    the same data (``numpy-ref``: plain SGD, no accuracy, no last partial batch)."""
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    import warnings

    d = datasets.load("digits")
    w = WORKLOADS["digits"]
    n = d.x_train.shape[0] // w.batch * w.batch
    ref_run, _ = numpy_ref(w, _init(w.sizes), d.x_train, d.t_train)
    orders = [np.random.default_rng(e).permutation(n).reshape(-1, w.batch) for e in range(epochs)]

    def sk(kind: str, seed: int) -> None:
        # alpha=0: no L2, as anynet's fit here (scikit-learn computes the penalty either way)
        clf = MLPClassifier(hidden_layer_sizes=(128, 64), batch_size=32, alpha=0.0, max_iter=epochs, tol=0.0,
                            n_iter_no_change=epochs + 1, random_state=seed, **SKLEARN_SOLVERS[kind][1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn: "maximum iterations reached"
            clf.fit(d.x_train, d.t_train)

    def ours(kind: str, seed: int) -> None:
        model = Sequential(layers.mlp(64, (128, 64), 10), seed=seed, backend="numpy")
        model.fit(d.x_train, d.t_train, loss=losses.SoftmaxCrossEntropy(), optimizer=_anynet_optimizer(kind),
                  epochs=epochs, batch_size=32, verbose=0, seed=seed)

    def ref(kind: str, seed: int) -> None:
        for order in orders:
            ref_run(order)

    cases = {"numpy-ref": (ref, "plain")}
    for kind in SKLEARN_SOLVERS:
        cases[f"sk-{kind}"] = (sk, kind)
        cases[f"anynet-{kind}"] = (ours, kind)
    times: dict[str, list[float]] = {k: [] for k in cases}
    rng = np.random.default_rng(0)
    for r in range(repeats + 1):  # the first round warms everything up
        for name in rng.permutation(list(cases)):
            fn, kind = cases[name]
            t0 = time.perf_counter()
            fn(kind, r)
            if r:
                times[name].append((time.perf_counter() - t0) / epochs)
    return times


def devices_epoch(n_devices: int, workload: str = "mnist", *, steps: int = 20, epochs: int = 3,
                  repeats: int = 5) -> dict[str, list[float]]:
    """Seconds per epoch of ``fit`` on JAX with the batch split over ``n_devices`` devices
    (data-parallel, see ``an.use("jax", devices=...)``) and on one device, taking turns.

    On a CPU the simulated devices share its cores: the ratio is then the cost of the
    sharding itself (the all-reduce and the split batch), not a speed-up; on several
    GPUs it is the scaling."""
    w = WORKLOADS[workload]
    x, t, _ = _data(w, steps)
    loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(lr=LR)
    models = {name: Sequential(layers.mlp(w.sizes[0], w.sizes[1:-1], w.sizes[-1]), seed=0, backend="jax",
                               devices=devs)
              for name, devs in (("1 device", None), (f"{n_devices} devices", n_devices))}

    def fit(model: Sequential) -> Callable[[], None]:
        # the data placed on the model's devices once, as the peer's: not moved again by every fit call
        be = model.backend
        X, T = be.put_data(x, dtype=model.dtype), be.put_data(t, dtype=be.default_int())
        return lambda: model.fit(X, T, loss=loss, optimizer=opt, epochs=epochs, batch_size=w.batch, verbose=0,
                                 shuffle=False)

    runs = {name: fit(model) for name, model in models.items()}
    params = [(to_numpy(d["W"]), to_numpy(d["b"])) for d in models["1 device"].params if d]
    for name, devs in (("jax-jit, 1 device", 1), (f"jax-jit, {n_devices} devices", n_devices)):
        runs[name] = _jax_sharded_epochs(params, x, t, w.batch, devs, epochs)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats + 1):  # the first round compiles
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            if r:
                times[name].append((time.perf_counter() - t0) / epochs)
    return times


def _jax_sharded_epochs(params, x, t, batch: int, n_devices: int, epochs: int) -> Callable[[], None]:
    """The hand-written peer of ``--devices``: an MLP's SGD epoch as one ``jax.jit`` of a
    ``lax.scan`` over the batches, the batch axis split over a one-axis mesh of ``n_devices``
    (``NamedSharding``), the parameters replicated: JAX's own data parallelism, no anynet."""
    import jax  # a peer, written in its own library on purpose
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    kw = {}
    auto = getattr(getattr(jax.sharding, "AxisType", None), "Auto", None)
    if auto is not None:  # JAX >= 0.7: explicit axes would need the contraction's sharding spelled out
        kw["axis_types"] = (auto,)
    mesh = Mesh(np.asarray(jax.devices()[:n_devices], dtype=object), ("data",), **kw)
    steps = x.shape[0] // batch
    split = NamedSharding(mesh, PartitionSpec(None, "data"))
    X = jax.device_put(x[:steps * batch].reshape(steps, batch, -1), split)
    T = jax.device_put(t[:steps * batch].reshape(steps, batch).astype(np.int32), split)
    state = {"P": jax.device_put([(jnp.asarray(W), jnp.asarray(b)) for W, b in params], NamedSharding(mesh, PartitionSpec()))}

    def body(P, batch_xt):
        value, g = jax.value_and_grad(_jax_mlp_loss)(P, *batch_xt)
        return jax.tree_util.tree_map(lambda p, d: p - LR * d, P, g), value

    # the data as arguments, not closed over: a captured array would become a constant of the program
    epoch = jax.jit(lambda P, X, T: jax.lax.scan(body, P, (X, T)))

    def run() -> None:
        for _ in range(epochs):
            state["P"], values = epoch(state["P"], X, T)
            float(values[-1])  # one host read per epoch, as fit

    return run


# --------------------------------------------------------------------- driver
def _implementations(backends: Sequence[str]) -> list[tuple[str, Callable]]:
    impls: list[tuple[str, Callable]] = [("numpy-ref", numpy_ref), ("numpy-matmuls", numpy_matmuls)]
    for spec in backends:  # "name" (its default device) or "name:device", e.g. "torch:cuda"
        name, _, device = spec.partition(":")
        try:
            be = get_backend(name, device or None)
        except Exception:  # not installed, no device: `anynet info` says why
            continue
        label = f"anynet-{name}" + (":gpu" if _on_gpu(be.device) else "")
        impls.append((label, lambda w, p, x, t, be=be: anynet_impl(be, w, p, x, t)))
    if importlib.util.find_spec("torch") is not None:  # the PyTorch peers, where PyTorch is installed
        impls.append(("torch-eager", lambda w, p, x, t: torch_impl("cpu", w, p, x, t)))
        if _torch_cuda():
            impls.append(("torch-cuda", lambda w, p, x, t: torch_impl("cuda", w, p, x, t)))
    try:
        import jax  # a peer, written in its own library on purpose

        impls.append(("jax-jit" + (":gpu" if _on_gpu(jax.devices()[0]) else ""), jax_impl))
    except ImportError:
        pass
    return impls


def _on_gpu(device: Any) -> bool:
    text = f"{device} {getattr(device, 'platform', '')}".lower()
    return "cuda" in text or "gpu" in text or type(device).__module__.startswith("cupy")


def _against_torch_cuda(rows: list[Result]) -> str:
    """Every GPU row's median over torch-cuda's, measured in the same rounds ('' without it)."""
    ref = next((r.median for r in rows if r.impl == "torch-cuda" and r.times), None)
    if ref is None:
        return ""
    gpu = [r for r in rows if r.times and (r.impl.endswith(":gpu") or r.impl == "torch-cuda")]
    return "against torch-cuda (same rounds): " + ", ".join(f"{r.impl} {r.median / ref:.2f}x" for r in gpu)


def run(workloads: Sequence[str] = ("digits", "mnist"), backends: Sequence[str] | None = None, *,
        repeats: int = 15, steps: dict[str, int] | None = None, memory: bool = True, sklearn: bool = True,
        out: Any = sys.stdout) -> list[Result]:
    """Run the benchmark and print the tables; return the raw results."""
    backends = list(backends or ("numpy", "jax", "torch", "cupy"))
    steps = {"digits": 200, "mnist": 20, "wide": 5, **(steps or {})}
    peak = matmul_peak()
    print(_header(peak), file=out)
    results: list[Result] = []
    for wname in workloads:
        w = WORKLOADS[wname]
        x, t, order = _data(w, steps[wname])
        params = _init(w.sizes)
        ref_after = None
        rows: dict[str, Result] = {}
        runs: dict[str, Callable] = {}
        for name, make in _implementations(backends):
            try:
                runs[name], check, after = prepare(make, w, params, x, t, order, check_steps=5,
                                                   ref_after=ref_after)
            except Exception as exc:  # a peer that cannot run here is reported, not hidden
                rows[name] = Result(name, wname, note=f"failed: {type(exc).__name__}: {exc}"[:120])
                continue
            if name == "numpy-ref":
                ref_after = after
            rows[name] = Result(name, wname, check=check)
        runs["sgemm"] = _sgemm()  # the machine's peak, taking turns with the others
        runs["sgemm"](order)
        timed = time_round_robin(runs, order, repeats)
        rates = [2.0 * PEAK_N**3 / (t * order.shape[0]) / 1e9 for t in timed.pop("sgemm")]
        w_peak = statistics.median(rates)
        for name, times in timed.items():
            rows[name].times = times
        rows = list(rows.values())
        results += rows
        print(_table(w, rows, w_peak), file=out)
        if _against_torch_cuda(rows):
            print(_against_torch_cuda(rows), file=out)
        print(f"% peak (CPU rows): of the float32 matmul rate ({PEAK_N}^3, NumPy BLAS) in the same rounds: "
              f"median {w_peak:.1f} GFLOP/s (range {min(rates):.1f}-{max(rates):.1f})", file=out)
    if sklearn:
        r = sklearn_epoch()
        if r is None:
            print("\nscikit-learn is not installed: no MLPClassifier comparison", file=out)
        else:
            med = {k: statistics.median(v) for k, v in r.items()}
            print(f"\nPer epoch on the digits (64-128-64-10, batch 32, no L2; {len(r['numpy-ref'])} fits of 10 "
                  "epochs each, all taking turns; median and range):", file=out)
            for kind, (label, _) in SKLEARN_SOLVERS.items():
                sk, ours = med[f"sk-{kind}"], med[f"anynet-{kind}"]
                print(f"  {label:<25} scikit-learn MLPClassifier {sk * 1e3:5.2f} ms ({_range(r[f'sk-{kind}'])}), "
                      f"anynet fit (numpy) {ours * 1e3:5.2f} ms ({_range(r[f'anynet-{kind}'])}): "
                      f"anynet {sk / ours:.2f}x faster (target >= 2.5x)", file=out)
            print(f"  for scale: an epoch of the hand-written NumPy step (plain SGD, no accuracy, no partial "
                  f"batch) {med['numpy-ref'] * 1e3:.2f} ms, {med['sk-plain'] / med['numpy-ref']:.2f}x less "
                  "than scikit-learn's plain-SGD epoch", file=out)
    if memory:
        at2, last = memory_growth()
        print(f"\nMemory: peak RSS over 20 epochs of fit on mnist (numpy): {at2:.1f} MB after epoch 2, "
              f"{last:.1f} MB after epoch 20: grew by {last - at2:.1f} MB", file=out)
    return results


def _devices_main(n: int, workload: str, repeats: int) -> int:
    if n > 1 and "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get(
            "XLA_FLAGS", ""):  # before JAX starts: without GPUs, simulate the devices on the CPU
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={n}").strip()
    be = get_backend("jax")
    w = WORKLOADS[workload]
    print(f"anynet bench --devices {n}: fit per epoch on JAX, {workload} ({'-'.join(map(str, w.sizes))}, batch "
          f"{w.batch}), {n} devices against 1, taking turns ({min(repeats, 5)} rounds); devices: "
          f"{', '.join(map(str, be.visible_devices()[:n]))}")
    times = devices_epoch(n, workload, repeats=min(repeats, 5))
    one, many, peer_one, peer_many = (statistics.median(v) for v in times.values())
    for name, v in times.items():
        print(f"  {name:<22} {statistics.median(v) * 1e3:8.1f} ms/epoch ({_range(v)})")
    on_cpu = all(getattr(d, "platform", "") == "cpu" for d in be.visible_devices()[:n])
    print(f"  anynet {n} devices / 1 device: {many / one:.2f}x"
          + (" (simulated CPU devices sharing the cores: the cost of the sharding, aim <= 1.2x)" if on_cpu else ""))
    print(f"  jax-jit {n} devices / 1 device: {peer_many / peer_one:.2f}x (JAX's own data parallelism, hand-written)")
    return 0


# --------------------------------------------------------------------- W4: a small convnet
#: W4 (issue 11): 1x28x28 -> conv 3x3 32 -> max pool 2 -> conv 3x3 64 -> max pool 2 -> dense 128 -> 10,
#: ReLU, no padding, batch 64, synthetic data. Not in the default run (``--workloads w4``).
#: Steps per timed turn: 20 (0.2-0.9 s a turn). OpenBLAS's worker threads keep spinning for about
#: 0.1 s after a multi-threaded product, slowing whatever runs next on the same cores: with 6 steps
#: a turn (50-250 ms) could lie wholly in that shadow (NumPy split over threads: 12.4 ms a step in
#: rounds without one-thread anynet-numpy, 14.7 with it); longer turns dilute it.
W4_BATCH, W4_STEPS = 64, 20
W4_SHAPES = [((32, 3, 3, 1), 32), ((64, 3, 3, 32), 64), ((128, 5 * 5 * 64), 128), ((10, 128), 10)]
W4_FLOPS = 3 * 2.0 * W4_BATCH * (26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 1600 * 128 + 128 * 10)  # ~x3: fwd+bwd


def _w4_params(seed: int = 0, dtype: Any = np.float32) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, math.sqrt(2 / math.prod(s[1:])), size=s).astype(dtype), np.zeros(n, dtype))
            for s, n in W4_SHAPES]


def _w4_data(steps: int, seed: int = 1, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = W4_BATCH * steps
    x = rng.normal(size=(n, 28, 28, 1)).astype(dtype)  # channels-last, as anynet's layers
    return x, rng.integers(0, 10, size=n), rng.permutation(n).reshape(steps, W4_BATCH)


def w4_anynet(backend: Any, params, x, t) -> tuple[Callable, Callable]:
    """anynet's CNN exactly as fit runs it: the engine's compiled epoch. ``backend``: a name,
    ``"name:device"`` (e.g. ``"torch:cuda"``) or a Backend."""
    L = layers
    stack = [L.Conv2D(1, 32, 3), L.ReLU(), L.MaxPool2D(2), L.Conv2D(32, 64, 3), L.ReLU(), L.MaxPool2D(2),
             L.Flatten(), L.Linear(1600, 128), L.ReLU(), L.Linear(128, 10)]
    if isinstance(backend, str):
        name, _, device = backend.partition(":")
        backend = get_backend(name, device or None)
    return _anynet_epoch(backend, stack, params, x, t)


def w4_torch(params, x, t, device: str = "cpu") -> tuple[Callable, Callable]:
    """PyTorch eager (``device`` "cpu" or "cuda"): NCHW conv2d/max_pool2d (its native layout), the
    same weights."""
    import torch  # a peer, written in its own library on purpose

    F = torch.nn.functional
    dev = torch.device(device)
    ws = [torch.tensor(np.ascontiguousarray(layers.to_torch_conv2d_weight(W)) if W.ndim == 4 else W, device=dev,
                       requires_grad=True) for W, _ in params]
    bs = [torch.tensor(b, device=dev, requires_grad=True) for _, b in params]
    X, T = torch.tensor(x.transpose(0, 3, 1, 2).copy(), device=dev), torch.tensor(t, device=dev)
    opt = torch.optim.SGD([*ws, *bs], lr=LR)

    def run(order: np.ndarray) -> float:
        for idx in torch.tensor(order, device=dev):
            h = F.max_pool2d(torch.relu(F.conv2d(X[idx], ws[0], bs[0])), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, ws[1], bs[1])), 2)
            h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # anynet's (H, W, C) flattening order
            h = F.linear(torch.relu(F.linear(h, ws[2], bs[2])), ws[3], bs[3])
            loss = F.cross_entropy(h, T[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    def get():
        host = [(W.detach().cpu().numpy(), b.detach().cpu().numpy()) for W, b in zip(ws, bs)]
        return [(layers.from_torch_conv2d_weight(W)["W"] if W.ndim == 4 else W, b) for W, b in host]

    return run, get


def w4_jax(params, x, t) -> tuple[Callable, Callable]:
    """A careful hand-written jax.jit step: lax.conv_general_dilated in anynet's own layouts
    (NHWC images, OHWI kernels: no transposes), lax.reduce_window max pooling, jax.grad,
    the batch gathered inside, parameters donated."""
    import jax  # a peer, written in its own library on purpose
    import jax.numpy as jnp
    from jax import lax

    P = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
    X, T = jnp.asarray(x), jnp.asarray(t, dtype=jnp.int32)
    dn = ("NHWC", "OHWI", "NHWC")

    def conv(h, W, b):
        return lax.conv_general_dilated(h, W, (1, 1), "VALID", dimension_numbers=dn) + b

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def loss_fn(P, xb, tb):
        h = pool(jax.nn.relu(conv(xb, *P[0])))
        h = pool(jax.nn.relu(conv(h, *P[1])))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ P[2][0].T + P[2][1]) @ P[3][0].T + P[3][1]
        logp = jax.nn.log_softmax(h, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, tb[:, None], axis=1))

    return _jax_sgd(loss_fn, P, X, T)


def _w4_anynet_maker(backend: Any, w: Any, params, x, t) -> tuple[Callable, Callable]:
    return w4_anynet(backend, params, x, t)  # prepare()'s make(w, params, x, t)


def run_w4(backends: Sequence[str] = ("numpy", "jax"), *, repeats: int = 5, steps: int = W4_STEPS,
           threads: int | str = "auto", out: Any = sys.stdout) -> list[Result]:
    """W4: anynet on NumPy vs PyTorch CPU eager, anynet on JAX vs a hand-written jax.jit step;
    every implementation first checked against anynet-numpy after the same 3 steps.

    ``threads``: the NumPy backend's ``threads=`` of the ``anynet-numpy-tN`` row (default
    ``"auto"``, every core, as PyTorch; ``anynet bench --threads N`` passes N; none for 1)."""
    x, t, order = _w4_data(steps)
    params = _w4_params()
    makers: list[tuple[str, Callable]] = []
    for spec in backends:  # "name" (its default device) or "name:device", e.g. "torch:cuda"
        name, _, device = spec.partition(":")
        try:
            be = get_backend(name, device or None)
        except Exception:  # not installed, no such device: `anynet info` says why
            continue
        label = f"anynet-{name}" + (":gpu" if _on_gpu(be.device) else "")
        makers.append((label, functools.partial(_w4_anynet_maker, be)))
        threaded = get_backend("numpy", threads=threads) if name == "numpy" and not device else None
        if threaded is not None and threaded.threads > 1:  # each step's batch split over every core
            makers.append((f"anynet-numpy-t{threaded.threads}", functools.partial(_w4_anynet_maker, threaded)))
    makers.append(("torch-eager", lambda w, p, x, t: w4_torch(p, x, t)))
    if _torch_cuda():
        makers.append(("torch-cuda", lambda w, p, x, t: w4_torch(p, x, t, device="cuda")))
    makers.append(("jax-jit", lambda w, p, x, t: w4_jax(p, x, t)))
    rows: dict[str, Result] = {}
    runs: dict[str, Callable] = {}
    ref_after = None
    for name, make in makers:
        try:
            runs[name], check, after = prepare(make, None, params, x, t, order, check_steps=3, ref_after=ref_after)
        except Exception as exc:  # a peer that cannot run here is reported, not hidden
            rows[name] = Result(name, "w4", note=f"failed: {type(exc).__name__}: {exc}"[:120])
            continue
        if ref_after is None:
            ref_after = after
        rows[name] = Result(name, "w4", check=check)
    for name, times in time_round_robin(runs, order, repeats).items():
        rows[name].times = times
    med = {name: r.median for name, r in rows.items() if r.times}
    print(f"\nw4: 28x28x1 -> conv 3x3 32 -> max pool 2 -> conv 3x3 64 -> max pool 2 -> dense 128 -> 10, "
          f"batch {W4_BATCH}, float32, SGD; {W4_FLOPS / 1e9:.2f} GFLOP per step (approx.), "
          f"{steps} steps x {repeats} rounds taking turns", file=out)
    first = next(iter(rows))
    for name, r in rows.items():
        if not r.times:
            print(f"  {name:<16}{r.note}", file=out)
            continue
        check = "ref" if r.check is None else f"{r.check:.1e}"
        print(f"  {name:<16}{r.median * 1e3:9.1f} ms/step  ({_range(r.times)} ms)  "
              f"{W4_FLOPS / r.median / 1e9:6.1f} GFLOP/s  check vs {first}: {check}", file=out)
    print("  check: max relative difference of each weight array from anynet-numpy's after the same 3 float32 "
          "steps; up to ~1e-3 on a conv bias (small values) is float32 rounding, amplified where a ReLU input "
          "sits near 0: the same runs in float64 agree to 3e-15 (BENCHMARKS.md)", file=out)
    threaded = [name for name in med if name.startswith("anynet-numpy-t")]
    for ours, peer, target in (("anynet-numpy", "torch-eager", 1.5), *((n, "torch-eager", 1.5) for n in threaded),
                               ("anynet-jax", "jax-jit", 1.0),
                               ("anynet-cupy:gpu", "torch-cuda", None), ("anynet-torch:gpu", "torch-cuda", None),
                               ("anynet-jax:gpu", "torch-cuda", None), ("anynet-jax:gpu", "jax-jit", None)):
        if ours in med and peer in med:
            goal = f" (target <= {target}x)" if target else " (GPU: no target, the measurement)"
            print(f"  {ours} / {peer}: {med[ours] / med[peer]:.2f}x{goal}", file=out)
    return list(rows.values())


def _torch_cuda() -> bool:
    """Whether PyTorch is installed with a CUDA device (the torch-cuda peer's condition)."""
    try:
        import torch  # a peer, written in its own library on purpose
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _range(times: list[float]) -> str:
    return f"{min(times) * 1e3:.2f}-{max(times) * 1e3:.2f}"


def _header(peak: float) -> str:
    import array_api_compat

    versions = [f"anynet {__version__}", f"numpy {np.__version__}", f"array-api-compat {array_api_compat.__version__}"]
    for mod in ("jax", "torch", "sklearn"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    import os

    cpu = platform.processor() or platform.machine()
    return (f"anynet bench, {time.strftime('%Y-%m-%d %H:%M')}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}\n{', '.join(versions)}\n"
            f"float32 matmul peak at the start (NumPy BLAS, 2048^3, best of 5): {peak:.1f} GFLOP/s")


def _table(w: Workload, rows: list[Result], peak: float) -> str:
    ref = next((r.median for r in rows if r.impl == "numpy-ref" and r.times), math.nan)
    lines = [f"\n{w.name}: {'-'.join(map(str, w.sizes))}, batch {w.batch} ({w.note}); "
             f"{w.flops / 1e6:.1f} MFLOP per step",
             f"{'implementation':<18}{'median/step':>12}{'spread':>18}{'samples/s':>12}{'GFLOP/s':>9}"
             f"{'% peak':>8}{'x numpy-ref':>13}{'check':>10}"]
    for r in rows:
        if not r.times:
            lines.append(f"{r.impl:<18}{r.note}")
            continue
        med = r.median
        spread = f"{min(r.times) * 1e6:.0f}-{max(r.times) * 1e6:.0f} us"
        gf = w.flops / med / 1e9
        check = "ref" if r.check is None else "-" if math.isnan(r.check) else f"{r.check:.1e}"
        # the peak is the CPU's: a GPU row's share of it would mean nothing
        pct = "-" if (r.impl.endswith(":gpu") or r.impl == "torch-cuda") else f"{100 * gf / peak:.0f}%"
        lines.append(f"{r.impl:<18}{med * 1e6:>9.0f} us{spread:>18}{w.batch / med:>12.0f}{gf:>9.1f}"
                     f"{pct:>8}{med / ref:>12.2f}x{check:>10}")
    lines.append("check: max relative difference of the weights from numpy-ref after the same 5 steps; "
                 "numpy-matmuls: the step's matrix products alone (a ceiling, it does not train)")
    return "\n".join(lines)


def _limit_threads(n: int) -> Any:
    """NumPy's BLAS and PyTorch to ``n`` threads: BLAS and OpenMP pools (threadpoolctl) and
    PyTorch's intra-op pool. JAX is not limited: XLA's CPU flags for it
    (``--xla_cpu_multi_thread_eigen=false``) were measured to change nothing in JAX 0.10 (a
    jitted 2048^3 matmul used 2 CPU-seconds per wall second either way). Returns the
    threadpoolctl limiter, which must stay alive."""
    try:
        import threadpoolctl  # optional: scikit-learn's dependency
    except ImportError:
        raise SystemExit("anynet bench --threads needs threadpoolctl: pip install threadpoolctl") from None
    limiter = threadpoolctl.threadpool_limits(n)
    try:
        import torch  # a peer: its own pool, and the torch backend's
    except ImportError:
        pass
    else:
        torch.set_num_threads(n)
    print(f"threads: {n} for NumPy's BLAS and PyTorch (--threads; JAX keeps its own)")
    return limiter


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="anynet bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="digits,mnist",
                   help=f"comma-separated, from {', '.join(WORKLOADS)}, w4 (wide is meant for GPUs; w4, the "
                        "convnet, is not in the default run)")
    p.add_argument("--backends", default="numpy,jax,torch,cupy",
                   help="anynet backends to time, each NAME or NAME:DEVICE (e.g. torch:cuda)")
    p.add_argument("--repeats", type=int, default=15,
                   help="timed rounds per implementation, taking turns (default: 15); the median is shown")
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats, no memory or sklearn run")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn comparison")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS run")
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="instead: fit per epoch on JAX over N devices against 1 (data-parallel; on a CPU, N "
                        "simulated devices)")
    p.add_argument("--inference", action="store_true",
                   help="instead: inference, onnxruntime vs predict on NumPy, W1 and W2 (needs the onnx extra: pip install '.[onnx]')")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="limit NumPy's BLAS and PyTorch to N threads: a like-for-like comparison of the NumPy "
                        "and PyTorch rows per core (JAX keeps its own threads; default: each library's own). "
                        "W4's anynet-numpy-tN row splits its steps over N threads (default: every core)")
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            p.error(f"--threads must be a positive int, got {args.threads}")
        limiter = _limit_threads(args.threads)  # noqa: F841 -- kept for the whole run
    if args.devices is not None:
        return _devices_main(args.devices, [s for s in args.workloads.split(",") if s][-1], args.repeats)
    if args.inference:  # its own module
        return bench_inference.main(repeats=args.repeats, quick=args.quick)
    wl = [s for s in args.workloads.split(",") if s]
    w4 = "w4" in wl  # the convnet workload: its own block (run_w4), after the MLP tables
    wl = [s for s in wl if s != "w4"]
    bad = [s for s in wl if s not in WORKLOADS]
    if bad:
        p.error(f"unknown workload(s) {bad}; choose from {list(WORKLOADS)}")
    kw: dict[str, Any] = {}
    if args.quick:
        kw = {"repeats": 2, "steps": {"digits": 40, "mnist": 4, "wide": 2}, "memory": False, "sklearn": False}
    else:
        kw = {"repeats": args.repeats, "memory": not args.no_memory, "sklearn": not args.no_sklearn}
    if wl:
        run(wl, [b for b in args.backends.split(",") if b], **kw)
    if w4:
        run_w4([b for b in args.backends.split(",") if b],
               repeats=2 if args.quick else args.repeats, steps=2 if args.quick else W4_STEPS,
               threads="auto" if args.threads is None else args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
