"""Numeric against analytic gradients: the lecture's limit definition checks the backward pass.

    df/dx = lim_{h -> 0} (f(x + h) - f(x)) / h

A computer cannot take the limit: too large an h leaves the O(h) error of the
one-sided difference, too small an h drowns in rounding (float64 keeps ~16
digits). The central difference (f(x + h) - f(x - h)) / 2h is O(h^2) and
works well at h ~ 1e-6; it is what ``an.gradcheck`` uses, entry by entry, to
check every hand-written backward pass: a layer, a loss, a whole model, and a
deliberately wrong one. Everything runs in float64 on the current backend.

    python examples/numeric_vs_analytic.py [backend]
"""

import dataclasses
import sys

import numpy as np  # host data for the checks
from array_api_compat import array_namespace

import anynet as an
from anynet.backends import to_numpy
from anynet.gradcheck import numeric_grad, relative_error

if len(sys.argv) > 1:
    an.use(sys.argv[1])
be = an.backend()
xp = be.xp
print(f"backend {be.name}: gradients in float64")

# ---- 1. the limit definition on the sigmoid at x = 1
sigmoid = an.layers.Sigmoid()


def f(v):
    return float(to_numpy(sigmoid({}, be.asarray([v], dtype="float64")))[0])


s, cache = sigmoid.forward({}, be.asarray([1.0], dtype="float64"))
analytic = float(to_numpy(sigmoid.backward({}, cache, xp.ones_like(s))[0])[0])  # (1 - s) s
print(f"sigmoid'(1) by the backward pass: {analytic:.12f}")
print("     h    one-sided error    central error")
for h in (1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-11):
    one_sided = (f(1.0 + h) - f(1.0)) / h
    central = (f(1.0 + h) - f(1.0 - h)) / (2 * h)
    print(f"{h:6.0e}    {abs(one_sided - analytic):15.2e}  {abs(central - analytic):15.2e}")

# ---- 2. numeric_grad over a whole array: L = sum(tanh(x) * R), dL/dx = R (1 - tanh(x)^2)
rng = np.random.default_rng(0)
tanh = an.layers.Tanh()
x = be.asarray(rng.normal(size=(3, 4)), dtype="float64")
R = be.asarray(rng.normal(size=(3, 4)), dtype="float64")
y, cache = tanh.forward({}, x)
dx, _ = tanh.backward({}, cache, R)
num = numeric_grad(lambda a: float(xp.sum(tanh({}, a) * R)), x, be)
err = relative_error(dx, num)
print(f"Tanh, all 12 entries of dL/dx: relative error {err:.1e}")
assert err < 1e-7

# ---- 3. an.gradcheck: a layer (input and parameters), a loss, a model
def data(*shape):
    return be.asarray(rng.normal(size=shape), dtype="float64")  # on the backend under test


checks = {
    "Linear(4, 3)": an.gradcheck(an.layers.Linear(4, 3), data(5, 4), details=True),
    "Maxout(4, 3)": an.gradcheck(an.layers.Maxout(4, 3), data(5, 4), details=True),
    "SoftmaxCrossEntropy": an.gradcheck(an.losses.SoftmaxCrossEntropy(), data(5, 3),
                                        np.asarray([0, 2, 1, 1, 0]), details=True),
}
model = an.Sequential([an.layers.Linear(4, 5), an.layers.Tanh(), an.layers.Linear(5, 3)],
                      seed=0, dtype="float64")
checks["Sequential 4-5-3"] = an.gradcheck(model, rng.normal(size=(6, 4)), np.asarray([0, 1, 2, 0, 1, 2]),
                                          loss=an.losses.SoftmaxCrossEntropy(),
                                          regularizer=an.losses.L2(1e-2), details=True)
for name, errors in checks.items():
    print(f"{name:<20} " + ", ".join(f"{k}: {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) < 1e-6, (name, errors)


# ---- 4. a wrong backward pass is caught: ds/dx = s instead of (1 - s) s
@dataclasses.dataclass(frozen=True)
class WrongSigmoid(an.layers.Layer):
    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        s = 1.0 / (1.0 + (xp or array_namespace(x)).exp(-x))
        return s, s

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        return dy * cache, {}  # forgot the (1 - s) factor


err = an.gradcheck(WrongSigmoid(), data(4, 3), params={})
print(f"a sigmoid whose backward forgets (1 - s): relative error {err:.2f} -> the check fails, as it should")
assert err > 1e-2
