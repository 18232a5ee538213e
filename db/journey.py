"""Customers' journeys (migration 0010; read by `customers explain`): the steps their runs took,
the events that matched a flow's trigger but let them in not (status `refused`, with why), and
segment changes made outside flows. One row per customer per writing transaction, holding that
customer's entries in order."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from db import Conn
from db import flows as flow_rows
from db.queries import sql

if TYPE_CHECKING:  # the worker's types; a command that records a manual change needs no engine
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
    from engine.batch import Refusal  # the worker's; loaded by then

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
                [_compact(e.type, e.cause.node_id, e.data) for e in item.events],
            )  # fmt: skip
            email = run.email
        by_customer.setdefault(customer_ids[email], []).append(found)
    record(conn, store_id, at, by_customer)


DERIVED = "action.requested"
"""An effect whose data is not stored: it is the node's action and params, which the deployed
version (immutable) gives back when the journey is read."""


def _compact(kind: str, node_id: str | None, data: Mapping[str, Any]) -> tuple[Any, ...]:
    """An effect as stored: [type, node] when its data is empty or DERIVED, else [type, node, data].
    A journey is most of what the database keeps per event; action params were a fifth of it."""
    return (kind, node_id) if not data or kind == DERIVED else (kind, node_id, data)


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
    actions = _Actions(conn, store_id)
    before = 2**63 - 1
    while True:
        params = {"store_id": store_id, "customer_id": customer_id, "before": before, "limit": PAGE}
        rows = conn.execute(_JOURNEY, params).fetchall()
        for row_id, at, entries in rows:
            for stored in reversed(json.loads(entries)):
                named = dict(zip(FIELDS, stored, strict=False))
                flow_id, version = named["flow_id"], named["version"]
                named["effects"] = [
                    {"type": effect[0], "node": effect[1], **actions.data(flow_id, version, *effect)}
                    for effect in stored[len(FIELDS)]
                ]
                yield StoredEntry(at, named)
            before = row_id
        if len(rows) < PAGE:
            return


class _Actions:
    """The data of DERIVED effects, from the deployed versions (each read once)."""

    def __init__(self, conn: Conn, store_id: str) -> None:
        self.conn = conn
        self.store_id = store_id
        self.nodes: dict[tuple[str, int], dict[str, Any]] = {}

    def data(
        self, flow_id: str, version: int, kind: str, node_id: str | None, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if data is not None or kind != DERIVED:
            return data or {}
        if (flow_id, version) not in self.nodes:
            found = flow_rows.definitions(self.conn, self.store_id, [(flow_id, version)])
            definition = found[0][2] if found else {"nodes": []}
            self.nodes[(flow_id, version)] = {node["id"]: node for node in definition.get("nodes", [])}
        node = self.nodes[(flow_id, version)].get(node_id or "", {})
        return {"action": node.get("action"), "params": node.get("params") or {}}
