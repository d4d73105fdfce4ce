"""Test anynet on every backend: ``nox`` runs them all; ``nox -l`` lists the sessions.

Each backend gets its own virtual environment with what ``backends/<name>.txt``
lists, and the same test suite with ``--backend <name>``. A backend that cannot
run on this machine (CuPy without an NVIDIA GPU) is skipped with the reason:
nox reports it as skipped, never as passed. The ``parity`` session puts every
backend that runs here in one environment and prints how far each one's numbers
are from NumPy float64 (``python -m anynet.parity``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "parity", "fuzz"]
nox.options.error_on_external_run = True

BACKENDS = ["numpy", "numpy_readonly", "array_api_strict", "jax", "torch", "cupy"]

# Prints nothing when the backend can run here, else the reason.
_CHECK = """
import sys, anynet
name = sys.argv[1]
try:
    anynet._backend.get_backend(name)
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
def lint(session: nox.Session) -> None:
    """Check style and common mistakes with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "anynet", "tests", "examples", "noxfile.py", *session.posargs)


@nox.session
def parity(session: nox.Session) -> None:
    """Train the same seeded model on every backend here and print the parity tables vs NumPy float64."""
    session.install("-r", "backends/parity.txt")
    if _nvidia_gpu():
        session.install("-r", "backends/cupy.txt")
    session.install(".")
    session.run("python", "-m", "anynet.parity", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Hostile files and hard stops at length: 5,000 mutated checkpoints, IDX and CSV files each, 40 SIGKILLs."""
    # Budget: at most 3 minutes on the 2-core CI machine; measured 1 min 35 s with its install (pytest 79 s).
    session.install("numpy>=1.26", "pytest>=8")  # host-side file code: NumPy only, no JAX to install
    session.install(".")
    session.run("pytest", "--backend=numpy", "-s", "-q", "tests/test_hostile.py", "tests/test_crash_resume.py",
                *session.posargs, env={"ANYNET_FUZZ_CASES": "5000", "ANYNET_CRASH_KILLS": "40"})


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Time anynet against hand-written NumPy, PyTorch, JAX and scikit-learn (opt-in: nox -s bench)."""
    session.install("-r", "backends/parity.txt")
    session.install(".[sklearn]")
    session.run("python", "-m", "anynet.bench", *session.posargs)
