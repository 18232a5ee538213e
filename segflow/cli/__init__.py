"""The `segflow` command (SPEC §7). Errors are caught once, here.

Exit codes: 0 success, 1 user error or unavailable service (`error: ...` on stderr, and under
`--json` also `{"error": ...}` on stdout), 2 usage error. Any other exception is a bug and
keeps its traceback.

Commands are imported when they run, not when `segflow` starts: each pays for its own
dependencies (psycopg, kafka-python, pydantic models...), and `segflow --help` for none.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from segflow.errors import SegflowError

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, its one-line help; a test keeps this equal to the command's own)
    "db": ("segflow.cli.database", "db", "Database schema and the embedded server."),
    "stores": ("segflow.cli.stores", "stores", "Create and list stores (tenants)."),
    "customers": (
        "segflow.cli.customers", "customers", "Load customer records, and see what happened to a customer."
    ),
    "segments": ("segflow.cli.segments", "segments", "Create, view, fill and delete customer segments."),
    "flows": ("segflow.cli.flows", "flows", "Author, deploy and manage Subscription Experience flows."),
    "events": (
        "segflow.cli.events", "events", "Check customer events against the contract, and send them to the input topic."
    ),
    "worker": (
        "segflow.cli.worker", "worker", "Consume customer events, advance flows, publish flow events, wake waits."
    ),
    "dlq": ("segflow.cli.dlq", "dlq", "See dead letters, and replay them once their cause is fixed."),
    "serve": (
        "segflow.cli.serve", "serve", "Serve the console (web pages) and the JSON API until Ctrl-C."
    ),
    "broker": ("segflow.cli.broker", "broker", "Run the embedded broker (memory-only tansu) until Ctrl-C."),
    "demo": (
        "segflow.cli.demo",
        "demo",
        "Everything embedded, end to end: a store, flows, events, the worker, and what happened.",
    ),
}  # fmt: skip


class LazyGroup(click.Group):
    """A group whose commands are imported when asked for; help lists them from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _help = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short_help) for name, (_m, _a, short_help) in COMMANDS.items()])


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("segflow")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"segflow {_version()}")
        ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version, help="Print the version."
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """segflow: customer events in, segment memberships and flow events out."""
    from segflow.cli.common import AppContext
    from segflow.infra.config import Config
    from segflow.infra.logging import configure

    config = Config.from_env()
    configure(config.log_format)
    ctx.obj = AppContext(config)
    ctx.call_on_close(ctx.obj.close)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # Python keeps undecodable bytes as lone surrogates
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return _fail(f"argument {number} is not valid UTF-8: {shown}", 2, as_json)
    try:
        result: Any = cli.main(args=args, prog_name="segflow", standalone_mode=False)
    except click.exceptions.Abort:
        return _fail("aborted", 1, as_json)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        if as_json:
            click.echo(json.dumps({"error": exc.format_message()}, ensure_ascii=False))
        exc.show()
        return exc.exit_code
    except SegflowError as exc:
        for line in exc.lines:
            click.echo(line, err=True)
        return _fail(str(exc) + exc.cli_hint, 1, as_json, exc.data)
    # standalone_mode=False hands back the exit code of --help and ctx.exit() as an int.
    return result if isinstance(result, int) else 0


def _fail(message: str, code: int, as_json: bool, data: dict[str, Any] | None = None) -> int:
    """The one way a command reports an error: `error: ...` on stderr, and `{"error": ...}` on
    stdout under --json."""
    if as_json:
        click.echo(json.dumps({"error": message, **(data or {})}, ensure_ascii=False))
    click.echo(f"error: {message}", err=True)
    return code


def run() -> None:
    sys.exit(main())
