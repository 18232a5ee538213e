"""The console's Klaviyo syncs, run beside its requests (SPEC §10)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from segflow.infra.config import Config
from segflow.services import klaviyo
from segflow.services.syncs import SyncLoop

SYNC_SLOTS = 4
"""Klaviyo syncs the console runs at once, one per store at most (SPEC §10: bounded)."""


class BackgroundSyncs:
    """The console's queued Klaviyo syncs and imports, run beside the requests: a request only
    queues one (and wakes these), so no page or API answer waits on Klaviyo."""

    def __init__(self, config: Config, url: str, slots: int = SYNC_SLOTS) -> None:
        def now() -> datetime:
            return datetime.now(UTC)

        self._loops = [
            SyncLoop(config, url, now, take=klaviyo.sync_queued, name=f"segflow-console-sync-{slot}")
            for slot in range(slots)
        ]

    def start(self) -> None:
        for loop in self._loops:
            loop.start()

    def wake(self) -> None:
        for loop in self._loops:
            loop.wake()

    def stop(self, within_s: float = 10) -> None:
        """All told to stop at once, then waited for together: a sync held by a slow Klaviyo does
        not hold the console's exit (the threads are daemons; its claim lapses, and the next
        console or worker takes the segment again)."""
        for loop in self._loops:
            loop.halt()
        deadline = time.monotonic() + within_s
        for loop in self._loops:
            if loop.is_alive():
                loop.join(max(0.0, deadline - time.monotonic()))
