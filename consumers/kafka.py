"""Kafka clients as the worker uses them (kafka-python), with the settings and their reasons."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

# 6 s instead of the default 45 s: a group join then takes ~3 s, and a dead member's partitions
# move after ~6 s instead of ~45 s. Heartbeats every 2 s keep a busy member in the group.
SESSION_TIMEOUT_MS = 6_000
HEARTBEAT_INTERVAL_MS = 2_000
# A poll brings at most this many records: the batch, and so the transaction, size. Big enough to
# amortise the per-batch queries, small enough to keep produce-to-publish latency low.
MAX_POLL_RECORDS = 2_000
# Values up to 1 MiB are valid (SPEC §2); fetch a little more so an oversized one still arrives
# and can be dead-lettered instead of stalling the partition.
MAX_FETCH_BYTES = 4 * 1024 * 1024
# How long the broker may hold a fetch while waiting for data (default 500 ms). Measured on the
# embedded broker, a 4-partition topic receiving a record every ~5 ms: delivery p50/p99 125/251 ms
# with 500, 27/52 ms with 100. Apache Kafka answers as soon as data arrives either way; the cost
# is a few more empty fetches per second while idle.
FETCH_MAX_WAIT_MS = 100


def consumer(
    bootstrap: str,
    group_id: str,
    on_assigned: Callable[[KafkaConsumer, list[TopicPartition]], None],
    topic: str,
    client_id: str = "segflow-worker",
) -> KafkaConsumer:
    """A group member whose positions come from PostgreSQL, not from Kafka commits."""
    client = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        max_poll_records=MAX_POLL_RECORDS,
        max_partition_fetch_bytes=MAX_FETCH_BYTES,
        fetch_max_bytes=MAX_FETCH_BYTES * 4,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            """Nothing to flush: every applied batch committed its offsets with its effects."""

        def on_partitions_assigned(self, assigned: Any) -> None:
            on_assigned(client, list(assigned))

    client.subscribe([topic], listener=Listener())
    return client


def producer(bootstrap: str, client_id: str = "segflow-worker") -> KafkaProducer:
    """Idempotent, so a retried send is not written twice and order per partition holds."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        # Big batches: the relay sends thousands of records then flushes; each new batch wakes the
        # network thread, which profiled at a tenth of the relay's time with the 16 KiB default.
        batch_size=1024 * 1024,
        max_request_size=MAX_FETCH_BYTES,
    )


def reader(bootstrap: str, client_id: str) -> KafkaConsumer:
    """A group-less consumer for reading partitions by hand (relay recovery, tests, the demo)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_FETCH_BYTES,
    )


def ensure_topics(bootstrap: str, topics: Sequence[tuple[str, int]]) -> None:
    """Create missing topics (name, partitions); existing ones are left as they are."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="segflow-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(name, partitions, 1) for name, partitions in topics if name not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker created them first
                admin.create_topics(wanted)
    finally:
        admin.close()


def read_all(
    bootstrap: str, topic: str, client_id: str, empty_polls: int = 3, start: Mapping[int, int] | None = None
) -> list[Any]:
    """Every record of `topic` from `start` (partition -> offset; default the beginning), read until
    `empty_polls` polls in a row are empty.

    Polls, not end offsets, decide the end: the embedded broker reports a partition's end as
    its last batch's start + 1. For recovery, reports, tests and benchmarks, not for the hot path.
    """
    client = reader(bootstrap, client_id)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or [])]
        client.assign(partitions)
        for tp in partitions:
            if start is None:
                client.seek_to_beginning(tp)
            else:
                client.seek(tp, start.get(tp.partition, 0))
        records: list[Any] = []
        empty = 0
        while empty < empty_polls and partitions:
            batch = client.poll(timeout_ms=300)
            empty = 0 if batch else empty + 1
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        client.close()
