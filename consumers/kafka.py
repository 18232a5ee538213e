"""Kafka clients as the worker uses them (kafka-python), with the settings and their reasons."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
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
    on_assigned: Callable[[list[TopicPartition]], None],
    on_revoked: Callable[[list[TopicPartition]], None],
    topic: str,
    client_id: str = "segflow-worker",
) -> KafkaConsumer:
    """A group member whose positions come from PostgreSQL, not from Kafka commits.

    It never moves a position on its own: `auto_offset_reset="none"` makes a position the broker
    calls out of range an error the worker handles (SPEC §5, `offsets_out_of_range`), where the
    default would silently jump to one end of the partition.
    """
    client = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="none",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        max_poll_records=MAX_POLL_RECORDS,
        max_partition_fetch_bytes=MAX_FETCH_BYTES,
        fetch_max_bytes=MAX_FETCH_BYTES * 4,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            on_revoked(list(revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            on_assigned(list(assigned))

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


REQUEST_TIMEOUT_MS = 30_000


def reader(bootstrap: str, client_id: str, committed_only: bool = False) -> KafkaConsumer:
    """A group-less consumer for reading partitions by hand (relay recovery, offset checks, tests,
    the demo). Like the worker's, it never moves a position on its own. `committed_only` skips
    records of aborted transactions and stops at the first open one (what a consumer of the
    relay's output reads)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        max_partition_fetch_bytes=MAX_FETCH_BYTES,
        max_poll_records=MAX_POLL_RECORDS,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
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


# How long reading partitions to their ends may go without getting any further before it is an
# error: a long read that keeps moving (a whole topic, after the broker restarted empty) is never
# cut short, and one that stalls is never a guess at where the end is.
READ_STALL_S = 60.0
OFFSETS_TIMEOUT_MS = 10_000
# Records one poll may return while reading by hand: more than any record batch holds, so a poll
# that returns a partition's records returns whole batches.
WHOLE_BATCHES = 10_000_000


@dataclass(frozen=True, slots=True)
class Bounds:
    """A partition's first offset and its true end (the offset after its last record)."""

    begin: int
    end: int


def bounds(client: KafkaConsumer, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, Bounds]:
    """Each partition's first offset and true end, read with `client` (which must have them assigned;
    their positions are left wherever the reading ended).

    Apache Kafka reports the true end. The embedded broker reports its last record batch's first
    offset + 1, and answers a fetch beyond the end with nothing rather than an error. So where a
    partition is not empty its last batch is read: a fetch returns whole batches, and a poll for
    WHOLE_BATCHES records returns all it fetched, so the position after the poll that reaches the
    reported end is past the whole last batch: at or beyond the true end when it was asked for.
    """
    if not partitions:
        return {}
    begins = client.beginning_offsets(list(partitions), timeout_ms=OFFSETS_TIMEOUT_MS)
    reported = client.end_offsets(list(partitions), timeout_ms=OFFSETS_TIMEOUT_MS)
    # Every assigned partition needs a position before a poll: an empty one starts at its end.
    last_batches = {tp: reported[tp] - 1 if reported[tp] > begins[tp] else begins[tp] for tp in partitions}
    ends = _read_to(client, last_batches, reported, each=None)
    return {tp: Bounds(begins[tp], max(ends[tp], reported[tp])) for tp in partitions}


def _read_to(
    client: KafkaConsumer,
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    each: Callable[[Any], None] | None,
) -> dict[TopicPartition, int]:
    """Read each partition from its start until its position reaches its end, handing every record
    to `each`; returns the positions reached (beyond the ends when a poll brought more). Raises
    KafkaTimeoutError rather than stop short, when READ_STALL_S pass without any progress."""
    for tp, start in starts.items():
        client.seek(tp, start)
    waiting = {tp for tp in starts if starts[tp] < ends[tp]}
    reached = {tp: client.position(tp) for tp in waiting}
    moved_at = time.monotonic()
    while waiting:
        if time.monotonic() - moved_at > READ_STALL_S:
            raise kafka_errors.KafkaTimeoutError(
                f"reading {sorted(str(tp) for tp in waiting)} to their ends got no further in {READ_STALL_S:.0f} s"
            )
        batch = client.poll(timeout_ms=200, max_records=WHOLE_BATCHES)
        if each is not None:
            for part in batch.values():
                for record in part:
                    each(record)
        positions = {tp: client.position(tp) for tp in waiting}
        if positions != reached:
            reached, moved_at = positions, time.monotonic()
        waiting = {tp for tp in waiting if positions[tp] < ends[tp]}
    return {tp: client.position(tp) for tp in starts}


@dataclass(slots=True)
class TopicRead:
    ends: dict[int, int]
    """Partition -> the offset after the last record read."""
    out_of_range: dict[int, tuple[int, Bounds]]
    """Partition -> (the start asked for, the partition's bounds) where the start lay outside the
    partition, which was read from its beginning instead."""


def read_topic(
    bootstrap: str,
    topic: str,
    client_id: str,
    start: Mapping[int, int] | None = None,
    *,
    each: Callable[[Any], None] | None = None,
    committed_only: bool = False,
) -> TopicRead:
    """Hand every record of `topic` from `start` (partition -> offset; default the beginning) to
    the partitions' true ends (see `bounds`) to `each`, which keeps what it needs: the records
    themselves are not kept. A start outside its partition (the topic was recreated, or the
    memory-only embedded broker restarted) is reported and read from the beginning."""
    client = reader(bootstrap, client_id, committed_only)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or [])]
        client.assign(partitions)
        known = bounds(client, partitions)
        starts: dict[TopicPartition, int] = {}
        out_of_range: dict[int, tuple[int, Bounds]] = {}
        for tp in partitions:
            edge = known[tp]
            asked = edge.begin if start is None else start.get(tp.partition, edge.begin)
            if not edge.begin <= asked <= edge.end:
                out_of_range[tp.partition] = (asked, edge)
                asked = edge.begin
            starts[tp] = asked
        reached = _read_to(client, starts, {tp: known[tp].end for tp in partitions}, each)
        return TopicRead({tp.partition: offset for tp, offset in reached.items()}, out_of_range)
    finally:
        client.close()


def read_all(bootstrap: str, topic: str, client_id: str, start: Mapping[int, int] | None = None) -> list[Any]:
    """Every record of `topic` from `start` to its end (`read_topic`), for reports, tests and benchmarks."""
    records: list[Any] = []
    read_topic(bootstrap, topic, client_id, start, each=records.append)
    return records
