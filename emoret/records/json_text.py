"""JSON text as the record readers take it: one number policy, UTF-8 named by line, and a
JSON array decoded one element at a time over a sliding buffer (memory stays flat however
long the file)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import IO, Any

from emoret.errors import InputError

_CHUNK = 1 << 16
_WHITESPACE = " \t\r\n"


def decode_utf8(raw: bytes, source: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(source, f"not UTF-8 text (byte {err.start + 1} of the line)", line) from None


def iter_json_array(handle: IO[bytes], first: bytes, first_no: int, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each element of the JSON array that ``first`` (line ``first_no``) opens."""
    return _ArrayReader(handle, first, first_no, source).elements()


class _ArrayReader:
    """A JSON array decoded element by element with ``raw_decode`` over a sliding buffer."""

    def __init__(self, handle: IO[bytes], first: bytes, first_no: int, source: str) -> None:
        self.handle, self.source = handle, source
        self.text = decode_utf8(first, source, first_no)
        self.line_no = first_no  # line of text[0]
        self.counted_to = self.counted = 0  # newlines in text[:counted_to], counted incrementally
        self.pos = self.text.index("[") + 1
        self.exhausted = False

    def elements(self) -> Iterator[tuple[int, dict[str, Any]]]:
        expect_value, seen_any = True, False  # after '[' or ','
        while True:
            char = self._next_char()
            here = self.line_at(self.pos)
            if char == "]" and (not expect_value or not seen_any):
                _check_trailing(self.handle, self.text[self.pos + 1 :], self.source, here)
                return
            if char == "," and not expect_value:
                expect_value = True
                self.pos += 1
                continue
            if not expect_value:
                raise InputError(self.source, "malformed JSON (expected ',' or ']')", here)
            yield self._object()
            seen_any, expect_value = True, False

    def line_at(self, index: int) -> int:
        if index < self.counted_to:  # only on error paths
            return self.line_no + self.text.count("\n", 0, index)
        self.counted += self.text.count("\n", self.counted_to, index)
        self.counted_to = index
        return self.line_no + self.counted

    def _refill(self) -> bool:
        """Read on (False at the end of the input), keeping the text from ``pos``."""
        chunk = self.handle.read(_CHUNK)
        if not chunk:
            self.exhausted = True
            return False
        # Keep whole UTF-8 sequences together: read on to the next newline.
        chunk += self.handle.readline()
        self.line_no = self.line_at(self.pos)
        rest = self.text[self.pos :]
        self.text = rest + decode_utf8(chunk, self.source, self.line_no + rest.count("\n"))
        self.pos = self.counted_to = self.counted = 0
        return True

    def _next_char(self) -> str:
        """The next character that is not blank, at ``pos``."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(text):
                return text[pos]
            if not self._refill():
                raise InputError(self.source, "JSON array is not closed", self.line_at(pos))

    def _object(self) -> tuple[int, dict[str, Any]]:
        """The object at ``pos`` and its line; ``pos`` moves past it."""
        value, end = self._value()
        here = self.line_at(self.pos)
        if not isinstance(value, dict):
            raise InputError(self.source, f"expected a JSON object, got {kind_of(value)}", here)
        self.pos = end
        return here, value

    def _value(self) -> tuple[Any, int]:
        """The JSON value at ``pos`` and where it ends, reading on where the buffer may cut it."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as err:
                if not self.exhausted and self._refill():
                    continue
                raise InputError(self.source, f"malformed JSON ({err.msg})", self.line_at(err.pos)) from None
            except ValueError as err:  # NaN, Infinity
                raise InputError(self.source, f"malformed JSON ({err})", self.line_at(self.pos)) from None
            except RecursionError:
                raise InputError(self.source, "malformed JSON (nested too deeply)", self.line_at(self.pos)) from None
            # A value ending exactly at the buffer's end may be cut (a number).
            if end == len(self.text) and not self.exhausted and self._refill():
                continue
            return value, end


def _check_trailing(handle: IO[bytes], rest: str, source: str, line: int) -> None:
    if rest.strip() or any(chunk.strip() for chunk in iter(lambda: handle.read(_CHUNK), b"")):
        raise InputError(source, "unexpected data after the JSON array", line)


def kind_of(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def loads_escaped_surrogates(raw: bytes) -> Any:
    """What orjson refuses and :func:`dumps` writes: ``\\udcXX`` escapes of a non-UTF-8 name."""
    if b"\\ud" not in raw.lower():
        raise ValueError("no surrogate escapes")
    return _DECODER.decode(raw.decode("utf-8"))


# One policy for JSON arrays (read with the json module) and JSON lines (orjson): NaN,
# Infinity and numbers that overflow a double (1e400) are refused; integers beyond 64
# bits become floats, as orjson reads them.
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is too large for a double")
    return value


def _bounded_int(text: str) -> int | float:
    if len(text) <= 20:
        value = int(text)
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
    return _finite_float(text)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
