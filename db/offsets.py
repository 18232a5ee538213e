"""Positions kept in PostgreSQL: the consumer group's input offsets and the relay's output ones.

Not tenant data: one partition carries many stores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from db import Conn
from db.queries import sql

_LOCK = sql("lock_consumer_offsets")
_SAVE = sql("save_consumer_offsets")
_READ = sql("consumer_offsets")
_START = sql("start_consumer_offsets")
_RESET = sql("reset_consumer_offsets")
_RELAY_READ = sql("relay_positions")
_RELAY_SAVE = sql("save_relay_positions")


def lock(conn: Conn, group_id: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    params = {"group_id": group_id, "topic": topic, "partitions": list(partitions)}
    return {partition: offset for partition, offset in conn.execute(_LOCK, params)}


@dataclass(frozen=True, slots=True)
class Stored:
    next_offset: int
    topic_id: UUID | None
    """The topic incarnation the offset is in (None: not known)."""


def read(conn: Conn, group_id: str, topic: str, partitions: Sequence[int]) -> dict[int, Stored]:
    params = {"group_id": group_id, "topic": topic, "partitions": list(partitions)}
    return {partition: Stored(offset, topic_id) for partition, offset, topic_id in conn.execute(_READ, params)}


def save(conn: Conn, group_id: str, topic: str, next_offsets: Mapping[int, int]) -> None:
    if next_offsets:
        conn.execute(_SAVE, _offsets(group_id, topic, next_offsets))


def start(conn: Conn, group_id: str, topic: str, first_offsets: Mapping[int, int], topic_id: UUID | None) -> None:
    """Store where partitions the group never saw begin (a row already there is kept)."""
    if first_offsets:
        conn.execute(_START, {**_offsets(group_id, topic, first_offsets), "topic_id": topic_id})


def reset(conn: Conn, group_id: str, topic: str, resets: Mapping[int, tuple[int, int]], topic_id: UUID | None) -> None:
    """Set offsets (partition -> (stored, new)) to `new` in `topic_id`, where they still are what
    was read."""
    if resets:
        params = {
            "group_id": group_id,
            "topic": topic,
            "topic_id": topic_id,
            "partitions": list(resets),
            "stored": [stored for stored, _new in resets.values()],
            "next_offsets": [new for _stored, new in resets.values()],
        }
        conn.execute(_RESET, params)


def _offsets(group_id: str, topic: str, next_offsets: Mapping[int, int]) -> dict[str, object]:
    partitions, offsets = list(next_offsets), list(next_offsets.values())
    return {"group_id": group_id, "topic": topic, "partitions": partitions, "next_offsets": offsets}


def relay_positions(conn: Conn, topic: str) -> dict[int, int]:
    return {partition: offset for partition, offset in conn.execute(_RELAY_READ, {"topic": topic})}


def save_relay_positions(conn: Conn, topic: str, next_offsets: Mapping[int, int]) -> None:
    if next_offsets:
        params = {"topic": topic, "partitions": list(next_offsets), "next_offsets": list(next_offsets.values())}
        conn.execute(_RELAY_SAVE, params)
