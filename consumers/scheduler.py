"""The scheduler: wakes waiting runs when their time comes (SPEC §4 wait, §5).

Due runs are taken with `FOR UPDATE SKIP LOCKED` and their customers locked with SKIP LOCKED
too, so two workers never wake the same run and a customer busy in a consumer batch is left
for the next tick. The clock is passed in, so tests can move time.

Each store's runs are woken in a savepoint of their own: a store whose wake fails (data this
segflow cannot read) is rolled back alone and reported, and the other stores' runs go on (SPEC §5:
one store's unreadable data never stops another store's waits). The caller rests such a store
for a while; the tick leaves out the stores it is told are resting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from consumers.events import StoreWork
from db import Conn
from db import runs as run_rows

log = structlog.get_logger()

DUE_PER_TICK = 1_000


@dataclass(slots=True)
class Tick:
    moved: int = 0
    """Runs woken."""
    failed: dict[str, Exception] = field(default_factory=dict)
    """Stores whose wake failed (rolled back), with why."""


def tick(conn: Conn, work: StoreWork, now: datetime, resting: Collection[str] = ()) -> Tick:
    """Wake what is due at `now`, up to DUE_PER_TICK runs, in one transaction, store by store
    (the longest overdue first). Each store's due runs are read from its own index range, so a
    resting store's waits cost nothing however many there are."""
    done = Tick()
    budget = DUE_PER_TICK
    with conn.transaction():
        for store_id in run_rows.stores_due(conn, now, resting):
            if budget <= 0:
                break
            with structlog.contextvars.bound_contextvars(store_id=store_id):
                try:
                    with conn.transaction():
                        due = run_rows.due(conn, store_id, now, budget)
                        budget -= len(due)
                        customers: dict[int, list[str]] = {}
                        for run in due:
                            customers.setdefault(run.customer_id, []).append(run.key)
                        if customers:
                            done.moved += work.wake(conn, store_id, customers, now)
                except Exception as exc:
                    if conn.broken or conn.closed:
                        raise  # the connection is gone: no store could go on
                    done.failed[store_id] = exc
    if done.moved:
        log.info("runs_woken", runs=done.moved)
    return done
