"""What an operator alerts on (SPEC §9): Prometheus text at `/metrics`, `/healthz` and `/readyz`,
served by `segflow worker --metrics-port PORT` on a thread of its own.

The main loop only bumps counters and stamps the time of each turn; what lives elsewhere is
read when scraped: the relay child's published count from the value it shares with the worker,
and the outbox backlog from PostgreSQL, on a connection of the scrape's own (the loop's
connection is not the server thread's to use). Labels stay few: an outcome, a partition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from consumers.failure import one_line
from segflow.errors import InvalidInput
from segflow.services import storage
from segflow.worker.process import current_rss_mb

log = structlog.get_logger()

OUTCOMES = ("applied", "duplicate", "dead_lettered", "stale")
SYNC_OUTCOMES = ("synced", "failed")
PRUNED_KINDS = ("event_ids", "runs", "journey_steps", "outbox_events", "flow_counts")
STALE_AFTER_S = 15.0
"""`/healthz` answers 503 once the consumer loop has not turned for this long."""
NO_PARTITIONS_WARN_AFTER_S = 30.0
"""A worker holding no input partition this long says so (log, /readyz), and again as often."""
DATABASE_TIMEOUT_S = 2


class Metrics:
    """The worker's figures, in a registry of their own (not the process-global one)."""

    def __init__(self, published: Callable[[], int], database_url: str) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("segflow_events", "Input events by outcome.", ["outcome"], registry=self.registry)
        for outcome in OUTCOMES:
            self.events.labels(outcome)
        self.batch_seconds = Histogram(
            "segflow_batch_apply_seconds",
            "Seconds to apply and commit one batch of input events.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.lag = Gauge(
            "segflow_consumer_lag", "Input records not yet read, per partition this worker holds.", ["partition"],
            registry=self.registry,
        )  # fmt: skip
        self.failures = Counter(
            "segflow_failures",
            "Failures retried after a back-off, by where (batch_failed, poll_failed, ...) and what they "
            "were taken for (outage, message: segflow.infra.failures).",
            ["site", "decision"],
            registry=self.registry,
        )
        self.runs_woken = Counter("segflow_runs_woken", "Waiting runs woken by their timer.", registry=self.registry)
        self.syncs = Counter(
            "segflow_klaviyo_syncs", "Daily Klaviyo syncs by outcome.", ["outcome"], registry=self.registry
        )
        for outcome in SYNC_OUTCOMES:
            self.syncs.labels(outcome)
        self.pruned = Counter(
            "segflow_rows_pruned", "Rows removed past their retention, by kind.", ["kind"], registry=self.registry
        )
        for kind in PRUNED_KINDS:
            self.pruned.labels(kind)
        self.restarted = Counter(
            "segflow_parts_restarted",
            "Parts of the worker (relay, klaviyo_sync, pruner, metrics_server) started again after dying.",
            ["part"],
            registry=self.registry,
        )  # a part's label is there from its start (segflow.worker.parts)
        rss = Gauge("segflow_process_rss_bytes", "Resident memory of the worker process.", registry=self.registry)
        rss.set_function(lambda: current_rss_mb() * 2**20)
        self.registry.register(_Scraped(published, database_url))
        self.turned_at = time.monotonic()
        self.assigned = False
        self.unassigned_since = time.monotonic()
        """Since when the worker holds no input partition (meaningless while `assigned`)."""
        self._lag_partitions: set[int] = set()

    def turned(self, assigned: bool) -> None:
        """The consumer loop went round once."""
        self.turned_at = time.monotonic()
        if self.assigned and not assigned:
            self.unassigned_since = self.turned_at
        self.assigned = assigned

    @property
    def not_ready_because(self) -> str | None:
        """Why /readyz says 503 as far as the consumer goes, or None."""
        if self.assigned:
            return None
        waited = time.monotonic() - self.unassigned_since
        if waited < NO_PARTITIONS_WARN_AFTER_S:
            return "no input partitions assigned yet"
        return (
            f"no input partitions assigned for {waited:.0f} s: the group gives this worker none "
            "(see the no_partitions_assigned log line)"
        )

    def set_lag(self, lag: dict[int, int]) -> None:
        for gone in self._lag_partitions - lag.keys():
            self.lag.remove(str(gone))
        for partition, records in lag.items():
            self.lag.labels(str(partition)).set(records)
        self._lag_partitions = set(lag)

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self.turned_at < STALE_AFTER_S


class _Scraped(Collector):
    """Figures read when scraped: the relay's published events and the outbox backlog."""

    def __init__(self, published: Callable[[], int], database_url: str) -> None:
        self.published = published
        self.database_url = database_url

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            "segflow_events_published", "Output events the relay published.", value=self.published()
        )
        try:
            with psycopg.connect(self.database_url, autocommit=True, connect_timeout=DATABASE_TIMEOUT_S) as conn:
                rows, oldest = storage.backlog(conn)
                _total, kinds = storage.sizes(conn)
        except psycopg.Error as exc:  # the database away: the other figures still answer
            log.warning("metrics_outbox_unreadable", error=one_line(exc))
            return
        database_bytes = GaugeMetricFamily(
            "segflow_database_bytes", "PostgreSQL's bytes on disk by kind (as `segflow db size`).", labels=["kind"]
        )
        for kind, size in kinds.items():
            database_bytes.add_metric([kind], size)
        yield database_bytes
        yield GaugeMetricFamily("segflow_outbox_unpublished", "Output events queued, not yet published.", value=rows)
        yield GaugeMetricFamily(
            "segflow_outbox_oldest_unpublished_seconds", "Age of the oldest unpublished output event (0: none).",
            value=oldest,
        )  # fmt: skip


def database_answers(database_url: str) -> bool:
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=DATABASE_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


class MetricsServer:
    """`/metrics`, `/healthz` (the loop turned in the last STALE_AFTER_S) and `/readyz` (the
    database answers and the worker holds partitions), on all interfaces at `port` (0: any)."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="segflow-metrics", daemon=True
        )

    @classmethod
    def bind(cls, metrics: Metrics, database_url: str, port: int) -> MetricsServer:
        """Listen on `port`; a port another process holds is the operator's to change (InvalidInput)."""
        try:
            server = ThreadingHTTPServer(("0.0.0.0", port), _handler(metrics, database_url))  # noqa: S104 - scraped from outside a container
        except OSError as exc:
            raise InvalidInput(
                f"--metrics-port {port}: cannot listen there ({exc.strerror or exc}); choose another port"
            ) from None
        return cls(server)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("metrics_serving", port=self.port)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for a serving loop that never started
            self.server.shutdown()
        self.server.server_close()


def _handler(metrics: Metrics, database_url: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                healthy = metrics.healthy
                self._answer(200 if healthy else 503, b"ok\n" if healthy else b"the consumer loop is stuck\n")
            elif path == "/readyz":
                why = metrics.not_ready_because
                if why is None and not database_answers(database_url):
                    why = "the database does not answer"
                self._answer(503 if why else 200, f"{why or 'ready'}\n".encode())
            else:
                self._answer(404, b"not found: try /metrics, /healthz or /readyz\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the worker's own log lines

    return Handler
