"""The JSON API (SPEC §10): the CLI's --json shapes, its messages, and the status codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.validate import validate
from segflow.services import flows as flow_service
from tests.web.conftest import token_for
from tests.web.test_security import members

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(client, db, shop):
    client.headers["Authorization"] = f"Bearer {token_for(db, shop)}"
    return client


def deploy(db, store_id: str, raw: dict[str, Any]) -> None:
    flow, errors = validate(raw)
    assert flow is not None and not errors, errors
    flow_service.deploy(db, [(raw, flow)])


def vip_flow(store_id: str) -> dict[str, Any]:
    return {
        "id": "vip-welcome", "store_id": store_id, "name": "VIP welcome", "trigger": {"event": "order.processed"},
        "start": "add", "nodes": [{"id": "add", "type": "segment", "operation": "add", "segment": "VIP", "next": None}],
    }  # fmt: skip


def test_segments_members_and_imports_answer_the_cli_shapes(api, db, cli, shop, write_file):
    created = api.post("/api/v1/segments", json={"name": "VIP"})
    assert created.status_code == 201 and created.json()["name"] == "VIP"
    assert api.post("/api/v1/segments", json={"name": "vip"}).status_code == 409  # unique, any case
    added = api.post("/api/v1/segments/VIP/members", json={"emails": ["Ann@Shop.example", "nobody@shop.example"]})
    assert added.json() == {"changed": ["ann@shop.example"], "unchanged": [], "unknown": ["nobody@shop.example"]}
    csv = "email\nben@shop.example\nBEN@shop.example\nghost@shop.example\nnot-an-email\n"
    imported = api.post("/api/v1/segments/VIP/import", files={"file": ("vip.csv", csv.encode(), "text/csv")})
    assert imported.status_code == 200
    report = imported.json()
    assert (report["added"], report["duplicates_in_file"], report["unknown_emails"], len(report["invalid_rows"])) == (
        1, 1, 1, 1,
    )  # fmt: skip
    # The same file through the CLI's --json gives the same document (the second time: all members).
    again = cli("segments", "import", "VIP", str(write_file("vip.csv", csv)), "--store", shop, "--json")
    assert json.loads(again.out) == {**report, "added": 0, "already_members": 1}
    shown = api.get("/api/v1/segments/VIP").json()
    assert sorted(m["email"] for m in shown["members"]) == ["ann@shop.example", "ben@shop.example"]
    assert shown["segment"]["members"] == 2
    removed = api.delete("/api/v1/segments/VIP/members/ann@shop.example").json()
    assert removed["changed"] == ["ann@shop.example"]
    assert members(db, shop, "VIP") == ["ben@shop.example"]


def test_rules_refuse_with_409_and_the_cli_message(api, db, shop):
    api.post("/api/v1/segments", json={"name": "VIP"})
    deploy(db, shop, vip_flow(shop))
    refused = api.delete("/api/v1/segments/VIP")
    assert refused.status_code == 409
    assert refused.json()["error"] == ('segment "VIP" is used by active flow(s) vip-welcome; pause them first')
    assert api.post("/api/v1/flows/vip-welcome/pause").json()["status"] == "paused"
    gone = api.delete("/api/v1/segments/VIP")
    assert gone.json() == {"deleted": "VIP", "members_removed": 0, "paused_flows": []}
    assert api.get("/api/v1/segments/VIP").status_code == 404


def test_a_standard_plan_store_gets_the_plan_message(client, db):
    from segflow.services import stores

    stores.create(db, "basic", "standard")
    client.headers["Authorization"] = f"Bearer {token_for(db, 'basic')}"
    answer = client.get("/api/v1/segments")
    assert answer.status_code == 409
    assert "Pro or Custom" in answer.json()["error"]


def test_malformed_bodies_are_422_naming_the_field(api):
    bodies: list[dict[str, Any]] = [{}, {"name": 5}, {"emails": []}]
    for body in bodies:
        path = "/api/v1/segments" if "emails" not in body else "/api/v1/segments/VIP/members"
        answer = api.post(path, json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"].startswith("malformed request: ")
    assert api.post("/api/v1/segments", json={"name": ""}).status_code == 422  # the service's own rule


def test_flows_and_customers(api, db, shop):
    api.post("/api/v1/segments", json={"name": "VIP"})
    deploy(db, shop, vip_flow(shop))
    listed = api.get("/api/v1/flows").json()
    assert [(f["id"], f["version"], f["status"]) for f in listed] == [("vip-welcome", 1, "active")]
    assert api.get("/api/v1/flows/vip-welcome").json()["definition"]["start"] == "add"
    assert api.post("/api/v1/flows/vip-welcome/archive").json()["status"] == "archived"
    assert api.get("/api/v1/flows/nope").status_code == 404
    customer = api.get("/api/v1/customers/ann@shop.example").json()
    assert customer["customer"]["first_name"] == "Ann"
    assert api.get("/api/v1/customers/ann@shop.example/explain").json()["email"] == "ann@shop.example"


def test_the_openapi_document_lists_every_operation(client):
    document = client.get("/api/v1/openapi.json").json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations == {
        ("GET", "/segments"), ("POST", "/segments"), ("GET", "/segments/{name}"), ("DELETE", "/segments/{name}"),
        ("POST", "/segments/{name}/members"), ("DELETE", "/segments/{name}/members/{email}"),
        ("POST", "/segments/{name}/import"), ("POST", "/segments/{name}/sync"), ("GET", "/flows"), ("GET", "/flows/{flow_id}"),
        ("POST", "/flows/{flow_id}/pause"), ("POST", "/flows/{flow_id}/resume"), ("POST", "/flows/{flow_id}/archive"),
        ("GET", "/customers/{email}"), ("GET", "/customers/{email}/explain"),
    }  # fmt: skip
    assert "HTTPBearer" in document["components"]["securitySchemes"]
