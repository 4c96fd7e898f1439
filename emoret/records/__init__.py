"""Reading and writing the JSON / JSON-lines records the commands exchange.

Input is a JSON array or JSON lines, from a path or ``-`` (stdin), auto-detected by
the first non-blank byte. Both are streamed: a JSON array is decoded one element at a
time, so memory stays flat however long the file. Every problem with the input is an
:class:`InputError` naming the file and line, which the CLI prints as one line.
"""

from __future__ import annotations

from emoret.records.json_text import loads_escaped_surrogates
from emoret.records.reading import (
    STDIN_NAME,
    iter_numbered,
    iter_records,
    open_binary,
    read_captions,
    read_jsonl,
    source_name,
)
from emoret.records.rules import (
    MAX_CAPTION_CHARS,
    MAX_NAME_BYTES,
    check_file_name,
    require_caption,
    require_video_id,
    video_id_of,
)
from emoret.records.writing import STDOUT_NAME, JsonlWriter, dumps, write_jsonl_atomic

__all__ = [
    "MAX_CAPTION_CHARS", "MAX_NAME_BYTES", "STDIN_NAME", "STDOUT_NAME", "JsonlWriter", "check_file_name", "dumps",
    "iter_numbered", "iter_records", "loads_escaped_surrogates", "open_binary", "read_captions", "read_jsonl",
    "require_caption", "require_video_id", "source_name", "video_id_of", "write_jsonl_atomic",
]
