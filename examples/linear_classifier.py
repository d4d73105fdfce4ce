"""The lecture's linear classifier, f(x, W) = W x + b, and its two losses.

A 2x2 "image" [[1, 2], [3, 4]] is flattened to x = [1, 2, 3, 4]; three rows of
W score it for dog, cat and pig. The slide shows a column [3.6, 2.6, -3.0]
beside W without naming it: it is read here as the bias b (that gives the
slide's scores). Then, for each possible true class, the multiclass hinge
(SVM) loss and the softmax cross-entropy loss of those scores.

    python examples/linear_classifier.py [backend]
"""

import math
import sys

import anynet as an
from anynet.backends import to_numpy

if len(sys.argv) > 1:
    an.use(sys.argv[1])
be = an.backend()

image = [[1.0, 2.0], [3.0, 4.0]]
x = be.asarray([[v for row in image for v in row]], dtype="float32")  # one row: (1, 4)
params = {
    "W": be.asarray([[0.2, 0.4, 0.1, 0.6],
                     [0.3, 0.8, 0.2, 0.1],
                     [0.5, 0.6, 0.4, 0.7]], dtype="float32"),  # (3 classes, 4 pixels)
    "b": be.asarray([3.6, 2.6, -3.0], dtype="float32"),  # the slide's column, as the bias
}
classes = ["dog", "cat", "pig"]

layer = an.layers.Linear(4, 3)  # y = x @ W.T + b: the lecture's W x + b for a row of x
scores = layer(params, x)  # (1, 3)
s = to_numpy(scores)[0]
print(f"backend {be.name}: scores " + ", ".join(f"{c} {v:.1f}" for c, v in zip(classes, s)))
for got, want in zip(s, [7.3, 5.5, 2.7]):
    assert math.isclose(got, want, abs_tol=1e-5), (got, want)

# L_i = sum_{j != k} max(0, s_j - s_k + 1)   and   L_i = -log(e^{s_k} / sum_j e^{s_j})
hinge, xent = an.losses.MulticlassHinge(margin=1.0), an.losses.SoftmaxCrossEntropy()
expected = {"dog": (0.0, 0.1616), "cat": (2.8, 1.9616), "pig": (9.4, 4.7616)}
print("true class   hinge   cross-entropy")
for k, name in enumerate(classes):
    t = be.asarray([k], dtype=be.default_int())
    h, ce = float(hinge(scores, t)), float(xent(scores, t))
    print(f"{name:<10} {h:7.1f} {ce:15.4f}")
    assert math.isclose(h, expected[name][0], abs_tol=1e-4), (name, h)
    assert math.isclose(ce, expected[name][1], abs_tol=1e-4), (name, ce)
print("The right class with the highest score costs little; a wrong one costs in proportion to the gap.")
