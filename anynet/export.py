"""ONNX export: record a model's inference pass with ndonnx and write it as an ONNX file.

Every layer's ``forward`` is written against the Array API standard, and ndonnx
implements that standard by recording an ONNX graph instead of computing. So the
export calls each layer's own ``forward(params, x, training=False, xp=ndonnx)``
on a symbolic input ``x`` of shape ``("N", *input_shape)``: the graph is the
very code that ``predict`` runs, with the parameters as constants, and nothing
is re-implemented per layer. A layer whose ``forward`` uses something ndonnx
cannot record gets an :class:`ExportError` naming the layer and the operation.

ndonnx wraps every matrix product in an ``If`` node that returns zeros when an
operand is empty (about 170 nodes of "then" branch per product, never taken by
a model whose layers all have at least one input feature). :func:`export_onnx`
replaces each such guard by its plain ``MatMul`` when the contracted size is a
known positive number (then both branches give the same result, the empty
product included) and drops the nodes that nothing uses any more.

A host-side tool, like io and cli: it uses NumPy for the constants and
onnx/ndonnx for the graph. Install them from anynet's source tree with
``pip install '.[onnx]'`` (the versions it is tested with).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import tempfile
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np  # host-side: the parameters become constants of the graph

from .backends import to_numpy
from .layers import Sigmoid, Softmax  # the library's own stable formulas, recorded as they are

__all__ = ["ExportError", "ExportInfo", "export_onnx", "remove_matmul_guards"]

OUTPUTS = ("logits", "probabilities", "labels")
INPUT_NAME = "x"


class ExportError(RuntimeError):
    """The model cannot be recorded as an ONNX graph (the message says which layer and why).

    Examples
    --------
    >>> import anynet as an
    >>> issubclass(an.export.ExportError, RuntimeError)
    True
    """


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """What :func:`export_onnx` wrote.

    Attributes
    ----------
    path : str
        The ONNX file.
    inputs, outputs : tuple of str
        Names of the graph's inputs (``("x",)``) and outputs (``"logits"``,
        ``"probabilities"``, ``"labels"``), in order.
    nodes : int
        Nodes in the graph, those inside ``If`` branches included.
    top_level_nodes : int
        Nodes of the main graph alone.
    guards_removed : int
        Zero-size ``If`` guards around matrix products replaced by their ``MatMul``.
    nodes_removed : int
        Nodes (branches included) that the guard removal took out.
    if_nodes_left : int
        ``If`` nodes still in the graph (ndonnx also guards ``max`` on empty arrays).
    opset : int
        The ``ai.onnx`` opset of the file.

    Examples
    --------
    >>> import anynet as an
    >>> info = an.export.ExportInfo("m.onnx", ("x",), ("logits",), 20, 20, 2, 340, 0, 21)
    >>> info.outputs, info.guards_removed
    (('logits',), 2)
    """

    path: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: int
    top_level_nodes: int
    guards_removed: int
    nodes_removed: int
    if_nodes_left: int
    opset: int

    def __str__(self) -> str:
        return (f"{self.path}: inputs {', '.join(self.inputs)} -> outputs {', '.join(self.outputs)}; "
                f"{self.nodes} nodes ({self.top_level_nodes} in the main graph), opset {self.opset}; "
                f"{self.guards_removed} zero-size matmul guards removed ({self.nodes_removed} nodes), "
                f"{self.if_nodes_left} If nodes left")


def _libs() -> tuple[Any, Any]:
    try:
        import ndonnx
        import onnx
    except ImportError as exc:
        raise ImportError(f"export_onnx needs ndonnx and onnx ({exc}); install them with "
                          "pip install 'ndonnx~=0.23.0' 'onnx~=1.23.2' 'onnxruntime~=1.32.0' (from anynet's source "
                          "tree: pip install '.[onnx]')") from None
    return ndonnx, onnx


def _host(a: Any) -> np.ndarray:
    # the one private import of this module, in one place: arrays of any backend to NumPy

    return np.asarray(to_numpy(a))


def _constants(ndx: Any, tree: Any, dtype: Any) -> Any:
    """A dict (or list/tuple) of arrays as ndonnx constants: floats in the model's dtype."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {k: _constants(ndx, v, dtype) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_constants(ndx, v, dtype) for v in tree)
    a = _host(tree)
    return ndx.asarray(a.astype(dtype) if a.dtype.kind == "f" else a)


def _failing_line(exc: BaseException, layer: Any) -> str:
    """``file:line: code`` of the last frame of the layer's own source in the traceback."""
    try:
        src = inspect.getsourcefile(type(layer))
    except TypeError:
        src = None
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if src and os.path.realpath(f.filename) == os.path.realpath(src)]
    frame = own[-1] if own else (frames[-1] if frames else None)
    if frame is None:
        return "?"
    return f"{Path(frame.filename).name}:{frame.lineno}: {(frame.line or '').strip()}"


def _trace_layer(ndx: Any, i: int, layer: Any, params: Any, state: Any, h: Any) -> Any:
    where = f"export_onnx: layer {i} ({type(layer).__name__}: {layer!r})"
    stateful = getattr(layer, "stateful", False)
    if stateful and state is None:
        raise ExportError(f"{where} is stateful but the model has no state for it (model.state[{i}])")
    try:
        if stateful:  # non-trained state (BatchNorm's running statistics): forward returns (y, cache, new_state)
            y = layer.forward(params, h, training=False, xp=ndx, state=state)[0]
        else:
            y = layer.forward(params, h, training=False, xp=ndx)[0]
    except Exception as exc:
        raise ExportError(
            f"{where}: its forward uses an operation that ndonnx cannot record as ONNX: "
            f"{type(exc).__name__}: {exc} (at {_failing_line(exc, layer)})"
        ) from exc
    if not isinstance(y, ndx.Array):
        raise ExportError(f"{where}: forward returned a {type(y).__module__}.{type(y).__name__}, not an "
                          "ndonnx array: it computes with a library other than the namespace xp it is given")
    return y


def _heads(ndx: Any, y: Any, outputs: Sequence[str], loss: Any, n_out: int | None) -> dict[str, Any]:
    """The requested outputs from the model's output ``y``."""

    name = None if loss is None else type(loss).__name__
    if name is None:
        name = "SoftmaxCrossEntropy" if (n_out or 0) > 1 else None
    out = {"logits": y}
    want = set(outputs) - {"logits"}
    if not want:
        return out
    if name in ("SoftmaxCrossEntropy", "MulticlassHinge"):
        probs = lambda: Softmax().forward({}, y, xp=ndx)[0]  # noqa: E731
        labels = lambda: ndx.argmax(y, axis=-1)  # noqa: E731
    elif name == "BinaryCrossEntropy":
        logits = getattr(loss, "from_logits", True)
        probs = (lambda: Sigmoid().forward({}, y, xp=ndx)[0]) if logits else (lambda: y)
        labels = lambda: ndx.astype(y > (0.0 if logits else 0.5), ndx.int64)  # noqa: E731
    elif name == "Hinge":
        probs = None
        labels = lambda: ndx.where(y > 0, ndx.asarray(1, dtype=ndx.int64),  # noqa: E731
                                   ndx.asarray(-1, dtype=ndx.int64))
    else:
        why = ("a model with one output and no loss given" if name is None
               else f"loss {name}, which has no classes")
        raise ValueError(f"export_onnx: outputs {sorted(want)} need a classification loss, but this is "
                         f"{why}; pass loss= (SoftmaxCrossEntropy, MulticlassHinge, BinaryCrossEntropy, "
                         "Hinge) or outputs=('logits',)")
    if "probabilities" in want:
        if probs is None:
            raise ValueError(f"export_onnx: loss {name} gives labels but no probabilities; "
                             "drop 'probabilities' from outputs")
        out["probabilities"] = probs()
    if "labels" in want:
        out["labels"] = labels()
    return {k: out[k] for k in outputs}


# ------------------------------------------------------------------ graph pass
def _count_nodes(graph: Any) -> int:
    n = 0
    for node in graph.node:
        n += 1
        for attr in node.attribute:
            if attr.HasField("g"):
                n += _count_nodes(attr.g)
            for g in attr.graphs:
                n += _count_nodes(g)
    return n


def _used_names(node: Any) -> set[str]:
    """Every name a node reads, names read from the outer scope by its subgraphs included."""
    names = set(node.input)
    for attr in node.attribute:
        for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            for sub in g.node:
                names |= _used_names(sub)
    return names


def _static_dims(model: Any) -> dict[str, list[int | None]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    dims = {}
    for vi in [*g.value_info, *g.input, *g.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for init in g.initializer:
        dims[init.name] = list(init.dims)
    return dims


def remove_matmul_guards(model: Any) -> tuple[Any, int, int]:
    """Replace ndonnx's zero-size guards around matrix products by the products themselves.

    ndonnx records ``a @ b`` as ``If(size(a) * size(b) == 0, then=zeros, else=MatMul(a, b))``.
    When the contracted size ``K`` (the last axis of ``a``) is known and positive,
    ``MatMul`` already gives the right result, empty outputs included, so the
    guard is replaced by the ``MatMul``; nodes nothing reads any more are dropped.
    A guard whose ``K`` is unknown or zero is kept.

    Returns ``(model, guards_removed, nodes_removed)``; the input model is not changed.

    Examples
    --------
    >>> import numpy as np, ndonnx as ndx, anynet as an
    >>> x = ndx.argument(shape=("N", 3), dtype=ndx.float32)
    >>> y = x @ ndx.asarray(np.ones((3, 2), np.float32))
    >>> model, guards, removed = an.export.remove_matmul_guards(ndx.build({"x": x}, {"y": y}))
    >>> guards, removed > 100, [n.op_type for n in model.graph.node]
    (1, True, ['Constant', 'MatMul', 'Identity', 'Identity'])
    """
    import onnx

    new = onnx.ModelProto()
    new.CopyFrom(model)
    g = new.graph
    dims = _static_dims(new)
    before = _count_nodes(g)
    guards = 0
    for pos, node in enumerate(list(g.node)):
        if node.op_type != "If" or len(node.output) != 1:
            continue
        branches = {a.name: a.g for a in node.attribute if a.HasField("g")}
        other = branches.get("else_branch")
        if other is None or [n.op_type for n in other.node] != ["MatMul", "Identity"]:
            continue
        mm, ident = other.node
        if list(ident.input) != [mm.output[0]] or [o.name for o in other.output] != [ident.output[0]]:
            continue
        a, b = mm.input
        k = (dims.get(a) or [None])[-1]
        if k is None and dims.get(b):
            k = dims[b][0] if len(dims[b]) == 1 else dims[b][-2]
        if not (isinstance(k, int) and k > 0):
            continue
        g.node[pos].CopyFrom(onnx.helper.make_node("MatMul", [a, b], list(node.output),
                                                   name=node.name + "_unguarded"))
        guards += 1
    # drop what nothing reads any more, from the outputs back
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed |= _used_names(node)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    used_inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(used_inits)
    return new, guards, before - _count_nodes(g)


# ------------------------------------------------------------------ export
def _standardization(standardize: Any, input_shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
    try:
        mean, std = standardize
    except (TypeError, ValueError):
        raise ValueError("export_onnx: standardize must be a pair (mean, std) or None, "
                         f"got {type(standardize).__name__}") from None
    out = []
    for name, v in (("mean", mean), ("std", std)):
        if v is None:
            raise ValueError(f"export_onnx: standardize {name} is None; give numbers or standardize=None")
        a = np.asarray(v, dtype=np.float64)
        try:
            a = np.broadcast_to(a, input_shape)
        except ValueError:
            raise ValueError(f"export_onnx: standardize {name} of shape {a.shape} does not fit the "
                             f"model's per-sample input shape {input_shape}") from None
        if not np.all(np.isfinite(a)) or (name == "std" and np.any(a == 0)):
            raise ValueError(f"export_onnx: standardize {name} must be finite"
                             + (" and non-zero" if name == "std" else ""))
        out.append(a.astype(dtype))
    return out[0], out[1]


def _write_atomically(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_onnx(model: Any, path: str | os.PathLike, /, *, outputs: Iterable[str] = ("logits",),
                loss: Any = None, standardize: tuple[Any, Any] | None = None,
                opset: int | None = None, remove_guards: bool = True) -> ExportInfo:
    """Write the model's inference pass (dropout off) to an ONNX file.

    Each layer's own ``forward`` is recorded by ndonnx on a symbolic batch, so
    one file takes any batch size, and onnxruntime (or any ONNX runtime) gives
    what ``model.predict`` gives without anynet installed.

    Parameters
    ----------
    model : Sequential
        On any backend; its parameters become constants of the graph in its dtype.
    path : str or PathLike
        The ``.onnx`` file, written atomically (never half-written).
    outputs : iterable of {"logits", "probabilities", "labels"}
        Graph outputs, in this order. ``"logits"`` is the model's output itself.
        ``"probabilities"``: softmax for ``SoftmaxCrossEntropy``/``MulticlassHinge``,
        sigmoid for ``BinaryCrossEntropy`` from logits (its output as it is when
        ``from_logits=False``). ``"labels"`` (int64): the argmax for the multiclass
        losses, 0/1 for ``BinaryCrossEntropy``, -1/+1 for ``Hinge``.
    loss : Loss, optional
        The loss the model was trained with, to know how to turn outputs into
        probabilities and labels. Default: softmax/argmax when the model has more
        than one output; none (an error if asked for) when it has one.
    standardize : (mean, std), optional
        Per-feature statistics of the training inputs (as a ``anynet train --save``
        checkpoint carries): the graph computes ``(x - mean) / std`` first, so it
        takes raw inputs.
    opset : int, optional
        Convert the graph to this ``ai.onnx`` opset (default: the one ndonnx writes).
    remove_guards : bool
        Replace ndonnx's zero-size guards around matrix products by the plain
        ``MatMul`` (see :func:`remove_matmul_guards`); default True.

    Returns
    -------
    ExportInfo
        Input/output names, node counts, the guards removed, the opset.

    Raises
    ------
    ExportError
        A layer's forward uses an operation ndonnx cannot record (the message
        names the layer's index, class and the failing operation).

    Shapes
    ------
    The graph's input ``x``: ``(N, *input_shape)`` in the model's dtype, N symbolic;
    ``logits``/``probabilities``: ``(N, *output_shape)``; ``labels``: (N,) for the
    multiclass losses, ``(N, *output_shape)`` for the binary ones.

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort, anynet as an, tempfile, os
    >>> model = an.Sequential([an.layers.Linear(4, 8), an.layers.ReLU(),
    ...                        an.layers.Linear(8, 3)], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.onnx")
    >>> info = an.export.export_onnx(model, path, outputs=("logits", "labels"))
    >>> info.inputs, info.outputs, info.guards_removed, info.if_nodes_left
    (('x',), ('logits', 'labels'), 2, 0)
    >>> x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    >>> logits, labels = ort.InferenceSession(path).run(None, {"x": x})
    >>> bool(np.allclose(logits, model.predict(x), rtol=1e-5)), labels.shape
    (True, (5,))
    """
    ndx, onnx = _libs()
    outputs = tuple(outputs) if not isinstance(outputs, str) else (outputs,)
    bad = [o for o in outputs if o not in OUTPUTS]
    if not outputs or bad or len(set(outputs)) != len(outputs):
        raise ValueError(f"export_onnx: outputs must be distinct names from {OUTPUTS}, got {outputs!r}")
    layers = getattr(model, "layers", None)
    params = getattr(model, "params", None)
    if layers is None or params is None:
        raise TypeError(f"export_onnx: model must be an anynet Sequential, got {type(model).__name__}")
    input_shape = getattr(model, "input_shape", None)
    if input_shape is None:
        raise ValueError("export_onnx: the model's input shape is unknown (its first layer is not sized); "
                         "build it with Sequential(..., input_shape=(...))")
    input_shape = tuple(int(s) for s in input_shape)
    np_dtype = np.dtype(model.dtype)
    dtype = ndx.float64 if np_dtype == np.float64 else ndx.float32

    x = ndx.argument(shape=("N", *input_shape), dtype=dtype)
    h = x
    if standardize is not None:
        mean, std = _standardization(standardize, input_shape, np_dtype)
        h = (h - ndx.asarray(mean)) / ndx.asarray(std)
    states = getattr(model, "state", None)
    for i, layer in enumerate(layers):
        state = states[i] if states is not None and i < len(states) else None
        h = _trace_layer(ndx, i, layer, _constants(ndx, params[i], np_dtype),
                         _constants(ndx, state, np_dtype), h)
    out_shape = getattr(model, "output_shape", None)
    heads = _heads(ndx, h, outputs, loss, out_shape[-1] if out_shape else None)

    proto = ndx.build({INPUT_NAME: x}, heads)
    guards = removed = 0
    if remove_guards:
        proto, guards, removed = remove_matmul_guards(proto)
    if opset is not None:
        from onnx import version_converter

        try:
            proto = version_converter.convert_version(proto, int(opset))
        except Exception as exc:  # onnx raises its own C++ errors here
            raise ExportError(f"export_onnx: cannot convert the graph to opset {opset}: {exc}") from exc
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    _write_atomically(proto.SerializeToString(), path)
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return ExportInfo(
        path=str(path), inputs=tuple(i.name for i in proto.graph.input),
        outputs=tuple(o.name for o in proto.graph.output), nodes=_count_nodes(proto.graph),
        top_level_nodes=len(proto.graph.node), guards_removed=guards, nodes_removed=removed,
        if_nodes_left=sum(n.op_type == "If" for n in proto.graph.node), opset=int(version),
    )
