"""`segflow db ...`"""

from __future__ import annotations

import click

from db import migrate as migrations
from segflow.cli.common import AppContext, json_option, pass_app, print_json
from segflow.database import database_url, open_connection
from segflow.embedded import stop_postgres


@click.group("db")
def db() -> None:
    """Database schema and the embedded server."""


@db.command("migrate")
@json_option
@pass_app
def migrate(app: AppContext, as_json: bool) -> None:
    """Apply pending schema migrations (safe to run twice, or from two processes at once)."""
    conn = open_connection(database_url(app.config))
    try:
        applied = migrations.migrate(conn)
        version = max(migrations.applied(conn), default=0)
    finally:
        conn.close()
    if as_json:
        print_json({"applied": [f"{m.version:04d}_{m.name}" for m in applied], "version": version})
    elif applied:
        click.echo(f"applied {len(applied)} migration(s); schema at version {version}")
    else:
        click.echo(f"schema up to date at version {version}")


@db.command("stop")
@json_option
@pass_app
def stop(app: AppContext, as_json: bool) -> None:
    """Stop the embedded PostgreSQL under SEGFLOW_HOME (it keeps running between commands)."""
    if app.config.database_url:
        raise click.UsageError("SEGFLOW_DATABASE_URL is set: there is no embedded server to stop")
    stopped = stop_postgres(app.config.embedded_pgdata)
    if as_json:
        print_json({"stopped": stopped, "pgdata": str(app.config.embedded_pgdata)})
    elif stopped:
        click.echo(f"stopped the embedded PostgreSQL in {app.config.embedded_pgdata}")
    else:
        click.echo("the embedded PostgreSQL was not running")
