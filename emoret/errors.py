"""The errors the library raises for the CLI to report as one line."""

from __future__ import annotations

import contextlib
import os
import unicodedata
from collections.abc import Iterator


class InputError(Exception):
    """Bad input: names the source and, where known, the line."""

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class ModelError(Exception):
    """A model that cannot be used, or that gives NaN or infinity: bad input (exit 2, one
    line naming its file). Not an InputError on purpose: where a video's frames are read,
    an InputError skips that video, while a broken model must stop the run."""

    def __init__(self, source: str, message: str):
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}")

    def __reduce__(self) -> tuple[type[ModelError], tuple[str, str]]:  # whole across a decode worker's pipe
        return (type(self), (self.source, self.message))


class OutputClosed(Exception):
    """The reader of stdout went away (``| head``): stop quietly, not an error.

    Deliberately not an OSError, so that no generic handler reports it as a failure.
    """


@contextlib.contextmanager
def naming(output: str | os.PathLike[str]) -> Iterator[None]:
    """An OSError raised in the block that names no file (a full disk mid-write, a failing
    flush) is raised again naming ``output``, so its one line says which output failed."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            raise OSError(err.errno, err.strerror, str(output)) from None
        raise


def first_line(err: BaseException) -> str:
    """The first non-blank line of an error's message, for a one-line report;
    the error's class name when the message is empty."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


def printable(text: str) -> str:
    """``text`` with its control characters shown as escapes (ESC as ``\\x1b``), so that
    a name or caption from the data cannot move the cursor, clear the screen, set the
    window title or break a one-line message when it is printed on a terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else _escape(char) for char in text)


_JOINERS = "\u200c\u200d"


def _escape(char: str) -> str:
    if 0xDC80 <= ord(char) <= 0xDCFF:  # a byte of a non-UTF-8 file name: printed as the terminal likes
        return char
    if unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp") or char in _JOINERS:
        return char  # outside str.isprintable's set yet harmless: a non-ASCII space, an emoji's joiner
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
