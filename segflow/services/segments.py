"""Segments service: every way a merchant changes a segment, with one membership path.

`change_members` is the single implementation of a merchant's "add/remove customers to/from a
segment": membership rows that never duplicate, `added_by` recorded, and one outbox event per
real change, all in the caller's transaction. The CLI, CSV import and Klaviyo sync go through
it. Segment nodes do not: the worker writes a whole batch's membership changes set-based
(consumers.events.StoreWork.write), with the same rows, `added_by` and events.
"""

from __future__ import annotations

import dataclasses
import difflib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import psycopg

from db import Conn, journey, outbox
from db import flows as flow_rows
from db import segments as segment_rows
from db.segments import MemberRow
from db.segments import SegmentRow as SegmentRow  # what the front doors get back
from db.stores import StoreRow
from engine.ids import event_id
from engine.model import Emitted, EmittedCause
from schemas.email import normalise_email
from schemas.names import canonical, segment_name_problem
from segflow.services import csvfile, stores, wording

if TYPE_CHECKING:
    from schemas.reports import ImportReport

from segflow.errors import AlreadyExists, ImportTooLarge, InvalidInput, NotFound, PlanRequired, UserError

MAX_IMPORT_ROWS = 8_900  # SPEC §6: per upload; a larger file is refused whole
TEMPLATE_COLUMNS = ("email", "first_name", "last_name", "phone")
SEGMENT_PLANS = ("pro", "custom")
# Emails per round trip in an import: big enough to amortise latency, small enough for a smooth progress bar.
IMPORT_CHUNK = 1_000

Operation = Literal["add", "remove"]
OPERATIONS: tuple[Operation, ...] = ("add", "remove")


@dataclass(frozen=True, slots=True)
class MembershipChange:
    changed: list[str]
    unchanged: list[str]
    unknown: list[str]


def require_segments(conn: Conn, store_id: str) -> StoreRow:
    store = stores.require(conn, store_id)
    if store.plan not in SEGMENT_PLANS:
        raise PlanRequired(f"Segments are available to Pro or Custom plans; store {store_id} is on {store.plan}")
    return store


def check_name(name: str) -> str:
    """The name as stored: stripped, and within the rules every entry point shares."""
    cleaned = name.strip()
    problem = segment_name_problem(cleaned)
    if problem:
        shown = cleaned if len(cleaned) <= 40 else cleaned[:40] + "…"
        raise InvalidInput(f"segment name {shown!a} {problem}" if cleaned else "a segment name cannot be empty")
    return canonical(cleaned)


def as_typed(name: str) -> str:
    """A name a merchant typed, in the form segments are stored in."""
    return canonical(name.strip())


def _find(name: str, lookup: Callable[[str], SegmentRow | None]) -> SegmentRow | None:
    """The segment a typed name means: its NFC form, or else the name exactly as typed (a name
    stored before NFC was the rule, which migration 0017 could not convert because its NFC form
    was taken)."""
    found = lookup(as_typed(name))
    if found is None and as_typed(name) != name.strip():
        found = lookup(name.strip())
    return found


def create(conn: Conn, store_id: str, name: str, source: str = "manual") -> SegmentRow:
    require_segments(conn, store_id)
    cleaned = check_name(name)
    with conn.transaction():
        row = segment_rows.insert(conn, store_id, cleaned, source)
    if row is None:
        raise AlreadyExists(f'segment "{cleaned}" already exists in store {store_id}')
    return row


def get(conn: Conn, store_id: str, name: str) -> SegmentRow:
    require_segments(conn, store_id)
    row = _find(name, lambda typed: segment_rows.get(conn, store_id, typed))
    if row is None:
        raise missing_segment(conn, store_id, name)
    return row


def missing_segment(conn: Conn, store_id: str, name: str, hint: str = "") -> NotFound:
    """The error for a segment name the store does not have, suggesting the names it was
    probably meant to be (a typo must not pass unnoticed)."""
    names = [segment_name for _id, segment_name in segment_rows.ids_by_name(conn, store_id).values()]
    by_lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.strip().lower(), list(by_lower), n=3, cutoff=0.6)
    quoted = " or ".join(f'"{by_lower[c]}"' for c in close)
    suggestion = f"; did you mean {quoted}?" if close else ""
    return NotFound(f'segment "{name.strip()}" not found in store {store_id}{suggestion}{hint}')


def list_all(conn: Conn, store_id: str) -> list[SegmentRow]:
    require_segments(conn, store_id)
    return segment_rows.list_all(conn, store_id)


def show(conn: Conn, store_id: str, name: str, limit: int) -> tuple[SegmentRow, list[MemberRow]]:
    segment = get(conn, store_id, name)
    return segment, segment_rows.members_page(conn, store_id, segment.id, limit)


def change_members(
    conn: Conn,
    store_id: str,
    segment: SegmentRow,
    operation: Operation,
    customers: dict[str, int],
    added_by: str,
    cause: EmittedCause,
    now: datetime,
) -> set[str]:
    """Apply one membership change for `customers` (email -> id); returns the emails that changed.

    Must run inside the caller's transaction: the outbox rows commit with the change or not at all.
    """
    ids = list(customers.values())
    segment_rows.lock_member_customers(conn, store_id, ids)
    if operation == "add":
        changed_ids = segment_rows.add_members(conn, store_id, segment.id, ids, added_by, now)
        event_type: Literal["segment.member_added", "segment.member_removed"] = "segment.member_added"
    else:
        changed_ids = segment_rows.remove_members(conn, store_id, segment.id, ids)
        event_type = "segment.member_removed"
    changed = {email for email, customer_id in customers.items() if customer_id in changed_ids}
    outbox.enqueue(conn, store_id, member_events(store_id, segment, event_type, sorted(changed), cause, now))
    record_changes(conn, store_id, segment, event_type, {e: customers[e] for e in changed}, cause, now)
    return changed


def record_changes(
    conn: Conn,
    store_id: str,
    segment: SegmentRow,
    event_type: Literal["segment.member_added", "segment.member_removed"],
    customers: dict[str, int],
    cause: EmittedCause,
    now: datetime,
) -> None:
    """Each real change in the customers' journeys (`customers explain`), as a step of its own."""
    step = journey.entry(cause.operation or "manual", effects=[(event_type, None, {"segment": segment.name})])
    journey.record(conn, store_id, now, {customer_id: [step] for customer_id in sorted(customers.values())})


def member_events(
    store_id: str,
    segment: SegmentRow,
    event_type: Literal["segment.member_added", "segment.member_removed"],
    emails: Iterable[str],
    cause: EmittedCause,
    now: datetime,
) -> list[Emitted]:
    """One output event per email, built as the engine builds its own (`Emitted`: a plain
    dataclass, not the pydantic `OutputEvent`, a tenth of the time for an 8,900-row import)."""
    cause_key = cause.event_id or cause.operation_id or ""
    data = {"segment": segment.name}
    node = cause.node_id or ""
    segment_id = str(segment.id)
    return [
        Emitted(
            event_id(store_id, event_type, segment_id, email, cause_key, node),
            event_type,
            store_id,
            now,
            email,
            cause,
            data,
        )
        for email in emails
    ]


def operation_cause(operation: Literal["manual", "csv", "klaviyo_sync", "delete"]) -> EmittedCause:
    # One id per merchant operation: its events are distinct from any other operation's.
    return EmittedCause(operation=operation, operation_id=f"op_{uuid.uuid4().hex}")


def refuse_hand_edits(conn: Conn, store_id: str, segment: SegmentRow) -> None:
    """A Klaviyo segment syncing on its own has one source (SPEC §10): a change by hand would be
    undone by its next sync without a word, so it is refused."""
    if segment.source != "klaviyo" or not segment.auto_sync:
        return
    source = wording.mirrored(segment_rows.sync_status(conn, store_id, segment.id))
    raise UserError(
        f'segment "{segment.name}" is synced from {source}: turn auto-sync off to edit it by hand; nothing was changed'
    )


def change_by_email(
    conn: Conn, store_id: str, name: str, operation: Operation, raw_emails: Sequence[str]
) -> MembershipChange:
    """`segments add|remove NAME EMAIL...`: unknown emails are reported, the others applied."""
    emails: list[str] = []
    for raw in raw_emails:
        try:
            email = normalise_email(raw)
        except ValueError as exc:
            raise InvalidInput(f"{exc}; nothing was changed") from None
        if email not in emails:
            emails.append(email)
    with conn.transaction():
        segment = get(conn, store_id, name)
        refuse_hand_edits(conn, store_id, segment)
        customers = segment_rows.resolve_customers(conn, store_id, emails)
        changed = change_members(
            conn, store_id, segment, operation, customers, "manual", operation_cause("manual"), datetime.now(UTC)
        )
    return MembershipChange(
        changed=[e for e in emails if e in changed],
        unchanged=[e for e in emails if e in customers and e not in changed],
        unknown=[e for e in emails if e not in customers],
    )


def import_csv(
    conn: Conn,
    store_id: str,
    name: str,
    path: Path,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
    create: bool = False,
    dry_run: bool = False,
    shown_as: str | None = None,
) -> tuple[SegmentRow, ImportReport]:
    """`segments import` (SPEC §6): atomic, set-based, at most 8,900 rows. A dry run does it all
    and rolls it back: the full report, nothing written.

    A name no segment has is refused, suggesting close ones, unless `create`, which creates it
    (source `csv`). `progress(done, total)` is called after each chunk of distinct emails.
    Messages name the file as `shown_as` when given (an upload's own name).
    """
    require_segments(conn, store_id)
    cleaned = check_name(name)
    if not create and segment_rows.get(conn, store_id, cleaned) is None:  # before reading the file
        raise _not_there(conn, store_id, cleaned)
    rows, read = _import_file(path, shown_as)
    from schemas.reports import ImportReport, InvalidRow  # pydantic: loaded by the commands that report

    emails = [email for _row, email in read.first]
    report = ImportReport(
        rows=rows,
        invalid_rows=[InvalidRow(line=line, reason=reason) for line, reason in read.invalid],
        duplicates_in_file=len(read.repeats),
    )
    cause = operation_cause("csv")
    now = datetime.now(UTC)
    with conn.transaction():
        segment = _import_target(conn, store_id, cleaned, create, report)
        for start in range(0, len(emails), IMPORT_CHUNK):
            chunk = emails[start : start + IMPORT_CHUNK]
            customers = segment_rows.resolve_customers(conn, store_id, chunk)
            added = change_members(conn, store_id, segment, "add", customers, "csv", cause, now)
            report.added += len(added)
            report.already_members += len(customers) - len(added)
            report.unknown_emails += len(chunk) - len(customers)
            progress(start + len(chunk), len(emails))
        if dry_run:
            report.dry_run = True
            raise psycopg.Rollback()
    return segment, report


def _import_file(path: Path, shown_as: str | None) -> tuple[int, csvfile.EmailRows]:
    """The file's data records counted (at most MAX_IMPORT_ROWS) and its emails read."""
    parsed = csvfile.read(path, required=("email",), allowed=TEMPLATE_COLUMNS, shown_as=shown_as)
    rows = len(parsed.rows) + len(parsed.bad_rows)
    if rows > MAX_IMPORT_ROWS:
        raise ImportTooLarge(
            f"{shown_as or path} has {rows:,} rows; the limit is {MAX_IMPORT_ROWS:,} customers per import; "
            "nothing was imported"
        )
    return rows, csvfile.email_rows(parsed)


def _import_target(conn: Conn, store_id: str, name: str, create: bool, report: ImportReport) -> SegmentRow:
    """The segment an import fills, locked until its transaction ends (created with `create`).
    Decided again under the lock: a delete that committed since the first look must not see its
    segment come back."""
    segment = segment_rows.lock_named(conn, store_id, name)
    if segment is None and not create:
        raise _not_there(conn, store_id, name)
    if segment is not None:
        refuse_hand_edits(conn, store_id, segment)
        return segment
    created = segment_rows.insert(conn, store_id, name, "csv")
    if created is None:  # created by someone else between the two statements
        raise UserError(f'segment "{name}" was created concurrently; run the import again')
    report.created = True
    return created


def _not_there(conn: Conn, store_id: str, name: str) -> NotFound:
    missing = missing_segment(conn, store_id, name, "; nothing was imported")
    missing.cli_hint = " (--create makes a new segment)"
    return missing


def referencing_flows(conn: Conn, store_id: str, name: str) -> list[str]:
    """Active flows whose latest version refers to the segment (engine.refs: Segment nodes and
    segment rules, nothing else)."""
    # The flow model and the engine, loaded only here: `segments list` and `show` never need them.
    from engine.refs import refers_to
    from schemas.flow import deployed_flow

    return [
        fid
        for fid, _status, definition in flow_rows.flows_with_status(conn, store_id, ["active"])
        if refers_to(deployed_flow(definition), name)
    ]


def delete(conn: Conn, store_id: str, name: str, force: bool = False) -> tuple[SegmentRow, list[str]]:
    """Permanently delete a segment and its memberships; returns it and the flows paused for it."""
    with conn.transaction():
        require_segments(conn, store_id)
        segment = _find(name, lambda typed: segment_rows.lock_named(conn, store_id, typed))
        if segment is None:
            raise missing_segment(conn, store_id, name)
        flows = referencing_flows(conn, store_id, segment.name)
        if flows and not force:
            raise UserError(
                f'segment "{segment.name}" is used by active flow(s) {", ".join(flows)}; pause them first',
                cli_hint=" or use --force",
            )
        if flows:
            flow_rows.set_flow_status(conn, store_id, flows, "paused")
        removed = segment_rows.delete(conn, store_id, segment.id)
        emails = sorted(removed)
        now = datetime.now(UTC)
        cause = operation_cause("delete")
        outbox.enqueue(conn, store_id, member_events(store_id, segment, "segment.member_removed", emails, cause, now))
        record_changes(conn, store_id, segment, "segment.member_removed", removed, cause, now)
    # Counted under the lock: the members the delete really removed, not those seen before it.
    return dataclasses.replace(segment, members=len(removed)), flows


def template() -> str:
    return ",".join(TEMPLATE_COLUMNS) + "\n"
