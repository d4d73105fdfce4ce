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

# Short runs on purpose here: "max_iter reached without converging" is expected, and tested on its own
# (test_convergence_warning_and_stopping_on_the_training_loss).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

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
    with pytest.raises(ValueError, match="The 'activation' parameter of MLPClassifier must be a str among"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="The 'solver' parameter of MLPClassifier must be a str among"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(X, np.zeros(4))


def test_early_stopping(be):
    d = an.datasets.load("digits")
    clf = MLPClassifier(max_iter=200, early_stopping=True, n_iter_no_change=3, learning_rate_init=0.01,
                        random_state=0).fit(d.x_train, d.t_train)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_


# ------------------------------------------------------------------ as scikit-learn's MLPClassifier
@pytest.mark.parametrize("bad", [0, -5, 7.5, "big"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_parameter_validation_refuses_bad_batch_sizes(Est, bad, be):
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(InvalidParameterError, match=f"The 'batch_size' parameter of {Est.__name__} must be"):
        Est(batch_size=bad, max_iter=2).fit(X, y)
    with pytest.raises(InvalidParameterError, match="The 'tol' parameter"):
        Est(tol=-1.0).fit(X, y)


def test_coefs_are_in_scikit_learns_orientation(be):
    X, y = an.datasets.make_blobs(60, noise=0.3, seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0, dtype="float64").fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(2, 5), (5, 3)] and [b.shape for b in clf.intercepts_] == [(5,), (3,)]
    np.testing.assert_array_equal(clf.coefs_[0], an.backends.to_numpy(clf.model_.params[0]["W"]).T)
    h = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0.0)  # scikit-learn's own forward pass
    z = h @ clf.coefs_[1] + clf.intercepts_[1]
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[z.argmax(axis=1)])


def test_convergence_warning_and_stopping_on_the_training_loss(be):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP
    X, y = an.datasets.make_blobs(60, noise=0.3, seed=0)
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\) reached"):
        MLPClassifier(max_iter=3, tol=0.0, random_state=0).fit(X, y)
    # a tol no epoch can beat: the count passes n_iter_no_change after n_iter_no_change + 2 epochs,
    # exactly when scikit-learn's own MLPClassifier stops
    clf = MLPClassifier(max_iter=100, tol=10.0, n_iter_no_change=3, random_state=0).fit(X, y)
    ref = SkMLP(max_iter=100, tol=10.0, n_iter_no_change=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == ref.n_iter_ == 5 and len(clf.loss_curve_) == 5
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None


def test_warm_start_continues_from_the_last_weights(be):
    X, y = an.datasets.make_blobs(90, noise=0.5, seed=0)
    kw = dict(hidden_layer_sizes=(8,), max_iter=4, tol=0.0, random_state=0)
    warm = MLPClassifier(warm_start=True, **kw).fit(X, y)
    first = list(warm.loss_curve_)
    warm.fit(X, y)
    assert len(warm.loss_curve_) == 8 and warm.loss_curve_[:4] == first  # continued, as scikit-learn
    assert warm.loss_curve_[4] < first[0]
    cold = MLPClassifier(**kw).fit(X, y).fit(X, y)
    assert cold.loss_curve_ == first  # refit from scratch: the same run again
    with pytest.raises(ValueError, match="warm_start can only be used where y has the same classes"):
        warm.fit(X, np.where(y == 2, 3, y))


def test_partial_fit_runs_one_epoch_and_keeps_the_optimizer_state(be):
    X, y = an.datasets.make_blobs(90, noise=0.3, seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), batch_size=30, learning_rate_init=0.05, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        clf.partial_fit(X, y)
    for _ in range(20):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 20
    assert float(clf.model_.opt_state["step"]) == 20 * 3  # Adam's moments carried over every call
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match=r"y holds labels \[7\] not among classes"):
        clf.partial_fit(X[:3], np.asarray([0, 1, 7]))
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPRegressor(early_stopping=True).partial_fit(X, y.astype(float))


def test_early_stopping_scores_and_restores_the_best_epoch(be):
    d = an.datasets.load("digits")
    clf = MLPClassifier(max_iter=60, early_stopping=True, n_iter_no_change=2, learning_rate_init=0.05,
                        random_state=0).fit(d.x_train, d.t_train)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ and all(0.0 <= s <= 1.0 for s in scores)  # accuracies
    assert clf.best_validation_score_ == max(scores)
    reg = MLPRegressor(max_iter=30, early_stopping=True, random_state=0).fit(d.x_train, d.t_train.astype(float))
    assert len(reg.validation_scores_) == reg.n_iter_ and max(reg.validation_scores_) <= 1.0  # R^2


def test_early_stopping_puts_back_the_best_epochs_weights(be):
    """With early_stopping the weights at the end are those of the best validation epoch: the
    held-out rows (the estimator's own split, rebuilt here from random_state) score exactly
    best_validation_score_, even when a later epoch scored lower."""
    d = an.datasets.load("digits")
    x, t = d.x_train[:600], d.t_train[:600]
    for lr in (0.05, 0.2):  # the higher rate makes later epochs worse than the best one
        clf = MLPClassifier(max_iter=40, early_stopping=True, n_iter_no_change=3, learning_rate_init=lr,
                            random_state=0, solver="sgd").fit(x, t)
        seed = int(np.random.RandomState(0).randint(0, 2**31 - 1))
        val = np.random.default_rng(seed).permutation(len(x))[:max(1, round(clf.validation_fraction * len(x)))]
        assert clf.score(x[val], t[val]) == pytest.approx(clf.best_validation_score_, abs=1e-12)
        if clf.validation_scores_[-1] < clf.best_validation_score_:
            break
    else:
        pytest.fail(f"no run ended below its best epoch: {clf.validation_scores_}")
