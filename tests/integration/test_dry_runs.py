"""Dry runs (SPEC §9): `flows deploy`, `segments import`, `segments sync` and `flows backfill`
with --dry-run report what the real command then does, and write and send nothing: every
table's rows and every topic's end offsets are the same after them. (Commands send to Kafka
only through the outbox, which the worker's relay publishes; an outbox row left behind would
show in the table digest.)"""

import json
from datetime import UTC, datetime

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from tests.fakes.klaviyo import Group
from tests.support.examples import EXAMPLES
from tests.support.klaviyo import import_list, profiles

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def tables(db):
    """Every table's row count and a digest of its rows (a changed timestamp shows too)."""
    names = [name for (name,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return {
        name: db.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t"
        ).fetchone()
        for name in names
    }


def end_offsets(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in admin.list_topics()
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        return consumer.end_offsets(partitions)
    finally:
        consumer.close()
        admin.close()


def run(cli, *args):
    result = cli(*args, "--json")
    assert 0 == result.code, result.err
    return json.loads(result.out)


def test_dry_runs_change_no_table_and_no_topic_and_say_what_the_real_command_does(
    cli, db, config, fake, acme, write_file
):
    fake.lists["L1"] = Group("News", profiles(40))
    assert 0 == import_list(cli, "--external-id", "L1").code
    fake.lists["L1"].emails = profiles(30, start=10) + profiles(5, start=600)  # 10 leave, 5 join
    lapsed = [f"p{i}@example.com" for i in range(100, 130)]
    for segment in ("Lapsed", "Big Spenders"):
        assert 0 == cli("segments", "create", segment, "--store", "acme").code
        assert 0 == cli("segments", "add", segment, *lapsed, "--store", "acme").code
    flow = json.loads((EXAMPLES / "flows" / "big-spender-credits.json").read_text())
    assert 0 == cli("flows", "deploy", str(write_file("v1.json", json.dumps(flow)))).code
    flow["trigger"] = {"event": "order.processed"}  # so a backfill has something to do
    flow["nodes"].append(
        {
            "id": "mark",
            "type": "segment",
            "operation": "add",
            "segment": "Marked",
            "create_if_missing": True,
            "next": None,
        }
    )
    flow["nodes"][-2]["next"] = "mark"
    v2 = write_file("v2.json", json.dumps(flow))
    csv = write_file(
        "m.csv", "email\np1@example.com\nP2@example.com\nnobody@example.com\np1@example.com\nnot-an-email\n"
    )
    before = (tables(db), end_offsets(config.kafka_bootstrap))

    deploy = run(cli, "flows", "deploy", str(v2), "--dry-run")
    imported = run(cli, "segments", "import", "Newcomers", str(csv), "--store", "acme", "--create", "--dry-run")
    synced = run(cli, "segments", "sync", "Newsletter", "--store", "acme", "--dry-run")
    assert 0 == cli("flows", "deploy", str(v2), "--dry-run").code  # and the human form
    assert 0 == cli("segments", "import", "Newcomers", str(csv), "--store", "acme", "--create", "--dry-run").code
    assert 0 == cli("segments", "sync", "Newsletter", "--store", "acme", "--dry-run").code
    assert before == (tables(db), end_offsets(config.kafka_bootstrap))

    assert [
        {
            "id": flow["id"],
            "store_id": "acme",
            "version": 2,
            "created": True,
            "segments_created": ["Marked"],
            "dry_run": True,
        }
    ] == deploy
    assert {"added": 5, "removed": 10, "unknown_emails": 0, "profiles": 35, "dry_run": True} == synced
    assert imported["dry_run"] and imported["created"] and 2 == imported["added"]
    assert (
        1 == imported["unknown_emails"] and 1 == imported["duplicates_in_file"] and 1 == len(imported["invalid_rows"])
    )

    # The real commands do what the dry runs said.
    assert [{**deploy[0], "dry_run": False}] == run(cli, "flows", "deploy", str(v2))
    assert {**imported, "dry_run": False} == run(
        cli, "segments", "import", "Newcomers", str(csv), "--store", "acme", "--create"
    )
    assert {**synced, "dry_run": False} == run(cli, "segments", "sync", "Newsletter", "--store", "acme")

    # A backfill's dry run too (on the new version, now deployed).
    before = (tables(db), end_offsets(config.kafka_bootstrap))
    would = run(cli, "flows", "backfill", flow["id"], "--store", "acme", "--segment", "Lapsed", "--dry-run")
    assert before == (tables(db), end_offsets(config.kafka_bootstrap))
    assert {"entered": 30, "skipped": 0, "dry_run": True} == would
    assert {**would, "dry_run": False} == run(
        cli, "flows", "backfill", flow["id"], "--store", "acme", "--segment", "Lapsed"
    )
