"""items.jsonl read lazily: the same records as iter_records, errors on the line read."""

from __future__ import annotations

import pytest

from emoret.errors import InputError
from emoret.index.lazy_items import LazyItems
from emoret.records import iter_records


def test_lazy_items_read_like_iter_records(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"video_id": "a", "n": 1}\n{"video_id": "b"}\n{"video_id": "c", "x": [1, 2]}\n')
    items = LazyItems.read(path)
    assert isinstance(items, LazyItems) and len(items) == 3
    expected = list(iter_records(path))
    assert items == expected and list(items) == expected and items[-1] == expected[-1] and items[1:] == expected[1:]
    assert items[0] is items[0]  # parsed once, then kept
    with pytest.raises(IndexError):
        items[3]


def test_a_malformed_line_names_file_and_line_when_read(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"video_id": "a"}\n{"video_id": \n[1]\n')
    items = LazyItems.read(path)
    assert items[0] == {"video_id": "a"}
    with pytest.raises(InputError, match=r"items.jsonl:2: malformed JSON"):
        items[1]
    with pytest.raises(InputError, match=r"items.jsonl:3: expected a JSON object"):
        items[2]


def test_files_that_are_not_plain_json_lines_are_read_whole(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"video_id": "a"}\n\n{"video_id": "b"}\n')
    items = LazyItems.read(path)
    assert isinstance(items, list) and items == [{"video_id": "a"}, {"video_id": "b"}]


@pytest.mark.parametrize("data", [b'{"a": 1}\n\n', b'{"a": 1}\n \n{"b": 2}\n', b'\n{"a": 1}\n', b'{"a": 1}\n\t\r\n',
                                  b'{"a": 1}\n\n\n'])
def test_a_blank_line_anywhere_sends_the_file_to_iter_records(tmp_path, data):
    path = tmp_path / "items.jsonl"
    path.write_bytes(data)
    items = LazyItems.read(path)
    assert isinstance(items, list) and items == list(iter_records(path))
