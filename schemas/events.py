"""Event envelopes on the wire (SPEC §2, §3)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

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

# The hot path checks an email's shape only; the full email-validator check (IDNA and all) costs
# more than the rest of an event's processing. Imports still use the full check.
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InputCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore", use_attribute_docstrings=True)

    email: str = Field(max_length=320)
    """Required; trimmed and lower-cased here, so every later step sees the normalised form."""
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        email = value.strip().lower()
        if not _EMAIL_SHAPE.match(email):
            raise ValueError(f"{value.strip()!r} is not an email address")
        return email

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
        return "not valid JSON"
    if error["type"] == "json_type":
        return "not a JSON object"
    where = ".".join(str(part) for part in error["loc"])
    message = "required field is missing" if error["type"] == "missing" else str(error["msg"])
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"
