"""A flow whose outcome shows any input event lost or applied twice.

Every `order.processed` event enters the toggle flow once (`reentry: always`): a customer in
segment K is removed, anyone else added. So after all events, a customer is a member exactly when
they had an odd number of distinct events, each event has exactly one `flow.entered`, and no
output event id occurs twice, in the outbox or on the topic. Re-sent duplicates must change
nothing.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from db import Conn
from schemas.flow import Flow
from segflow import sample
from segflow.services import flows as flow_service
from segflow.services import segments, stores
from tests.support.kafka_io import create_topic, produce_events, read_all
from tests.support.worker_process import worker_env

STORE = "acme"
SEGMENT = "K"
TOGGLE: dict[str, Any] = {
    "id": "toggle",
    "store_id": STORE,
    "name": "In K: out; else: in",
    "trigger": {"event": "order.processed"},
    "reentry": "always",
    "start": "in-k",
    "nodes": [
        {"id": "in-k", "type": "condition", "if": {"in_segment": SEGMENT}, "then": "leave", "else": "join"},
        {"id": "leave", "type": "segment", "operation": "remove", "segment": SEGMENT, "next": None},
        {"id": "join", "type": "segment", "operation": "add", "segment": SEGMENT, "next": None},
    ],
}


def prepare(db: Conn, database_url: str, bootstrap: str, topics: Any, **extra_env: str) -> dict[str, str]:
    """Store, segment and flow in the database, the input topic on the broker; the worker's env."""
    stores.create(db, STORE, "pro")
    segments.create(db, STORE, SEGMENT)
    flow = Flow.model_validate(TOGGLE)
    flow_service.deploy(db, [(TOGGLE, flow)])
    create_topic(bootstrap, topics.input, 4)
    return worker_env(database_url, bootstrap, f"g-{uuid.uuid4().hex[:8]}", topics, **extra_env)


def events(count: int, customers: int = 300, seed: int = 3, prefix: str = "e") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    emails = sample.emails(customers)
    at = datetime(2026, 11, 29, 9, 0, tzinfo=UTC).isoformat()
    return [
        {
            "event_id": f"{prefix}{i:06d}",
            "type": "order.processed",
            "store_id": STORE,
            "occurred_at": at,
            "customer": {"email": rng.choice(emails)},
            "data": {"total_price": rng.randint(1, 300)},
        }
        for i in range(count)
    ]


def with_duplicates(batch: list[dict[str, Any]], every: int = 53) -> list[dict[str, Any]]:
    """Producers retry: every `every`-th event is sent again at the end."""
    return batch + batch[::every]


def produce(bootstrap: str, topic: str, batch: list[dict[str, Any]]) -> None:
    produce_events(bootstrap, topic, batch)


def stream_paced(bootstrap: str, topic: str, sent: list[dict[str, Any]], size: int, every_s: float) -> threading.Thread:
    """A started thread producing `sent` in slices of `size`, one every `every_s` seconds."""

    def stream() -> None:
        for start in range(0, len(sent), size):
            produce(bootstrap, topic, sent[start : start + size])
            time.sleep(every_s)

    producer = threading.Thread(target=stream)
    producer.start()
    return producer


def applied(db: Conn, sent: list[dict[str, Any]]) -> bool:
    """Every distinct event sent is claimed (applied), and the relay has published everything."""
    distinct = {e["event_id"] for e in sent}
    # Distinct: near a bucket's start an id is claimed in the bucket before too (claim_events).
    claimed = db.execute(
        "SELECT count(DISTINCT event_id) FROM processed_events WHERE store_id = %s", (STORE,)
    ).fetchone()
    unpublished = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    return claimed is not None and unpublished is not None and claimed[0] == len(distinct) and unpublished[0] == 0


def check(db: Conn, sent: list[dict[str, Any]], bootstrap: str | None = None, output_topic: str | None = None,
          published_after: int = 0) -> None:  # fmt: skip
    """Exactly-once, judged by the toggle's outcome; on the topic too when it is given (only the
    outbox rows with id > `published_after` when the topic restarted empty since)."""
    distinct = {e["event_id"]: e for e in sent}
    per_customer = Counter(e["customer"]["email"] for e in distinct.values())
    members = {
        row[0]
        for row in db.execute(
            "SELECT c.email FROM segment_members m JOIN segments s ON s.id = m.segment_id "
            "JOIN customers c ON c.id = m.customer_id WHERE s.store_id = %s AND s.name = %s",
            (STORE, SEGMENT),
        )
    }
    assert {email for email, n in per_customer.items() if n % 2} == members
    entered = Counter(
        row[0]
        for row in db.execute("SELECT payload->'cause'->>'event_id' FROM outbox WHERE event_type = 'flow.entered'")
    )
    assert Counter(list(distinct)) == entered  # one flow.entered per distinct input event
    queued = Counter(row[0] for row in db.execute("SELECT event_id FROM outbox"))
    assert [] == [event_id for event_id, n in queued.items() if n > 1]
    if bootstrap and output_topic:
        since = Counter(row[0] for row in db.execute("SELECT event_id FROM outbox WHERE id > %s", (published_after,)))
        on_topic = Counter(json.loads(r.value)["event_id"] for r in read_all(bootstrap, output_topic))
        assert since == on_topic  # every output event published once, none twice
