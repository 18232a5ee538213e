"""Customers of a store, keyed by normalised email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import Conn, Pending
from db.queries import sql

_UPSERT = sql("upsert_customers")


@dataclass(frozen=True, slots=True)
class CustomerFields:
    email: str
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    added: int
    updated: int


def upsert(conn: Conn, store_id: str, customers: Sequence[CustomerFields]) -> UpsertCounts:
    """Insert new customers and fill in fields of existing ones, in one statement.

    Emails must be normalised and unique within `customers`. Rows whose values would not change
    are not updated and not counted.
    """
    params = {"store_id": store_id, "emails": [c.email for c in customers], **_field_columns(customers)}
    flags = [row[0] for row in conn.execute(_UPSERT, params).fetchall()]
    added = sum(flags)
    return UpsertCounts(added=added, updated=len(flags) - added)


@dataclass(slots=True)
class LockedCustomer:
    id: int
    email: str
    external_id: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None


_LOCK_BY_EMAIL = sql("lock_customers_by_email")
_LOCK_BY_ID_SKIP = sql("lock_customers_by_id_skip_locked")
_INSERT_FROM_EVENTS = sql("insert_event_customers")
_UPDATE_FROM_EVENTS = sql("update_event_customers")


def lock_by_email(conn: Conn, store_id: str, emails: Sequence[str]) -> Pending[list[LockedCustomer]]:
    """The store's customers among `emails`, locked (in email order) until the transaction ends."""
    cursor = conn.execute(_LOCK_BY_EMAIL, {"store_id": store_id, "emails": list(emails)})
    return Pending(cursor, lambda rows: [LockedCustomer(*row) for row in rows])


def lock_by_id_skip_locked(conn: Conn, store_id: str, ids: Sequence[int]) -> list[LockedCustomer]:
    return [LockedCustomer(*row) for row in conn.execute(_LOCK_BY_ID_SKIP, {"store_id": store_id, "ids": list(ids)})]


def insert_new(conn: Conn, store_id: str, customers: Sequence[CustomerFields]) -> list[LockedCustomer]:
    """Insert customers first seen in events; those another transaction inserted first are not returned."""
    params = {"store_id": store_id, "emails": [c.email for c in customers], **_field_columns(customers)}
    return [LockedCustomer(*row) for row in conn.execute(_INSERT_FROM_EVENTS, params)]


def update_fields(conn: Conn, store_id: str, customers: Sequence[LockedCustomer]) -> None:
    if not customers:
        return
    params = {"store_id": store_id, "ids": [c.id for c in customers], **_field_columns(customers)}
    conn.execute(_UPDATE_FROM_EVENTS, params)


def _field_columns(customers: Sequence[CustomerFields | LockedCustomer]) -> dict[str, list[str | None]]:
    """The optional fields as one array per column, the shape every customers statement takes."""
    return {
        "external_ids": [c.external_id for c in customers],
        "first_names": [c.first_name for c in customers],
        "last_names": [c.last_name for c in customers],
        "phones": [c.phone for c in customers],
    }


_FIND = sql("find_customers")
_RECORD = sql("customer_record")


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    email: str
    external_id: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    created_at: datetime


def find(
    conn: Conn,
    store_id: str,
    limit: int,
    search: str | None = None,
    segment_id: int | None = None,
    after: str | None = None,
) -> list[tuple[Any, ...]]:
    """(email, external_id, first_name, last_name, phone) of matching customers, in email order,
    from the first email after `after`."""
    params = {"store_id": store_id, "search": search, "segment_id": segment_id, "limit": limit, "after": after}
    return list(conn.execute(_FIND, params))


def record(conn: Conn, store_id: str, email: str) -> CustomerRecord | None:
    row = conn.execute(_RECORD, {"store_id": store_id, "email": email}).fetchone()
    return CustomerRecord(*row) if row else None
