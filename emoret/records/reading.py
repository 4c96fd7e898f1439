"""Reading records: a JSON array or JSON lines, from a path or ``-`` (stdin), auto-detected by
the first non-blank byte and streamed; each record's known fields checked (:mod:`emoret.fields`).
Every problem with the input is an :class:`InputError` naming the file and line."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import orjson

from emoret.errors import InputError
from emoret.fields import FieldError, check_fields
from emoret.records.json_text import decode_utf8, iter_json_array, kind_of, loads_escaped_surrogates
from emoret.records.rules import require_caption

STDIN_NAME = "<stdin>"


def source_name(path: str | os.PathLike | None) -> str:
    return STDIN_NAME if path in (None, "-") else str(path)


@contextlib.contextmanager
def open_binary(path: str | os.PathLike | None) -> Iterator[IO[bytes]]:
    """Open a path, or stdin for ``-``/None, for binary reading."""
    if path in (None, "-"):
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except IsADirectoryError:
        raise InputError(str(path), "is a directory, not a file") from None
    except PermissionError:
        raise InputError(str(path), "permission denied") from None
    with handle:
        yield handle


def iter_records(path: str | os.PathLike | None = "-") -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON array or JSON-lines file (``-`` is stdin)."""
    for _, record in iter_numbered(path):
        yield record


def iter_numbered(path: str | os.PathLike | None = "-") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, object)`` pairs: the line each object starts on.

    Each object's known fields are checked against the record schema
    (:mod:`emoret.fields`): a wrong type is an InputError naming file, line and field.
    """
    source = source_name(path)
    with open_binary(path) as handle:
        first = _peek_first_byte(handle)
        if first is None:
            return
        head, line_no = first
        if head.lstrip()[:1] == b"[":
            numbered = iter_json_array(handle, head, line_no, source)
        else:
            numbered = _iter_json_lines(handle, head, line_no, source)
        for line, record in numbered:
            try:
                check_fields(record)
            except FieldError as err:
                raise InputError(source, str(err), line) from None
            yield line, record


def _peek_first_byte(handle: IO[bytes]) -> tuple[bytes, int] | None:
    """Skip blank lines; return the first non-blank line and its number."""
    line_no = 0
    for raw in handle:
        line_no += 1
        if raw.strip():
            return raw, line_no
    return None


_ACCEPTED_FORMATS = "; records are read from a JSON array or JSON lines (one object a line), not CSV or text"


def _iter_json_lines(handle: IO[bytes], first: bytes, first_no: int, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    def lines() -> Iterator[tuple[int, bytes]]:
        yield first_no, first
        for offset, raw in enumerate(handle, start=first_no + 1):
            yield offset, raw

    for line_no, raw in lines():
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            decode_utf8(raw, source, line_no)  # a more precise message for bad bytes
            try:
                value = loads_escaped_surrogates(raw)
            except (ValueError, RecursionError):
                formats = _ACCEPTED_FORMATS if line_no == first_no else ""  # not JSON at all, maybe
                raise InputError(source, f"malformed JSON ({_short(err)}){formats}", line_no) from None
        if not isinstance(value, dict):
            raise InputError(source, f"expected a JSON object, got {kind_of(value)}", line_no)
        yield line_no, value


def _short(err: Exception) -> str:
    return str(err).split(":")[0]


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    return list(iter_records(path))


def read_captions(path: str | os.PathLike | None) -> list[dict[str, Any]]:
    """Every record of a caption file (``-``: stdin), each checked to carry a string ``caption``."""
    source = source_name(path)
    records = []
    for line, record in iter_numbered(path):
        require_caption(record, source, line)
        records.append(record)
    return records
