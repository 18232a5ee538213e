"""Any name works in a path (SPEC §10, issue 24 item 2): a segment name or an email holding `/`,
`%`, `?`, `#` or spaces reaches its own page and API routes, and a path never reaches another
segment or member."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from db.customers import CustomerFields, upsert
from segflow.services import segments
from tests.web.conftest import csrf_of, sign_in, token_for
from tests.web.test_security import members, segment_names

TRICKY = "Team/members/ann@shop.example"
ODD_EMAIL = "a/b%c@shop.example"


def step(text: str) -> str:
    return quote(text, safe="")


@pytest.fixture
def team(db, shop):
    """`Team` holding ann, and a segment whose name reads like Team's member route, holding ben."""
    upsert(db, shop, [CustomerFields(email=ODD_EMAIL, first_name="Slash")])
    for name, email in (("Team", "ann@shop.example"), (TRICKY, "ben@shop.example")):
        segments.create(db, shop, name)
        segments.change_by_email(db, shop, name, "add", [email])
    return shop


@pytest.fixture
def api(client, db, shop):
    client.headers["Authorization"] = f"Bearer {token_for(db, shop)}"
    return client


def test_a_name_that_reads_like_a_member_route_is_deleted_as_itself(api, db, team):
    answer = api.delete(f"/api/v1/segments/{step(TRICKY)}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"deleted": TRICKY, "members_removed": 1, "paused_flows": []}
    assert ["Team"] == segment_names(db, team)
    assert ["ann@shop.example"] == members(db, team, "Team")


def test_names_and_emails_with_reserved_characters_reach_their_own_api_routes(api, db, team):
    for name in ("x/members/y", "50% off?", "#1 fans", "a b", "Caf\u00e9/..", "x/import"):
        assert api.post("/api/v1/segments", json={"name": name}).status_code == 201, name
        added = api.post(f"/api/v1/segments/{step(name)}/members", json={"emails": [ODD_EMAIL]})
        assert added.json()["changed"] == [ODD_EMAIL], name
        shown = api.get(f"/api/v1/segments/{step(name)}")
        assert (shown.json()["segment"]["name"], [m["email"] for m in shown.json()["members"]]) == (name, [ODD_EMAIL])
        removed = api.delete(f"/api/v1/segments/{step(name)}/members/{step(ODD_EMAIL)}")
        assert removed.json()["changed"] == [ODD_EMAIL], name
        assert api.delete(f"/api/v1/segments/{step(name)}").json()["deleted"] == name
    assert ["Team", TRICKY] == sorted(segment_names(db, team))
    customer = api.get(f"/api/v1/customers/{step(ODD_EMAIL)}")
    assert customer.status_code == 200 and customer.json()["customer"]["email"] == ODD_EMAIL
    explained = api.get(f"/api/v1/customers/{step(ODD_EMAIL)}/explain")
    assert explained.status_code == 200 and explained.json()["email"] == ODD_EMAIL


def test_pages_link_every_name_to_its_own_page(client, db, team):
    csrf = sign_in(client, token_for(db, team))
    listing = client.get("/segments").text
    assert f'href="/segments/{step(TRICKY)}"' in listing
    page = client.get(f"/segments/{step(TRICKY)}")
    assert page.status_code == 200 and 'data-email="ben@shop.example"' in page.text
    assert 'data-email="ann@shop.example"' not in page.text
    client.post(f"/segments/{step('Team')}", data={"csrf_token": csrf, "action": "add", "emails": ODD_EMAIL})
    team_page = client.get("/segments/Team").text
    assert f'href="/customers/{step(ODD_EMAIL)}"' in team_page
    customer = client.get(f"/customers/{step(ODD_EMAIL)}")
    assert customer.status_code == 200 and "Slash" in customer.text
    removed = client.post(
        f"/segments/{step('Team')}", data={"csrf_token": csrf_of(team_page), "action": "remove", "email": ODD_EMAIL}
    )
    assert removed.status_code == 303 and removed.headers["location"] == "/segments/Team"
    assert ["ann@shop.example"] == members(db, team, "Team")
    assert ["ben@shop.example"] == members(db, team, TRICKY)


def test_a_path_step_is_never_a_segment_name(api, db, team):
    for name in (".", ".."):
        refused = api.post("/api/v1/segments", json={"name": name})
        assert refused.status_code == 422 and "is a path step, not a name" in refused.json()["error"]
    assert ["Team", TRICKY] == sorted(segment_names(db, team))
