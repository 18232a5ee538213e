"""`segflow demo`: everything embedded, end to end, on a fresh machine.

It starts what is not running (the embedded PostgreSQL unless SEGFLOW_DATABASE_URL is set, and a
broker on a free port), sets up a demo store with customers, a segment and the example flows,
produces a few hundred events, runs the worker until it is idle, prints what happened, and
stops what it started. It never touches stores other than `demo`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from consumers import kafka as kafka_clients
from engine.ids import customer_key
from engine.validate import validate
from schemas.email import normalise_email
from segflow import sample
from segflow.cli.common import AppContext, json_option, pass_app, print_json, print_table
from segflow.cli.serve import serve_until_stopped
from segflow.errors import AlreadyExists
from segflow.infra.config import Config
from segflow.infra.database import Conn, connect, database_url
from segflow.infra.embedded import EmbeddedBroker, free_port, start_postgres
from segflow.infra.logging import configure
from segflow.services import access
from segflow.services import customers as customer_service
from segflow.services import flows as flow_service
from segflow.services import segments as segment_service
from segflow.services import stores as store_service
from segflow.worker import Worker, vars_of

DEMO_STORE = "demo"
_FIRST = ["Ann", "Ben", "Cleo", "Dev", "Eve", "Finn", "Gia", "Hal", "Ines", "Jo", "Kai", "Lea"]
_LAST = ["Lee", "Ng", "Okafor", "Patel", "Quinn", "Rossi"]


def demo_customers(count: int = 24) -> list[dict[str, str]]:
    people = []
    for i in range(count):
        first, last = _FIRST[i % len(_FIRST)], _LAST[i % len(_LAST)]
        people.append(
            {
                "email": f"{first}.{last}{i}@example.com",
                "external_id": f"c_{i:03d}",
                "first_name": first,
                "last_name": last,
                "phone": f"+1555010{i:04d}",
            }
        )
    return people


DEMO_EVENTS = 400
DEMO_CUSTOMERS = 60
BIG_SPENDERS = 12  # the first customers are in "Big Spenders" from the start
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flows"
DEMO_FLOWS = ("free-gift", "big-spender-credits", "winback-split")


@click.command()
@click.option("--serve", is_flag=True, help="Then serve the console for the demo store until Ctrl-C.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="With --serve.")
@json_option
@pass_app
def demo(app: AppContext, serve: bool, port: int, as_json: bool) -> None:
    """Everything embedded, end to end: a store, flows, events, the worker, and what happened.

    With --json the story goes to stderr and stdout gets one document: the worker's counts,
    runs per flow by status, segment sizes and output events by type. With --serve it ends by
    printing the console's address and an access token for the demo store, and serves it
    until Ctrl-C."""
    configure(app.config.log_format, level=logging.WARNING)  # the story goes to stdout; logs only if something is wrong
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        summary = _run(app.config, port if serve else None)
    if as_json:
        print_json(summary)


def _run(config: Config, serve_port: int | None = None) -> dict[str, Any]:
    postgres = None if config.database_url else start_postgres(config.embedded_pgdata)
    if postgres:
        state = "started" if postgres.started_here else "reusing"
        click.echo(f"PostgreSQL: {state} the embedded server in {config.embedded_pgdata}")
    broker = EmbeddedBroker(port=free_port())
    try:
        broker.start()
        click.echo(f"Kafka: embedded broker on {broker.bootstrap}, {_broker_check(broker.bootstrap)}")
        # A run of its own: fresh consumer group and event ids, so a second demo is not all duplicates.
        run_id = uuid.uuid4().hex[:8]
        demo_config = replace(config, kafka_bootstrap=broker.bootstrap, group_id=f"segflow-demo-{run_id}")
        people = demo_customers(DEMO_CUSTOMERS)
        emails = [p["email"].lower() for p in people]
        with connect(config) as conn:
            _set_up_store(conn, people, emails[:BIG_SPENDERS])
            events = sample.events(DEMO_STORE, emails, DEMO_EVENTS, seed=int(run_id, 16), prefix=f"demo-{run_id}")
            click.echo(f"\nproducing {len(events)} events to {demo_config.input_topic}")
            _produce(demo_config, events)
            click.echo("running the worker until it is idle...")
            summary = Worker(demo_config, database_url(config), stop_when_idle=2.0).run()
            click.echo(
                f"worker: {summary.events} events applied, {summary.duplicates_skipped} duplicates skipped, "
                f"{summary.dead_lettered} dead-lettered, {summary.published} flow events published"
            )
            report = {"store": DEMO_STORE, "worker": vars_of(summary), **_report(conn, demo_config, emails)}
            token = access.new_token(conn, DEMO_STORE).token if serve_port is not None else None
        if token is not None and serve_port is not None:
            broker.stop()  # the console needs only the database
            click.echo(f"\nthe console for store {DEMO_STORE}:")
            serve_until_stopped(config, "127.0.0.1", serve_port, token=token)
        return report
    finally:
        broker.stop()
        click.echo("\nstopped the embedded broker")
        if postgres and postgres.started_here:
            postgres.stop()
            click.echo("stopped the embedded PostgreSQL")


def _set_up_store(conn: Conn, people: list[dict[str, str]], big_spenders: list[str]) -> None:
    try:
        store_service.create(conn, DEMO_STORE, "pro", "Demo Store")
        click.echo(f"store {DEMO_STORE} created (plan pro)")
    except AlreadyExists:
        click.echo(f"store {DEMO_STORE} exists; adding to it")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        _write_csv(path, people)
        report = customer_service.import_file(conn, DEMO_STORE, path)
    click.echo(f"customers import: {report.rows} rows, {report.added} added, {report.updated} updated")
    with contextlib.suppress(AlreadyExists):
        segment_service.create(conn, DEMO_STORE, "Big Spenders")
    segment_service.change_by_email(conn, DEMO_STORE, "Big Spenders", "add", big_spenders)
    click.echo(f'segment "Big Spenders": {len(big_spenders)} customers')
    flows = []
    for name in DEMO_FLOWS:
        raw = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
        raw["store_id"] = DEMO_STORE
        flow, errors = validate(raw)
        assert flow is not None and not errors, errors
        flows.append((raw, flow))
    for deployed in flow_service.deploy(conn, flows):
        click.echo(f"flow {deployed.id}@{deployed.version} {'deployed' if deployed.created else 'already deployed'}")


def _produce(config: Config, events: list[dict[str, Any]]) -> None:
    producer = kafka_clients.producer(config.kafka_bootstrap, client_id="segflow-demo")
    try:
        for event in events:
            key = customer_key(DEMO_STORE, normalise_email(event["customer"]["email"]))
            producer.send(config.input_topic, key=key.encode(), value=json.dumps(event).encode())
        producer.flush()
    finally:
        producer.close(timeout=5)


def _report(conn: Conn, config: Config, emails: list[str]) -> dict[str, Any]:
    click.echo("\nflows (all runs in the store):")
    by_flow: dict[str, dict[str, int]] = {}
    for flow_id, status, count in flow_service.run_counts(conn, DEMO_STORE):
        by_flow.setdefault(flow_id, {})[status] = count
    print_table(
        ["flow", "entered", "completed", "waiting", "exited", "failed"],
        [
            [fid, str(sum(c.values())), *(str(c.get(s, 0)) for s in ("completed", "waiting", "exited", "failed"))]
            for fid, c in sorted(by_flow.items())
        ],
    )
    click.echo("\nsegments:")
    segments = segment_service.list_all(conn, DEMO_STORE)
    print_table(["segment", "source", "members"], [[s.name, s.source, str(s.members)] for s in segments])
    click.echo("\na few journeys:")
    journeys = [(email, customer_service.output_events(conn, DEMO_STORE, email)) for email in emails]

    # The customers who went through the most different flows tell the most.
    def variety(journey: tuple[str, list[dict[str, Any]]]) -> tuple[int, int]:
        return len({p.get("cause", {}).get("flow_id") for p in journey[1]}), len(journey[1])

    for email, payloads in sorted(journeys, key=variety, reverse=True)[:3]:
        click.echo(f"  {email}")
        for payload in payloads[:8]:
            cause = payload.get("cause", {})
            where = (
                f"{cause.get('flow_id')}/{cause.get('node_id') or '-'}"
                if cause.get("flow_id")
                else cause.get("operation")
            )
            detail = json.dumps(payload.get("data") or {}, separators=(",", ":")) if payload.get("data") else ""
            click.echo(f"    {payload['type']:<24} {where} {detail}".rstrip())
        if len(payloads) > 8:
            click.echo(f"    ... {len(payloads) - 8} more")
    click.echo(f"\noutput events on {config.output_topic}, by type:")
    types = Counter(
        json.loads(r.value)["type"]
        for r in kafka_clients.read_all(config.kafka_bootstrap, config.output_topic, "segflow-demo-report")
    )
    print_table(["type", "events"], [[t, str(n)] for t, n in sorted(types.items())])
    return {
        "runs": by_flow,
        "segments": {s.name: s.members for s in segments},
        "output_events": dict(sorted(types.items())),
    }


def _broker_check(bootstrap: str) -> str:
    """Ask the broker for metadata like any client would, to show it is a real Kafka endpoint."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="segflow-demo")
    try:
        return f"answering metadata ({len(admin.describe_cluster()['brokers'])} broker)"
    finally:
        admin.close()


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(customer_service.COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
