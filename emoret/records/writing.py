"""Writing records: JSON lines to stdout, or atomically to a file."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from emoret.atomic import resolve_output, temp_beside
from emoret.errors import InputError, OutputClosed, naming

STDOUT_NAME = "<stdout>"


def dumps(record: dict[str, Any]) -> bytes:
    """One JSON line (with its newline); numpy scalars and arrays serialise too.

    A file name that is not valid UTF-8 reaches Python with surrogate escapes; it is
    written as JSON ``\\udcXX`` escapes, so it reads back as the same name.
    """
    try:
        return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as err:
        if "surrogates" not in str(err):
            raise
    text = json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False, default=_plain)
    return text.encode("ascii") + b"\n"


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class JsonlWriter:
    """Writes JSON lines to stdout, or atomically to a file.

    A file is written to a temporary name beside it and renamed into place by
    :meth:`close`. ``close(keep=True)`` after an input error still publishes the
    records already written, as stdout would have.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = None if path in (None, "-") else Path(path)
        self.count = 0
        self._owned = False  # a device or FIFO opened here, closed here
        self._tmp: str | None = None  # the file's temporary name until it is published
        self._closed = False
        if self.path is None:
            self._handle = sys.stdout.buffer
            self._interactive = sys.stdout.isatty()
            return
        try:
            output = resolve_output(self.path)
        except IsADirectoryError:
            raise InputError(str(self.path), "is a directory, not a file") from None
        self.path = output.path
        self._interactive = False
        if output.direct:  # a device or FIFO: write into it, never replace it
            self._handle = open(output.path, "wb")
            self._owned = True
        else:
            self._tmp = temp_beside(self.path)
            self._handle = open(self._tmp, "wb")

    @contextlib.contextmanager
    def _output_errors(self) -> Iterator[None]:
        """A closed reader is OutputClosed; an OSError that names no file (a full disk) names the output."""
        try:
            with naming(self.path or STDOUT_NAME):
                yield
        except BrokenPipeError:  # named or not (OSError's EPIPE is a BrokenPipeError)
            raise OutputClosed() from None

    def write(self, record: dict[str, Any]) -> None:
        with self._output_errors():
            self._handle.write(dumps(record))
            if self._interactive:
                self._handle.flush()
        self.count += 1

    def write_all(self, records: Iterable[dict[str, Any]]) -> int:
        for record in records:
            self.write(record)
        return self.count

    def close(self, keep: bool = True) -> None:
        """Flush stdout (or a device), or publish (``keep``) or drop the file; a second close does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._tmp is None:
            try:
                with self._output_errors():
                    self._handle.flush()
            finally:
                if self._owned:
                    self._owned = False
                    with contextlib.suppress(OSError):
                        self._handle.close()
            return
        tmp, self._tmp = self._tmp, None
        try:
            with naming(str(self.path)):
                if keep:
                    self._handle.flush()
                    os.fsync(self._handle.fileno())
                    self._handle.close()
                    assert self.path is not None  # a temp name means a file target
                    os.replace(tmp, self.path)
        finally:
            # Whatever stopped the write (a full disk included), no temp file stays.
            with contextlib.suppress(OSError):
                self._handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # Publish on success and on bad input (the records before it are good); a crash
        # or Ctrl-C leaves the previous file untouched (and stdout unflushed).
        good = exc_type is None or issubclass(exc_type, InputError)
        if self.path is None:
            if good:
                self.close()
            elif self._owned:
                with contextlib.suppress(OSError):
                    self._handle.close()
        else:
            self.close(keep=good)


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    with JsonlWriter(path) as writer:
        return writer.write_all(records)
