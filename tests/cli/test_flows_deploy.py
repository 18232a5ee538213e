import json
from pathlib import Path

import pytest

from db.customers import CustomerFields, upsert

FLOWS = Path(__file__).resolve().parents[2] / "examples" / "flows"


@pytest.fixture
def acme(cli):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    return "acme"


def deploy(cli, *paths):
    result = cli("flows", "deploy", "--json", *map(str, paths))
    assert 0 == result.code, result.err
    return json.loads(result.out)


def edited(write_file, name, change):
    raw = json.loads((FLOWS / f"{name}.json").read_text())
    change(raw)
    return write_file(f"{name}.json", json.dumps(raw))


def test_changed_content_is_a_new_version_and_runs_stay_on_theirs(cli, db, acme, write_file):
    assert [
        {
            "id": "free-gift",
            "store_id": "acme",
            "version": 1,
            "created": True,
            "segments_created": ["Free Gift"],
            "dry_run": False,
        }
    ] == deploy(cli, FLOWS / "free-gift.json")
    upsert(db, "acme", [CustomerFields(email="ann@example.com")])
    db.execute(
        "INSERT INTO live_runs (store_id, customer_id, flow_id, flow_version, node_id, status, entered_at, updated_at, key) "
        "SELECT 'acme', id, 'free-gift', 1, 'gift', 'waiting', now(), now(), 'run_1' FROM customers WHERE email = 'ann@example.com'"
    )
    changed = edited(write_file, "free-gift", lambda raw: raw["nodes"][0]["params"].update(sku="GIFT-02"))
    assert [
        {"id": "free-gift", "store_id": "acme", "version": 2, "created": True, "segments_created": [], "dry_run": False}
    ] == deploy(cli, changed)
    assert ("free-gift", 1) == tuple(
        db.execute("SELECT flow_id, flow_version FROM runs WHERE key = 'run_1'").fetchone()
    )
    v1 = json.loads(cli("flows", "show", "free-gift", "--store", "acme", "--version", "1", "--json").out)
    v2 = json.loads(cli("flows", "show", "free-gift", "--store", "acme", "--json").out)
    assert (1, "GIFT-01") == (v1["version"], v1["definition"]["nodes"][0]["params"]["sku"])
    assert (2, "GIFT-02") == (v2["version"], v2["definition"]["nodes"][0]["params"]["sku"])
    listed = json.loads(cli("flows", "list", "--store", "acme", "--json").out)
    assert [
        {"id": "free-gift", "version": 2, "status": "active", "trigger": "streak.milestone_reached", "active_runs": 1}
    ] == listed


def test_identical_redeploy_is_a_no_op_even_reformatted(cli, db, acme, write_file):
    deploy(cli, FLOWS / "free-gift.json")
    reordered = write_file(
        "fg.json", json.dumps(dict(reversed(json.loads((FLOWS / "free-gift.json").read_text()).items())), indent=4)
    )
    assert [
        {
            "id": "free-gift",
            "store_id": "acme",
            "version": 1,
            "created": False,
            "segments_created": [],
            "dry_run": False,
        }
    ] == deploy(cli, reordered)
    result = cli("flows", "deploy", str(FLOWS / "free-gift.json"))
    assert "free-gift@1 in store acme is already this content; nothing deployed" in result.out
    assert 1 == db.execute("SELECT count(*) FROM flow_versions").fetchone()[0]


def test_create_if_missing_creates_the_segment_at_deploy(cli, db, acme):
    deploy(cli, FLOWS / "free-gift.json")
    assert [("Free Gift", "flow")] == [
        tuple(r) for r in db.execute("SELECT name, source FROM segments WHERE store_id = 'acme'")
    ]


def test_store_aware_errors_refuse_the_whole_deploy(cli, db, acme):
    result = cli("flows", "deploy", str(FLOWS / "free-gift.json"), str(FLOWS / "big-spender-credits.json"))
    assert 1 == result.code
    assert (
        'error: flow big-spender-credits: node is-big: segment "Big Spenders" does not exist in store acme\n'
        == result.err
    )
    assert 0 == db.execute("SELECT count(*) FROM flows").fetchone()[0]
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]  # free-gift's segment was not left behind


def test_validate_with_store_lists_every_store_error(cli, acme, write_file):
    missing = edited(
        write_file,
        "big-spender-credits",
        lambda raw: (
            raw["nodes"].append({"id": "x", "type": "segment", "operation": "remove", "segment": "Gone", "next": "tag"})
            or raw["nodes"][1].update(next="x")
        ),
    )
    result = cli("flows", "validate", "--store", "acme", "--json", str(missing))
    assert 1 == result.code
    errors = json.loads(result.out)[0]["errors"]
    assert [
        ("is-big", 'segment "Big Spenders" does not exist in store acme'),
        ("x", 'segment "Gone" does not exist in store acme'),
    ] == [(e["node"], e["message"]) for e in errors]
    assert 0 == cli("flows", "validate", str(missing)).code  # structure alone is fine


def test_standard_plan_and_unknown_store(cli, db, write_file):
    cli("stores", "create", "basic", "--plan", "standard")
    other = edited(write_file, "free-gift", lambda raw: raw.update(store_id="basic"))
    result = cli("flows", "deploy", str(other))
    assert (
        1,
        "error: flow free-gift: node tag: uses segments, which are available to Pro or Custom plans; store basic is on standard\n",
    ) == (result.code, result.err)
    nowhere = edited(write_file, "free-gift", lambda raw: raw.update(store_id="nowhere"))
    assert "error: flow free-gift: flow: store nowhere does not exist\n" == cli("flows", "deploy", str(nowhere)).err
    assert 0 == db.execute("SELECT count(*) FROM flows").fetchone()[0]


def test_pause_resume_archive(cli, db, acme):
    deploy(cli, FLOWS / "free-gift.json")
    upsert(db, "acme", [CustomerFields(email="ann@example.com")])
    db.execute(
        "INSERT INTO live_runs (store_id, customer_id, flow_id, flow_version, node_id, status, wake_at, entered_at, updated_at, key) "
        "SELECT 'acme', id, 'free-gift', 1, 'gift', 'waiting', now(), now(), now(), 'run_1' FROM customers"
    )
    assert "flow free-gift in store acme is paused\n" == cli("flows", "pause", "free-gift", "--store", "acme").out
    assert "flow free-gift in store acme is active\n" == cli("flows", "resume", "free-gift", "--store", "acme").out
    assert (
        "flow free-gift in store acme is archived; 1 in-flight runs exited\n"
        == cli("flows", "archive", "free-gift", "--store", "acme").out
    )
    assert ("exited", "flow archived") == tuple(db.execute("SELECT status, reason FROM runs").fetchone())
    payload = db.execute("SELECT payload FROM outbox WHERE event_type = 'flow.exited'").fetchone()[0]
    assert (payload["customer"]["email"], payload["cause"]["operation"]) == ("ann@example.com", "archive")
    listed = json.loads(cli("flows", "list", "--store", "acme", "--json").out)
    assert [("free-gift", "archived", 0)] == [(f["id"], f["status"], f["active_runs"]) for f in listed]
    result = cli("flows", "pause", "nope", "--store", "acme")
    assert (1, "error: flow nope not found in store acme\n") == (result.code, result.err)


def test_resume_runs_the_checks_deploy_runs(cli, db, acme):
    cli("segments", "create", "Big Spenders", "--store", "acme")
    deploy(cli, FLOWS / "big-spender-credits.json")
    forced = cli("segments", "delete", "Big Spenders", "--store", "acme", "--yes", "--force", "--json")
    assert ["big-spender-credits"] == json.loads(forced.out)["paused_flows"]
    result = cli("flows", "resume", "big-spender-credits", "--store", "acme", "--json")
    assert 1 == result.code
    assert (
        'error: flow big-spender-credits: node is-big: segment "Big Spenders" does not exist in store acme\n'
        == result.err
    )
    assert [{"node": "is-big", "message": 'segment "Big Spenders" does not exist in store acme'}] == json.loads(
        result.out
    )["errors"]
    assert "paused" == db.execute("SELECT status FROM flows WHERE id = 'big-spender-credits'").fetchone()[0]
    cli("segments", "create", "Big Spenders", "--store", "acme")
    assert 0 == cli("flows", "resume", "big-spender-credits", "--store", "acme").code
