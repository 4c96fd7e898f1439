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
