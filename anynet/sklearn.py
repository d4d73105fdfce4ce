"""scikit-learn estimators backed by anynet: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions (``fit``/``predict``/``predict_proba``/
``score``, ``get_params``/``set_params``, NumPy in and out) and its own
``MLPClassifier``'s parameter names, plus ``backend``/``device``/``dtype`` to
train on any anynet backend: they drop into a ``Pipeline`` or ``GridSearchCV``.

>>> from anynet.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0)

Differences from ``sklearn.neural_network``: computation is in float32 by default
(``dtype="float64"`` on request), so predictions carry float32 rounding; ``alpha`` is the weight of
``alpha * sum(W**2)`` added to the mean loss (scikit-learn scales its L2 term
by ``1 / (2 n_samples)``); training runs exactly ``max_iter`` epochs unless
``early_stopping`` stops it (no ``tol``-based stop on the training loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# host-side glue between scikit-learn (NumPy) and anynet models
import numpy as np

try:  # the optional 'sklearn' extra: say how to install it rather than a bare ModuleNotFoundError
    import sklearn  # noqa: F401
except ImportError as _exc:
    raise ImportError("anynet.sklearn needs scikit-learn, which is not installed here: pip install scikit-learn "
                      "(from anynet's source tree: pip install '.[sklearn]')") from _exc
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state

from . import callbacks as cb
from . import layers as L
from . import losses, optim
from .backends import to_numpy
from .model import Sequential

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(est, *args, **kwargs):
        return est._validate_data(*args, **kwargs)

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = sorted(set(L.ACTIVATIONS) - {"maxout"})


class _BaseMLP(BaseEstimator):
    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        momentum: float = 0.9,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        random_state: int | None = None,
        verbose: int = 0,
        backend: str | None = None,
        device: Any = None,
        dtype: str = "float32",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ pieces
    def _layers(self, n_in: int, n_out: int) -> list:
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"{type(self).__name__}: activation must be one of {sorted(_ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        sizes = [self.hidden_layer_sizes] if isinstance(self.hidden_layer_sizes, int) \
            else list(self.hidden_layer_sizes)
        if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in sizes):
            raise ValueError(f"{type(self).__name__}: hidden_layer_sizes must be positive ints, "
                             f"got {self.hidden_layer_sizes!r}")
        return L.mlp(n_in, [int(h) for h in sizes], n_out, activation=self.activation)

    def _optimizer(self) -> Any:
        if self.solver not in ("adam", "sgd", "rmsprop"):
            raise ValueError(f"{type(self).__name__}: solver must be 'adam', 'sgd' or 'rmsprop', "
                             f"got {self.solver!r}")
        extra = {"momentum": self.momentum} if self.solver == "sgd" else {}
        return optim.get(self.solver, lr=self.learning_rate_init, **extra)

    def _fit(self, X: np.ndarray, T: np.ndarray, n_out: int, loss: Any) -> None:
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"{type(self).__name__}: max_iter must be a positive int, got {self.max_iter!r}")
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        self.model_ = Sequential(self._layers(X.shape[1], n_out), seed=seed, dtype=self.dtype,
                                 backend=self.backend, device=self.device)
        kw: dict[str, Any] = {}
        if self.early_stopping and n >= 4:
            rng = np.random.default_rng(seed)
            order = rng.permutation(n)
            k = max(1, round(self.validation_fraction * n))
            val, tr = order[:k], order[k:]
            kw["validation_data"] = (X[val], T[val])
            X, T = X[tr], T[tr]
            kw["callbacks"] = [cb.EarlyStopping("val_loss", patience=self.n_iter_no_change)]
        hist = self.model_.fit(X, T, loss=loss, optimizer=self._optimizer(), epochs=int(self.max_iter),
                               batch_size=max(1, min(batch, X.shape[0])), seed=seed,
                               regularizer=losses.L2(self.alpha) if self.alpha else None,
                               verbose=min(int(self.verbose), 2), **kw)
        self.loss_curve_ = list(hist.history["loss"])
        self.loss_ = self.loss_curve_[-1]
        self.n_iter_ = len(hist.epoch)
        if "val_loss" in hist.history:
            self.validation_scores_ = list(hist.history["val_loss"])

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return np.asarray(to_numpy(self.model_.predict(X)), dtype=np.float64)

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier trained with anynet (softmax cross-entropy).

    Parameters follow ``sklearn.neural_network.MLPClassifier`` (``hidden_layer_sizes``,
    ``activation``, ``solver`` in {"adam", "sgd", "rmsprop"}, ``alpha``, ``batch_size``,
    ``learning_rate_init``, ``max_iter`` (epochs), ``momentum``, ``early_stopping``,
    ``validation_fraction``, ``n_iter_no_change``, ``random_state``, ``verbose``), plus
    ``backend`` (any anynet backend name; default: the current one), ``device`` and ``dtype``.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    model_ : anynet.Sequential
    loss_curve_ : list of float
        Training loss per epoch.
    n_iter_ : int
        Epochs run.

    Shapes
    ------
    X (n_samples, n_features); y (n_samples,) -> predict (n_samples,),
    predict_proba (n_samples, n_classes).

    Examples
    --------
    >>> import numpy as np, anynet as an
    >>> from anynet.sklearn import MLPClassifier
    >>> X, t = an.datasets.make_blobs(150, noise=0.2, seed=0)
    >>> y = np.asarray(["red", "green", "blue"])[t]  # any labels, as in scikit-learn
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, learning_rate_init=0.05,
    ...                     random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:2]).shape, clf.predict_proba(X).shape, clf.n_iter_
    (['blue', 'green', 'red'], (2,), (150, 3), 20)
    >>> clf.score(X, y) > 0.9  # accuracy on three well-separated blobs
    True
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes in the data, but the data "
                             f"contains only one class: {self.classes_[0]!r}")
        self._fit(X, codes.astype(np.int64), len(self.classes_), losses.SoftmaxCrossEntropy())
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self._forward(X)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        z = self._forward(X)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        scores = self._forward(X)
        return self.classes_[np.argmax(scores, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor trained with anynet (mean squared error).

    Same parameters as :class:`MLPClassifier`.

    Shapes
    ------
    X (n_samples, n_features); y (n_samples,) or (n_samples, n_outputs) -> predict of
    the same shape as y.

    Examples
    --------
    >>> import numpy as np
    >>> from anynet.sklearn import MLPRegressor
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.02,
    ...                    random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape, len(reg.loss_curve_)
    ((3,), 30)
    >>> reg.score(X, y) > 0.9  # R^2
    True
    """

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if self._y_1d else y
        self._fit(X, Y.astype(np.float64), Y.shape[1], losses.MSE())
        return self

    def predict(self, X: Any) -> np.ndarray:
        y = self._forward(X)
        return y[:, 0] if self._y_1d else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
