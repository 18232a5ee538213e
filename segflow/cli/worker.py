"""`segflow worker` (SPEC §5, §7)."""

from __future__ import annotations

import json
import signal
from types import FrameType

import click

from consumers.kafka import MAX_POLL_RECORDS
from segflow.cli.common import AppContext, json_option, pass_app
from segflow.infra.database import connect, database_url
from segflow.worker import Worker, tune_gc, vars_of


@click.command()
@click.option(
    "--stop-when-idle", type=click.FloatRange(min=0), metavar="SECONDS", help="Exit after this many idle seconds."
)
@click.option(
    "--max-batch",
    type=click.IntRange(1, 100_000),
    default=MAX_POLL_RECORDS,
    hidden=True,
    help="Records per transaction (the benchmark's one-event-per-transaction baseline uses 1).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve Prometheus /metrics, /healthz and /readyz on this port (all interfaces; 0: any free port).",
)
@json_option
@pass_app
def worker(
    app: AppContext, stop_when_idle: float | None, max_batch: int, metrics_port: int | None, as_json: bool
) -> None:
    """Consume customer events, advance flows, publish flow events, wake waits."""
    config = app.config
    with connect(config):  # migrates the embedded database, or checks a configured one is current
        pass
    runner = Worker(
        config, database_url(config), stop_when_idle=stop_when_idle, max_batch=max_batch, metrics_port=metrics_port
    )
    tune_gc()  # here, not in Worker.run: it changes the whole process, and tests run workers in theirs

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        summary = runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        click.echo(json.dumps(vars_of(summary)))
    else:
        click.echo(
            f"worker stopped: {summary.events} events applied, {summary.duplicates_skipped} duplicates skipped, "
            f"{summary.dead_lettered} dead-lettered, {summary.published} flow events published"
        )
