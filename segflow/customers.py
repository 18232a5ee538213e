"""Customers service: the `customers import` file format and its all-or-nothing rule.

Unlike a segment import (which skips bad rows and reports them), a customer import is the
source of customer records: one bad row refuses the whole file, so nothing half-imports.
"""

from __future__ import annotations

from pathlib import Path

from db import Conn
from db import customers as customer_rows
from db.customers import CustomerFields
from schemas.reports import ImportReport
from segflow import csvfile, stores
from segflow.errors import InvalidInput

COLUMNS = ("email", "external_id", "first_name", "last_name", "phone")


def parse(path: Path) -> list[CustomerFields]:
    """Read and check the whole file; InvalidInput names the first bad line and the count."""
    parsed = csvfile.read(path, required=("email",), allowed=COLUMNS)
    rows = csvfile.email_rows(parsed)
    problems = sorted(
        rows.invalid + [(line, f"{email} already appears on line {first}") for line, email, first in rows.repeats]
    )
    customers = [
        CustomerFields(
            email=email,
            external_id=row.values.get("external_id") or None,
            first_name=row.values.get("first_name") or None,
            last_name=row.values.get("last_name") or None,
            phone=row.values.get("phone") or None,
        )
        for row, email in rows.first
    ]
    if problems:
        line, reason = problems[0]
        more = f" (and {len(problems) - 1} more invalid rows)" if len(problems) > 1 else ""
        raise InvalidInput(f"{path}: line {line}: {reason}{more}; nothing was imported")
    return customers


def import_file(conn: Conn, store_id: str, path: Path) -> ImportReport:
    stores.require(conn, store_id)
    customers = parse(path)
    with conn.transaction():
        counts = customer_rows.upsert(conn, store_id, customers)
    return ImportReport(
        rows=len(customers),
        added=counts.added,
        updated=counts.updated,
        unchanged=len(customers) - counts.added - counts.updated,
    )
