"""anynet.metrics and the model's probabilities and labels, on the session backend, against
scikit-learn's implementations (the reference) and NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

skm = pytest.importorskip("sklearn.metrics", reason="scikit-learn (the reference) is not installed here")

M = an.metrics


def _scores(n=200, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c)), rng.integers(0, c, size=n)


def _on(be, *arrays, dtype="float64"):
    return [be.asarray(a, dtype=dtype if a.dtype.kind == "f" else None) for a in arrays]


# ------------------------------------------------------------------ probabilities and labels
def test_probabilities_and_labels_follow_the_output_or_the_loss(be):
    z, _ = _scores(20, 3)
    (Z,) = _on(be, z)
    p = M.probabilities(Z)
    assert be.owns(p)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(to_numpy(p), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(M.labels(Z)), z.argmax(axis=1))
    one = z[:, :1]
    (Z1,) = _on(be, one)
    np.testing.assert_allclose(to_numpy(M.probabilities(Z1)), 1 / (1 + np.exp(-one)), rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(M.labels(Z1)), (one[:, 0] > 0).astype(int))
    # the loss decides: probabilities taken as they are, a 0.5 threshold
    probs = 1 / (1 + np.exp(-one))
    (P,) = _on(be, probs)
    bce_p = an.losses.BinaryCrossEntropy(from_logits=False)
    np.testing.assert_allclose(to_numpy(M.probabilities(P, loss=bce_p)), probs)
    np.testing.assert_array_equal(to_numpy(M.labels(P, loss=bce_p)), (probs[:, 0] > 0.5).astype(int))
    # multi-label BCE: a sigmoid per output; labels refuse
    np.testing.assert_allclose(to_numpy(M.probabilities(Z, loss=an.losses.BinaryCrossEntropy())),
                               1 / (1 + np.exp(-z)), rtol=1e-12)
    with pytest.raises(ValueError, match="multi-label"):
        M.labels(Z, loss=an.losses.BinaryCrossEntropy())
    with pytest.raises(ValueError, match="MSE is not a classification loss"):
        M.probabilities(Z, loss=an.losses.MSE())


def test_probabilities_stay_finite_for_huge_logits(be):
    (Z,) = _on(be, np.asarray([[1e4, -1e4], [-1e4, 1e4]]))
    p = to_numpy(M.probabilities(Z))
    assert np.all(np.isfinite(p)) and p[0, 0] == 1.0 and p[1, 1] == 1.0
    q = to_numpy(M.probabilities(Z[:, :1]))
    assert np.all(np.isfinite(q)) and q[0, 0] == 1.0 and q[1, 0] == 0.0


def test_model_predict_proba_and_classes(be):
    x, t = an.datasets.make_blobs(90, noise=0.2, seed=0)
    model = an.Sequential(an.layers.mlp(2, (8,), 3), seed=0)
    model.fit(x, t, loss="softmax_cross_entropy", optimizer="adam", epochs=30, verbose=0)
    p, c = model.predict_proba(x), model.predict_classes(x)
    assert be.owns(p) and tuple(p.shape) == (90, 3) and tuple(c.shape) == (90,)
    np.testing.assert_allclose(to_numpy(p).sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(to_numpy(c), to_numpy(model.predict(x)).argmax(axis=1))
    acc = model.evaluate(x, t, loss=an.losses.SoftmaxCrossEntropy())["accuracy"]
    assert np.mean(to_numpy(c) == t) == pytest.approx(acc)  # the same decisions as fit's accuracy
    binary = an.Sequential(an.layers.mlp(2, (8,), 1), seed=0)
    pb = to_numpy(binary.predict_proba(x))
    assert pb.shape == (90, 1) and np.all((pb > 0) & (pb < 1))
    np.testing.assert_array_equal(to_numpy(binary.predict_classes(x, loss="bce")), (pb[:, 0] > 0.5).astype(int))
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        model.predict_proba(x, loss="nope")


# ------------------------------------------------------------------ metrics against scikit-learn
@pytest.mark.parametrize("c", [2, 4])
def test_precision_recall_f1_match_scikit_learn(be, c):
    z, t = _scores(300, c, seed=c)
    pred = z.argmax(axis=1)
    pred[pred == c - 1] = 0  # a class never predicted: zero_division=0, as scikit-learn
    T, P = _on(be, t, pred)
    p, r, f = M.precision_recall_f1(T, P, c)
    kw = dict(average="macro", zero_division=0)
    assert p == pytest.approx(skm.precision_score(t, pred, **kw), rel=1e-6)
    assert r == pytest.approx(skm.recall_score(t, pred, **kw), rel=1e-6)
    assert f == pytest.approx(skm.f1_score(t, pred, **kw), rel=1e-6)
    per = M.precision_recall_f1(T, P, c, average=None)
    ref = skm.precision_recall_fscore_support(t, pred, labels=list(range(c)), zero_division=0)[:3]
    for mine, theirs in zip(per, ref):
        np.testing.assert_allclose(to_numpy(mine), theirs, rtol=1e-6)
    if c == 2:
        got = M.precision_recall_f1(T, P, 2, average="binary")
        want = skm.precision_recall_fscore_support(t, pred, average="binary", zero_division=0)[:3]
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_macro_average_skips_classes_absent_from_targets_and_predictions(be):
    t, pred = np.asarray([0, 0, 1, 1]), np.asarray([0, 1, 1, 1])  # class 2 of 3 never seen
    T, P = _on(be, t, pred)
    assert M.f1_score(T, P, 3) == pytest.approx(skm.f1_score(t, pred, average="macro"))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_matches_scikit_learn(be, k):
    z, t = _scores(250, 5, seed=k)
    Z, T = _on(be, z, t)
    assert M.top_k_accuracy(T, Z, k=k) == pytest.approx(skm.top_k_accuracy_score(t, z, k=k, labels=range(5)))


def test_roc_auc_matches_scikit_learn_with_ties(be):
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, size=400)
    s = np.round(rng.normal(size=400) + t, 1)  # rounded: many ties, which count one half
    T, S = _on(be, t, s)
    assert M.roc_auc_score(T, S) == pytest.approx(skm.roc_auc_score(t, s), rel=1e-12)
    assert np.isnan(M.roc_auc_score(*_on(be, np.zeros(5, dtype=np.int64), s[:5])))


def test_regression_metrics_match_scikit_learn(be):
    rng = np.random.default_rng(4)
    t = rng.normal(size=(100, 3))
    y = t + 0.3 * rng.normal(size=(100, 3))
    T, Y = _on(be, t, y)
    assert M.mean_absolute_error(T, Y) == pytest.approx(skm.mean_absolute_error(t, y), rel=1e-12)
    assert M.r2_score(T, Y) == pytest.approx(skm.r2_score(t, y), rel=1e-12)
    const = np.ones((10, 1))
    C, C2 = _on(be, const, const + 1.0)
    assert M.r2_score(C, C) == skm.r2_score(const, const) == 1.0
    assert M.r2_score(C, C2) == skm.r2_score(const, const + 1.0) == 0.0


def test_metric_objects_by_name(be):
    z, t = _scores(120, 3)
    Z, T = _on(be, z, t)
    out = M.compute([M.get(n) for n in ("precision", "recall", "f1", "f1_per_class", "top_k_accuracy")],
                    Z, T, loss=an.losses.SoftmaxCrossEntropy(), prefix="val_")
    pred = z.argmax(axis=1)
    assert out["val_f1"] == pytest.approx(skm.f1_score(t, pred, average="macro"))
    assert out["val_f1_2"] == pytest.approx(skm.f1_score(t, pred, average=None)[2])
    assert out["val_top_k_accuracy"] == 1.0  # k=5 of 3 classes
    assert M.get(M.TopKAccuracy(k=2, name="top2")) == M.TopKAccuracy(k=2, name="top2")
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        M.get("bleu")
    with pytest.raises(ValueError, match="binary tasks"):
        M.ROCAUC()(Z, T)


# ------------------------------------------------------------------ metrics in fit and evaluate
def test_fit_and_evaluate_report_metrics_per_epoch_as_scikit_learn_computes_them(be):
    x, t = an.datasets.make_blobs(150, noise=0.6, seed=0)
    xv, tv = an.datasets.make_blobs(60, noise=0.6, seed=1)
    model = an.Sequential(an.layers.mlp(2, (8,), 3), seed=0)
    names = ["accuracy", "precision", "recall", "f1", "f1_per_class", M.TopKAccuracy(k=2)]
    hist = model.fit(x, t, loss="softmax_cross_entropy", optimizer=an.optim.Adam(lr=0.02), epochs=4,
                     batch_size=32, validation_data=(xv, tv), metrics=names, verbose=0)
    keys = {"precision", "recall", "f1", "f1_0", "f1_1", "f1_2", "top_k_accuracy"}
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"} | keys | {f"val_{k}" for k in keys}
    assert all(len(v) == 4 for v in hist.history.values())
    for data, target, prefix in ((x, t, ""), (xv, tv, "val_")):
        scores = to_numpy(model.predict(data)).astype(np.float64)
        pred = scores.argmax(axis=1)
        h = {k: v[-1] for k, v in hist.history.items()}  # the last epoch: the model's weights now
        assert h[prefix + "f1"] == pytest.approx(skm.f1_score(target, pred, average="macro"), rel=1e-6)
        assert h[prefix + "precision"] == pytest.approx(
            skm.precision_score(target, pred, average="macro", zero_division=0), rel=1e-6)
        assert h[prefix + "recall"] == pytest.approx(skm.recall_score(target, pred, average="macro"), rel=1e-6)
        assert h[prefix + "f1_1"] == pytest.approx(skm.f1_score(target, pred, average=None, labels=[0, 1, 2])[1])
        assert h[prefix + "top_k_accuracy"] == pytest.approx(skm.top_k_accuracy_score(target, scores, k=2))
    # val_accuracy is the final model's too; the training accuracy counts the decisions made during the epoch
    assert hist.history["val_accuracy"][-1] == pytest.approx(skm.accuracy_score(tv, pred))
    ev = model.evaluate(xv, tv, loss="softmax_cross_entropy", metrics=["f1"])
    assert ev["f1"] == pytest.approx(hist.history["val_f1"][-1])


def test_binary_and_regression_metrics_in_fit(be):
    x, t = an.datasets.make_moons(120, noise=0.3, seed=0)
    model = an.Sequential(an.layers.mlp(2, (8,), 1), seed=0)
    hist = model.fit(x, t, loss="binary_crossentropy", optimizer="adam", epochs=3, metrics=["roc_auc", "f1"],
                     verbose=0)
    z = to_numpy(model.predict(x))[:, 0].astype(np.float64)
    assert hist.history["roc_auc"][-1] == pytest.approx(skm.roc_auc_score(t, z), rel=1e-6)
    assert hist.history["f1"][-1] == pytest.approx(skm.f1_score(t, (z > 0).astype(int)), rel=1e-6)  # binary
    rng = np.random.default_rng(0)
    xr = rng.normal(size=(100, 3))
    tr = xr @ np.asarray([1.0, -2.0, 0.5])
    reg = an.Sequential(an.layers.mlp(3, (8,), 1), seed=0)
    h = reg.fit(xr, tr, loss="mse", optimizer="adam", epochs=3, metrics=["mae", "r2"], verbose=0)
    y = to_numpy(reg.predict(xr))[:, 0].astype(np.float64)
    assert h.history["mae"][-1] == pytest.approx(skm.mean_absolute_error(tr, y), rel=1e-5)
    assert h.history["r2"][-1] == pytest.approx(skm.r2_score(tr, y), rel=1e-5)
    with pytest.raises(ValueError, match="fit: metric 'accuracy' needs a classification loss, not MSE"):
        reg.fit(xr, tr, loss="mse", optimizer="adam", metrics=["accuracy"], verbose=0)
    with pytest.raises(ValueError, match="fit: unknown metric 'f2'"):
        reg.fit(xr, tr, loss="mse", optimizer="adam", metrics=["f2"], verbose=0)


def test_classification_report_has_scikit_learns_numbers(be):
    z, t = _scores(300, 3, seed=5)
    pred = z.argmax(axis=1)
    T, P = _on(be, t, pred)
    text = M.classification_report(T, P, 3, class_names=["a", "b", "c"], digits=6)
    ref = skm.classification_report(t, pred, digits=6, output_dict=True, zero_division=0)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:] if line and not line[0].isspace()}
    for name, label in zip("abc", "012"):
        p, r, f, n = rows[name]
        assert float(p) == pytest.approx(ref[label]["precision"], abs=1e-6)
        assert float(r) == pytest.approx(ref[label]["recall"], abs=1e-6)
        assert float(f) == pytest.approx(ref[label]["f1-score"], abs=1e-6)
        assert int(n) == ref[label]["support"]
    assert float(rows["accuracy"][0]) == pytest.approx(ref["accuracy"], abs=1e-6)
    assert [float(v) for v in rows["macro"][1:4]] == pytest.approx(
        [ref["macro avg"][k] for k in ("precision", "recall", "f1-score")], abs=1e-6)
    with pytest.raises(ValueError, match="classification_report: 2 class names for 3 classes"):
        M.classification_report(T, P, 3, class_names=["a", "b"])
