"""Engine value types shared with `nodes/` (a leaf module: it imports nothing of segflow's).

A node visit is pure: it gets a `Context` (the customer, the event driving the run, a
membership view and the time) and returns an `Outcome`: where to go next, the effects it wants,
or that the run pauses, exits or fails. The engine applies outcomes; nodes never do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from pydantic_core import to_json

RunStatus = Literal["active", "waiting", "completed", "exited", "failed"]
LIVE_STATUSES: tuple[RunStatus, ...] = ("active", "waiting")
Wake = Literal["timer", "event"]


@dataclass(frozen=True, slots=True)
class Edge:
    label: str
    """The field that holds the reference: next, then, else, on_timeout, branches[1]..."""
    target: str | None
    """A node id, or None where the run ends."""


@dataclass(slots=True)
class Event:
    """An input event as the engine sees it (SPEC §2), already validated at the edge."""

    event_id: str
    type: str
    occurred_at: datetime
    data: Mapping[str, Any]


class Membership(Protocol):
    """What a node may ask about segments; names compare case-insensitively."""

    def is_member(self, email: str, segment: str) -> bool: ...

    def exists(self, segment: str) -> bool: ...


@dataclass(slots=True)
class Context:
    store_id: str
    flow_id: str
    email: str
    customer: Mapping[str, Any]
    """The customer record: email, external_id, first_name, last_name, phone."""
    event: Event | None
    """The event driving the run now; None when a timer woke it."""
    members: Membership
    now: datetime
    wake: Wake | None = None
    """Set only for the node a paused run resumes at: what woke it."""


@dataclass(frozen=True, slots=True)
class ChangeMembership:
    segment: str
    """Created when the store does not have it: the Segment node fails the run before this
    effect unless it has create_if_missing."""
    operation: Literal["add", "remove"]


@dataclass(frozen=True, slots=True)
class RequestAction:
    action: str
    params: Mapping[str, Any]


Effect = ChangeMembership | RequestAction


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a node visit decided (frozen: a node may answer every visit with the same one).

    Exactly one of: go to `next` (None ends the run as completed), pause until `wake_at`
    (optionally also woken by the `waiting_for` event), exit, or fail."""

    next: str | None = None
    edge: str = "next"
    """Which of the node's edges `next` is (an `Edge.label`), for `flows stats`."""
    effects: tuple[Effect, ...] = ()
    wake_at: datetime | None = None
    waiting_for: str | None = None
    exit: bool = False
    failure: str | None = None


Visit = Callable[[Context], Outcome]
"""A node ready to run: what its visits decide, given the context."""


@dataclass(frozen=True, slots=True)
class NodeHandler:
    """One node type: how it runs, how the validator walks it, and what it checks on its own."""

    type: str
    prepare: Callable[[Any], Visit]
    """Makes a node's visit, once per deployed version (`engine.step.CompiledFlow`): what does
    not depend on the visit (a compiled rule, the outcomes to answer with) is made here."""
    successors: Callable[[Any], list[Edge]]
    check: Callable[[Any], list[str]]
    """One-line problems with the node's own fields (references are checked by the graph)."""
    pauses: bool = False
    """True for node types a run can wait in; a cycle through one is not an infinite loop."""
    segments: Callable[[Any], list[tuple[str, bool]]] = lambda _node: []
    """The segments the node refers to, each with whether the node creates it when missing:
    with the trigger's rule, the one definition of a flow's segment references (SPEC §6)."""

    def visit(self, node: Any, ctx: Context) -> Outcome:
        """One visit of a node not prepared beforehand (tests, one-off questions)."""
        return self.prepare(node)(ctx)


@dataclass(slots=True)
class Run:
    """One customer's journey through one flow version (SPEC §1)."""

    key: str
    """Deterministic: the same entering event gives the same run, so a retried batch cannot fork it."""
    flow_id: str
    flow_version: int
    email: str
    node_id: str | None
    status: RunStatus
    entered_at: datetime
    updated_at: datetime
    wake_at: datetime | None = None
    waiting_for: str | None = None
    reason: str | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def moved(
        self,
        node_id: str | None,
        status: RunStatus,
        at: datetime,
        wake_at: datetime | None = None,
        waiting_for: str | None = None,
        reason: str | None = None,
    ) -> Run:
        """A new value for the run's next position (runs are never changed in place: a batch
        keeps earlier values). Spelled out because `dataclasses.replace` was slow here."""
        return Run(
            self.key, self.flow_id, self.flow_version, self.email, node_id, status, self.entered_at, at,
            wake_at, waiting_for, reason,
        )  # fmt: skip


@dataclass(slots=True)
class MembershipView:
    """In-memory segment membership: the batch's snapshot plus what earlier steps changed.

    Event 2 of a batch sees event 1's add (SPEC §5). Segment names are kept lower-cased.
    """

    segments: dict[str, str] = field(default_factory=dict)
    """Segments that exist in the store: lower-cased name -> name as created."""
    members: dict[str, set[str]] = field(default_factory=dict)
    """email -> segments the customer is in."""

    def is_member(self, email: str, segment: str) -> bool:
        return segment.lower() in self.members.get(email, ())

    def exists(self, segment: str) -> bool:
        return segment.lower() in self.segments

    def name_of(self, segment: str) -> str:
        return self.segments.get(segment.lower(), segment)

    def create(self, segment: str) -> None:
        self.segments.setdefault(segment.lower(), segment)

    def add(self, email: str, segment: str) -> None:
        self.members.setdefault(email, set()).add(segment.lower())

    def remove(self, email: str, segment: str) -> None:
        self.members.get(email, set()).discard(segment.lower())


@dataclass(slots=True)
class EmittedCause:
    """Why an output event happened (SPEC §3); `schemas.events.Cause` documents the same shape."""

    event_id: str | None = None
    flow_id: str | None = None
    flow_version: int | None = None
    node_id: str | None = None
    operation: str | None = None
    operation_id: str | None = None

    def present(self) -> dict[str, str | int]:
        """The fields that are set, in the documented order (SPEC §3 leaves the others out)."""
        cause: dict[str, str | int] = {}
        if self.event_id is not None:
            cause["event_id"] = self.event_id
        if self.flow_id is not None:
            cause["flow_id"] = self.flow_id
        if self.flow_version is not None:
            cause["flow_version"] = self.flow_version
        if self.node_id is not None:
            cause["node_id"] = self.node_id
        if self.operation is not None:
            cause["operation"] = self.operation
        if self.operation_id is not None:
            cause["operation_id"] = self.operation_id
        return cause


@dataclass(slots=True)
class Emitted:
    """An output event as the engine builds it, many per batch.

    `schemas.events.OutputEvent` is the documented shape of the same JSON; a test holds the two
    together. A plain dataclass because building pydantic models was a third of the engine's
    time, and not a frozen one because frozen `__init__`s set each field the slow way.
    """

    event_id: str
    type: str
    store_id: str
    occurred_at: datetime
    email: str
    cause: EmittedCause
    data: Mapping[str, Any]

    def payload_json(self) -> str:
        """Compact JSON, non-ASCII as is. pydantic-core's encoder: about a quarter of the time
        of the standard library's for these documents, and a batch encodes thousands."""
        document = {
            "event_id": self.event_id,
            "type": self.type,
            "store_id": self.store_id,
            "occurred_at": _timestamp(self.occurred_at),
            "customer": {"email": self.email},
            "cause": self.cause.present(),
            "data": self.data,
        }
        return to_json(document).decode()


@lru_cache(maxsize=64)
def _timestamp(at: datetime) -> str:
    """SPEC §3's UTC `Z` form; cached because a batch stamps thousands of events with one `now`."""
    return at.isoformat().replace("+00:00", "Z")
