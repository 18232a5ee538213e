"""`segflow flows ...` (SPEC §4, §7). Deploy, simulate and the rest arrive with the flow issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from engine.validate import FlowError, validate
from schemas.flow import Flow
from schemas.reports import Report
from segflow.cli.common import json_option, print_json


class ErrorOut(Report):
    node: str | None
    message: str


class ValidationOut(Report):
    file: str
    ok: bool
    errors: list[ErrorOut]


@click.group()
def flows() -> None:
    """Validate Subscription Experience flow definitions."""


def load_definition(path: Path) -> tuple[Any, list[FlowError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [FlowError(None, "no such file")]
    except UnicodeDecodeError:
        return None, [FlowError(None, "not UTF-8 text")]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [FlowError(None, f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}")]


@flows.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@json_option
def validate_(files: tuple[Path, ...], as_json: bool) -> None:
    """Check flow files without a database; every problem is listed with its node id."""
    results: list[ValidationOut] = []
    for path in files:
        raw, errors = load_definition(path)
        if not errors:
            _flow, errors = validate(raw)
        results.append(
            ValidationOut(
                file=str(path), ok=not errors, errors=[ErrorOut(node=e.node, message=e.message) for e in errors]
            )
        )
    if as_json:
        print_json(results)
    else:
        for result in results:
            if result.ok:
                click.echo(f"{result.file}: ok")
            for error in result.errors:
                where = f"node {error.node}" if error.node is not None else "flow"
                click.echo(f"{result.file}: {where}: {error.message}", err=True)
    if not all(r.ok for r in results):
        raise click.exceptions.Exit(1)


@flows.command("schema")
def schema() -> None:
    """Print the JSON Schema of flow definitions (for editors and CI)."""
    document = Flow.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(document, indent=2))
