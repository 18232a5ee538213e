"""The transactional outbox: output events queued in the transaction of their cause."""

from __future__ import annotations

from collections.abc import Sequence

from db import Conn
from db.queries import sql
from engine.ids import customer_key
from schemas.events import OutputEvent

_INSERT = sql("insert_outbox")


def enqueue(conn: Conn, store_id: str, events: Sequence[OutputEvent]) -> None:
    if not events:
        return
    assert all(e.store_id == store_id for e in events), "outbox rows must belong to the store they are queued for"
    conn.execute(
        _INSERT,
        {
            "store_id": store_id,
            "event_ids": [e.event_id for e in events],
            "event_types": [e.type for e in events],
            "keys": [customer_key(e.store_id, e.customer.email) for e in events],
            "payloads": [e.model_dump_json(exclude_none=True) for e in events],
        },
    )
