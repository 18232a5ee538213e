"""Deployed flows: status and immutable versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from db import Conn
from db.queries import sql

_FLOWS_WITH_STATUS = sql("flows_with_status")
_SET_FLOW_STATUS = sql("set_flow_status")
_LOCK = sql("lock_flow")
_INSERT_FLOW = sql("insert_flow")
_HASH = sql("latest_content_hash")
_INSERT_VERSION = sql("insert_flow_version")
_LIST = sql("list_flows")
_GET_VERSION = sql("get_flow_version")
_VERSIONS = sql("flow_versions")
_LOCK_RUN_CUSTOMERS = sql("lock_flow_run_customers")
_EXIT_RUNS = sql("exit_flow_runs")


@dataclass(frozen=True, slots=True)
class FlowHead:
    status: str
    latest_version: int


@dataclass(frozen=True, slots=True)
class FlowSummary:
    id: str
    version: int
    status: str
    trigger: str
    active_runs: int


@dataclass(frozen=True, slots=True)
class FlowVersionRow:
    id: str
    version: int
    status: str
    definition: Any
    content_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExitedRun:
    key: str
    flow_version: int
    node_id: str | None
    email: str
    entered_at: datetime
    customer_id: int


def flows_with_status(conn: Conn, store_id: str, statuses: Sequence[str]) -> list[tuple[str, str, Any]]:
    """(flow id, status, latest definition as parsed JSON)."""
    params = {"store_id": store_id, "statuses": list(statuses)}
    return [(flow_id, status, definition) for flow_id, status, definition in conn.execute(_FLOWS_WITH_STATUS, params)]


def set_flow_status(conn: Conn, store_id: str, flow_ids: Sequence[str], status: str) -> None:
    conn.execute(_SET_FLOW_STATUS, {"store_id": store_id, "flow_ids": list(flow_ids), "status": status})


def lock(conn: Conn, store_id: str, flow_id: str) -> FlowHead | None:
    row = conn.execute(_LOCK, {"store_id": store_id, "flow_id": flow_id}).fetchone()
    return FlowHead(status=row[0], latest_version=row[1]) if row else None


def insert(conn: Conn, store_id: str, flow_id: str) -> None:
    conn.execute(_INSERT_FLOW, {"store_id": store_id, "flow_id": flow_id})


def content_hash(conn: Conn, store_id: str, flow_id: str, version: int) -> str | None:
    row = conn.execute(_HASH, {"store_id": store_id, "flow_id": flow_id, "version": version}).fetchone()
    return str(row[0]) if row else None


def insert_version(conn: Conn, store_id: str, flow_id: str, version: int, definition: Any, digest: str) -> None:
    conn.execute(
        _INSERT_VERSION,
        {
            "store_id": store_id,
            "flow_id": flow_id,
            "version": version,
            "definition": Jsonb(definition),
            "content_hash": digest,
        },
    )


def list_all(conn: Conn, store_id: str) -> list[FlowSummary]:
    return [
        FlowSummary(id=fid, version=version, status=status, trigger=trigger, active_runs=runs)
        for fid, version, status, trigger, runs in conn.execute(_LIST, {"store_id": store_id})
    ]


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    content_hash: str
    created_at: datetime


def versions(conn: Conn, store_id: str, flow_id: str) -> list[VersionRow]:
    return [VersionRow(*row) for row in conn.execute(_VERSIONS, {"store_id": store_id, "flow_id": flow_id})]


def get_version(conn: Conn, store_id: str, flow_id: str, version: int | None) -> FlowVersionRow | None:
    row = conn.execute(_GET_VERSION, {"store_id": store_id, "flow_id": flow_id, "version": version}).fetchone()
    if row is None:
        return None
    fid, number, status, definition, digest, created_at = row
    return FlowVersionRow(fid, number, status, definition, digest, created_at)


def exit_live_runs(conn: Conn, store_id: str, flow_id: str, now: datetime) -> list[ExitedRun]:
    """End a flow's live runs, after locking their customers against the worker."""
    params = {"store_id": store_id, "flow_id": flow_id, "now": now}
    conn.execute(_LOCK_RUN_CUSTOMERS, params)
    return [
        ExitedRun(key, version, node_id, email, entered_at, customer_id)
        for key, version, node_id, email, entered_at, customer_id in conn.execute(_EXIT_RUNS, params)
    ]


_STORED = sql("stored_flow_versions")


def stored_versions(conn: Conn, store_id: str) -> list[tuple[str, int, Any]]:
    """(flow id, version, definition) of every version the store has deployed."""
    return [(fid, version, definition) for fid, version, definition in conn.execute(_STORED, {"store_id": store_id})]


_HEADS = sql("flow_heads")
_DEFINITIONS = sql("flow_definitions")


def heads(conn: Conn, store_id: str) -> dict[str, FlowHead]:
    return {fid: FlowHead(status, latest) for fid, status, latest in conn.execute(_HEADS, {"store_id": store_id})}


def definitions(conn: Conn, store_id: str, wanted: Sequence[tuple[str, int]]) -> list[tuple[str, int, Any]]:
    """(flow id, version, definition) for the wanted (flow id, version) pairs."""
    if not wanted:
        return []
    params = {"store_id": store_id, "flow_ids": [w[0] for w in wanted], "versions": [w[1] for w in wanted]}
    return [(fid, version, definition) for fid, version, definition in conn.execute(_DEFINITIONS, params)]


FINISHED_NODE = ""
"""The node id under which flow_counts counts a version's finished runs, by status as the edge
(migration 0015): no node has an empty id."""

_ADD_COUNTS = sql("add_flow_counts")
_ROLL_UP_COUNTS = sql("roll_up_flow_counts")
_LAST_COUNT = sql("last_flow_count")
_COUNTS = sql("flow_counts")
_RUN_COUNTS = sql("flow_run_counts")
_VERSION_RUNS = sql("flow_version_runs")


def add_counts(conn: Conn, store_id: str, counts: Mapping[tuple[str, int, str, str], int]) -> None:
    """(flow id, version, node id, edge) -> how often, added to what `flows stats` reports."""
    if counts:
        keys = list(counts)
        conn.execute(
            _ADD_COUNTS,
            {
                "store_id": store_id,
                "flow_ids": [k[0] for k in keys],
                "versions": [k[1] for k in keys],
                "node_ids": [k[2] for k in keys],
                "edges": [k[3] for k in keys],
                "counts": list(counts.values()),
            },
        )


ROLL_UP_CHUNK = 50_000
"""Count rows one roll-up transaction takes: a bounded statement however far behind it is."""


def roll_up_counts(conn: Conn, chunk: int = ROLL_UP_CHUNK) -> int:
    """Sum the count rows written so far into one per key, `chunk` rows per transaction;
    returns how many rows that removed."""
    row = conn.execute(_LAST_COUNT).fetchone()
    upto = int(row[0]) if row else 0
    removed = 0
    while True:
        with conn.transaction():
            row = conn.execute(_ROLL_UP_COUNTS, {"upto": upto, "chunk": chunk}).fetchone()
        gone, summed = (int(row[0]), int(row[1])) if row else (0, 0)
        removed += gone - summed
        if gone < chunk:
            return removed


def node_counts(conn: Conn, store_id: str, flow_id: str, version: int) -> dict[tuple[str, str], int]:
    """(node id, edge) -> how often, for one version."""
    params = {"store_id": store_id, "flow_id": flow_id, "version": version}
    return {(node_id, edge): int(n) for node_id, edge, n in conn.execute(_COUNTS, params)}


def run_counts(conn: Conn, store_id: str, flow_id: str, version: int) -> list[tuple[str, str | None, int]]:
    """(status, node id, runs) for one version's live runs (finished ones: `node_counts` under
    FINISHED_NODE)."""
    params = {"store_id": store_id, "flow_id": flow_id, "version": version}
    return [(status, node_id, int(n)) for status, node_id, n in conn.execute(_RUN_COUNTS, params)]


def version_runs(conn: Conn, store_id: str, flow_id: str) -> dict[int, dict[str, int]]:
    """version -> {status: runs} over every version of the flow, live and finished runs."""
    found: dict[int, dict[str, int]] = {}
    for version, status, n in conn.execute(_VERSION_RUNS, {"store_id": store_id, "flow_id": flow_id}):
        runs = found.setdefault(int(version), {})
        runs[status] = runs.get(status, 0) + int(n)
    return found
