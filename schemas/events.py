"""Event envelopes on the wire (SPEC §2, §3)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.email import normalise_email
from schemas.flow import EVENT_TYPE_PATTERN

OutputEventType = Literal[
    "segment.member_added",
    "segment.member_removed",
    "flow.entered",
    "flow.completed",
    "flow.exited",
    "flow.failed",
    "action.requested",
]


class EventCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    email: str
    """Normalised: trimmed and lower-cased."""


class Cause(BaseModel):
    """Why an output event happened: an input event at a flow node, or a merchant operation."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    event_id: str | None = None
    """The input event that caused it, for flow effects."""
    flow_id: str | None = None
    flow_version: int | None = None
    node_id: str | None = None
    operation: Literal["manual", "csv", "klaviyo_sync", "delete", "timer", "archive"] | None = None
    """For changes made outside flows: which kind of operation."""
    operation_id: str | None = None
    """Unique per operation (one CLI call, one import, one sync)."""


class OutputEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    event_id: str
    """Deterministic: the same cause gives the same id, so consumers can de-duplicate."""
    type: OutputEventType
    store_id: str
    occurred_at: datetime
    customer: EventCustomer
    cause: Cause
    data: dict[str, Any] = Field(default_factory=dict)


# --- input (SPEC §2) ---------------------------------------------------------------------------


class InputCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)

    email: str
    """Required; normalised here by the one email rule (`schemas.email`), so every later step
    sees the form every other entry point uses."""
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_email(value)

    def known_fields(self) -> dict[str, str]:
        """The optional fields this event carries (absent and null ones left out): what updates the record."""
        fields: dict[str, str] = {}
        if self.external_id is not None:
            fields["external_id"] = self.external_id
        if self.first_name is not None:
            fields["first_name"] = self.first_name
        if self.last_name is not None:
            fields["last_name"] = self.last_name
        if self.phone is not None:
            fields["phone"] = self.phone
        return fields


class InputEvent(BaseModel):
    """A customer event on the input topic. Unknown top-level fields are ignored, so producers
    can add fields without their events being dead-lettered."""

    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)

    event_id: str = Field(min_length=1, max_length=200)
    """Producer-assigned, unique per store; a repeat is skipped."""
    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    store_id: str = Field(min_length=1, max_length=63)
    occurred_at: AwareDatetime
    customer: InputCustomer
    data: dict[str, Any] = Field(default_factory=dict)


def describe(exc: ValidationError) -> str:
    """One line for the first problem of an input event: `customer.email: ...` or what the JSON lacks."""
    error = exc.errors()[0]
    if error["type"] == "json_invalid":
        detail = str(error["msg"]).removeprefix("Invalid JSON: ")
        return f"not valid JSON: {detail}"
    if error["type"] == "json_type":
        return "not a JSON object"
    where = ".".join(str(part) for part in error["loc"])
    message = "required field is missing" if error["type"] == "missing" else str(error["msg"])
    message = message.removeprefix("Value error, ")  # our validators' own words need no prefix
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_event(raw: bytes) -> InputEvent | str:
    """The event, or one line saying what is wrong with it, naming the field where there is one
    (`customer.first_name: contains a NUL character`). The one rule for the worker and for
    `events produce`.

    Beyond the schema, it refuses what PostgreSQL cannot store (a NUL character: text columns
    refuse it) and what JSON cannot carry on (NaN, Infinity, numbers too large for a double such
    as 1e999, which the parser reads as non-finite floats). Most events pay a substring search
    and a look at `data` for those, not a walk of everything.
    """
    try:
        event = InputEvent.model_validate_json(raw)
    except ValidationError as exc:
        reason = describe(exc)
        if reason.startswith("not valid JSON"):
            return _unstorable_in_json(raw) or reason
        return reason
    if b"\\u0000" in raw or not _finite(event.data):
        return _unstorable(event.model_dump(exclude_unset=True), "") or event
    return event


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in `value` (loops, not generators: this runs for every event)."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is dict:
        for item in value.values():
            if not _finite(item):
                return False
    elif type(value) is list:
        for item in value:
            if not _finite(item):
                return False
    return True


def _unstorable_in_json(raw: bytes) -> str | None:
    """Why a value the strict parser refused cannot be stored, when Python's lenient one reads it
    (a lone surrogate such as \\ud800 is the usual case): the same wording, naming the field."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return _unstorable(document, "")


def _unstorable(value: Any, path: str) -> str | None:
    """The first value PostgreSQL cannot store or JSON cannot carry, as `path: why`."""
    if isinstance(value, str):
        why = unstorable_text(value)
        return f"{path}: {why}" if why else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path}: {value} is not a number JSON can hold"
    if isinstance(value, dict):
        for key, item in value.items():
            why = unstorable_text(str(key))
            if why:  # named by where it is, not by itself
                return f"{path or 'the event'}: a key {why}"
            problem = _unstorable(item, f"{path}.{key}" if path else str(key))
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _unstorable(item, f"{path}[{index}]")
            if problem:
                return problem
    return None


def unstorable_text(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (a NUL character, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    surrogate = _SURROGATE.search(text)
    return f"contains a lone surrogate ({surrogate.group()!a})" if surrogate else None
