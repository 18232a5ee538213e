"""Upgrades keep deployed flows running (SPEC §5): a version deployed under an older segflow,
whose rules were looser than today's, runs as it was deployed; the versions today's rules refuse
are listed; and one store's unreadable data never stops another store's waits."""

import json
import threading
from datetime import UTC, datetime, timedelta

from db import Conn
from schemas.flow import Flow
from segflow.worker import Worker
from tests.faults.toggle import STORE, check, events, prepare
from tests.support.examples import deploy, run_worker, store
from tests.support.kafka_io import produce_events, read_all
from tests.support.worker_process import start_worker

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
# What the validation before 6626c8c accepted: `exists` with a non-boolean (the engine reads
# its truth), here a rule that always holds for these events, so the toggle's outcome is unchanged.
OLDER_RULE = {"all": [{"in_segment": "K"}, {"field": "data.total_price", "op": "exists", "value": "yes"}]}


def write_as_an_older_segflow(db: Conn, store_id: str, flow_id: str, node_id: str, key: str, value: object) -> None:
    """Change one field of a stored version in place, as an older release would have stored it."""
    row = db.execute(
        "SELECT definition FROM flow_versions WHERE store_id = %s AND flow_id = %s AND version = 1", (store_id, flow_id)
    ).fetchone()
    assert row is not None
    definition = row[0]
    for node in definition["nodes"]:
        if node["id"] == node_id:
            node[key] = value
    db.execute(
        "UPDATE flow_versions SET definition = %s WHERE store_id = %s AND flow_id = %s AND version = 1",
        (json.dumps(definition), store_id, flow_id),
    )


def test_a_version_deployed_under_looser_rules_runs_as_deployed(db, database_url, kafka_bootstrap, topics, tmp_path):
    env = prepare(db, database_url, kafka_bootstrap, topics)
    write_as_an_older_segflow(db, STORE, "toggle", "in-k", "if", OLDER_RULE)
    sent = events(100)
    produce_events(kafka_bootstrap, topics.input, sent)

    worker = start_worker(env, tmp_path / "worker.log", idle_s=2.0)
    out, _ = worker.communicate(timeout=120)

    assert 0 == worker.returncode, (tmp_path / "worker.log").read_text()[-3000:]
    assert {"events": 100, "dead_lettered": 0} == {
        k: v for k, v in json.loads(out).items() if k in ("events", "dead_lettered")
    }
    check(db, sent, kafka_bootstrap, topics.output)
    assert [] == read_all(kafka_bootstrap, topics.dlq)


def test_versions_todays_rules_refuse_are_listed(db, database_url, kafka_bootstrap, topics, cli):
    prepare(db, database_url, kafka_bootstrap, topics)
    write_as_an_older_segflow(db, STORE, "toggle", "in-k", "if", OLDER_RULE)

    listed = cli("flows", "validate", "--deployed", "--store", STORE)
    as_json = cli("flows", "validate", "--deployed", "--store", STORE, "--json")
    migrated = cli("db", "migrate", "--json")

    assert 1 == listed.code
    assert "toggle@1: node in-k: if.all[1].value: exists takes true or false\n" == listed.out
    assert [("toggle@1", "toggle", 1, False, "in-k")] == [
        (r["file"], r["flow"], r["version"], r["ok"], e["node"]) for r in json.loads(as_json.out) for e in r["errors"]
    ]
    assert 0 == migrated.code
    [refused] = json.loads(migrated.out)["refused_versions"]
    assert (STORE, "toggle", 1) == (refused["store_id"], refused["flow"], refused["version"])
    assert "exists takes true or false" in refused["why"]
    db.execute("UPDATE flow_versions SET definition = jsonb_set(definition, '{nodes,0,if}', %s)",
               (json.dumps({"in_segment": "K"}),))  # fmt: skip
    fixed = cli("flows", "validate", "--deployed", "--store", STORE)
    assert (0, "every version deployed in store acme passes today's rules\n") == (fixed.code, fixed.out)


WAIT_THEN_TAG = {
    "id": "later", "name": "wait, then tag", "trigger": {"event": "order.processed"}, "start": "pause",
    "nodes": [
        {"id": "pause", "type": "wait", "duration": "PT1H", "next": "tag"},
        {"id": "tag", "type": "segment", "operation": "add", "segment": "Later", "create_if_missing": True,
         "next": None},
    ],
}  # fmt: skip


def good_and_broken_stores(db, config, at) -> None:
    """Stores `good` and `broken`, each with WAIT_THEN_TAG deployed and 20 orders at `at` on the
    input topic (c0..c19@example.com); the caller breaks `broken`'s flow when it needs to."""
    for store_id in ("good", "broken"):
        store(db, store_id=store_id)
        deploy(db, Flow.model_validate({**WAIT_THEN_TAG, "store_id": store_id}))
    sent = [
        {"event_id": f"{s}{i}", "type": "order.processed", "store_id": s, "occurred_at": at.isoformat(),
         "customer": {"email": f"c{i}@example.com"}}
        for s in ("good", "broken") for i in range(20)
    ]  # fmt: skip
    produce_events(config.kafka_bootstrap, config.input_topic, sent)


def test_one_stores_unreadable_flow_stops_no_other_stores_waits(db, config):
    good_and_broken_stores(db, config, T0)
    run_worker(config, T0)
    assert 40 == db.execute("SELECT count(*) FROM runs WHERE status = 'waiting'").fetchone()[0]
    # Data no segflow can read: a node type that does not exist (a newer release's, or damage).
    write_as_an_older_segflow(db, "broken", "later", "tag", "type", "teleport")

    later = Worker(config, config.database_url, clock=lambda: T0 + timedelta(hours=2), stop_when_idle=1.0)
    deadline = threading.Timer(60, later.stop)  # a worker that spins on the broken store never idles
    deadline.start()
    try:
        later.run()
    finally:
        deadline.cancel()

    waiting = dict(db.execute("SELECT store_id, count(*) FROM runs WHERE status = 'waiting' GROUP BY store_id"))
    completed = dict(db.execute("SELECT store_id, count(*) FROM runs WHERE status = 'completed' GROUP BY store_id"))
    assert ({"broken": 20}, {"good": 20}) == (waiting, completed)
