"""The sentences the CLI prints and the console shows for the same results, written once, so
the two always say the same thing (SPEC §10: every error and report as the CLI gives it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from db.segments import SyncStatus

if TYPE_CHECKING:
    from schemas.reports import ImportReport, JourneyStepOut, SyncReport

SHOWN_INVALID_ROWS = 20


def membership_lines(
    operation: str,
    segment: str,
    store_id: str,
    changed: Sequence[str],
    unchanged: Sequence[str],
    unknown: Sequence[str],
) -> list[str]:
    """`segments add` / `remove`: a line per email."""
    done, noop = ("added to", "already a member") if operation == "add" else ("removed from", "not a member")
    return (
        [f'{email}: {done} "{segment}"' for email in changed]
        + [f"{email}: {noop}, nothing to do" for email in unchanged]
        + [f"{email}: no such customer in store {store_id}" for email in unknown]
    )


def import_lines(
    segment: str, report: ImportReport, shown_invalid: int = SHOWN_INVALID_ROWS, where_all: str = " (--json lists all)"
) -> list[str]:
    """`segments import`: the heading, the counts, and the first invalid rows by line; past
    those, how many more and `where_all` they are listed."""
    created = " (would be created)" if report.created and report.dry_run else " (created)" if report.created else ""
    dry = "dry run, nothing written: " if report.dry_run else ""
    lines = [
        f'{dry}import into "{segment}"{created}: {report.rows} rows read',
        f"  {report.added} added",
        f"  {report.already_members} already members",
        f"  {report.unknown_emails} unknown emails (ignored)",
        f"  {report.duplicates_in_file} duplicates in the file",
        f"  {len(report.invalid_rows)} invalid rows",
    ]
    lines += [f"    line {row.line}: {row.reason}" for row in report.invalid_rows[:shown_invalid]]
    if len(report.invalid_rows) > shown_invalid:
        lines.append(f"    … and {len(report.invalid_rows) - shown_invalid} more{where_all}")
    return lines


def sync_line(what: str, report: SyncReport) -> str:
    """A Klaviyo import or sync, after `what` says which (imported_line, synced_line)."""
    return (
        f"{what}: {report.profiles:,} profiles, {report.added:,} added, {report.removed:,} removed, "
        f"{report.unknown_emails:,} unknown emails (not customers of the store)"
    )


def imported_line(kind: str, segment: str, report: SyncReport) -> str:
    """`segments import-external`."""
    return sync_line(f'imported Klaviyo {kind} into segment "{segment}"', report)


def synced_line(segment: str, report: SyncReport) -> str:
    """`segments sync`, dry run or not."""
    what = (
        f'dry run, nothing changed: segment "{segment}" would sync' if report.dry_run else f'synced segment "{segment}"'
    )
    return sync_line(what, report)


def deleted_line(segment: str, memberships: int) -> str:
    """`segments delete`."""
    return f'deleted segment "{segment}" ({memberships} memberships removed)'


def step_lines(step: JourneyStepOut) -> list[str]:
    """One journey step (`customers explain`): what caused it and what it did."""
    cause = step.cause
    why = f"{cause.event_type} {cause.event_id}" if cause.operation == "event" else cause.operation
    if step.flow_id is None:
        return [f"{why}: " + "; ".join(effect_text(e) for e in step.effects)]
    path = " → ".join(step.path) if step.path else "-"
    ended = f": {step.reason}" if step.reason else ""
    lines = [f"{why} → {step.flow_id}@{step.version}: {path}, {step.status}{ended}"]
    done = [effect_text(e) for e in step.effects if e.get("type") not in ("flow.entered", "flow.completed")]
    if done:
        lines.append("; ".join(done))
    return lines


def effect_text(effect: dict[str, object]) -> str:
    kind = str(effect.get("type"))
    if kind == "segment.member_added":
        return f'added to "{effect.get("segment")}"'
    if kind == "segment.member_removed":
        return f'removed from "{effect.get("segment")}"'
    if kind == "action.requested":
        return f"asked for {effect.get('action')} {json.dumps(effect.get('params') or {})}"
    if kind in ("flow.exited", "flow.failed"):
        return f"{kind.removeprefix('flow.')} at {effect.get('node')}: {effect.get('reason')}"
    return kind


def mirrored(status: SyncStatus | None) -> str:
    """What a Klaviyo segment mirrors: `Klaviyo list "Newsletter" (id Xy12Ab)`."""
    kind = status.external_type if status else None
    name = status.external_name if status else None
    external_id = status.external_id if status else None
    what = f"Klaviyo {kind or 'list or segment'}" + (f' "{name}"' if name else "")
    return f"{what} (id {external_id})" if external_id else f"{what} (its id not yet found)"
