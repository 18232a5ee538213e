"""`segflow dlq list` and `dlq replay` (SPEC §9) through the real worker: events for a store that
did not exist yet are dead-lettered, the store is created, the letters replayed, and the events
applied exactly once however often they are replayed."""

import json
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

from segflow import sample
from tests.support.examples import run_worker, store
from tests.support.kafka_io import produce

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
GHOSTS = 30


def run(cli, *args):
    result = cli(*args, "--json")
    assert 0 == result.code, result.err
    return json.loads(result.out)


def input_end(config):
    consumer = KafkaConsumer(bootstrap_servers=config.kafka_bootstrap)
    try:
        partitions = [TopicPartition(config.input_topic, p) for p in consumer.partitions_for_topic(config.input_topic)]
        return consumer.end_offsets(partitions)
    finally:
        consumer.close()


def test_replayed_dead_letters_are_applied_exactly_once(cli, db, config, monkeypatch):
    for name, value in (
        ("SEGFLOW_KAFKA_BOOTSTRAP", config.kafka_bootstrap),
        ("SEGFLOW_INPUT_TOPIC", config.input_topic),
        ("SEGFLOW_DLQ_TOPIC", config.dlq_topic),
    ):
        monkeypatch.setenv(name, value)
    store(db)
    customers = sample.emails(10, "ghost.example")
    ghost_events = sample.events("ghost", customers, GHOSTS, seed=9, prefix="g")
    messages = [(f"ghost:{e['customer']['email'].lower()}".encode(), json.dumps(e).encode()) for e in ghost_events]
    messages.insert(10, (b"acme:x@example.com", b"not json"))
    produce(config.kafka_bootstrap, config.input_topic, messages)
    summary = run_worker(config, T0)
    assert (0, GHOSTS + 1) == (summary.events, summary.dead_lettered)

    letters = run(cli, "dlq", "list", "--limit", "1000")
    assert GHOSTS + 1 == len(letters)
    assert sorted(m[0].decode() for m in messages) == sorted(x["key"] for x in letters)
    ghost = [x for x in letters if x["reason"] == "store ghost does not exist"]
    assert GHOSTS == len(ghost) and all(x["replayable"] for x in ghost)
    [junk] = [x for x in letters if x not in ghost]
    assert not junk["replayable"] and junk["why_not_replayable"].startswith("not a valid event: the value is not JSON")
    assert {config.input_topic} == {x["source"]["topic"] for x in letters}
    newest = run(cli, "dlq", "list", "--reason", "GHOST", "--limit", "5")
    assert [x["offset"] for x in ghost[-5:]] == [x["offset"] for x in newest]

    # Not until the store exists; a dry run says what it would send and sends nothing.
    assert 0 == cli("stores", "create", "ghost", "--plan", "pro").code
    ends = input_end(config)
    dry = run(cli, "dlq", "replay", "--all", "--reason", "ghost", "--dry-run")
    assert {"replayed": GHOSTS, "skipped": 0, "dry_run": True, "why_skipped": {}} == dry
    assert ends == input_end(config)
    assert 0 == db.execute("SELECT count(*) FROM dlq_replays").fetchone()[0]

    assert {"replayed": GHOSTS, "skipped": 0, "dry_run": False, "why_skipped": {}} == run(
        cli, "dlq", "replay", "--all", "--reason", "ghost"
    )
    summary = run_worker(config, T0)
    assert (GHOSTS, 0, 0) == (summary.events, summary.dead_lettered, summary.duplicates_skipped)
    applied = "SELECT count(*) FROM processed_events WHERE store_id = 'ghost'"
    assert GHOSTS == db.execute(applied).fetchone()[0]

    # Replaying again sends nothing: not with --all, not by offset.
    ends = input_end(config)
    again = run(cli, "dlq", "replay", "--all", "--reason", "ghost")
    assert {"replayed": 0, "skipped": GHOSTS, "dry_run": False, "why_skipped": {"replayed before": GHOSTS}} == again
    assert 0 == run(cli, "dlq", "replay", "--offset", str(ghost[3]["offset"]))["replayed"]
    assert ends == input_end(config)

    # Sent again anyway (the record of it lost): the worker's duplicate check skips every one.
    db.execute("DELETE FROM dlq_replays")
    assert GHOSTS == run(cli, "dlq", "replay", "--all", "--reason", "ghost")["replayed"]
    summary = run_worker(config, T0)
    assert (0, GHOSTS) == (summary.events, summary.duplicates_skipped)
    assert GHOSTS == db.execute(applied).fetchone()[0]

    # --all leaves out what can never succeed and what was replayed, and says so in the list;
    # so running it again and again adds nothing to either topic.
    ends = input_end(config)
    for _ in range(2):
        every = run(cli, "dlq", "replay", "--all")
        assert {"replayed before": GHOSTS, "not a valid event": 1} == every["why_skipped"]
        assert (0, GHOSTS + 1) == (every["replayed"], every["skipped"])
    assert ends == input_end(config)
    listed = run(cli, "dlq", "list", "--limit", "1000")
    assert GHOSTS + 1 == len(listed) and not any(x["replayable"] for x in listed)
    assert GHOSTS == sum(x["why_not_replayable"] == "replayed before" for x in listed)
    # Asked for by name, it is sent, and fails again as it did.
    forced = run(cli, "dlq", "replay", "--offset", str(junk["offset"]), "--include-invalid")
    assert 1 == forced["replayed"]
    summary = run_worker(config, T0)
    assert (0, 1) == (summary.events, summary.dead_lettered)

    missing = cli("dlq", "replay", "--offset", "999")
    assert 0 != missing.code
    assert f"no dead letter at offset 999 of topic {config.dlq_topic}; nothing was sent" in missing.err
    assert "give --offset N (one or more) or --all" in cli("dlq", "replay").err
