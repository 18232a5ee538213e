"""How the outbox relay puts records on the output topic (consumers.relay), behind one small
protocol, so tests and a future transactional producer can swap in.

The relay's promise does not rest on the publisher: it sends a slice, waits until every record
is acknowledged or the send failed, and only then marks the slice; after a failure it reads the
topic to see what got there (consumers.relay, recovery). What a publisher must do is keep each
partition's records in the order given, say where each partition ended, raise when anything
was not acknowledged, and after a failure never deliver a record of that send later (its
internal retries included), because recovery is about to read the topic and finish the slice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError as ConfluentError
from confluent_kafka import KafkaException, Producer
from kafka import errors as kafka_errors

from consumers.kafka import REQUEST_TIMEOUT_MS

# A record batch stays under Apache Kafka's default max.message.bytes (1 MiB and a little).
MAX_BATCH_BYTES = 1_000_000
DELIVERY_TIMEOUT_S = 120.0
"""How long one send may take before the relay gives up on it and recovers (librdkafka retries
within it: a broker restart or a leader change costs a pause, not a failure)."""


class Publisher(Protocol):
    def partitions(self, topic: str) -> int:
        """How many partitions the topic has (the relay partitions by key itself)."""

    def send(self, topic: str, records: Sequence[tuple[int, bytes, bytes]]) -> dict[int, int]:
        """Write (partition, key, value) records, each partition's in the order given, and wait
        until all are acknowledged; returns partition -> the offset after its last record.
        Raises if any record was not acknowledged, and then delivers none of them later."""

    def close(self) -> None: ...


class ConfluentPublisher:
    """librdkafka's idempotent producer (confluent-kafka): records are batched and sent by C
    threads, at about 1 µs of Python each; retries within a send keep order and never write a
    record twice. After a failed send the producer is purged and dropped, so nothing of that
    send arrives later, and the next send starts a new one."""

    def __init__(self, bootstrap: str, client_id: str) -> None:
        self.settings = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,  # acks=all, in-flight <= 5, ordered retries
            "linger.ms": 5,
            "batch.size": MAX_BATCH_BYTES,
            "message.max.bytes": MAX_BATCH_BYTES + 48_576,
            "queue.buffering.max.messages": 1_000_000,
            "delivery.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000),
            "request.timeout.ms": REQUEST_TIMEOUT_MS,
            "logger": logging.getLogger("librdkafka"),  # its lines go out as our JSON log lines
            "error_cb": self._on_error,
        }
        self._producer: Producer | None = None
        self._lost: ConfluentError | None = None
        """Set when every broker went away, or the producer failed fatally, since the last check."""

    def _on_error(self, error: ConfluentError) -> None:
        if error.fatal() or error.code() == ConfluentError._ALL_BROKERS_DOWN:
            self._lost = error

    def _open(self) -> Producer:
        if self._producer is not None:
            self._producer.poll(0)  # serves error callbacks
            if self._lost is not None:
                # A broker that restarted may have forgotten this producer's id (the embedded one
                # forgets everything), and librdkafka would retry under it until the delivery
                # timeout; a new producer asks for a new id.
                self._drop()
        if self._producer is None:
            self._lost = None
            self._producer = Producer(self.settings)
        return self._producer

    def partitions(self, topic: str) -> int:
        metadata = self._open().list_topics(topic, timeout=REQUEST_TIMEOUT_MS / 1000)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            why = described.error if described is not None and described.error is not None else "no partitions"
            raise kafka_errors.UnknownTopicOrPartitionError(f"no metadata for topic {topic}: {why}")
        return len(described.partitions)

    def send(self, topic: str, records: Sequence[tuple[int, bytes, bytes]]) -> dict[int, int]:
        producer = self._open()
        ends: dict[int, int] = {}
        failures: list[tuple[Any, int]] = []

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                failures.append((error, message.partition()))
            else:
                partition, offset = message.partition(), message.offset()
                if offset + 1 > ends.get(partition, 0):
                    ends[partition] = offset + 1

        try:
            for partition, key, value in records:
                if failures:
                    break
                _produce(producer, topic, partition, key, value, delivered)
            left = self._wait(producer)
        except KafkaException as exc:
            self._drop()
            raise kafka_errors.KafkaError(f"{topic}: {exc}") from None
        if failures:
            self._drop()
            raise _error(topic, *failures[0])
        if left and self._lost is not None:
            self._drop()
            raise kafka_errors.KafkaConnectionError(f"{topic}: {left} records not acknowledged: {self._lost.str()}")
        if left:
            self._drop()
            raise kafka_errors.KafkaTimeoutError(
                f"{topic}: {left} records not acknowledged in {DELIVERY_TIMEOUT_S:.0f} s"
            )
        return ends

    def _wait(self, producer: Producer) -> int:
        """Wait for every acknowledgement; returns how many records are left unacknowledged. Gives
        up early when every broker went away meanwhile: what got there is the relay's recovery's
        to find out, and retrying under an id the restarted broker may have forgotten never ends."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while True:
            left = int(producer.flush(min(1.0, max(0.0, deadline - time.monotonic()))))
            if not left or self._lost is not None or time.monotonic() >= deadline:
                return left

    def _drop(self) -> None:
        """Forget every record not yet acknowledged, so none of them is delivered after this."""
        if self._producer is not None:
            self._producer.purge(in_queue=True, in_flight=True)
            self._producer.flush(0)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(DELIVERY_TIMEOUT_S)
            self._producer = None


def _produce(
    producer: Producer, topic: str, partition: int, key: bytes, value: bytes, delivered: Callable[[Any, Any], None]
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, partition, on_delivery=delivered)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.05)


def _error(topic: str, failure: ConfluentError, partition: int) -> kafka_errors.KafkaError:
    """The kafka-python error the rest of the worker knows (its outage checks look for these)."""
    where = f"{topic} partition {partition}: {failure.str()}"
    if failure.code() == ConfluentError._UNKNOWN_PARTITION:
        return kafka_errors.UnknownTopicOrPartitionError(where)
    if failure.retriable():
        return kafka_errors.KafkaConnectionError(where)
    return kafka_errors.KafkaError(where)
