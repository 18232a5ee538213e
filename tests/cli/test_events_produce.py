import json
from pathlib import Path

from tests.support.kafka_io import create_topic, read_all

EVENTS = Path(__file__).resolve().parents[2] / "examples" / "events"


def test_produce_sends_every_line_keyed_by_store_and_email(cli, kafka_bootstrap, topics, monkeypatch):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    create_topic(kafka_bootstrap, topics.input, 2)
    result = cli("events", "produce", str(EVENTS / "free-gift.jsonl"), "--topic", topics.input, "--json")
    assert 0 == result.code, result.err
    assert {"sent": 4, "topic": topics.input} == json.loads(result.out)
    records = read_all(kafka_bootstrap, topics.input)
    sent = sorted((r.key, json.loads(r.value)["event_id"]) for r in records)
    # The key is normalised (Ann@Example.com -> ann@example.com); the value is the line as written.
    assert sent == [
        (b"acme:ann@example.com", "fg-1"),
        (b"acme:ann@example.com", "fg-3"),
        (b"acme:bob@example.com", "fg-2"),
        (b"acme:bob@example.com", "fg-2"),
    ]
    assert any(json.loads(r.value)["customer"]["email"] == "Ann@Example.com" for r in records)


def test_a_bad_line_sends_nothing(cli, kafka_bootstrap, topics, monkeypatch, write_file):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    create_topic(kafka_bootstrap, topics.input, 1)
    good = (EVENTS / "free-gift.jsonl").read_text().splitlines()[0]
    path = write_file("e.jsonl", good + "\n" + good.replace('"Ann@Example.com"', '"not-an-email"') + "\n")
    result = cli("events", "produce", str(path), "--topic", topics.input)
    assert 1 == result.code
    assert "e.jsonl: line 2: customer.email:" in result.err
    assert [] == read_all(kafka_bootstrap, topics.input)


def test_no_broker_names_the_ways_to_get_one(cli, monkeypatch):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    result = cli("events", "produce", str(EVENTS / "free-gift.jsonl"))
    assert 1 == result.code
    assert (
        "no Kafka broker answers at 127.0.0.1:1: start one with `segflow broker` or `docker compose up`" in result.err
    )
