"""`segflow events` (SPEC §2, §12): the input event's contract, checking a file against it as
the worker would, and sending a file to the input topic. The broker's client is imported only
by `produce`: checking is offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from segflow.cli.common import AppContext, json_option, pass_app, write_file
from segflow.errors import ServiceUnavailable
from segflow.services import eventsfile


@click.group()
def events() -> None:
    """Check customer events against the contract, and send them to the input topic."""


@events.command("produce")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--topic", help="Default: SEGFLOW_INPUT_TOPIC.")
@click.option("--skip-invalid", is_flag=True, help="Send the valid lines, report the others (default: send none).")
@json_option
@pass_app
def produce(app: AppContext, file: Path, topic: str | None, skip_invalid: bool, as_json: bool) -> None:
    """Send a JSON Lines file of events, keyed <store_id>:<email>. The whole file is checked first:
    every invalid line is named, and nothing is sent unless --skip-invalid."""
    from kafka.errors import KafkaError
    from tqdm import tqdm

    from consumers import kafka as kafka_clients
    from engine.ids import customer_key
    from segflow.infra.embedded import require_broker

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


@events.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--check-stores", is_flag=True, help="Also refuse events of stores the database does not have.")
@json_option
@pass_app
def validate(app: AppContext, file: Path, check_stores: bool, as_json: bool) -> None:
    """Check a JSON Lines file of events exactly as the worker would (JSON, schema, size, text
    PostgreSQL can store); every bad line is reported. Offline unless --check-stores."""
    lines, bad = eventsfile.scan(file)
    checked = len(lines) + len(bad)
    if check_stores and lines:
        with app.db() as conn:
            bad = sorted([*bad, *eventsfile.of_unknown_stores(conn, lines)], key=lambda b: b.line)
    invalid = [{"line": b.line, "error": b.reason} for b in bad]
    if as_json:
        report = {"lines": checked, "valid": checked - len(invalid), "invalid": invalid}
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        for b in bad:
            click.echo(f"{file}: line {b.line}: {b.reason}", err=True)
        click.echo(f"{file}: {checked - len(invalid)} of {checked} lines valid")
    if bad:
        raise click.exceptions.Exit(1)


@events.command("schema")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write it here, not to stdout.")
@json_option
def schema(output: Path | None, as_json: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of an input event, from the model the worker uses.
    (It is JSON either way; with -o, --json says where it went as JSON.)"""
    from schemas.events import input_event_schema

    text = json.dumps(input_event_schema(), indent=2, ensure_ascii=False) + "\n"
    _emit(text, output, "the input event schema", as_json)


@events.command("asyncapi")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write it here, not to stdout.")
@json_option
@pass_app
def asyncapi(app: AppContext, output: Path | None, as_json: bool) -> None:
    """Print the AsyncAPI 3.0 document (YAML) of the three topics, named as configured; with the
    defaults it is docs/asyncapi.yaml. --json: the document as JSON (with -o, where it went)."""
    import yaml

    from schemas.asyncapi import document

    class _PlainDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True  # a schema shared by two places is written out twice, not as &id001 / *id001

    config = app.config
    built = document(config.input_topic, config.output_topic, config.dlq_topic)
    if as_json:
        text = json.dumps(built, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.dump(built, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)
    _emit(text, output, "the AsyncAPI document", as_json)


def _emit(text: str, output: Path | None, what: str, as_json: bool) -> None:
    """`text` to stdout, or to `output`, saying where `what` went."""
    if output is None:
        sys.stdout.write(text)
        return
    write_file(output, text, "--output")
    if as_json:
        click.echo(json.dumps({"written": str(output)}, ensure_ascii=False))
    else:
        click.echo(f"wrote {what} to {output}")
