"""Who may see and change what, through the pages and the API (SPEC §10)."""

from __future__ import annotations

from tests.web.conftest import csrf_of, sign_in, token_for


def members(db, store_id: str, segment: str) -> list[str]:
    rows = db.execute(
        "SELECT c.email FROM segment_members m JOIN segments s ON s.id = m.segment_id AND s.store_id = m.store_id "
        "JOIN customers c ON c.id = m.customer_id AND c.store_id = m.store_id "
        "WHERE m.store_id = %s AND s.name = %s ORDER BY c.email",
        (store_id, segment),
    )
    return [r[0] for r in rows]


def segment_names(db, store_id: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM segments WHERE store_id = %s ORDER BY name", (store_id,))]


def test_without_a_token_pages_redirect_to_sign_in_and_the_api_says_401(client, shop):
    page = client.get("/segments/VIP")
    assert (page.status_code, page.headers["location"]) == (303, "/login?next=/segments/VIP")
    for method, path in (("GET", "/api/v1/segments"), ("POST", "/api/v1/segments"), ("GET", "/api/v1/flows")):
        answer = client.request(method, path, json={"name": "x"})
        assert answer.status_code == 401, (method, path)
        assert answer.json()["error"].startswith("no valid access token")
    bad = client.get("/api/v1/segments", headers={"Authorization": "Bearer sf_not-a-real-token"})
    assert bad.status_code == 401
    wrong = client.post("/login", data={"token": "sf_wrong", "csrf_token": csrf_of(client.get("/login").text)})
    assert wrong.status_code == 401 and "not a live access token" in wrong.text
    assert "segflow_session" not in wrong.cookies


def test_a_token_sees_only_its_own_store(client, db, shop, other):
    token = token_for(db, shop)
    csrf = sign_in(client, token)
    for path in ("/segments/Other%20VIPs", "/customers/zoe@other.example"):
        assert client.get(path).status_code == 404, path
    refused = client.post(
        "/segments/Other%20VIPs", data={"csrf_token": csrf, "action": "delete", "confirm_name": "Other VIPs"}
    )
    assert refused.status_code == 404
    bearer = {"Authorization": f"Bearer {token}"}
    for method, path in (
        ("GET", "/api/v1/segments/Other%20VIPs"),
        ("DELETE", "/api/v1/segments/Other%20VIPs"),
        ("DELETE", "/api/v1/segments/Other%20VIPs/members/zoe@other.example"),
        ("GET", "/api/v1/customers/zoe@other.example"),
    ):
        assert client.request(method, path, headers=bearer).status_code == 404, (method, path)
    assert "Other VIPs" not in client.get("/api/v1/segments", headers=bearer).text
    assert segment_names(db, other) == ["Other VIPs"]
    assert members(db, other, "Other VIPs") == ["zoe@other.example"]


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(client, db, shop):
    sign_in(client, token_for(db, shop))
    for data in ({"name": "Sneaky"}, {"name": "Sneaky", "csrf_token": "forged"}):
        answer = client.post("/segments", data={"action": "create", **data})
        assert answer.status_code == 403
    assert segment_names(db, shop) == []


def test_an_upload_over_5_mib_is_refused_and_nothing_is_written(client, db, shop):
    csrf = sign_in(client, token_for(db, shop))
    client.post("/segments", data={"csrf_token": csrf, "action": "create", "name": "VIP"})
    big = b"email\n" + b"ann@shop.example\n" * (6 * 1024 * 1024 // 17)
    assert len(big) > 6_000_000
    page = client.post(
        "/segments/VIP", data={"csrf_token": csrf, "action": "import"}, files={"file": ("big.csv", big, "text/csv")}
    )
    assert page.status_code == 413 and "over 5 MiB" in page.text
    api = client.post(
        "/api/v1/segments/VIP/import",
        headers={"Authorization": f"Bearer {token_for(db, shop)}"},
        files={"file": ("big.csv", big, "text/csv")},
    )
    assert api.status_code == 413 and "over 5 MiB" in api.json()["error"]
    assert members(db, shop, "VIP") == []
    assert db.execute("SELECT count(*) FROM outbox_batches WHERE store_id = 'shop'").fetchone()[0] == 0


def test_a_segment_name_with_markup_is_shown_as_text(client, db, shop):
    from segflow.services import segments

    name = '<script>alert("x")</script>'
    segments.create(db, shop, name)
    sign_in(client, token_for(db, shop))
    listing = client.get("/segments").text
    assert "<script>alert" not in listing
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in listing
    page = client.get("/segments/%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E")
    assert page.status_code == 200 and "<script>alert" not in page.text


def test_a_revoked_token_signs_nobody_in_and_ends_its_sessions(client, db, shop, cli):
    token = token_for(db, shop)
    sign_in(client, token)
    assert client.get("/segments").status_code == 200
    result = cli("stores", "token", shop, "--revoke", token[:10])
    assert result.code == 0, result.err
    assert client.get("/segments").status_code == 303
    assert client.get("/api/v1/segments", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert db.execute("SELECT count(*) FROM console_sessions").fetchone()[0] == 0
    assert (
        db.execute(
            "SELECT count(*) FROM store_tokens WHERE token_hash = sha256(%s::bytea)", (token.encode(),)
        ).fetchone()[0]
        == 1
    )


def test_pages_forbid_scripts_and_framing_and_sign_in_never_leaves_the_site(client, db, shop):
    page = client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    token = token_for(db, shop)
    for elsewhere in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/x"):
        login = client.get("/login", params={"next": elsewhere})
        answer = client.post("/login", data={"token": token, "csrf_token": csrf_of(login.text), "next": elsewhere})
        assert (answer.status_code, answer.headers["location"]) == (303, "/segments"), elsewhere


def test_signed_in_pages_and_api_answers_are_never_kept_by_a_browser_or_proxy(client, db, shop):
    token = token_for(db, shop)
    sign_in(client, token)
    for path in ("/segments", "/flows", "/customers/ann@shop.example"):
        answer = client.get(path)
        assert (answer.status_code, answer.headers.get("cache-control")) == (200, "no-store"), path
    api = client.get("/api/v1/segments", headers={"Authorization": f"Bearer {token}"})
    assert (api.status_code, api.headers.get("cache-control")) == (200, "no-store")
