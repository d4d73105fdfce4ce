"""Write your own layer: a parametric ReLU (He et al. 2015) with a learned slope per unit.

A layer is a frozen dataclass with three methods. ``forward`` keeps what the
backward pass needs; ``backward`` applies the chain rule to the upstream
gradient ``dy``. Written with ``xp`` (the arrays' namespace), it runs on every
backend, inside ``Sequential``, and passes the same gradient check as the
built-in layers.

    python examples/custom_layer.py [backend]
"""

import dataclasses
import sys

from array_api_compat import array_namespace

import anynet as an


@dataclasses.dataclass(frozen=True)
class PReLU(an.layers.Layer):
    """``y = x`` where ``x > 0``, else ``a * x``, with ``a`` learned per feature.

    Shapes: x (N, features) -> y (N, features); params: ``a`` (features,).
    """

    features: int
    init_slope: float = 0.25

    def init(self, rng):
        return {"a": [self.init_slope] * self.features}  # host values; the model moves them

    def forward(self, params, x, /, *, training=False, key=None, xp=None):
        xp = xp or array_namespace(x)
        a = params["a"][None, :]
        return xp.where(x > 0, x, a * x), x  # cache x: the local gradients need it

    def backward(self, params, cache, dy, /, *, need_dx=True, xp=None):
        xp = xp or array_namespace(dy)
        x = cache
        a = params["a"][None, :]
        dx = xp.where(x > 0, dy, a * dy) if need_dx else None  # dy/dx = 1 or a
        da = xp.sum(xp.where(x > 0, 0.0, x * dy), axis=0)  # dy/da = x where x <= 0
        return dx, {"a": da}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        an.use(sys.argv[1])
    be = an.backend()

    # 1. the backward pass against finite differences (float64)
    x = be.asarray([[-1.5, 0.3, 2.0], [0.7, -0.2, -3.0]], dtype="float64")
    print(f"PReLU gradcheck, max relative error: {an.gradcheck(PReLU(3), x):.1e}")

    # 2. inside a model, trained like any built-in layer
    data = an.datasets.load("digits")
    model = an.Sequential([an.layers.Linear(64, 64), PReLU(64), an.layers.Linear(64, 10)], seed=0)
    model.fit(data.x_train, data.t_train, loss=an.losses.SoftmaxCrossEntropy(),
              optimizer=an.optim.Adam(lr=3e-3), epochs=10, verbose=0)
    acc = model.evaluate(data.x_test, data.t_test, loss=an.losses.SoftmaxCrossEntropy())["accuracy"]
    slopes = an.backends.to_numpy(model.params[1]["a"])
    print(f"backend {be.name}: test accuracy {acc:.3f}; learned slopes from {slopes.min():.2f} to {slopes.max():.2f}")
