"""Producing to and reading from the real broker in tests."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from consumers import kafka as kafka_clients


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


def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of the topic, to its end (waiting up to 10 s for the topic to exist)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not topic_exists(bootstrap, topic):
        time.sleep(0.2)
    return kafka_clients.read_all(bootstrap, topic, "segflow-tests")


def topic_exists(bootstrap: str, topic: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return topic in admin.list_topics()
    finally:
        admin.close()
