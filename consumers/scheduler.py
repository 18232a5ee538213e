"""The scheduler: wakes waiting runs when their time comes (SPEC §4 wait, §5).

Due runs are taken with `FOR UPDATE SKIP LOCKED` and their customers locked with SKIP LOCKED
too, so two workers never wake the same run and a customer busy in a consumer batch is left
for the next tick. The clock is passed in, so tests can move time.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from consumers.events import Applier
from db import Conn
from db import runs as run_rows

log = structlog.get_logger()

DUE_PER_TICK = 1_000


def tick(conn: Conn, applier: Applier, now: datetime) -> int:
    """Wake what is due at `now` in one transaction; returns the number of runs moved."""
    with conn.transaction():
        due = run_rows.due(conn, now, DUE_PER_TICK)
        if not due:
            return 0
        by_store: dict[str, dict[int, list[str]]] = {}
        for run in due:
            by_store.setdefault(run.store_id, {}).setdefault(run.customer_id, []).append(run.key)
        moved = 0
        for store_id, customers in sorted(by_store.items()):
            with structlog.contextvars.bound_contextvars(store_id=store_id):
                moved += applier.wake(conn, store_id, customers, now)
    if moved:
        log.info("runs_woken", runs=moved)
    return moved
