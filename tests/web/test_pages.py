"""The console's pages over real HTTP, and `segflow stores token` / `segflow serve` as a user
runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx

from db.customers import CustomerFields, upsert
from segflow.services import segments, stores
from tests.web.conftest import csrf_of, sign_in, token_for


def test_members_are_paged_and_searchable(client, db, shop):
    emails = [f"m{i:03d}@shop.example" for i in range(60)]
    upsert(db, shop, [CustomerFields(email=e) for e in emails])
    segments.create(db, shop, "Many")
    segments.change_by_email(db, shop, "Many", "add", emails)
    sign_in(client, token_for(db, shop))
    first = client.get("/segments/Many").text
    assert first.count('class="member"') == 50
    assert "m049@shop.example" in first and "m050@shop.example" not in first
    second = client.get("/segments/Many", params={"after": "m049@shop.example"}).text
    assert second.count('class="member"') == 10 and "m059@shop.example" in second
    found = client.get("/segments/Many", params={"q": "M05"}).text
    assert found.count('class="member"') == 10


def test_a_standard_plan_store_sees_the_plan_message(client, db):
    stores.create(db, "basic", "standard")
    sign_in(client, token_for(db, "basic"))
    page = client.get("/segments").text
    assert "Segments are available to Pro or Custom plans; store basic is on standard" in page
    assert 'id="create"' not in page


def test_an_error_shows_the_cli_message(client, db, shop, cli):
    csrf = sign_in(client, token_for(db, shop))
    client.post("/segments", data={"csrf_token": csrf, "action": "create", "name": "VIP"})
    client.post("/segments", data={"csrf_token": csrf, "action": "create", "name": "vip"})
    page = client.get("/segments").text
    cli_said = cli("segments", "create", "vip", "--store", shop).err.removeprefix("error: ").strip()
    assert cli_said and cli_said in page.replace("&#34;", '"')


def test_stores_token_prints_once_and_revokes(cli, db, shop, client):
    made = cli("stores", "token", shop, "--json")
    assert made.code == 0
    document = json.loads(made.out)
    assert set(document) == {"store", "token"} and document["store"] == shop
    token = document["token"]
    assert client.get("/api/v1/segments", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    stored = db.execute("SELECT prefix, token_hash FROM store_tokens WHERE store_id = %s", (shop,)).fetchall()
    assert [prefix for prefix, _ in stored] == [token[:12]]
    assert token.encode() not in bytes(stored[0][1])
    short = cli("stores", "token", shop, "--revoke", token[:5])
    assert (short.code, short.err.strip()) == (
        1, f"error: token prefix {token[:5]!a} is too short: give at least its first 8 characters"
    )  # fmt: skip
    unknown = cli("stores", "token", shop, "--revoke", "sf_zzzzzzzz")
    assert unknown.code == 1 and "no live token of store shop starts with" in unknown.err
    assert cli("stores", "token", shop, "--revoke", token[:9]).code == 0
    assert client.get("/api/v1/segments", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_segflow_serve_serves_until_ctrl_c(database_url, db, shop, tmp_path):
    env = {**os.environ, "SEGFLOW_DATABASE_URL": database_url, "SEGFLOW_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "segflow", "serve", "--port", "0", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        login = httpx.get(f"{url}/login")
        assert login.status_code == 200 and csrf_of(login.text)
        assert httpx.get(f"{url}/api/v1/openapi.json").json()["info"]["title"] == "segflow API"
    finally:
        server.send_signal(signal.SIGINT)
        _out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert "console at http://127.0.0.1:" in err


def test_klaviyo_import_by_id_sync_now_and_auto_sync(fake, client, db, shop):
    from segflow.services import klaviyo
    from tests.fakes.klaviyo import Group
    from tests.support.klaviyo import KEY
    from tests.support.worker_process import wait_for

    klaviyo.set_key(db, shop, KEY)
    fake.lists["Xy12Ab"] = Group("Readers", ["ann@shop.example", "ben@shop.example"])
    csrf = sign_in(client, token_for(db, shop))
    form = {"csrf_token": csrf, "action": "import_external", "name": "Readers", "kind": "list", "by": "id"}
    answer = client.post("/segments", data={**form, "external": "Xy12Ab"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/segments/Readers")
    assert "importing Klaviyo list into" in client.get("/segments/Readers").text.replace("&#34;", '"')
    wait_for(lambda: members_of(db, "Readers") == ["ann@shop.example", "ben@shop.example"], 20, "the import")
    page = client.get("/segments/Readers").text.replace("&#34;", '"')
    assert 'mirrors <span id="mirrors">Klaviyo list "Readers" (id Xy12Ab)</span>' in page
    assert 'id="sync-state" class="muted">Synced' in page

    fake.lists["Xy12Ab"].emails = ["ben@shop.example", "cleo@shop.example"]
    client.post("/segments/Readers", data={"csrf_token": csrf, "action": "sync"})
    assert 'sync of "Readers" queued' in client.get("/segments/Readers").text.replace("&#34;", '"')
    wait_for(lambda: members_of(db, "Readers") == ["ben@shop.example", "cleo@shop.example"], 20, "the sync")

    assert auto_sync(db, "Readers") is True
    client.post("/segments/Readers", data={"csrf_token": csrf, "action": "auto_sync", "auto_sync": "off"})
    assert auto_sync(db, "Readers") is False
    assert "Turn daily auto-sync on" in client.get("/segments/Readers").text


def members_of(db, segment: str) -> list[str]:
    from tests.web.test_security import members

    return members(db, "shop", segment)


def auto_sync(db, segment: str) -> bool:
    row = db.execute("SELECT auto_sync FROM segments WHERE store_id = 'shop' AND name = %s", (segment,)).fetchone()
    return bool(row[0])


def test_serve_on_a_port_in_use_or_a_foreign_host_says_so_in_one_line(cli, shop):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        busy = cli("serve", "--port", str(port))
    assert (busy.code, busy.err) == (1, f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    foreign = cli("serve", "--host", "nosuch.invalid", "--port", "0")
    assert foreign.code == 1
    assert foreign.err.startswith("error: cannot listen on nosuch.invalid:0: ") and foreign.err.count("\n") == 1
