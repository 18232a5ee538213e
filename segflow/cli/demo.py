"""`segflow demo`: everything embedded, end to end, on a fresh machine.

It starts what is not running (the embedded PostgreSQL unless SEGFLOW_DATABASE_URL is set, and a
broker on a free port), sets up a demo store with customers, shows them, and stops what it
started. It never touches stores other than `demo`.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import click

from db import customers as customer_rows
from segflow import customers as customer_service
from segflow import stores as store_service
from segflow.cli.common import AppContext, pass_app, print_table
from segflow.database import connect
from segflow.embedded import EmbeddedBroker, free_port, start_postgres
from segflow.errors import AlreadyExists

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


@click.command()
@pass_app
def demo(app: AppContext) -> None:
    """Start the embedded services, load a demo store, show it, stop what was started."""
    config = app.config
    postgres = None if config.database_url else start_postgres(config.embedded_pgdata)
    if postgres:
        state = "started" if postgres.started_here else "reusing"
        click.echo(f"PostgreSQL: {state} the embedded server in {config.embedded_pgdata}")
    broker = EmbeddedBroker(port=free_port())
    try:
        broker.start()
        click.echo(f"Kafka: embedded broker on {broker.bootstrap}, {_broker_check(broker.bootstrap)}")
        with connect(config) as conn:
            try:
                store_service.create(conn, DEMO_STORE, "pro", "Demo Store")
                click.echo(f"store {DEMO_STORE} created (plan pro)")
            except AlreadyExists:
                click.echo(f"store {DEMO_STORE} exists; refreshing its customers")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "customers.csv"
                _write_csv(path, demo_customers())
                report = customer_service.import_file(conn, DEMO_STORE, path)
            click.echo(f"customers import: {report.rows} rows, {report.added} added, {report.updated} updated")
            total = customer_rows.count(conn, DEMO_STORE)
            rows = customer_rows.list_page(conn, DEMO_STORE, limit=10)
        click.echo(f"\n{total} customers in store {DEMO_STORE} (first {len(rows)}):")
        print_table(
            ["email", "name", "phone"],
            [[r.email, f"{r.first_name or ''} {r.last_name or ''}".strip(), r.phone or ""] for r in rows],
        )
    finally:
        broker.stop()
        click.echo("\nstopped the embedded broker")
        if postgres and postgres.started_here:
            postgres.stop()
            click.echo("stopped the embedded PostgreSQL")


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
