"""Every route of the console, from the application's own route table (issue 24): signed in to
one store, asking for another store's segment, flow or customer, a NUL, or an over-long name,
the answer is 401/403/404/422 in the shape of its side (`{"error"}` from the API, the console's
error page elsewhere), and nothing in any store changes. A route added later is walked too, so
it cannot skip the store check or answer 500."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.routing import BaseRoute, Mount

from segflow.web.app import create_app
from segflow.web.uploads import site_of
from tests.web.conftest import sign_in, token_for
from tests.web.test_api import deploy, vip_flow

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
FORM_ACTIONS = ("add", "remove", "import", "sync", "auto_sync", "delete", "pause", "resume", "archive", "create")


def routes(app: FastAPI, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path template) of every route, mounted applications' included."""
    return _routes(app.routes, prefix)


def _routes(table: Sequence[BaseRoute], prefix: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in table:
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            found += routes(route.app, prefix + route.path)
        elif isinstance(route, APIRoute):
            found += [(method, prefix + route.path) for method in sorted(route.methods or ())]
        elif isinstance(included := getattr(route, "original_router", None), APIRouter):
            # FastAPI 0.16x keeps an included router whole in the table, its routes inside it.
            found += _routes(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
    return found


def state(db) -> list[Any]:
    """What a request could change, in every store."""
    queries = (
        "SELECT store_id, name, source, auto_sync, next_sync_at FROM segments ORDER BY 1, 2",
        "SELECT store_id, segment_id, customer_id FROM segment_members ORDER BY 1, 2, 3",
        "SELECT store_id, id, status, latest_version FROM flows ORDER BY 1, 2",
        "SELECT store_id, email, first_name FROM customers ORDER BY 1, 2",
        "SELECT count(*) FROM outbox_batches",
        "SELECT count(*) FROM live_runs",
    )
    return [db.execute(query).fetchall() for query in queries]


@pytest.fixture
def victim(db, other):
    raw = vip_flow(other) | {"id": "other-flow"}
    raw["nodes"][0]["segment"] = "Other VIPs"
    deploy(db, other, raw)
    return {"name": "Other VIPs", "email": "zoe@other.example", "flow_id": "other-flow"}


def test_every_route_refuses_another_store_a_nul_and_an_over_long_name(client, db, web_config, shop, victim):
    table = routes(site_of(create_app(web_config)))
    assert len([path for _m, path in table if PARAM.search(path)]) >= 15, table  # the table was read
    token = token_for(db, shop)
    csrf = sign_in(client, token)
    before = state(db)
    variants = {
        "another store's": victim,
        "NUL": dict.fromkeys(victim, "\x00"),
        "over-long": dict.fromkeys(victim, "x" * 5000),
    }
    answers = []
    for method, template in table:
        if not PARAM.search(template):
            continue
        for variant, values in variants.items():
            path = _filled(template, values)
            for request in _requests(client, method, path, token, csrf):
                answer = client.send(request)
                answers.append((variant, method, template, request.url.params.get("action"), answer.status_code))
                assert answer.status_code in (401, 403, 404, 422), answers[-1]
                _assert_shape(template, answer)
    assert state(db) == before
    assert {"another store's", "NUL", "over-long"} == {a[0] for a in answers}


def test_a_nul_in_the_query_of_any_route_is_a_422(client, db, web_config, shop):
    token = token_for(db, shop)
    sign_in(client, token)
    before = state(db)
    for method, template in routes(site_of(create_app(web_config))):
        path = PARAM.sub("x", template)
        answer = client.request(method, f"{path}?q=%00", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 422, (method, template, answer.status_code)
        _assert_shape(template, answer)
    assert state(db) == before


def _filled(template: str, values: dict[str, str]) -> str:
    """The route's path with each parameter one encoded step of its value."""
    return PARAM.sub(lambda found: quote(values[found.group(1)], safe=""), template)


UPLOAD = {"file": ("a.csv", b"email\nzoe@other.example\n")}


def _form(csrf: str, action: str) -> dict[str, str]:
    """A form any page's post might read, each field naming the other store's things."""
    return {
        "csrf_token": csrf, "action": action, "emails": "zoe@other.example", "email": "zoe@other.example",
        "confirm_name": "Other VIPs", "name": "Other VIPs", "auto_sync": "off",
    }  # fmt: skip


def _requests(build: httpx.Client, method: str, path: str, token: str, csrf: str) -> list[httpx.Request]:
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST" and path.endswith("/import"):
            return [build.build_request(method, path, headers=headers, files=UPLOAD)]
        body = {"name": "Other VIPs", "emails": ["zoe@other.example"]} if method == "POST" else None
        return [build.build_request(method, path, headers=headers, json=body)]
    if method != "POST":
        return [build.build_request(method, path)]
    return [
        build.build_request(method, path, params={"action": action}, data=_form(csrf, action), files=UPLOAD)
        for action in FORM_ACTIONS
    ]


def _assert_shape(template: str, answer: httpx.Response) -> None:
    if template.startswith("/api/"):
        body = answer.json()
        assert list(body) == ["error"] and body["error"], (template, body)
    else:
        assert answer.headers["content-type"].startswith("text/html"), template
        assert 'id="notice"' in answer.text and "Sign out" in answer.text, (template, answer.text[:300])
