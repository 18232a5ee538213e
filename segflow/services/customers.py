"""Customers service: `customers import` (all or nothing), and seeing inside (SPEC §9): the
list, one customer's record, memberships and runs, and their journey with a verdict.

Unlike a segment import (which skips bad rows and reports them), a customer import is the
source of customer records: one bad row refuses the whole file, so nothing half-imports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from db import Conn, journey, outbox
from db import customers as customer_rows
from db import flows as flow_rows
from db import runs as run_rows
from db import segments as segment_rows
from db.customers import CustomerFields, CustomerRecord
from db.journey import StoredEntry
from db.runs import RunRow
from schemas.email import normalise_email
from schemas.names import person_name_problem
from schemas.reports import (
    CustomerOut,
    CustomerRecordOut,
    CustomerRunOut,
    CustomerSegmentOut,
    CustomerShow,
    ExplainOut,
    ImportReport,
    JourneyStepOut,
    StepCause,
    VerdictOut,
)
from segflow.errors import InvalidInput, NotFound
from segflow.infra.config import DEFAULT_JOURNEY_RETENTION
from segflow.services import csvfile, stores
from segflow.services import segments as segment_service

COLUMNS = ("email", "external_id", "first_name", "last_name", "phone")


def parse(path: Path) -> list[CustomerFields]:
    """Read and check the whole file; InvalidInput names the first bad line and the count."""
    parsed = csvfile.read(path, required=("email",), allowed=COLUMNS)
    rows = csvfile.email_rows(parsed)
    problems = sorted(
        rows.invalid
        + [(line, f"{email} already appears on line {first}") for line, email, first in rows.repeats]
        + [
            (row.line, f"{field} {problem}")
            for row, _email in rows.first
            for field in ("first_name", "last_name")
            if (problem := person_name_problem(row.values.get(field) or ""))
        ]
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


def list_customers(
    conn: Conn,
    store_id: str,
    limit: int,
    search: str | None = None,
    segment: str | None = None,
    after: str | None = None,
) -> list[CustomerOut]:
    """`customers list`: by email substring (any case) and segment, in email order; `after` an
    email for the next page."""
    stores.require(conn, store_id)
    segment_id = segment_service.get(conn, store_id, segment).id if segment is not None else None
    wanted = search.strip().lower() or None if search is not None else None
    rows = customer_rows.find(conn, store_id, limit, wanted, segment_id, after)
    return [
        CustomerOut(email=email, external_id=external_id, first_name=first, last_name=last, phone=phone)
        for email, external_id, first, last, phone in rows
    ]


def output_events(conn: Conn, store_id: str, email: str) -> list[dict[str, Any]]:
    """The customer's output events still in the outbox, oldest first, as published (JSON)."""
    return outbox.for_customer(conn, store_id, email)


def _customer(conn: Conn, store_id: str, email: str) -> CustomerRecord:
    stores.require(conn, store_id)
    try:
        normalised = normalise_email(email)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    record = customer_rows.record(conn, store_id, normalised)
    if record is None:
        raise NotFound(f"customer {normalised} not found in store {store_id}")
    return record


def show(conn: Conn, store_id: str, email: str) -> CustomerShow:
    """`customers show`: the record, memberships with who made them, and every run."""
    record = _customer(conn, store_id, email)
    return CustomerShow(
        customer=CustomerRecordOut(
            email=record.email, external_id=record.external_id, first_name=record.first_name,
            last_name=record.last_name, phone=record.phone, created_at=record.created_at,
        ),
        segments=[
            CustomerSegmentOut(name=name, added_at=at, added_by=by)
            for name, at, by in segment_rows.of_customer(conn, store_id, record.id)
        ],
        runs=[_run_out(r) for r in run_rows.of_customer(conn, store_id, record.id)],
    )  # fmt: skip


def _run_out(r: RunRow) -> CustomerRunOut:
    return CustomerRunOut(
        flow_id=r.flow_id, version=r.flow_version, status=r.status, node_id=r.node_id, entered_at=r.entered_at,
        updated_at=r.updated_at, wake_at=r.wake_at, waiting_for=r.waiting_for, reason=r.reason,
    )  # fmt: skip


def explain(
    conn: Conn,
    store_id: str,
    email: str,
    flow_id: str | None = None,
    limit: int = 50,
    journey_kept: timedelta = DEFAULT_JOURNEY_RETENTION,
) -> ExplainOut:
    """`customers explain`: the customer's last `limit` steps, oldest first (of one flow with
    `flow_id`, which also gives a verdict: why they are, were or never were in it). Journeys are
    kept `journey_kept` (SEGFLOW_JOURNEY_RETENTION)."""
    record = _customer(conn, store_id, email)
    verdicts = []
    if flow_id is not None:
        head = flow_rows.heads(conn, store_id).get(flow_id)
        if head is None:
            raise NotFound(f"flow {flow_id} not found in store {store_id}")
        latest = flow_rows.get_version(conn, store_id, flow_id, None)
        assert latest is not None
        from schemas.flow import deployed_flow  # the flow model: only an explanation of one flow reads it

        trigger = deployed_flow(latest.definition).trigger.event
        runs = [r for r in run_rows.of_customer(conn, store_id, record.id) if r.flow_id == flow_id]
        refusal = next(
            (
                found for found in journey.newest_first(conn, store_id, record.id)
                if found.entry["flow_id"] == flow_id and found.entry["status"] == journey.REFUSED
            ),
            None,
        )  # fmt: skip
        verdicts.append(VerdictOut(flow_id=flow_id, verdict=verdict(trigger, head.status, runs, refusal, journey_kept)))
    newest = (e for e in journey.newest_first(conn, store_id, record.id) if flow_id in (None, e.entry["flow_id"]))
    steps = [_step_out(found) for found in islice(newest, limit)]
    return ExplainOut(email=record.email, steps=steps[::-1], verdicts=verdicts)


def _step_out(found: StoredEntry) -> JourneyStepOut:
    e = found.entry
    return JourneyStepOut(
        at=found.at, cause=StepCause(operation=e["operation"], event_id=e["event_id"], event_type=e["event_type"]),
        flow_id=e["flow_id"], version=e["version"], path=e["path"], status=e["status"], node_id=e["node_id"],
        reason=e["reason"], effects=e["effects"],
    )  # fmt: skip


def verdict(trigger: str, status: str, runs: list[RunRow], refusal: StoredEntry | None, journey_kept: timedelta) -> str:
    """Why the customer is, was or never was in the flow, in words."""
    live = [r for r in runs if r.status in ("active", "waiting")]
    if live:
        r = live[-1]
        where = f"active at node {r.node_id}"
        if r.status == "waiting":
            what = f" for {r.waiting_for}" if r.waiting_for else ""
            until = f" until {_when(r.wake_at)}" if r.wake_at else ""
            where = f"waiting at node {r.node_id}{what}{until}"
        text = f"is in the flow: entered {_when(r.entered_at)} on version {r.flow_version}, {where}"
    elif runs:
        r = max(runs, key=lambda run: run.updated_at)
        entered = f"entered {_when(r.entered_at)} on version {r.flow_version}"
        reason = f" ({r.reason})" if r.reason else ""
        if r.status == "failed":
            text = f"{entered}, and the run failed at node {r.node_id} {_when(r.updated_at)}: {r.reason}"
        else:
            text = f"was in the flow: {entered}, {r.status} at node {r.node_id} {_when(r.updated_at)}{reason}"
        if refusal is not None and refusal.at >= r.updated_at:
            text += f"; later, {_event(refusal)} did not let them in again: {refusal.entry['reason']}"
    elif refusal is not None:
        text = f"never entered: {_event(refusal)} matched the trigger, but {refusal.entry['reason']}"
    else:
        # Journeys are dropped a partition at a time, never before they are `journey_kept` old.
        kept = f"{journey_kept.days} days" if journey_kept >= timedelta(days=2) else str(journey_kept)
        text = f"never triggered: no {trigger} event for this customer in the last {kept}"
    if status != "active":
        text += f" (the flow is {status} now)"
    return text


def _event(refusal: StoredEntry) -> str:
    return f"{refusal.entry['event_type']} {refusal.entry['event_id']} {_when(refusal.at)}"


def _when(at: datetime | None) -> str:
    return f"on {at:%Y-%m-%d %H:%M:%S %Z}".strip() if at is not None else "at an unknown time"
