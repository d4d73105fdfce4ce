"""anynet.use / using / backend / available_backends and moving arrays."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import anynet as an
from anynet.backends import to_numpy

from .conftest import assert_close


def test_use_returns_and_sets_the_current_backend(be):
    prev = an.backend()
    try:
        got = an.use("numpy")
        assert got is an.backend()
        assert got.name == "numpy" and got.device == "cpu"
        import array_api_compat.numpy as compat

        assert set(dir(compat)) - set(dir(got.xp)) <= {n for n in dir(compat) if n.startswith("__")}
    finally:
        an.use(prev)
    assert an.backend() is prev


def test_using_restores_on_exit_and_on_error(be):
    before = an.backend()
    with pytest.raises(RuntimeError, match="boom"):
        with an.using("numpy") as inner:
            assert an.backend() is inner
            raise RuntimeError("boom")
    assert an.backend() is before


def test_available_backends_reports_every_name_with_none_or_a_reason():
    avail = an.available_backends()
    assert set(avail) == set(an.BACKENDS)
    assert avail["numpy"] is None
    for name, why in avail.items():
        assert why is None or (isinstance(why, str) and name in why)


def test_unknown_backend_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown backend 'tensorflow'.*'numpy', 'jax'"):
        an.use("tensorflow")


def test_environment_variable_picks_the_default_backend():
    env = {**os.environ, "ANYNET_BACKEND": "array_api_strict"}
    code = "import anynet as an; print(an.backend().name)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if "not installed" in out.stderr:
        pytest.skip("array_api_strict is not installed in this session")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "array_api_strict"


def test_environment_variable_with_a_bad_name_fails_clearly_when_used_not_at_import():
    """``import anynet`` (and so ``anynet --help``) works; the first use of the default says why not."""
    env = {**os.environ, "ANYNET_BACKEND": "nope"}
    out = subprocess.run([sys.executable, "-c", "import anynet"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-c", "import anynet as an; an.backend()"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "ANYNET_BACKEND='nope'" in out.stderr and "unknown backend 'nope'" in out.stderr


def test_asarray_moves_numpy_in_and_back_out(be):
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    a = be.asarray(host, dtype="float32")
    assert_close(a, host, be, dtype="float32")
    assert np.array_equal(to_numpy(a), host.astype(np.float32))


def test_float64_is_available_on_request(be):
    a = be.asarray([1.0, 2.0], dtype="float64")
    assert a.dtype == be.dtype("float64")


def test_readonly_backend_really_hands_out_readonly_arrays(be):
    if be.name != "numpy_readonly":
        pytest.skip("only the numpy_readonly session checks its own guard")
    model = an.Sequential([an.layers.Linear(2, 2)], seed=0)
    with pytest.raises(ValueError, match="read-only"):
        model.params[0]["W"][0, 0] = 1.0


def test_float64_on_jax_turns_on_x64_and_says_so():
    code = (
        "import warnings, jax, anynet as an\n"
        "assert not jax.config.jax_enable_x64\n"
        "m32 = an.Sequential([an.layers.Linear(2, 2)], backend='jax')\n"
        "assert not jax.config.jax_enable_x64, 'float32 must leave x64 off'\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    m = an.Sequential([an.layers.Linear(2, 2)], dtype='float64', backend='jax')\n"
        "assert jax.config.jax_enable_x64\n"
        "assert str(m.params[0]['W'].dtype) == 'float64'\n"
        "print([str(x.message) for x in w])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if "No module named 'jax'" in out.stderr:
        pytest.skip("jax is not installed in this session")
    assert out.returncode == 0, out.stderr
    assert "turned on jax_enable_x64" in out.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_numpy_namespace_reductions_equal_array_api_compat(dtype):
    import array_api_compat.numpy as compat

    fast = an.backends.get_backend("numpy").xp
    x = (np.random.default_rng(0).normal(size=(4, 5)) * 10).astype(dtype)
    for fn in ("sum", "max", "min"):
        if fn == "sum" and dtype == "bool":
            continue
        for kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True}, {"axis": (0, 1)}):
            a, b = getattr(fast, fn)(x, **kw), getattr(compat, fn)(x, **kw)
            assert np.asarray(a).dtype == np.asarray(b).dtype and np.shape(a) == np.shape(b), (fn, kw)
            np.testing.assert_array_equal(a, b)
    if dtype == "float32":
        assert fast.sum(x, dtype=fast.float64).dtype == np.float64


_FAULTS = """
import resource, sys
import numpy as np
import anynet as an
tuned = an.backends.get_backend("numpy") is not None and an.backends._memory.keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():  # a training step's pattern: many arrays of a few MiB alive at once, then freed
    arrays = [np.ones((1 << 19,), np.float32) for _ in range(8)]  # 8 x 2 MiB
    return float(sum(a[-1] for a in arrays))
for _ in range(3):
    step()
before = faults()
for _ in range(20):
    step()
print(tuned, (faults() - before) / 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                    reason="keeping freed memory is a glibc malloc setting (Linux)")
@pytest.mark.parametrize("setting", ["1", "0"])
def test_cpu_backends_keep_freed_memory_for_the_next_step(setting):
    """The NumPy backend asks glibc to keep freed memory (anynet/backends/_memory.py): a step that
    makes and frees the same arrays then touches no new pages. ANYNET_KEEP_FREED_MEMORY=0 leaves
    malloc alone: glibc hands the freed 16 MiB back to the system (above its adaptive trim
    threshold, here 4 MiB) and each step faults in fresh pages again (4,096 of them)."""
    out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ANYNET_KEEP_FREED_MEMORY": setting})
    assert out.returncode == 0, out.stderr
    tuned, per_step = out.stdout.split()
    assert tuned == ("True" if setting == "1" else "False")
    if setting == "1":
        assert float(per_step) < 50, per_step
    else:
        assert float(per_step) > 1000, per_step
