"""Sample data for the demo, the tests and the benchmark: customers and a plausible event stream.

Seeded, so the same call always gives the same events.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

# Weights of event types in the stream: mostly orders, some streaks and charge trouble.
EVENT_MIX = (
    ("order.processed", 50),
    ("streak.milestone_reached", 15),
    ("charge.failed", 10),
    ("charge.paid", 15),
    ("customer.updated", 10),
)
START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def emails(count: int, domain: str = "example.com") -> list[str]:
    return [f"customer{i:06d}@{domain}" for i in range(count)]


def events(store_id: str, customers: list[str], count: int, seed: int = 7, prefix: str = "evt") -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - sample data, seeded on purpose
    kinds = [kind for kind, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    stream = []
    for i in range(count):
        kind = rng.choices(kinds, weights)[0]
        email = rng.choice(customers)
        data: dict[str, Any]
        if kind == "order.processed":
            data = {"total_price": round(rng.uniform(5, 250), 2)}
        elif kind == "streak.milestone_reached":
            data = {"streak": rng.choice([3, 6, 12])}
        elif kind.startswith("charge."):
            data = {"amount": rng.choice([19, 29, 49])}
        else:
            data = {}
        customer: dict[str, Any] = {"email": email.upper() if i % 17 == 0 else email}
        if kind == "customer.updated":
            customer["first_name"] = rng.choice(["Ann", "Ben", "Cleo", "Dev"])
        stream.append(
            {
                "event_id": f"{prefix}-{i:07d}",
                "type": kind,
                "store_id": store_id,
                "occurred_at": (START + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "customer": customer,
                "data": data,
            }
        )
    return stream


def every_node_flow(store_id: str) -> dict[str, Any]:
    """A 12-node flow that uses every node type (the benchmark's and the stats test's)."""
    return {
        "id": "every-node", "store_id": store_id, "name": "Every node type", "reentry": "not_while_active",
        "trigger": {"event": "order.processed", "where": {"field": "data.total_price", "op": "gt", "value": 20}},
        "start": "is-vip",
        "nodes": [
            {"id": "is-vip", "type": "condition", "if": {"in_segment": "VIP"}, "then": "ab", "else": "is-regular"},
            {"id": "is-regular", "type": "condition", "if": {"field": "data.total_price", "op": "gte", "value": 50}, "then": "tag-regular", "else": "bye"},
            {"id": "bye", "type": "exit"},
            {"id": "ab", "type": "split", "branches": [{"percent": 50, "next": "offer-a"}, {"percent": 50, "next": "offer-b"}]},
            {"id": "offer-a", "type": "action", "action": "discount", "params": {"percent": 10}, "next": "tag-a"},
            {"id": "offer-b", "type": "action", "action": "notify", "params": {"template": "vip"}, "next": "tag-b"},
            {"id": "tag-a", "type": "segment", "operation": "add", "segment": "Offer A", "create_if_missing": True, "next": "wait-order"},
            {"id": "tag-b", "type": "segment", "operation": "add", "segment": "Offer B", "create_if_missing": True, "next": "wait-order"},
            {"id": "wait-order", "type": "wait", "until_event": "order.processed", "timeout": "P30D", "next": "thank", "on_timeout": "untag"},
            {"id": "thank", "type": "action", "action": "notify", "params": {"template": "thanks"}, "next": None},
            {"id": "untag", "type": "segment", "operation": "remove", "segment": "VIP", "next": None},
            {"id": "tag-regular", "type": "segment", "operation": "add", "segment": "Regulars", "create_if_missing": True, "next": None},
        ],
    }  # fmt: skip
