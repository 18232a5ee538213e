"""The outbox relay: publishes committed output events in order, none lost, none twice (SPEC §3).

One relay at a time across workers holds a PostgreSQL session lock. It sends a slice of
unpublished rows with the idempotent producer, waits for the broker's acknowledgements, then
marks the rows published and records how far each output partition got, in one transaction.

A crash between the acknowledgement and that transaction would publish the slice twice. So
whoever takes the lock first reads the output topic from the recorded positions to its end
and marks every row it finds there as published before sending anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from db import Conn, outbox
from db import offsets as offset_rows

log = structlog.get_logger()

RELAY_LOCK_KEY = 0x5E6F_2000  # fixed: every segflow relay contends for the same lock
SLICE = 5_000  # rows per send-and-mark round
PARTITION_CACHE = 200_000  # customer keys whose partition is remembered (the pure-Python murmur2 is slow)


class Relay:
    def __init__(
        self,
        conn: Conn,
        producer: KafkaProducer,
        read_output: Callable[[Mapping[int, int]], list[Any]],
        topic: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.conn = conn
        """A dedicated autocommit connection: the session lock lives and dies with it."""
        self.producer = producer
        self.read_output = read_output
        """Every output-topic record from the given positions to the end (consumers.kafka.read_all)."""
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
                self._partitions = len(self.producer.partitions_for(self.topic))
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
        rows = outbox.unpublished(self.conn, SLICE)
        if not rows:
            return 0
        self.needs_recovery = True  # until the slice is marked, a failure means "look before resending"
        futures = [
            self.producer.send(self.topic, key=key.encode(), value=payload.encode(), partition=self._partition(key))
            for _, key, payload in rows
        ]
        self.producer.flush()
        ends: dict[int, int] = {}
        for future in futures:
            metadata = future.get()
            ends[metadata.partition] = max(ends.get(metadata.partition, 0), metadata.offset + 1)
        with self.conn.transaction():
            outbox.mark_published(self.conn, [row_id for row_id, _, _ in rows], self.clock())
            offset_rows.save_relay_positions(self.conn, self.topic, ends)
        self.needs_recovery = False
        self.published += len(rows)
        self.last_published_at = time.time()
        return len(rows)

    def recover(self) -> None:
        """Mark as published every outbox row already on the output topic past the recorded positions."""
        positions = offset_rows.relay_positions(self.conn, self.topic)
        found: list[tuple[str, str]] = []
        ends: dict[int, int] = {}
        for record in self.read_output(positions):
            ends[record.partition] = record.offset + 1
            try:
                document = json.loads(record.value)
                found.append((document["store_id"], document["event_id"]))
            except (ValueError, KeyError, TypeError):
                log.warning("relay_foreign_record", partition=record.partition, offset=record.offset)
        with self.conn.transaction():
            settled = outbox.mark_published_by_event(self.conn, found, self.clock())
            offset_rows.save_relay_positions(self.conn, self.topic, ends)
        self.needs_recovery = False
        log.info("relay_recovered", read=len(found), settled=settled)
