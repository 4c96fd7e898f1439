"""The errors the library raises for the CLI to report as one line."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: names the source and, where known, the line."""

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class OutputClosed(Exception):
    """The reader of stdout went away (``| head``): stop quietly, not an error.

    Deliberately not an OSError, so that no generic handler reports it as a failure.
    """


def first_line(err: BaseException) -> str:
    """The first non-blank line of an error's message, for a one-line report;
    the error's class name when the message is empty."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__
