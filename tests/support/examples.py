"""The example flows and events, deployed and run through an in-process worker."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from db import Conn
from schemas.flow import Flow
from segflow import flows as flow_service
from segflow.config import Config
from segflow.worker import Summary, Worker

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
