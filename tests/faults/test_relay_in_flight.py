"""A send that failed with a request still on the wire: the request lands after the relay has
recovered and sent the slice again. Nothing of it may reach the topic (SPEC §3: none twice)."""

import json
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from consumers import kafka as kafka_clients
from consumers import publish
from consumers.relay import Relay
from db import outbox
from engine.model import Emitted, EmittedCause
from segflow.infra.embedded import free_port
from segflow.services import stores
from tests.support.kafka_io import create_topic, read_all
from tests.support.services import HoldingProxy, OwnBroker

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def emitted(n: int) -> Emitted:
    cause = EmittedCause(event_id=f"in-{n}", flow_id="f", flow_version=1, node_id="n")
    return Emitted(f"e{n:05d}", "flow.entered", "acme", NOW, f"c{n % 50}@example.com", cause, {})


@pytest.fixture
def held_broker():
    port, proxy_port = free_port(), free_port()
    broker = OwnBroker(port, advertised_port=proxy_port)  # clients reach it only through the proxy
    proxy = HoldingProxy(proxy_port, port)
    yield broker.bootstrap, proxy
    proxy.close()
    broker.close()


def test_a_produce_request_that_lands_after_recovery_is_not_published_twice(db, held_broker, topics, monkeypatch):
    bootstrap, proxy = held_broker
    monkeypatch.setattr(publish, "DELIVERY_TIMEOUT_S", 3.0)  # give up on the held send soon
    create_topic(bootstrap, topics.output, 2)
    stores.create(db, "acme", "pro")
    events = [emitted(n) for n in range(600)]
    with db.transaction():
        outbox.enqueue(db, "acme", events)

    def read_output(start, each):
        return kafka_clients.read_topic(
            bootstrap, topics.output, "relay-test-recovery", start, each=each, committed_only=True
        )

    sender = publish.ConfluentPublisher(bootstrap, "test-relay", f"test-relay-{topics.output}")
    relay = Relay(db, sender, read_output, topics.output, lambda: NOW)
    relay.recover()  # a fresh relay on an empty topic

    proxy.hold_next_produce()
    with pytest.raises(Exception, match="not acknowledged"):
        relay.tick()
    assert proxy.holding.is_set()
    assert 600 == outbox.unpublished_count(db)

    assert 600 == relay.tick()  # recovery found nothing there, so the whole slice went again
    proxy.release()  # the first send's request reaches the broker now
    time.sleep(2.0)
    sender.close()

    on_topic = Counter(json.loads(r.value)["event_id"] for r in read_all(bootstrap, topics.output))
    assert {e.event_id for e in events} == set(on_topic)
    assert [] == [event_id for event_id, times in on_topic.items() if times > 1]
    assert 0 == outbox.unpublished_count(db)
