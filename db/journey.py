"""Customers' journeys (migration 0010; read by `customers explain`): the steps their runs took,
the events that matched a flow's trigger but let them in not (status `refused`, with why), and
segment changes made outside flows. One row per customer per writing transaction, holding that
customer's entries in order."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from db import Conn
from db.queries import sql
from engine.batch import Refusal
from engine.step import Step

_INSERT = sql("insert_journeys")
_JOURNEY = sql("journey_of")

REFUSED = "refused"
PAGE = 200  # journey rows read at a time


FIELDS = ("operation", "event_id", "event_type", "flow_id", "version", "path", "status", "node_id", "reason")
"""An entry is stored as a JSON array: these, in this order, then its effects as [type, node,
data] triples. Positional, because building a dict per step and per effect was most of what
the journey cost the worker."""


def entry(
    operation: str,
    *,
    event_id: str | None = None,
    event_type: str | None = None,
    flow_id: str | None = None,
    version: int | None = None,
    path: list[str] | None = None,
    status: str | None = None,
    node_id: str | None = None,
    reason: str | None = None,
    effects: list[tuple[str, str | None, dict[str, Any]]] | None = None,
) -> tuple[Any, ...]:
    """One entry of a journey: a run's step, a refusal, or a segment change outside flows."""
    return (operation, event_id, event_type, flow_id, version, path or [], status, node_id, reason, effects or [])


def record_journal(
    conn: Conn, store_id: str, at: datetime, journal: Iterable[Step | Refusal], customer_ids: Mapping[str, int]
) -> None:
    """A batch's steps and refusals, grouped by customer, each customer's in order."""
    by_customer: dict[int, list[tuple[Any, ...]]] = {}
    for item in journal:
        if isinstance(item, Refusal):
            event = item.event
            found: tuple[Any, ...] = (
                "event", event.event_id, event.type, item.flow_id, item.flow_version, [], REFUSED, None,
                item.reason, [],
            )  # fmt: skip
            email = item.email
        else:
            run, cause = item.run, item.driver.event
            found = (
                item.operation, cause.event_id if cause else None, cause.type if cause else None, run.flow_id,
                run.flow_version, item.path, run.status, run.node_id, run.reason,
                [(e.type, e.cause.node_id, e.data) for e in item.events],
            )  # fmt: skip
            email = run.email
        by_customer.setdefault(customer_ids[email], []).append(found)
    record(conn, store_id, at, by_customer)


def record(conn: Conn, store_id: str, at: datetime, entries: Mapping[int, list[tuple[Any, ...]]]) -> None:
    """Journey entries (customer id -> entries, in order), all at `at`."""
    if entries:
        texts = [to_json(found).decode() for found in entries.values()]
        conn.execute(_INSERT, {"store_id": store_id, "at": at, "customer_ids": list(entries), "entries": texts})


@dataclass(frozen=True, slots=True)
class StoredEntry:
    at: datetime
    entry: dict[str, Any]
    """The entry by field name, its effects as dicts: {"type", "node", **data}."""


def newest_first(conn: Conn, store_id: str, customer_id: int) -> Iterator[StoredEntry]:
    """The customer's journey entries, newest first, read a page of rows at a time."""
    before = 2**63 - 1
    while True:
        params = {"store_id": store_id, "customer_id": customer_id, "before": before, "limit": PAGE}
        rows = conn.execute(_JOURNEY, params).fetchall()
        for row_id, at, entries in rows:
            for stored in reversed(json.loads(entries)):
                named = dict(zip(FIELDS, stored, strict=False))
                named["effects"] = [{"type": kind, "node": node, **data} for kind, node, data in stored[len(FIELDS)]]
                yield StoredEntry(at, named)
            before = row_id
        if len(rows) < PAGE:
            return
