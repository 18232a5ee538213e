"""Positions kept in PostgreSQL: the consumer group's input offsets and the relay's output ones.

Not tenant data: one partition carries many stores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from db import Conn
from db.queries import sql

_LOCK = sql("lock_consumer_offsets")
_SAVE = sql("save_consumer_offsets")
_READ = sql("consumer_offsets")
_RELAY_READ = sql("relay_positions")
_RELAY_SAVE = sql("save_relay_positions")


def lock(conn: Conn, group_id: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    params = {"group_id": group_id, "topic": topic, "partitions": list(partitions)}
    return {partition: offset for partition, offset in conn.execute(_LOCK, params)}


def read(conn: Conn, group_id: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    params = {"group_id": group_id, "topic": topic, "partitions": list(partitions)}
    return {partition: offset for partition, offset in conn.execute(_READ, params)}


def save(conn: Conn, group_id: str, topic: str, next_offsets: Mapping[int, int]) -> None:
    if next_offsets:
        params = {
            "group_id": group_id,
            "topic": topic,
            "partitions": list(next_offsets),
            "next_offsets": list(next_offsets.values()),
        }
        conn.execute(_SAVE, params)


def relay_positions(conn: Conn, topic: str) -> dict[int, int]:
    return {partition: offset for partition, offset in conn.execute(_RELAY_READ, {"topic": topic})}


def save_relay_positions(conn: Conn, topic: str, next_offsets: Mapping[int, int]) -> None:
    if next_offsets:
        params = {"topic": topic, "partitions": list(next_offsets), "next_offsets": list(next_offsets.values())}
        conn.execute(_RELAY_SAVE, params)
