"""``anynet train`` on the user's own files (issue 13): a CSV table with a target column, a pair
of ``.npy`` files, classification by label names or regression, the test split, and the
options ``--val-split``, ``--patience``, ``--dropout``, ``--weight-decay``, each checked by what
it does. Every mistake in the files or the options is an error before training starts.

The commands run in this process on the session's backend (``cli.main`` inside
``an.using(be)``); the data are small and the runs a few epochs long."""

from __future__ import annotations

import numpy as np
import pytest

import anynet as an
from anynet import cli

SPECIES = ("cat", "dog", "emu")  # sorted: the class ids anynet gives them are 0, 1, 2


def usage(capsys, *args):
    """``anynet ARGS`` that must end in a usage error: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in args])
    return exc.value.code, capsys.readouterr().err


def animals(n=300, seed=0):
    """Raw features of three separable classes, on very different scales (so that the
    standardization matters), and their labels as words."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    label = np.where(z[:, 0] + z[:, 1] > 0.5, 2, np.where(z[:, 2] > 0, 1, 0))
    x = z * [1.0, 10.0, 100.0] + [5.0, 50.0, 500.0]
    return x, np.asarray(SPECIES)[label]


def write_csv(path, x, labels, header="height,weight,age,species"):
    rows = [",".join(f"{v:.6g}" for v in r) + f",{lab}" for r, lab in zip(x, labels)]
    path.write_text((header + "\n" if header else "") + "\n".join(rows) + "\n")
    return path


def split_sizes(labels, test_size=0.2):
    """(train, test) sizes of a stratified split: of each class ``round(test_size * count)``."""
    n_test = int(sum(round(test_size * c) for c in np.unique(labels, return_counts=True)[1]))
    return len(labels) - n_test, n_test


def final_numbers(out):
    """The numbers of the last line: 'test accuracy: A  test loss: L ...' as a dict."""
    line = [s for s in out.splitlines() if s.startswith("test ")][-1]
    parts = line.replace("  ", "|").split("|")
    return {k.strip(): float(v) for k, v in (p.split(": ")[:2] for p in parts if ": " in p)}


# ------------------------------------------------------------------ CSV with a header, words as labels
def test_csv_with_word_labels_trains_and_predict_prints_the_names(anynet_cmd, tmp_path):
    x, labels = animals()
    data = write_csv(tmp_path / "animals.csv", x, labels)
    model = tmp_path / "m.npz"
    code, out, err = anynet_cmd("train", "--data", data, "--target", "species", "--hidden", "32",
                                "--epochs", "30", "--save", model)
    assert code == 0, err
    n_train, n_test = split_sizes(labels)
    assert f"animals, {n_train} train / {n_test} test samples, 3 classes (cat, dog, emu)" in out
    assert final_numbers(out)["test accuracy"] >= 0.9
    assert "cat" in out.split("precision")[1]  # the classification report names the classes

    saved = an.io.load_checkpoint(model).extra
    assert saved["class_names"] == list(SPECIES) and saved["target"] == "species"
    assert saved["feature_names"] == ["height", "weight", "age"] and saved["task"] == "classification"
    assert np.allclose(saved["mean"], x[:, :3].mean(axis=0), rtol=0.1)  # the raw scale, from the train part

    # raw rows as in the training file, the target column left out: the names come back
    inputs = tmp_path / "new.csv"
    np.savetxt(inputs, x, delimiter=",", header="height,weight,age", comments="")
    code, out, err = anynet_cmd("predict", "--model", model, "--input", inputs)
    assert code == 0, err
    predicted = out.split()
    assert len(predicted) == len(x) and set(predicted) <= set(SPECIES)
    assert np.mean(np.asarray(predicted) == labels) >= 0.9
    # the training file itself, target column and all: the error says to leave the target out
    code, _, err = anynet_cmd("predict", "--model", model, "--input", data)
    assert code == 1 and "leave out the target column 'species'" in err


def test_csv_without_header_takes_a_column_index(anynet_cmd, tmp_path):
    x, labels = animals(200)
    ids = np.searchsorted(SPECIES, labels) + 1  # whole numbers 1, 2, 3: classes under --task auto
    data = tmp_path / "plain.csv"
    np.savetxt(data, np.column_stack([ids, x]), delimiter=",", fmt="%.6g")
    code, out, err = anynet_cmd("train", "--data", data, "--target", "0", "--hidden", "32", "--epochs", "30")
    assert code == 0, err
    n_train, n_test = split_sizes(labels)
    assert f"{n_train} train / {n_test} test samples, 3 classes (1, 2, 3)" in out
    assert final_numbers(out)["test accuracy"] >= 0.85


def test_test_split_is_seeded_and_stratified(anynet_cmd, tmp_path):
    x, labels = animals(100)
    data = write_csv(tmp_path / "a.csv", x, labels)
    code, out, err = anynet_cmd("train", "--data", data, "--target", "-1", "--test-split", "0.3",
                                "--epochs", "1", "--hidden", "4")
    assert code == 0, err
    n_train, n_test = split_sizes(labels, 0.3)  # of each class its share
    assert f"{n_train} train / {n_test} test samples" in out
    code, out, err = anynet_cmd("train", "--dataset", "iris", "--test-split", "0.1", "--epochs", "1", "--quiet")
    assert code == 0, err


# ------------------------------------------------------------------ .npy pairs, regression
def test_npy_pair_classification(anynet_cmd, tmp_path):
    x, labels = animals(200)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", np.searchsorted(SPECIES, labels))
    code, out, err = anynet_cmd("train", "--data", tmp_path / "x.npy", "--target", tmp_path / "t.npy",
                                "--hidden", "32", "--epochs", "30")
    assert code == 0, err
    assert "3 classes (0, 1, 2)" in out and final_numbers(out)["test accuracy"] >= 0.85


def test_npy_regression_reports_mae_and_r2_and_predicts_raw_values(anynet_cmd, tmp_path):
    x, _ = animals(300)
    z = (x - [5.0, 50.0, 500.0]) / [1.0, 10.0, 100.0]
    y = 10.0 * (z @ [1.0, 2.0, 3.0]) + 7.0  # values of std ~37 around 7: fractions, so regression
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    model = tmp_path / "r.npz"
    code, out, err = anynet_cmd("train", "--data", tmp_path / "x.npy", "--target", tmp_path / "y.npy",
                                "--hidden", "32", "--epochs", "60", "--save", model)
    assert code == 0, err
    assert "regression" in out and "accuracy" not in out and "precision" not in out
    result = final_numbers(out)
    assert result["test R^2"] > 0.95 and result["test MAE"] < 0.25 * y.std()
    np.save(tmp_path / "new.npy", x[:20])
    code, out, err = anynet_cmd("predict", "--model", model, "--input", tmp_path / "new.npy")
    assert code == 0, err
    predicted = np.asarray(out.split(), dtype=float)
    assert predicted.shape == (20,)
    assert np.abs(predicted - y[:20]).mean() < 0.25 * y.std()  # raw units: the target scaling is folded in


def test_task_option_overrides_the_guess(anynet_cmd, tmp_path):
    x, labels = animals(120)
    ids = np.searchsorted(SPECIES, labels).astype(float)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", ids)
    code, out, err = anynet_cmd("train", "--data", tmp_path / "x.npy", "--target", tmp_path / "t.npy",
                                "--task", "regression", "--epochs", "2", "--hidden", "8")
    assert code == 0, err
    assert "regression" in out and "test R^2" in out
    data = write_csv(tmp_path / "a.csv", x, labels)
    code, _, err = anynet_cmd("train", "--data", data, "--target", "species", "--task", "regression")
    assert code == 1 and "the targets are text ('" in err and "regression needs numbers" in err


def test_auto_task_words_are_classes_and_many_whole_numbers_are_values(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(404, 2))
    words = [f"w{i:03d}" for i in range(202)] * 2  # 202 classes, two rows each: words are always labels
    write_csv(tmp_path / "w.csv", x, words, header="a,b,t")
    data = an.datasets.load_csv(tmp_path / "w.csv", "t", test_size=0.5)
    assert data.n_classes == 202 and data.t_train.dtype == np.int64
    prices = rng.integers(10_000, 90_000, size=404)  # whole numbers, nearly all distinct: values
    write_csv(tmp_path / "p.csv", x, prices, header="a,b,price")
    data = an.datasets.load_csv(tmp_path / "p.csv", "price")
    assert data.class_names == () and data.t_train.dtype == np.float32


# ------------------------------------------------------------------ mistakes, before training
def test_csv_without_target_is_a_usage_error_that_lists_the_columns(capsys, tmp_path):
    x, labels = animals(20)
    data = write_csv(tmp_path / "a.csv", x, labels)
    code, err = usage(capsys, "train", "--data", data)
    assert code == 2 and "give --target COLUMN" in err and "height, weight, age, species" in err
    np.save(tmp_path / "x.npy", x)
    code, err = usage(capsys, "train", "--data", tmp_path / "x.npy")
    assert code == 2 and "give --target LABELS.npy" in err
    code, err = usage(capsys, "train", "--data", tmp_path / "x.npy", "--target", "species")
    assert code == 2 and "--target must be a .npy file of the targets" in err


@pytest.mark.parametrize("args", [("--target", "species"), ("--dataset", "iris", "--target", "0"),
                                  ("--dataset", "iris", "--task", "regression")])
def test_target_or_task_with_a_bundled_dataset_is_a_usage_error(capsys, args):
    code, err = usage(capsys, "train", *args)
    assert err.startswith("usage: anynet train") and "anynet train: error: --" in err  # train's own usage
    assert code == 2 and ("--task applies to your own --data FILE" in err
                          or "--target picks the targets of your own --data FILE" in err)


def test_target_with_an_idx_directory_is_a_usage_error(capsys, tmp_path):
    code, err = usage(capsys, "train", "--data", tmp_path, "--target", "label")
    assert code == 2 and "--target applies to a .csv or .npy --data file" in err


@pytest.mark.parametrize("text, message", [
    ("a,b,label\n1,2,x\n3,4,y\n", r"has no column 'species'; its columns are 'a', 'b', 'label'"),
    ("a,colour,species\n1,red,x\n3,blue,y\n", r"column 'colour' holds text ('red' on line 2): features must be numbers"),
    ("a,b,species\n1,2,x\n3,,y\n", r"line 3, column 'b': an empty cell (a missing value)"),
    ("a,b,species\n1,2,x\n3,nan,y\n", r"line 3, column 'b' is nan: a missing or infinite value"),
    ("a,b,species\n1,2,x\n3,4,\n", r"line 3, column 'species' (the target): an empty cell"),
    ("a,b,species\n1,2,x\n3,4\n", r"line 3 has 2 values but line 1 has 3"),
    ("a;b;species\n1;2;x\n", r"line 1 has ';' between values"),
    ('a,b,species\n1,2,"x"\n', r"line 2 has quoted fields"),
    ("a,b,species\n1,2,x\n3,4,x\n", r"every target is 'x': one class"),
])
def test_data_errors_name_the_line_and_the_column(anynet_cmd, tmp_path, text, message):
    data = tmp_path / "bad.csv"
    data.write_text(text)
    save = tmp_path / "m.npz"
    code, out, err = anynet_cmd("train", "--data", data, "--target", "species", "--save", save)
    assert code == 1 and "anynet train: error:" in err, err
    assert message in err
    assert out == "" and not save.exists()  # nothing ran: the data are read and checked before a model exists


def test_npy_errors(anynet_cmd, tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "short.npy", np.arange(9) % 2)
    code, out, err = anynet_cmd("train", "--data", tmp_path / "x.npy", "--target", tmp_path / "short.npy")
    assert code == 1 and "x.npy holds 10 samples but" in err and "short.npy holds 9 targets" in err
    assert out == ""
    code, _, err = anynet_cmd("train", "--data", tmp_path / "x.npy", "--target", tmp_path / "none.npy")
    assert code == 1 and "--target" in err and "no such file" in err
    code, _, err = anynet_cmd("train", "--data", tmp_path / "none.csv", "--target", "a")
    assert code == 1 and "--data" in err and "no such file" in err
    x[3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", np.arange(10) % 2)
    code, _, err = anynet_cmd("train", "--data", tmp_path / "x.npy", "--target", tmp_path / "t.npy")
    assert code == 1 and "row 3, feature 1 is nan" in err


@pytest.mark.parametrize("option, value", [("--val-split", "1"), ("--val-split", "0"), ("--dropout", "1"),
                                           ("--dropout", "-0.1"), ("--weight-decay", "-1"),
                                           ("--patience", "-1"), ("--test-split", "0")])
def test_bad_option_values_are_usage_errors(capsys, option, value):
    code, err = usage(capsys, "train", option, value)
    assert code == 2 and f"argument {option}: expected" in err


# ------------------------------------------------------------------ the options reach fit and act
def test_patience_stops_early_on_a_validation_split_and_restores_the_best_weights(anynet_cmd, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    labels = rng.choice(["no", "yes"], size=200)  # nothing to learn: the validation loss soon rises
    data = write_csv(tmp_path / "noise.csv", x, labels, header="a,b,c,d,e,label")
    code, out, err = anynet_cmd("train", "--data", data, "--target", "label", "--patience", "2",
                                "--epochs", "200", "--hidden", "64", "--optimizer", "adam", "--lr", "0.01")
    assert code == 0, err
    # no --val-split: 0.1 of the 160 training samples validate, never the test set
    assert "the last 16 training samples validate (--val-split 0.1)" in out
    assert "EarlyStopping: stopped after epoch" in out and "restored the weights of epoch" in out
    stopped = int(out.split("EarlyStopping: stopped after epoch ")[1].split(":")[0])
    final = next(line for line in out.splitlines() if line.startswith("test accuracy"))
    assert stopped < 200 and f", {stopped} epochs," in final


def test_val_split_dropout_and_weight_decay_reach_fit(anynet_cmd, tmp_path, monkeypatch):
    seen = {}
    fit = an.Sequential.fit

    def spy(self, x, t, **kw):
        seen.update(kw, layers=[type(layer).__name__ for layer in self.layers], n=len(x))
        return fit(self, x, t, **kw)

    monkeypatch.setattr(an.Sequential, "fit", spy)
    x, labels = animals(100)
    data = write_csv(tmp_path / "a.csv", x, labels)
    code, out, err = anynet_cmd("train", "--data", data, "--target", "species", "--val-split", "0.25",
                                "--dropout", "0.3", "--weight-decay", "0.01", "--hidden", "8,8", "--epochs", "2")
    assert code == 0, err
    assert seen["validation_split"] == 0.25 and seen["validation_data"] is None
    assert seen["regularizer"] == an.losses.L2(0.01)
    assert seen["layers"] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert "the last 20 training samples validate (--val-split 0.25)" in out and "val_loss" in out
    assert "dropout 0.3, L2 weight decay 0.01" in out
    # with AdamW, --weight-decay is its decoupled decay, not an L2 term in the loss
    code, out, err = anynet_cmd("train", "--data", data, "--target", "species", "--optimizer", "adamw",
                                "--weight-decay", "0.05", "--epochs", "1", "--hidden", "8")
    assert code == 0, err
    assert seen["regularizer"] is None and seen["optimizer"].weight_decay == 0.05
    # the bundled datasets take the options too
    code, out, err = anynet_cmd("train", "--dataset", "xor", "--dropout", "0.1", "--val-split", "0.2",
                                "--epochs", "1", "--hidden", "8")
    assert code == 0, err
    assert seen["validation_split"] == 0.2 and "Dropout" in seen["layers"]


def test_weight_decay_shrinks_the_weights(anynet_cmd, tmp_path):
    x, labels = animals(200)
    data = write_csv(tmp_path / "a.csv", x, labels)
    norms = []
    for decay in ("0", "0.05"):
        model = tmp_path / f"m{decay}.npz"
        code, _, err = anynet_cmd("train", "--data", data, "--target", "species", "--weight-decay", decay,
                                  "--hidden", "16", "--epochs", "20", "--quiet", "--save", model)
        assert code == 0, err
        params = an.load(model, backend="numpy").params
        norms.append(sum(float(np.sum(np.asarray(p["W"]) ** 2)) for p in params if "W" in p))
    assert norms[1] < 0.7 * norms[0]  # lambda ||W||^2 in the loss pulls every weight towards 0
