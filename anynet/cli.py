"""The ``anynet`` command.

``anynet train``    train an MLP (default: the 8x8 digits) and report test accuracy
``anynet predict``  predictions of a saved model for inputs in a .npy or .csv file
``anynet info``     the backends, their versions and devices, and why any cannot run
``anynet bench``    time anynet against hand-written NumPy, PyTorch, JAX, scikit-learn
``anynet export``   write a saved model as an ONNX file (needs the ``onnx`` extra: ``pip install '.[onnx]'``)
``anynet playground``  the lecture's 2-D demo as a live local page, trained in anynet

Exit codes: 0 success; 1 an error in the data, a file or a backend (the message
on stderr says which); 2 a command-line usage error; 141 the reader of the output
went away (``anynet train | head -2``), as for a program ended by SIGPIPE.

Everything that can be checked before work starts is: output paths, optional
libraries, the backend and its device (``anynet._cli_checks``).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import array_api_compat

# host-side: inputs read from files, predictions written to files (never pickle)
import numpy as np

from . import bench, datasets, export, io, layers, losses, metrics, optim, playground, plot
from ._cli_checks import (
    EXTRAS,
    check_output,
    check_plot,
    check_raw_features,
    describe_env_backend,
    resolve_backend,
)
from ._version import __version__
from .backends import BackendError, available_backends, backend, get_backend, keep_freed_memory, to_numpy, use
from .callbacks import EarlyStopping
from .losses import L2, MSE, SoftmaxCrossEntropy
from .model import Sequential

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "softplus", "maxout")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop")
_DEFAULT_LR = {"sgd": 0.05, "nesterov": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
# epochs that reach a good model with the default SGD on each dataset
_DEFAULT_EPOCHS = {"digits": 30, "iris": 30, "wine": 100, "breast_cancer": 50, "spiral": 300,
                   "moons": 200, "circles": 200, "xor": 200, "blobs": 50}


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden must be comma-separated sizes like 128,64, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be >= 1, got {text!r}")
    return sizes


def _number(kind: type, low: float, *, low_open: bool, high: float | None = None) -> Any:
    """An argparse type: a finite ``kind`` (int or float) above ``low`` (``low_open``) or at least
    ``low``, and below ``high`` if given; the error says which."""
    if high is not None:
        want = f"a number in {'(' if low_open else '['}{low:g}, {high:g})"
    elif low == 0 and low_open:
        want = f"a positive {kind.__name__}"
    else:
        want = f"{'an integer' if kind is int else 'a finite number'} {'>' if low_open else '>='} {low:g}"

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}") from None
        if not ((v > low if low_open else v >= low) and (high is None or v < high) and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected {want}, got {text!r}")
        return v

    return parse


def _positive(kind: type) -> Any:
    return _number(kind, 0, low_open=True)


def _fraction(low_open: bool) -> Any:
    """A number in (0, 1) (``low_open``) or in [0, 1)."""
    return _number(float, 0, low_open=low_open, high=1)


_nonnegative = _number(float, 0, low_open=False)  # --weight-decay
_count = _number(int, 0, low_open=False)  # --seed, --patience


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` once, and only where X says something (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS \
                or "default" in text:
            return text
        return super()._get_help_string(action) or text


def make_optimizer(name: str, lr: float | None) -> Any:
    """The command line's optimizer: ``sgd`` and ``nesterov`` with momentum 0.9, default learning rates."""
    kwargs: dict[str, Any] = {"lr": _DEFAULT_LR[name] if lr is None else lr}
    if name == "sgd":
        kwargs["momentum"] = 0.9
    return optim.get(name, **kwargs)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anynet", description=__doc__.split("\n\n")[0],
                                epilog="Exit codes: 0 success, 1 error (data, file, backend), 2 usage error. "
                                       "ANYNET_BACKEND=NAME sets the default backend; anynet info says which "
                                       "backends run here and why any cannot.")
    p.add_argument("--version", action="version", version=f"anynet {__version__}")
    sub = p.add_subparsers(dest="command")
    fmt = _HelpFormatter

    t = sub.add_parser("train", help="train an MLP (default: the 8x8 digits) and report test accuracy",
                       formatter_class=fmt)
    t.add_argument("--backend", default=None, help="numpy, jax, cupy, torch or array_api_strict "
                   "(default: $ANYNET_BACKEND or numpy)")
    t.add_argument("--device", default=None, help="device on the backend, e.g. cpu, gpu, cuda:0; an error if "
                   "the backend has none such (default: the backend's default device)")
    t.add_argument("--threads", default=None, type=_threads, metavar="N|auto",
                   help="backend numpy: split each training step's batch over N CPU threads (auto: one per "
                        "core), each thread's matrix products on one core. Pays for --model cnn on "
                        "MNIST-sized images (their element-wise work otherwise runs on one core), not on "
                        "the 8x8 digits (too little work per step); results equal up to float rounding "
                        "(default: 1, NumPy's BLAS on every core)")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--dataset", default="digits", choices=datasets.DATASETS, help="bundled or generated dataset")
    src.add_argument("--data", default=None, metavar="PATH",
                     help="your own data instead of --dataset: a .csv file (with --target COLUMN), a .npy "
                          "file of features (with --target LABELS.npy), or a directory of MNIST-style IDX "
                          "files (.gz or not)")
    _add_own_data_options(t)
    t.add_argument("--epochs", type=_positive(int), default=None,
                   help="passes over the data (default: 30 for digits, more for the small sets; for your own "
                        "files 20,000 samples' worth, 10 to 100 epochs)")
    t.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp: the MLP of --hidden; cnn: " + _CNN_HELP)
    t.add_argument("--hidden", type=_hidden, default=(128, 64), help="hidden layer sizes (default: 128,64)")
    t.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="the hidden layers' activation")
    _add_regularization_options(t)
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="sgd and nesterov use momentum 0.9 (default: sgd for the mlp, adam for the cnn and for "
                        "regression)")
    t.add_argument("--lr", type=_positive(float), default=None,
                   help="learning rate (default: 0.05 for sgd, 1e-3 otherwise)")
    t.add_argument("--batch-size", type=_positive(int), default=32, help="samples per training step")
    t.add_argument("--seed", type=_count, default=0,
                   help="seeds the weights, the shuffling, dropout and the generated datasets' samples")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="the floating-point type of the weights and the computation")
    t.add_argument("--save", metavar="FILE", default=None, help="write the trained model to FILE (.npz)")
    t.add_argument("--checkpoint", metavar="FILE", default=None,
                   help="write the model, optimizer state and progress to FILE (.npz, atomically) after "
                        "every epoch")
    t.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint FILE if it exists, else start: rerun the same command "
                        "after a crash and it ends exactly as an uninterrupted run")
    t.add_argument("--plot", metavar="FILE.png", default=None,
                   help="write a picture: the decision boundary for 2-D data, else the training curves")
    t.add_argument("--quiet", action="store_true", help="print only the final result line")

    pr = sub.add_parser("predict", help="print or write the predictions of a saved model", formatter_class=fmt,
                        description="Predictions of a model written by anynet train --save for raw inputs "
                                    "(the features as in the training files): the training set's "
                                    "standardization, stored in the model, is applied here.")
    pr.add_argument("--model", required=True, metavar="FILE", help="a model written by anynet train --save")
    pr.add_argument("--input", required=True, metavar="FILE",
                    help="inputs, one row per sample (.npy or .csv): RAW features, in the columns and units of "
                         "the training files; the training set's mean/std stored in the model are applied here")
    pr.add_argument("--output", metavar="FILE", default=None, help="write predictions here (.npy or .csv) "
                    "instead of printing them")
    pr.add_argument("--scores", action="store_true", help="output the raw model outputs, not class labels")
    pr.add_argument("--proba", action="store_true",
                    help="output each class's probability (softmax of the outputs; sigmoid for one output)")
    pr.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                    help="apply the model's training mean/std to the input (default: yes, and refuse input "
                         "that looks standardized already); --no-standardize: the input is standardized "
                         "with the training statistics already; --standardize: apply them, no check")
    pr.add_argument("--backend", default=None, help="numpy, jax, cupy, torch or array_api_strict "
                    "(default: $ANYNET_BACKEND or numpy)")
    pr.add_argument("--device", default=None, help="device on the backend, e.g. cpu, cuda:0 "
                    "(default: the backend's default device)")

    sub.add_parser("info", help="list the backends, their versions and devices, and why any cannot run")
    b = sub.add_parser("bench", help="time anynet against hand-written NumPy, PyTorch, JAX and scikit-learn",
                       add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    _add_export_parser(sub, fmt)
    _add_playground(sub)
    p.set_defaults(train_parser=t)  # main's own usage checks answer with train's usage line
    return p


# ------------------------------------------------------------------ train --model cnn
_CNN_FEATURES, _CNN_HIDDEN, _CNN_EPOCHS = (32, 64, "M"), (128,), 8
_CNN_HELP = "conv 3x3 32, conv 3x3 64, max pool 2, dense 128 (ReLU, padding same)"


def _cnn_layers(n_features: int, n_classes: int, dropout: float = 0.0) -> tuple[list[Any], tuple[int, int]]:
    """The command line's CNN on rows of square grayscale images (the digits' 8x8, MNIST's 28x28)."""
    side = round(n_features ** 0.5)
    if side * side != n_features or side < 2:
        raise ValueError(f"--model cnn: expects square grayscale images (rows of H*H pixels, H >= 2), "
                         f"but the data has {n_features} features per sample")
    return (layers.cnn((side, side, 1), _CNN_FEATURES, _CNN_HIDDEN, n_classes, from_rows=True, dropout=dropout),
            (side, side))


# ------------------------------------------------------------------ train: your own data, regularization
_OWN_SUFFIXES = (".csv", ".npy")


def _add_own_data_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--target", default=None, metavar="COLUMN|FILE",
                   help="with --data FILE.csv: the column of the targets, by its name in the header line or "
                        "its 0-based index (-1: the last column; a file without a header takes an index); "
                        "every other column is a feature and must hold numbers. With --data FEATURES.npy: a "
                        ".npy file of the targets, one per row")
    t.add_argument("--task", default=None, choices=datasets.TASKS,
                   help="for --data FILE: what the targets are (default: auto: words, or whole numbers with few "
                        "distinct values (at most 100, at most half the rows), are class labels, softmax "
                        "cross-entropy; other numbers are regression values, mean squared error on "
                        "standardized targets, reported as MAE and R^2)")
    t.add_argument("--test-split", type=_fraction(True), default=None, metavar="F",
                   help="hold out this fraction as the test set, of each class, seeded by --seed (default: "
                        "0.2; an IDX directory has its own test files)")
    t.add_argument("--val-split", type=_fraction(True), default=None, metavar="F",
                   help="hold out the last fraction F of the (shuffled) training part for validation: val_loss "
                        "per epoch, as Keras' validation_split (default: none, and the test set is evaluated "
                        "after each epoch for the curves, never for a decision)")


def _add_regularization_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--dropout", type=_fraction(False), default=0.0, metavar="P",
                   help="drop this fraction of each hidden layer's outputs while training (Dropout after every "
                        "hidden layer; off for evaluation and prediction)")
    t.add_argument("--weight-decay", type=_nonnegative, default=0.0, metavar="L",
                   help="L2 regularization: adds L * sum(W**2) over the weight matrices (not the biases) to "
                        "the loss, the lecture's lambda R(W) (gradient 2 L W); with --optimizer adamw it is "
                        "AdamW's decoupled weight decay instead (W -= lr * L * W each step; AdamW's own default "
                        "0.01 when not given)")
    t.add_argument("--patience", type=_count, default=None, metavar="N",
                   help="stop when val_loss has not improved for N epochs and restore the best epoch's weights "
                        "(EarlyStopping); watches --val-split, 0.1 of the training part when not given, "
                        "never the test set")


def _own_file(args: argparse.Namespace) -> bool:
    return args.data is not None and Path(args.data).suffix.lower() in _OWN_SUFFIXES


def _csv_columns(path: str) -> str:
    """The first line of ``path`` as a list of column names for a usage message, or "" if unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536).decode("utf-8-sig", errors="replace")
    except OSError:
        return ""
    first = next((line for line in head.splitlines() if line.strip()), "")
    names = ["".join(ch if ch.isprintable() else "?" for ch in c.strip()[:40]) for c in first.split(",")[:30]]
    return f" (its first line: {', '.join(names)})" if names and names != [""] else ""


def _train_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with ``anynet train``'s options together (a usage error), before anything runs."""
    own = _own_file(args)
    if args.data is None:
        if args.target is not None:
            return (f"--target picks the targets of your own --data FILE; --dataset {args.dataset} has its "
                    "own labels")
        if args.task is not None:
            return f"--task applies to your own --data FILE; --dataset {args.dataset} is classification"
        return None
    suffix = Path(args.data).suffix.lower()
    if not own:
        for option in ("target", "task", "test_split"):
            if getattr(args, option) is not None:
                return (f"--{option.replace('_', '-')} applies to a .csv or .npy --data file; a directory of "
                        "IDX files has its own labels and test files")
        return None
    if args.target is None:
        if suffix == ".csv":
            return (f"--data {args.data}: give --target COLUMN, the column of the targets (its name in the "
                    f"header line, or a 0-based index){_csv_columns(args.data)}")
        return f"--data {args.data}: give --target LABELS.npy, a .npy file with one target per row"
    if suffix == ".npy" and Path(args.target).suffix.lower() != ".npy":
        return (f"--data {args.data} is a .npy file of features: --target must be a .npy file of the targets, "
                f"one per row, got {args.target!r}")
    return None


def _check_train_args(args: argparse.Namespace) -> None:
    """Everything that would otherwise fail after training: output paths, matplotlib, --data."""
    if args.save:
        check_output(args.save, "--save")
    if args.checkpoint:
        check_output(args.checkpoint, "--checkpoint")
    if args.plot:
        check_plot(args.plot)
    if args.data:
        path = Path(args.data)
        if _own_file(args):
            files = [("--data", args.data)] + [("--target", args.target)] * (path.suffix.lower() == ".npy")
            for option, name in files:
                if not Path(name).is_file():
                    raise FileNotFoundError(f"{option} {name!r}: no such file")
            return
        if not path.exists():
            hint = f" (for the bundled dataset: --dataset {args.data})" if args.data in datasets.DATASETS else ""
            raise FileNotFoundError(f"--data {args.data!r}: no such directory; expected a directory of "
                                    f"MNIST-style IDX files, a .csv or a .npy file{hint}")
        if not path.is_dir():
            raise NotADirectoryError(f"--data {args.data!r}: not a directory, nor a .csv or .npy file; "
                                     "expected a directory of MNIST-style IDX files, a .csv table or .npy "
                                     "features")


def _train_data(args: argparse.Namespace) -> datasets.Dataset:
    """The data ``anynet train`` trains on, read and checked in full before a model exists."""
    if _own_file(args):
        kw = dict(test_size=0.2 if args.test_split is None else args.test_split, seed=args.seed,
                  task=args.task or "auto")
        if Path(args.data).suffix.lower() == ".csv":
            return datasets.load_csv(args.data, args.target, **kw)
        return datasets.load_npy(args.data, args.target, **kw)
    if args.data:
        return datasets.load(Path(args.data), seed=args.seed)
    return datasets.load(args.dataset, seed=args.seed, test_size=args.test_split)


def _optimizer_and_penalty(args: argparse.Namespace) -> tuple[Any, Any]:
    """The optimizer and the regularizer of --weight-decay (AdamW: its decoupled decay instead)."""
    if args.optimizer == "adamw" and args.weight_decay:
        lr = _DEFAULT_LR["adamw"] if args.lr is None else args.lr
        return optim.get("adamw", lr=lr, weight_decay=args.weight_decay), None
    return make_optimizer(args.optimizer, args.lr), (L2(args.weight_decay) if args.weight_decay else None)


def _fold_target_scale(model: Sequential, mean: float, std: float) -> None:
    """Make a model trained on standardized targets ``(t - mean) / std`` predict raw targets:
    its output layer ``y = x W^T + b`` becomes ``x (std W)^T + (std b + mean)``, exactly, so
    ``predict``, ``anynet predict`` and ``anynet export`` need to know nothing of the scaling."""
    last = model.params[-1]
    if set(last) != {"W", "b"}:
        raise RuntimeError(f"regression: the output layer {model.layers[-1]!r} is not a Linear layer")
    be = model.backend
    W, b = np.asarray(to_numpy(last["W"]), np.float64), np.asarray(to_numpy(last["b"]), np.float64)
    model.params = [*model.params[:-1], {"W": be.asarray(W * std, dtype=model.dtype),
                                         "b": be.asarray(b * std + mean, dtype=model.dtype)}]


def _describe(args: argparse.Namespace, data: datasets.Dataset, val_split: float | None) -> str:
    if data.class_names:
        names = ", ".join(data.class_names[:6]) + (", ..." if len(data.class_names) > 6 else "")
        what = f"{len(data.class_names)} classes" + (f" ({names})" if _own_file(args) else "")
    else:
        what = "regression (mean squared error on standardized targets; MAE and R^2 in the target's units)"
    if val_split:
        n = data.x_train.shape[0]
        what += f"; the last {n - math.floor(n * (1 - val_split))} training samples validate (--val-split " \
                f"{val_split})"
    return what


# ------------------------------------------------------------------ train
def _threads(text: str) -> int | str:
    """argparse type of --threads: a positive int or "auto"."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or 'auto', got {text!r}")
    return n


def cmd_train(args: argparse.Namespace) -> int:
    _check_train_args(args)
    be = resolve_backend(args.backend, args.device)
    if args.threads is not None:
        try:
            be = get_backend(be, threads=args.threads)
        except BackendError as exc:
            raise BackendError(f"--threads {args.threads}: {exc}") from None
    be = use(be)
    data = _train_data(args)
    regression = not data.class_names
    n_out = 1 if regression else len(data.class_names)
    if args.model == "cnn":
        stack, shape = _cnn_layers(data.x_train.shape[1], n_out, args.dropout)
        epochs = args.epochs or _CNN_EPOCHS
        model = Sequential(stack, seed=args.seed, dtype=args.dtype)
        args.optimizer = args.optimizer or "adam"
    else:
        if args.epochs:
            epochs = args.epochs
        elif _own_file(args):
            epochs = min(100, max(10, 20_000 // data.x_train.shape[0]))
        else:
            epochs = _DEFAULT_EPOCHS.get(data.name, 10) if not args.data else 10
        model = Sequential(layers.mlp(data.x_train.shape[1], args.hidden, n_out, activation=args.activation,
                                      dropout=args.dropout), seed=args.seed, dtype=args.dtype)
        args.optimizer = args.optimizer or ("adam" if regression else "sgd")  # sgd's 0.05 swings on MSE
    opt, penalty = _optimizer_and_penalty(args)
    loss: Any = MSE() if regression else SoftmaxCrossEntropy()
    t_train, t_test = data.t_train, data.t_test
    if regression:  # trained on standardized targets; folded back into the output layer afterwards
        t_mean, t_std = float(np.mean(t_train, dtype=np.float64)), float(np.std(t_train, dtype=np.float64)) or 1.0
        t_train, t_test = ((t - t_mean) / t_std for t in (t_train.reshape(-1, 1), t_test.reshape(-1, 1)))
    val_split = args.val_split or (0.1 if args.patience is not None else None)
    callbacks = [] if args.patience is None else [
        EarlyStopping("val_loss", patience=args.patience, restore_best_weights=True, verbose=0 if args.quiet else 1)]
    say = (lambda *a: None) if args.quiet else print
    say(f"anynet {__version__}: {data.name}, {data.x_train.shape[0]} train / {data.x_test.shape[0]} test "
        f"samples, {_describe(args, data, val_split)}; backend {be.name} ({be.device}"
        f"{f', {be.threads} threads' if be.threads > 1 else ''}), {args.dtype}")
    extras = "".join([f", dropout {args.dropout}" if args.dropout else "",
                      f", L2 weight decay {args.weight_decay}" if penalty is not None else ""])
    if args.model == "cnn":
        say(f"model: {shape[0]}x{shape[1]}x1 images -> {_CNN_HELP} -> {n_out}, "
            f"{model.count_params():,} parameters{extras}; optimizer {opt!r}")
    else:
        say(f"model: {' -> '.join(str(s) for s in (data.x_train.shape[1], *args.hidden, n_out))} "
            f"({args.activation}{extras}), {model.count_params():,} parameters; optimizer {opt!r}")
    t0 = time.perf_counter()
    hist = model.fit(data.x_train, t_train, loss=loss, optimizer=opt, epochs=epochs,
                     batch_size=args.batch_size, seed=args.seed, verbose=0 if args.quiet else 1,
                     validation_data=None if val_split else (data.x_test, t_test),
                     validation_split=val_split or 0.0, regularizer=penalty, callbacks=callbacks,
                     metrics=["r2"] if regression else (), checkpoint=args.checkpoint, resume=args.resume)
    seconds = time.perf_counter() - t0
    done = f"({seconds:.1f}s training, {len(hist.epoch)} epochs, backend {be.name})"
    if regression:
        _fold_target_scale(model, t_mean, t_std)
        result = model.evaluate(data.x_test, data.t_test.reshape(-1, 1), loss=loss, metrics=["mae", "r2"])
        print(f"test MAE: {result['mae']:.4g}  test R^2: {result['r2']:.4f}  test MSE: {result['loss']:.4g}  "
              f"{done}")
    else:
        result = model.evaluate(data.x_test, data.t_test, loss=loss)
        print(f"test accuracy: {result['accuracy']:.4f}  test loss: {result['loss']:.4f}  {done}")
    if not args.quiet and not regression:  # per class, as scikit-learn's classification_report
        pred = np.asarray(to_numpy(model.predict_classes(data.x_test)))
        say(metrics.classification_report(np.asarray(data.t_test), pred, n_out,
                                          class_names=[str(c) for c in data.class_names]))
    if args.save:
        extra = {"dataset": data.name, "class_names": list(data.class_names),
                 "loss": type(loss).__name__,
                 "mean": None if data.mean is None else data.mean.tolist(),
                 "std": None if data.std is None else data.std.tolist()}
        if _own_file(args):
            extra.update(task="regression" if regression else "classification", target=str(args.target),
                         feature_names=list(data.feature_names))
        io.save(model, args.save, extra=extra)
        say(f"model saved to {args.save}")
    if args.plot:
        if data.x_train.shape[1] == 2 and not regression:
            plot.decision_boundary(model, data.x_train, data.t_train, args.plot, class_names=data.class_names)
        else:
            plot.training_curves(hist, args.plot)
        say(f"picture written to {args.plot}")
    return 0


# ------------------------------------------------------------------ predict
def _read_inputs(path: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--input {path!r}: no such file")
    if p.suffix not in (".npy", ".csv", ".txt"):
        raise ValueError(f"--input {path!r}: expected a .npy or .csv file, got {p.suffix or 'no extension'!r}")
    try:
        return datasets.read_npy(p) if p.suffix == ".npy" else datasets.read_csv(p)
    except ValueError as exc:
        raise ValueError(f"--input: {exc}") from None  # the message names the file


def _read_inputs_for(path: str, extra: dict[str, Any]) -> Any:
    """``_read_inputs``, with a hint where the rows still hold the target column of a model
    trained by ``anynet train --data FILE.csv --target COLUMN``."""
    target, features = extra.get("target"), extra.get("feature_names") or []
    hint = f"leave out the target column {target!r}: the model predicts it"
    try:
        x = _read_inputs(path)
    except ValueError as exc:
        if target is not None and "is not a number" in str(exc):
            raise ValueError(f"{exc} (if that is the column the model was trained to predict: {hint})") from None
        raise
    if target is not None and features and x.ndim == 2 and x.shape[1] == len(features) + 1:
        raise ValueError(f"--input {path!r} has {x.shape[1]} columns, one more than the model's {len(features)} "
                         f"features ({', '.join(features)}): {hint}")
    return x


def _write_outputs(path: str, values: Any) -> None:
    p = Path(path)
    if p.suffix == ".npy":
        np.save(p, values, allow_pickle=False)
    elif p.suffix in (".csv", ".txt"):
        fmt = "%s" if values.dtype.kind in "OUS" else ("%d" if values.dtype.kind in "iu" else "%.8g")
        np.savetxt(p, values.reshape(len(values), -1), delimiter=",", fmt=fmt)
    else:
        raise ValueError(f"--output {path!r}: expected a .npy or .csv file name")


def cmd_predict(args: argparse.Namespace) -> int:
    if args.output:
        check_output(args.output, "--output")
        if Path(args.output).suffix not in (".npy", ".csv", ".txt"):
            raise ValueError(f"--output {args.output!r}: expected a .npy or .csv file name")
    use(resolve_backend(args.backend, args.device))
    ckpt = io.load_checkpoint(args.model)
    model, extra = ckpt.model, ckpt.extra or {}
    x = _read_inputs_for(args.input, extra)
    if extra.get("mean") is not None and args.standardize is not False:  # the training set's standardization
        mean, std = np.asarray(extra["mean"]), np.asarray(extra["std"])
        if args.standardize is None:  # not asked for by name: refuse rows standardized already
            check_raw_features(x, mean, std, args.input)
        x = (x - mean) / std
    if args.scores and args.proba:
        raise ValueError("--scores and --proba: give one (raw outputs or probabilities)")
    y = np.asarray(to_numpy(model.predict_proba(x) if args.proba else model.predict(x)))
    if args.scores or args.proba or extra.get("loss") not in ("SoftmaxCrossEntropy", "MulticlassHinge"):
        out = y
    else:
        idx = y.argmax(axis=1)
        names = extra.get("class_names")
        out = np.asarray(names, dtype=str)[idx] if names else idx
    if args.output:
        _write_outputs(args.output, out)
        print(f"{len(out)} predictions written to {args.output}")
    else:
        for row in out:
            print(row if np.ndim(row) == 0 else ",".join(f"{v:.6g}" for v in row))
    return 0


# ------------------------------------------------------------------ export
def _add_export_parser(sub: Any, fmt: Any) -> None:
    e = sub.add_parser("export", help="write a saved model as an ONNX file (onnxruntime runs it without anynet)",
                       formatter_class=fmt)
    e.add_argument("--model", required=True, metavar="FILE", help="a model written by anynet train --save")
    e.add_argument("--out", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    e.add_argument("--proba", action="store_true", help="add a 'probabilities' output (softmax or sigmoid)")
    e.add_argument("--labels", action="store_true", help="add a 'labels' output (class indices, int64)")
    e.add_argument("--opset", type=_positive(int), default=None,
                   help="convert to this ai.onnx opset (None: the one ndonnx writes)")


def cmd_export(args: argparse.Namespace) -> int:
    ckpt = io.load_checkpoint(args.model)
    model, extra = ckpt.model, ckpt.extra or {}
    # the training set's standardization, which anynet predict applies on the host, goes into the graph
    standardize = (extra["mean"], extra["std"]) if extra.get("mean") is not None else None
    name = extra.get("loss")
    loss = getattr(losses, name)() if name in losses.__all__ else None
    outputs = ["logits"] + ["probabilities"] * args.proba + ["labels"] * args.labels
    try:
        info = export.export_onnx(model, args.out, outputs=outputs, loss=loss, standardize=standardize,
                           opset=args.opset)
    except ImportError as exc:
        raise RuntimeError(str(exc)) from None
    print(info)
    if standardize is not None:
        print("inputs are raw features: the training set's standardization is part of the graph")
    if args.labels and extra.get("class_names"):
        print(f"labels index the classes {', '.join(map(str, extra['class_names']))}")
    return 0


# ------------------------------------------------------------------ info
def cmd_info(args: argparse.Namespace) -> int:
    problem = describe_env_backend()  # a bad $ANYNET_BACKEND is explained here, not raised
    print(f"anynet {__version__} (Python {platform.python_version()}, array-api-compat "
          f"{array_api_compat.__version__}); current backend: {'none' if problem else backend().name}")
    if problem:
        print(f"  {problem}")
    for name, why in available_backends().items():
        if why is None:
            be = get_backend(name)
            print(f"  {name:<17} {be.version:<14} devices: {', '.join(map(str, be.visible_devices()))}")
        else:
            print(f"  {name:<17} unavailable: {why}")
    memory = ("on: glibc keeps the memory a step frees for the next (ANYNET_KEEP_FREED_MEMORY=0 turns it off)"
              if keep_freed_memory() else "off (not glibc, or ANYNET_KEEP_FREED_MEMORY=0)")
    print(f"Host memory for NumPy and PyTorch on the CPU: {memory}")
    print(f"Extras, from anynet's source tree: pip install '.[EXTRA]' with EXTRA one of {', '.join(EXTRAS)} "
          "(README.md says what each adds)")
    return 0


# ------------------------------------------------------------------ playground
def _add_playground(sub: Any) -> None:
    playground.add_arguments(sub.add_parser("playground", formatter_class=_HelpFormatter,
                                 help="the lecture's 2-D classification demo as a live "
                                 "local page that trains in anynet (opens a browser)"))


def cmd_playground(args: argparse.Namespace) -> int:
    playground.serve(args.host, args.port, backend=args.backend, open_browser=not args.no_browser)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its own parser, options passed through
        return bench.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "train" and args.resume and not args.checkpoint:
        args.train_parser.error("--resume needs --checkpoint FILE (the file to resume from)")
    if args.command == "train" and (problem := _train_usage(args)):
        args.train_parser.error(problem)
    try:
        return {"train": cmd_train, "predict": cmd_predict, "info": cmd_info,
                "export": cmd_export,
                "playground": cmd_playground}[args.command](args)
    except BrokenPipeError:
        return _reader_gone()
    except (ValueError, TypeError, RuntimeError, OSError, KeyError, ImportError) as exc:
        print(f"anynet {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _reader_gone() -> int:
    """The reader of stdout went away (``anynet train | head -2``): stop quietly, as ``yes | head`` does.

    stdout is pointed at the null device so that Python's flush at exit does not
    raise again and print "Exception ignored ... BrokenPipeError"."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
