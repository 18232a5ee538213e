"""`segflow worker`: the consumer loop, the outbox relay and the scheduler (SPEC §5).

The main thread polls a batch and applies it (offsets commit with its effects), then wakes
what is due. The outbox relay runs in a child process (its record building is pure Python and
gets a core of its own); Klaviyo syncs run on a thread (their HTTP never holds up events).
A stop request (SIGTERM, SIGINT) ends the loop between batches, so the batch in hand is
committed or never started.

A batch that fails is not lost: the transaction rolls back and the assigned partitions seek
back to the offsets stored in PostgreSQL. If a batch fails for a reason other than the
database or the broker (a bug the message triggers), its records are retried one by one and
the one that still fails is dead-lettered, so one message cannot stall a partition.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import gc
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from consumers import kafka as kafka_clients
from consumers import scheduler
from consumers.events import Applier, BatchResult, DeadLetter, Record
from consumers.relay import Relay
from db import Conn
from db import events as event_rows
from db import offsets as offset_rows
from segflow import klaviyo
from segflow.config import Config
from segflow.database import open_connection, widen_send_buffer
from segflow.embedded import require_broker
from segflow.errors import ServiceUnavailable
from segflow.logging import configure as configure_logging

log = structlog.get_logger()

POLL_MS = 100
# While batches keep coming, the scheduler looks for due waits at most this often (a look is a
# transaction of its own); between batches it looks every time round the loop.
SCHEDULER_BUSY_EVERY_S = 1.0
# processed_events keeps ids a day longer than the 7-day dedup window SPEC §2 promises.
DEDUP_WINDOW = timedelta(days=8)
PURGE_EVERY_S = 3600.0
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
PROGRESS_EVERY = 100_000  # events between `progress` log lines (with the current RSS)
INPUT_PARTITIONS = 4  # only used when the worker has to create the input topic itself
# A batch allocates hundreds of thousands of short-lived objects (parsed events, runs, output
# events, producer records) that reference counting frees, almost none in cycles. With the
# default threshold (700) the cycle collector ran so often that it took half of the engine's
# time: the engine alone went from ~20,000 to ~36,000 events/s with this one.
GC_GEN0_THRESHOLD = 50_000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Summary:
    events: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0
    published: int = 0


class Worker:
    def __init__(
        self,
        config: Config,
        database_url: str,
        clock: Callable[[], datetime] = utc_now,
        stop_when_idle: float | None = None,
        max_batch: int = kafka_clients.MAX_POLL_RECORDS,
    ) -> None:
        self.config = config
        self.database_url = database_url
        self.clock = clock
        self.stop_when_idle = stop_when_idle
        self.summary = Summary()
        self.applier = Applier(config.group_id, config.input_topic)
        self.max_batch = max_batch
        self._stopping = False
        self._failures = 0
        self.first_event_at: float | None = None
        """Wall time of the first non-empty poll (for the benchmark's end-to-end rate)."""
        self._next_progress = PROGRESS_EVERY

    def stop(self) -> None:
        """Finish the batch in hand, commit, and leave the loop."""
        self._stopping = True

    def run(self) -> Summary:
        bootstrap = self.config.kafka_bootstrap
        require_broker(bootstrap)
        topics = [(self.config.input_topic, INPUT_PARTITIONS), (self.config.output_topic, INPUT_PARTITIONS)]
        kafka_clients.ensure_topics(bootstrap, [*topics, (self.config.dlq_topic, 1)])
        producer = kafka_clients.producer(bootstrap)
        self.conn = self._open_connection()
        consumer = kafka_clients.consumer(bootstrap, self.config.group_id, self._on_assigned, self.config.input_topic)
        self.consumer = consumer
        self.producer = producer
        log.info("worker_started", group_id=self.config.group_id, topic=self.config.input_topic)
        idle_since: float | None = None
        last_purge = last_tick = 0.0
        relay = RelayProcess(self.config, self.database_url)
        self.relay = relay
        relay.start()
        sync_loop = SyncLoop(self.config, self.database_url, self.clock)
        sync_loop.start()
        try:
            while not self._stopping:
                applied = self._poll_and_apply()
                busy = not relay.idle or not sync_loop.idle or applied
                if not applied or time.monotonic() - last_tick >= SCHEDULER_BUSY_EVERY_S:
                    last_tick = time.monotonic()
                    woken = self._guard("scheduler", lambda: scheduler.tick(self.conn, self.applier, self.clock()))
                    busy = woken > 0 or busy
                if time.monotonic() - last_purge > PURGE_EVERY_S:
                    self._guard("purge", lambda: event_rows.purge(self.conn, self.clock() - DEDUP_WINDOW))
                    last_purge = time.monotonic()
                if self.stop_when_idle is None:
                    continue
                if busy or not consumer.assignment():
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= self.stop_when_idle:
                    log.info("worker_idle", seconds=self.stop_when_idle)
                    break
        finally:
            peak = peak_rss_mb()  # before shutdown, which is not the working set
            sync_loop.finish()
            relay.finish()  # whatever the last batch queued goes out before we leave
            self.summary.published = relay.published
            with contextlib.suppress(Exception):
                consumer.close()
            with contextlib.suppress(Exception):
                producer.close(timeout=5)
            self.conn.close()
            log.info(
                "worker_stopped", **vars_of(self.summary), first_event_at=self.first_event_at,
                last_published_at=relay.last_published_at, peak_rss_mb=peak,
            )  # fmt: skip
        return self.summary

    # --- consuming ---------------------------------------------------------------------------

    def _on_assigned(self, consumer: KafkaConsumer, assigned: list[TopicPartition]) -> None:
        """Positions come from PostgreSQL; a partition never seen starts at its beginning (SPEC §2)."""
        stored = offset_rows.read(
            self.conn, self.config.group_id, self.config.input_topic, [tp.partition for tp in assigned]
        )
        for tp in assigned:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))

    def _poll_and_apply(self) -> bool:
        polled = self.consumer.poll(timeout_ms=POLL_MS, max_records=self.max_batch)
        records = [
            Record(tp.topic, tp.partition, r.offset, r.key, r.value) for tp, batch in polled.items() for r in batch
        ]
        if not records:
            return False
        if self.first_event_at is None:
            self.first_event_at = time.time()
        try:
            self._commit(lambda: self.applier.apply(self.conn, records, self.clock()))
            self._failures = 0
        except (psycopg.OperationalError, KafkaError) as exc:
            self._back_off("batch_failed", exc)
            self._rewind()
        except Exception as exc:
            log.exception("batch_failed_retrying_one_by_one", records=len(records), error=str(exc))
            self._rewind()
            self._one_by_one(records)
        return True

    def _one_by_one(self, records: list[Record]) -> None:
        for record in records:
            with structlog.contextvars.bound_contextvars(partition=record.partition, offset=record.offset):
                try:
                    self._commit(lambda r=record: self.applier.apply(self.conn, [r], self.clock()))  # type: ignore[misc]
                except (psycopg.OperationalError, KafkaError):
                    raise
                except Exception as exc:
                    reason = f"processing failed: {type(exc).__name__}: {exc}"
                    log.exception("message_failed", reason=reason)
                    self._commit(lambda r=record, why=reason: self._dead_only(r, why))  # type: ignore[misc]
        self._rewind()

    def _dead_only(self, record: Record, reason: str) -> BatchResult:
        result = BatchResult(dead=[DeadLetter(record, reason)], next_offsets={record.partition: record.offset + 1})
        offset_rows.save(self.conn, self.config.group_id, self.config.input_topic, result.next_offsets)
        return result

    def _commit(self, apply: Callable[[], BatchResult]) -> None:
        """Apply and send dead letters inside one transaction: it commits only once the DLQ has them."""
        with self.conn.transaction():
            result = apply()
            if result.dead:
                self._send_dead_letters(result.dead)
        if result.output_events:
            self.relay.wake.set()
        self.summary.events += result.applied
        if self.summary.events >= self._next_progress or self.summary.events == result.applied > 0:
            log.info("progress", events=self.summary.events, rss_mb=current_rss_mb())
        while self._next_progress <= self.summary.events:
            self._next_progress += PROGRESS_EVERY
        self.summary.duplicates_skipped += result.duplicates
        self.summary.dead_lettered += len(result.dead)
        if result.applied or result.dead:
            log.info(
                "batch_applied", events=result.applied, duplicates=result.duplicates, dead_lettered=len(result.dead),
                stale=result.stale, output_events=result.output_events,
            )  # fmt: skip

    def _send_dead_letters(self, dead: list[DeadLetter]) -> None:
        now = self.clock()
        futures = []
        for letter in dead:
            record = letter.record
            log.warning(
                "dead_lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=letter.reason,
            )
            futures.append(self.producer.send(self.config.dlq_topic, key=record.key, value=letter.value(now)))
        self.producer.flush()
        for future in futures:
            future.get()

    def _rewind(self) -> None:
        """Seek every assigned partition back to its stored offset, so nothing uncommitted is skipped."""
        assigned = list(self.consumer.assignment())
        if assigned:
            with contextlib.suppress(psycopg.Error):
                self._on_assigned(self.consumer, assigned)

    def _back_off(self, what: str, exc: BaseException) -> None:
        back_off(what, exc, self._failures)
        self._failures += 1
        if self.conn.closed or self.conn.broken:
            with contextlib.suppress(ServiceUnavailable):
                self.conn = self._open_connection()

    def _open_connection(self) -> Conn:
        """The batches' connection, with room on its socket for a group's writes."""
        conn = open_connection(self.database_url)
        widen_send_buffer(conn)
        return conn

    def _guard(self, what: str, work: Callable[[], int]) -> int:
        """Scheduler and purge failures are retried on the next turn of the loop, never fatal."""
        try:
            return work()
        except (psycopg.Error, KafkaError) as exc:
            self._back_off(f"{what}_failed", exc)
            return 0


def back_off(what: str, exc: BaseException, failures: int) -> None:
    """Log a failure that will be retried and wait the longer the more failures came before it."""
    delay = RETRY_BACKOFF_S[min(failures, len(RETRY_BACKOFF_S) - 1)]
    log.warning(what, error=f"{type(exc).__name__}: {exc}".splitlines()[0], retry_in_s=delay)
    time.sleep(delay)


class _Flag(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class RelayLoop:
    """Runs the relay until told to finish: publish, and when there is nothing, wait for a wake-up."""

    IDLE_WAIT_S = 0.05

    def __init__(self, relay: Relay, reopen: Callable[[Conn], Conn], wake: _Flag, finishing: _Flag) -> None:
        self.relay = relay
        self.reopen = reopen
        self.wake = wake
        """Set by the consumer after a commit that queued output events."""
        self.finishing = finishing
        self.last = 0
        self._failures = 0

    def run(self, after_tick: Callable[[RelayLoop], None] = lambda _loop: None) -> None:
        while True:
            self.wake.clear()
            self.last = self._tick()
            after_tick(self)
            if self.last == 0:
                if self.finishing.is_set():
                    return
                self.wake.wait(self.IDLE_WAIT_S)

    def _tick(self) -> int:
        try:
            published = self.relay.tick()
            self._failures = 0
            return published
        except Exception as exc:  # a broken database or broker, or a bug: the relay must not die of it
            back_off("relay_failed", exc, self._failures)
            self._failures += 1
            if self.relay.conn.broken or self.relay.conn.closed:
                self.relay.reconnect(self.reopen(self.relay.conn))
            return 0 if not self.finishing.is_set() else -1


class RelayProcess:
    """The relay in a child process, so its Python work (reading the outbox, building record
    batches) runs on another core than the consumer's. It dies with the worker (PDEATHSIG), so a
    kill -9 of the worker stops both, as one process would; recovery covers the rest."""

    def __init__(self, config: Config, database_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.wake = context.Event()
        self._finishing = context.Event()
        self._idle = context.Value("b", 0)
        self._published = context.Value("q", 0)
        self._last_published_at = context.Value("d", 0.0)
        self._process = context.Process(
            target=_relay_main,
            args=(
                config,
                database_url,
                self.wake,
                self._finishing,
                self._idle,
                self._published,
                self._last_published_at,
            ),
            name="segflow-relay",
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()

    @property
    def idle(self) -> bool:
        return bool(self._idle.value) and not self.wake.is_set()

    @property
    def published(self) -> int:
        return int(self._published.value)

    @property
    def last_published_at(self) -> float | None:
        return float(self._last_published_at.value) or None

    def finish(self, timeout: float = 60.0) -> None:
        """Publish what is queued, then stop."""
        self._finishing.set()
        self.wake.set()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()


def _relay_main(
    config: Config, database_url: str, wake: _Flag, finishing: _Flag, idle: Any, published: Any, last_at: Any
) -> None:
    _die_with_parent()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the worker decides when the relay stops (and drains)
        signal.signal(sig, signal.SIG_IGN)
    configure_logging(config.log_format)
    sender = kafka_clients.BatchSender(config.kafka_bootstrap, client_id="segflow-relay")
    conn = open_connection(database_url)
    tune_gc()

    def read_output(start: Mapping[int, int]) -> list[Any]:
        return kafka_clients.read_all(
            config.kafka_bootstrap, config.output_topic, "segflow-relay-recovery", start=start
        )

    relay = Relay(conn, sender, read_output, config.output_topic, utc_now)

    def reopen(old: Conn) -> Conn:
        try:
            return open_connection(database_url)
        except ServiceUnavailable:
            return old

    def report(loop: RelayLoop) -> None:
        published.value = relay.published
        last_at.value = relay.last_published_at or 0.0
        idle.value = 1 if loop.last == 0 else 0

    try:
        RelayLoop(relay, reopen, wake, finishing).run(report)
    finally:
        with contextlib.suppress(Exception):
            sender.close()
        conn.close()


def tune_gc() -> None:
    """Collect cycles less often (see GC_GEN0_THRESHOLD), and never scan what startup loaded."""
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the worker dies, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class SyncLoop(threading.Thread):
    """Daily Klaviyo syncs (SPEC §6) on a thread of their own, so HTTP never holds up the events."""

    CHECK_EVERY_S = 30.0
    RETRY_FAILED_AFTER_S = 3600.0  # a failing sync (bad key, Klaviyo down) is not retried in a loop

    def __init__(self, config: Config, database_url: str, clock: Callable[[], datetime]) -> None:
        super().__init__(name="segflow-sync", daemon=True)
        self.config = config
        self.database_url = database_url
        self.clock = clock
        self._halt = threading.Event()
        self._checked = threading.Event()
        self._failed: dict[int, float] = {}
        self.synced = 0

    @property
    def idle(self) -> bool:
        """True once a check found nothing left to do (and until the next check starts)."""
        return self._checked.is_set()

    def run(self) -> None:
        conn: Conn | None = None
        while not self._halt.is_set():
            self._checked.clear()
            try:
                conn = (
                    conn
                    if conn is not None and not conn.closed and not conn.broken
                    else open_connection(self.database_url)
                )
                self._sync_all_due(conn)
            except (psycopg.Error, ServiceUnavailable) as exc:
                log.warning("sync_check_failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            self._checked.set()
            self._halt.wait(self.CHECK_EVERY_S)
        if conn is not None:
            conn.close()

    def _sync_all_due(self, conn: Conn) -> None:
        while not self._halt.is_set():
            now = time.monotonic()
            skip = [segment for segment, until in self._failed.items() if until > now]
            try:
                done = klaviyo.sync_due(conn, self.config, self.clock(), skip)
            except klaviyo.SyncFailed as exc:
                log.warning("klaviyo_sync_failed", segment_id=exc.segment_id, reason=str(exc))
                self._failed[exc.segment_id] = now + self.RETRY_FAILED_AFTER_S
                continue
            if done is None:
                return
            self.synced += 1

    def finish(self) -> None:
        self._halt.set()
        self.join(30)


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc), falling back to the peak elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mb() -> float:
    """The process's high-water RSS. /proc's VmHWM first: getrusage's ru_maxrss came out several
    times higher than any VmHWM sampled during the same runs (it seems to count the relay child's
    spawn), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def vars_of(summary: Summary) -> dict[str, int]:
    """The `worker --stop-when-idle` JSON (SPEC §7)."""
    return dataclasses.asdict(summary)
