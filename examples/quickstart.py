"""Train an MLP on the bundled 8x8 digits; switch backends with one line.

    python examples/quickstart.py            # NumPy (or $ANYNET_BACKEND)
    python examples/quickstart.py jax        # the same code on JAX
"""

import sys

import anynet as an

if len(sys.argv) > 1:
    an.use(sys.argv[1])  # "numpy" | "jax" | "cupy" | "torch" | "array_api_strict"

data = an.datasets.load("digits")  # NumPy arrays, stratified 80/20 split
model = an.Sequential([an.layers.Linear(64, 128), an.layers.ReLU(),
                       an.layers.Linear(128, 10)], seed=0)
hist = model.fit(data.x_train, data.t_train, loss=an.losses.SoftmaxCrossEntropy(),
                 optimizer=an.optim.SGD(lr=0.05, momentum=0.9), epochs=20, batch_size=32,
                 validation_data=(data.x_test, data.t_test), seed=0, verbose=0)
print(f"backend {an.backend().name}: test accuracy {hist.history['val_accuracy'][-1]:.3f}")
