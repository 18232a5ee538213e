"""Klaviyo import and sync against a fake Klaviyo over real HTTP (SPEC §6)."""

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from db import segments as segment_rows
from segflow.infra.config import Config
from segflow.worker import Worker
from tests.fakes.klaviyo import Group
from tests.support.klaviyo import KEY, import_list, outbox, profiles


def test_import_pages_through_a_429_and_counts_unknown_profiles(cli, db, fake, acme):
    fake.lists["Xy12Ab"] = Group("Newsletter subscribers", [*profiles(1_000), *[None] * 50])
    fake.lists["Other1"] = Group("Something else", profiles(3))
    fake.fail_at(6, status=429, retry_after=0.2)  # the lookup, then a 429 on the 5th page
    result = import_list(cli, "--external-name", "Newsletter subscribers", "--json")
    assert 0 == result.code, result.err
    assert {"added": 700, "removed": 0, "unknown_emails": 350, "profiles": 1_050, "dry_run": False} == json.loads(
        result.out
    )
    pages = [path for path, _ in fake.requests if "/profiles/" in path]
    assert len(pages) == 11 + 1  # 1,050 profiles at 100 a page, and the 429'd page again
    assert all("fields%5Bprofile%5D=email" in p or "fields[profile]=email" in p for p in pages)
    assert outbox(db) == [("segment.member_added", "klaviyo_sync")] * 700
    listed = json.loads(cli("segments", "list", "--store", "acme", "--json").out)
    assert [("Newsletter", "klaviyo", 700, True)] == [
        (s["name"], s["source"], s["members"], s["auto_sync"]) for s in listed
    ]
    assert listed[0]["last_synced_at"] is not None
    assert any(h.get("revision") and h.get("accept") == "application/vnd.api+json" for _, h in fake.requests)


def test_sync_mirrors_adds_and_removals_with_exactly_those_events(cli, db, fake, acme):
    fake.lists["L1"] = Group("News", profiles(500))
    assert 0 == import_list(cli, "--external-id", "L1").code
    before = len(outbox(db))
    fake.lists["L1"].emails = profiles(470, start=30) + profiles(50, start=500)  # 30 left, 50 joined
    result = cli("segments", "sync", "Newsletter", "--store", "acme", "--json")
    assert 0 == result.code, result.err
    assert {"added": 50, "removed": 30, "unknown_emails": 0, "profiles": 520, "dry_run": False} == json.loads(
        result.out
    )
    new = outbox(db)[before:]
    assert sorted(new) == sorted(
        [("segment.member_added", "klaviyo_sync")] * 50 + [("segment.member_removed", "klaviyo_sync")] * 30
    )
    again = cli("segments", "sync", "Newsletter", "--store", "acme", "--json")
    assert {"added": 0, "removed": 0} == {k: v for k, v in json.loads(again.out).items() if k in ("added", "removed")}


def test_a_rejected_key_changes_nothing_and_names_the_store(cli, db, fake, acme, monkeypatch):
    fake.lists["L1"] = Group("News", profiles(300))
    assert 0 == import_list(cli, "--external-id", "L1").code
    synced_at = db.execute("SELECT last_synced_at FROM segments").fetchone()[0]
    fake.lists["L1"].emails = profiles(10)
    fake.api_key = "pk_rotated"
    result = cli("segments", "sync", "Newsletter", "--store", "acme")
    assert 1 == result.code
    assert "error: the Klaviyo API key for store acme was rejected" in result.err
    assert 300 == db.execute("SELECT count(*) FROM segment_members").fetchone()[0]
    assert synced_at == db.execute("SELECT last_synced_at FROM segments").fetchone()[0]
    result = import_list(cli, "--external-id", "L1", name="Other")
    assert 1 == result.code and "was rejected" in result.err
    assert 1 == db.execute("SELECT count(*) FROM segments").fetchone()[0]


def test_the_key_never_appears_in_output_or_logs(cli, db, fake, acme):
    fake.lists["L1"] = Group("News", profiles(120))
    outputs = [
        import_list(cli, "--external-id", "L1", "--json"),
        cli("segments", "sync", "Newsletter", "--store", "acme"),
        cli("segments", "list", "--store", "acme", "--json"),
        cli("segments", "show", "Newsletter", "--store", "acme", "--json"),
        cli("stores", "list", "--json"),
    ]
    fake.api_key = "pk_other"
    outputs.append(cli("segments", "sync", "Newsletter", "--store", "acme"))
    everything = "".join(r.out + r.err for r in outputs)  # stdout, stderr and the structlog lines
    assert "klaviyo_synced" in everything  # the logs were captured too
    assert KEY not in everything
    assert KEY[-10:] not in everything


def test_name_lookup_refuses_ambiguity_and_other_sources(cli, fake, acme):
    fake.lists["A1"] = Group("VIP", profiles(2))
    fake.lists["B2"] = Group("VIP", profiles(2))
    result = import_list(cli, "--external-name", "VIP")
    assert (1, 'error: 2 Klaviyo lists are named "VIP" (A1, B2); choose one by its id (--external-id)\n') == (
        result.code,
        result.err,
    )
    result = import_list(cli, "--external-name", "Nope")
    assert 1 == result.code and 'no Klaviyo list is named "Nope"' in result.err
    assert 0 == cli("segments", "create", "Newsletter", "--store", "acme").code
    result = import_list(cli, "--external-id", "A1")
    assert 1 == result.code and "already exists in store acme (source manual)" in result.err
    assert 2 == import_list(cli).code  # neither --external-id nor --external-name: a usage error


def test_daily_sync_runs_from_the_worker_with_an_injected_clock(
    cli, db, fake, acme, database_url, kafka_bootstrap, topics, tmp_path
):
    fake.lists["L1"] = Group("News", profiles(200))
    assert 0 == import_list(cli, "--external-id", "L1").code
    legacy = segment_rows.insert_external(
        db, "acme", "Old list", ("list", "L1", "News"), auto_sync=False, now=datetime(2024, 12, 1, tzinfo=UTC)
    )
    assert legacy is not None and legacy.auto_sync is False  # created before 2025-01-23: manual by default
    fake.lists["L1"].emails = profiles(150)
    config = replace(
        Config.from_env(), database_url=database_url, home=tmp_path, kafka_bootstrap=kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}", input_topic=topics.input, output_topic=topics.output, dlq_topic=topics.dlq,
    )  # fmt: skip
    # Not due yet an hour later...
    Worker(config, database_url, clock=lambda: datetime.now(UTC) + timedelta(hours=1), stop_when_idle=0.5).run()
    assert (
        200
        == db.execute(
            "SELECT count(*) FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE s.name = 'Newsletter'"
        ).fetchone()[0]
    )
    # ...due a day later.
    later = datetime.now(UTC) + timedelta(hours=25)
    Worker(config, database_url, clock=lambda: later, stop_when_idle=0.5).run()
    rows = dict(db.execute("SELECT name, last_synced_at FROM segments").fetchall())
    assert rows["Newsletter"] == later
    assert rows["Old list"] is None
    assert (
        150
        == db.execute(
            "SELECT count(*) FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE s.name = 'Newsletter'"
        ).fetchone()[0]
    )
