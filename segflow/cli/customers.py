"""`segflow customers ...`"""

from __future__ import annotations

from pathlib import Path

import click

from schemas.reports import ImportReport
from segflow import customers as customer_service
from segflow.cli.common import AppContext, json_option, pass_app, print_json, store_option


@click.group()
def customers() -> None:
    """Load customer records."""


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
