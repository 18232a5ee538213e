"""Event envelopes on the wire (SPEC §2, §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    operation: Literal["manual", "csv", "klaviyo_sync", "delete"] | None = None
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
