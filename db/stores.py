"""Stores (tenants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db import Conn
from db.queries import sql

_INSERT = sql("insert_store")
_LIST = sql("list_stores")
_GET = sql("get_store")


@dataclass(frozen=True, slots=True)
class StoreRow:
    id: str
    name: str
    plan: str
    created_at: datetime


def insert(conn: Conn, store_id: str, name: str, plan: str) -> StoreRow | None:
    """None if a store with this id already exists."""
    row = conn.execute(_INSERT, {"store_id": store_id, "name": name, "plan": plan}).fetchone()
    return StoreRow(*row) if row else None


def get(conn: Conn, store_id: str) -> StoreRow | None:
    row = conn.execute(_GET, {"store_id": store_id}).fetchone()
    return StoreRow(*row) if row else None


def list_all(conn: Conn) -> list[StoreRow]:
    return [StoreRow(*row) for row in conn.execute(_LIST).fetchall()]
