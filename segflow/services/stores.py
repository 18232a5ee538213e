"""Stores service: creating and reading tenants, and the plan rules that gate features."""

from __future__ import annotations

import re

from db import Conn
from db import stores as store_rows
from db.stores import StoreRow
from schemas.names import hidden_character
from segflow.errors import AlreadyExists, InvalidInput, NotFound

PLANS = ("standard", "pro", "custom")
_STORE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_id(store_id: str) -> None:
    if not _STORE_ID.fullmatch(store_id):
        raise InvalidInput(f"store id {store_id!a} is not a slug: use 1-63 lowercase letters, digits, '-' or '_'")


def create(conn: Conn, store_id: str, plan: str, name: str | None = None) -> StoreRow:
    check_id(store_id)
    hidden = hidden_character(name) if name else None
    if hidden or (name is not None and not name.strip()):
        raise InvalidInput(f"store name {name!a} {hidden or 'is empty'}")
    if plan not in PLANS:
        raise InvalidInput(f"plan {plan!r} is not one of {', '.join(PLANS)}")
    with conn.transaction():
        row = store_rows.insert(conn, store_id, name or store_id, plan)
    if row is None:
        raise AlreadyExists(f"store {store_id} already exists")
    return row


def require(conn: Conn, store_id: str) -> StoreRow:
    check_id(store_id)
    row = store_rows.get(conn, store_id)
    if row is None:
        raise NotFound(f"store {store_id} not found; create it with `segflow stores create {store_id} --plan pro`")
    return row


def list_all(conn: Conn) -> list[StoreRow]:
    return store_rows.list_all(conn)
