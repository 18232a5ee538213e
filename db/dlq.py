"""Dead letters replayed to the input topic (`segflow dlq replay`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from db import Conn
from db.queries import sql

_CLAIM = sql("claim_dlq_replays")
_REPLAYED = sql("replayed_dlq")

Position = tuple[int, int]
"""(partition, offset) of a dead letter on its topic."""


def claim(conn: Conn, topic: str, letters: Sequence[Position], now: datetime) -> set[Position]:
    """Record these dead letters as replayed; returns those not replayed before."""
    params = {"topic": topic, "partitions": [p for p, _ in letters], "offsets": [o for _, o in letters], "now": now}
    return {(int(p), int(o)) for p, o in conn.execute(_CLAIM, params)}


def replayed(conn: Conn, topic: str, letters: Sequence[Position]) -> set[Position]:
    params = {"topic": topic, "partitions": [p for p, _ in letters], "offsets": [o for _, o in letters]}
    return {(int(p), int(o)) for p, o in conn.execute(_REPLAYED, params)}
