"""`segflow customers ...`"""

from __future__ import annotations

from pathlib import Path

import click

from schemas.reports import CustomerRunOut, ExplainOut, ImportReport
from segflow.cli.common import AppContext, json_option, pass_app, print_json, print_table, store_option
from segflow.services import customers as customer_service
from segflow.services import wording


@click.group()
def customers() -> None:
    """Load customer records, and see what happened to a customer."""


@customers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@store_option
@json_option
@pass_app
def import_(app: AppContext, file: Path, store_id: str, as_json: bool) -> None:
    """Create or update customers from a CSV: email,external_id,first_name,last_name,phone.

    Only email is required. Empty fields keep the value the customer already has. Any invalid
    row refuses the whole file.
    """
    with app.db() as conn:
        report = customer_service.import_file(conn, store_id, file)
    if as_json:
        print_json(report)
    else:
        print_import_report(report)


def print_import_report(report: ImportReport) -> None:
    click.echo(f"{report.rows} rows: {report.added} added, {report.updated} updated, {report.unchanged} unchanged")


@customers.command("list")
@store_option
@click.option("--segment", help="Only members of this segment.")
@click.option("--search", help="Only emails that contain this text.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@json_option
@pass_app
def list_(app: AppContext, store_id: str, segment: str | None, search: str | None, limit: int, as_json: bool) -> None:
    """List a store's customers, in email order."""
    with app.db() as conn:
        found = customer_service.list_customers(conn, store_id, limit, search, segment)
    if as_json:
        print_json(found)
        return
    print_table(
        ["email", "external id", "first name", "last name", "phone"],
        [[c.email, c.external_id or "", c.first_name or "", c.last_name or "", c.phone or ""] for c in found],
    )


@customers.command("show")
@click.argument("email")
@store_option
@json_option
@pass_app
def show(app: AppContext, email: str, store_id: str, as_json: bool) -> None:
    """A customer's record, their segments (and who added them), and every run."""
    with app.db() as conn:
        shown = customer_service.show(conn, store_id, email)
    if as_json:
        print_json(shown)
        return
    c = shown.customer
    name = " ".join(part for part in (c.first_name, c.last_name) if part)
    click.echo(f"{c.email}{f' ({name})' if name else ''}, customer since {c.created_at:%Y-%m-%d}")
    for label, value in (("external id", c.external_id), ("phone", c.phone)):
        if value:
            click.echo(f"  {label}: {value}")
    click.echo(f"\nsegments ({len(shown.segments)}):")
    memberships = [[s.name, f"{s.added_at:%Y-%m-%d %H:%M}", s.added_by] for s in shown.segments]
    print_table(["segment", "added", "by"], memberships)
    click.echo(f"\nruns ({len(shown.runs)}):")
    print_table(
        ["flow", "status", "node", "entered", "updated", "waiting", "reason"],
        [
            [
                f"{r.flow_id}@{r.version}", r.status, r.node_id or "", f"{r.entered_at:%Y-%m-%d %H:%M}",
                f"{r.updated_at:%Y-%m-%d %H:%M}",
                _waiting(r),
                r.reason or "",
            ]
            for r in shown.runs
        ],
    )  # fmt: skip


@customers.command("explain")
@click.argument("email")
@store_option
@click.option("--flow", "flow_id", help="Also say why the customer is, was or never was in this flow.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Most recent steps.")
@json_option
@pass_app
def explain(app: AppContext, email: str, store_id: str, flow_id: str | None, limit: int, as_json: bool) -> None:
    """Every step the customer took, oldest first: what caused it, the flow and nodes, what it did."""
    with app.db() as conn:
        explained = customer_service.explain(conn, store_id, email, flow_id, limit, app.config.journey_retention)
    if as_json:
        print_json(explained)
    else:
        print_explained(explained)


def print_explained(explained: ExplainOut) -> None:
    click.echo(f"journey of {explained.email} ({len(explained.steps)} steps, oldest first):")
    for step in explained.steps:
        first, *more = wording.step_lines(step)
        click.echo(f"  {step.at:%Y-%m-%d %H:%M:%S}  {first}")
        for line in more:
            click.echo(f"      {line}")
    for v in explained.verdicts:
        click.echo(f"verdict for {v.flow_id}: {v.verdict}")


def _waiting(run: CustomerRunOut) -> str:
    until = f"until {run.wake_at:%Y-%m-%d %H:%M}" if run.wake_at else ""
    return " ".join(part for part in (run.waiting_for or "", until) if part)
