"""An index's ``items.jsonl``, parsed a record at a time as hits ask for them.

A search reads ten records; parsing all of a 100,000-item file costs a quarter of a
second of a cold query. The file is read once and split into lines; each line is
parsed (and checked, as ``iter_records`` checks) on first use, then kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

import orjson

from emoret.errors import InputError
from emoret.records import loads_escaped_surrogates

# An inner line of nothing but whitespace: scanned in C (a Python loop over 100,000 lines
# costs 40 ms; a pattern that does not start with a literal, several times that).
_BLANK_INNER_LINE = re.compile(rb"\n[ \t\r\f\v]*\n")


class LazyItems(Sequence[dict[str, Any]]):
    def __init__(self, lines: list[bytes], source: str):
        self._lines = lines
        self._parsed: dict[int, dict[str, Any]] = {}
        self._source = source

    @classmethod
    def read(cls, path: str | os.PathLike, check: Callable[[bytes], None] | None = None) -> LazyItems | list[dict[str, Any]]:
        """The lazy view of a JSON-lines file; a plain list where the file is not plain
        one-object-a-line JSON lines (blank lines, a JSON array): iter_records reads those.
        ``check(data)`` sees the file's bytes first (its digest) and may raise."""
        data = open(path, "rb").read()  # noqa: SIM115 - closed at once by CPython
        if check is not None:
            check(data)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if not lines or _has_blank_line(data, lines) or not lines[0].lstrip().startswith(b"{"):
            from emoret.records import iter_records

            return list(iter_records(path))
        return cls(lines, str(path))

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        record = self._parsed.get(index)
        if record is None:
            record = self._parse(index)
            self._parsed[index] = record
        return record

    def _parse(self, index: int) -> dict[str, Any]:
        raw = self._lines[index]
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            try:  # a non-UTF-8 file name, written with surrogate escapes (see records.dumps)
                value = loads_escaped_surrogates(raw)
            except (ValueError, RecursionError):
                raise InputError(self._source, f"malformed JSON ({err})", index + 1) from None
        if not isinstance(value, dict):
            raise InputError(self._source, "expected a JSON object", index + 1)
        return value

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, LazyItems)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _has_blank_line(data: bytes, lines: list[bytes]) -> bool:
    """Whether any of ``lines`` (``data`` split, a final empty piece dropped) is blank."""
    return not lines[0].strip() or not lines[-1].strip() or _BLANK_INNER_LINE.search(data) is not None
