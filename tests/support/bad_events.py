"""One list of the ways an input event is bad: what the worker's own check says of each
(`schemas.events.check_value`, which decides what is dead-lettered) and what refuses it on the
producer's side: the published schema (`events schema`), an I-JSON parser (RFC 7493: no NaN,
no number beyond a double, no lone surrogate), or the 1 MiB limit."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

GOOD: dict[str, Any] = {
    "event_id": "e1", "type": "order.processed", "store_id": "acme", "occurred_at": "2026-11-24T12:00:00Z",
    "customer": {"email": "ann@example.com", "first_name": "Ann"}, "data": {"total_price": 40},
}  # fmt: skip


def changed(**fields: Any) -> bytes:
    event = json.loads(json.dumps(GOOD))
    for dotted, value in fields.items():
        *parents, last = dotted.split("__")
        target = event
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return json.dumps(event).encode()


@dataclass(frozen=True)
class BadEvent:
    name: str
    value: bytes
    reason: str
    """The start of the worker's dead-letter reason."""
    refused_by: Literal["schema", "i-json", "size"]


BAD_EVENTS = [
    BadEvent("not JSON", b'{"event_id": ', "the value is not JSON", "i-json"),
    BadEvent("not an object", b"[1, 2]", "Input should be an object", "schema"),
    BadEvent("no occurred_at", changed(occurred_at=...), "occurred_at: required field is missing", "schema"),
    BadEvent("no customer", changed(customer=...), "customer: required field is missing", "schema"),
    BadEvent("no email", changed(customer__email=...), "customer.email: required field is missing", "schema"),
    BadEvent("type not dotted", changed(type="Order Processed"), "type: String should match pattern", "schema"),
    BadEvent("empty event_id", changed(event_id=""), "event_id: String should have at least 1 character", "schema"),
    BadEvent("store_id too long", changed(store_id="s" * 64), "store_id: String should have at most 63", "schema"),
    BadEvent("time without offset", changed(occurred_at="2026-11-24T12:00:00"), "occurred_at: Input should have timezone", "schema"),
    BadEvent("time not a time", changed(occurred_at="yesterday"), "occurred_at: Input should be a valid datetime", "schema"),
    BadEvent("email without @", changed(customer__email="ann.example.com"), "customer.email: 'ann.example.com' is not a valid email", "schema"),
    BadEvent("email with two @", changed(customer__email="ann@@example.com"), "customer.email: 'ann@@example.com' is not a valid email", "schema"),
    BadEvent("data not an object", changed(data=[1]), "data: Input should be an object", "schema"),
    BadEvent("NUL in a name", changed(customer__first_name="A\x00nn"), "customer.first_name: contains a NUL character", "schema"),
    BadEvent("bidi override in a name", changed(customer__last_name="nnA\u202e"), "customer.last_name: contains a bidirectional control character (U+202E)", "schema"),
    BadEvent("tab in a name", changed(customer__first_name="A\tnn"), "customer.first_name: contains a control character (U+0009)", "schema"),
    BadEvent("NUL in data", changed(data={"note": {"x": ["a\x00"]}}), "data.note.x[0]: contains a NUL character", "schema"),
    BadEvent("NaN in data", changed(data={"x": math.nan}), "data.x: nan is not a number JSON can hold", "i-json"),
    BadEvent("1e999 in data", changed(data={"x": 1}).replace(b'"x": 1', b'"x": 1e999'), "data.x: inf is not a number JSON can hold", "i-json"),
    BadEvent("lone surrogate", changed(customer__first_name="A\ud800"), "customer.first_name: contains a lone surrogate", "i-json"),
    BadEvent("over 1 MiB", changed(data={"pad": "x" * (1024 * 1024)}), "the value is 1,048,", "size"),
]  # fmt: skip


def i_json(raw: bytes) -> Any:
    """Parse as an I-JSON (RFC 7493) parser would: ValueError for what it refuses."""

    def refuse(text: str) -> Any:
        raise ValueError(f"{text} is not I-JSON")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text} is beyond a double")
        return value

    value = json.loads(raw, parse_constant=refuse, parse_float=number)

    def walk(item: Any) -> None:
        if isinstance(item, str):
            item.encode("utf-8")  # a lone surrogate cannot be encoded: UnicodeEncodeError is a ValueError
        elif isinstance(item, dict):
            for key, inner in item.items():
                walk(key)
                walk(inner)
        elif isinstance(item, list):
            for inner in item:
                walk(inner)

    walk(value)
    return value
