"""The example flows and events, deployed and run through an in-process worker."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from db import Conn
from db.customers import CustomerFields, upsert
from schemas.flow import Flow
from segflow.infra.config import Config
from segflow.services import flows as flow_service
from segflow.worker import Summary, Worker
from tests.support.kafka_io import produce_events

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_worker(config: Config, at: datetime, idle: float = 1.0) -> Summary:
    """A worker whose clock stands at `at`, until it has been idle for `idle` seconds."""
    assert config.database_url is not None
    return Worker(config, config.database_url, clock=lambda: at, stop_when_idle=idle).run()


def store(db: Conn, plan: str = "pro", store_id: str = "acme") -> None:
    db.execute("INSERT INTO stores (id, name, plan) VALUES (%s, %s, %s)", (store_id, store_id, plan))


def deploy(db: Conn, *flows: Flow) -> list[flow_service.Deployed]:
    return flow_service.deploy(db, [(f.model_dump(by_alias=True, exclude_unset=True), f) for f in flows])


def load_flow(name: str) -> Flow:
    return Flow.model_validate_json((EXAMPLES / "flows" / f"{name}.json").read_text())


def load_events(name: str, at: datetime) -> list[dict[str, Any]]:
    events = [
        json.loads(line) for line in (EXAMPLES / "events" / f"{name}.jsonl").read_text().splitlines() if line.strip()
    ]
    for e in events:
        e["occurred_at"] = at.isoformat()  # the worker's clock: waits then start when simulate's do
    return events


EXAMPLE_FLOWS = ("free-gift", "big-spender-credits", "winback-split")


def example_store(db: Conn, config: Config, at: datetime) -> tuple[list[Flow], list[dict[str, Any]]]:
    """Store acme with ann in "Big Spenders", the three example flows deployed and their example
    events produced (occurring at `at`) to the input topic: (flows, events)."""
    store(db)
    upsert(db, "acme", [CustomerFields(email="ann@example.com")])
    db.execute("INSERT INTO segments (store_id, name, source) VALUES ('acme', 'Big Spenders', 'manual')")
    db.execute(
        "INSERT INTO segment_members (store_id, segment_id, customer_id, added_by) "
        "SELECT 'acme', s.id, c.id, 'manual' FROM segments s, customers c"
    )
    flows = [load_flow(name) for name in EXAMPLE_FLOWS]
    deploy(db, *flows)
    events = [e for name in EXAMPLE_FLOWS for e in load_events(name, at)]
    produce_events(config.kafka_bootstrap, config.input_topic, events)
    return flows, events
