"""`segflow flows ...` (SPEC §4, §7): validate, deploy and manage versions, simulate, graph."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from engine.graph import mermaid
from engine.simulate import simulate
from engine.validate import FlowError, validate
from schemas.flow import Flow
from schemas.reports import Report
from segflow import eventsfile
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
            _print_errors(Path(result.file), [FlowError(e.node, e.message) for e in result.errors])
    if not all(r.ok for r in results):
        raise click.exceptions.Exit(1)


def _print_errors(path: Path, errors: list[FlowError]) -> None:
    for error in errors:
        where = f"node {error.node}" if error.node is not None else "flow"
        click.echo(f"{path}: {where}: {error.message}", err=True)


def load_flow(path: Path) -> Flow:
    """The flow in `path`, or every problem with it on stderr and exit 1."""
    raw, errors = load_definition(path)
    flow = None
    if not errors:
        flow, errors = validate(raw)
    if errors or flow is None:
        _print_errors(path, errors)
        raise click.exceptions.Exit(1)
    return flow


class EffectOut(Report):
    type: str
    node: str | None
    data: dict[str, Any]


class StepOut(Report):
    email: str
    trigger: str
    """The input event id that moved the run, or "timer"."""
    at: datetime
    flow_id: str
    path: list[str]
    status: str
    waiting_until: datetime | None
    effects: list[EffectOut]


@flows.command("simulate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--events",
    "events_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON Lines of input events.",
)
@click.option(
    "--members",
    "members_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help='{"Segment": ["email", ...]} before the run.',
)
@json_option
def simulate_(file: Path, events_file: Path, members_file: Path | None, as_json: bool) -> None:
    """Dry-run a flow over events with the engine's own node code; writes nothing."""
    flow = load_flow(file)
    events = [line.event for line in eventsfile.read(events_file)]
    members = eventsfile.read_members(members_file) if members_file is not None else {}
    steps = [
        StepOut(
            email=t.email, trigger=t.trigger, at=t.at, flow_id=t.step.run.flow_id, path=t.step.path,
            status=t.step.run.status, waiting_until=t.step.run.wake_at,
            effects=[EffectOut(type=e.type, node=e.cause.node_id, data=e.data) for e in t.step.events],
        )
        for t in simulate(flow, events, members)
    ]  # fmt: skip
    if as_json:
        print_json(steps)
        return
    by_customer: dict[str, list[StepOut]] = {}
    for s in steps:
        by_customer.setdefault(s.email, []).append(s)
    for email, own in by_customer.items():
        click.echo(email)
        for s in own:
            _print_step(s)
    if not steps:
        click.echo(f"no event in {events_file} started or moved a run of {flow.id}")


def _print_step(step: StepOut) -> None:
    ending = step.status
    if step.status == "waiting" and step.waiting_until is not None:
        ending = f"waiting until {step.waiting_until.isoformat()}"
    click.echo(f"  {step.at.isoformat()} {step.trigger}: {' -> '.join(step.path)} -> {ending}")
    for effect in step.effects:
        if effect.type in ("flow.entered", "flow.completed"):
            continue  # the path line already says so
        detail = json.dumps(effect.data, ensure_ascii=False, separators=(",", ":")) if effect.data else ""
        click.echo(f"      {effect.type} {detail}".rstrip())


@flows.command("graph")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def graph(file: Path) -> None:
    """Print the flow as a Mermaid flowchart."""
    click.echo(mermaid(load_flow(file)), nl=False)


@flows.command("schema")
def schema() -> None:
    """Print the JSON Schema of flow definitions (for editors and CI)."""
    document = Flow.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(document, indent=2))
