"""``torch.load(weights_only=True)`` with its failures told in one honest line.

torch's own message on a refused file advises that ``weights_only=False`` "will likely
succeed": advice that runs whatever code the file holds. It is never shown; the line
says what the file is instead (not a checkpoint, damaged, or holding Python objects
beyond tensors, which are refused).
"""

from __future__ import annotations

import os
import re
from typing import Any

from emoret.errors import InputError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_tensors(path: str | os.PathLike, what: str = "PyTorch checkpoint", hint: str = "") -> Any:
    """The contents of a ``.pt`` file read with ``weights_only=True``; InputError otherwise
    (``what`` the file should be, ``hint`` appended to the line where it is not one)."""
    import pickle

    import torch

    source = str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except IsADirectoryError:
        raise InputError(source, "is a directory, not a file") from None
    except pickle.UnpicklingError as err:
        found = _GLOBAL.search(str(err))
        if found:  # a file of objects, not of tensors: no hint about what else it could be
            raise InputError(source, f"holds Python objects beyond tensors ({found.group(1)}); refused: "
                                     "only tensors are loaded") from None
        raise InputError(source, f"not a {what}{hint}") from None
    except Exception as err:  # the zip reader's and the unpickler's errors have no common base
        raise InputError(source, f"not a readable {what} ({_first_sentence(str(err))}){hint}") from None


def _first_sentence(message: str) -> str:
    line = next((part.strip() for part in message.splitlines() if part.strip()), "unreadable")
    return line.split(". ")[0].rstrip(".")[:160]
