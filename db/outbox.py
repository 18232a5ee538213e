"""The transactional outbox: output events queued in the transaction of their cause.

One row per queuing transaction (`outbox_batches`, migration 0005); the `outbox` view lists them
one event per row for reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import Conn
from db.queries import sql
from engine.ids import customer_key
from engine.model import Emitted

_INSERT = sql("insert_outbox")


MAX_BATCH_EVENTS = 5_000
"""Events per outbox row: a sync or delete of a huge segment queues several rows, so neither the
statement nor the relay's slice has to hold all of it at once."""


def enqueue(conn: Conn, store_id: str, events: Sequence[Emitted]) -> None:
    """Queue output events in order, one row per MAX_BATCH_EVENTS (the engine's and merchant
    operations' alike: `Emitted`, whose JSON is `schemas.events.OutputEvent`'s shape)."""
    for start in range(0, len(events), MAX_BATCH_EVENTS):
        _enqueue_batch(conn, store_id, events[start : start + MAX_BATCH_EVENTS])


def _enqueue_batch(conn: Conn, store_id: str, events: Sequence[Emitted]) -> None:
    assert all(e.store_id == store_id for e in events), "outbox rows must belong to the store they are queued for"
    keys = [customer_key(store_id, e.email) for e in events]
    payloads = [e.payload_json() for e in events]
    params = {
        "store_id": store_id, "size": len(events), "event_ids": [e.event_id for e in events],
        "event_types": [e.type for e in events], "keys": keys, "payloads": payloads,
    }  # fmt: skip
    conn.execute(_INSERT, params)


_UNPUBLISHED = sql("unpublished_outbox")
_MARK = sql("mark_outbox_published")
_COUNT = sql("unpublished_count")
_TRY_LOCK = sql("try_relay_lock")


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    id: int
    event_ids: list[str]
    keys: list[str]
    payloads: list[str]
    """JSON text, as sent."""


def unpublished(conn: Conn, limit: int, after: int = 0) -> list[QueuedBatch]:
    """The oldest unpublished batches after id `after`: about `limit` events, at least one batch.

    Across stores: the relay serves them all.
    """
    # Binary results: in text form every quote inside the JSON payloads would come back escaped.
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(_UNPUBLISHED, {"limit": limit, "after": after})
        return [QueuedBatch(*row) for row in rows]


def mark_published(conn: Conn, ids: Sequence[int], now: datetime) -> None:
    conn.execute(_MARK, {"ids": list(ids), "now": now})


def unpublished_count(conn: Conn) -> int:
    return backlog(conn)[0]


def backlog(conn: Conn) -> tuple[int, float]:
    """(events queued and not yet published, seconds since the oldest of them was queued; 0: none)."""
    row = conn.execute(_COUNT).fetchone()
    return (int(row[0]), float(row[1])) if row else (0, 0.0)


def try_relay_lock(conn: Conn, key: int) -> bool:
    row = conn.execute(_TRY_LOCK, {"key": key}).fetchone()
    return bool(row and row[0])


_FOR_CUSTOMER = sql("customer_outbox")


def for_customer(conn: Conn, store_id: str, email: str) -> list[dict[str, Any]]:
    """A customer's queued output events, oldest first (payloads as parsed JSON)."""
    params = {"store_id": store_id, "key": customer_key(store_id, email)}
    return [row[0] for row in conn.execute(_FOR_CUSTOMER, params)]
