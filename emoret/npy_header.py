"""The header of a ``.npy`` file, read without its data: shape, dtype and where the data starts."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np


def read_npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of the ``.npy`` file open at its start.

    ValueError for anything that is not a C-ordered ``.npy`` header: numpy's own parser
    lets a damaged header through as other errors (a tokenizer's, a syntax error).
    """
    try:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(handle)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - tokenize.TokenError, SyntaxError, UnicodeDecodeError, ...
        raise ValueError(f"a damaged .npy header ({type(err).__name__})") from None
    if fortran:
        raise ValueError("a Fortran-ordered array")
    return tuple(shape), dtype, handle.tell()
