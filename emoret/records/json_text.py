"""JSON text as the record readers take it: one number policy, UTF-8 named by line, and a
JSON array decoded one element at a time over a sliding buffer (memory stays flat however
long the file)."""

from __future__ import annotations

import json
import math
from typing import IO, Any

from emoret.errors import InputError

_CHUNK = 1 << 16
_WHITESPACE = " \t\r\n"


def decode_utf8(raw: bytes, source: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(source, f"not UTF-8 text (byte {err.start + 1} of the line)", line) from None


def iter_json_array(handle: IO[bytes], first: bytes, first_no: int, source: str):
    """Decode a JSON array element by element with ``raw_decode`` over a sliding buffer."""
    decoder = _DECODER
    text = decode_utf8(first, source, first_no)
    line_no = first_no  # line of text[0]
    counted_to = counted = 0  # newlines in text[:counted_to], counted incrementally
    pos = text.index("[") + 1
    exhausted = False
    expect_value = True  # after '[' or ','
    seen_any = False

    def line_at(index: int) -> int:
        nonlocal counted_to, counted
        if index < counted_to:  # only on error paths
            return line_no + text.count("\n", 0, index)
        counted += text.count("\n", counted_to, index)
        counted_to = index
        return line_no + counted

    def refill() -> bool:
        nonlocal text, pos, line_no, exhausted, counted_to, counted
        chunk = handle.read(_CHUNK)
        if not chunk:
            exhausted = True
            return False
        # Keep whole UTF-8 sequences together: read on to the next newline.
        chunk += handle.readline()
        line_no = line_at(pos)
        rest = text[pos:]
        text = rest + decode_utf8(chunk, source, line_no + rest.count("\n"))
        pos = counted_to = counted = 0
        return True

    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text):
            if not refill():
                raise InputError(source, "JSON array is not closed", line_at(pos))
            continue
        here = line_at(pos)
        char = text[pos]
        if char == "]" and (not expect_value or not seen_any):
            _check_trailing(handle, text[pos + 1 :], source, here)
            return
        if char == "," and not expect_value:
            expect_value = True
            pos += 1
            continue
        if not expect_value:
            raise InputError(source, "malformed JSON (expected ',' or ']')", here)
        while True:
            try:
                value, end = decoder.raw_decode(text, pos)
                # A value ending exactly at the buffer's end may be cut (a number).
                if end == len(text) and not exhausted and refill():
                    continue
                break
            except json.JSONDecodeError as err:
                if not exhausted and refill():
                    continue
                raise InputError(source, f"malformed JSON ({err.msg})", line_at(err.pos)) from None
            except ValueError as err:  # NaN, Infinity
                raise InputError(source, f"malformed JSON ({err})", line_at(pos)) from None
            except RecursionError:
                raise InputError(source, "malformed JSON (nested too deeply)", line_at(pos)) from None
        here = line_at(pos)
        if not isinstance(value, dict):
            raise InputError(source, f"expected a JSON object, got {kind_of(value)}", here)
        yield here, value
        seen_any = True
        expect_value = False
        pos = end


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
