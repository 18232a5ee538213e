"""`flows backfill` (SPEC §9): a segment's current members enter an active flow as if its trigger
fired now, in pages, honouring `reentry`; a second backfill enters nobody twice."""

import json
from collections import Counter
from datetime import UTC, datetime

from db.customers import CustomerFields, upsert
from schemas.flow import Flow
from segflow.services import flows as flow_service
from tests.support.examples import deploy, run_worker, store
from tests.support.kafka_io import produce_events, read_all

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
MEMBERS = 2_500  # three pages of flow_service.BACKFILL_PAGE


def welcome(reentry):
    return Flow.model_validate(
        {
            "id": f"welcome-{reentry.replace('_', '-')}", "store_id": "acme", "name": "Welcome back",
            "trigger": {"event": "order.processed"}, "reentry": reentry, "start": "gift",
            "nodes": [
                {"id": "gift", "type": "action", "action": "free_gift", "params": {}, "next": "tag"},
                {"id": "tag", "type": "segment", "operation": "add", "segment": "Welcomed",
                 "create_if_missing": True, "next": None},
            ],
        }
    )  # fmt: skip


def backfill(cli, flow_id, *extra):
    result = cli("flows", "backfill", flow_id, "--store", "acme", "--segment", "Lapsed", "--json", *extra)
    assert 0 == result.code, result.err
    return json.loads(result.out)


def test_backfill_enters_each_member_once_in_pages_and_honours_reentry(cli, db, config, monkeypatch):
    monkeypatch.setattr(flow_service, "BACKFILL_PAGE", 1_000)
    store(db)
    emails = [f"c{i:05d}@example.com" for i in range(MEMBERS)]
    upsert(db, "acme", [CustomerFields(email=e) for e in [*emails, "not-lapsed@example.com"]])
    assert 0 == cli("segments", "create", "Lapsed", "--store", "acme").code
    result = cli("segments", "add", "Lapsed", *emails, "--store", "acme")
    assert 0 == result.code, result.err
    deploy(db, welcome("always"), welcome("once"))
    # c00000 went through welcome-once before: `once` keeps them out of the backfill.
    produce_events(
        config.kafka_bootstrap, config.input_topic,
        [{"event_id": "e1", "type": "order.processed", "store_id": "acme", "occurred_at": T0.isoformat(),
          "customer": {"email": emails[0]}, "data": {}}],
    )  # fmt: skip
    run_worker(config, T0)

    assert {"entered": MEMBERS, "skipped": 0, "dry_run": False} == backfill(cli, "welcome-always")
    assert {"entered": MEMBERS - 1, "skipped": 1, "dry_run": False} == backfill(cli, "welcome-once")
    # Again: nobody enters twice, even where reentry is `always`.
    assert {"entered": 0, "skipped": MEMBERS, "dry_run": False} == backfill(cli, "welcome-always")
    assert {"entered": 0, "skipped": MEMBERS, "dry_run": False} == backfill(cli, "welcome-once")

    runs = dict(db.execute("SELECT flow_id, count(*) FROM runs WHERE store_id = 'acme' GROUP BY flow_id").fetchall())
    assert {"welcome-always": MEMBERS + 1, "welcome-once": MEMBERS} == runs  # +1: c00000's event
    run_worker(config, T0)  # the relay sends what the backfills queued
    entered: Counter[tuple[str, str | None]] = Counter()
    for record in read_all(config.kafka_bootstrap, config.output_topic):
        event = json.loads(record.value)
        if event["type"] == "flow.entered":
            entered[(event["cause"]["flow_id"], event["cause"].get("operation"))] += 1
    assert {
        ("welcome-always", "backfill"): MEMBERS,
        ("welcome-always", None): 1,
        ("welcome-once", "backfill"): MEMBERS - 1,
        ("welcome-once", None): 1,
    } == entered
    assert (
        MEMBERS
        == db.execute(
            "SELECT count(*) FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE s.name = 'Welcomed'"
        ).fetchone()[0]
    )
    steps = json.loads(cli("customers", "explain", emails[7], "--store", "acme", "--json").out)["steps"]
    assert [("backfill", "welcome-always"), ("backfill", "welcome-once")] == [
        (s["cause"]["operation"], s["flow_id"]) for s in steps if s["flow_id"]
    ]


def test_backfill_refuses_a_flow_that_is_not_active_and_an_unknown_segment(cli, db):
    store(db)
    assert 0 == cli("segments", "create", "Lapsed", "--store", "acme").code
    deploy(db, welcome("always"))
    assert 0 == cli("flows", "pause", "welcome-always", "--store", "acme").code
    paused = cli("flows", "backfill", "welcome-always", "--store", "acme", "--segment", "Lapsed")
    assert 0 != paused.code
    assert "flow welcome-always is paused; only an active flow takes a backfill (resume it first)" in paused.err
    assert 0 == cli("flows", "resume", "welcome-always", "--store", "acme").code
    unknown = cli("flows", "backfill", "welcome-always", "--store", "acme", "--segment", "Lapsd")
    assert 0 != unknown.code and 'segment "Lapsd" not found in store acme' in unknown.err
    assert 0 == db.execute("SELECT count(*) FROM runs").fetchone()[0]
