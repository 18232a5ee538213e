"""`segflow broker`: the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import signal
from types import FrameType

import click

from segflow.cli.common import json_option, print_json
from segflow.infra.embedded import EmbeddedBroker


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9092, show_default=True, type=click.IntRange(1, 65535))
@json_option
def broker(host: str, port: int, as_json: bool) -> None:
    """Run the embedded broker (memory-only tansu) until Ctrl-C. For development.

    With --json, `{"bootstrap": ...}` is printed on stdout once it listens."""
    server = EmbeddedBroker(host, port)

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    server.start(output=None)
    click.echo(f"broker listening on {server.bootstrap} (memory only); Ctrl-C stops it", err=True)
    if as_json:
        print_json({"bootstrap": server.bootstrap, "memory_only": True})
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        click.echo("broker stopped", err=True)
