"""Reading merchant CSV files: encodings, dialects, headers and line numbers, in one place.

Accepted: UTF-8 with or without BOM, LF or CRLF, quoted fields, comma/semicolon/tab delimiters
(sniffed from the header). Header names are matched case-insensitively. Line numbers are the
physical line a record starts on, as a spreadsheet user counts them (header = line 1).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.email import normalise_email
from segflow.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from _csv import Reader

_DELIMITERS = ",;\t"


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    values: dict[str, str]
    """Every header column, stripped; missing trailing fields are empty strings."""


@dataclass(frozen=True, slots=True)
class CsvFile:
    path: Path
    columns: list[str]
    rows: list[CsvRow]
    bad_rows: list[tuple[int, str]]
    """Records that cannot be read as a row of this header: (line, reason)."""


def decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            f"{name}: line {line} is not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


class _Merchant(csv.excel):
    """Spreadsheet CSV (quotes doubled inside quoted fields), delimiter chosen per file."""


def _dialect(header_line: str) -> type[csv.Dialect]:
    # Sniff only the delimiter: from a header line alone the Sniffer guesses quoting wrong.
    try:
        delimiter = csv.Sniffer().sniff(header_line, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    return type("MerchantCsv", (_Merchant,), {"delimiter": delimiter})


def read(path: Path, *, required: tuple[str, ...], allowed: tuple[str, ...], shown_as: str | None = None) -> CsvFile:
    """Parse the whole file. Raises InvalidInput for file-level problems (encoding, header),
    naming the file as `shown_as` when given (an upload's own name, not where it was saved)."""
    name = shown_as or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{name}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot read ({exc.strerror})") from None
    text = decode(name, data)
    if not text.strip():
        raise InvalidInput(f"{name}: the file is empty; expected a header line with {', '.join(required)}")
    first_line = text.splitlines()[0]
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(first_line))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except csv.Error as exc:
        raise InvalidInput(f"{name}: line 1: {exc}") from None
    _check_header(name, header, required, allowed)
    return CsvFile(path, header, *_records(name, reader, header))


def _check_header(name: str, header: list[str], required: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        raise InvalidInput(f"{name}: line 1: no {', '.join(missing)} column in the header (found: {', '.join(header)})")
    unknown = [column for column in header if column not in allowed]
    if unknown:
        raise InvalidInput(f"{name}: line 1: unknown column {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InvalidInput(f"{name}: line 1: column {column} appears twice")
        seen.add(column)


def _records(name: str, reader: Reader, header: list[str]) -> tuple[list[CsvRow], list[tuple[int, str]]]:
    rows: list[CsvRow] = []
    bad: list[tuple[int, str]] = []
    line_num = reader.line_num
    while True:
        start = line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidInput(f"{name}: line {start}: {exc}") from None
        line_num = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank lines (common at the end of exported files) are not rows; "," is one (SPEC §6)
        if len(fields) > len(header):
            bad.append((start, f"{len(fields)} fields but the header has {len(header)}"))
            continue
        padded = fields + [""] * (len(header) - len(fields))
        rows.append(CsvRow(start, {column: value.strip() for column, value in zip(header, padded, strict=True)}))
    return rows, bad


@dataclass(frozen=True, slots=True)
class EmailRows:
    """A file's rows keyed by normalised email: the one reading both imports share."""

    first: list[tuple[CsvRow, str]]
    """Rows whose email appears for the first time in the file, with that email normalised."""
    repeats: list[tuple[int, str, int]]
    """(line, email, line where the email first appeared) for every later occurrence."""
    invalid: list[tuple[int, str]]
    """(line, reason) for unreadable records and missing or malformed emails, in line order."""


def email_rows(parsed: CsvFile) -> EmailRows:
    first: list[tuple[CsvRow, str]] = []
    repeats: list[tuple[int, str, int]] = []
    invalid = list(parsed.bad_rows)
    first_line: dict[str, int] = {}
    for row in parsed.rows:
        try:
            email = normalise_email(row.values["email"])
        except ValueError as exc:
            invalid.append((row.line, str(exc)))
            continue
        if email in first_line:
            repeats.append((row.line, email, first_line[email]))
            continue
        first_line[email] = row.line
        first.append((row, email))
    invalid.sort()
    return EmailRows(first, repeats, invalid)
