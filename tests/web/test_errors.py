"""Errors in the console's own shapes (SPEC §10, issue 24 item 5): every API answer that is not
2xx is `{"error"}`, every page error is the console's page with its navigation; bad input in a
path or query is a 404 or 422, never a 500; no message shows a server path; a body over 5 MiB is
a 413 with or without a Content-Length."""

from __future__ import annotations

import tempfile

import httpx
import pytest

from segflow.services import segments
from tests.web.conftest import csrf_of, sign_in, token_for
from tests.web.test_security import members


@pytest.fixture
def signed(client, db, shop):
    """The client signed in to shop (pages) with a bearer token for the API; shop has VIP."""
    segments.create(db, shop, "VIP")
    token = token_for(db, shop)
    sign_in(client, token)
    return {"Authorization": f"Bearer {token}"}


def api_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:300])
    body = answer.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"], body
    return str(body["error"])


def page_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="notice"' in answer.text and "Sign out" in answer.text and 'href="/flows"' in answer.text
    return answer.text


def test_the_api_answers_every_refusal_as_an_error_object(client, signed):
    api = "/api/v1"
    assert api_error(client.get(f"{api}/nope", headers=signed), 404).startswith("no API route")
    assert "PUT is not allowed" in api_error(client.put(f"{api}/segments", headers=signed), 405)
    api_error(client.get(f"{api}/segments/%00", headers=signed), 404)
    api_error(client.get(f"{api}/customers/%00/explain", headers=signed), 404)
    assert "NUL" in api_error(client.get(f"{api}/customers/ann@shop.example/explain?flow=%00", headers=signed), 422)
    assert "version" in api_error(client.get(f"{api}/flows/x?version=abc", headers=signed), 422)
    broken = client.post(
        f"{api}/segments/VIP/import", headers={**signed, "Content-Type": "multipart/form-data; boundary=zz"},
        content=b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nemail\n",
    )  # fmt: skip
    assert api_error(broken, 422).startswith("malformed request")


def test_pages_answer_bad_paths_and_queries_with_the_console_page(client, signed):
    for path, status in (
        ("/segments/%00", 404), ("/flows/%00", 404), ("/customers/%00", 404), ("/nope", 404),
        ("/segments/VIP?q=%00", 422), ("/segments?q=%00", 422), ("/flows/x?version=abc", 422),
    ):  # fmt: skip
        text = page_error(client.get(path), status)
        assert '"detail"' not in text, path
    assert "does not take a PUT" in page_error(client.put("/segments"), 405)


def test_upload_names_the_server_cannot_store_are_only_names(client, db, shop, signed):
    csrf = csrf_of(client.get("/segments/VIP").text)
    for filename in ("..", "x" * 300 + ".csv", "../../etc/passwd"):
        answer = client.post(
            "/api/v1/segments/VIP/import", headers=signed, files={"file": (filename, b"email\nann@shop.example\n")}
        )
        assert answer.status_code == 200 and answer.json()["added"] in (0, 1), (filename, answer.text)
    assert members(db, shop, "VIP") == ["ann@shop.example"]
    bad = client.post(
        "/segments/VIP", data={"csrf_token": csrf, "action": "import"},
        files={"file": ("members.csv", b"mail\nann@shop.example\n", "text/csv")}, follow_redirects=True,
    )  # fmt: skip
    assert "members.csv: line 1: no email column" in bad.text
    assert "segflow-upload" not in bad.text and tempfile.gettempdir() not in bad.text
    refused = client.post(
        "/api/v1/segments/VIP/import", headers=signed, files={"file": ("members.csv", b"mail\nann@shop.example\n")}
    )
    assert api_error(refused, 422) == "members.csv: line 1: no email column in the header (found: mail)"


def test_a_body_over_5_mib_sent_without_a_length_is_a_413(client, db, shop, signed):
    boundary = b"zz"

    def chunks():
        yield b'--zz\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\nemail\n'
        for _ in range(6 * 16):
            yield b"ann@shop.example\n" * (65536 // 17)
        yield b"\r\n--zz--\r\n"

    headers = {**signed, "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}
    answer = client.post("/api/v1/segments/VIP/import", headers=headers, content=chunks())
    assert "over 5 MiB" in api_error(answer, 413)
    csrf = csrf_of(client.get("/segments/VIP").text)
    page = client.post(
        "/segments/VIP", headers={"Content-Type": "multipart/form-data; boundary=zz"},
        content=(part for part in [b"--zz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                                   + csrf.encode() + b"\r\n", *chunks()]),
    )  # fmt: skip
    assert "over 5 MiB" in page_error(page, 413)
    assert members(db, shop, "VIP") == []


def test_the_openapi_document_lists_each_error_answer(client):
    document = client.get("/api/v1/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "404", "405", "422", "500"} <= codes, (method, path, codes)
            assert operation["responses"]["500"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }
