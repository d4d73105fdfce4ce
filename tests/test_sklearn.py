"""anynet.sklearn: scikit-learn's own estimator checks, Pipeline and GridSearchCV, on the session backend.

The jax session skips the estimator checks (the reason is in the test); the
other sessions run them. Checks scikit-learn itself skips here, with its reasons: ``check_array_api_input``
("SCIPY_ARRAY_API is not set") and ``check_classifier_data_not_an_array`` /
``check_regressor_data_not_an_array`` ("pandas is not installed"). Every other
check runs and passes.
"""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed in this session")

from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import anynet as an  # noqa: E402
from anynet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# float64: some checks compare predictions on a whole set and on its subsets at atol=1e-7,
# finer than float32's rounding differences between BLAS blockings.
ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, learning_rate_init=0.01, random_state=0,
                  dtype="float64"),
    MLPRegressor(hidden_layer_sizes=(32,), max_iter=200, learning_rate_init=0.01, random_state=0,
                 dtype="float64"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check, be):
    if be.name == "jax":
        pytest.skip("scikit-learn's checks fit about a hundred tiny models of ever new shapes, and JAX "
                    "compiles every new shape anew (minutes in all); the estimator code is the same on "
                    "every backend, and the numpy, numpy_readonly, array_api_strict and torch sessions "
                    "run these checks. The other tests of this file run on JAX.")
    check(estimator)


def test_pipeline_and_grid_search_on_the_digits(be):
    d = an.datasets.load("digits")
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=15, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (64,)]}, cv=2)
    grid.fit(d.x_train, d.t_train)
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(16,), (64,)]
    assert grid.score(d.x_test, d.t_test) > 0.9
    clf = grid.best_estimator_[-1]
    assert clf.model_.backend == be


def test_classifier_keeps_labels_and_probabilities(be):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, learning_rate_init=0.05, random_state=1).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    p = clf.predict_proba(X)
    assert p.shape == (60, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"no", "yes"} and clf.score(X, y) > 0.9
    assert clf.n_iter_ == 60 and len(clf.loss_curve_) == 60


def test_regressor_single_and_multi_output(be):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = X @ np.array([1.5, -2.0]) + 0.3
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=150, learning_rate_init=0.02, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (80,) and reg.score(X, y) > 0.9
    Y = np.stack([y, -y], axis=1)
    assert MLPRegressor(max_iter=5, random_state=0).fit(X, Y).predict(X).shape == (80, 2)


def test_backend_parameter_and_errors(be):
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    clf = MLPClassifier(max_iter=2, backend="numpy", random_state=0).fit(X, y)
    assert clf.model_.backend.name == "numpy"
    with pytest.raises(ValueError, match="activation must be one of"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="solver must be 'adam', 'sgd' or 'rmsprop'"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(X, np.zeros(4))


def test_early_stopping(be):
    d = an.datasets.load("digits")
    clf = MLPClassifier(max_iter=200, early_stopping=True, n_iter_no_change=3, learning_rate_init=0.01,
                        random_state=0).fit(d.x_train, d.t_train)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
