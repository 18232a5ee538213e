"""Reading JSON Lines files of input events (`flows simulate`, `flows test`, `events produce`,
`events validate`).

A file is checked whole before anything uses it: every bad line is named, and nothing is sent
or simulated unless the caller chooses to skip them (a half-produced file is worse than none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.events import InputEvent, check_value, unknown_store
from segflow.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from db import Conn


@dataclass(frozen=True, slots=True)
class EventLine:
    line: int
    raw: bytes
    """The line as it will be sent: the producer's own bytes, not a re-serialisation."""
    event: InputEvent


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str


def scan(path: Path) -> tuple[list[EventLine], list[BadLine]]:
    """The file's events and its bad lines, every one of them."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read: {exc.strerror or exc}") from None
    lines: list[EventLine] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        event = check_value(raw.strip())  # exactly what the worker would make of the line as a message
        if isinstance(event, str):
            bad.append(BadLine(number, event))
        else:
            lines.append(EventLine(number, raw.strip(), event))
    return lines, bad


def of_unknown_stores(conn: Conn, lines: list[EventLine]) -> list[BadLine]:
    """The lines whose store does not exist, worded as the worker's dead letters word them."""
    from db import events as event_rows  # the database's client only for the commands that ask

    known = event_rows.existing_stores(conn, sorted({line.event.store_id for line in lines}))
    return [BadLine(ln.line, unknown_store(ln.event.store_id)) for ln in lines if ln.event.store_id not in known]


def read(path: Path, what_happens: str = "nothing was used") -> list[EventLine]:
    """The file's events; InvalidInput naming every bad line if there is any."""
    lines, bad = scan(path)
    if bad:
        raise invalid_lines(path, bad, what_happens)
    return lines


def invalid_lines(path: Path, bad: list[BadLine], what_happens: str) -> InvalidInput:
    count = f"{len(bad)} invalid line{'s' if len(bad) > 1 else ''}"
    return InvalidInput(
        f"{path} has {count}; {what_happens}",
        lines=[f"{path}: line {b.line}: {b.reason}" for b in bad],
        data={"invalid_lines": [{"line": b.line, "reason": b.reason} for b in bad]},
    )


def read_members(path: Path) -> dict[str, list[str]]:
    """`{"Segment name": ["email", ...]}`: who is in which segment before the simulation."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a JSON object of segment name to member emails ({exc})") from None
    if not isinstance(value, dict) or not all(
        isinstance(emails, list) and all(isinstance(e, str) for e in emails) for emails in value.values()
    ):
        raise InvalidInput(f'{path}: expected {{"Segment name": ["email", ...]}}')
    return value
