"""The outbox relay alone, per publisher: how fast consumers.relay.Relay puts a queued outbox on
the output topic, and the relay process's CPU per event (its client threads included).

    python -m benchmarks.relay [--events 100000] [--rounds 3]

The publishers take turns within each round, so a machine that slows down mid-run slows all
of them alike (issue #18 asked for one interleaved run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg

from benchmarks.__main__ import new_topic, services
from benchmarks.common import scratch_database
from consumers import kafka as kafka_clients
from consumers.publish import ConfluentPublisher, Publisher
from consumers.relay import Relay
from db.queries import sql
from segflow.services import stores

STORE = "bench"
BATCH = 2_000  # events per outbox row, as the worker's transactions write them
PUBLISHERS: dict[str, Callable[[str, str, str], Publisher]] = {
    # Others measured against it are in benchmarks/README.md: add one here to compare again.
    "Producer (confluent-kafka)": ConfluentPublisher,
}


def fill_outbox(conn: psycopg.Connection[tuple[object, ...]], events: int) -> None:
    insert = sql("insert_outbox")
    for start in range(0, events, BATCH):
        ids = [f"e{n:08d}" for n in range(start, min(start + BATCH, events))]
        payloads = [
            json.dumps({"event_id": i, "type": "flow.entered", "store_id": STORE, "data": {"pad": "x" * 250}})
            for i in ids
        ]
        keys = [f"{STORE}:customer{int(i[1:]) % 20_000:06d}@bench.example" for i in ids]
        conn.execute(
            insert,
            {"store_id": STORE, "size": len(ids), "event_ids": ids, "event_types": ["flow.entered"] * len(ids),
             "keys": keys, "payloads": payloads},
        )  # fmt: skip


def publish_all(
    conn: psycopg.Connection[tuple[object, ...]], bootstrap: str, make: Callable[[str, str, str], Publisher]
) -> tuple[float, float]:
    """(events/s, CPU µs per event) publishing the whole outbox to a new topic."""
    conn.execute("UPDATE outbox_batches SET published_at = NULL")
    conn.execute("DELETE FROM relay_positions")
    topic = new_topic(bootstrap, "relay")

    def read_output(start: Mapping[int, int], each: Callable[[Any], None]) -> kafka_clients.TopicRead:
        return kafka_clients.read_topic(bootstrap, topic, "bench-relay-recovery", start, each=each, committed_only=True)

    publisher = make(bootstrap, "bench-relay", f"bench-relay:{topic}")
    relay = Relay(conn, publisher, read_output, topic, lambda: datetime.now(UTC))
    relay.recover()  # an empty topic: done before the clock starts, as a long-running relay has
    cpu, wall = time.process_time(), time.perf_counter()
    while relay.tick():
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    publisher.close()
    return relay.published / wall, cpu / relay.published * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in PUBLISHERS}
    with (
        services() as (admin_url, bootstrap),
        scratch_database(admin_url) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        stores.create(conn, STORE, "pro")
        fill_outbox(conn, args.events)
        for round_number in range(args.rounds):
            for name, make in PUBLISHERS.items():
                rate, cpu = publish_all(conn, bootstrap, make)
                results[name].append((rate, cpu))
                print(f"round {round_number + 1}: {name}: {rate:,.0f} events/s, {cpu:.1f} µs CPU per event")
    print(f"\n{args.events:,} events per run, median of {args.rounds} rounds:")
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"  {name:40} {rate:>9,.0f} events/s  {cpu:5.1f} µs CPU per event")


if __name__ == "__main__":
    main()
