"""`segflow flows ...` (SPEC §4, §7): validate, deploy and manage versions, simulate, graph."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from engine.graph import mermaid
from engine.simulate import simulate
from engine.validate import FlowError, check, parse_definition, validate
from schemas.flow import Flow, deployed_flow
from schemas.reports import (
    FlowOut,
    FlowStatsOut,
    FlowStatusOut,
    FlowVersionOut,
    Report,
)
from segflow.cli.common import AppContext, json_option, pass_app, print_json, print_table, store_option, write_file
from segflow.errors import InvalidInput
from segflow.services import eventsfile
from segflow.services import flows as flow_service
from segflow.services.flows import StatusChange


class ErrorOut(Report):
    node: str | None
    message: str


class ValidationOut(Report):
    file: str
    ok: bool
    errors: list[ErrorOut]


VERSION = click.IntRange(1, 2**31 - 1)  # flow_versions.version is an integer column


@click.group()
def flows() -> None:
    """Author, deploy and manage Subscription Experience flows."""


def load_definition(path: Path) -> tuple[Any, list[FlowError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [FlowError(None, "no such file")]
    except UnicodeDecodeError:
        return None, [FlowError(None, "not UTF-8 text")]
    except OSError as exc:
        return None, [FlowError(None, f"cannot be read: {exc.strerror or exc}")]
    return parse_definition(text)


class DeployedValidationOut(ValidationOut):
    flow: str
    version: int


@flows.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--store", "store_id", help="Also check the store-aware rules against this store.")
@click.option("--deployed", is_flag=True, help="Check every version deployed to --store against today's rules.")
@json_option
@pass_app
def validate_(app: AppContext, files: tuple[Path, ...], store_id: str | None, deployed: bool, as_json: bool) -> None:
    """Check flow files; every problem is listed with its node id. No database unless --store.

    With --deployed, check what the store has deployed instead: versions today's rules refuse
    (they were deployed under older ones) are listed as FLOW@VERSION: why. They keep running as
    deployed; the list says what a redeploy would have to change."""
    if deployed:
        if files or store_id is None:
            raise click.UsageError("--deployed checks a store's deployed versions: give --store STORE and no files")
        _validate_deployed(app, store_id, as_json)
        return
    if not files:
        raise click.UsageError("give flow files to check, or --deployed --store STORE")
    results: list[ValidationOut] = []
    checked: list[tuple[Path, Flow | None, list[FlowError]]] = []
    for path in files:
        raw, errors = load_definition(path)
        flow = None
        if raw is not None:
            flow, structural = check(raw)  # the valid parts, so the store checks see them too
            errors.extend(structural)
        checked.append((path, flow, errors))
    if store_id is not None:
        with app.db() as conn:
            for _path, flow, errors in checked:
                if flow is not None:
                    if flow.store_id != store_id:
                        errors.append(FlowError(None, f"store_id is {flow.store_id}, not {store_id}"))
                    else:
                        errors.extend(flow_service.store_errors(conn, flow))
    for path, _flow, errors in checked:
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


def _validate_deployed(app: AppContext, store_id: str, as_json: bool) -> None:
    with app.db() as conn:
        refused = flow_service.refused_versions(conn, store_id)
    if as_json:
        print_json(
            [
                DeployedValidationOut(
                    file=f"{r.flow_id}@{r.version}",
                    flow=r.flow_id,
                    version=r.version,
                    ok=False,
                    errors=[ErrorOut(node=e.node, message=e.message) for e in r.errors],
                )
                for r in refused
            ]
        )
    else:
        for version in refused:
            click.echo(str(version))
        if refused:
            click.echo(f"{len(refused)} deployed version(s) in store {store_id} would be refused by today's rules; "
                       "they keep running as deployed", err=True)  # fmt: skip
        else:
            click.echo(f"every version deployed in store {store_id} passes today's rules")
    if refused:
        raise click.exceptions.Exit(1)


class DeployOut(Report):
    id: str
    store_id: str
    version: int
    created: bool
    segments_created: list[str]
    dry_run: bool


@flows.command("deploy")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Say which versions and segments it would create; write nothing.")
@json_option
@pass_app
def deploy(app: AppContext, files: tuple[Path, ...], dry_run: bool, as_json: bool) -> None:
    """Deploy flow files as new immutable versions (all or none); identical content is a no-op."""
    loaded = [load_flow(path) for path in files]
    with app.db() as conn:
        results = [
            DeployOut.model_validate({**dataclasses.asdict(d), "dry_run": dry_run})
            for d in flow_service.deploy(conn, loaded, dry_run)
        ]
    if as_json:
        print_json(results)
        return
    would = "would " if dry_run else ""
    for r in results:
        if r.created:
            made = f", creating segments {', '.join(r.segments_created)}" if r.segments_created else ""
            click.echo(f"{would}{'deploy' if dry_run else 'deployed'} {r.id}@{r.version} to store {r.store_id}{made}")
        else:
            click.echo(f"{r.id}@{r.version} in store {r.store_id} is already this content; nothing {would}deployed")
    if dry_run:
        click.echo("dry run: nothing was written")


@flows.command("list")
@store_option
@json_option
@pass_app
def list_(app: AppContext, store_id: str, as_json: bool) -> None:
    """Every flow of a store (latest version), archived ones included."""
    with app.db() as conn:
        rows = [FlowOut.model_validate(r, from_attributes=True) for r in flow_service.list_all(conn, store_id)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"store {store_id} has no flows; deploy one with `segflow flows deploy FILE`")
        return
    print_table(
        ["flow", "version", "status", "trigger", "active runs"],
        [[r.id, str(r.version), r.status, r.trigger, str(r.active_runs)] for r in rows],
    )


@flows.command("show")
@click.argument("flow_id")
@store_option
@click.option("--version", type=VERSION, help="A past version (default: the latest).")
@json_option
@pass_app
def show(app: AppContext, flow_id: str, store_id: str, version: int | None, as_json: bool) -> None:
    """Print a deployed version's definition."""
    with app.db() as conn:
        row = FlowVersionOut.model_validate(flow_service.show(conn, store_id, flow_id, version), from_attributes=True)
    if as_json:
        print_json(row)
        return
    click.echo(f"# {row.id}@{row.version} ({row.status}), deployed {row.created_at.isoformat()}")
    click.echo(json.dumps(row.definition, indent=2, ensure_ascii=False))


def _status_command(change: StatusChange, help_text: str) -> click.Command:
    @click.command(change, help=help_text)
    @click.argument("flow_id")
    @store_option
    @json_option
    @pass_app
    def command(app: AppContext, flow_id: str, store_id: str, as_json: bool) -> None:
        with app.db() as conn:
            status, exited = flow_service.change_status(conn, store_id, flow_id, change)
        if as_json:
            print_json(FlowStatusOut(id=flow_id, store_id=store_id, status=status, exited_runs=exited))
            return
        suffix = f"; {exited} in-flight runs exited" if change == "archive" else ""
        click.echo(f"flow {flow_id} in store {store_id} is {status}{suffix}")

    return command


for _change, _help in (
    ("pause", "Stop new entries; in-flight runs continue."),
    ("resume", "Let new entries in again."),
    ("archive", "Stop the flow and exit its in-flight runs."),
):
    flows.add_command(_status_command(_change, _help))  # type: ignore[arg-type]


def _print_errors(path: Path, errors: list[FlowError]) -> None:
    for error in errors:
        where = f"node {error.node}" if error.node is not None else "flow"
        click.echo(f"{path}: {where}: {error.message}", err=True)


def load_flow(path: Path) -> tuple[Any, Flow]:
    """(the JSON as written, the flow) from `path`, or every problem with it on stderr and exit 1."""
    raw, errors = load_definition(path)
    flow = None
    if raw is not None:
        flow, structural = validate(raw)
        errors.extend(structural)
    if errors or flow is None:
        _print_errors(path, errors)
        raise click.exceptions.Exit(1)
    return raw, flow


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
    _raw, flow = load_flow(file)
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


class FlowTestCaseOut(Report):
    file: str
    customer: str
    ok: bool
    failures: list[str]


class FlowTestsOut(Report):
    cases: int
    failed: int
    results: list[FlowTestCaseOut]


@flows.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--junit", "junit_file", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here."
)
@json_option
def test_(files: tuple[Path, ...], junit_file: Path | None, as_json: bool) -> None:
    """Check golden paths: per customer, what a flow must do with given events (SPEC §12).
    Runs on the simulator in memory; exit 1 naming file, customer, field and the first difference."""
    from segflow.services import flowtests

    results = [case for path in files for case in flowtests.run_file(path)]
    failed = [case for case in results if not case.ok]
    if junit_file is not None:
        write_file(junit_file, flowtests.junit(results), "--junit")
    if as_json:
        cases = [FlowTestCaseOut(file=c.file, customer=c.customer, ok=c.ok, failures=c.failures) for c in results]
        print_json(FlowTestsOut(cases=len(results), failed=len(failed), results=cases))
    else:
        for case in failed:
            for failure in case.failures:
                click.echo(f"{case.file}: {case.customer}: {failure}", err=True)
        files_text = f"{len(files)} file" + ("s" if len(files) != 1 else "")
        click.echo(f"{len(results) - len(failed)} of {len(results)} customers as expected in {files_text}")
    if failed:
        raise click.exceptions.Exit(1)


@flows.command("stats")
@click.argument("flow_id")
@store_option
@click.option("--version", type=VERSION, help="A past version (default: the latest).")
@json_option
@pass_app
def stats(app: AppContext, flow_id: str, store_id: str, version: int | None, as_json: bool) -> None:
    """What a deployed version's runs did: runs by status, visits and waiting runs per node, and
    how often each edge was taken."""
    with app.db() as conn:
        report = FlowStatsOut.model_validate(
            flow_service.stats(conn, store_id, flow_id, version)[1], from_attributes=True
        )
    if as_json:
        print_json(report)
        return
    runs = ", ".join(f"{n} {status}" for status, n in report.runs.items())
    click.echo(f"{report.flow_id}@{report.version}: {sum(report.runs.values())} runs ({runs})")
    print_table(
        ["node", "type", "visits", "waiting", "edges taken"],
        [
            [
                n.id, n.type, str(n.visits), str(n.waiting) if n.type == "wait" else "",
                ", ".join(f"{label} {count}" for label, count in n.edges.items()),
            ]
            for n in report.nodes
        ],
    )  # fmt: skip


@flows.command("diff")
@click.argument("target")
@store_option
@click.option("--from", "from_version", type=VERSION, help="Compare deployed versions: TARGET is a flow id.")
@click.option(
    "--to",
    "to_version",
    type=VERSION,
    help="With --from: the newer version (default: the latest).",
)
@json_option
@pass_app
def diff_(
    app: AppContext, target: str, store_id: str, from_version: int | None, to_version: int | None, as_json: bool
) -> None:
    """What changed, by node id and field: two deployed versions of flow TARGET (--from N [--to M]),
    or flow file TARGET against its latest deployed version."""
    file = None
    if from_version is None:
        if to_version is not None:
            raise InvalidInput("--to goes with --from: give the older version too")
        file = Path(target)
        if not file.is_file():
            raise InvalidInput(f"{target}: no such flow file; to compare deployed versions of a flow, give --from N")
        flow = load_flow(file)[1]
        if flow.store_id != store_id:
            raise InvalidInput(f"{target}: store_id is {flow.store_id}, not {store_id}")
    with app.db() as conn:
        if file is None:
            found = flow_service.diff_versions(conn, store_id, target, from_version or 0, to_version)
        else:
            found = flow_service.diff_file(conn, flow)
    report = flow_service.diff_report(found, None if file is None else str(file))
    if as_json:
        print_json(report)
        return
    newer = f"version {report.to.version}" if report.to.file is None else report.to.file
    click.echo(f"{found.flow_id}: version {report.from_.version} -> {newer}")
    if not report.changes:
        click.echo("  no changes")
    for change in report.changes:
        what = "flow" if change.node is None else f"node {change.node}"
        fields = f": {', '.join(change.fields)}" if change.fields else ""
        click.echo(f"  {what}: {change.change}{fields}")
    if report.runs_on_removed_nodes:
        click.echo(
            f"  {report.runs_on_removed_nodes} live runs of version {report.from_.version} are at nodes this removes "
            "(they stay on their version)"
        )


class BackfillOut(Report):
    entered: int
    skipped: int
    dry_run: bool


@flows.command("backfill")
@click.argument("flow_id")
@store_option
@click.option("--segment", required=True, help="Enter this segment's current members.")
@click.option("--dry-run", is_flag=True, help="Say how many would enter; write and send nothing.")
@json_option
@pass_app
def backfill(app: AppContext, flow_id: str, store_id: str, segment: str, dry_run: bool, as_json: bool) -> None:
    """Enter a segment's current members into an active flow as if its trigger fired now,
    honouring its reentry rule. Running it again enters nobody twice. The trigger's `where` is not
    asked (there is no event); the flow's events go out through the worker."""
    with app.db() as conn:
        report = BackfillOut.model_validate(
            flow_service.backfill(conn, store_id, flow_id, segment, dry_run), from_attributes=True
        )
    if as_json:
        print_json(report)
        return
    would = "would enter" if dry_run else "entered"
    click.echo(
        f"{would} {report.entered} members of {segment} into {flow_id}; {report.skipped} skipped "
        "(already entered by this backfill, or the flow's reentry rule)"
    )


@flows.command("graph")
@click.argument("target")
@click.option("--store", "store_id", help="Draw a deployed flow: TARGET is its id.")
@click.option("--version", type=VERSION, help="With --store: a past version (default: the latest).")
@click.option("--stats", "with_stats", is_flag=True, help="With --store: put `flows stats` counts on the graph.")
@json_option
@pass_app
def graph(
    app: AppContext, target: str, store_id: str | None, version: int | None, with_stats: bool, as_json: bool
) -> None:
    """Print a flow as a Mermaid flowchart: TARGET is a flow file, or with --store a deployed flow's id."""
    if store_id is None:
        if with_stats or version is not None:
            raise InvalidInput(f"--{'stats' if with_stats else 'version'} is for a deployed flow: add --store STORE")
        flow = load_flow(Path(target))[1]
        chart = mermaid(flow)
    else:
        with app.db() as conn:
            if with_stats:
                flow, counts = flow_service.stats(conn, store_id, target, version)
                entered = sum(counts.runs.values())
                chart = mermaid(flow, {n.id: n for n in counts.nodes}, entered)
            else:
                flow = deployed_flow(flow_service.show(conn, store_id, target, version).definition)
                chart = mermaid(flow)
    if as_json:
        print_json({"id": flow.id, "mermaid": chart})
    else:
        click.echo(chart, nl=False)


@flows.command("schema")
@json_option
def schema(as_json: bool) -> None:
    """Print the JSON Schema of flow definitions (for editors and CI). It is JSON either way;
    --json prints it on one line."""
    document = Flow.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(document) if as_json else json.dumps(document, indent=2))
