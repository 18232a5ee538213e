"""How the outbox relay puts records on the output topic (consumers.relay), behind one small
protocol, so tests and other producers can swap in.

The relay's promise does not rest on the publisher alone: it sends a slice, waits until every
record is acknowledged or the send failed, and only then marks the slice; after a failure it
reads the topic to see what got there (consumers.relay, recovery). What a publisher must do is
keep each partition's records in the order given, say where each partition ended, raise when
anything was not acknowledged, and, before recovery reads the topic, fence: make sure no
request of an earlier send, already on the wire or retried inside the client, can land after
the read (it would put its records there a second time).
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
TRANSACTION_MARGIN_S = 30.0
"""A send's transaction may outlive its delivery timeout by this much (librdkafka wants it
longer). A relay that died mid-send leaves its transaction open no longer than that, and only
until the next relay starts: starting fences it."""


class Publisher(Protocol):
    def partitions(self, topic: str) -> int:
        """How many partitions the topic has (the relay partitions by key itself)."""

    def send(self, topic: str, records: Sequence[tuple[int, bytes, bytes]]) -> dict[int, int]:
        """Write (partition, key, value) records, each partition's in the order given, and wait
        until all are acknowledged; returns partition -> the offset after its last record.
        Raises if any record was not acknowledged."""

    def fence(self) -> None:
        """From here on, no request of an earlier send can land on the topic: of this publisher,
        or of any before it that published for the same relay (a relay that died, say)."""

    def close(self) -> None: ...


class ConfluentPublisher:
    """librdkafka's transactional producer (confluent-kafka): records are batched and sent by C
    threads, at about 1 µs of Python each; retries within a send keep order and never write a
    record twice; each send is one transaction.

    The transactions are there to fence, not to make a send atomic (the relay's recovery does
    that). After a failed send a request of it may still be on the wire: a purge cannot call it
    back, and under an idempotent producer's fresh id the broker would take it as new when it
    lands. Every producer of one `transactional_id` gets the same producer id with a higher epoch:
    starting one aborts the previous one's open transaction, and the broker refuses every request
    that carries an older epoch. So a failed send drops its producer, and the next one, started at
    the latest by `fence`, shuts out whatever the old one left on the wire.

    Consumers of the output topic read with `isolation.level=read_committed` (librdkafka's
    default, not the Java client's), so a record of an aborted send is never seen."""

    def __init__(self, bootstrap: str, client_id: str, transactional_id: str) -> None:
        self.settings = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "transactional.id": transactional_id,  # idempotent too: acks=all, in-flight <= 5, ordered retries
            "transaction.timeout.ms": int((DELIVERY_TIMEOUT_S + TRANSACTION_MARGIN_S) * 1000),
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
                # timeout; a new producer asks again.
                self._drop()
        if self._producer is None:
            self._lost = None
            producer = Producer(self.settings)
            try:
                # Takes the next epoch: the previous producer's open transaction is aborted and
                # its requests are refused from here on.
                producer.init_transactions(REQUEST_TIMEOUT_MS / 1000)
            except KafkaException as exc:
                raise kafka_errors.KafkaConnectionError(f"starting the output producer: {exc}") from None
            self._producer = producer
        return self._producer

    def fence(self) -> None:
        self._open()  # a failed send dropped its producer: the one started here fences it

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
            producer.begin_transaction()
            for partition, key, value in records:
                if failures:
                    break
                _produce(producer, topic, partition, key, value, delivered)
            left = self._wait(producer)
            if failures:
                raise _error(topic, *failures[0])
            if left and self._lost is not None:
                raise kafka_errors.KafkaConnectionError(f"{topic}: {left} records not acknowledged: {self._lost.str()}")
            if left:
                raise kafka_errors.KafkaTimeoutError(
                    f"{topic}: {left} records not acknowledged in {DELIVERY_TIMEOUT_S:.0f} s"
                )
            producer.commit_transaction(REQUEST_TIMEOUT_MS / 1000)
        except KafkaException as exc:
            self._drop()
            raise kafka_errors.KafkaError(f"{topic}: {exc}") from None
        except BaseException:
            self._drop()  # whatever failed, the next producer fences what this one may still send
            raise
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
        """Forget the producer and every record of it not yet acknowledged. (A request already on
        the wire may still land: only the next producer's fence stops it.)"""
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
        except KafkaException as exc:  # refused before it was queued (a partition the topic has not got)
            raise _error(topic, exc.args[0], partition) from None


def _error(topic: str, failure: ConfluentError, partition: int) -> kafka_errors.KafkaError:
    """The kafka-python error the rest of the worker knows (its outage checks look for these)."""
    where = f"{topic} partition {partition}: {failure.str()}"
    if failure.code() == ConfluentError._UNKNOWN_PARTITION:
        return kafka_errors.UnknownTopicOrPartitionError(where)
    if failure.retriable():
        return kafka_errors.KafkaConnectionError(where)
    return kafka_errors.KafkaError(where)
