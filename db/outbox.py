"""The transactional outbox: output events queued in the transaction of their cause."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from db import Conn
from db.queries import sql
from engine.ids import customer_key
from engine.model import Emitted
from schemas.events import OutputEvent

_INSERT = sql("insert_outbox")


def enqueue(conn: Conn, store_id: str, events: Sequence[OutputEvent | Emitted]) -> None:
    """Queue output events: the engine's `Emitted` ones, or `OutputEvent`s from merchant operations."""
    if not events:
        return
    assert all(e.store_id == store_id for e in events), "outbox rows must belong to the store they are queued for"
    keys: list[str] = []
    payloads: list[str] = []
    for e in events:
        if isinstance(e, Emitted):
            keys.append(customer_key(store_id, e.email))
            payloads.append(e.payload_json())
        else:
            keys.append(customer_key(store_id, e.customer.email))
            payloads.append(e.model_dump_json(exclude_none=True))
    params = {
        "store_id": store_id, "event_ids": [e.event_id for e in events], "event_types": [e.type for e in events],
        "keys": keys, "payloads": payloads,
    }  # fmt: skip
    conn.execute(_INSERT, params)


_UNPUBLISHED = sql("unpublished_outbox")
_MARK = sql("mark_outbox_published")
_MARK_BY_EVENT = sql("mark_outbox_published_by_event")
_COUNT = sql("unpublished_count")
_TRY_LOCK = sql("try_relay_lock")


def unpublished(conn: Conn, limit: int) -> list[tuple[int, str, str]]:
    """(id, key, payload JSON text), oldest first. Across stores: the relay serves them all."""
    return [(row_id, key, payload) for row_id, key, payload in conn.execute(_UNPUBLISHED, {"limit": limit})]


def mark_published(conn: Conn, ids: Sequence[int], now: datetime) -> None:
    conn.execute(_MARK, {"ids": list(ids), "now": now})


def mark_published_by_event(conn: Conn, published: Sequence[tuple[str, str]], now: datetime) -> int:
    """(store id, event id) pairs found on the output topic; returns how many rows that settled."""
    if not published:
        return 0
    params = {"store_ids": [p[0] for p in published], "event_ids": [p[1] for p in published], "now": now}
    return conn.execute(_MARK_BY_EVENT, params).rowcount


def unpublished_count(conn: Conn) -> int:
    row = conn.execute(_COUNT).fetchone()
    return int(row[0]) if row else 0


def try_relay_lock(conn: Conn, key: int) -> bool:
    row = conn.execute(_TRY_LOCK, {"key": key}).fetchone()
    return bool(row and row[0])


_FOR_CUSTOMER = sql("customer_outbox")


def for_customer(conn: Conn, store_id: str, email: str) -> list[dict[str, Any]]:
    """A customer's queued output events, oldest first (payloads as parsed JSON)."""
    params = {"store_id": store_id, "key": customer_key(store_id, email)}
    return [row[0] for row in conn.execute(_FOR_CUSTOMER, params)]
