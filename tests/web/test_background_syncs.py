"""The console never waits on Klaviyo (SPEC §10, issue 24 items 1 and 4): "Sync now" and an
import from Klaviyo are queued and run in the background, one per store at a time; the segment
shows its sync state; a Klaviyo segment syncing on its own refuses changes by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from db import segments as segment_rows
from db.customers import CustomerFields, upsert
from segflow.services import klaviyo, stores
from tests.fakes.klaviyo import Group
from tests.support.klaviyo import KEY
from tests.support.worker_process import wait_for
from tests.web.conftest import csrf_of, sign_in, token_for
from tests.web.test_security import members

READERS = ["ann@shop.example", "ben@shop.example"]


@pytest.fixture
def keyed(fake, db, shop):
    klaviyo.set_key(db, shop, KEY)
    fake.lists["Xy12Ab"] = Group("Readers", list(READERS))
    return shop


def bearer(db, store_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(db, store_id)}"}


def states(db, store_id: str) -> dict[str | None, int]:
    rows = db.execute("SELECT sync_state, count(*) FROM segments WHERE store_id = %s GROUP BY 1", (store_id,))
    return {state: count for state, count in rows}


def test_forty_syncs_held_by_klaviyo_hold_up_no_request(fake, keyed, client, db):
    """Klaviyo holds every request; 40 clicks on Sync now each answer 202 at once, one sync of
    the store runs at a time, and another store's requests are answered meanwhile."""
    now = datetime.now(UTC)
    for n in range(40):
        segment_rows.insert_external(db, keyed, f"List {n:02}", ("list", "Xy12Ab", "Readers"), True, now)
    release = threading.Event()
    in_flight: list[int] = []

    def hold(_path: str) -> None:
        in_flight.append(1)
        release.wait(60)

    fake.on_request = hold
    stores.create(db, "calm", "pro")
    calm = bearer(db, "calm")
    try:
        shop = bearer(db, keyed)
        for n in range(40):
            answer = client.post(f"/api/v1/segments/List%20{n:02}/sync", headers=shop)
            assert answer.status_code == 202, answer.text
            assert answer.json()["state"] in ("queued", "running") and answer.json()["segment"] == f"List {n:02}"
        wait_for(lambda: states(db, keyed).get("running") == 1, 10, "one sync of the store to start")
        for _ in range(5):
            assert client.get("/api/v1/segments", headers=calm, timeout=10).status_code == 200
            assert client.get("/login", timeout=10).status_code == 200
        assert {"running": 1, "queued": 39} == states(db, keyed)
        assert len(in_flight) == 1  # one store's syncs take one slot
    finally:
        fake.on_request = lambda _path: None
        release.set()
    wait_for(lambda: states(db, keyed) == {None: 40}, 60, "every queued sync to run")
    assert members(db, keyed, "List 07") == READERS


def test_an_import_is_queued_and_its_state_shown(fake, keyed, client, db):
    headers = bearer(db, keyed)
    body = {"name": "Readers", "klaviyo": {"type": "list", "external_name": "Readers"}}
    answer = client.post("/api/v1/segments", headers=headers, json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["mirrors"] == 'Klaviyo list "Readers" (its id not yet found)'
    wait_for(lambda: members(db, keyed, "Readers") == READERS, 20, "the import")
    state = client.post("/api/v1/segments/Readers/sync", headers=headers).json()
    assert state["mirrors"] == 'Klaviyo list "Readers" (id Xy12Ab)'
    wait_for(lambda: states(db, keyed) == {None: 1}, 20, "the sync")

    del fake.lists["Xy12Ab"]  # the list is gone from Klaviyo: the next sync fails, and says why
    client.post("/api/v1/segments/Readers/sync", headers=headers)
    wait_for(lambda: states(db, keyed) == {"failed": 1}, 20, "the sync to fail")
    shown = client.post("/api/v1/segments/Readers/sync", headers=headers).json()
    assert shown["state"] in ("queued", "running", "failed")
    wait_for(lambda: states(db, keyed) == {"failed": 1}, 20, "the sync to fail again")
    sign_in(client, token_for(db, keyed))
    page = client.get("/segments/Readers").text.replace("&#34;", '"')
    assert "Last sync failed: Klaviyo list Xy12Ab was not found in the Klaviyo account of store shop" in page
    assert members(db, keyed, "Readers") == READERS  # a failed sync changes no membership


def test_a_synced_segment_refuses_changes_by_hand_until_auto_sync_is_off(fake, keyed, web_config, client, db):
    upsert(db, keyed, [CustomerFields(email="cleo@shop.example")])
    klaviyo.import_external(db, web_config, keyed, "Readers", "list", external_id="Xy12Ab")
    headers = bearer(db, keyed)
    why = (
        'segment "Readers" is synced from Klaviyo list "Readers" (id Xy12Ab): turn auto-sync off to edit it by hand; '
        "nothing was changed"
    )
    added = client.post("/api/v1/segments/Readers/members", headers=headers, json={"emails": ["cleo@shop.example"]})
    removed = client.delete("/api/v1/segments/Readers/members/ann%40shop.example", headers=headers)
    imported = client.post(
        "/api/v1/segments/Readers/import", headers=headers, files={"file": ("a.csv", b"email\ncleo@shop.example\n")}
    )
    for answer in (added, removed, imported):
        assert (answer.status_code, answer.json()) == (409, {"error": why})
    csrf = sign_in(client, token_for(db, keyed))
    page = client.get("/segments/Readers").text.replace("&#34;", '"')
    assert 'id="one-source"' in page and 'id="add"' not in page and "Remove ann@shop.example" not in page
    form = client.post("/segments/Readers", data={"csrf_token": csrf, "action": "add", "emails": "cleo@shop.example"})
    assert form.status_code == 303
    assert why in client.get("/segments/Readers").text.replace("&#34;", '"')
    assert members(db, keyed, "Readers") == READERS

    client.post("/segments/Readers", data={"csrf_token": csrf, "action": "auto_sync", "auto_sync": "off"})
    page = client.get("/segments/Readers").text
    client.post("/segments/Readers", data={"csrf_token": csrf_of(page), "action": "add", "emails": "cleo@shop.example"})
    assert members(db, keyed, "Readers") == [*READERS, "cleo@shop.example"]
