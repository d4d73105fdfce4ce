"""The parity run in small (a few steps): the session's backend against NumPy float64,
float64 within 1e-10 and float32 within 1e-4 (``python -m anynet.parity`` is the full run)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import anynet as an
from anynet import parity


def _assert_rows_pass(rows, columns):
    compared = [r for r in rows if not r.reference]
    assert compared, "nothing was compared"
    for row in compared:
        assert row.error is None, row.error
        assert row.tolerance == parity.RTOL[row.dtype]
        assert set(row.diffs) == set(columns)
        for col in columns:
            assert row.diffs[col] <= row.tolerance, (row.backend, row.dtype, col, row.diffs[col],
                                                     row.worst[col])
        assert row.passed


def test_training_matches_numpy_float64(be):
    rows = parity.training_parity([be], ("float64", "float32"), steps=6,
                                  cases=parity.train_cases(quick=True))
    assert [r.dtype for r in rows] == ["float64", "float32"]
    _assert_rows_pass(rows, ("loss", "params"))


def test_layers_and_losses_match_numpy_float64(be):
    rows = parity.layer_parity([be], ("float64", "float32"))
    _assert_rows_pass(rows, ("forward", "backward"))


def test_every_layer_and_loss_is_in_the_layer_table():
    names = {type(c.fn).__name__ for c in parity.layer_cases()}
    layers = {name for name in an.layers.__all__
              if name != "Layer" and isinstance(getattr(an.layers, name), type)}
    loss_names = {n for n in an.losses.__all__ if n != "Loss" and isinstance(getattr(an.losses, n), type)
                  and issubclass(getattr(an.losses, n), an.losses.Loss)}
    assert layers <= names, layers - names
    assert loss_names <= names, loss_names - names


def test_rel_diff_is_relative_to_the_reference_scale():
    assert parity.rel_diff([1.0, 2.0], [1.0, 4.0]) == 0.5
    assert parity.rel_diff([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert parity.rel_diff([1e-31], [0.0]) == pytest.approx(0.1)  # the 1e-30 floor
    assert parity.rel_diff([np.nan], [1.0]) == np.inf
    with pytest.raises(ValueError, match=r"relative_error: shapes differ: \(2,\) and \(3,\)"):
        parity.rel_diff(np.ones(2), np.ones(3))


def test_a_perturbed_run_fails_its_row():
    """The comparison can fail: a run whose weights differ by 1e-3 of their scale fails float32."""
    np_be = an.backends.get_backend("numpy")
    case = parity.train_cases(quick=True)[0]
    ref = parity.train(case, np_be, "float64", steps=3)
    bad_params = [{k: v.copy() for k, v in p.items()} for p in ref.params]
    w = bad_params[0]["W"]
    w[0, 0] += 1e-3 * np.abs(w).max()
    bad = dataclasses.replace(ref, params=bad_params)
    row = parity.Row("numpy (cpu)", "float32", {}, {}, parity.RTOL["float32"])
    parity.compare_runs(row, case.name, bad, ref)
    assert row.diffs["loss"] == 0.0
    assert row.diffs["params"] == pytest.approx(1e-3)
    assert not row.passed
    errored = parity.Row("x", "float64", {}, {}, 1e-10, error="boom")
    assert not errored.passed


def test_training_is_reproducible_and_uses_every_step():
    np_be = an.backends.get_backend("numpy")
    case = parity.train_cases(quick=True)[1]
    a = parity.train(case, np_be, "float64", steps=4)
    b = parity.train(case, np_be, "float64", steps=4)
    assert a.losses.shape == (4,)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert len(set(a.losses.tolist())) == 4  # a new batch and new weights each step


def test_command_line_prints_both_tables(be, capsys):
    rc = parity.main(["--backends", be.name, "--quick", "--steps", "2", "--dtypes", "float32"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Training: 5 runs per row" in out and "Layers and losses: 27 cases per row" in out
    assert out.count("rel diff = max|a - b| / max(max|b|, 1e-30)") == 2
    assert "FAIL" not in out and out.rstrip().splitlines()[-1].startswith("parity: PASS")


def test_a_named_backend_that_cannot_run_fails_the_run(capsys):
    missing = [name for name, why in an.available_backends().items() if why is not None]
    if not missing:
        pytest.skip("every backend can run here: none to name that cannot")
    rc = parity.main(["--backends", f"numpy,{missing[0]}", "--quick", "--steps", "1",
                      "--dtypes", "float64"])
    out = capsys.readouterr().out
    assert rc == 1
    assert f"FAIL: cannot run {missing[0]}" in out
    assert f"{missing[0]} (cannot run)" in out.rstrip().splitlines()[-1]
