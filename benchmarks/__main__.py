"""How fast segflow is, end to end, measured on this machine: `python -m benchmarks`.

    .venv/bin/python -m benchmarks [--events 200000] [--customers 20000] [--baseline-events 5000]
                                   [--rate 2000] [--latency-seconds 15] [--skip-latency] [--json FILE]
                                   [--rounds N]

Uses SEGFLOW_DATABASE_URL and SEGFLOW_KAFKA_BOOTSTRAP when set, else starts the embedded
PostgreSQL (in a temporary directory) and the embedded broker. Everything it creates is
throw-away: a database, topics and consumer groups of its own.

What it runs, each worker as a `segflow worker` subprocess like an operator would:
1. throughput: N events (keyed per SPEC §2) produced to a 4-partition topic first, then one
   worker until idle. Rate = N / (last output publish - first poll with records).
2. ceilings, on the same machine in the same run: a raw consumer reading the same topic, the
   database writing the same rows (processed ids, runs, outbox, journeys, counts) in the same
   batches, and both at once: a set-based consumer that reads and decodes the topic and writes
   those rows per batch (the worker without its decisions). With `--rounds N` the worker and
   the set-based consumer run N times in turn, and the ratio is reported per round and as
   their median: a ratio from two neighbouring runs.
3. naive baseline: the same worker and engine code with one event per transaction.
4. latency: a worker running while events arrive at a steady rate; produce-to-publish times
   from the records' own timestamps.
5. the CSV import of 8,900 rows into a store of 100,000 customers (benchmarks.import_csv), and
   importing then syncing a 10,000-profile Klaviyo list against the local fake
   (benchmarks.klaviyo_sync).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from benchmarks.common import scratch_database
from benchmarks.import_csv import time_import
from benchmarks.klaviyo_sync import time_klaviyo
from consumers.kafka import read_all
from db import Conn, journey, maintenance
from db import events as event_rows
from db import flows as flow_rows
from db import offsets as offset_rows
from db import runs as run_rows
from db.customers import CustomerFields, upsert
from db.queries import sql
from engine.model import Run
from engine.validate import validate
from segflow import sample
from segflow.infra.config import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_JOURNEY_RETENTION,
    DEFAULT_OUTBOX_RETENTION,
    DEFAULT_PRUNE_EVERY,
    DEFAULT_RUN_RETENTION,
)
from segflow.infra.embedded import EmbeddedBroker, free_port, port_answers, start_postgres
from segflow.services import flows as flow_service
from segflow.services import segments, stores

ROOT = Path(__file__).resolve().parents[1]
STORE = "bench"
EXAMPLES = ("free-gift", "big-spender-credits", "winback-split")
BATCH = 2_000  # the worker's records per poll, used for the database ceiling too
SEGMENTS = {"Big Spenders": 2_000, "VIP": 1_000, "Insiders": 500}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--baseline-events", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=2_000, help="events/s for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--only-throughput", action="store_true", help="just the worker run (for long memory runs)")
    parser.add_argument(
        "--rounds", type=int, default=1, metavar="N",
        help="the worker and the set-based ceiling N times in turn (each worker round on a fresh database): "
        "the ratio from neighbouring runs, and its median",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--soak", type=float, metavar="MINUTES", help="instead: one worker for this long at --rate, plotted"
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "soak.png", help="where --soak draws")
    parser.add_argument(
        "--windows", metavar="DURATION", help="--soak: every retention window this long (ISO-8601, e.g. PT2M)"
    )
    args = parser.parse_args()
    if args.soak is not None:
        soak(args)
        return

    figures: dict[str, Any] = {"machine": machine()}
    with services() as (admin_url, bootstrap), scratch_database(admin_url) as url:
        customers = sample.emails(args.customers, "bench.example")
        with psycopg.connect(url, autocommit=True) as conn:
            set_up_store(conn, customers)
        env = worker_env(url, bootstrap)
        events = sample.events(STORE, customers, args.events, seed=1, prefix="b")
        print(f"throughput: producing {len(events):,} events...", file=sys.stderr)
        topic = new_topic(bootstrap, "in")
        produce(bootstrap, topic, events)
        before = storage_bytes(url)
        run = run_worker(env, topic)
        figures["throughput"] = run
        figures["storage"] = storage_per_event(before, storage_bytes(url), run["events"])
        print(f"  {run['events_per_s']:,.0f} events/s end to end", file=sys.stderr)
        if args.only_throughput:
            report_throughput(figures)
            _write(args.json, figures)
            return
        figures["raw_consume_per_s"] = raw_consume_rate(bootstrap, topic, len(events))
        rows = WorkerRows(url)
        figures["db_write_events_per_s"] = db_write_rate(rows, admin_url, customers, len(events))
        figures["set_based_events_per_s"] = set_based_rate(rows, admin_url, customers, bootstrap, topic, len(events))
        if args.rounds > 1:
            figures["ratio_rounds"] = ratio_rounds(
                figures, rows, admin_url, customers, bootstrap, topic, len(events), args.rounds
            )
        baseline_events = sample.events(STORE, customers, args.baseline_events, seed=2, prefix="n")
        baseline_topic = new_topic(bootstrap, "naive")
        produce(bootstrap, baseline_topic, baseline_events)
        figures["naive_baseline"] = run_worker(env, baseline_topic, "--max-batch", "1")
        if not args.skip_latency:
            figures["latency"] = latency_run(env, bootstrap, customers, args.rate, args.latency_seconds)
        if not args.skip_import:
            figures["csv_import_8900_s"] = time_import(100_000, 8_900, 3, admin_url)["median_s"]
            figures["klaviyo_10000"] = time_klaviyo(10_000, admin_url)
    report(figures)
    _write(args.json, figures)


def soak(args: argparse.Namespace) -> None:
    from benchmarks import soak as soak_run  # matplotlib and friends only when asked for

    windows = soak_run.window_env(args.windows)
    with services() as (admin_url, bootstrap), scratch_database(admin_url, windows) as url:
        customers = sample.emails(args.customers, "bench.example")
        with psycopg.connect(url, autocommit=True) as conn:
            set_up_store(conn, customers)
        print(f"soak: {args.rate:,} events/s for {args.soak:g} minutes...", file=sys.stderr)
        env = {**worker_env(url, bootstrap), **windows}
        run = soak_run.run_soak(env, bootstrap, customers, args.rate, args.soak, args.windows)
    figures = {"machine": machine(), **soak_run.figures(run)}
    soak_run.plot(run, args.plot)
    _write(args.json or args.plot.with_suffix(".json"), figures)
    print(
        f"{figures['events']:,} events, {figures['output_events']:,} output events; latency p50 "
        f"{figures['p50_ms_median_window']} ms (median window), p99 {figures['p99_ms_worst_window']} ms (worst "
        f"window); max lag {figures['max_lag']:,.0f}, max outbox {figures['max_outbox']:,.0f}; worker RSS "
        f"{figures['worker_rss_mb_first_last']} MB, relay {figures['relay_rss_mb_first_last']} MB (minute 1, end); "
        f"PostgreSQL MB by minute {figures['database_mb_by_minute']}; plot {args.plot}"
    )


def _write(path: Path | None, figures: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def report_throughput(f: dict[str, Any]) -> None:
    t = f["throughput"]
    print(
        f"{t['events']:,} events in {t['seconds']} s: {t['events_per_s']:,} events/s; "
        f"worker + relay CPU {t['worker_cpu_us_per_event']} us/event, PostgreSQL {t['postgres_cpu_us_per_event']}, "
        f"tansu {t['tansu_cpu_us_per_event']}; peak RSS {t['peak_rss_mb']} MB"
    )
    for events, rss in sorted(t["rss_mb_by_events"].items()):
        print(f"  RSS after {events:>9,} events: {rss} MB")
    report_storage(f["storage"])


# --- storage --------------------------------------------------------------------------------

# Every table that grows with events, and the ones beside them that the kinds of `db size` name.
STORAGE_TABLES = (
    "processed_events", "live_runs", "finished_runs", "flow_entries", "journeys", "outbox_batches", "flow_counts",
    "segment_members", "customers",
)  # fmt: skip


def storage_bytes(url: str) -> dict[str, int]:
    """Bytes on disk per table (indexes, TOAST and partitions included) and by `db size` kind."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # so what the run wrote is counted, not what is still only in WAL
        by_table = maintenance.table_sizes(conn, list(STORAGE_TABLES))
        _total, kinds = maintenance.sizes(conn)
    by_table.pop("")
    return {**{f"table:{name}": size for name, size in by_table.items()}, **kinds}


def storage_per_event(before: dict[str, int], after: dict[str, int], events: int) -> dict[str, float]:
    """What a run left in PostgreSQL per input event, per table and by kind (before any pruning)."""
    return {name: round((after[name] - before.get(name, 0)) / max(events, 1), 1) for name in after}


# The tables whose rows each input event adds and retention removes.
RETAINED = ("processed_events", "finished_runs", "journeys", "outbox_batches")
PROJECTED_RATE = 2_000  # events/s


def steady_state_bytes(per_event: dict[str, float], rate: float, outbox_retention: timedelta) -> int:
    """What the tables that grow with events hold once their windows have filled, at `rate`: each
    table's bytes per event times the events of its longest keep (retention, plus the partition
    width its rows wait for the partition to go, plus one pruning interval)."""
    total = 0.0
    windows = (DEFAULT_DEDUP_WINDOW, DEFAULT_RUN_RETENTION, DEFAULT_JOURNEY_RETENTION, outbox_retention)
    for retention in maintenance.retentions(*windows):
        longest = retention.keep + retention.width + DEFAULT_PRUNE_EVERY
        total += per_event.get(f"table:{retention.table}", 0.0) * rate * longest.total_seconds()
    return round(total)


def report_storage(per_event: dict[str, float]) -> None:
    tables = {k.removeprefix("table:"): v for k, v in per_event.items() if k.startswith("table:")}
    kinds = {k: v for k, v in per_event.items() if not k.startswith("table:")}
    retained = sum(v for k, v in tables.items() if k in RETAINED and k != "outbox_batches")
    print(f"  bytes per input event written to PostgreSQL: {sum(kinds.values()):,.0f}")
    print("    by table: " + ", ".join(f"{name} {value:,.0f}" for name, value in tables.items()))
    print("    by kind:  " + ", ".join(f"{name} {value:,.0f}" for name, value in kinds.items()))
    print(f"    kept for their windows (ids, finished runs, journeys; outbox at PT0S): {retained:,.0f}")
    for outbox in (DEFAULT_OUTBOX_RETENTION, timedelta(0)):
        size = steady_state_bytes(per_event, PROJECTED_RATE, outbox)
        print(
            f"    steady state at {PROJECTED_RATE:,} events/s, default windows, outbox kept {outbox}: "
            f"{size / 1e9:,.0f} GB"
        )


# --- services and setup ---------------------------------------------------------------------


@contextmanager
def services() -> Iterator[tuple[str, str]]:
    configured_db = os.environ.get("SEGFLOW_DATABASE_URL")
    configured_kafka = os.environ.get("SEGFLOW_KAFKA_BOOTSTRAP")
    with tempfile.TemporaryDirectory() as tmp:
        postgres = None if configured_db else start_postgres(Path(tmp) / "pgdata")
        broker = None
        if not configured_kafka or not _answers(configured_kafka):
            broker = EmbeddedBroker(port=free_port()).start()
        try:
            yield (
                (configured_db or (postgres.url if postgres else "")),
                (broker.bootstrap if broker else configured_kafka or ""),
            )
        finally:
            if broker:
                broker.stop()
            if postgres:
                postgres.stop()


def _answers(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    return port.isdigit() and port_answers(host, int(port))


def set_up_store(conn: Conn, customers: list[str]) -> None:
    stores.create(conn, STORE, "pro", "Benchmark store")
    with conn.transaction():
        upsert(conn, STORE, [CustomerFields(email=e, first_name="Bench") for e in customers])
    offset = 0
    for name, size in SEGMENTS.items():
        segments.create(conn, STORE, name)
        segments.change_by_email(conn, STORE, name, "add", customers[offset : offset + size])
        offset += size // 2  # overlapping segments, like real ones
    definitions = []
    for name in EXAMPLES:
        raw = json.loads((ROOT / "examples" / "flows" / f"{name}.json").read_text(encoding="utf-8"))
        raw["store_id"] = STORE
        definitions.append(raw)
    definitions.append(sample.every_node_flow(STORE))
    flows = []
    for raw in definitions:
        flow, errors = validate(raw)
        assert flow is not None and not errors, errors
        flows.append((raw, flow))
    flow_service.deploy(conn, flows)
    conn.execute("ANALYZE")


def new_topic(bootstrap: str, prefix: str, partitions: int = 4) -> str:
    name = f"bench-{prefix}-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def delete_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=256 * 1024)


def _key(event: dict[str, Any]) -> bytes:
    return f"{event['store_id']}:{event['customer']['email'].strip().lower()}".encode()


def produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = _producer(bootstrap)
    try:
        for event in events:
            producer.send(topic, key=_key(event), value=json.dumps(event).encode())
        producer.flush()
    finally:
        producer.close()


def worker_env(url: str, bootstrap: str) -> dict[str, str]:
    return {
        **os.environ,
        "SEGFLOW_DATABASE_URL": url,
        "SEGFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "SEGFLOW_LOG_FORMAT": "json",
    }


def _start_worker(
    env: dict[str, str], topic: str, log_path: Path, *extra: str, output: str | None = None
) -> subprocess.Popen[bytes]:
    run_env = {
        **env,
        "SEGFLOW_GROUP_ID": f"bench-{uuid.uuid4().hex[:6]}",
        "SEGFLOW_INPUT_TOPIC": topic,
        "SEGFLOW_OUTPUT_TOPIC": output or f"{topic}-out",
        "SEGFLOW_DLQ_TOPIC": f"{topic}-dlq",
    }
    # SEGFLOW_BENCH_PROFILE=FILE: the worker's main process under cProfile, its statistics to
    # FILE (`python -m benchmarks.profile FILE` splits them by kind of work). The relay child is
    # not in it: the run reports its CPU separately.
    profiled = ["-m", "cProfile", "-o", env["SEGFLOW_BENCH_PROFILE"]] if env.get("SEGFLOW_BENCH_PROFILE") else []
    return subprocess.Popen(
        [sys.executable, *profiled, "-m", "segflow", "worker", "--stop-when-idle", "2", *extra],
        env=run_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"),
    )  # fmt: skip


def _log_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


class ServicesCpu:
    """CPU seconds this machine's PostgreSQL and tansu processes use while it runs: sampled every
    0.2 s and kept per process, because the worker's backends exit with it. (With services
    elsewhere it says nothing about them.)"""

    def __init__(self) -> None:
        self._start = self._sample()
        self._last = dict(self._start)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    @staticmethod
    def _sample() -> dict[tuple[int, str], float]:
        import psutil  # a dependency of the embedded PostgreSQL's wheel

        used = {}
        for process in psutil.process_iter(["name", "cpu_times"]):
            name = process.info["name"] or ""
            kind = "postgres" if name.startswith("postgres") else "tansu" if name.startswith("tansu") else None
            times = process.info["cpu_times"]
            if kind and times is not None:
                used[(process.pid, kind)] = times.user + times.system
        return used

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            self._last.update(self._sample())

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join()
        self._last.update(self._sample())
        used = {"postgres": 0.0, "tansu": 0.0}
        for (pid, kind), seconds in self._last.items():
            used[kind] += seconds - self._start.get((pid, kind), 0.0)
        return used


def run_worker(env: dict[str, str], topic: str, *extra: str, output: str | None = None) -> dict[str, Any]:
    """The worker over `topic` until idle, publishing to `output` (default `<topic>-out`)."""
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "worker.log"
        services_cpu = ServicesCpu()
        worker = _start_worker(env, topic, log_path, *extra, output=output)
        # wait4, not wait: it also says how much CPU the worker used, its relay child included.
        _pid, status, usage = os.wait4(worker.pid, 0)
        services = services_cpu.stop()
        worker.returncode = os.waitstatus_to_exitcode(status)
        if worker.returncode != 0:
            raise SystemExit(f"the worker failed:\n{log_path.read_text()[-2000:]}")
        lines = _log_lines(log_path)
        stopped = next(line for line in lines if line.get("event") == "worker_stopped")
        rss = {line["events"]: line["rss_mb"] for line in lines if line.get("event") == "progress"}
    seconds = stopped["last_published_at"] - stopped["first_event_at"]
    return {
        "events": stopped["events"],
        "published": stopped["published"],
        "seconds": round(seconds, 2),
        "events_per_s": round(stopped["events"] / seconds),
        # The worker process and its relay child, start-up and idle exit included: steadier than
        # the rate, which depends on what else the two cores run.
        "worker_cpu_us_per_event": round((usage.ru_utime + usage.ru_stime) / max(stopped["events"], 1) * 1e6, 1),
        # PostgreSQL's processes and tansu over the same run.
        "postgres_cpu_us_per_event": round(services["postgres"] / max(stopped["events"], 1) * 1e6, 1),
        "tansu_cpu_us_per_event": round(services["tansu"] / max(stopped["events"], 1) * 1e6, 1),
        "output_events_per_s": round(stopped["published"] / seconds),
        "peak_rss_mb": stopped["peak_rss_mb"],
        "rss_mb_by_events": rss,
    }


# --- ceilings -------------------------------------------------------------------------------


def raw_consume_rate(bootstrap: str, topic: str, expected: int) -> int:
    """Records/s a kafka-python consumer reads from the same topic, doing nothing with them."""
    with _from_the_start(bootstrap, topic) as consumer:
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            seen += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        return round(seen / (time.perf_counter() - started))


@contextmanager
def _from_the_start(bootstrap: str, topic: str) -> Iterator[KafkaConsumer]:
    """A consumer of every partition of `topic` from its first record, in the worker's batches."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, max_poll_records=BATCH
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        yield consumer
    finally:
        consumer.close()


_INSERT_OUTBOX = sql("insert_outbox")


class WorkerRows:
    """The rows the throughput worker wrote (output events, runs, journeys, flow counts), read
    back so a ceiling can write the same rows in the same batches without deciding anything."""

    def __init__(self, bench_url: str) -> None:
        with psycopg.connect(bench_url, autocommit=True) as bench:
            self.outbox = bench.execute(
                "SELECT event_id, event_type, key, payload::text FROM outbox WHERE store_id = %s", (STORE,)
            ).fetchall()
            self.runs = [
                Run(key, flow, version, email, node, status, entered, updated, wake, waiting, reason)
                for key, flow, version, email, node, status, wake, waiting, reason, entered, updated in bench.execute(
                    "SELECT r.key, r.flow_id, r.flow_version, c.email, r.node_id, r.status, r.wake_at, r.waiting_for, "
                    "r.reason, r.entered_at, r.updated_at FROM runs r JOIN customers c ON c.id = r.customer_id "
                    "WHERE r.store_id = %s",
                    (STORE,),
                )
            ]
            self.journeys = bench.execute(
                "SELECT c.email, j.entries FROM journeys j JOIN customers c ON c.id = j.customer_id "
                "WHERE j.store_id = %s",
                (STORE,),
            ).fetchall()
            self.counts = {
                (flow, version, node, edge): n
                for flow, version, node, edge, n in bench.execute(
                    "SELECT flow_id, version, node_id, edge, count FROM flow_counts WHERE store_id = %s", (STORE,)
                )
            }

    def write_batch(self, conn: Conn, ids: dict[str, int], i: int, chunks: int, event_ids: list[str]) -> None:
        """Batch `i` of `chunks`: its share of every kind of row, with the worker's statements,
        and the input offsets, in one transaction."""
        out = self.outbox[i::chunks]
        with conn.transaction():
            event_rows.claim(conn, STORE, event_ids, maintenance.dedup_width(DEFAULT_DEDUP_WINDOW))
            run_rows.write(conn, STORE, self.runs[i::chunks], ids, set())
            conn.execute(
                _INSERT_OUTBOX,
                {"store_id": STORE, "size": len(out), "event_ids": [o[0] for o in out],
                 "event_types": [o[1] for o in out], "keys": [o[2] for o in out], "payloads": [o[3] for o in out]},
            )  # fmt: skip
            journey.record(conn, STORE, _now(), {ids[email]: json.loads(e) for email, e in self.journeys[i::chunks]})
            flow_rows.add_counts(conn, STORE, self.counts)  # about what every batch adds
            offset_rows.save(conn, "bench-db", "bench", {i % 4: i + 1})


@contextmanager
def _fresh_store(admin_url: str, customers: list[str]) -> Iterator[tuple[Conn, dict[str, int]]]:
    with scratch_database(admin_url) as url, psycopg.connect(url, autocommit=True) as conn:
        set_up_store(conn, customers)
        ids = {
            email: cid for cid, email in conn.execute("SELECT id, email FROM customers WHERE store_id = %s", (STORE,))
        }
        yield conn, ids


def db_write_rate(rows: WorkerRows, admin_url: str, customers: list[str], events: int) -> int:
    """Events/s the database takes when written the rows the engine wrote, in the worker's batches."""
    chunks = max(1, events // BATCH)
    with _fresh_store(admin_url, customers) as (conn, ids):
        started = time.perf_counter()
        for i in range(chunks):
            rows.write_batch(conn, ids, i, chunks, [f"w{i}-{n}" for n in range(BATCH)])
        return round(chunks * BATCH / (time.perf_counter() - started))


def set_based_rate(
    rows: WorkerRows, admin_url: str, customers: list[str], bootstrap: str, topic: str, events: int
) -> int:
    """Events/s of a hand-written set-based consumer: it reads the same topic, decodes every
    event, and per batch of 2,000 writes the rows the worker wrote for them (it knows the
    answers: no engine, no lookups) with the same statements, offsets in the same transaction.
    The worker's ceiling on this machine: the same reading, decoding and writing, no deciding."""
    chunks = max(1, events // BATCH)
    with _from_the_start(bootstrap, topic) as consumer, _fresh_store(admin_url, customers) as (conn, ids):
        started = time.perf_counter()
        pending: list[Any] = []
        for i in range(chunks):
            while len(pending) < BATCH:
                pending.extend(r for batch in consumer.poll(timeout_ms=500).values() for r in batch)
            batch, pending = pending[:BATCH], pending[BATCH:]
            decoded = [json.loads(record.value) for record in batch]
            rows.write_batch(conn, ids, i, chunks, [event["event_id"] for event in decoded])
        return round(chunks * BATCH / (time.perf_counter() - started))


def ratio_rounds(
    figures: dict[str, Any],
    rows: WorkerRows,
    admin_url: str,
    customers: list[str],
    bootstrap: str,
    topic: str,
    events: int,
    rounds: int,
) -> dict[str, Any]:
    """Worker / set-based ceiling from neighbouring runs, `rounds` times (the first is the main
    run's): how busy the machine is moves both, so a ratio is only as good as its two runs are
    close in time. Each further worker round runs on a fresh database and publishes to a topic
    of its own, deleted after it: a relay on a fresh database reads a reused topic to its end,
    and the embedded broker keeps every record in memory."""
    first = figures["throughput"]
    each = [_round(first, figures["set_based_events_per_s"])]
    for number in range(2, rounds + 1):
        print(f"  round {number} of {rounds}: the worker, then the set-based ceiling", file=sys.stderr)
        output = new_topic(bootstrap, "out")
        with scratch_database(admin_url) as url:
            with psycopg.connect(url, autocommit=True) as conn:
                set_up_store(conn, customers)
            run = run_worker(worker_env(url, bootstrap), topic, output=output)
        delete_topic(bootstrap, output)
        each.append(_round(run, set_based_rate(rows, admin_url, customers, bootstrap, topic, events)))
    return {"rounds": each, "median": round(statistics.median(r["ratio"] for r in each), 3)}


def _round(run: dict[str, Any], ceiling: int) -> dict[str, Any]:
    return {
        "events_per_s": run["events_per_s"], "set_based_events_per_s": ceiling,
        "ratio": round(run["events_per_s"] / ceiling, 3), "worker_cpu_us_per_event": run["worker_cpu_us_per_event"],
        "postgres_cpu_us_per_event": run["postgres_cpu_us_per_event"],
        "tansu_cpu_us_per_event": run["tansu_cpu_us_per_event"],
    }  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


# --- latency --------------------------------------------------------------------------------


def wait_assigned(worker: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until the worker logs that it holds its partitions (up to 60 s)."""
    deadline = time.monotonic() + 60
    while not any(line.get("event") == "partitions_assigned" for line in _log_lines(log_path)):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.1)


def send_paced(
    producer: KafkaProducer,
    topic: str,
    events: list[dict[str, Any]],
    rate: int,
    start: float,
    sent: dict[str, float] | None = None,
) -> None:
    """Send `events` at `rate` per second from wall time `start`, 10 ms worth at a time;
    `sent` gets each event's send time."""
    step = max(1, rate // 100)
    for i in range(0, len(events), step):
        for event in events[i : i + step]:
            producer.send(topic, key=_key(event), value=json.dumps(event).encode())
            if sent is not None:
                sent[event["event_id"]] = time.time()
        producer.flush()
        pause = start + (i + step) / rate - time.time()
        if pause > 0:
            time.sleep(pause)


def latency_run(env: dict[str, str], bootstrap: str, customers: list[str], rate: int, seconds: float) -> dict[str, Any]:
    """Steady `rate` events/s into a running worker; produce-to-publish per output event."""
    count = int(rate * seconds)
    events = sample.events(STORE, customers, count, seed=3, prefix="l")
    topic = new_topic(bootstrap, "lat")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "worker.log"
        worker = _start_worker(env, topic, log_path)
        wait_assigned(worker, log_path)
        producer = _producer(bootstrap)
        started = time.time()
        send_paced(producer, topic, events, rate, started)
        produce_seconds = time.time() - started
        producer.close()
        worker.wait()
    sent = {json.loads(r.value)["event_id"]: r.timestamp for r in read_all(bootstrap, topic, "bench-latency")}
    latencies = sorted(
        r.timestamp - sent[cause]
        for r in read_all(bootstrap, f"{topic}-out", "bench-latency")
        if (cause := json.loads(r.value).get("cause", {}).get("event_id")) in sent
    )
    return {
        "rate_per_s": round(count / produce_seconds),
        "events": count,
        "output_events": len(latencies),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "max_ms": latencies[-1],
    }


# --- report ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _rss_rows(rss: dict[Any, float]) -> list[tuple[str, str, str]]:
    """RSS once past 100,000 events and at the end: memory must stay flat between them."""
    by_events = {int(k): v for k, v in rss.items()}
    past = [k for k in by_events if k >= 100_000]
    if not past:
        return []
    first, last = min(past), max(by_events)
    return [
        ("RSS at 100k / at the end", f"{by_events[first]} / {by_events[last]} MB", f"after {first:,} / {last:,} events")
    ]


def _rounds_row(rounds: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    if rounds is None:
        return []
    each = ", ".join(f"{r['ratio']:.2f}" for r in rounds["rounds"])
    return [("  median of rounds", f"{rounds['median']:.2f}", f"{len(rounds['rounds'])} rounds: {each}")]


def report(f: dict[str, Any]) -> None:
    t = f["throughput"]
    naive = f["naive_baseline"]
    ceiling = min(f["raw_consume_per_s"], f["db_write_events_per_s"])
    rows = [
        ("events/s end to end", f"{t['events_per_s']:,}", f"{t['events']:,} events in {t['seconds']} s"),
        ("output events/s", f"{t['output_events_per_s']:,}", f"{t['published']:,} published"),
        ("peak RSS", f"{t['peak_rss_mb']} MB", "worker process"),
        *_rss_rows(t["rss_mb_by_events"]),
        ("raw consume ceiling", f"{f['raw_consume_per_s']:,}/s", "kafka-python, no processing"),
        ("database write ceiling", f"{f['db_write_events_per_s']:,} events/s", "same rows, same batches"),
        ("engine / lower ceiling", f"{t['events_per_s'] / ceiling:.2f}", ""),
        ("set-based ceiling", f"{f['set_based_events_per_s']:,} events/s", "reads, decodes, writes the same rows"),
        ("worker / set-based", f"{t['events_per_s'] / f['set_based_events_per_s']:.2f}", "issue 25: >= 0.75"),
        *_rounds_row(f.get("ratio_rounds")),
        ("naive baseline", f"{naive['events_per_s']:,} events/s", "one event per transaction"),
        ("batched / naive", f"{t['events_per_s'] / naive['events_per_s']:.1f}x", ""),
    ]
    if "latency" in f:
        lat = f["latency"]
        rows.append(
            ("latency p50 / p99", f"{lat['p50_ms']} / {lat['p99_ms']} ms", f"at {lat['rate_per_s']:,} events/s")
        )
    if "csv_import_8900_s" in f:
        rows.append(("CSV import 8,900 rows", f"{f['csv_import_8900_s']} s", "store of 100,000 customers"))
    if "klaviyo_10000" in f:
        k = f["klaviyo_10000"]
        rows.append(("Klaviyo 10,000 profiles", f"{k['import_s']} + {k['sync_s']} s", "import + sync, local fake"))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    m = f["machine"]
    print(f"segflow benchmark, {m['date']}, {m['cpus']} CPUs, Python {m['python']}, {m['platform']}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>{value_width}}  {note}".rstrip())
    report_storage(f["storage"])


if __name__ == "__main__":
    main()
