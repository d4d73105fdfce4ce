"""Test anynet on every backend: ``nox`` runs them all; ``nox -l`` lists the sessions.

Each backend gets its own virtual environment with what ``backends/<name>.txt``
lists, and the same test suite with ``--backend <name>``. A backend that cannot
run on this machine (CuPy without an NVIDIA GPU) is skipped with the reason:
nox reports it as skipped, never as passed. The ``parity`` session puts every
backend that runs here in one environment and prints how far each one's numbers
are from NumPy float64 (``python -m anynet.parity``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "distributed", "lint", "parity", "onnx", "browser", "fuzz", "docs"]
nox.options.error_on_external_run = True

BACKENDS = ["numpy", "numpy_readonly", "array_api_strict", "jax", "torch", "cupy"]

# Prints nothing when the backend can run here, else the reason.
_CHECK = """
import sys, anynet
name = sys.argv[1]
try:  # numpy_readonly is the test suite's own NumPy variant (tests/conftest.py)
    anynet.backends.get_backend("numpy" if name == "numpy_readonly" else name)
except Exception as exc:
    print(exc)
"""


def _nvidia_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()


@nox.session
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """Run the whole test suite on one backend (skipped, with the reason, if it cannot run here)."""
    if backend == "cupy" and not _nvidia_gpu():
        session.skip("cupy needs an NVIDIA GPU with CUDA; none here (no nvidia-smi, no /dev/nvidia0)")
    session.install("-r", f"backends/{backend}.txt")
    session.install(".[test]")
    why = session.run("python", "-c", _CHECK, backend, silent=True) or ""
    if why.strip():
        session.skip(f"{backend} cannot run here: {why.strip()}")
    session.run("pytest", f"--backend={backend}", *session.posargs)


@nox.session
def distributed(session: nox.Session) -> None:
    """Data-parallel training on JAX over 4 simulated CPU devices and over 2 processes (about 2 minutes)."""
    session.install("-r", "backends/jax.txt")
    session.install(".[test]")
    session.run("pytest", "--backend=jax", "tests/test_distributed.py", *session.posargs,
                env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff, and the floors of the architecture with import-linter."""
    session.install("ruff>=0.6", "import-linter>=2.1")
    session.run("ruff", "check", "anynet", "tests", "examples", "noxfile.py", *session.posargs)
    session.run("lint-imports")  # the contracts in pyproject.toml [tool.importlinter]


@nox.session
def parity(session: nox.Session) -> None:
    """Train the same seeded model on every backend here and print the parity tables vs NumPy float64."""
    session.install("-r", "backends/parity.txt")
    if _nvidia_gpu():
        session.install("-r", "backends/cupy.txt")
    session.install(".")
    session.run("python", "-m", "anynet.parity", *session.posargs)


@nox.session
def onnx(session: nox.Session) -> None:
    """ONNX export: onnxruntime's outputs against predict, the CLI and the example (NumPy; ~1 min)."""
    session.install(".[test,onnx]")
    session.run("pytest", "--backend=numpy", "tests/test_export.py", *session.posargs)
    session.run("pytest", "--backend=numpy", "tests/test_docs.py", "-k", "export")


@nox.session
def browser(session: nox.Session) -> None:
    """The playground in a real headless Chromium (Debian's chromium and chromium-driver, apt-installed if missing)."""
    # Budget: under 3 minutes on the 2-core CI machine, apt included (measured: see the PR/report).
    missing = [p for p in ("/usr/bin/chromium", "/usr/bin/chromedriver") if not Path(p).exists()]
    if missing:
        if shutil.which("apt-get") is None:
            session.skip(f"{' and '.join(missing)} missing and no apt-get to install Debian's chromium here")
        if getattr(os, "geteuid", lambda: -1)() != 0:
            session.skip(f"{' and '.join(missing)} missing; installing chromium and chromium-driver "
                         "with apt-get needs root")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-q", external=True, env=env)
        session.run("apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver",
                    external=True, env=env)
    session.install(".[test]", "selenium")
    # the test fails instead of skipping when the browser is still missing: never a silent pass
    session.run("pytest", "-m", "browser", "--backend", "numpy", "tests/browser", *session.posargs,
                env={"ANYNET_REQUIRE_BROWSER": "1"})


@nox.session
def fuzz(session: nox.Session) -> None:
    """Hostile files and hard stops at length: 5,000 mutated checkpoints, IDX and CSV files each, 40 SIGKILLs."""
    # Budget: at most 3 minutes on the 2-core CI machine; measured 1 min 35 s with its install (pytest 79 s).
    session.install("numpy>=1.26", "pytest>=8")  # host-side file code: NumPy only, no JAX to install
    session.install(".")
    session.run("pytest", "--backend=numpy", "-s", "-q", "tests/test_hostile.py", "tests/test_crash_resume.py",
                *session.posargs, env={"ANYNET_FUZZ_CASES": "5000", "ANYNET_CRASH_KILLS": "40"})


@nox.session
def docs(session: nox.Session) -> None:
    """Build the API reference with Sphinx (warnings are errors) and check that it lists every public name."""
    # Budget: at most 1.5 minutes on the 2-core CI machine, install included; measured 44 s in a fresh
    # nox venv on a busy 2-core machine (Sphinx itself ~15 s).
    # scikit-learn for the pages of anynet.sklearn (its estimators subclass scikit-learn's);
    # matplotlib and the onnx extra are imported only inside functions, not needed here.
    session.install(".[docs,sklearn]")
    out = "docs/_build/html"
    # -E: read every page again, so that each run reports every warning (-W makes them errors)
    session.run("sphinx-build", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html", "docs", out, *session.posargs)
    session.run("python", "docs/check_api.py", out)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Time anynet against hand-written NumPy, PyTorch, JAX and scikit-learn (opt-in: nox -s bench)."""
    session.install("-r", "backends/parity.txt")
    session.install(".[sklearn]")
    session.run("python", "-m", "anynet.bench", *session.posargs)
