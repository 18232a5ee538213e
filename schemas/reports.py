"""The `--json` shapes scripts rely on (SPEC §7). Keys may be added, never renamed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


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


class SegmentOut(Report):
    name: str
    source: str
    members: int
    created_at: datetime
    auto_sync: bool
    last_synced_at: datetime | None


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
