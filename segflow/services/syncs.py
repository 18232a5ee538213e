"""Klaviyo syncs on a thread of their own, so HTTP never holds up the events or the console:
the worker's daily syncs (SPEC §6), and the console's queued ones (SPEC §10), each a SyncLoop
that takes the next segment its `take` claims.

The thread survives anything: one segment's failure (its key rejected, Klaviyo down or sending
nonsense, a bug its data triggers) is logged, written on the segment, and that segment is tried
again an hour later (its claim in the database says so, for every worker); the others go on.
The database being down pauses every segment alike, until it answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog
from prometheus_client import Counter

from consumers.failure import one_line
from db import Conn
from schemas.reports import SyncReport
from segflow.infra.config import Config
from segflow.infra.database import open_connection, worker_limits
from segflow.infra.failures import is_outage
from segflow.services import klaviyo

log = structlog.get_logger()


Take = Callable[[Conn, Config, datetime], "tuple[int, SyncReport] | None"]
"""Claims and runs the next sync: (segment id, report), None when there is none, SyncFailed."""


class SyncLoop(threading.Thread):
    CHECK_EVERY_S = 30.0

    def __init__(
        self,
        config: Config,
        database_url: str,
        clock: Callable[[], datetime],
        outcomes: Counter | None = None,
        take: Take = klaviyo.sync_due,
        name: str = "segflow-sync",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.config = config
        self.outcomes = outcomes
        """Syncs by outcome (synced, failed), for the worker's metrics."""
        self.database_url = database_url
        self.clock = clock
        self.take = take
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._checked = threading.Event()

    def wake(self) -> None:
        """Look for work now, not at the next check (a sync was just queued)."""
        self._wake.set()

    @property
    def idle(self) -> bool:
        """True once a check found nothing left to do (and until the next check starts)."""
        return self._checked.is_set()

    def run(self) -> None:
        conn: Conn | None = None
        while not self._halt.is_set():
            self._checked.clear()
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = open_connection(self.database_url, worker_limits(self.config))
                self._sync_all_due(conn)
            except Exception as exc:
                if is_outage(exc):
                    log.warning("sync_check_failed", error=one_line(exc))
                else:
                    log.exception("sync_check_crashed")
            self._checked.set()
            self._wake.wait(self.CHECK_EVERY_S)
            self._wake.clear()
        if conn is not None:
            conn.close()

    def _sync_all_due(self, conn: Conn) -> None:
        while not self._halt.is_set():
            try:
                done = self.take(conn, self.config, self.clock())
            except klaviyo.SyncFailed as exc:
                log.warning("klaviyo_sync_failed", segment_id=exc.segment_id, reason=str(exc))
                if self.outcomes is not None:
                    self.outcomes.labels("failed").inc()
                continue
            if done is None:
                return
            if self.outcomes is not None:
                self.outcomes.labels("synced").inc()

    def halt(self) -> None:
        """Stop after the sync in hand (its claim lapses on its own if the process ends first)."""
        self._halt.set()
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self.is_alive()

    def stop(self, timeout_s: float = 30) -> None:
        self.halt()
        self.join(timeout_s)
