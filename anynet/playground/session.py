"""One page's training: its settings, data, model and the worker thread that trains it.

A :class:`Session` belongs to one open page. Everything that touches its model
runs in its own worker thread: the HTTP handlers only put commands on a queue
(and wait for the answer), and the worker publishes what the page shows as
events (``meta``, ``data``, ``frame``) into an outbox that the page's event
stream reads. So the model needs no lock, and a session ends in one place: the
worker leaves its loop when told to stop (the stream closed, the server shuts
down) or when no stream has been attached for ``idle_timeout`` seconds.

Training goes through anynet's public API only: an :class:`anynet.Sequential`
on the chosen backend, the pure step from ``model.train_step``,
``model.predict`` on a grid for the decision regions and on the points for the
train and test losses, and the layers' own ``forward``/``backward`` for the
chosen neuron: its map over the plane and the gradient that flows into it.

Host-side tool: NumPy draws the batches and turns results into plain numbers
for JSON (the arithmetic of training happens on the backend).
"""

from __future__ import annotations

import dataclasses
import math
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np  # host side: batch indices, grids, quantizing results for JSON

import anynet as an

# The one private import: a backend array to NumPy. Re-point it here when the
# engine's modules move (issue 10).
from anynet.backends import to_numpy

__all__ = ["ACTIONS", "DATASETS", "Session", "SessionEnded", "Settings", "SettingsError", "parse_settings"]

DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "spiral": an.datasets.make_spiral,
    "moons": an.datasets.make_moons,
    "circles": an.datasets.make_circles,
    "xor": an.datasets.make_xor,
    "blobs": an.datasets.make_blobs,
}
#: Datasets whose number of classes is a setting (the others have two).
MULTICLASS = ("spiral", "blobs")
ACTIVATIONS: dict[str, Callable[[], Any] | None] = {
    "tanh": an.layers.Tanh, "relu": an.layers.ReLU, "sigmoid": an.layers.Sigmoid,
    "leaky_relu": an.layers.LeakyReLU, "elu": an.layers.ELU, "gelu": an.layers.GELU,
    "softplus": an.layers.Softplus, "maxout": None,  # maxout is a layer of its own
}
OPTIMIZERS: dict[str, Callable[[float], Any]] = {
    "sgd": lambda lr: an.optim.SGD(lr=lr),
    "momentum": lambda lr: an.optim.SGD(lr=lr, momentum=0.9),
    "nesterov": lambda lr: an.optim.SGD(lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: an.optim.Adam(lr=lr),
    "rmsprop": lambda lr: an.optim.RMSprop(lr=lr),
}
#: What a command may ask of a session (``POST /api/sessions/<id>/<action>``).
ACTIONS = ("play", "pause", "step", "reset", "settings", "point", "neuron")

MAX_LAYERS, MAX_UNITS, MAX_POINTS, MAX_STEPS_PER_CALL, MAX_ADDED = 6, 32, 2000, 2000, 500
GRID = 48            # the decision regions: GRID x GRID cells
THUMB = 16           # a neuron's thumbnail: THUMB x THUMB cells (every third grid cell)
GRAD_BATCH = 512     # at most this many training points for the neuron gradients


class SessionEnded(RuntimeError):
    """The session's worker has ended (its page closed, it idled out, or the server stops)."""


class SettingsError(ValueError):
    """A setting or command argument out of range; the message names it (the server answers 400)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that defines a view; the page keeps the same keys in its URL.

    ``test`` is the fraction of the points held out for testing; ``classes`` counts
    only for the spiral and the blobs; ``seed`` draws the points, the split, the
    initial weights and the batches, so the same settings give the same run.
    """

    dataset: str = "spiral"
    classes: int = 3
    points: int = 300
    noise: float = 0.1
    test: float = 0.3
    seed: int = 0
    hidden: tuple[int, ...] = (16, 16)
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 0.01
    batch: int = 16
    l2: float = 0.0
    backend: str = "numpy"

    def as_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @property
    def n_classes(self) -> int:
        return self.classes if self.dataset in MULTICLASS else 2


_DATA_KEYS = ("dataset", "classes", "points", "noise", "test", "seed")
_MODEL_KEYS = ("hidden", "activation", "backend")
_TRAIN_KEYS = ("optimizer", "lr", "batch", "l2")


def _number(key: str, v: Any, lo: float, hi: float, *, integer: bool, lo_open: bool = False) -> Any:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if integer:
        ok = ok and float(v).is_integer()
    if ok:
        ok = (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        kind = "an integer" if integer else "a number"
        raise SettingsError(f"settings: {key!r} must be {kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                            f"got {v!r}")
    return int(v) if integer else float(v)


def _choice(key: str, v: Any, choices: Any) -> str:
    if v not in choices:
        raise SettingsError(f"settings: {key!r} must be one of {', '.join(choices)}; got {v!r}")
    return v


def parse_settings(raw: Mapping[str, Any], base: Settings, backends: Any) -> Settings:
    """``base`` with the entries of ``raw`` checked and applied.

    Raises :class:`SettingsError` naming the first bad key, its range and the value.

    Examples
    --------
    >>> from anynet.playground.session import Settings, parse_settings
    >>> parse_settings({"lr": 0.1, "hidden": [4]}, Settings(), ["numpy"]).hidden
    (4,)
    >>> parse_settings({"lr": -1}, Settings(), ["numpy"])
    Traceback (most recent call last):
    ...
    anynet.playground.session.SettingsError: settings: 'lr' must be a number in (0, 10], got -1
    """
    if not isinstance(raw, Mapping):
        raise SettingsError(f"settings must be a JSON object, got {type(raw).__name__}")
    fields = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise SettingsError(f"settings: unknown key(s) {', '.join(map(repr, unknown))}; "
                            f"known: {', '.join(sorted(fields))}")
    new: dict[str, Any] = {}
    for key, v in raw.items():
        if key == "dataset":
            new[key] = _choice(key, v, tuple(DATASETS))
        elif key == "activation":
            new[key] = _choice(key, v, tuple(ACTIVATIONS))
        elif key == "optimizer":
            new[key] = _choice(key, v, tuple(OPTIMIZERS))
        elif key == "backend":
            new[key] = _choice(key, v, tuple(backends))
        elif key == "classes":
            new[key] = _number(key, v, 2, 5, integer=True)
        elif key == "points":
            new[key] = _number(key, v, 10, MAX_POINTS, integer=True)
        elif key == "noise":
            new[key] = _number(key, v, 0, 1, integer=False)
        elif key == "test":
            new[key] = _number(key, v, 0.05, 0.9, integer=False)
        elif key == "seed":
            new[key] = _number(key, v, 0, 2**31 - 1, integer=True)
        elif key == "lr":
            new[key] = _number(key, v, 0, 10, integer=False, lo_open=True)
        elif key == "batch":
            new[key] = _number(key, v, 1, MAX_POINTS, integer=True)
        elif key == "l2":
            new[key] = _number(key, v, 0, 1, integer=False)
        elif key == "hidden":
            if not isinstance(v, list) or len(v) > MAX_LAYERS:
                raise SettingsError(f"settings: 'hidden' must be a list of at most {MAX_LAYERS} layer "
                                    f"sizes, got {v!r}")
            new[key] = tuple(_number("hidden", s, 1, MAX_UNITS, integer=True) for s in v)
    return dataclasses.replace(base, **new)


def _finite(v: float) -> float | None:
    """JSON has no NaN: a diverged loss travels as null."""
    return round(float(v), 6) if math.isfinite(v) else None


def _build_layers(s: Settings) -> tuple[list[Any], list[int]]:
    """The MLP's layers and, per hidden layer, the index of the layer whose output
    is that layer's activations ``a`` (the activation function, or the Maxout)."""
    layers: list[Any] = []
    outputs: list[int] = []
    width = 2
    init = "glorot_uniform" if s.activation in ("tanh", "sigmoid") else "he_normal"
    for h in s.hidden:
        if s.activation == "maxout":
            layers.append(an.layers.Maxout(width, h, 2))
        else:
            layers += [an.layers.Linear(width, h, weight_init=init), ACTIVATIONS[s.activation]()]
        outputs.append(len(layers) - 1)
        width = h
    layers.append(an.layers.Linear(width, s.n_classes, weight_init="glorot_uniform"))
    return layers, outputs


def _quantize(a: np.ndarray) -> tuple[list[int], float]:
    """Values as integers in [-127, 127] and the scale: ``a ~ q * scale / 127``."""
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale == 0.0:
        return [0] * a.size, 0.0
    return np.rint(a * (127.0 / scale)).astype(np.int64).ravel().tolist(), scale


class Session:
    """One page's model and the thread that trains it.

    Parameters
    ----------
    settings : Settings
    backends : sequence of str
        The backends this server lets pages choose.
    idle_timeout : float
        Seconds without an attached event stream after which the worker ends.
    frame_interval : float
        Seconds between two frames while training runs.
    on_end : callable, optional
        Called with the session once its worker has ended.

    Examples
    --------
    >>> from anynet.playground.session import Session, Settings
    >>> s = Session(Settings(dataset="moons", hidden=(8,)), backends=["numpy"])
    >>> s.start()
    >>> s.command("step", {"n": 5})["step"]
    5
    >>> s.stop(); s.join(10); s.alive
    False
    """

    def __init__(self, settings: Settings, *, backends: Any, idle_timeout: float = 60.0,
                 frame_interval: float = 0.1, on_end: Callable[[Session], None] | None = None) -> None:
        self.id = secrets.token_hex(8)
        self.settings = settings
        self.backends = tuple(backends)
        self.idle_timeout = idle_timeout
        self.frame_interval = frame_interval
        self._on_end = on_end
        self._commands: queue.Queue[tuple[str, dict[str, Any], Future]] = queue.Queue()
        self._stop = threading.Event()
        self._outbox: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cond = threading.Condition()
        self._streams = 0
        self._last_stream = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"anynet-playground-{self.id}", daemon=True)
        self.running = False
        self.neuron = (0, 0)
        self._build(data=True, model=True)  # in the caller: a bad backend fails the request

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to end (it finishes the step it is in)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def attach_stream(self) -> bool:
        """Mark an event stream as attached; False if one already is (one stream per session)."""
        with self._cond:
            if self._streams:
                return False
            self._streams += 1
            return True

    def detach_stream(self) -> None:
        """The stream closed: the page went away, so the session ends."""
        with self._cond:
            self._streams -= 1
            self._last_stream = time.monotonic()
        self.stop()

    def next_events(self, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        """Wait up to ``timeout`` s for events to send; ``[]`` on timeout or when stopping."""
        with self._cond:
            if not self._outbox and not self._stop.is_set():
                self._cond.wait(timeout)
            events = list(self._outbox.items())
            self._outbox.clear()
        return events

    def command(self, action: str, args: Mapping[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """Run ``action`` in the worker and return its answer (a :class:`SettingsError`
        for bad arguments, :class:`SessionEnded` when the session has ended,
        ``TimeoutError`` after ``timeout`` seconds)."""
        if action not in ACTIONS:
            raise SettingsError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
        if not isinstance(args, Mapping):
            raise SettingsError(f"{action}: the request body must be a JSON object, got {type(args).__name__}")
        if self._stop.is_set() or not self.alive:
            raise SessionEnded(f"session {self.id} has ended")
        fut: Future = Future()
        self._commands.put((action, dict(args), fut))
        end = time.monotonic() + timeout
        while True:
            try:
                return fut.result(0.25)
            except FutureTimeout:
                if not self.alive and not fut.done():  # it ended after we looked
                    raise SessionEnded(f"session {self.id} has ended") from None
                if time.monotonic() > end:
                    raise TimeoutError(f"session {self.id}: {action} did not finish in {timeout:g} s") from None

    # ------------------------------------------------------------ building
    def _build(self, *, data: bool, model: bool) -> None:
        s = self.settings
        if data:
            kw: dict[str, Any] = {"noise": s.noise, "seed": s.seed}
            if s.dataset in MULTICLASS:
                kw["n_classes"] = s.classes
            x, t = DATASETS[s.dataset](s.points, **kw)
            tr, te = an.datasets.stratified_split(t, test_size=s.test, seed=s.seed)
            self.x_train, self.t_train = x[tr], t[tr]
            self.x_test, self.t_test = x[te], t[te]
            # a square view around the points, in steps of 0.5
            self.extent = math.ceil(float(np.max(np.abs(x))) * 1.1 * 2.0) / 2.0
            g = (np.arange(GRID) + 0.5) / GRID * 2.0 * self.extent - self.extent
            gx, gy = np.meshgrid(g, g[::-1])  # row 0 at the top of the picture
            self.grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
            self._rng = np.random.default_rng(s.seed)
            self._order: np.ndarray = np.empty(0, dtype=np.int64)
            self._added = 0
            self._publish_data()
        if model or data:
            layers, self.hidden_outputs = _build_layers(s)
            self.model = an.Sequential(layers, seed=s.seed, backend=s.backend)
            self.step_count = 0
            self.opt_state = None
            if not (0 <= self.neuron[0] < len(s.hidden) and 0 <= self.neuron[1] < s.hidden[self.neuron[0]]):
                self.neuron = (0, 0)
            self._publish({"meta": self._meta()})
        self._build_step(new_state=self.opt_state is None)

    def _build_step(self, *, new_state: bool) -> None:
        s = self.settings
        self.optimizer = OPTIMIZERS[s.optimizer](s.lr)
        self._step = self.model.train_step(loss=an.losses.SoftmaxCrossEntropy(), optimizer=self.optimizer,
                                           regularizer=an.losses.L2(s.l2) if s.l2 else None, seed=s.seed)
        if new_state:
            self.opt_state = self.optimizer.init(self.model.params)
        self._x_dev = self.model.backend.asarray(self.x_train, dtype=self.model.dtype)
        self._t_dev = self.model.backend.asarray(self.t_train)

    def _apply_settings(self, new: Settings) -> None:
        old, self.settings = self.settings, new
        changed = {k for k in dataclasses.asdict(new) if getattr(old, k) != getattr(new, k)}
        data = bool(changed & set(_DATA_KEYS))
        model = bool(changed & set(_MODEL_KEYS))
        if data or model:
            try:
                self._build(data=data, model=model)
            except Exception:  # keep the session whole: back to the settings that worked
                self.settings = old
                self._build(data=data, model=True)
                raise
        elif changed & set(_TRAIN_KEYS):
            # the same weights train on with the new optimizer, rate, batch or L2;
            # the optimizer's state starts again when the optimizer changes
            self._build_step(new_state="optimizer" in changed)
            self._publish({"meta": self._meta()})

    # ------------------------------------------------------------ training
    def _batch_indices(self) -> np.ndarray:
        n, b = len(self.t_train), self.settings.batch
        if b >= n:
            return np.arange(n)
        if len(self._order) < b:  # a new epoch: a fresh permutation, its tail dropped
            self._order = self._rng.permutation(n)
        idx, self._order = self._order[:b], self._order[b:]
        return idx

    def _train(self, n: int) -> None:
        be = self.model.backend
        params, state = self.model.params, self.opt_state
        for _ in range(n):
            idx = be.asarray(self._batch_indices())
            x = be.xp.take(self._x_dev, idx, axis=0)
            t = be.xp.take(self._t_dev, idx, axis=0)
            params, state, _ = self._step(params, state, x, t)
        self.model.params, self.opt_state = params, state
        self.step_count += n

    # ------------------------------------------------------------ what the page sees
    def _meta(self) -> dict[str, Any]:
        s = self.settings
        return {"id": self.id, "settings": s.as_json(), "backends": list(self.backends),
                "classes": s.n_classes, "layers": list(s.hidden), "neuron": list(self.neuron),
                "parameters": self.model.count_params(), "device": str(self.model.backend.device)}

    def _publish_data(self) -> None:
        def pts(x: np.ndarray, t: np.ndarray) -> list[list[float]]:
            return [[round(float(a), 4), round(float(b), 4), int(c)] for (a, b), c in zip(x, t)]

        self._publish({"data": {"extent": self.extent, "train": pts(self.x_train, self.t_train),
                                "test": pts(self.x_test, self.t_test)}})

    def _publish(self, events: dict[str, dict[str, Any]]) -> None:
        """Queue events for the stream; a newer event of a kind replaces an unsent older one."""
        with self._cond:
            for kind, payload in events.items():
                self._outbox.pop(kind, None)
                self._outbox[kind] = payload
            self._cond.notify_all()

    def neuron_view(self) -> dict[str, Any]:
        """Per hidden unit: its map over the grid and the gradients that flow into it.

        ``grad_a[j]``: mean over (up to GRAD_BATCH) training points of
        ``|d loss_n / d a_j|``, the gradient arriving at unit j's output from
        the layers above; ``grad_z[j]``: the same after the activation's local
        gradient, ``|d loss_n / d z_j|`` for ``a_j = f(z_j)`` (``None`` for Maxout,
        whose pieces have no single ``z``). ``loss_n`` is one sample's loss.
        """
        model, xp = self.model, self.model.backend.xp
        params, be = model.params, model.backend
        # forward on the grid: every hidden layer's activations, one pass through the layers
        h = be.asarray(self.grid, dtype=model.dtype)
        maps = []
        for i, layer in enumerate(model.layers):
            h, _ = layer.forward(params[i], h, training=False, xp=xp)
            if i in self.hidden_outputs:
                maps.append(to_numpy(h))
        # forward and backward on training points: the gradient arriving at each unit
        n = min(len(self.t_train), GRAD_BATCH)
        h = be.asarray(self.x_train[:n], dtype=model.dtype)
        caches = []
        for i, layer in enumerate(model.layers):
            h, cache = layer.forward(params[i], h, training=True, xp=xp)
            caches.append(cache)
        _, dy = an.losses.SoftmaxCrossEntropy().value_and_grad(h, be.asarray(self.t_train[:n]), xp=xp)
        grad_a: dict[int, np.ndarray] = {}
        grad_z: dict[int, np.ndarray] = {}
        for i in range(len(model.layers) - 1, 0, -1):
            dy, _ = model.layers[i].backward(params[i], caches[i], dy, need_dx=True, xp=xp)
            # dy is now d loss / d (output of layer i - 1); the mean loss scaled back to one sample's
            per_sample = np.abs(to_numpy(dy).astype(np.float64)) * n
            if i - 1 in self.hidden_outputs:
                grad_a[i - 1] = per_sample.mean(axis=0)
            if i in self.hidden_outputs and self.settings.activation != "maxout":
                grad_z[i] = per_sample.mean(axis=0)
        units = []
        for k, out in enumerate(self.hidden_outputs):
            m = maps[k].reshape(GRID, GRID, -1)[1::3, 1::3, :]  # every third cell: THUMB x THUMB
            thumbs = [_quantize(m[:, :, j]) for j in range(m.shape[2])]
            units.append({"maps": [q for q, _ in thumbs], "scales": [round(sc, 6) for _, sc in thumbs],
                          "grad_a": [_finite(v) for v in grad_a[out]],
                          "grad_z": None if out not in grad_z else [_finite(v) for v in grad_z[out]]})
        layer, unit = self.neuron
        q, scale = _quantize(maps[layer][:, unit])
        return {"units": units, "neuron": {"layer": layer, "unit": unit, "map": q, "scale": round(scale, 6)}}

    def _frame(self, sps: float | None) -> dict[str, Any]:
        # one forward pass for the training points, the test points and the grid (on JAX:
        # one compiled program per model instead of three); the losses by anynet's own
        # SoftmaxCrossEntropy on the host copy of the logits, in float64
        n_tr, n_te = len(self.t_train), len(self.t_test)
        y = to_numpy(self.model.predict(np.concatenate([self.x_train, self.x_test, self.grid])))
        y = np.asarray(y, dtype=np.float64)
        loss = an.losses.SoftmaxCrossEntropy()
        stats = {}
        for name, ys, t in (("train", y[:n_tr], self.t_train), ("test", y[n_tr:n_tr + n_te], self.t_test)):
            stats[f"{name}_loss"] = _finite(float(loss.value_and_grad(ys, t)[0]))
            stats[f"{name}_acc"] = _finite(float(np.mean(np.argmax(ys, axis=1) == t)))
        p = y[n_tr + n_te:]
        p = np.exp(p - p.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        probs = np.rint(np.nan_to_num(p, nan=0.0) * 255).astype(np.int64).ravel().tolist()
        frame = {"step": self.step_count, "running": self.running,
                 "sps": None if sps is None else round(sps, 1),
                 **stats,
                 "n_train": len(self.t_train), "n_test": len(self.t_test),
                 "grid": {"n": GRID, "k": self.settings.n_classes, "p": probs}}
        if self.settings.hidden:
            frame.update(self.neuron_view())
        return frame

    def _summary(self, frame: dict[str, Any]) -> dict[str, Any]:
        keys = ("step", "running", "train_loss", "test_loss", "train_acc", "test_acc", "n_train", "n_test")
        return {k: frame[k] for k in keys}

    # ------------------------------------------------------------ commands
    def _do(self, action: str, args: dict[str, Any]) -> None:
        """Apply one command (in the worker thread)."""
        def only(*keys: str) -> None:
            extra = sorted(set(args) - set(keys))
            if extra:
                raise SettingsError(f"{action}: unknown argument(s) {', '.join(map(repr, extra))}"
                                    + (f"; expected {', '.join(keys)}" if keys else "; it takes none"))

        if action in ("play", "pause"):
            only()
            self.running = action == "play"
        elif action == "step":
            only("n")
            n = _number("n", args.get("n", 1), 1, MAX_STEPS_PER_CALL, integer=True)
            self.running = False
            self._train(n)
        elif action == "reset":
            only()
            self.running = False
            self._build(data=False, model=True)
        elif action == "settings":
            self._apply_settings(parse_settings(args, self.settings, self.backends))
        elif action == "point":
            only("x", "y", "label")
            lim = 2.0 * self.extent
            x = _number("x", args.get("x"), -lim, lim, integer=False)
            y = _number("y", args.get("y"), -lim, lim, integer=False)
            label = _number("label", args.get("label"), 0, self.settings.n_classes - 1, integer=True)
            if self._added >= MAX_ADDED:
                raise SettingsError(f"point: at most {MAX_ADDED} points may be added; reset the data")
            self.x_train = np.concatenate([self.x_train, np.asarray([[x, y]], dtype=np.float32)])
            self.t_train = np.concatenate([self.t_train, np.asarray([label], dtype=self.t_train.dtype)])
            self._added += 1
            self._order = np.empty(0, dtype=np.int64)  # the next epoch includes it
            self._build_step(new_state=False)
            self._publish_data()
        elif action == "neuron":
            only("layer", "unit")
            if not self.settings.hidden:
                raise SettingsError("neuron: this network has no hidden layer")
            layer = _number("layer", args.get("layer"), 0, len(self.settings.hidden) - 1, integer=True)
            unit = _number("unit", args.get("unit"), 0, self.settings.hidden[layer] - 1, integer=True)
            self.neuron = (layer, unit)

    def _run(self) -> None:
        # a diverging network is part of the demo (the page says so): no NumPy overflow warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._loop()

    def _loop(self) -> None:
        last_frame = time.monotonic()
        steps_at_frame, sps = self.step_count, None
        try:
            self._publish({"frame": self._frame(None)})
            while not self._stop.is_set():
                try:
                    action, args, fut = self._commands.get(timeout=0.0 if self.running else 0.1)
                except queue.Empty:
                    action = None
                if action is not None:
                    try:
                        self._do(action, args)
                        frame = self._frame(None)
                        self._publish({"frame": frame})
                        fut.set_result(self._summary(frame))
                    except Exception as exc:  # answered to the request that asked
                        fut.set_exception(exc)
                    steps_at_frame, last_frame = self.step_count, time.monotonic()
                    continue
                now = time.monotonic()
                if self.running:
                    # train in small chunks, so that a command waits at most one chunk
                    self._train(10)
                    now = time.monotonic()
                    if now - last_frame >= self.frame_interval:
                        if self.step_count >= steps_at_frame:
                            sps = (self.step_count - steps_at_frame) / (now - last_frame)
                        self._publish({"frame": self._frame(sps)})
                        steps_at_frame, last_frame = self.step_count, time.monotonic()
                with self._cond:
                    idle = not self._streams and now - self._last_stream > self.idle_timeout
                if idle:
                    break
        finally:
            self._stop.set()
            while True:  # nobody waits forever on a command the worker will not run
                try:
                    _, _, fut = self._commands.get_nowait()
                except queue.Empty:
                    break
                fut.set_exception(SessionEnded(f"session {self.id} has ended"))
            with self._cond:
                self._cond.notify_all()
            if self._on_end is not None:
                self._on_end(self)
