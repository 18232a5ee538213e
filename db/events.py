"""Input-event bookkeeping: dedup and the stores events may belong to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from db import Conn, Pending
from db.maintenance import dedup_grace
from db.queries import sql

_CLAIM = sql("claim_events")
_STORES = sql("existing_stores")


def claim(conn: Conn, store_id: str, event_ids: Sequence[str], width: timedelta) -> Pending[set[str]]:
    """The ids not processed before; the others are duplicates (SPEC §2). `width`: of
    processed_events' partitions (db.maintenance), the buckets ids are claimed in."""
    # Sorted: two statements claiming the same ids wait for each other in one order, never in a cycle.
    # (The worker claims a batch group by group, so the same event on two partitions, in different
    # groups of two workers' batches, can still deadlock: PostgreSQL aborts one, and it retries.)
    params = {"store_id": store_id, "event_ids": sorted(event_ids), "width": width, "grace": dedup_grace(width)}
    return Pending(conn.execute(_CLAIM, params), lambda rows: {row[0] for row in rows})


def existing_stores(conn: Conn, store_ids: Sequence[str]) -> set[str]:
    return {row[0] for row in conn.execute(_STORES, {"store_ids": list(store_ids)})}
