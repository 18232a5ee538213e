"""The console and the API against the test's real database: an in-process client for the HTTP
tests, and a real server on a free port for the browser tests."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from db.customers import CustomerFields, upsert
from segflow.infra.config import Config
from segflow.services import access, stores
from segflow.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_config(database_url: str, tmp_path) -> Config:
    # From the environment as `segflow serve` reads it (the fake Klaviyo's address included,
    # when a test asked for it first), on the test's own database.
    return replace(Config.from_env(dict(os.environ)), database_url=database_url, home=tmp_path)


@pytest.fixture
def client(live_console: LiveConsole) -> Iterator[httpx.Client]:
    """Real HTTP to `segflow serve`'s application, cookies kept, redirects not followed."""
    with httpx.Client(base_url=live_console.url, follow_redirects=False, timeout=30) as http:
        yield http


@pytest.fixture
def shop(db) -> str:
    """A pro store with customers ann, ben and cleo."""
    stores.create(db, "shop", "pro", "The Shop")
    upsert(
        db, "shop", [CustomerFields(email=f"{n}@shop.example", first_name=n.title()) for n in ("ann", "ben", "cleo")]
    )
    return "shop"


@pytest.fixture
def other(db) -> str:
    """Another pro store, with a segment of its own."""
    from segflow.services import segments

    stores.create(db, "other", "pro")
    upsert(db, "other", [CustomerFields(email="zoe@other.example")])
    segments.create(db, "other", "Other VIPs")
    segments.change_by_email(db, "other", "Other VIPs", "add", ["zoe@other.example"])
    return "other"


def token_for(db, store_id: str) -> str:
    return access.new_token(db, store_id).token


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: httpx.Client, token: str) -> str:
    """Signs the client in; returns the session's CSRF token."""
    page = client.get("/login")
    answer = client.post("/login", data={"token": token, "csrf_token": csrf_of(page.text), "next": "/segments"})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/segments").text)


class LiveConsole:
    """`segflow serve`'s application on a free port, in a thread of the test process."""

    def __init__(self, config: Config) -> None:
        import socket

        import uvicorn

        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._server = uvicorn.Server(
            uvicorn.Config(create_app(config), log_config=None, access_log=False, lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.02)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._listener.close()


@pytest.fixture
def live_console(web_config: Config) -> Iterator[LiveConsole]:
    console = LiveConsole(web_config)
    yield console
    console.close()
