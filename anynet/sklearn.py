"""scikit-learn estimators backed by anynet: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions (``fit``/``predict``/``predict_proba``/
``score``, ``get_params``/``set_params``, NumPy in and out) and its own
``MLPClassifier``'s parameter names, plus ``backend``/``device``/``dtype`` to
train on any anynet backend: they drop into a ``Pipeline`` or ``GridSearchCV``.

>>> from anynet.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0)

As scikit-learn's: training stops when the training loss (or, with
``early_stopping``, the validation score) has not improved by ``tol`` for more than
``n_iter_no_change`` epochs, else after ``max_iter`` epochs with a
``ConvergenceWarning``; ``warm_start`` continues from the last weights (with a
fresh optimizer, as scikit-learn), ``partial_fit`` runs one epoch and continues the
optimizer's state; ``coefs_[i]`` has shape (n_in, n_out) and ``intercepts_[i]``
(n_out,), scikit-learn's orientation (anynet's ``Linear.W`` is (out, in): ``coefs_``
are copies of ``W.T``); ``loss_curve_`` and ``validation_scores_``; parameters are
validated by scikit-learn's ``_parameter_constraints`` when fitting.

Differences from ``sklearn.neural_network``: computation is in float32 by default
(``dtype="float64"`` on request), so predictions carry float32 rounding; ``alpha`` is the weight of
``alpha * sum(W**2)`` added to the mean loss (scikit-learn scales its L2 term
by ``1 / (2 n_samples)``); no ``lbfgs`` solver, learning-rate schedules or ``sample_weight``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

# host-side glue between scikit-learn (NumPy) and anynet models
import numpy as np

try:  # the optional 'sklearn' extra: say how to install it rather than a bare ModuleNotFoundError
    import sklearn  # noqa: F401
except ImportError as _exc:
    raise ImportError("anynet.sklearn needs scikit-learn, which is not installed here: pip install scikit-learn "
                      "(from anynet's source tree: pip install '.[sklearn]')") from _exc
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, Options, StrOptions
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
        tol: float = 1e-4,
        warm_start: bool = False,
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
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # scikit-learn checks these when fitting (``_validate_params``): batch_size=0, -5 or 7.5 are refused
    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"adam", "sgd", "rmsprop"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "backend": [None, str],
        "device": "no_validation",
        "dtype": [StrOptions({"float32", "float64"})],
    }

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

    def _fit(self, X: np.ndarray, T: np.ndarray, n_out: int, loss: Any, *, incremental: bool = False) -> None:
        """Train (``max_iter`` epochs, or one for ``incremental``), from the last weights when
        warm-starting or incremental, else from new ones."""
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        model = getattr(self, "model_", None)
        reuse = ((incremental or self.warm_start) and model is not None
                 and tuple(model.input_shape) == (X.shape[1],) and tuple(model.output_shape) == (n_out,))
        if not reuse:
            self.model_ = Sequential(self._layers(X.shape[1], n_out), seed=seed, dtype=self.dtype,
                                     backend=self.backend, device=self.device)
            self.loss_curve_, self.best_loss_ = [], math.inf
        if not reuse or getattr(self, "validation_scores_", None) is None:
            self.validation_scores_, self.best_validation_score_ = [], -math.inf
        self._no_improvement_count = 0
        if incremental and self.early_stopping:
            raise ValueError(f"{type(self).__name__}: partial_fit does not support early_stopping=True")
        kw: dict[str, Any] = {}
        early = self.early_stopping and n >= 4
        if early:
            rng = np.random.default_rng(seed)
            order = rng.permutation(n)
            k = max(1, round(self.validation_fraction * n))
            val, tr = order[:k], order[k:]
            kw["validation_data"] = (X[val], T[val])
            X, T = X[tr], T[tr]
            kw["metrics"] = ["r2"] if isinstance(loss, losses.MSE) else []
        stop = _NoImprovement(self, "val_r2" if isinstance(loss, losses.MSE) else "val_accuracy", early)
        epochs = 1 if incremental else int(self.max_iter)
        self.model_.fit(X, T, loss=loss, optimizer=self._optimizer(), epochs=epochs,
                        batch_size=max(1, min(batch, X.shape[0])), seed=(seed + len(self.loss_curve_)) % 2**31,
                        regularizer=losses.L2(self.alpha) if self.alpha else None,
                        verbose=min(int(self.verbose), 2), callbacks=[stop],
                        reset_optimizer=not incremental, **kw)
        self.n_iter_ = stop.epochs
        self.loss_ = self.loss_curve_[-1]
        if not early:  # as scikit-learn: only early stopping scores a validation set
            self.validation_scores_ = self.best_validation_score_ = None
        self._set_coefs()
        if not incremental and not stop.converged and stop.epochs == self.max_iter:
            warnings.warn(f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and the "
                          f"optimization hasn't converged yet (the training loss still improved by more than "
                          f"tol={self.tol} within the last n_iter_no_change={self.n_iter_no_change} epochs)",
                          ConvergenceWarning, stacklevel=3)

    def _set_coefs(self) -> None:
        """``coefs_`` (n_in, n_out) and ``intercepts_`` (n_out,) per Linear layer: scikit-learn's
        orientation, the transpose of anynet's ``W`` (out, in)."""
        params = [p for p in self.model_.params if "W" in p]
        self.coefs_ = [np.asarray(to_numpy(p["W"])).T.copy() for p in params]
        self.intercepts_ = [np.asarray(to_numpy(p["b"])).copy() for p in params]

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return np.asarray(to_numpy(self.model_.predict(X)), dtype=np.float64)

    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class _NoImprovement(cb.Callback):
    """scikit-learn's stopping rule, per epoch: count the epochs whose training loss is not below
    the best by ``tol`` (with ``early_stopping``: whose validation score is not above the best by
    ``tol``) and stop when the count exceeds ``n_iter_no_change``; with ``early_stopping`` the
    best validation epoch's weights are put back at the end."""

    def __init__(self, est: _BaseMLP, score_key: str, early: bool) -> None:
        self.est, self.score_key, self.early = est, score_key, early
        self.epochs, self.converged, self._best = 0, False, None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        est, tol = self.est, self.est.tol
        loss = logs["loss"]
        est.loss_curve_.append(loss)
        self.epochs += 1
        if self.early:
            score = logs[self.score_key]
            est.validation_scores_.append(score)
            est._no_improvement_count = est._no_improvement_count + 1 if score < est.best_validation_score_ + tol \
                else 0
            if score > est.best_validation_score_:
                est.best_validation_score_, self._best = score, self.run.copy_params()
        else:
            est._no_improvement_count = est._no_improvement_count + 1 if loss > est.best_loss_ - tol else 0
            est.best_loss_ = min(est.best_loss_, loss)
        if est._no_improvement_count > est.n_iter_no_change:
            self.converged = self.run.stop_training = True
            if est.verbose:
                what = "Validation score" if self.early else "Training loss"
                print(f"{what} did not improve more than tol={tol} for {est.n_iter_no_change} consecutive "
                      "epochs. Stopping.")

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self._best is not None:
            self.run.model.params = self._best


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
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (n_in, n_out): scikit-learn's orientation, the transpose of
        the anynet layer's ``W`` (out, in).
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape (n_out,).
    loss_curve_ : list of float
        Training loss per epoch (over warm starts and ``partial_fit`` calls, as scikit-learn).
    validation_scores_ : list of float
        With ``early_stopping``: the validation score (accuracy; R^2 for the regressor) per epoch.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).

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
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.05,
    ...                     tol=1e-3, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:2]).shape, clf.predict_proba(X).shape
    (['blue', 'green', 'red'], (2,), (150, 3))
    >>> clf.n_iter_ < 200, len(clf.loss_curve_) == clf.n_iter_  # the loss stopped improving by tol
    (True, True)
    >>> [c.shape for c in clf.coefs_], [b.shape for b in clf.intercepts_]  # (n_in, n_out), as scikit-learn
    ([(2, 16), (16, 3)], [(16,), (3,)])
    >>> clf.score(X, y) > 0.9  # accuracy on three well-separated blobs
    True
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        self._validate_params()
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes in the data, but the data "
                             f"contains only one class: {classes[0]!r}")
        if self.warm_start and hasattr(self, "classes_") and not np.array_equal(classes, self.classes_):
            raise ValueError(f"MLPClassifier: warm_start can only be used where y has the same classes as in "
                             f"the previous call to fit: {self.classes_.tolist()} then, {classes.tolist()} now")
        self.classes_ = classes
        self._fit(X, codes.astype(np.int64), len(classes), losses.SoftmaxCrossEntropy())
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, from the current weights and optimizer state.

        ``classes`` (every class of the whole task) is required on the first call, as in
        scikit-learn; ``y`` need not hold them all.

        Examples
        --------
        >>> import numpy as np, anynet as an
        >>> from anynet.sklearn import MLPClassifier
        >>> X, y = an.datasets.make_blobs(90, noise=0.2, seed=0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
        >>> for start in range(0, 90, 30):
        ...     clf = clf.partial_fit(X[start:start + 30], y[start:start + 30], classes=[0, 1, 2])
        >>> len(clf.loss_curve_), clf.n_iter_, [c.shape for c in clf.coefs_]
        (3, 1, [(2, 8), (8, 3)])
        """
        first = not hasattr(self, "classes_")
        if first:
            self._validate_params()
            if classes is None:
                raise ValueError("MLPClassifier: classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError(f"MLPClassifier: classes must hold at least 2 classes, got {self.classes_}")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"MLPClassifier: classes={list(classes)} differs from the classes of the first "
                             f"partial_fit call, {self.classes_.tolist()}")
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32], reset=first)
        check_classification_targets(y)
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"MLPClassifier: y holds labels {unknown.tolist()} not among classes "
                             f"{self.classes_.tolist()}")
        codes = np.searchsorted(self.classes_, y)
        self._fit(X, codes.astype(np.int64), len(self.classes_), losses.SoftmaxCrossEntropy(), incremental=True)
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
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.02,
    ...                    random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape, reg.n_iter_ < 300
    ((3,), True)
    >>> reg.score(X, y) > 0.9  # R^2
    True
    """

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        self._validate_params()
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if self._y_1d else y
        self._fit(X, Y.astype(np.float64), Y.shape[1], losses.MSE())
        return self

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over ``(X, y)``, from the current weights and optimizer state.

        Examples
        --------
        >>> import numpy as np
        >>> from anynet.sklearn import MLPRegressor
        >>> X = np.random.default_rng(0).uniform(-1, 1, size=(60, 2))
        >>> reg = MLPRegressor(hidden_layer_sizes=(4,), random_state=0)
        >>> reg = reg.partial_fit(X, X[:, 0]).partial_fit(X, X[:, 0])
        >>> len(reg.loss_curve_), reg.coefs_[0].shape, reg.intercepts_[1].shape
        (2, (2, 4), (1,))
        """
        first = not hasattr(self, "model_")
        if first:
            self._validate_params()
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True,
                              reset=first)
        if first:
            self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._fit(X, Y.astype(np.float64), Y.shape[1], losses.MSE(), incremental=True)
        return self

    def predict(self, X: Any) -> np.ndarray:
        y = self._forward(X)
        return y[:, 0] if self._y_1d else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
