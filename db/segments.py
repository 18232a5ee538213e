"""Segments and their members. Set-based: one statement per batch of customers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import Conn, Pending
from db.queries import sql

_INSERT = sql("insert_segment")
_GET = sql("get_segment")
_LOCK_NAMED = sql("lock_segment_named")
_LIST = sql("list_segments")
_MEMBERS_PAGE = sql("segment_members_page")
_RESOLVE = sql("resolve_customers")
_MEMBER_EMAILS_AFTER = sql("segment_member_emails_after")
_ADD = sql("add_members")
_REMOVE = sql("remove_members")
_REMOVE_ALL = sql("remove_all_members")
_DELETE = sql("delete_segment")


@dataclass(frozen=True, slots=True)
class SegmentRow:
    id: int
    name: str
    source: str
    created_at: datetime
    auto_sync: bool
    last_synced_at: datetime | None
    members: int = 0
    sync_state: str | None = None
    """Read by the list only: queued, running or failed (None: as last_synced_at says)."""


@dataclass(frozen=True, slots=True)
class MemberRow:
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    added_at: datetime
    added_by: str


def insert(conn: Conn, store_id: str, name: str, source: str, auto_sync: bool = False) -> SegmentRow | None:
    """None if the store already has a segment of that name (in any case)."""
    params = {"store_id": store_id, "name": name, "source": source, "auto_sync": auto_sync}
    row = conn.execute(_INSERT, params).fetchone()
    return SegmentRow(*row) if row else None


def get(conn: Conn, store_id: str, name: str) -> SegmentRow | None:
    row = conn.execute(_GET, {"store_id": store_id, "name": name}).fetchone()
    return SegmentRow(*row) if row else None


def lock_named(conn: Conn, store_id: str, name: str) -> SegmentRow | None:
    """The segment of that name, locked until the transaction ends (its `members` not counted)."""
    row = conn.execute(_LOCK_NAMED, {"store_id": store_id, "name": name}).fetchone()
    return SegmentRow(*row) if row else None


def list_all(conn: Conn, store_id: str) -> list[SegmentRow]:
    return [SegmentRow(*row) for row in conn.execute(_LIST, {"store_id": store_id})]


def members_page(conn: Conn, store_id: str, segment_id: int, limit: int) -> list[MemberRow]:
    params = {"store_id": store_id, "segment_id": segment_id, "limit": limit}
    return [MemberRow(*row) for row in conn.execute(_MEMBERS_PAGE, params)]


def member_emails_after(conn: Conn, store_id: str, segment_id: int, after: str, limit: int) -> list[str]:
    """Up to `limit` members' emails greater than `after`, in email order."""
    params = {"store_id": store_id, "segment_id": segment_id, "after": after, "limit": limit}
    return [email for (email,) in conn.execute(_MEMBER_EMAILS_AFTER, params)]


def resolve_customers(conn: Conn, store_id: str, emails: Sequence[str]) -> dict[str, int]:
    """email -> customer id for the emails that are customers of the store."""
    rows = conn.execute(_RESOLVE, {"store_id": store_id, "emails": list(emails)}).fetchall()
    return {email: customer_id for customer_id, email in rows}


def add_members(
    conn: Conn, store_id: str, segment_id: int, customer_ids: Sequence[int], added_by: str, now: datetime
) -> set[int]:
    """Returns the customers really added (those already members are left as they were)."""
    params = {
        "store_id": store_id,
        "segment_id": segment_id,
        "customer_ids": list(customer_ids),
        "added_by": added_by,
        "now": now,
    }
    return {row[0] for row in conn.execute(_ADD, params)}


def remove_members(conn: Conn, store_id: str, segment_id: int, customer_ids: Sequence[int]) -> set[int]:
    params = {"store_id": store_id, "segment_id": segment_id, "customer_ids": list(customer_ids)}
    return {row[0] for row in conn.execute(_REMOVE, params)}


def delete(conn: Conn, store_id: str, segment_id: int) -> dict[str, int]:
    """Deletes the segment; returns the members it had (email -> customer id)."""
    params = {"store_id": store_id, "segment_id": segment_id}
    members = {row[0]: row[1] for row in conn.execute(_REMOVE_ALL, params)}
    conn.execute(_DELETE, params)
    return members


_MEMBERSHIPS_OF = sql("customer_memberships")
_SEGMENT_IDS = sql("segment_ids")
_SEGMENTS_NAMED = sql("segments_named")
_ADD_MANY = sql("add_memberships")
_REMOVE_MANY = sql("remove_memberships")


def memberships_of(conn: Conn, store_id: str, customer_ids: Sequence[int]) -> Pending[list[tuple[int, str]]]:
    """(customer id, segment name) for each membership of these customers."""
    params = {"store_id": store_id, "customer_ids": list(customer_ids)}
    return Pending(
        conn.execute(_MEMBERSHIPS_OF, params), lambda rows: [(customer_id, name) for customer_id, name in rows]
    )


def ids_by_name(conn: Conn, store_id: str) -> dict[str, tuple[int, str]]:
    """lower-cased name -> (id, name) for every segment of the store."""
    return {name.lower(): (segment_id, name) for segment_id, name in conn.execute(_SEGMENT_IDS, {"store_id": store_id})}


def named(conn: Conn, store_id: str, names: Collection[str]) -> dict[str, tuple[int, str]]:
    """lower-cased name -> (id, name) for those of `names` the store has."""
    if not names:
        return {}
    params = {"store_id": store_id, "names": sorted({name.lower() for name in names})}
    return {name.lower(): (segment_id, name) for segment_id, name in conn.execute(_SEGMENTS_NAMED, params)}


def add_many(conn: Conn, store_id: str, rows: Sequence[tuple[int, int, datetime, str]]) -> None:
    """(segment id, customer id, added_at, added_by) rows across segments."""
    if rows:
        segment_ids, customer_ids, added_ats, added_bys = (list(column) for column in zip(*rows, strict=True))
        params = {
            "store_id": store_id,
            "segment_ids": segment_ids,
            "customer_ids": customer_ids,
            "added_ats": added_ats,
            "added_bys": added_bys,
        }
        conn.execute(_ADD_MANY, params)


def remove_many(conn: Conn, store_id: str, rows: Sequence[tuple[int, int]]) -> None:
    """(segment id, customer id) rows across segments."""
    if rows:
        params = {"store_id": store_id, "segment_ids": [r[0] for r in rows], "customer_ids": [r[1] for r in rows]}
        conn.execute(_REMOVE_MANY, params)


_INSERT_EXTERNAL = sql("insert_external_segment")
_LOCK_EXTERNAL = sql("lock_external_segment")
_EXTERNAL = sql("external_segment")
_MEMBER_IDS = sql("member_ids")
_MARK_SYNCED = sql("mark_synced")
_SET_AUTO_SYNC = sql("set_auto_sync")
_CLAIM_DUE_SYNC = sql("claim_due_sync")
_MARK_SYNC_FAILED = sql("mark_sync_failed")
_QUEUE_SYNC = sql("queue_sync")
_CLAIM_QUEUED_SYNC = sql("claim_queued_sync")
_SYNC_STATUS = sql("sync_status")
_SET_EXTERNAL = sql("set_external")
_LOCK_MEMBER_CUSTOMERS = sql("lock_member_customers")


@dataclass(frozen=True, slots=True)
class DueSync:
    store_id: str
    segment_id: int
    name: str


def insert_external(
    conn: Conn,
    store_id: str,
    name: str,
    external: tuple[str, str | None, str | None],
    auto_sync: bool,
    now: datetime,
    queued: bool = False,
) -> SegmentRow | None:
    """A segment mirroring `external` = (type, id, name); the id may wait to be resolved from
    the name when `queued`. None if the store has a segment of that name."""
    external_type, external_id, external_name = external
    params = {
        "store_id": store_id, "name": name, "auto_sync": auto_sync, "external_type": external_type,
        "external_id": external_id, "external_name": external_name, "now": now, "queued": queued,
    }  # fmt: skip
    row = conn.execute(_INSERT_EXTERNAL, params).fetchone()
    return SegmentRow(*row) if row else None


def lock_external(conn: Conn, store_id: str, segment_id: int) -> tuple[str, str] | None:
    """(external type, external id) of a Klaviyo segment, locked until the transaction ends."""
    return _external(conn.execute(_LOCK_EXTERNAL, {"store_id": store_id, "segment_id": segment_id}).fetchone())


def external(conn: Conn, store_id: str, segment_id: int) -> tuple[str, str] | None:
    """(external type, external id) of a Klaviyo segment, unlocked."""
    return _external(conn.execute(_EXTERNAL, {"store_id": store_id, "segment_id": segment_id}).fetchone())


def _external(row: tuple[Any, ...] | None) -> tuple[str, str] | None:
    return (str(row[0]), str(row[1])) if row and row[0] and row[1] else None


def member_ids(conn: Conn, store_id: str, segment_id: int) -> dict[str, int]:
    """email -> customer id of the segment's members."""
    rows = conn.execute(_MEMBER_IDS, {"store_id": store_id, "segment_id": segment_id})
    return {email: customer_id for customer_id, email in rows}


def mark_synced(conn: Conn, store_id: str, segment_id: int, now: datetime, next_sync_at: datetime) -> None:
    params = {"store_id": store_id, "segment_id": segment_id, "now": now, "next_sync_at": next_sync_at}
    conn.execute(_MARK_SYNCED, params)


def set_auto_sync(conn: Conn, store_id: str, segment_id: int, auto_sync: bool) -> None:
    conn.execute(_SET_AUTO_SYNC, {"store_id": store_id, "segment_id": segment_id, "auto_sync": auto_sync})


def claim_due_sync(conn: Conn, now: datetime, until: datetime) -> DueSync | None:
    """The next Klaviyo segment due for its daily sync (across stores: the worker serves all),
    claimed until `until`. The caller must not be in a transaction: the claim is meant to be seen."""
    row = conn.execute(_CLAIM_DUE_SYNC, {"now": now, "until": until}).fetchone()
    return DueSync(*row) if row else None


def mark_sync_failed(conn: Conn, store_id: str, segment_id: int, error: str, until: datetime) -> None:
    params = {"store_id": store_id, "segment_id": segment_id, "error": error, "until": until}
    conn.execute(_MARK_SYNC_FAILED, params)


def queue_sync(conn: Conn, store_id: str, segment_id: int, now: datetime) -> None:
    conn.execute(_QUEUE_SYNC, {"store_id": store_id, "segment_id": segment_id, "now": now})


def claim_queued_sync(conn: Conn, now: datetime, until: datetime) -> DueSync | None:
    """The next queued sync (SPEC §10), claimed until `until`; committed at once, like
    `claim_due_sync`."""
    row = conn.execute(_CLAIM_QUEUED_SYNC, {"now": now, "until": until}).fetchone()
    return DueSync(*row) if row else None


@dataclass(frozen=True, slots=True)
class SyncStatus:
    state: str | None
    """queued, running, failed, or None (synced at `last_synced_at`, or never)."""
    error: str | None
    last_synced_at: datetime | None
    external_type: str | None
    external_id: str | None
    external_name: str | None
    auto_sync: bool


def sync_status(conn: Conn, store_id: str, segment_id: int) -> SyncStatus | None:
    row = conn.execute(_SYNC_STATUS, {"store_id": store_id, "segment_id": segment_id}).fetchone()
    return SyncStatus(*row) if row else None


def set_external(conn: Conn, store_id: str, segment_id: int, external_id: str, external_name: str) -> None:
    params = {"store_id": store_id, "segment_id": segment_id, "external_id": external_id, "name": external_name}
    conn.execute(_SET_EXTERNAL, params)


def lock_member_customers(conn: Conn, store_id: str, customer_ids: Sequence[int]) -> None:
    if customer_ids:
        conn.execute(_LOCK_MEMBER_CUSTOMERS, {"store_id": store_id, "ids": list(customer_ids)})


_CUSTOMER_SEGMENTS = sql("customer_segments")


def of_customer(conn: Conn, store_id: str, customer_id: int) -> list[tuple[str, datetime, str]]:
    """(segment name, added_at, added_by) of each segment the customer is in."""
    params = {"store_id": store_id, "customer_id": customer_id}
    return [(name, at, by) for name, at, by in conn.execute(_CUSTOMER_SEGMENTS, params)]
