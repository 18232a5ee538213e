"""Kafka clients as the worker uses them (kafka-python), with the settings and their reasons."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.net.compat import KafkaNetClient
from kafka.protocol.producer import ProduceRequest
from kafka.record.memory_records import MemoryRecordsBuilder

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


# A record batch stays under Apache Kafka's default max.message.bytes (1 MiB and a little).
MAX_BATCH_BYTES = 1_000_000
REQUEST_TIMEOUT_MS = 30_000


class BatchSender:
    """Sends records as one record batch per partition per request, waiting for every acknowledgement.

    For the outbox relay, which sends thousands of records at a time: kafka-python's producer
    spends about 12 µs of Python per record (a future per record, callbacks, the sender thread's
    bookkeeping); building the batches with kafka-python's record builder and sending them with
    its protocol classes and network client costs about 2. No retries and no idempotence: a
    partition's batches go one at a time, each after the previous one's acknowledgement, and any
    error is raised, so after a failure the topic holds a prefix of each partition's records,
    and the caller (the relay's recovery) reads the topic to see what got there.
    """

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self._client = KafkaNetClient(bootstrap_servers=bootstrap, client_id=client_id)
        self._client.check_version(timeout_ms=REQUEST_TIMEOUT_MS)  # connects and learns the broker version

    def partitions(self, topic: str) -> int:
        return len(self._metadata(topic))

    def send(self, topic: str, records: Sequence[tuple[int, bytes, bytes]]) -> dict[int, int]:
        """Write (partition, key, value) records, each partition's in the order given; returns
        partition -> the offset after its last record."""
        batches: dict[int, list[tuple[bytes, int]]] = {}
        builders: dict[int, MemoryRecordsBuilder] = {}
        for partition, key, value in records:
            builder = builders.get(partition)
            if builder is None or builder.append(None, key, value, []) is None:
                if builder is not None:
                    batches.setdefault(partition, []).append(_closed(builder))
                builder = builders[partition] = MemoryRecordsBuilder(2, 0, MAX_BATCH_BYTES)
                builder.append(None, key, value, [])
        for partition, builder in builders.items():
            batches.setdefault(partition, []).append(_closed(builder))
        ends: dict[int, int] = {}
        while batches:
            # One round: each partition's next batch, one request per leader.
            self._metadata(topic)
            by_leader: dict[int, list[tuple[int, bytes, int]]] = {}
            for partition in list(batches):
                data, count = batches[partition].pop(0)
                if not batches[partition]:
                    del batches[partition]
                by_leader.setdefault(self._leader(topic, partition), []).append((partition, data, count))
            for leader, parts in by_leader.items():
                self._produce(leader, topic, parts, ends)
        return ends

    def close(self) -> None:
        self._client.close()

    def _produce(self, leader: int, topic: str, parts: list[tuple[int, bytes, int]], ends: dict[int, int]) -> None:
        topic_data = ProduceRequest.TopicProduceData
        request = ProduceRequest(
            transactional_id=None, acks=-1, timeout_ms=REQUEST_TIMEOUT_MS,
            topic_data=[topic_data(name=topic, partition_data=[
                topic_data.PartitionProduceData(index=partition, records=data) for partition, data, _count in parts
            ])],
            min_version=0, max_version=9,
        )  # fmt: skip
        counts = {partition: count for partition, _data, count in parts}
        response = self._client.send_and_receive(leader, request, timeout_ms=REQUEST_TIMEOUT_MS)
        for topic_response in response.responses:
            for answer in topic_response.partition_responses:
                if answer.error_code:
                    error = kafka_errors.for_code(answer.error_code)
                    if issubclass(error, kafka_errors.InvalidMetadataError):
                        self._client.cluster.request_update()  # the next attempt asks where the leader is
                    raise error(f"{topic} partition {answer.index}: {answer.error_message or error.__name__}")
                ends[answer.index] = answer.base_offset + counts.pop(answer.index)
        if counts:
            raise kafka_errors.KafkaError(f"{topic}: no answer for partitions {sorted(counts)}")

    def _leader(self, topic: str, partition: int) -> int:
        leader = self._client.cluster.leader_for_partition(TopicPartition(topic, partition))
        if leader is None or leader < 0:
            self._client.cluster.request_update()
            raise kafka_errors.LeaderNotAvailableError(f"{topic} partition {partition} has no leader right now")
        return int(leader)

    def _metadata(self, topic: str) -> set[int]:
        cluster = self._client.cluster
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None or cluster.need_update:
            cluster.add_topic(topic)
            self._client.poll(timeout_ms=REQUEST_TIMEOUT_MS, future=cluster.request_update())
            partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise kafka_errors.UnknownTopicOrPartitionError(f"no metadata for topic {topic}")
        return set(partitions)


def _closed(builder: MemoryRecordsBuilder) -> tuple[bytes, int]:
    builder.close()
    return bytes(builder.buffer()), builder.next_offset()


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
