"""Input-event bookkeeping: dedup and the stores events may belong to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from db import Conn, Pending
from db.queries import sql

_CLAIM = sql("claim_events")
_PURGE = sql("purge_processed_events")
_STORES = sql("existing_stores")


def claim(conn: Conn, store_id: str, event_ids: Sequence[str], now: datetime) -> Pending[set[str]]:
    """The ids not processed before; the others are duplicates (SPEC §2)."""
    # Sorted: two statements claiming the same ids wait for each other in one order, never in a cycle.
    # (The worker claims a batch group by group, so the same event on two partitions, in different
    # groups of two workers' batches, can still deadlock: PostgreSQL aborts one, and it retries.)
    params = {"store_id": store_id, "event_ids": sorted(event_ids), "now": now}
    return Pending(conn.execute(_CLAIM, params), lambda rows: {row[0] for row in rows})


def purge(conn: Conn, before: datetime) -> int:
    return conn.execute(_PURGE, {"before": before}).rowcount


def existing_stores(conn: Conn, store_ids: Sequence[str]) -> set[str]:
    return {row[0] for row in conn.execute(_STORES, {"store_ids": list(store_ids)})}
