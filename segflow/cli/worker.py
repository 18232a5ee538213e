"""`segflow worker` and `segflow events produce` (SPEC §2, §5, §7)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

import click
from kafka.errors import KafkaError
from tqdm import tqdm

from consumers import kafka as kafka_clients
from consumers.kafka import MAX_POLL_RECORDS
from engine.ids import customer_key
from segflow import eventsfile
from segflow.cli.common import AppContext, json_option, pass_app
from segflow.database import connect, database_url
from segflow.embedded import require_broker
from segflow.errors import ServiceUnavailable
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


@click.group()
def events() -> None:
    """Send customer events to the input topic."""


@events.command("produce")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--topic", help="Default: SEGFLOW_INPUT_TOPIC.")
@click.option("--skip-invalid", is_flag=True, help="Send the valid lines, report the others (default: send none).")
@json_option
@pass_app
def produce(app: AppContext, file: Path, topic: str | None, skip_invalid: bool, as_json: bool) -> None:
    """Send a JSON Lines file of events, keyed <store_id>:<email>. The whole file is checked first:
    every invalid line is named, and nothing is sent unless --skip-invalid."""
    lines, bad = eventsfile.scan(file)
    if bad and not skip_invalid:
        raise eventsfile.invalid_lines(file, bad, "nothing was sent (--skip-invalid sends the valid lines)")
    topic = topic or app.config.input_topic
    bootstrap = app.config.kafka_bootstrap
    require_broker(bootstrap)
    producer = kafka_clients.producer(bootstrap, client_id="segflow-produce")
    try:
        with tqdm(total=len(lines), unit="event", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            futures = []
            for line in lines:
                key = customer_key(line.event.store_id, line.event.customer.email).encode()
                futures.append(producer.send(topic, key=key, value=line.raw))
                bar.update(1)
            producer.flush()
            for future in futures:
                future.get()
    except KafkaError as exc:
        raise ServiceUnavailable(f"sending to {topic} at {bootstrap} failed: {exc}") from None
    finally:
        producer.close(timeout=5)
    skipped = [{"line": b.line, "reason": b.reason} for b in bad]
    if as_json:
        click.echo(json.dumps({"sent": len(lines), "topic": topic, "skipped": skipped}, ensure_ascii=False))
        return
    for b in bad:
        click.echo(f"{file}: line {b.line}: skipped: {b.reason}", err=True)
    skipped_text = f"; skipped {len(bad)} invalid line{'s' if len(bad) > 1 else ''}" if bad else ""
    click.echo(f"sent {len(lines)} events from {file} to {topic}{skipped_text}")
