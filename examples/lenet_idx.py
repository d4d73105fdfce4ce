"""A LeNet-style convnet on MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, ...).

conv 5x5 to 6 channels -> max pool 2 -> conv 5x5 to 16 -> max pool 2 -> dense 120 -> 84 -> 10,
ReLU, images channels-last (N, H, W, 1), Adam, softmax cross-entropy. Nothing is downloaded:
point --data at a directory holding the four files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, gzipped
or not). Writes the first layer's filters and one test image's feature maps to
$ANYNET_EXAMPLES_OUT (default: here).

    python examples/lenet_idx.py --data ~/data/mnist [--epochs 3] [--limit 10000] [--backend jax] [--threads auto]
"""

import argparse
import os
from pathlib import Path

import anynet as an

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--data", required=True, metavar="DIR", help="a directory of MNIST-format IDX files")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--limit", type=int, default=None, help="train on the first LIMIT training images only")
p.add_argument("--backend", default=None, help="numpy (default), jax, torch, cupy, array_api_strict")
p.add_argument("--threads", default=None, metavar="N|auto",
               help="numpy: split each step's batch over N CPU threads (auto: one per core; see README, Scaling out)")
args = p.parse_args()
if args.backend or args.threads:
    threads = None if args.threads is None else (args.threads if args.threads == "auto" else int(args.threads))
    an.use(args.backend or "numpy", threads=threads)
out_dir = Path(os.environ.get("ANYNET_EXAMPLES_OUT", "."))

data = an.datasets.load(args.data)  # rows of H*W pixels in [0, 1], labels 0..9
side = round(data.x_train.shape[1] ** 0.5)
if side * side != data.x_train.shape[1]:
    raise SystemExit(f"expected square images, got {data.x_train.shape[1]} pixels per image")
x_train, t_train = data.x_train[:args.limit], data.t_train[:args.limit]

# the rows become (side, side, 1) images in the model's first layer (an.layers.Reshape)
model = an.Sequential(an.layers.lenet((side, side, 1), len(data.class_names), from_rows=True), seed=0)
loss = an.losses.SoftmaxCrossEntropy()
print(f"{len(x_train)} training images of {side}x{side}, LeNet with {model.count_params():,} parameters, "
      f"backend {an.backend().name}" + (f", {an.backend().threads} threads" if an.backend().threads > 1 else ""))
model.fit(x_train, t_train, loss=loss, optimizer=an.optim.Adam(lr=1e-3), epochs=args.epochs,
          batch_size=args.batch_size, seed=0, verbose=1)
result = model.evaluate(data.x_test, data.t_test, loss=loss)
print(f"backend {an.backend().name}: test accuracy {result['accuracy']:.3f}, test loss {result['loss']:.3f}")

try:
    from anynet import plot

    plot.filters(model, out_dir / "lenet_filters.png")
    plot.feature_maps(model, data.x_test[0], out_dir / "lenet_feature_maps.png")
    print(f"filters and feature maps written to {out_dir}")
except ImportError as exc:  # matplotlib is optional
    print(f"no pictures: {exc}")
