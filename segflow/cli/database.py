"""`segflow db ...`"""

from __future__ import annotations

import click

from segflow.cli.common import AppContext, json_option, pass_app, print_json
from segflow.infra.database import database_url, open_connection
from segflow.infra.embedded import stop_postgres
from segflow.services import storage


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
        applied, version = storage.migrate(conn, app.config)
        from segflow.services.flows import refused_in_every_store  # the flow model and engine: only this command

        refused = refused_in_every_store(conn)
    finally:
        conn.close()
    if as_json:
        print_json(
            {
                "applied": [f"{m.version:04d}_{m.name}" for m in applied],
                "version": version,
                "refused_versions": [
                    {"store_id": r.store_id, "flow": r.flow_id, "version": r.version, "why": r.why} for r in refused
                ],
            }
        )
        return
    if applied:
        click.echo(f"applied {len(applied)} migration(s); schema at version {version}")
    else:
        click.echo(f"schema up to date at version {version}")
    if refused:
        click.echo(
            f"{len(refused)} deployed flow version(s) would be refused by today's rules; they keep running as "
            "deployed, and a redeploy must change what is listed:", err=True
        )  # fmt: skip
        for version_refused in refused:
            click.echo(f"  store {version_refused.store_id}: {version_refused}", err=True)


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


@db.command("prune")
@json_option
@pass_app
def prune(app: AppContext, as_json: bool) -> None:
    """Remove what is past its retention now, as a worker does every SEGFLOW_PRUNE_EVERY."""
    with app.db() as conn:
        result = storage.prune(conn, app.config)
    if result.skipped:
        raise click.ClickException("another process is pruning this database now; try again when it is done")
    removed = result.removed  # every retention's kind, then flow_counts (db.maintenance.prune)
    if as_json:
        print_json({"removed": removed, "seconds": result.seconds})
        return
    click.echo(f"removed in {result.seconds:g} s:")
    for kind, rows in removed.items():
        click.echo(f"  {kind:<14} {rows:>12,} rows")


@db.command("size")
@json_option
@pass_app
def size(app: AppContext, as_json: bool) -> None:
    """The database's bytes on disk, total and by kind (indexes and partitions included)."""
    with app.db() as conn:
        total, kinds = storage.sizes(conn)
    if as_json:
        print_json({"total_bytes": total, "kinds": kinds})
        return
    for kind, size_bytes in kinds.items():
        click.echo(f"{kind:<14} {_human(size_bytes):>10}")
    click.echo(f"{'total':<14} {_human(total):>10}")


def _human(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"
