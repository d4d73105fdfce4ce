"""The lecture's exercise: recognise handwritten digits with a multilayer perceptron.

1,797 8x8 images (64 pixels in [0, 1]) -> 128 ReLU units -> 64 ReLU units ->
10 scores; softmax cross-entropy, SGD with momentum, mini-batches of 32.
Writes the training curves and the confusion matrix of the test set to
$ANYNET_EXAMPLES_OUT (default: here).

The same script runs on JAX (compiled with jax.jit), PyTorch or CuPy: change
nothing but the backend, with one line,

    an.use("jax")

or from the command line:

    python examples/digits_mlp.py [backend]
"""

import os
import sys
from pathlib import Path

import anynet as an

if len(sys.argv) > 1:
    an.use(sys.argv[1])  # the one line: an.use("jax")
out_dir = Path(os.environ.get("ANYNET_EXAMPLES_OUT", "."))

data = an.datasets.load("digits")  # stratified 80/20 split, seeded
model = an.Sequential([
    an.layers.Linear(64, 128), an.layers.ReLU(),
    an.layers.Linear(128, 64), an.layers.ReLU(),
    an.layers.Linear(64, 10),
], seed=0)
loss = an.losses.SoftmaxCrossEntropy()
history = model.fit(data.x_train, data.t_train, loss=loss, optimizer=an.optim.SGD(lr=0.05, momentum=0.9),
                    epochs=20, batch_size=32, validation_data=(data.x_test, data.t_test), seed=0, verbose=0)
result = model.evaluate(data.x_test, data.t_test, loss=loss)
print(f"backend {an.backend().name} ({model.count_params():,} parameters): "
      f"test accuracy {result['accuracy']:.3f}, test loss {result['loss']:.3f}")

try:
    from anynet import plot

    plot.training_curves(history, out_dir / "digits_training_curves.png", title="digits MLP")
    plot.confusion_matrix(model, data.x_test, data.t_test, out_dir / "digits_confusion_matrix.png",
                          class_names=data.class_names)
    print(f"training curves and confusion matrix written to {out_dir}")
except ImportError as exc:  # matplotlib is optional
    print(f"no pictures: {exc}")
