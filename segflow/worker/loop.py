"""The worker's main thread: consume, apply, commit; wake due waits; watch its parts (SPEC §5).

Each turn: seek partitions that are parked (consumers.input) back to their stored offsets; poll a
batch and apply it in one transaction whose offsets commit with its effects; now and then, wake
due waits and purge old duplicate claims; look that the parts beside the loop (the relay child,
the Klaviyo syncs, the pruner, the metrics server: segflow.worker.parts) still run.

What happens when something fails is the point of this module; what counts as what is decided in
segflow.infra.failures (by SQLSTATE and by which service failed):
- An outage (the database or the broker away or busy, a transaction that lost a race): the
  transaction rolls back, every partition is parked, and the worker backs off and tries again
  from the stored offsets. The back-off grows per failure site, with jitter, from 0.2 s to 10 s,
  and only a committed batch resets it. While the database is down the partitions cannot be
  sought, so nothing more is fetched.
- A batch not read from its stored offsets (`OffsetGap`): nothing is written; the partitions are
  sought back.
- A message's fault (data the database refuses, SQLSTATE classes 22, 23, 54; a bug a record
  triggers): the batch is split in halves, each applied in its own transaction, and a half that
  fails is split again, until the records that fail on their own are found and dead-lettered
  (`processing failed: ...`). So one bad message costs about 2·log2(batch) transactions, and
  cannot stall its partition.
- A part died (the relay by kill -9 or the OOM killer, a thread by a bug): a new one is
  started; a new relay recovers what the dead one left half done.

A stop request (SIGTERM, SIGINT) ends the loop between batches and cuts any back-off short, so
the batch in hand is committed or never started; the relay then gets its STOP_GRACE_S to publish
what is queued. The worker exits only on a stop request or `--stop-when-idle`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import structlog

from consumers import kafka as kafka_clients
from consumers import scheduler
from consumers.dlq import DeadLetterSender
from consumers.events import Applier, BatchResult, OffsetGap, Record
from consumers.failure import one_line
from consumers.input import InputConsumer
from segflow.errors import ServiceUnavailable
from segflow.infra.config import DEDUP_WINDOW_PROMISED, Config
from segflow.infra.database import Conn, open_connection, widen_send_buffer, worker_limits
from segflow.infra.embedded import require_broker
from segflow.infra.failures import Backoff, back_off, is_outage
from segflow.services import storage
from segflow.services.syncs import SyncLoop
from segflow.worker import metrics as worker_metrics
from segflow.worker.maintenance import Pruner
from segflow.worker.metrics import Metrics, MetricsServer
from segflow.worker.parts import Parts, Running
from segflow.worker.process import current_rss_mb, peak_rss_mb, utc_now
from segflow.worker.relay import RelayProcess

log = structlog.get_logger()

POLL_MS = 100
# While batches keep coming, the scheduler looks for due waits at most this often (a look is a
# transaction of its own); between batches it looks every time round the loop.
SCHEDULER_BUSY_EVERY_S = 1.0
PROGRESS_EVERY = 100_000  # events between `progress` log lines (with the current RSS)
INPUT_PARTITIONS = 4  # only used when the worker has to create the input topic itself
# A store whose due runs failed to wake is left out of the scheduler's ticks this long, longer
# after each failure in a row (SPEC §5: one store's unreadable data never stops another's waits).
STORE_REST_S = (5.0, 30.0, 120.0, 600.0)
# How often the worker asks whether the input topic is still the one its partitions were sought
# in (consumers.input.InputConsumer.check_topic): one metadata request.
TOPIC_CHECK_EVERY_S = 5.0
# How often a worker serving metrics asks the broker for its partitions' end offsets (the lag).
LAG_EVERY_S = 5.0
# The loop creates time partitions itself when those that exist end sooner than this (the pruner
# normally keeps them db.maintenance.AHEAD_PRUNES rounds ahead), or half of that when pruning is
# frequent.
PARTITIONS_MARGIN = timedelta(minutes=2)


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
        metrics_port: int | None = None,
    ) -> None:
        self.config = config
        self.database_url = database_url
        self.clock = clock
        self.stop_when_idle = stop_when_idle
        self.summary = Summary()
        self.applier = Applier(config.group_id, config.input_topic, storage.dedup_width(config))
        self._covered_until = storage.EPOCH
        self._partitions_margin = min(PARTITIONS_MARGIN, storage.partitions_ahead(config) / 2)
        """How far ahead the partitions rows are written to exist (db.maintenance)."""
        self.max_batch = max_batch
        self._stopping = False
        self._halt = threading.Event()
        """Set with `_stopping`: cuts a back-off wait short."""
        self.backoff = Backoff()
        """Per failure site; reset only by a committed batch (segflow.infra.failures)."""
        self._resting: dict[str, tuple[float, int]] = {}
        """Stores the scheduler leaves out: store id -> (monotonic time the rest ends, failures)."""
        self.first_event_at: float | None = None
        """Wall time of the first non-empty poll (for the benchmark's end-to-end rate)."""
        self._next_progress = PROGRESS_EVERY
        self._published_by_dead_relays = 0
        self.metrics = Metrics(self._published, database_url)
        self.metrics_port = metrics_port
        self.parts = Parts(self.metrics.restarted)
        """What runs beside the loop: relay, Klaviyo syncs, pruner, metrics server."""
        self._relay: Running[RelayProcess] | None = None
        self._metrics_server: Running[MetricsServer] | None = None
        self._syncs: Running[SyncLoop] | None = None
        self._peak_rss_mb: float | None = None
        self._started = False

    def stop(self) -> None:
        """Finish the batch in hand, commit, and leave the loop."""
        self._stopping = True
        self._halt.set()

    def run(self) -> Summary:
        """Open everything, loop until asked to stop (or idle), and close everything in reverse
        order, whatever failed on the way in or out."""
        with contextlib.ExitStack() as opened:
            self._open(opened)
            self._started = True
            log.info("worker_started", group_id=self.config.group_id, topic=self.config.input_topic)
            self._loop()
            self._peak_rss_mb = peak_rss_mb()  # before shutdown, which is not the working set
        return self.summary

    @property
    def relay(self) -> RelayProcess:
        assert self._relay is not None, "the relay starts in run()"
        return self._relay.part

    @property
    def metrics_server(self) -> MetricsServer | None:
        """Serving once `run` has bound `metrics_port`."""
        return None if self._metrics_server is None else self._metrics_server.part

    @property
    def _syncs_idle(self) -> bool:
        return self._syncs is None or self._syncs.part.idle

    def _published(self) -> int:
        relay = self._relay
        if relay is None or relay.buried:  # a dead relay's count is in _published_by_dead_relays already
            return self._published_by_dead_relays
        return self._published_by_dead_relays + relay.part.published

    def _open(self, opened: contextlib.ExitStack) -> None:
        """What the loop needs, each closed by `opened` from the last opened to the first; the
        parts beside the loop stop after it all (`Parts.stop`), the metrics server last. The
        metrics port is bound first: a taken one is the operator's to fix, before anything starts."""
        opened.callback(self._stopped)
        opened.callback(self.parts.stop)
        if self.metrics_port is not None:
            self._metrics_server = self.parts.start("metrics_server", self._serve_metrics)
        bootstrap = self.config.kafka_bootstrap
        require_broker(bootstrap)
        topics = [(self.config.input_topic, INPUT_PARTITIONS), (self.config.output_topic, INPUT_PARTITIONS)]
        kafka_clients.ensure_topics(bootstrap, [*topics, (self.config.dlq_topic, 1)])
        self.dead_letters = DeadLetterSender(
            lambda: kafka_clients.producer(bootstrap), self.config.dlq_topic, self.config.dlq_max_original_bytes
        )
        opened.callback(_closing, "dead_letters", self.dead_letters.close)
        self.conn = self._open_connection()
        opened.callback(_closing, "database", lambda: self.conn.close())  # the connection in use then
        if self.config.dedup_window < DEDUP_WINDOW_PROMISED:
            log.warning(
                "dedup_window_short", dedup_window=str(self.config.dedup_window), promised=str(DEDUP_WINDOW_PROMISED)
            )
        self._ensure_partitions()
        self.input = InputConsumer(bootstrap, self.config.group_id, self.config.input_topic)
        opened.callback(_closing, "consumer", self.input.close)
        # Stopped in reverse: the pruner and the syncs first, then the relay, which publishes
        # whatever the last batch queued before it ends.
        self._relay = self.parts.start("relay", lambda: RelayProcess(self.config, self.database_url), self._relay_died)
        self._syncs = self.parts.start(
            "klaviyo_sync", lambda: SyncLoop(self.config, self.database_url, self.clock, self.metrics.syncs)
        )
        self.parts.start("pruner", lambda: Pruner(self.config, self.database_url, self.metrics.pruned))

    def _serve_metrics(self) -> MetricsServer:
        """The metrics server on `metrics_port`, or after a death on the port the first one got."""
        port = self.metrics_port if self._metrics_server is None else self._metrics_server.part.port
        assert port is not None
        return MetricsServer.bind(self.metrics, self.database_url, port)

    def _relay_died(self, dead: RelayProcess) -> None:
        self._published_by_dead_relays += dead.published

    def _stopped(self) -> None:
        """The last thing `run` does, however it ends."""
        relay = None if self._relay is None else self._relay.part
        self.summary.published = self._published()
        if not self._started:
            return  # nothing to report of a start that failed: its error says why
        log.info(
            "worker_stopped", **vars_of(self.summary), first_event_at=self.first_event_at,
            last_published_at=relay.last_published_at if relay is not None else None,
            peak_rss_mb=self._peak_rss_mb or peak_rss_mb(),
        )  # fmt: skip

    def _loop(self) -> None:
        idle_since: float | None = None
        last_tick = 0.0
        last_topic_check = time.monotonic()
        last_lag = 0.0
        next_unassigned_warning = time.monotonic() + worker_metrics.NO_PARTITIONS_WARN_AFTER_S
        while not self._stopping:
            assigned = bool(self.input.assignment)
            self.metrics.turned(assigned)
            if assigned:
                next_unassigned_warning = time.monotonic() + worker_metrics.NO_PARTITIONS_WARN_AFTER_S
            elif time.monotonic() >= next_unassigned_warning:
                self._warn_unassigned()
                next_unassigned_warning = time.monotonic() + worker_metrics.NO_PARTITIONS_WARN_AFTER_S
            self.parts.watch()
            applied = self._turn()
            busy = applied or self.input.parked or not self.relay.idle or not self._syncs_idle
            if not applied or time.monotonic() - last_tick >= SCHEDULER_BUSY_EVERY_S:
                last_tick = time.monotonic()
                woken = self._guard("scheduler", self._wake_due)
                self.metrics.runs_woken.inc(woken)
                busy = woken > 0 or busy
            if self.metrics_server is not None and time.monotonic() - last_lag > LAG_EVERY_S:
                self._measure_lag()
                last_lag = time.monotonic()
            if time.monotonic() - last_topic_check > TOPIC_CHECK_EVERY_S:
                self._check_topic()
                last_topic_check = time.monotonic()
            if utc_now() + self._partitions_margin > self._covered_until:
                self._guard("partitions", self._ensure_partitions)
            if self.stop_when_idle is None:
                continue
            if busy or not assigned:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= self.stop_when_idle:
                log.info("worker_idle", seconds=self.stop_when_idle)
                return

    # --- consuming ---------------------------------------------------------------------------

    def _turn(self) -> bool:
        """Seek what is parked, then poll and apply one batch; True if it brought records."""
        if self.input.parked:
            try:
                self.input.seek_parked(self.conn)
            except Exception as exc:
                self._failed("seek_failed", exc)
        try:
            polled = self.input.poll(POLL_MS, self.max_batch)
        except Exception as exc:
            self._failed("poll_failed", exc)
            return False
        records = polled.records
        if not records:
            return False
        if self.first_event_at is None:
            self.first_event_at = time.time()
        try:
            self._apply(records, polled.fetched_from)
        except OffsetGap as gap:
            log.warning("offset_gap_refused", partition=gap.partition, stored=gap.stored, fetched_from=gap.fetched_from)
            self.input.park_all()
        except Exception as exc:
            self._failed("batch_failed", exc)
        return True

    def _apply(self, records: Sequence[Record], fetched_from: dict[int, int]) -> None:
        """Apply records in one transaction. When that fails because of a message, find it: apply
        each half in its own transaction, in order, splitting a half that fails again, and
        dead-letter a record that fails on its own. Outages and gaps are raised."""
        try:
            self._commit(partial(self.applier.apply, self.conn, records, self.clock(), fetched_from))
            return
        except Exception as exc:
            if isinstance(exc, OffsetGap) or is_outage(exc):
                raise
            failure = exc
        if len(records) > 1:
            log.warning("batch_failed_splitting", records=len(records), error=one_line(failure))
            half = len(records) // 2
            self._apply(records[:half], fetched_from)
            self._apply(records[half:], fetched_from)
            return
        record = records[0]
        reason = f"processing failed: {one_line(failure)}"
        log.error("message_failed", partition=record.partition, offset=record.offset, reason=reason, exc_info=failure)
        self._commit(partial(self.applier.dead_letter, self.conn, record, reason, fetched_from))

    def _ensure_partitions(self) -> int:
        """The pruner keeps partitions created ahead; should it fall behind (stuck, or failing),
        the loop creates them itself before rows would have nowhere to go."""
        self._covered_until = storage.partitions_until(self.conn, self.config)
        return 0

    def _wake_due(self) -> int:
        """Wake due runs, leaving out stores whose last wake failed until their rest is over."""
        now = time.monotonic()
        resting = {store for store, (until, _) in self._resting.items() if until > now}
        done = scheduler.tick(self.conn, self.applier.work, self.clock(), resting)
        for store_id, exc in done.failed.items():
            failures = self._resting.get(store_id, (0.0, 0))[1]
            delay = STORE_REST_S[min(failures, len(STORE_REST_S) - 1)]
            self._resting[store_id] = (now + delay, failures + 1)
            log.error("store_wake_failed", store_id=store_id, error=one_line(exc), retry_in_s=delay, exc_info=exc)
        for store_id in {run_store for run_store in self._resting if run_store not in resting} - set(done.failed):
            del self._resting[store_id]  # woken, or nothing due: its next failure starts short again
        return done.moved

    def _warn_unassigned(self) -> None:
        """The group gives this worker nothing (more workers than partitions, or a broker whose
        coordinator stopped assigning): events may be waiting, so say so, with what is known."""
        log.warning(
            "no_partitions_assigned", group_id=self.config.group_id, topic=self.config.input_topic,
            seconds=round(time.monotonic() - self.metrics.unassigned_since), **self.input.group_view(),
        )  # fmt: skip

    def _measure_lag(self) -> None:
        try:
            self.metrics.set_lag(self.input.lag())
        except Exception as exc:  # the broker busy or away: the next look asks again
            log.warning("lag_unknown", error=one_line(exc))

    def _check_topic(self) -> None:
        try:
            self.input.check_topic()
        except Exception as exc:  # the broker busy or away: the next check asks again
            log.warning("topic_check_failed", error=one_line(exc))

    def _commit(self, apply: Callable[[], BatchResult]) -> None:
        """Apply and send dead letters inside one transaction: it commits only once the DLQ has them."""
        with self.metrics.batch_seconds.time(), self.conn.transaction():
            result = apply()
            if result.dead:
                self.dead_letters.send(result.dead, self.clock())
        self.backoff.reset()
        events = self.metrics.events
        events.labels("applied").inc(result.applied)
        events.labels("duplicate").inc(result.duplicates)
        events.labels("dead_lettered").inc(len(result.dead))
        events.labels("stale").inc(result.stale)
        if result.output_events:
            self.relay.wake()
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

    def _failed(self, what: str, exc: Exception) -> None:
        """Consuming failed: fetch nothing until sought back to the stored offsets, and retry later."""
        self.input.park_all()
        self._covered_until = storage.EPOCH  # look again at the partitions (cheap) before the retry
        self._retry_later(what, exc)

    def _retry_later(self, what: str, exc: Exception) -> None:
        """Log, back off (cut short by a stop request) and reconnect if the connection is gone."""
        if not is_outage(exc):
            log.exception(f"{what}_unexpectedly", error=one_line(exc))
        decision = back_off(what, exc, self.backoff, self._halt.wait)
        self.metrics.failures.labels(what, decision).inc()
        if self.conn.closed or self.conn.broken:
            try:
                self.conn = self._open_connection()
            except ServiceUnavailable as reopen:
                log.warning("database_unavailable", error=str(reopen))

    def _open_connection(self) -> Conn:
        """The batches' connection, with room on its socket for a group's writes."""
        conn = open_connection(self.database_url, worker_limits(self.config))
        widen_send_buffer(conn)
        return conn

    def _guard(self, what: str, work: Callable[[], int]) -> int:
        """Scheduler and purge failures are retried on a later turn of the loop, never fatal."""
        try:
            return work()
        except Exception as exc:
            self._retry_later(f"{what}_failed", exc)
            return 0


def _closing(what: str, close: Callable[[], object]) -> None:
    """Close one thing on the way out; a failure is logged and the rest still close."""
    try:
        close()
    except Exception as exc:
        log.warning("close_failed", what=what, error=one_line(exc))


def vars_of(summary: Summary) -> dict[str, int]:
    """The `worker --stop-when-idle` JSON (SPEC §7)."""
    return dataclasses.asdict(summary)
