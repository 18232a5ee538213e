"""`customers list` and `customers show` (SPEC §9)."""

import json

import pytest

from db.customers import CustomerFields, upsert


@pytest.fixture
def acme(cli, db):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    upsert(
        db,
        "acme",
        [CustomerFields(email=f"{n}@example.com", first_name=n.title()) for n in ("ann", "bob", "cy", "dana")],
    )
    assert 0 == cli("segments", "create", "VIP", "--store", "acme").code
    assert 0 == cli("segments", "add", "VIP", "bob@example.com", "dana@example.com", "--store", "acme").code
    return "acme"


def listed(cli, *args):
    result = cli("customers", "list", "--store", "acme", "--json", *args)
    assert 0 == result.code, result.err
    return [c["email"] for c in json.loads(result.out)]


def test_list_filters_by_segment_and_search_and_limits(cli, acme):
    assert ["ann@example.com", "bob@example.com", "cy@example.com", "dana@example.com"] == listed(cli)
    assert ["bob@example.com", "dana@example.com"] == listed(cli, "--segment", "vip")
    assert ["ann@example.com", "dana@example.com"] == listed(cli, "--search", "AN")
    assert ["dana@example.com"] == listed(cli, "--segment", "VIP", "--search", "d")
    assert ["ann@example.com", "bob@example.com"] == listed(cli, "--limit", "2")
    shape = json.loads(cli("customers", "list", "--store", "acme", "--json", "--limit", "1").out)[0]
    assert {"email", "external_id", "first_name", "last_name", "phone"} == set(shape)


def test_show_gives_the_record_memberships_and_runs(cli, db, acme):
    result = cli("customers", "show", " Bob@Example.COM ", "--store", "acme", "--json")
    assert 0 == result.code, result.err
    shown = json.loads(result.out)
    assert ("bob@example.com", "Bob") == (shown["customer"]["email"], shown["customer"]["first_name"])
    assert [("VIP", "manual")] == [(s["name"], s["added_by"]) for s in shown["segments"]]
    assert [] == shown["runs"]
    human = cli("customers", "show", "bob@example.com", "--store", "acme").out
    assert human.startswith("bob@example.com (Bob), customer since")


def test_another_stores_customer_is_not_found(cli, db, acme):
    assert 0 == cli("stores", "create", "bravo", "--plan", "pro").code
    for command in (["show", "ann@example.com"], ["explain", "ann@example.com"]):
        result = cli("customers", *command, "--store", "bravo")
        assert (1, "error: customer ann@example.com not found in store bravo\n") == (result.code, result.err)
    assert [] == json.loads(cli("customers", "list", "--store", "bravo", "--json").out)
    bad = cli("customers", "show", "not-an-email", "--store", "acme")
    assert 1 == bad.code and "is not a valid email" in bad.err
