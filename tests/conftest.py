"""One test suite, every backend: the backend comes from ``--backend`` (or
``ANYNET_TEST_BACKEND``), set per nox session. A backend that cannot run here
makes every test that uses it skip, with the reason."""

from __future__ import annotations

import os

import numpy as np
import pytest

import anynet as an
from anynet import cli
from anynet.backends import NumpyBackend, get_backend, register, to_numpy
from anynet.gradcheck import relative_error


class ReadOnlyNumpy(NumpyBackend):
    """NumPy whose arrays handed to anynet are read-only, so any in-place write on a
    parameter, an input or a state array raises (JAX would silently differ): the test
    suite's own backend (``--backend numpy_readonly``), as array-api-extra keeps its
    read-only wrapper in its tests. Results anynet computes stay ordinary arrays."""

    name = "numpy_readonly"
    writable = False  # fit computes purely here: what it is given stays untouched, and is checked to

    def asarray(self, a, dtype=None, *, copy=None):
        out = super().asarray(a, dtype, copy=copy).view()
        out.flags.writeable = False
        return out


register(ReadOnlyNumpy, public=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        default=os.environ.get("ANYNET_TEST_BACKEND", "numpy"),
        help="backend to test: numpy, numpy_readonly, array_api_strict, jax, torch, cupy "
        "(default: $ANYNET_TEST_BACKEND or numpy)",
    )


def _jax():
    try:
        import jax
    except ImportError:
        return None
    return jax


def pytest_configure(config: pytest.Config) -> None:
    jax = _jax()
    if jax is not None:
        # float64 for the jax.grad references and float64 tests; on the jax backend,
        # strict dtype promotion and no implicit rank promotion, so that any
        # mixed-dtype or rank-broadcasting shortcut in anynet fails here.
        jax.config.update("jax_enable_x64", True)
        if config.getoption("--backend") == "jax":
            jax.config.update("jax_numpy_dtype_promotion", "strict")
            jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_report_header(config: pytest.Config) -> str:
    name = config.getoption("--backend")
    why = an.available_backends().get(name) if name in an.BACKENDS else None
    if why:
        return f"anynet backend: {name} (cannot run here: {why})"
    try:
        be = get_backend(name)
    except Exception as exc:  # reported, the tests skip with the reason
        return f"anynet backend: {name} (cannot run here: {exc})"
    return f"anynet backend: {name} {be.version} on {be.device}"


@pytest.fixture(scope="session")
def be(pytestconfig: pytest.Config) -> an.Backend:
    """The backend under test."""
    name = pytestconfig.getoption("--backend")
    try:
        return get_backend(name)
    except (an.BackendError, ImportError) as exc:
        pytest.skip(f"backend {name!r} cannot run here: {exc}")


@pytest.fixture(autouse=True)
def _current_backend(be: an.Backend):
    with an.using(be):
        yield


@pytest.fixture
def anynet_cmd(be, capsys):
    """``anynet ARGS`` in this process, on the session's backend: ``(exit code, stdout, stderr)``."""

    def call(*args):
        with an.using(be):
            code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


@pytest.fixture
def xp(be: an.Backend):
    return be.xp


@pytest.fixture(scope="session")
def jax():
    """JAX as an independent autodiff reference (float64)."""
    mod = _jax()
    if mod is None:
        pytest.skip("jax is not installed in this session: the jax.grad cross-checks run in the "
                    "numpy and jax sessions")
    return mod


def rel_err(a, b, floor: float = 1e-12) -> float:
    """anynet's one relative error (symmetric), with a tiny floor for exact comparisons."""
    return relative_error(a, b, floor=floor)


def assert_close(actual, desired, be: an.Backend, *, dtype: str | None = None,
                 rtol: float | None = None, atol: float = 0.0) -> None:
    """Namespace, dtype and shape first, then values (desired: anything NumPy reads)."""
    assert be.owns(actual), f"expected an array of backend {be.name}, got {type(actual)}"
    if dtype is not None:
        assert actual.dtype == be.dtype(dtype), f"dtype {actual.dtype}, expected {dtype}"
    desired = np.asarray(to_numpy(desired))
    assert tuple(actual.shape) == desired.shape, f"shape {tuple(actual.shape)}, expected {desired.shape}"
    if rtol is None:
        rtol = 1e-5 if "float32" in str(actual.dtype) else 1e-10
    np.testing.assert_allclose(to_numpy(actual).astype(np.float64), desired.astype(np.float64),
                               rtol=rtol, atol=atol)
