"""The input topic as the worker reads it: each partition only from where PostgreSQL says (SPEC §5).

Offsets live in PostgreSQL (`consumer_offsets`), committed with each batch's effects. The
consumer's own position is only a cache of them, and a cache can go wrong: a batch that fails
leaves the position after records that were never applied. So a partition is *parked* (paused:
nothing is fetched from it) from the moment it is assigned, and all of them after any batch
that did not commit, until `seek_parked` has read the stored offsets and sought to them. While
PostgreSQL is down that read fails and the partitions stay parked: there is no way to fetch past
what was applied. The batch itself checks the same thing from the other side
(`consumers.events.Applier` refuses a batch not fetched from the stored offset).

`seek_parked` is also where a stored offset outside its partition is noticed (the topic was
recreated, the memory-only embedded broker restarted, or retention deleted records before they
were applied): it logs `offsets_out_of_range` and reads the partition from its beginning; the
duplicate check keeps that safe. The embedded broker never answers a fetch beyond the end with
an error, so the check compares the stored offset with the partition's true end
(`consumers.kafka.bounds`), which also works on Apache Kafka; there, a position that becomes
out of range while running raises from `poll` and parks the partition for the same check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import NoOffsetForPartitionError, OffsetOutOfRangeError

from consumers import kafka as kafka_clients
from consumers.events import Record
from consumers.failure import one_line
from db import Conn
from db import offsets as offset_rows

log = structlog.get_logger()


@dataclass(slots=True)
class Polled:
    records: list[Record]
    fetched_from: dict[int, int]
    """Partition -> the offset the consumer read it from for these records."""


class InputConsumer:
    """A consumer-group member on the input topic whose positions come from PostgreSQL."""

    def __init__(self, bootstrap: str, group_id: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topic = topic
        self._parked: set[TopicPartition] = set()
        self._next: dict[int, int] = {}
        """Partition -> the offset of the next record the consumer will return."""
        self._topic_id_seen: UUID | None = None
        """The input topic's id when partitions were last sought."""
        self._admin: KafkaAdminClient | None = None
        self.consumer: KafkaConsumer = kafka_clients.consumer(bootstrap, group_id, self._assigned, self._revoked, topic)

    # --- called by the consumer during `poll`, when the group rebalances: no I/O here -----------

    def _assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            # A placeholder position, so the consumer does not look for one of its own (there is
            # none: offsets are not committed to Kafka); parked, it is never fetched from.
            self.consumer.seek(tp, 0)
        self._park(assigned)
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))

    def _revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self._parked.discard(tp)
            self._next.pop(tp.partition, None)
        if revoked:
            log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    # --- the worker's side ------------------------------------------------------------------

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment())

    @property
    def parked(self) -> bool:
        return bool(self._parked)

    def park_all(self) -> None:
        """After a batch that did not commit: fetch nothing more until sought back to the stored offsets."""
        self._park(self.assignment)

    def _park(self, partitions: Iterable[TopicPartition]) -> None:
        partitions = [tp for tp in partitions if tp in self.assignment]
        self.consumer.pause(*partitions)
        self._parked.update(partitions)

    def seek_parked(self, conn: Conn) -> None:
        """Seek every parked partition to its stored offset and fetch from it again.

        Raises the database's or the broker's error when either is unavailable; the partitions
        then stay parked. A partition the group never saw starts at its beginning, which is
        stored at once, so every partition being read has a stored offset.
        """
        parked = sorted(self._parked & self.assignment)
        self._parked.intersection_update(parked)
        if not parked:
            return
        numbers = [tp.partition for tp in parked]
        topic_id = self._topic_id()
        stored = offset_rows.read(conn, self.group_id, self.topic, numbers)
        edges = self._bounds(parked, stored)
        starts: dict[int, int] = {}
        resets: dict[int, tuple[int, int]] = {}
        for tp in parked:
            edge, row = edges[tp], stored.get(tp.partition)
            if row is None:
                starts[tp.partition] = edge.begin
                continue
            lost = _lost(row, edge, topic_id)
            if lost:
                log.warning(
                    "offsets_out_of_range", partition=tp.partition, stored=row.next_offset, begin=edge.begin,
                    end=edge.end, why=lost,
                )  # fmt: skip
                resets[tp.partition] = (row.next_offset, edge.begin)
            elif row.topic_id != topic_id and topic_id is not None:  # a row from before ids were kept
                resets[tp.partition] = (row.next_offset, row.next_offset)
        if starts or resets:
            with conn.transaction():
                offset_rows.start(conn, self.group_id, self.topic, starts, topic_id)
                offset_rows.reset(conn, self.group_id, self.topic, resets, topic_id)
            # Read again: a row another member wrote meanwhile wins over what was planned here.
            stored = offset_rows.read(conn, self.group_id, self.topic, numbers)
        self._topic_id_seen = topic_id
        for tp in parked:
            offset = stored[tp.partition].next_offset
            self.consumer.seek(tp, offset)
            self._next[tp.partition] = offset
        self.consumer.resume(*parked)
        self._parked.difference_update(parked)
        log.info("partitions_sought", offsets={tp.partition: stored[tp.partition].next_offset for tp in parked})

    def check_topic(self) -> None:
        """Park every partition when the input topic is no longer the one they were sought in: it
        was deleted and created again, which the group need not notice (no rebalance) while the
        positions it holds point past the new topic's records."""
        topic_id = self._topic_id()
        if topic_id is not None and self._topic_id_seen is not None and topic_id != self._topic_id_seen:
            log.warning("input_topic_recreated", topic=self.topic, was=str(self._topic_id_seen), now=str(topic_id))
            self.park_all()

    def group_view(self) -> dict[str, object]:
        """What the broker says of the group and the topic, as far as its admin API tells: the
        group's state and members, and the topic's partitions (for a worker given none)."""
        view: dict[str, object] = {}
        try:
            view["partitions"] = len(self.consumer.partitions_for_topic(self.topic) or ())
            described = self._admin_client().describe_groups([self.group_id]).get(self.group_id, {})
            view["group_state"] = described.get("group_state") or described.get("state")
            view["members"] = len(described.get("members") or ())
        except Exception as exc:  # a broker without the API, or busy: say what is known
            view["admin_error"] = one_line(exc)
        return view

    def _admin_client(self) -> KafkaAdminClient:
        if self._admin is None:  # made when first asked: a worker that never asks opens no connection
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="segflow-worker-admin")
        return self._admin

    def _topic_id(self) -> UUID | None:
        """The input topic's id as the broker reports it now; None from a broker without ids."""
        described = self._admin_client().describe_topics([self.topic])
        raw = described[0].get("topic_id") if described else None
        topic_id = UUID(str(raw)) if raw else None
        return topic_id if topic_id is not None and topic_id.int else None

    def _bounds(
        self, partitions: list[TopicPartition], stored: dict[int, offset_rows.Stored]
    ) -> dict[TopicPartition, kafka_clients.Bounds]:
        """Each partition's first offset and true end; the true end is read (see `kafka.bounds`)
        only where the stored offset lies beyond the reported end, which on the embedded broker
        is most partitions whose last batch holds more than one record."""
        begins = self.consumer.beginning_offsets(partitions, timeout_ms=kafka_clients.OFFSETS_TIMEOUT_MS)
        ends = self.consumer.end_offsets(partitions, timeout_ms=kafka_clients.OFFSETS_TIMEOUT_MS)
        edges = {tp: kafka_clients.Bounds(begins[tp], ends[tp]) for tp in partitions}
        beyond = [tp for tp in partitions if tp.partition in stored and stored[tp.partition].next_offset > ends[tp]]
        if beyond:
            probe = kafka_clients.reader(self.bootstrap, "segflow-worker-bounds")
            try:
                probe.assign(beyond)
                edges.update(kafka_clients.bounds(probe, beyond))
            finally:
                probe.close()
        return edges

    def poll(self, timeout_ms: int, max_records: int) -> Polled:
        try:
            polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except (OffsetOutOfRangeError, NoOffsetForPartitionError) as exc:
            # Apache Kafka: the position left the partition while running (retention, a recreated
            # topic). `seek_parked` checks the stored offset against the partition's bounds.
            named = _partitions_of(exc)
            log.warning("partition_positions_lost", error=type(exc).__name__, partitions=sorted(named))
            lost = [tp for tp in self.assignment if tp.partition in named]
            self._park(lost or self.assignment)
            return Polled([], {})
        records: list[Record] = []
        fetched_from: dict[int, int] = {}
        for tp, batch in polled.items():
            if tp.partition in self._next:
                fetched_from[tp.partition] = self._next[tp.partition]
            self._next[tp.partition] = batch[-1].offset + 1
            records.extend(Record(tp.topic, tp.partition, r.offset, r.key, r.value) for r in batch)
        return Polled(records, fetched_from)

    def lag(self) -> dict[int, int]:
        """Per partition being read: records between the position and the end the broker reports.
        (The embedded broker reports the start of its last record batch + 1 as the end, so there
        this can be short by part of a batch; 0 when caught up, as on Apache Kafka.)"""
        reading = [tp for tp in self.assignment if tp.partition in self._next and tp not in self._parked]
        ends = self.consumer.end_offsets(reading, timeout_ms=kafka_clients.OFFSETS_TIMEOUT_MS) if reading else {}
        return {tp.partition: max(0, ends[tp] - self._next[tp.partition]) for tp in reading}

    def close(self) -> None:
        self.consumer.close()
        if self._admin is not None:
            self._admin.close()


def _lost(row: offset_rows.Stored, edge: kafka_clients.Bounds, topic_id: UUID | None) -> str | None:
    """Why a stored offset no longer points into its partition, if it does not."""
    if row.topic_id is not None and topic_id is not None and row.topic_id != topic_id:
        return "the topic was deleted and created again"
    if row.next_offset > edge.end:
        return "beyond the partition's end: the topic was recreated or the broker restarted empty"
    if row.next_offset < edge.begin:
        return "before the partition's beginning: records were deleted before they were applied"
    return None


def _partitions_of(exc: Exception) -> set[int]:
    """The partitions kafka-python names in an offset error (a dict or set of TopicPartitions)."""
    named = exc.args[0] if exc.args else None
    if isinstance(named, dict | set | frozenset):
        return {tp.partition for tp in named if isinstance(tp, TopicPartition)}
    return set()
