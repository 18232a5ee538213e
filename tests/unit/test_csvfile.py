from pathlib import Path

import pytest

from segflow.errors import InvalidInput, NotFound
from segflow.services import csvfile

COLUMNS = ("email", "first_name", "last_name", "phone")


def read(tmp_path: Path, content: str | bytes):
    path = tmp_path / "f.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return csvfile.read(path, required=("email",), allowed=COLUMNS)


def test_bom_crlf_quotes_and_header_case(tmp_path):
    parsed = read(tmp_path, '\ufeffEmail, First_Name \r\n"a@x.com","Ann ""A"" Lee"\r\n b@x.com ,Bo\r\n')
    assert ["email", "first_name"] == parsed.columns
    assert [(2, {"email": "a@x.com", "first_name": 'Ann "A" Lee'}), (3, {"email": "b@x.com", "first_name": "Bo"})] == [
        (r.line, r.values) for r in parsed.rows
    ]


def test_line_numbers_count_physical_lines_and_skip_blank_ones(tmp_path):
    parsed = read(tmp_path, 'email,first_name\n\n"a@x.com","multi\nline"\nb@x.com,\n\n')
    assert [3, 5] == [r.line for r in parsed.rows]


def test_short_rows_are_padded_and_long_rows_reported(tmp_path):
    parsed = read(tmp_path, "email,first_name\na@x.com\nb@x.com,Bo,extra\n")
    assert [(2, {"email": "a@x.com", "first_name": ""})] == [(r.line, r.values) for r in parsed.rows]
    assert [(3, "3 fields but the header has 2")] == parsed.bad_rows


def test_semicolon_and_tab_delimiters_are_sniffed(tmp_path):
    assert ["email", "phone"] == read(tmp_path, "email;phone\na@x.com;+1\n").columns
    assert ["email", "phone"] == read(tmp_path, "email\tphone\na@x.com\t+1\n").columns


def test_single_email_column_is_not_split_on_other_characters(tmp_path):
    parsed = read(tmp_path, "email\nann.lee@x.com\n")
    assert [{"email": "ann.lee@x.com"}] == [r.values for r in parsed.rows]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"name\nAnn\n", "line 1: no email column in the header (found: name)"),
        (b"email,colour\n", "line 1: unknown column colour"),
        (b"email,email\n", "line 1: column email appears twice"),
        (b"email\na@x.com\n\xff@x.com\n", "line 3 is not UTF-8 (byte 0xff)"),
    ],
)
def test_file_level_problems_name_the_line(tmp_path, content, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(tmp_path, content)


def test_missing_file(tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        csvfile.read(tmp_path / "nope.csv", required=("email",), allowed=COLUMNS)
