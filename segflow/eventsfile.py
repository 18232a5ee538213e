"""Reading JSON Lines files of input events (`flows simulate`, `events produce`).

A file is checked whole before anything uses it: the first bad line is named and nothing is
sent or simulated (a half-produced file is worse than none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from schemas.events import InputEvent, parse_event
from segflow.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class EventLine:
    line: int
    raw: bytes
    """The line as it will be sent: the producer's own bytes, not a re-serialisation."""
    event: InputEvent


def read(path: Path) -> list[EventLine]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    lines: list[EventLine] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        event = parse_event(raw)
        if isinstance(event, str):
            raise InvalidInput(f"{path}: line {number}: {event}")
        lines.append(EventLine(number, raw.strip(), event))
    return lines


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
