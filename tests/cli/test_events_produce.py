import json
from pathlib import Path

from tests.support.kafka_io import create_topic, read_all

EVENTS = Path(__file__).resolve().parents[2] / "examples" / "events"


def test_produce_sends_every_line_keyed_by_store_and_email(cli, kafka_bootstrap, topics, monkeypatch):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    create_topic(kafka_bootstrap, topics.input, 2)
    result = cli("events", "produce", str(EVENTS / "free-gift.jsonl"), "--topic", topics.input, "--json")
    assert 0 == result.code, result.err
    assert {"sent": 4, "topic": topics.input, "skipped": []} == json.loads(result.out)
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


def mixed_file(write_file):
    good = (EVENTS / "free-gift.jsonl").read_text().splitlines()[0]
    lines = [
        good,
        good.replace('"Ann@Example.com"', '"not-an-email"'),
        good,
        "{not json",
        good.replace('"streak.milestone_reached"', '"Streak Milestone"'),
    ]
    return write_file("e.jsonl", "\n".join(lines) + "\n")


def test_every_bad_line_is_named_and_nothing_is_sent(cli, kafka_bootstrap, topics, monkeypatch, write_file):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    create_topic(kafka_bootstrap, topics.input, 1)
    path = mixed_file(write_file)
    result = cli("events", "produce", str(path), "--topic", topics.input, "--json")
    assert 1 == result.code
    named = [line.split(": ")[1] for line in result.err.splitlines() if line.startswith(f"{path}: line")]
    assert ["line 2", "line 4", "line 5"] == named
    assert (
        result.err.splitlines()[-1]
        == f"error: {path} has 3 invalid lines; nothing was sent (--skip-invalid sends the valid lines)"
    )
    document = json.loads(result.out)
    assert [2, 4, 5] == [bad["line"] for bad in document["invalid_lines"]]
    assert document["invalid_lines"][0]["reason"].startswith("customer.email:")
    assert [] == read_all(kafka_bootstrap, topics.input)


def test_skip_invalid_sends_the_valid_lines_and_reports_the_others(
    cli, kafka_bootstrap, topics, monkeypatch, write_file
):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", kafka_bootstrap)
    create_topic(kafka_bootstrap, topics.input, 1)
    path = mixed_file(write_file)
    result = cli("events", "produce", str(path), "--topic", topics.input, "--skip-invalid", "--json")
    assert 0 == result.code, result.err
    document = json.loads(result.out)
    assert (2, [2, 4, 5]) == (document["sent"], [bad["line"] for bad in document["skipped"]])
    assert 2 == len(read_all(kafka_bootstrap, topics.input))


def test_no_broker_names_the_ways_to_get_one(cli, monkeypatch):
    monkeypatch.setenv("SEGFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    result = cli("events", "produce", str(EVENTS / "free-gift.jsonl"))
    assert 1 == result.code
    assert (
        "no Kafka broker answers at 127.0.0.1:1: start one with `segflow broker` or `docker compose up`" in result.err
    )
