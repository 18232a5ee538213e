"""The outbox relay against the real broker and database: a slice interrupted between send and
mark is finished, not repeated (SPEC §3: none lost, none twice)."""

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from consumers import kafka as kafka_clients
from consumers.publish import ConfluentPublisher
from consumers.relay import Relay
from db import outbox
from engine.model import Emitted, EmittedCause
from segflow.services import stores
from tests.support.kafka_io import create_topic, produce
from tests.support.kafka_io import read_all as read_topic

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def emitted(event_id: str, email: str) -> Emitted:
    cause = EmittedCause(event_id=f"in-{event_id}", flow_id="f", flow_version=1, node_id="n")
    return Emitted(event_id, "flow.entered", "acme", NOW, email, cause, {})


def relay(db: Any, bootstrap: str, topic: str) -> Relay:
    def read_output(start: Mapping[int, int], each: Callable[[Any], None]) -> kafka_clients.TopicRead:
        return kafka_clients.read_topic(bootstrap, topic, "relay-test-recovery", start, each=each, committed_only=True)

    return Relay(
        db, ConfluentPublisher(bootstrap, "test-relay", f"test-relay:{topic}"), read_output, topic, lambda: NOW
    )


def test_a_partly_sent_slice_is_finished_in_order_without_repeats(db, kafka_bootstrap, topics):
    create_topic(kafka_bootstrap, topics.output, 1)  # one partition: the topic's order is the test's order
    stores.create(db, "acme", "pro")
    first = [emitted("e1", "ann@example.com"), emitted("e2", "bob@example.com"), emitted("e3", "ann@example.com")]
    second = [emitted("e4", "ann@example.com")]
    with db.transaction():
        outbox.enqueue(db, "acme", first)
    with db.transaction():
        outbox.enqueue(db, "acme", second)
    # A relay sent e1 and e2, then died before marking anything.
    produce(
        kafka_bootstrap, topics.output, [(b"acme:" + e.email.encode(), e.payload_json().encode()) for e in first[:2]]
    )

    recovering = relay(db, kafka_bootstrap, topics.output)
    sent = recovering.tick()

    published = [json.loads(r.value)["event_id"] for r in read_topic(kafka_bootstrap, topics.output)]
    assert ["e1", "e2", "e3", "e4"] == published
    assert 1 == sent  # the tick's own slice: e4; recovery resent only e3
    assert 2 == recovering.published  # what this relay put on the topic: e3 and e4
    assert 0 == outbox.unpublished_count(db)

    # The next relay to take the lock finds everything accounted for and sends nothing.
    db.execute("SELECT pg_advisory_unlock_all()")
    assert 0 == relay(db, kafka_bootstrap, topics.output).tick()
    assert 4 == len(read_topic(kafka_bootstrap, topics.output))


def test_a_large_operation_is_queued_in_bounded_batches_in_order(db):
    stores.create(db, "acme", "pro")
    events = [emitted(f"e{n:05}", f"c{n}@example.com") for n in range(2 * outbox.MAX_BATCH_EVENTS + 7)]
    with db.transaction():
        outbox.enqueue(db, "acme", events)
    sizes = [size for (size,) in db.execute("SELECT size FROM outbox_batches ORDER BY id")]
    assert [outbox.MAX_BATCH_EVENTS, outbox.MAX_BATCH_EVENTS, 7] == sizes
    queued = [event_id for (event_id,) in db.execute("SELECT event_id FROM outbox ORDER BY id, position")]
    assert [e.event_id for e in events] == queued


def test_a_relay_with_nothing_unpublished_reads_none_of_an_old_topic(db, kafka_bootstrap, topics):
    # A fresh database (no positions recorded) over an output topic that already holds events:
    # with nothing in flight there is nothing to finish, so the topic is not read at all.
    create_topic(kafka_bootstrap, topics.output, 2)
    stores.create(db, "acme", "pro")
    old = [emitted(f"old{n}", f"c{n}@example.com") for n in range(2_000)]
    produce(kafka_bootstrap, topics.output, [(b"acme:" + e.email.encode(), e.payload_json().encode()) for e in old])
    handed: list[Any] = []
    starting = relay(db, kafka_bootstrap, topics.output)
    reading = starting.read_output

    def counted(start: Mapping[int, int], each: Callable[[Any], None]) -> kafka_clients.TopicRead:
        def keep(record: Any) -> None:
            handed.append(record)
            each(record)

        return reading(start, keep)

    starting.read_output = counted

    assert 0 == starting.tick()
    assert [] == handed
    with db.transaction():
        outbox.enqueue(db, "acme", [emitted("new1", "ann@example.com"), emitted("new2", "bob@example.com")])
    assert 2 == starting.tick()
    assert [] == handed  # a slice sent and marked leaves nothing to recover either
    on_topic = [json.loads(r.value)["event_id"] for r in read_topic(kafka_bootstrap, topics.output)]
    assert 2_002 == len(on_topic) and {"new1", "new2"} <= set(on_topic)
    assert 0 == outbox.unpublished_count(db)
