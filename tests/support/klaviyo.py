"""A store with a Klaviyo key and the fake Klaviyo it talks to, for the Klaviyo tests."""

import io
import sys

import pytest

from db.customers import CustomerFields, upsert
from tests.fakes.klaviyo import FakeKlaviyo

KEY = "pk_live_a1b2c3d4e5f6SECRET"


@pytest.fixture
def fake(monkeypatch):
    server = FakeKlaviyo(api_key=KEY).start()
    monkeypatch.setenv("SEGFLOW_KLAVIYO_BASE_URL", server.base_url)
    yield server
    server.stop()


@pytest.fixture
def acme(cli, db, monkeypatch):
    assert 0 == cli("stores", "create", "acme", "--plan", "pro").code
    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY + "\n"))
    result = cli("stores", "set-klaviyo-key", "acme")
    assert (0, "saved the Klaviyo API key for store acme\n") == (result.code, result.out)
    upsert(db, "acme", [CustomerFields(email=f"p{i}@example.com") for i in range(700)])
    return "acme"


def profiles(n, start=0):
    return [f"P{i}@Example.com " for i in range(start, start + n)]


def outbox(db):
    rows = db.execute(
        "SELECT event_type, payload->'cause'->>'operation' FROM outbox WHERE store_id = 'acme' ORDER BY id, position"
    )
    return [tuple(r) for r in rows]


def import_list(cli, *extra, name="Newsletter"):
    return cli(
        "segments", "import-external", name, "--store", "acme", "--provider", "klaviyo", "--type", "list", *extra
    )
