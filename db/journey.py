"""Customers' journeys: the steps their runs took and segment changes made outside flows, and
why matching events let them into flows not (migration 0010; read by `customers explain`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from db import Conn
from db.queries import sql
from engine.batch import Refusal
from engine.step import Step

_INSERT_STEPS = sql("insert_journey_steps")
_UPSERT_REFUSALS = sql("upsert_trigger_refusals")
_JOURNEY = sql("journey_of")
_REFUSALS = sql("refusals_of")
_PRUNE = sql("prune_journeys")
_PRUNE_REFUSALS = sql("prune_trigger_refusals")


@dataclass(frozen=True, slots=True)
class JourneyRow:
    """One step as written; a segment change made outside flows has no flow, path or status."""

    customer_id: int
    at: datetime
    operation: str
    event_id: str | None = None
    event_type: str | None = None
    flow_id: str | None = None
    flow_version: int | None = None
    path: tuple[str, ...] = ()
    status: str | None = None
    node_id: str | None = None
    reason: str | None = None
    effects: tuple[dict[str, Any], ...] = ()


def rows_of(steps: Iterable[Step], customer_ids: Mapping[str, int]) -> list[JourneyRow]:
    """The engine's steps as journey rows: each with its effects (the output events it emitted)."""
    rows = []
    for step in steps:
        run, event = step.run, step.driver.event
        effects = tuple({"type": e.type, "node": e.cause.node_id, **e.data} for e in step.events)
        rows.append(
            JourneyRow(
                customer_ids[run.email], step.at, step.operation,
                event.event_id if event is not None else None, event.type if event is not None else None,
                run.flow_id, run.flow_version, tuple(step.path), run.status, run.node_id, run.reason, effects,
            )
        )  # fmt: skip
    return rows


def record(conn: Conn, store_id: str, rows: Sequence[JourneyRow]) -> None:
    if not rows:
        return
    params = {
        "store_id": store_id,
        "customer_ids": [r.customer_id for r in rows],
        "ats": [r.at for r in rows],
        "operations": [r.operation for r in rows],
        "event_ids": [r.event_id for r in rows],
        "event_types": [r.event_type for r in rows],
        "flow_ids": [r.flow_id for r in rows],
        "versions": [r.flow_version for r in rows],
        "paths": [" ".join(r.path) for r in rows],  # node ids hold no spaces (schemas.flow)
        "statuses": [r.status for r in rows],
        "node_ids": [r.node_id for r in rows],
        "reasons": [r.reason for r in rows],
        "effects": [to_json(list(r.effects)).decode() for r in rows],
    }
    conn.execute(_INSERT_STEPS, params)


def record_refusals(conn: Conn, store_id: str, refusals: Iterable[Refusal], customer_ids: Mapping[str, int]) -> None:
    found = list(refusals)
    if not found:
        return
    params = {
        "store_id": store_id,
        "customer_ids": [customer_ids[r.email] for r in found],
        "flow_ids": [r.flow_id for r in found],
        "versions": [r.flow_version for r in found],
        "event_ids": [r.event_id for r in found],
        "event_types": [r.event_type for r in found],
        "ats": [r.at for r in found],
        "reasons": [r.reason for r in found],
    }
    conn.execute(_UPSERT_REFUSALS, params)


@dataclass(frozen=True, slots=True)
class StoredStep:
    at: datetime
    operation: str
    event_id: str | None
    event_type: str | None
    flow_id: str | None
    flow_version: int | None
    path: list[str]
    status: str | None
    node_id: str | None
    reason: str | None
    effects: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class StoredRefusal:
    flow_id: str
    flow_version: int
    event_id: str
    event_type: str
    at: datetime
    reason: str


def journey_of(conn: Conn, store_id: str, customer_id: int, limit: int, flow_id: str | None = None) -> list[StoredStep]:
    """The customer's last `limit` steps (of one flow, or all), oldest first."""
    params = {"store_id": store_id, "customer_id": customer_id, "flow_id": flow_id, "limit": limit}
    return [StoredStep(*row) for row in reversed(conn.execute(_JOURNEY, params).fetchall())]


def refusals_of(conn: Conn, store_id: str, customer_id: int) -> dict[str, StoredRefusal]:
    rows = conn.execute(_REFUSALS, {"store_id": store_id, "customer_id": customer_id})
    return {row[0]: StoredRefusal(*row) for row in rows}


def prune(conn: Conn, before: datetime) -> int:
    """Drop journeys and refusals older than `before`; returns the steps dropped."""
    row = conn.execute(_PRUNE, {"before": before}).fetchone()
    conn.execute(_PRUNE_REFUSALS, {"before": before})
    return int(row[0]) if row else 0
