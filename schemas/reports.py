"""The `--json` shapes scripts rely on (SPEC §7). Keys may be added, never renamed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.docs import describe_fields


class Report(BaseModel):
    # Built when first used, not at import: a command uses a few of these fifty models; and their
    # fields' docstrings read only when a schema shows them (schemas.docs).
    model_config = ConfigDict(extra="forbid", defer_build=True, json_schema_extra=describe_fields)


class StoreOut(Report):
    id: str
    name: str
    plan: str
    created_at: datetime


class InvalidRow(Report):
    line: int
    """Physical line in the file where the record starts (header = 1)."""
    reason: str


class ImportReport(Report):
    """`customers import` and `segments import`; keys that do not apply are 0."""

    rows: int = 0
    """Data records read (blank lines excluded)."""
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    already_members: int = 0
    unknown_emails: int = 0
    duplicates_in_file: int = 0
    invalid_rows: list[InvalidRow] = []
    created: bool = False
    """`segments import --create`: the segment did not exist and was made by this import."""
    dry_run: bool = False
    """`segments import --dry-run`: what it would do; nothing was written."""


class SegmentOut(Report):
    name: str
    source: str
    members: int
    created_at: datetime
    auto_sync: bool
    last_synced_at: datetime | None


class SyncStateOut(Report):
    """A Klaviyo segment's sync as the console shows it (SPEC §10): what `POST /segments/{name}/sync`
    and an import from Klaviyo answer, with 202, before anything is fetched."""

    segment: str
    state: Literal["queued", "running", "failed", "synced", "never synced"]
    reason: str | None
    """Why the last sync failed (state `failed`)."""
    last_synced_at: datetime | None
    auto_sync: bool
    mirrors: str
    """The Klaviyo list or segment, in words: `Klaviyo list "Newsletter" (id Xy12Ab)`."""


class MemberOut(Report):
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    added_at: datetime
    added_by: str
    """`manual`, `csv`, `klaviyo` or `flow:<flow_id>@<version>`."""


class SegmentShow(Report):
    segment: SegmentOut
    members: list[MemberOut]


class MembershipReport(Report):
    """`segments add` / `segments remove`."""

    changed: list[str]
    unchanged: list[str]
    unknown: list[str]


class SyncReport(Report):
    """`segments import-external` and `segments sync` (SPEC §7)."""

    added: int
    removed: int
    unknown_emails: int
    """Profiles whose email matches no customer of the store (or that have no email)."""
    profiles: int
    """Profiles in the Klaviyo list or segment."""
    dry_run: bool = False
    """`segments sync --dry-run`: what it would change; nothing was."""


# --- seeing inside (SPEC §9) ---------------------------------------------------------------


class CustomerOut(Report):
    """`customers list`: one row per customer."""

    email: str
    external_id: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None


class CustomerRecordOut(CustomerOut):
    created_at: datetime


class CustomerSegmentOut(Report):
    name: str
    added_at: datetime
    added_by: str
    """manual, csv, klaviyo, or flow:<flow id>@<version>."""


class CustomerRunOut(Report):
    flow_id: str
    version: int
    status: str
    node_id: str | None
    entered_at: datetime
    updated_at: datetime
    wake_at: datetime | None
    waiting_for: str | None
    reason: str | None
    """Why the run failed or exited."""


class CustomerShow(Report):
    """`customers show`: the record, its memberships, and every run."""

    customer: CustomerRecordOut
    segments: list[CustomerSegmentOut]
    runs: list[CustomerRunOut]


class StepCause(Report):
    operation: str
    """event, timer, backfill, archive, manual, csv, klaviyo_sync or delete."""
    event_id: str | None = None
    event_type: str | None = None


class JourneyStepOut(Report):
    at: datetime
    cause: StepCause
    flow_id: str | None
    """None for a segment change made outside flows."""
    version: int | None
    path: list[str]
    """The nodes the run visited in this step, in order."""
    status: str | None
    """The run's status after the step."""
    node_id: str | None
    reason: str | None
    effects: list[dict[str, object]]
    """What the step did: the output events it emitted, each with its type and data."""


class VerdictOut(Report):
    flow_id: str
    verdict: str


class ExplainOut(Report):
    """`customers explain`: the journey, oldest step first, and with --flow why the customer is,
    was or never was in that flow."""

    email: str
    steps: list[JourneyStepOut]
    verdicts: list[VerdictOut]


# --- flows (`flows list`, `show`, `stats`, `diff`; the API's /flows) ---


class FlowOut(Report):
    id: str
    version: int
    status: str
    trigger: str
    active_runs: int


class FlowVersionOut(Report):
    id: str
    version: int
    status: str
    content_hash: str
    created_at: datetime
    definition: Any


class NodeStatsOut(Report):
    id: str
    type: str
    visits: int
    waiting: int
    edges: dict[str, int]


class FlowStatsOut(Report):
    flow_id: str
    version: int
    runs: dict[str, int]
    nodes: list[NodeStatsOut]


class VersionRefOut(Report):
    id: str
    version: int


class NewerOut(Report):
    id: str
    version: int | None
    """None for a file not yet deployed."""
    file: str | None


class ChangeOut(Report):
    node: str | None
    change: str
    fields: list[str]


class DiffOut(Report):
    from_: VersionRefOut = Field(alias="from")
    to: NewerOut
    changes: list[ChangeOut]
    runs_on_removed_nodes: int


class Deleted(Report):
    """`segments delete --json`."""

    deleted: str
    members_removed: int
    paused_flows: list[str]


class FlowStatusOut(Report):
    """`flows pause|resume|archive --json`."""

    id: str
    store_id: str
    status: str
    exited_runs: int
