"""The `segflow` command (SPEC §7). Errors are caught once, here.

Exit codes: 0 success, 1 user error or unavailable service (`error: ...` on stderr),
2 usage error. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from segflow.cli import broker, customers, database, demo, flows, segments, stores, worker
from segflow.cli.common import AppContext
from segflow.config import Config
from segflow.errors import SegflowError
from segflow.logging import configure


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """segflow: customer events in, segment memberships and flow events out."""
    config = Config.from_env()
    configure(config.log_format)
    ctx.obj = AppContext(config)
    ctx.call_on_close(ctx.obj.close)


for group in (
    database.db,
    stores.stores,
    customers.customers,
    segments.segments,
    flows.flows,
    worker.worker,
    worker.events,
    broker.broker,
    demo.demo,
):
    cli.add_command(group)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="segflow", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SegflowError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    # standalone_mode=False hands back the exit code of --help and ctx.exit() as an int.
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
