"""The ``anynet`` command: ``anynet train`` (the digits MLP by default) and ``anynet info``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import __version__

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu", "softplus", "maxout")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop")
_DEFAULT_LR = {"sgd": 0.05, "nesterov": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden must be comma-separated sizes like 128,64, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be >= 1, got {text!r}")
    return sizes


def build_mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: str = "relu") -> list:
    """Layers of an MLP: ``Linear`` + activation per hidden size, then a ``Linear`` to the logits."""
    from . import layers as L

    act = {"relu": L.ReLU, "leaky_relu": L.LeakyReLU, "tanh": L.Tanh, "sigmoid": L.Sigmoid,
           "elu": L.ELU, "gelu": L.GELU, "softplus": L.Softplus}
    out, width = [], n_in
    init = "glorot_uniform" if activation in ("tanh", "sigmoid") else "he_normal"
    for h in hidden:
        if activation == "maxout":
            out.append(L.Maxout(width, h, 2))
        else:
            out += [L.Linear(width, h, weight_init=init), act[activation]()]
        width = h
    out.append(L.Linear(width, n_out, weight_init="glorot_uniform"))
    return out


def make_optimizer(name: str, lr: float | None):
    from . import optim

    lr = _DEFAULT_LR[name] if lr is None else lr
    return {
        "sgd": lambda: optim.SGD(lr=lr, momentum=0.9),
        "nesterov": lambda: optim.SGD(lr=lr, momentum=0.9, nesterov=True),
        "adam": lambda: optim.Adam(lr=lr),
        "adamw": lambda: optim.AdamW(lr=lr),
        "rmsprop": lambda: optim.RMSprop(lr=lr),
    }[name]()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anynet", description="Neural networks with explicit backprop on any Array API backend.")
    p.add_argument("--version", action="version", version=f"anynet {__version__}")
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train an MLP (default: the 8x8 digits) and report test accuracy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--backend", default=None, help="numpy, jax, cupy, torch or array_api_strict "
                   "(default: $ANYNET_BACKEND or numpy)")
    t.add_argument("--device", default=None, help="device on the backend, e.g. cpu, gpu, cuda:0")
    t.add_argument("--dataset", default="digits", help="dataset name")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--hidden", type=_hidden, default=(128, 64), help="hidden layer sizes, e.g. 128,64")
    t.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="sgd and nesterov use momentum 0.9")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.05 for sgd, 1e-3 otherwise)")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    sub.add_parser("info", help="list the backends, their versions and devices, and why any cannot run")
    return p


def cmd_train(args: argparse.Namespace) -> int:
    import anynet as an

    be = an.use(args.backend, args.device) if args.backend else an.backend()
    data = an.datasets.load(args.dataset)
    n_classes = len(data.class_names)
    model = an.Sequential(build_mlp(data.x_train.shape[1], args.hidden, n_classes, args.activation),
                          seed=args.seed, dtype=args.dtype)
    opt = make_optimizer(args.optimizer, args.lr)
    loss = an.losses.SoftmaxCrossEntropy()
    print(f"anynet {an.__version__}: {data.name}, {data.x_train.shape[0]} train / {data.x_test.shape[0]} test "
          f"samples, {n_classes} classes; backend {be.name} ({be.device}), {args.dtype}")
    print(f"model: {' -> '.join(str(s) for s in (data.x_train.shape[1], *args.hidden, n_classes))} "
          f"({args.activation}), {model.count_params():,} parameters; optimizer {opt!r}")
    t0 = time.perf_counter()
    model.fit(data.x_train, data.t_train, loss=loss, optimizer=opt, epochs=args.epochs,
              batch_size=args.batch_size, seed=args.seed, verbose=1)
    seconds = time.perf_counter() - t0
    result = model.evaluate(data.x_test, data.t_test, loss=loss)
    print(f"test accuracy: {result['accuracy']:.4f}  test loss: {result['loss']:.4f}  "
          f"({seconds:.1f}s training)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import anynet as an

    print(f"anynet {an.__version__}; current backend: {an.backend().name}")
    for name, why in an.available_backends().items():
        if why is None:
            be = an._backend.get_backend(name)
            print(f"  {name:<17} {be.version:<12} devices: {', '.join(map(str, be.devices()))}")
        else:
            print(f"  {name:<17} unavailable: {why}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"train": cmd_train, "info": cmd_info}[args.command](args)
    except (ValueError, TypeError, RuntimeError) as exc:
        print(f"anynet {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
