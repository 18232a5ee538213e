"""The worker's parts beside its consumer loop, under one owner (SPEC §5).

The consumer loop runs on the main thread; everything else runs beside it: the outbox relay (a
child process), the daily Klaviyo syncs, the pruner and the metrics server (threads). `Parts`
owns them: it starts them in order, stops them in reverse order on the way out (each stop
bounded; one that fails is logged and the rest still stop), and on every turn of the loop looks
that each still runs. A part that died (the relay killed by the OOM killer, a thread ended by
what its own error handling did not catch) is logged as `<name>_died`, counted in
`segflow_parts_restarted`, and replaced by a new one at most every RESTART_EVERY_S, so nothing
the worker promises (published events, pruning, syncs, metrics) silently stops while the
consumer goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import structlog
from prometheus_client import Counter

from consumers.failure import one_line

log = structlog.get_logger()

RESTART_EVERY_S = 5.0
"""A part that keeps dying is started again at most this often."""


class Part(Protocol):
    """Something that runs beside the consumer loop until stopped."""

    def start(self) -> None: ...

    def stop(self) -> None:
        """Finish what is in hand and end, within a bound of the part's own."""

    @property
    def alive(self) -> bool: ...


P = TypeVar("P", bound=Part)


@dataclass(slots=True)
class Running(Generic[P]):
    """One part as its owner holds it: the instance running now, and how to make the next."""

    name: str
    make: Callable[[], P]
    on_death: Callable[[P], None]
    """Called with the dead instance before its successor starts (to keep its figures, say)."""
    part: P
    started_at: float
    """When the part running now was started, or its replacement last tried."""
    deaths: int = 0
    buried: bool = False
    """The part running now died, and was stopped and accounted for, but no replacement started."""


class Parts:
    def __init__(self, restarted: Counter | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._running: list[Running[Part]] = []
        self._restarted = restarted
        """Parts started again after dying, by part, for the worker's metrics."""
        self._clock = clock

    def start(self, name: str, make: Callable[[], P], on_death: Callable[[P], None] = lambda _dead: None) -> Running[P]:
        """Make and start a part; it is stopped by `stop`, after every part started later."""
        part = make()
        part.start()
        if self._restarted is not None:
            self._restarted.labels(name)  # 0 until it dies: an alert needs the series to exist
        running = Running(name, make, on_death, part, started_at=self._clock())
        self._running.append(running)  # type: ignore[arg-type]  # held as a Part; the caller keeps its type
        return running

    def watch(self) -> int:
        """Replace the parts that died since the last look; returns how many were. A part whose
        replacement cannot be made or started (its port taken meanwhile, no thread to be had) is
        logged and tried again after the same rest: the loop goes on either way."""
        replaced = 0
        for running in self._running:
            if running.part.alive or self._clock() - running.started_at < RESTART_EVERY_S:
                continue
            if not running.buried:
                running.deaths += 1
                log.error(f"{running.name}_died", part=running.name, deaths=running.deaths, **_how(running.part))
                running.on_death(running.part)
                _stopping(running.name, running.part.stop)  # whatever it holds is let go before the next starts
                running.buried = True
            running.started_at = self._clock()
            try:
                part = running.make()
                part.start()
            except Exception as exc:
                log.error(f"{running.name}_restart_failed", part=running.name, error=one_line(exc))
                continue
            running.part, running.buried = part, False
            if self._restarted is not None:
                self._restarted.labels(running.name).inc()
            replaced += 1
        return replaced

    def stop(self) -> None:
        """Stop every part, the last started first."""
        while self._running:
            running = self._running.pop()
            _stopping(running.name, running.part.stop)


def _how(part: Part) -> dict[str, object]:
    """What is known of how a part ended: a process's exit code."""
    exitcode = getattr(part, "exitcode", None)
    return {} if exitcode is None else {"exitcode": exitcode}


def _stopping(name: str, stop: Callable[[], object]) -> None:
    try:
        stop()
    except Exception as exc:
        log.warning("stop_failed", part=name, error=one_line(exc))
