"""Runs: customers' journeys through flow versions, as the engine's `Run` values."""

from __future__ import annotations

from collections.abc import Collection, Sequence, Set
from dataclasses import dataclass
from datetime import datetime

from db import Conn, Cursor, Pending
from db.queries import sql
from engine.model import Run

_LIVE = sql("live_runs")
_ENTERED = sql("entered_flows")
_UPSERT = sql("upsert_runs")
_FINISH = sql("finish_runs")
_ENTRIES = sql("record_flow_entries")
_DUE = sql("due_runs")
_STORES_DUE = sql("stores_with_due_runs")


@dataclass(frozen=True, slots=True)
class DueRun:
    store_id: str
    customer_id: int
    key: str


def live(conn: Conn, store_id: str, emails: dict[int, str]) -> Pending[list[Run]]:
    """Every live run of these customers (`emails`: customer id -> email)."""
    params = {"store_id": store_id, "customer_ids": list(emails)}
    return Pending(conn.execute(_LIVE, params), lambda rows: _runs(rows, emails))


def _runs(rows: Cursor, emails: dict[int, str]) -> list[Run]:
    found = []
    for (
        key,
        customer_id,
        flow_id,
        version,
        node_id,
        status,
        wake_at,
        waiting_for,
        reason,
        entered_at,
        updated_at,
    ) in rows:
        email = emails[customer_id]
        found.append(
            Run(key, flow_id, version, email, node_id, status, entered_at, updated_at, wake_at, waiting_for, reason)
        )
    return found


def entered(
    conn: Conn, store_id: str, customer_ids: Sequence[int], flow_ids: Sequence[str]
) -> Pending[list[tuple[int, str]]]:
    """(customer id, flow id) for each of these flows each customer has ever entered."""
    params = {"store_id": store_id, "customer_ids": list(customer_ids), "flow_ids": list(flow_ids)}
    return Pending(
        conn.execute(_ENTERED, params), lambda rows: [(customer_id, flow_id) for customer_id, flow_id in rows]
    )


def write(conn: Conn, store_id: str, runs: Sequence[Run], customer_ids: dict[str, int], were_live: Set[str]) -> None:
    """A batch's runs, new and moved: the live ones into live_runs, the ended ones out of it (when
    `were_live`: loaded or written live before) and into finished_runs, and the flows the new
    ones entered into flow_entries (migration 0015)."""
    live = [r for r in runs if r.live]
    ended = [r for r in runs if not r.live]
    if live:
        conn.execute(_UPSERT, {**_columns(store_id, live, customer_ids), "wake_ats": [r.wake_at for r in live],
                               "waiting_fors": [r.waiting_for for r in live]})  # fmt: skip
    if ended:
        params = _columns(store_id, ended, customer_ids)
        conn.execute(_FINISH, {**params, "live_keys": [r.key for r in ended if r.key in were_live]})
    entered = sorted({(customer_ids[r.email], r.flow_id) for r in runs if r.key not in were_live})
    if entered:
        params = {"store_id": store_id, "customer_ids": [e[0] for e in entered], "flow_ids": [e[1] for e in entered]}
        conn.execute(_ENTRIES, params)


def _columns(store_id: str, runs: Sequence[Run], customer_ids: dict[str, int]) -> dict[str, object]:
    return {
        "store_id": store_id,
        "keys": [r.key for r in runs],
        "customer_ids": [customer_ids[r.email] for r in runs],
        "flow_ids": [r.flow_id for r in runs],
        "versions": [r.flow_version for r in runs],
        "node_ids": [r.node_id for r in runs],
        "statuses": [r.status for r in runs],
        "reasons": [r.reason for r in runs],
        "entered_ats": [r.entered_at for r in runs],
        "updated_ats": [r.updated_at for r in runs],
    }


def stores_due(conn: Conn, now: object, resting: Collection[str] = ()) -> list[str]:
    """Across stores by design: the stores with a wait due at `now`, the longest overdue first,
    but those `resting`. The scheduler then works store by store."""
    return [store_id for (store_id,) in conn.execute(_STORES_DUE, {"now": now, "resting": list(resting)})]


def due(conn: Conn, store_id: str, now: object, limit: int) -> list[DueRun]:
    """Up to `limit` of the store's waits due at `now`, oldest first, locked (skipping those
    another scheduler holds)."""
    params = {"store_id": store_id, "now": now, "limit": limit}
    return [DueRun(store_id, customer_id, key) for customer_id, key in conn.execute(_DUE, params)]


_EXISTING = sql("existing_run_keys")


def existing_keys(conn: Conn, store_id: str, flow_id: str, keys: dict[int, str]) -> set[str]:
    """Which of these runs of the flow (customer id -> run key) exist, live or finished."""
    params = {"store_id": store_id, "flow_id": flow_id, "customer_ids": list(keys), "keys": list(keys.values())}
    return {key for (key,) in conn.execute(_EXISTING, params)}


_COUNTS = sql("run_counts")


def counts(conn: Conn, store_id: str) -> list[tuple[str, str, int]]:
    """(flow id, status, runs)."""
    return [(flow_id, status, int(n)) for flow_id, status, n in conn.execute(_COUNTS, {"store_id": store_id})]


_OF_CUSTOMER = sql("customer_runs")


@dataclass(frozen=True, slots=True)
class RunRow:
    flow_id: str
    flow_version: int
    status: str
    node_id: str | None
    entered_at: datetime
    updated_at: datetime
    wake_at: datetime | None
    waiting_for: str | None
    reason: str | None


def of_customer(conn: Conn, store_id: str, customer_id: int) -> list[RunRow]:
    """Every run of the customer, ended ones too, oldest first."""
    return [RunRow(*row) for row in conn.execute(_OF_CUSTOMER, {"store_id": store_id, "customer_id": customer_id})]
