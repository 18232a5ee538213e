"""Removing what is past its retention (SPEC §11), on a thread and a connection of its own.

Every SEGFLOW_PRUNE_EVERY the thread drops the partitions past their retention, rolls up flow
counts and creates the partitions ahead (db.maintenance.prune). It never uses the batches'
connection and takes no lock a batch waits for, so the consumer goes on while millions of
expired rows go. Of several workers, one prunes at a time (an advisory lock); the others skip
that round. A failure is logged and tried again next round; should the thread still end, the
worker's owner of its parts starts another (segflow.worker.parts).
"""

from __future__ import annotations

import threading

import structlog
from prometheus_client import Counter

from consumers.failure import one_line
from segflow.infra.config import Config
from segflow.infra.database import Conn, open_connection, worker_limits
from segflow.infra.failures import is_outage
from segflow.services import storage
from segflow.services.storage import Pruned

log = structlog.get_logger()

FIRST_ROUND_AFTER_S = 1.0
"""The first round waits this long: the worker's start-up (group join, relay) goes first."""


class Pruner(threading.Thread):
    def __init__(self, config: Config, database_url: str, pruned: Counter | None = None) -> None:
        super().__init__(name="segflow-prune", daemon=True)
        self.config = config
        self.database_url = database_url
        self.pruned = pruned
        """Rows removed by kind, for the worker's metrics."""
        self._halt = threading.Event()

    def run(self) -> None:
        conn: Conn | None = None
        # A round at start too: a worker restarted more often than SEGFLOW_PRUNE_EVERY still prunes.
        wait_s = FIRST_ROUND_AFTER_S
        while not self._halt.wait(wait_s):
            wait_s = self.config.prune_every.total_seconds()
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = open_connection(self.database_url, worker_limits(self.config, statements=False))
                self.prune_once(conn)
            except Exception as exc:
                error = one_line(exc)
                if is_outage(exc):
                    log.warning("prune_failed", error=error)
                else:
                    log.exception("prune_crashed", error=error)
        if conn is not None:
            conn.close()

    def prune_once(self, conn: Conn) -> Pruned:
        result = storage.prune(conn, self.config)
        if result.skipped:
            log.info("prune_skipped", why="another process is pruning")
            return result
        if self.pruned is not None:
            for kind, rows in result.removed.items():
                self.pruned.labels(kind).inc(rows)
        log.info("pruned", seconds=result.seconds, **{f"removed_{k}": n for k, n in result.removed.items()})
        return result

    @property
    def alive(self) -> bool:
        return self.is_alive()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)
