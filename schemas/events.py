"""Event envelopes on the wire (SPEC §2, §3)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.config import JsonDict

from schemas.docs import describe_fields
from schemas.email import normalise_email
from schemas.names import EVENT_TYPE_PATTERN, PERSON_NAME_PATTERN, person_name_problem

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
    model_config = ConfigDict(extra="forbid", json_schema_extra=describe_fields)

    email: str
    """Normalised: trimmed and lower-cased."""


class Cause(BaseModel):
    """Why an output event happened: an input event at a flow node, or a merchant operation."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=describe_fields)

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
    model_config = ConfigDict(extra="forbid", json_schema_extra=describe_fields)

    event_id: str
    """Deterministic: the same cause gives the same id, so consumers can de-duplicate."""
    type: OutputEventType
    store_id: str
    occurred_at: datetime
    customer: EventCustomer
    cause: Cause
    data: dict[str, Any] = Field(default_factory=dict)


# --- input (SPEC §2) ---------------------------------------------------------------------------


# What the published schema (`events schema`) says beyond the models' own types, so a producer's
# validator refuses what the worker refuses: text PostgreSQL can store, an address with one @ and
# a dotted domain (the worker's email-validator rule is the full one), a time with its offset.
NO_NUL: JsonDict = {"pattern": "^[^\\u0000]*$"}
EMAIL_SHAPE: JsonDict = {"pattern": "^\\s*[^@\\s\\u0000]+@[^@\\s\\u0000]+\\.[^@\\s\\u0000]+\\s*$", "format": "email"}
PERSON_NAME: JsonDict = {"pattern": PERSON_NAME_PATTERN}
RFC3339: JsonDict = {"pattern": "^\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?([Zz]|[+-]\\d{2}:?\\d{2})$"}


class InputCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=describe_fields)

    email: str = Field(json_schema_extra=EMAIL_SHAPE)
    """Required; normalised here by the one email rule (`schemas.email`), so every later step
    sees the form every other entry point uses."""
    external_id: str | None = Field(None, json_schema_extra=NO_NUL)
    first_name: str | None = Field(None, json_schema_extra=PERSON_NAME)
    """No control character and no bidirectional override or isolate: they would reorder the
    text around the name wherever it is shown."""
    last_name: str | None = Field(None, json_schema_extra=PERSON_NAME)
    """The same rule as `first_name`."""
    phone: str | None = Field(None, json_schema_extra=NO_NUL)

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("first_name", "last_name")
    @classmethod
    def _shown_as_written(cls, value: str | None) -> str | None:
        problem = person_name_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

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

    model_config = ConfigDict(extra="ignore", json_schema_extra=describe_fields)

    event_id: str = Field(min_length=1, max_length=200, json_schema_extra=NO_NUL)
    """Producer-assigned, unique per store; a repeat is skipped."""
    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    """Dotted lower-case words, e.g. `order.processed`; flows trigger on it."""
    store_id: str = Field(min_length=1, max_length=63, json_schema_extra=NO_NUL)
    """The store (tenant) the event belongs to; it must exist."""
    occurred_at: AwareDatetime = Field(json_schema_extra=RFC3339)
    """When it happened, with its UTC offset (RFC 3339)."""
    customer: InputCustomer
    data: dict[str, Any] = Field(default_factory=dict)
    """Anything JSON; flows read it by path (`data.total_price`)."""


def schemas_of(ref_root: str) -> dict[str, dict[str, Any]]:
    """JSON Schemas of the three record kinds and what they refer to, by name, with references
    made as `ref_root` + name (`#/$defs/` in a schema of its own, `#/components/schemas/` in the
    AsyncAPI document)."""
    storable: dict[str, Any] = {"additionalProperties": {"$ref": f"{ref_root}StorableJson"}, "propertyNames": NO_NUL}
    found: dict[str, dict[str, Any]] = {}
    for model in (InputEvent, OutputEvent, DeadLetterRecord):
        schema = model.model_json_schema(ref_template=ref_root + "{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    found["InputEvent"]["properties"]["data"].update(storable)  # after generation: pydantic resolves every $ref
    found["StorableJson"] = {
        "description": "Any JSON value PostgreSQL can store: no NUL character in a string or a key.",
        "anyOf": [
            {"type": "string", **NO_NUL},
            {"type": ["number", "boolean", "null"]},
            {"type": "array", "items": {"$ref": f"{ref_root}StorableJson"}},
            {"type": "object", **storable},
        ],
    }
    return found


def input_event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an input event, from the model the worker validates
    with (`segflow events schema`). Unknown fields are allowed, as the worker ignores them."""
    found = schemas_of("#/$defs/")
    schema = found.pop("InputEvent")
    wanted = ("InputCustomer", "StorableJson")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:segflow:input-event",
        "title": "segflow input event",
        "description": (
            "A customer event on the input topic (SPEC §2), keyed <store_id>:<email>, at most 1 MiB. "
            "The worker also checks each email with its full email rule."
        ),
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
        "$defs": {name: found[name] for name in wanted},
    }


# --- dead letters (SPEC §2) ---------------------------------------------------------------------


class DeadLetterSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    partition: int
    offset: int


class DeadLetterRecord(BaseModel):
    """A record on the dead-letter topic: why, where from, and the original bytes (SPEC §2).
    Keyed by the original key, cut to 16 KiB."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=describe_fields)

    reason: str
    """One line: what is wrong, naming the field where there is one."""
    source: DeadLetterSource
    """The record's topic, partition and offset."""
    original: str
    """The original value, base64, at most SEGFLOW_DLQ_MAX_ORIGINAL_BYTES of it."""
    original_size: int
    original_sha256: str
    """Of the whole original value."""
    original_truncated: bool
    failed_at: datetime
    key_size: int | None = None
    """Set when the key was cut: its whole size and hash."""
    key_sha256: str | None = None

    def wire(self) -> bytes:
        """The record's value as the worker writes it: JSON with `json.dumps`'s spacing, the fields
        in the order above, unset ones left out, `failed_at` as Python's ISO 8601 (`+00:00`), as
        every release has written it."""
        document = self.model_dump(mode="json", exclude_none=True)
        document["failed_at"] = self.failed_at.isoformat()
        return json.dumps(document).encode()

    @classmethod
    def parse(cls, value: bytes | None) -> DeadLetterRecord | None:
        """A value of the dead-letter topic, or None when it is not a segflow dead letter."""
        try:
            return cls.model_validate_json(value or b"")
        except ValidationError:
            return None


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


MAX_VALUE_BYTES = 1024 * 1024
"""SPEC §2: a value over 1 MiB is dead-lettered."""
# Wording for values that are not even a JSON object: a producer reads these in dead letters.
_NOT_AN_EVENT = {
    "not valid JSON": "the value is not JSON (UTF-8 encoded)",
    "not a JSON object": "the value is not a JSON object",
}


def check_value(value: bytes | None) -> InputEvent | str:
    """A message value as the worker judges it (SPEC §2): the event, or the one line a dead
    letter would give as its reason. The one check for the worker, `events validate` and
    `events produce`."""
    if value is None:
        return "the message has no value"
    if len(value) > MAX_VALUE_BYTES:
        return f"the value is {len(value):,} bytes; the limit is {MAX_VALUE_BYTES:,} (1 MiB)"
    parsed = parse_event(value)
    if isinstance(parsed, str):
        for short, wording in _NOT_AN_EVENT.items():
            if parsed.startswith(short):
                return wording + parsed.removeprefix(short)
    return parsed


def unknown_store(store_id: str) -> str:
    """The dead-letter reason for an event of a store that does not exist."""
    return f"store {store_id} does not exist"


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
