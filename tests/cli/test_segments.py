import json

import pytest
from psycopg.types.json import Jsonb

from db.customers import CustomerFields, upsert


def seed(db, store, emails):
    upsert(db, store, [CustomerFields(email=e) for e in emails])


def members(db, store, segment):
    rows = db.execute(
        "SELECT c.email, m.added_by FROM segment_members m JOIN segments s ON s.id = m.segment_id "
        "JOIN customers c ON c.id = m.customer_id WHERE m.store_id = %s AND s.name = %s ORDER BY c.email",
        (store, segment),
    ).fetchall()
    return [tuple(r) for r in rows]


def outbox(db, store):
    rows = db.execute(
        "SELECT event_type, payload->'customer'->>'email', payload->'data'->>'segment' FROM outbox "
        "WHERE store_id = %s ORDER BY id, position",
        (store,),
    ).fetchall()
    return [tuple(r) for r in rows]


def deploy_flow(db, store, flow_id, nodes, status="active"):
    """A version as `flows deploy` stores it, of a flow made of `nodes`."""
    definition = {
        "id": flow_id, "store_id": store, "name": flow_id, "trigger": {"event": "order.processed"},
        "start": nodes[0]["id"], "nodes": nodes,
    }  # fmt: skip
    db.execute(
        "INSERT INTO flows (store_id, id, status, latest_version) VALUES (%s, %s, %s, 1)", (store, flow_id, status)
    )
    db.execute(
        "INSERT INTO flow_versions (store_id, flow_id, version, definition, content_hash) VALUES (%s, %s, 1, %s, 'h')",
        (store, flow_id, Jsonb(definition)),
    )


@pytest.fixture
def acme(cli, db):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    seed(db, "acme", ["ann@example.com", "bo@example.com", "cy@example.com"])
    return "acme"


def test_create_list_and_show(cli, acme):
    assert 0 == cli("segments", "create", " VIP ", "--store", acme).code
    assert 0 == cli("segments", "add", "vip", "Ann@Example.com", "--store", acme).code
    listed = json.loads(cli("segments", "list", "--store", acme, "--json").out)
    assert [("VIP", "manual", 1, True)] == [
        (s["name"], s["source"], s["members"], "auto_sync" in s and "last_synced_at" in s) for s in listed
    ]
    shown = json.loads(cli("segments", "show", "VIP", "--store", acme, "--json").out)
    assert ("VIP", 1) == (shown["segment"]["name"], shown["segment"]["members"])
    assert [("ann@example.com", "manual")] == [(m["email"], m["added_by"]) for m in shown["members"]]
    assert {"email", "first_name", "last_name", "phone", "added_at", "added_by"} == set(shown["members"][0])
    assert "VIP" in cli("segments", "list", "--store", acme).out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("  ", "a segment name cannot be empty"),
        ("x" * 101, "the limit is 100"),
        ("a\tb", "contains a control character (U+0009)"),
        ("VIP\u200b", "contains an invisible formatting character (zero-width or bidirectional) (U+200B)"),
        ("\u202eVIP", "contains an invisible formatting character (zero-width or bidirectional) (U+202E)"),
        ("a\x85b", "contains a control character (U+0085)"),
    ],
)
def test_bad_names_are_refused(cli, db, acme, name, message):
    result = cli("segments", "create", name, "--store", acme)
    assert 1 == result.code
    assert message in result.err
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]


def test_names_are_unique_case_insensitively(cli, acme):
    cli("segments", "create", "Big Spenders", "--store", acme)
    result = cli("segments", "create", "big SPENDERS", "--store", acme)
    assert (1, 'error: segment "big SPENDERS" already exists in store acme\n') == (result.code, result.err)


def test_add_and_remove_report_changed_unchanged_unknown(cli, db, acme):
    cli("segments", "create", "VIP", "--store", acme)
    first = json.loads(
        cli("segments", "add", "VIP", "ann@example.com", "bo@example.com", "--store", acme, "--json").out
    )
    assert {"changed": ["ann@example.com", "bo@example.com"], "unchanged": [], "unknown": []} == first
    again = cli("segments", "add", "VIP", "ANN@example.com", "zed@example.com", "--store", acme)
    assert 0 == again.code
    assert "ann@example.com: already a member, nothing to do" in again.out
    assert "zed@example.com: no such customer in store acme" in again.out
    removed = json.loads(
        cli("segments", "remove", "VIP", "bo@example.com", "cy@example.com", "--store", acme, "--json").out
    )
    assert {"changed": ["bo@example.com"], "unchanged": ["cy@example.com"], "unknown": []} == removed
    assert [("ann@example.com", "manual")] == members(db, acme, "VIP")


def test_every_real_change_has_exactly_one_outbox_row_and_noops_none(cli, db, acme):
    cli("segments", "create", "VIP", "--store", acme)
    cli("segments", "add", "VIP", "ann@example.com", "bo@example.com", "--store", acme)
    cli("segments", "add", "VIP", "ann@example.com", "nobody@example.com", "--store", acme)  # no-op + unknown
    cli("segments", "remove", "VIP", "bo@example.com", "--store", acme)
    cli("segments", "remove", "VIP", "bo@example.com", "--store", acme)  # no-op
    assert [
        ("segment.member_added", "ann@example.com", "VIP"),
        ("segment.member_added", "bo@example.com", "VIP"),
        ("segment.member_removed", "bo@example.com", "VIP"),
    ] == outbox(db, acme)
    payload = db.execute("SELECT payload FROM outbox ORDER BY id, position LIMIT 1").fetchone()[0]
    assert {"event_id", "type", "store_id", "occurred_at", "customer", "cause", "data"} == set(payload)
    assert "manual" == payload["cause"]["operation"]
    assert "acme:ann@example.com" == db.execute("SELECT key FROM outbox ORDER BY id, position LIMIT 1").fetchone()[0]


def test_a_malformed_email_changes_nothing(cli, db, acme):
    cli("segments", "create", "VIP", "--store", acme)
    result = cli("segments", "add", "VIP", "ann@example.com", "not-an-email", "--store", acme)
    assert 1 == result.code
    assert (
        "'not-an-email' is not a valid email: an email address must have an @-sign; nothing was changed" in result.err
    )
    assert [] == members(db, acme, "VIP")
    assert [] == outbox(db, acme)


def test_unknown_segment_is_named(cli, acme):
    result = cli("segments", "add", "Nope", "ann@example.com", "--store", acme)
    assert (1, 'error: segment "Nope" not found in store acme\n') == (result.code, result.err)


def test_template(cli, tmp_path):
    assert "email,first_name,last_name,phone\n" == cli("segments", "template").out
    target = tmp_path / "t.csv"
    assert 0 == cli("segments", "template", "-o", str(target)).code
    assert "email,first_name,last_name,phone\n" == target.read_text()


def test_delete_removes_memberships_and_emits_removals(cli, db, acme):
    cli("segments", "create", "VIP", "--store", acme)
    cli("segments", "add", "VIP", "ann@example.com", "bo@example.com", "--store", acme)
    result = cli("segments", "delete", "vip", "--store", acme, "--yes", "--json")
    assert 0 == result.code, result.err
    assert {"deleted": "VIP", "members_removed": 2, "paused_flows": []} == json.loads(result.out)
    assert 0 == db.execute("SELECT count(*) FROM segment_members").fetchone()[0]
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert 2 == sum(1 for t, _e, _s in outbox(db, acme) if t == "segment.member_removed")


def test_delete_is_refused_while_an_active_flow_uses_the_segment(cli, db, acme):
    cli("segments", "create", "VIP", "--store", acme)
    cli("segments", "add", "VIP", "ann@example.com", "--store", acme)
    rule = {"id": "c", "type": "condition", "if": {"not": {"in_segment": "vip"}}, "then": None, "else": None}
    deploy_flow(db, acme, "welcome", [rule])
    tag = {"id": "s", "type": "segment", "operation": "add", "segment": "VIP", "next": None}
    deploy_flow(db, acme, "old", [tag], status="paused")
    result = cli("segments", "delete", "VIP", "--store", acme, "--yes")
    assert 1 == result.code
    assert 'segment "VIP" is used by active flow(s) welcome; pause them first or use --force' in result.err
    assert [("ann@example.com", "manual")] == members(db, acme, "VIP")
    forced = cli("segments", "delete", "VIP", "--store", acme, "--yes", "--force")
    assert 0 == forced.code
    assert "paused flow welcome" in forced.out
    assert [("old", "paused"), ("welcome", "paused")] == [
        tuple(r) for r in db.execute("SELECT id, status FROM flows ORDER BY id")
    ]


def test_a_segment_named_in_an_action_is_no_reference(cli, db, acme):
    cli("segments", "create", "VIP", "--store", acme)
    action = {"id": "a", "type": "action", "action": "notify", "params": {"segment": "VIP"}, "next": None}
    deploy_flow(db, acme, "notify", [action])
    result = cli("segments", "delete", "VIP", "--store", acme, "--yes", "--json")
    assert 0 == result.code, result.err
    assert [] == json.loads(result.out)["paused_flows"]
    assert "active" == db.execute("SELECT status FROM flows WHERE id = 'notify'").fetchone()[0]


def test_standard_plan_store_can_do_nothing_with_segments(cli, db, write_file):
    cli("stores", "create", "basic", "--plan", "standard")
    seed(db, "basic", ["ann@example.com"])
    path = write_file("s.csv", "email\nann@example.com\n")
    for args in (
        ["segments", "create", "VIP"],
        ["segments", "list"],
        ["segments", "show", "VIP"],
        ["segments", "add", "VIP", "ann@example.com"],
        ["segments", "remove", "VIP", "ann@example.com"],
        ["segments", "import", "VIP", str(path)],
        ["segments", "delete", "VIP", "--yes"],
    ):
        result = cli(*args, "--store", "basic")
        assert 1 == result.code, args
        assert "Segments are available to Pro or Custom plans" in result.err
    assert 0 == db.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert 0 == db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_store_b_cannot_see_or_touch_store_a_segments(cli, db, acme, write_file):
    cli("segments", "create", "VIP", "--store", acme)
    cli("segments", "add", "VIP", "ann@example.com", "--store", acme)
    cli("stores", "create", "bravo", "--plan", "custom")
    seed(db, "bravo", ["ann@example.com", "bo@example.com"])
    assert [] == json.loads(cli("segments", "list", "--store", "bravo", "--json").out)
    assert 1 == cli("segments", "show", "VIP", "--store", "bravo").code
    assert 1 == cli("segments", "add", "VIP", "bo@example.com", "--store", "bravo").code
    assert 1 == cli("segments", "delete", "VIP", "--store", "bravo", "--yes").code
    # Same name, same emails: bravo's import makes bravo's own segment and leaves acme's alone.
    path = write_file("s.csv", "email\nann@example.com\nbo@example.com\n")
    report = json.loads(cli("segments", "import", "VIP", str(path), "--store", "bravo", "--create", "--json").out)
    assert (2, 0) == (report["added"], report["already_members"])
    assert [("ann@example.com", "manual")] == members(db, acme, "VIP")
    assert 1 == json.loads(cli("segments", "show", "VIP", "--store", acme, "--json").out)["segment"]["members"]
    assert 2 == json.loads(cli("segments", "show", "VIP", "--store", "bravo", "--json").out)["segment"]["members"]
