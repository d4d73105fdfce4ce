"""The header of a ``.npy`` array, read without pickle: one parser for the data readers
(:func:`anynet.datasets.read_npy`) and the checkpoint reader (:mod:`anynet.io`)."""

from __future__ import annotations

from typing import IO

import numpy as np  # host-side file format only

#: The dtype kinds an anynet file may hold: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = "biuf"


def read_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` data that starts at ``fh``, which is left at
    the first byte of the values. Raises ValueError, naming what is wrong, for anything that is not
    the header NumPy writes (format 1.0 or 2.0) of numbers: an object dtype would need pickle.

    >>> import io, numpy as np
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3), np.float32))
    >>> _ = buf.seek(0)
    >>> read_header(buf)
    ((2, 3), False, dtype('float32'))
    """
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]}; anynet reads 1.0 and 2.0")
    except Exception as exc:
        # ValueError, SyntaxError, tokenize.TokenError, ...: whatever it is, the header is not one NumPy wrote
        raise ValueError(f"not a plain .npy array ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"it holds {dtype} values, which would need pickle; only numeric arrays are read")
    return tuple(shape), bool(fortran), dtype
