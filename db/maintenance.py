"""Storage over months (SPEC §11): what the database holds by kind, and removing what is past
its retention.

Not tenant code: maintenance works across stores by design, like the migrations.
"""

from __future__ import annotations

from db import Conn
from db.queries import sql

_SIZES = sql("relation_sizes")

KINDS: dict[str, tuple[str, ...]] = {
    "event_ids": ("processed_events",),
    "runs": ("runs",),
    "journey_steps": ("journeys",),
    "outbox_events": ("outbox_batches",),
    "segments": ("segments", "segment_members"),
    "customers": ("customers",),
}
"""The tables each kind of `db size` counts; everything else in the database is `other`."""


def table_sizes(conn: Conn, tables: list[str]) -> dict[str, int]:
    """Bytes of each table (indexes, TOAST and partitions included); '' is the whole database."""
    return {name: int(size) for name, size in conn.execute(_SIZES, {"tables": tables})}


def sizes(conn: Conn) -> tuple[int, dict[str, int]]:
    """The database's bytes, and by kind (KINDS, then `other`)."""
    by_table = table_sizes(conn, [t for tables in KINDS.values() for t in tables])
    total = by_table.pop("")
    kinds = {kind: sum(by_table[t] for t in tables) for kind, tables in KINDS.items()}
    kinds["other"] = max(total - sum(kinds.values()), 0)
    return total, kinds
