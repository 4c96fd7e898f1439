import pytest

from emoret.errors import InputError, first_line


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (ValueError("bad value\nTraceback detail"), "bad value"),
        (ValueError("\n  \n  second line wins  \nthird"), "second line wins"),
        (ValueError(""), "ValueError"),
        (OSError(), "OSError"),
        (KeyError("k"), "'k'"),
    ],
)
def test_first_line_of_an_error_is_one_line_even_for_empty_messages(err, expected):
    assert first_line(err) == expected


def test_input_error_names_source_and_line():
    assert str(InputError("a.jsonl", "bad", 3)) == "a.jsonl:3: bad"
    assert str(InputError("a.jsonl", "bad")) == "a.jsonl: bad"
