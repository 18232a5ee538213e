"""What an input event may hold beyond its schema: nothing PostgreSQL cannot store or JSON cannot
carry, refused with the field named (SPEC §2), one rule for the worker and `events produce`."""

import json
from typing import Any

import pytest

from schemas.events import InputEvent, parse_event

ENVELOPE: dict[str, Any] = {
    "event_id": "e1",
    "type": "order.processed",
    "store_id": "acme",
    "occurred_at": "2026-11-29T09:00:00Z",
    "customer": {"email": "ann@example.com", "first_name": "Ann"},
    "data": {"total_price": 120.5, "items": [{"sku": "A", "qty": 2}]},
}


def raw(**replace: str) -> bytes:
    """The envelope as JSON with some values replaced by raw JSON text (which json.dumps cannot write)."""
    text = json.dumps(ENVELOPE)
    for placeholder, value in replace.items():
        text = text.replace(f'"<{placeholder}>"', value)
    return text.encode()


@pytest.fixture(autouse=True)
def envelope():
    original = json.loads(json.dumps(ENVELOPE))
    yield
    ENVELOPE.clear()
    ENVELOPE.update(original)


def test_an_ordinary_event_parses():
    assert isinstance(parse_event(raw()), InputEvent)


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        (("customer", "first_name"), '"A\\u0000n"', "customer.first_name: contains a NUL character"),
        (("customer", "phone"), '"\\u0000"', "customer.phone: contains a NUL character"),
        (("event_id",), '"e\\u0000"', "event_id: contains a NUL character"),
        (("data", "note"), '"x\\u0000"', "data.note: contains a NUL character"),
        (("data", "total_price"), "NaN", "data.total_price: nan is not a number JSON can hold"),
        (("data", "total_price"), "-Infinity", "data.total_price: -inf is not a number JSON can hold"),
        (("data", "total_price"), "1e999", "data.total_price: inf is not a number JSON can hold"),
        (("data", "items"), '[{"price": 1e400}]', "data.items[0].price: inf is not a number JSON can hold"),
        (("data", "deep"), '{"a": {"b\\u0000": 1}}', "data.deep.a: a key contains a NUL character"),
        (("customer", "last_name"), '"\\ud800"', "customer.last_name: contains a lone surrogate ('\\ud800')"),
    ],
)
def test_unstorable_values_are_refused_naming_the_field(where, value, reason):
    target = ENVELOPE
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = "<v>"
    assert reason == parse_event(raw(v=value))


@pytest.mark.parametrize("value", ['"back\\\\u0000slash"', '"Infinity Ring"', "2.5e-3", "1e308", '"NaN"'])
def test_lookalikes_are_accepted(value):
    ENVELOPE["data"]["note"] = "<v>"
    assert isinstance(parse_event(raw(v=value)), InputEvent)


def test_json_the_parser_refuses_names_where():
    reason = parse_event(b'{"event_id": ')
    assert isinstance(reason, str) and reason.startswith("not valid JSON: ")
