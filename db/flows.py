"""Deployed flows: status and versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db import Conn
from db.queries import sql

_FLOWS_WITH_STATUS = sql("flows_with_status")
_SET_FLOW_STATUS = sql("set_flow_status")


def flows_with_status(conn: Conn, store_id: str, statuses: Sequence[str]) -> list[tuple[str, str, Any]]:
    """(flow id, status, latest definition as parsed JSON)."""
    params = {"store_id": store_id, "statuses": list(statuses)}
    return [(flow_id, status, definition) for flow_id, status, definition in conn.execute(_FLOWS_WITH_STATUS, params)]


def set_flow_status(conn: Conn, store_id: str, flow_ids: Sequence[str], status: str) -> None:
    conn.execute(_SET_FLOW_STATUS, {"store_id": store_id, "flow_ids": list(flow_ids), "status": status})
