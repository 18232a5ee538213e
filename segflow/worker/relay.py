"""The outbox relay in a child process, so its Python work (reading the outbox, building record
batches) runs on another core than the consumer's (consumers.relay has the relay itself).

Nothing the worker and the relay share can block the worker when the relay dies, by kill -9 or
the OOM killer, at any moment: wake-ups go through a pipe the worker writes without blocking (a
full pipe already holds a wake-up), and the figures and the finishing flag are shared values
without locks, each written by one side only. (A `multiprocessing.Event` or a locked `Value`
shares a semaphore, and a child killed while holding it blocks the worker's next `set()`
forever.) The worker checks on the relay every turn of its loop and starts a new one when it
died; the new relay recovers what the dead one left half done, as after any crash.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, Protocol, TypeVar

import structlog

from consumers import kafka as kafka_clients
from consumers.publish import ConfluentPublisher
from consumers.relay import Relay
from segflow.errors import ServiceUnavailable
from segflow.infra.config import Config
from segflow.infra.database import Conn, open_connection, worker_limits
from segflow.infra.failures import Backoff, back_off
from segflow.infra.logging import configure as configure_logging
from segflow.worker.process import die_with_parent, tune_gc, utc_now

log = structlog.get_logger()


class Wake(Protocol):
    """How the relay waits for the worker to say there is something to publish."""

    def drain(self) -> None:
        """Forget the wake-ups so far: the tick about to run answers them."""

    def wait(self, timeout: float) -> None:
        """Return when woken, or after `timeout` seconds."""


class RelayLoop:
    """Runs the relay until told to finish: publish, and when there is nothing, wait for a wake-up."""

    IDLE_WAIT_S = 0.05

    def __init__(self, relay: Relay, reopen: Callable[[Conn], Conn], wake: Wake, finishing: Callable[[], bool]) -> None:
        self.relay = relay
        self.reopen = reopen
        self.wake = wake
        self.finishing = finishing
        """True once the worker asked the relay to publish what is queued and stop."""
        self.last = 0
        self.backoff = Backoff()

    def run(self, after_tick: Callable[[RelayLoop], None] = lambda _loop: None) -> None:
        while True:
            self.wake.drain()
            self.last = self._tick()
            after_tick(self)
            if self.last == 0:
                if self.finishing():
                    return
                self.wake.wait(self.IDLE_WAIT_S)

    def _tick(self) -> int:
        try:
            published = self.relay.tick()
            if published:
                self.backoff.reset()  # a slice published and marked: the relay's committed batch
            return published
        except Exception as exc:  # a broken database or broker, or a bug: the relay must not die of it
            back_off("relay_failed", exc, self.backoff)
            if self.relay.conn.broken or self.relay.conn.closed:
                self.relay.reconnect(self.reopen(self.relay.conn))
            return 0 if not self.finishing() else -1


class _PipeWake:
    """The relay's end of the wake-up pipe."""

    def __init__(self, reader: Connection, asked: Any) -> None:
        self._reader = reader
        self._asked = asked
        self.seen = 0
        """Wake-ups the worker had sent when the current tick began: the tick answers them all,
        since each is sent after the commit that queued its events."""
        os.set_blocking(reader.fileno(), False)

    def drain(self) -> None:
        self.seen = self._asked.value
        with contextlib.suppress(BlockingIOError):
            while os.read(self._reader.fileno(), 4096):
                pass

    def wait(self, timeout: float) -> None:
        self._reader.poll(timeout)


STOP_GRACE_S = 8.0
"""After a stop request, how long the relay may take to publish what is queued before it is
killed (its successor recovers the rest). Under Docker's default 10 s between SIGTERM and
SIGKILL, with room for the batch in hand."""


class RelayProcess:
    """One relay child process and what the worker knows of it (a part of the worker:
    segflow.worker.parts). A dead one is replaced by a new RelayProcess, never restarted."""

    def __init__(self, config: Config, database_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._reader, self._writer = context.Pipe(duplex=False)
        self._finishing = context.RawValue("b", 0)  # written by the worker
        self._asked = context.RawValue("q", 0)  # wake-ups sent, written by the worker
        self._answered = context.RawValue("q", 0)  # wake-ups the relay's ticks have answered, written by the relay
        self._idle = context.RawValue("b", 0)  # the last tick found nothing to publish, written by the relay
        self._published = context.RawValue("q", 0)
        self._last_published_at = context.RawValue("d", 0.0)
        self._process = context.Process(
            target=_relay_main,
            args=(
                config,
                database_url,
                self._reader,
                self._finishing,
                self._asked,
                self._answered,
                self._idle,
                self._published,
                self._last_published_at,
            ),
            name="segflow-relay",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()
        self._reader.close()  # the child has its own; with this one closed, a dead child's pipe says so
        os.set_blocking(self._writer.fileno(), False)

    def wake(self) -> None:
        """Tell the relay there is something to publish. Never blocks."""
        if self._writer.closed:
            return  # stopped after it died, its successor not started yet: that one starts by looking
        self._asked.value += 1
        # A full pipe already holds a wake-up; a broken one means the relay died, which the
        # worker's watch notices.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._writer.fileno(), b"\x01")

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    @property
    def idle(self) -> bool:
        """The relay found nothing to publish after the last wake-up."""
        return bool(self._idle.value) and self._answered.value >= self._asked.value

    @property
    def published(self) -> int:
        return int(self._published.value)

    @property
    def last_published_at(self) -> float | None:
        return float(self._last_published_at.value) or None

    def stop(self) -> None:
        """Publish what is queued, then stop; a relay still at it after STOP_GRACE_S is killed (the
        next one recovers what it left half done)."""
        self._finishing.value = 1
        self.wake()
        self._process.join(STOP_GRACE_S)
        if self._process.is_alive():
            log.warning("relay_killed_after_grace", grace_s=STOP_GRACE_S)
            self._process.kill()
            self._process.join(5)
        self._writer.close()


def _relay_main(
    config: Config,
    database_url: str,
    reader: Connection,
    finishing: Any,
    asked: Any,
    answered: Any,
    idle: Any,
    published: Any,
    last_at: Any,
) -> None:
    die_with_parent()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the worker decides when the relay stops (and drains)
        signal.signal(sig, signal.SIG_IGN)
    configure_logging(config.log_format)

    def stopping() -> bool:
        return bool(finishing.value)

    sender = _connect(lambda: _publisher(config.kafka_bootstrap, config.output_topic), stopping)
    conn = _connect(lambda: open_connection(database_url, worker_limits(config)), stopping)
    if sender is None or conn is None:  # asked to stop before both answered: nothing was sent
        return
    tune_gc()

    def read_output(start: Mapping[int, int], each: Callable[[Any], None]) -> kafka_clients.TopicRead:
        return kafka_clients.read_topic(
            config.kafka_bootstrap, config.output_topic, "segflow-relay-recovery", start, each=each, committed_only=True
        )

    relay = Relay(conn, sender, read_output, config.output_topic, utc_now)

    def reopen(old: Conn) -> Conn:
        try:
            return open_connection(database_url, worker_limits(config))
        except ServiceUnavailable:
            return old

    wake = _PipeWake(reader, asked)

    def report(loop: RelayLoop) -> None:
        published.value = relay.published
        last_at.value = relay.last_published_at or 0.0
        idle.value = 1 if loop.last == 0 else 0
        answered.value = wake.seen

    try:
        RelayLoop(relay, reopen, wake, stopping).run(report)
    finally:
        with contextlib.suppress(Exception):
            sender.close()
        conn.close()


def _publisher(bootstrap: str, topic: str) -> ConfluentPublisher:
    """A publisher that has reached the broker (asking for the topic's partitions), so a broker
    that is not up yet is waited for here, with back-off."""
    # One transactional id per output topic: whichever relay publishes to it fences the one before.
    publisher = ConfluentPublisher(bootstrap, client_id="segflow-relay", transactional_id=f"segflow-relay:{topic}")
    publisher.partitions(topic)
    return publisher


T = TypeVar("T")


def _connect(connect: Callable[[], T], stopping: Callable[[], bool]) -> T | None:
    """Connect, retrying with back-off while the service is down (a relay that died of it would
    only be started again); None if asked to stop first."""
    backoff = Backoff()
    while not stopping():
        try:
            return connect()
        except Exception as exc:
            back_off("relay_connect_failed", exc, backoff)
    return None
