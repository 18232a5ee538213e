"""Producing to and reading from the real broker in tests."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic


def create_topic(bootstrap: str, name: str, partitions: int = 4) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, linger_ms=5)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def produce_events(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    produce(
        bootstrap,
        topic,
        [
            (f"{e['store_id']}:{e['customer']['email'].strip().lower()}".encode(), json.dumps(e).encode())
            for e in events
        ],
    )


def read_all(bootstrap: str, topic: str, empty_polls: int = 4) -> list[Any]:
    """Every record of the topic, reading until several polls in a row come back empty."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024
    )
    try:
        partitions = None
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions or [])]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[Any] = []
        empty = 0
        while empty < empty_polls:
            batch = consumer.poll(timeout_ms=300)
            empty = 0 if batch else empty + 1
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        consumer.close()
