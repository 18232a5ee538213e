"""The outbox relay: publishes committed output events in order, none lost, none twice (SPEC §3).

One relay at a time across workers holds a PostgreSQL session lock. It sends a slice of
unpublished outbox batches (a consumers.publish.Publisher: each partition's records in order),
waits for the broker's acknowledgements, then marks the batches published and records how far
each output partition got, in one transaction. So everything before the recorded positions
belongs to batches marked published, and anything after them to the one slice in flight.

A crash, or a failed send, between the first record written and that transaction leaves part
or all of the slice on the topic, unmarked. So whoever sends next (after a restart, or this
relay after a failure) first fences (no request of an earlier send can land any more, see
consumers.publish), then reads the output topic from the recorded positions to its true end
(consumers.kafka.read_topic: end offsets, never a count of empty polls; committed records only,
keeping their event ids, not the records), finishes the interrupted slice (sending only the
events that are not there yet, in order) and marks it, before sending anything new. (With
nothing unpublished there is no such slice, and nothing is read: marking and recording happen in
one transaction, so whatever a relay sent is either marked or still unpublished.) A recorded
position beyond its partition's end means the topic restarted empty (the memory-only embedded
broker restarted, or the topic was recreated): that partition is read from its beginning, and
the positions recorded afterwards are where the reading ended, lower than before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from kafka.partitioner.default import murmur2

from consumers.kafka import TopicRead
from consumers.publish import Publisher
from db import Conn, outbox
from db import offsets as offset_rows

log = structlog.get_logger()

RELAY_LOCK_KEY = 0x5E6F_2000  # fixed: every segflow relay contends for the same lock
SLICE = 5_000  # events per send-and-mark round (at least one outbox batch)
PARTITION_CACHE = 200_000  # customer keys whose partition is remembered (the pure-Python murmur2 is slow)


class Relay:
    def __init__(
        self,
        conn: Conn,
        sender: Publisher,
        read_output: Callable[[Mapping[int, int], Callable[[Any], None]], TopicRead],
        topic: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.conn = conn
        """A dedicated autocommit connection: the session lock lives and dies with it."""
        self.sender = sender
        self.read_output = read_output
        """Hands each committed record of the output topic from the given positions to its end to
        the callback (consumers.kafka.read_topic with committed_only)."""
        self.topic = topic
        self.clock = clock
        self.holding = False
        self.needs_recovery = True
        self.published = 0
        self._partitions: int | None = None
        self._partition_of: dict[str, int] = {}
        self.last_published_at: float | None = None
        """Wall time the last slice was acknowledged (for the benchmark's end-to-end rate)."""

    def _partition(self, key: str) -> int:
        """Kafka's default partitioner (murmur2 of the key), computed once per customer key."""
        partition = self._partition_of.get(key)
        if partition is None:
            if self._partitions is None:
                self._partitions = self.sender.partitions(self.topic)
            partition = (murmur2(key.encode()) & 0x7FFFFFFF) % self._partitions
            if len(self._partition_of) >= PARTITION_CACHE:
                self._partition_of.clear()  # bounded: memory stays flat however many customers
            self._partition_of[key] = partition
        return partition

    def reconnect(self, conn: Conn) -> None:
        """A new connection after the old one broke: the lock went with it, so take it (and recover) again."""
        self.conn = conn
        self.holding = False
        self.needs_recovery = True

    def tick(self) -> int:
        """Publish what is waiting; returns how many events were sent (0 when another relay leads)."""
        if not self.holding:
            self.holding = outbox.try_relay_lock(self.conn, RELAY_LOCK_KEY)
            if not self.holding:
                return 0
            log.info("relay_lock_taken")
        if self.needs_recovery:
            self.recover()
        batches = outbox.unpublished(self.conn, SLICE)
        if not batches:
            return 0
        self.needs_recovery = True  # until the slice is marked, a failure means "look before resending"
        return self._send(batches, already_there=set())

    def recover(self) -> None:
        """Finish the slice a previous relay sent (all or part of) but did not mark. With nothing
        unpublished there is no such slice, and the topic is not read: on a fresh database over
        an old topic (no positions recorded) that would be the whole topic, every id in memory."""
        self.sender.fence()  # before reading: a request of a failed send landing later would be a second copy
        # A recreated topic may have another partition count: ask again before sending.
        self._partitions = None
        self._partition_of.clear()
        if outbox.unpublished_count(self.conn) == 0:
            self.needs_recovery = False
            log.info("relay_recovered", read=0, batches=0, resent=0)
            return
        positions = offset_rows.relay_positions(self.conn, self.topic)
        found: set[str] = set()

        def note(record: Any) -> None:
            try:
                found.add(json.loads(record.value)["event_id"])
            except (ValueError, KeyError, TypeError):
                log.warning("relay_foreign_record", partition=record.partition, offset=record.offset)

        output = self.read_output(positions, note)
        for partition, (recorded, edge) in sorted(output.out_of_range.items()):
            log.warning(
                "relay_positions_out_of_range", partition=partition, recorded=recorded, begin=edge.begin, end=edge.end
            )
        read = len(found)
        interrupted: list[outbox.QueuedBatch] = []
        after = 0
        missing = set(found)
        while missing:
            page = outbox.unpublished(self.conn, SLICE, after)
            if not page:
                break
            for batch in page:
                if missing.intersection(batch.event_ids):
                    interrupted.append(batch)
                    missing.difference_update(batch.event_ids)
            after = page[-1].id
        if missing:  # their batches are gone (a deleted store) or were marked: nothing to finish
            log.warning("relay_unmatched_records", records=len(missing))
        resent = self._send(interrupted, already_there=found, ends=output.ends)
        log.info("relay_recovered", read=read, batches=len(interrupted), resent=resent)

    def _send(
        self, batches: list[outbox.QueuedBatch], already_there: set[str], ends: dict[int, int] | None = None
    ) -> int:
        """Send the batches' events not `already_there`, then mark the batches and record the positions."""
        ends = dict(ends or {})
        records = [
            (self._partition(key), key.encode(), payload.encode())
            for batch in batches
            for event_id, key, payload in zip(batch.event_ids, batch.keys, batch.payloads, strict=True)
            if event_id not in already_there
        ]
        if records:
            for partition, end in self.sender.send(self.topic, records).items():
                ends[partition] = max(ends.get(partition, 0), end)
        with self.conn.transaction():
            outbox.mark_published(self.conn, [batch.id for batch in batches], self.clock())
            offset_rows.save_relay_positions(self.conn, self.topic, ends)
        self.needs_recovery = False
        self.published += len(records)
        if records:
            self.last_published_at = time.time()
        return len(records)
