"""A two-layer network on the spiral: where a linear classifier fails, one hidden layer wins.

The course's "2-layer neural network" f = W2 max(0, W1 x + b1) + b2 on three
interleaved spiral arms (CS231n / the ConvNetJS classify2d demo). A linear
classifier f = W x + b can only cut the plane into three wedges (about 50%);
100 ReLU units bend the boundaries around the arms. The picture of the
predicted regions is written to $ANYNET_EXAMPLES_OUT (default: here).

    python examples/spiral_two_layer.py [backend]
"""

import os
import sys
from pathlib import Path

import anynet as an

if len(sys.argv) > 1:
    an.use(sys.argv[1])
out_dir = Path(os.environ.get("ANYNET_EXAMPLES_OUT", "."))

data = an.datasets.load("spiral", n_samples=300, noise=0.2, seed=0)  # 3 arms of 100 points, 80/20 split
loss = an.losses.SoftmaxCrossEntropy()
reg = an.losses.L2(1e-3)  # lambda R(W): the weights, not the biases


def train(layers, epochs):
    model = an.Sequential(layers, seed=0)
    model.fit(data.x_train, data.t_train, loss=loss, optimizer=an.optim.Adam(lr=0.02),
              regularizer=reg, epochs=epochs, batch_size=32, seed=0, verbose=0)
    return model, model.evaluate(data.x_test, data.t_test, loss=loss)["accuracy"]


_, linear_acc = train([an.layers.Linear(2, 3)], epochs=50)  # f = W x + b
model, acc = train([an.layers.Linear(2, 100), an.layers.ReLU(), an.layers.Linear(100, 3)], epochs=150)

print(f"backend {an.backend().name}: linear classifier {linear_acc:.3f}, "
      f"two-layer network test accuracy {acc:.3f}")
try:
    from anynet import plot

    path = out_dir / "spiral_decision_boundary.png"
    plot.decision_boundary(model, data.x_train, data.t_train, path, class_names=data.class_names,
                           title=f"2-layer network, 100 ReLU units: test accuracy {acc:.2f}")
    print(f"decision boundary written to {path}")
except ImportError as exc:  # matplotlib is optional
    print(f"no picture: {exc}")
