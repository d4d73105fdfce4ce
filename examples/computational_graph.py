"""Backpropagation on the lecture's computational graph, f(x, y, z) = (x + y) z.

Each gate works like an anynet layer: ``forward`` returns its output and a
cache (what its local gradients need); ``backward`` takes the upstream
gradient and multiplies it by the local gradients (the chain rule):

    q = x + y      dq/dx = 1, dq/dy = 1
    f = q z        df/dq = z, df/dz = q

At (x, y, z) = (-2, 5, -4): f = -12, df/dx = df/dy = -4, df/dz = 3.
Then the sigmoid gate with anynet's own Sigmoid layer, whose local gradient
is (1 - s) s, and the lecture's neuron s = sigmoid(w0 x0 + w1 x1 + w2).

    python examples/computational_graph.py [backend]
"""

import dataclasses
import sys

from array_api_compat import array_namespace

import anynet as an
from anynet.backends import to_numpy


@dataclasses.dataclass(frozen=True)
class Add:
    """q = a + b."""

    def forward(self, a, b):
        return a + b, None  # the local gradients are constants: nothing to keep

    def backward(self, cache, dq):
        return dq * 1.0, dq * 1.0  # dq/da = 1, dq/db = 1


@dataclasses.dataclass(frozen=True)
class Multiply:
    """f = a * b."""

    def forward(self, a, b):
        return a * b, (a, b)

    def backward(self, cache, df):
        a, b = cache
        return df * b, df * a  # df/da = b, df/db = a


def value(a):
    return float(to_numpy(a).reshape(-1)[0])


if len(sys.argv) > 1:
    an.use(sys.argv[1])
be = an.backend()
print(f"backend {be.name}")

# ---- forward pass: inputs above the lines
x, y, z = (be.asarray([v], dtype="float32") for v in (-2.0, 5.0, -4.0))
add, mul = Add(), Multiply()
q, add_cache = add.forward(x, y)
f, mul_cache = mul.forward(q, z)
# ---- backward pass: gradients below the lines, from df/df = 1 back to the inputs
xp = array_namespace(f)
df = xp.ones_like(f)
dq, dz = mul.backward(mul_cache, df)
dx, dy = add.backward(add_cache, dq)
print(f"f(x, y, z) = (x + y) z at (-2, 5, -4): q = {value(q):g}, f = {value(f):g}")
print(f"df/dq = {value(dq):g}, df/dx = {value(dx):g}, df/dy = {value(dy):g}, df/dz = {value(dz):g}")
assert [value(v) for v in (f, dx, dy, dz)] == [-12.0, -4.0, -4.0, 3.0]

# ---- the sigmoid gate: s = 1 / (1 + e^-x), ds/dx = (1 - s) s
sigmoid = an.layers.Sigmoid()
xs = be.asarray([-2.0, 0.0, 1.0, 3.0], dtype="float32")
s, cache = sigmoid.forward({}, xs)
ds, _ = sigmoid.backward({}, cache, xp.ones_like(s))  # upstream gradient 1: ds/dx itself
formula = (1.0 - s) * s
print("x        " + "  ".join(f"{v:7.3f}" for v in to_numpy(xs)))
print("s(x)     " + "  ".join(f"{v:7.4f}" for v in to_numpy(s)))
print("backward " + "  ".join(f"{v:7.4f}" for v in to_numpy(ds)))
print("(1 - s)s " + "  ".join(f"{v:7.4f}" for v in to_numpy(formula)))
assert float(xp.max(xp.abs(ds - formula))) < 1e-7

# ---- a neuron: s = sigmoid(w0 x0 + w1 x1 + w2) with w = (2, -3, -3), x = (-1, -2): a Linear
# layer and the Sigmoid gate, the backward pass through both by the chain rule
linear = an.layers.Linear(2, 1)
p = {"W": be.asarray([[2.0, -3.0]], dtype="float32"), "b": be.asarray([-3.0], dtype="float32")}
inp = be.asarray([[-1.0, -2.0]], dtype="float32")
zz, lin_cache = linear.forward(p, inp)
out, sig_cache = sigmoid.forward({}, zz)
dz_, _ = sigmoid.backward({}, sig_cache, xp.ones_like(out))
dinp, grads = linear.backward(p, lin_cache, dz_)
print(f"neuron: z = {value(zz):g}, s = {value(out):.3f}, ds/dz = (1 - s)s = {value(dz_):.3f}")
print(f"        ds/dw = {[round(v, 3) for v in to_numpy(grads['W'])[0].tolist()]}, "
      f"ds/dw2 (bias) = {value(grads['b']):.3f}, ds/dx = {[round(v, 3) for v in to_numpy(dinp)[0].tolist()]}")
assert abs(value(out) - 0.731) < 1e-3 and abs(value(dz_) - 0.197) < 1e-3
