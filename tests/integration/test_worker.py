"""The worker end to end on the real broker and PostgreSQL (SPEC §2, §3, §5)."""

import base64
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from engine.simulate import simulate
from schemas.events import InputEvent
from schemas.flow import Flow
from tests.support.examples import deploy, example_store, load_flow, run_worker, store
from tests.support.kafka_io import produce, produce_events, read_all

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def published(config):
    records = read_all(config.kafka_bootstrap, config.output_topic)
    return [json.loads(r.value) for r in records], records


def expected_ids(flows, events, members):
    trace = simulate(flows, [InputEvent.model_validate(e) for e in events], members)
    return Counter((e.event_id, e.type) for t in trace for e in t.step.events)


def members_of(db, segment):
    rows = db.execute(
        "SELECT c.email FROM segment_members m JOIN segments s ON s.id = m.segment_id JOIN customers c ON c.id = m.customer_id "
        "WHERE s.store_id = 'acme' AND s.name = %s ORDER BY 1",
        (segment,),
    )
    return [r[0] for r in rows]


def test_example_flows_match_the_simulator_including_waits_fired_after_restarts(db, config):
    flows, events = example_store(db, config, T0)

    first = run_worker(config, T0)
    assert (first.events, first.duplicates_skipped, first.dead_lettered) == (len(events) - 1, 1, 0)
    assert ["ann@example.com", "bob@example.com"] == members_of(db, "Free Gift")
    assert ["frank@example.com"] == [
        r[0]
        for r in db.execute(
            "SELECT c.email FROM runs r JOIN customers c ON c.id = r.customer_id WHERE r.status = 'waiting' AND r.node_id = 'wait-paid'"
        )
    ]
    # Restarts with the clock moved on: the payment wait times out, then the cool-off ends.
    run_worker(config, T0 + timedelta(days=7))  # exactly when the timeout is due, as in the simulator
    assert ["frank@example.com"] == members_of(db, "At Risk")
    run_worker(config, T0 + timedelta(days=10))
    assert 0 == db.execute("SELECT count(*) FROM runs WHERE status IN ('active', 'waiting')").fetchone()[0]

    values, _records = published(config)
    got = Counter((v["event_id"], v["type"]) for v in values)
    assert got == expected_ids(flows, events, {"Big Spenders": ["ann@example.com"]})
    assert max(got.values()) == 1  # no event id twice on the output topic
    assert db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0] == 0


EVERY_NODE = {
    "id": "tour", "store_id": "acme", "name": "every node type", "reentry": "always",
    "trigger": {"event": "subscription.created", "where": {"field": "customer.email", "op": "exists", "value": True}},
    "start": "is-pro",
    "nodes": [
        {"id": "is-pro", "type": "condition", "if": {"any": [{"field": "data.plan", "op": "in", "value": ["pro", "custom"]}, {"in_segment": "Insiders"}]}, "then": "ab", "else": "bye"},
        {"id": "ab", "type": "split", "branches": [{"percent": 50, "next": "tag-a"}, {"percent": 50, "next": "tag-b"}]},
        {"id": "tag-a", "type": "segment", "operation": "add", "segment": "Tour A", "create_if_missing": True, "next": "pause"},
        {"id": "tag-b", "type": "segment", "operation": "add", "segment": "Tour B", "create_if_missing": True, "next": "pause"},
        {"id": "pause", "type": "wait", "duration": "PT1H", "next": "welcome"},
        {"id": "welcome", "type": "action", "action": "notify", "params": {"template": "welcome"}, "next": "untag"},
        {"id": "untag", "type": "segment", "operation": "remove", "segment": "Insiders", "next": None},
        {"id": "bye", "type": "exit"},
    ],
}  # fmt: skip


def test_every_node_type_through_the_worker(db, config):
    store(db)
    db.execute("INSERT INTO segments (store_id, name, source) VALUES ('acme', 'Insiders', 'manual')")
    flow = Flow.model_validate(EVERY_NODE)
    deploy(db, flow)
    events = [
        {"event_id": f"s{i}", "type": "subscription.created", "store_id": "acme", "occurred_at": T0.isoformat(),
         "customer": {"email": f"c{i}@example.com"}, "data": {"plan": "pro" if i % 3 else "basic"}}
        for i in range(30)
    ]  # fmt: skip
    produce_events(config.kafka_bootstrap, config.input_topic, events)
    run_worker(config, T0)
    assert 20 == db.execute("SELECT count(*) FROM runs WHERE status = 'waiting'").fetchone()[0]
    assert 10 == db.execute("SELECT count(*) FROM runs WHERE status = 'exited' AND node_id = 'bye'").fetchone()[0]
    run_worker(config, T0 + timedelta(hours=2))
    assert 20 == db.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    assert 20 == len(members_of(db, "Tour A")) + len(members_of(db, "Tour B"))
    assert 0 < len(members_of(db, "Tour A")) < 20
    values, _ = published(config)
    assert Counter((v["event_id"], v["type"]) for v in values) == expected_ids([flow], events, {})


def test_poison_messages_are_dead_lettered_and_the_good_ones_processed(db, config):
    store(db)
    deploy(db, load_flow("free-gift"))
    good = [
        {
            "event_id": f"ok{i}",
            "type": "streak.milestone_reached",
            "store_id": "acme",
            "occurred_at": T0.isoformat(),
            "customer": {"email": f"g{i}@example.com"},
        }
        for i in range(2)
    ]
    huge = json.dumps({**good[0], "event_id": "big", "data": {"blob": "x" * (2 * 1024 * 1024)}}).encode()
    messages = [
        (b"acme:g0@example.com", json.dumps(good[0]).encode()),
        (b"acme:x@example.com", b"{not json"),
        (b"acme:y@example.com", json.dumps({"event_id": "w", "type": "order.processed", "store_id": "acme"}).encode()),
        (b"acme:z@example.com", huge),
        (b"nope:q@example.com", json.dumps({**good[0], "event_id": "u", "store_id": "nope"}).encode()),
        (b"acme:g1@example.com", json.dumps(good[1]).encode()),
    ]
    produce(config.kafka_bootstrap, config.input_topic, messages)
    summary = run_worker(config, T0)
    assert (summary.events, summary.dead_lettered) == (2, 4)
    assert ["g0@example.com", "g1@example.com"] == members_of(db, "Free Gift")
    dead = read_all(config.kafka_bootstrap, config.dlq_topic)
    letters = {r.key: json.loads(r.value) for r in dead}
    assert set(letters) == {b"acme:x@example.com", b"acme:y@example.com", b"acme:z@example.com", b"nope:q@example.com"}
    assert letters[b"acme:x@example.com"]["reason"].startswith("the value is not JSON (UTF-8 encoded): ")
    assert letters[b"acme:y@example.com"]["reason"].startswith("occurred_at: required field is missing")
    assert letters[b"acme:z@example.com"]["reason"].startswith("the value is 2,097,")
    assert letters[b"nope:q@example.com"]["reason"] == "store nope does not exist"
    letter = letters[b"acme:x@example.com"]
    assert base64.b64decode(letter["original"]) == b"{not json"
    assert letter["source"]["topic"] == config.input_topic and isinstance(letter["source"]["offset"], int)
    assert letter["failed_at"].startswith("2026-11-01T08:00:00")
