"""Reading and writing the JSON / JSON-lines records the commands exchange.

Input is a JSON array or JSON lines, from a path or ``-`` (stdin), auto-detected by
the first non-blank byte. Both are streamed: a JSON array is decoded one element at a
time, so memory stays flat however long the file. Every problem with the input is an
:class:`InputError` naming the file and line, which the CLI prints as one line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import orjson

from emoret.atomic import resolve_output, temp_beside
from emoret.errors import InputError, OutputClosed
from emoret.fields import FieldError, check_fields

STDIN_NAME = "<stdin>"
STDOUT_NAME = "<stdout>"
_CHUNK = 1 << 16
_WHITESPACE = " \t\r\n"


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


def _decode_utf8(raw: bytes, source: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(source, f"not UTF-8 text (byte {err.start + 1} of the line)", line) from None


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
            numbered = _iter_json_array(handle, head, line_no, source)
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


def _iter_json_lines(handle: IO[bytes], first: bytes, first_no: int, source: str):
    def lines():
        yield first_no, first
        for offset, raw in enumerate(handle, start=first_no + 1):
            yield offset, raw

    for line_no, raw in lines():
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            _decode_utf8(raw, source, line_no)  # a more precise message for bad bytes
            try:
                value = loads_escaped_surrogates(raw)
            except (ValueError, RecursionError):
                formats = _ACCEPTED_FORMATS if line_no == first_no else ""  # not JSON at all, maybe
                raise InputError(source, f"malformed JSON ({_short(err)}){formats}", line_no) from None
        if not isinstance(value, dict):
            raise InputError(source, f"expected a JSON object, got {_kind(value)}", line_no)
        yield line_no, value


def _iter_json_array(handle: IO[bytes], first: bytes, first_no: int, source: str):
    """Decode a JSON array element by element with ``raw_decode`` over a sliding buffer."""
    decoder = _DECODER
    text = _decode_utf8(first, source, first_no)
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
        text = rest + _decode_utf8(chunk, source, line_no + rest.count("\n"))
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
            raise InputError(source, f"expected a JSON object, got {_kind(value)}", here)
        yield here, value
        seen_any = True
        expect_value = False
        pos = end


def _check_trailing(handle: IO[bytes], rest: str, source: str, line: int) -> None:
    if rest.strip() or any(chunk.strip() for chunk in iter(lambda: handle.read(_CHUNK), b"")):
        raise InputError(source, "unexpected data after the JSON array", line)


def _short(err: Exception) -> str:
    return str(err).split(":")[0]


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


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
            yield
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as err:
            if err.filename is None:
                raise OSError(err.errno, err.strerror, str(self.path or STDOUT_NAME)) from None
            raise

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
            if keep:
                self._handle.flush()
                os.fsync(self._handle.fileno())
                self._handle.close()
                assert self.path is not None  # a temp name means a file target
                os.replace(tmp, self.path)
        except OSError as err:
            if err.filename is None:
                raise OSError(err.errno, err.strerror, str(self.path)) from None
            raise
        finally:
            # Whatever stopped the write (a full disk included), no temp file stays.
            with contextlib.suppress(OSError):
                self._handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
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


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    return list(iter_records(path))


# Captions are sentences; a longer "caption" is a mistake (a whole file in one field), and
# NRC and VADER would take minutes and gigabytes over megabytes of text.
MAX_CAPTION_CHARS = 10_000


def require_caption(record: dict[str, Any], source: str, line: int) -> str:
    """The record's caption, or an InputError naming the line."""
    caption = record.get("caption")
    if not isinstance(caption, str):
        what = "no 'caption'" if caption is None else "a 'caption' that is not a string"
        raise InputError(source, f"record has {what}", line)
    if len(caption) > MAX_CAPTION_CHARS:
        raise InputError(source, f"caption of {len(caption):,} characters; the limit is {MAX_CAPTION_CHARS:,}", line)
    return caption


MAX_NAME_BYTES = 255  # a file name's limit on Linux and macOS file systems


def check_file_name(name: str, source: str, line: int, suffix: str = "") -> str:
    """``name`` (with ``suffix``, e.g. ``.npy``) usable as a file name, or an InputError naming the line."""
    if "\0" in name:
        raise InputError(source, f"name {name[:40]!r} contains a NUL byte", line)
    for part in (name + suffix).split("/"):
        size = len(os.fsencode(part))
        if size > MAX_NAME_BYTES:
            raise InputError(source, f"name {part[:40]!r}... is {size} bytes; file names stop at {MAX_NAME_BYTES}", line)
    return name


def video_id_of(record: dict[str, Any]) -> str | None:
    """``video_id``, else the stem of ``video``."""
    vid = record.get("video_id")
    if vid is not None:
        return str(vid)
    video = record.get("video")
    if video is not None:
        return Path(str(video)).stem
    return None


def require_video_id(record: dict[str, Any], source: str, line: int) -> str:
    """The record's video id (:func:`video_id_of`), or an InputError naming the line."""
    video_id = video_id_of(record)
    if video_id is None:
        raise InputError(source, "record has neither 'video_id' nor 'video'", line)
    return video_id


def read_captions(path: str | os.PathLike | None) -> list[dict[str, Any]]:
    """Every record of a caption file (``-``: stdin), each checked to carry a string ``caption``."""
    source = source_name(path)
    records = []
    for line, record in iter_numbered(path):
        require_caption(record, source, line)
        records.append(record)
    return records
