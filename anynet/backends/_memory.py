"""Host memory: keep what one training step frees for the next (glibc's ``malloc``).

A training step on the CPU allocates and frees the same arrays every step. glibc
serves large requests with fresh mappings (above its mmap threshold, 128 KiB at
first) and hands the top of its heap back to the system (above its trim
threshold), so the next step's arrays land on new pages, which the kernel zeroes
on first touch. Measured on W4 (``anynet bench --workloads w4``, one thread,
``resource.getrusage`` minor faults per step): anynet on NumPy 4,978 page faults
per step and PyTorch eager 3,843 in the same process; with the mmap threshold at
32 MiB (glibc's largest) and the trim threshold at 256 MiB, 0 for both, at the
same peak memory (370 vs 367 MB), and the step about a quarter faster.

This is what PyTorch's tuning guide gets with jemalloc or tcmalloc, and JAX
and CuPy with their own allocators. It is process-wide, so it is done once, when
a CPU backend of NumPy or PyTorch is first built; ``ANYNET_KEEP_FREED_MEMORY=0``
leaves ``malloc`` as it is. Elsewhere than glibc (macOS, Windows, musl) it does
nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

__all__ = ["ENV", "keep_freed_memory"]

#: Set to ``0`` to leave the C library's ``malloc`` settings alone.
ENV = "ANYNET_KEEP_FREED_MEMORY"

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_MMAP_THRESHOLD = 32 * 2**20  # glibc's largest on 64-bit systems
_TRIM_THRESHOLD = 256 * 2**20


@functools.cache  # once per process
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (once per process); True if it is now so.

    The NumPy and PyTorch (CPU) backends call it when they are first built; ``anynet info``
    says whether it is on. False elsewhere than glibc, or with ``ANYNET_KEEP_FREED_MEMORY=0``.

    >>> import anynet as an
    >>> an.backends.keep_freed_memory() in (True, False)  # the same answer on every call
    True
    """
    if os.environ.get(ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # musl's mallopt is a stub that returns 0: then nothing changed
    return mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
