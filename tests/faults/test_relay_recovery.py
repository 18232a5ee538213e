"""Relay recovery reads the output topic to its true end, however slow the broker, and from the
beginning when the topic restarted empty: the interrupted slice is finished, nothing twice."""

import json
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from consumers import kafka as kafka_clients
from consumers.publish import ConfluentPublisher
from consumers.relay import Relay
from db import outbox
from engine.model import Emitted, EmittedCause
from segflow.infra.embedded import free_port
from segflow.services import stores
from tests.support.kafka_io import create_topic, produce, read_all
from tests.support.services import LatencyProxy, OwnBroker

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def emitted(n: int) -> Emitted:
    cause = EmittedCause(event_id=f"in-{n}", flow_id="f", flow_version=1, node_id="n")
    return Emitted(f"e{n:05d}", "flow.entered", "acme", NOW, f"c{n % 50}@example.com", cause, {})


def relay(db, bootstrap, topic):
    def read_output(start, each):
        return kafka_clients.read_topic(bootstrap, topic, "relay-test-recovery", start, each=each, committed_only=True)

    return Relay(
        db, ConfluentPublisher(bootstrap, "test-relay", f"test-relay:{topic}"), read_output, topic, lambda: NOW
    )


def interrupted_slice(db, bootstrap, topic, events, sent):
    """Queue `events` in two outbox batches, and put the first `sent` on the topic, unmarked: a
    relay died between sending and marking."""
    stores.create(db, "acme", "pro")
    half = len(events) // 2
    for part in (events[:half], events[half:]):
        with db.transaction():
            outbox.enqueue(db, "acme", part)
    produce(bootstrap, topic, [(b"acme:" + e.email.encode(), e.payload_json().encode()) for e in events[:sent]])


@pytest.fixture
def proxied_broker():
    port, proxy_port = free_port(), free_port()
    broker = OwnBroker(port, advertised_port=proxy_port)  # clients reach it only through the proxy
    proxy = LatencyProxy(proxy_port, port, delay_s=0.0)
    yield broker.bootstrap, proxy
    proxy.close()
    broker.close()


def test_recovery_on_a_slow_broker_reads_to_the_end(db, proxied_broker, topics):
    bootstrap, proxy = proxied_broker
    create_topic(bootstrap, topics.output, 1)
    events = [emitted(n) for n in range(600)]
    interrupted_slice(db, bootstrap, topics.output, events, sent=400)

    proxy.delay_s = 0.6  # every answer of the broker takes 0.6 s while the relay recovers
    recovering = relay(db, bootstrap, topics.output)
    recovering.tick()
    recovering.sender.close()
    proxy.delay_s = 0.0

    published = [json.loads(r.value)["event_id"] for r in read_all(bootstrap, topics.output)]
    assert [e.event_id for e in events] == published  # in order, each once
    assert 200 == recovering.published
    assert 0 == outbox.unpublished_count(db)


def test_recovery_reads_a_topic_that_restarted_empty_from_its_beginning(db, kafka_bootstrap, topics):
    create_topic(kafka_bootstrap, topics.output, 1)
    events = [emitted(n) for n in range(10)]
    interrupted_slice(db, kafka_bootstrap, topics.output, events, sent=3)
    # Positions recorded before the broker restarted empty: far beyond the new topic's end.
    db.execute("INSERT INTO relay_positions (topic, partition, next_offset) VALUES (%s, 0, 5000)", (topics.output,))

    with capture_logs() as logs:
        recovering = relay(db, kafka_bootstrap, topics.output)
        recovering.tick()
        recovering.sender.close()

    on_topic = read_all(kafka_bootstrap, topics.output)
    assert [e.event_id for e in events] == [json.loads(r.value)["event_id"] for r in on_topic]
    assert 7 == recovering.published
    [lost] = [line for line in logs if line["event"] == "relay_positions_out_of_range"]
    assert (0, 5000, 3) == (lost["partition"], lost["recorded"], lost["end"])
    positions = db.execute("SELECT next_offset FROM relay_positions WHERE topic = %s", (topics.output,)).fetchall()
    assert [(on_topic[-1].offset + 1,)] == positions  # after the last record (transaction markers take offsets too)
