"""`segflow segments ...` (SPEC §6, §7). Segments are for pro and custom stores."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from segflow.cli.common import AppContext, json_option, pass_app, print_json, print_table, store_option
from segflow.errors import InvalidInput
from segflow.services import segments as segment_service
from segflow.services import wording
from segflow.services.segments import SegmentRow

if TYPE_CHECKING:
    from tqdm import tqdm

    from schemas.reports import ImportReport, SegmentOut, SyncReport

# The Klaviyo service (httpx, the client), tqdm and the report models (pydantic) are loaded by
# the commands that use them: `segments list` prints its table without any of them, in a
# fraction of the time (benchmarks.commands).


def segment_out(row: SegmentRow) -> SegmentOut:
    from schemas.reports import SegmentOut

    return SegmentOut.model_validate(row, from_attributes=True)


@click.group()
def segments() -> None:
    """Create, view, fill and delete customer segments."""


@segments.command("create")
@click.argument("name")
@store_option
@json_option
@pass_app
def create(app: AppContext, name: str, store_id: str, as_json: bool) -> None:
    """Create an empty segment NAME (unique per store, case-insensitively)."""
    with app.db() as conn:
        row = segment_service.create(conn, store_id, name)
    if as_json:
        print_json(segment_out(row))
    else:
        click.echo(f'created segment "{row.name}" in store {store_id}')


@segments.command("list")
@store_option
@json_option
@pass_app
def list_(app: AppContext, store_id: str, as_json: bool) -> None:
    """List a store's segments with member counts and sync status."""
    with app.db() as conn:
        rows = segment_service.list_all(conn, store_id)
    if as_json:
        print_json([segment_out(r) for r in rows])
    elif not rows:
        click.echo(f"store {store_id} has no segments yet: segflow segments create NAME --store {store_id}")
    else:
        print_table(
            ["name", "source", "members", "created", "sync"],
            [[r.name, r.source, str(r.members), f"{r.created_at:%Y-%m-%d}", sync_status(r)] for r in rows],
        )


def sync_status(segment: SegmentRow | SegmentOut) -> str:
    if segment.source != "klaviyo":
        return "-"
    last = f"{segment.last_synced_at:%Y-%m-%d %H:%M}" if segment.last_synced_at else "never"
    return f"{'daily' if segment.auto_sync else 'manual'}, last {last}"


@segments.command("show")
@click.argument("name")
@store_option
@click.option("--limit", default=50, show_default=True, type=click.IntRange(0, 1_000_000), help="Members to list.")
@json_option
@pass_app
def show(app: AppContext, name: str, store_id: str, limit: int, as_json: bool) -> None:
    """Show a segment and its most recently added members."""
    from schemas.reports import MemberOut, SegmentShow

    with app.db() as conn:
        row, members = segment_service.show(conn, store_id, name, limit)
    out = SegmentShow(
        segment=segment_out(row),
        members=[MemberOut.model_validate(m, from_attributes=True) for m in members],
    )
    if as_json:
        print_json(out)
        return
    click.echo(f'segment "{row.name}" ({row.source}): {row.members} members, created {row.created_at:%Y-%m-%d}')
    if out.members:
        print_table(
            ["email", "name", "phone", "added", "by"],
            [
                [
                    m.email,
                    " ".join(p for p in (m.first_name, m.last_name) if p),
                    m.phone or "",
                    f"{m.added_at:%Y-%m-%d %H:%M}",
                    m.added_by,
                ]
                for m in out.members
            ],
        )
        if row.members > len(out.members):
            click.echo(f"… {row.members - len(out.members)} more (--limit)")


def _membership_command(operation: segment_service.Operation) -> click.Command:
    verb = "Add" if operation == "add" else "Remove"

    @click.argument("name")
    @click.argument("emails", nargs=-1, required=True)
    @store_option
    @json_option
    @pass_app
    def command(app: AppContext, name: str, emails: tuple[str, ...], store_id: str, as_json: bool) -> None:
        from schemas.reports import MembershipReport

        with app.db() as conn:
            result = segment_service.change_by_email(conn, store_id, name, operation, emails)
        report = MembershipReport(changed=result.changed, unchanged=result.unchanged, unknown=result.unknown)
        if as_json:
            print_json(report)
            return
        lines = wording.membership_lines(operation, name, store_id, report.changed, report.unchanged, report.unknown)
        for line in lines:
            click.echo(line)

    command.__doc__ = f"{verb} customers (by email) {'to' if operation == 'add' else 'from'} segment NAME."
    return click.command(operation)(command)


segments.add_command(_membership_command("add"))
segments.add_command(_membership_command("remove"))


@segments.command("template")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE, not stdout.")
@json_option
def template(output: Path | None, as_json: bool) -> None:
    """Print (or write) the CSV template for `segments import`."""
    text = segment_service.template()
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write the template to {output}: {exc.strerror or exc}") from None
    if as_json:
        print_json({"columns": text.strip().split(","), "file": str(output) if output else None, "template": text})
    elif output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)


@segments.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@store_option
@click.option("--create", is_flag=True, help="Create segment NAME (source csv) if the store has none by that name.")
@click.option("--dry-run", is_flag=True, help="Print the full report; write nothing.")
@json_option
@pass_app
def import_(app: AppContext, name: str, file: Path, store_id: str, create: bool, dry_run: bool, as_json: bool) -> None:
    """Add the customers listed in FILE (CSV with an email column) to segment NAME.

    At most 8,900 rows. Unknown emails are ignored and counted, bad rows reported by line,
    existing members not duplicated. All or nothing. A NAME no segment has is refused, naming
    close ones, unless --create.
    """
    with app.db() as conn, _progress_bar(" emails", total=0) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        segment, report = segment_service.import_csv(
            conn, store_id, name, file, progress=advance, create=create, dry_run=dry_run
        )
    if as_json:
        print_json(report)
    else:
        print_import_report(segment.name, report)


def print_import_report(segment: str, report: ImportReport) -> None:
    for line in wording.import_lines(segment, report):
        click.echo(line)


@segments.command("delete")
@click.argument("name")
@store_option
@click.option("--force", is_flag=True, help="Pause the active flows that use the segment, then delete.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def delete(app: AppContext, name: str, store_id: str, force: bool, yes: bool, as_json: bool) -> None:
    """Delete segment NAME and its memberships. Permanent."""
    with app.db() as conn:
        if not yes and sys.stdin.isatty():
            row = segment_service.get(conn, store_id, name)
            click.confirm(f'Permanently delete segment "{row.name}" and its {row.members} memberships?', abort=True)
        segment, paused = segment_service.delete(conn, store_id, name, force=force)
    if as_json:
        from schemas.reports import Deleted

        print_json(Deleted(deleted=segment.name, members_removed=segment.members, paused_flows=paused))
        return
    for flow_id in paused:
        click.echo(f"paused flow {flow_id}")
    click.echo(wording.deleted_line(segment.name, segment.members))


def _print_sync(report: SyncReport, as_json: bool, line: str) -> None:
    if as_json:
        print_json(report)
    else:
        click.echo(line)


@segments.command("import-external")
@click.argument("name")
@store_option
@click.option("--provider", type=click.Choice(["klaviyo"]), required=True)
@click.option("--type", "kind", type=click.Choice(["list", "segment"]), required=True)
@click.option("--external-id", help="The Klaviyo list or segment id.")
@click.option("--external-name", help="The Klaviyo list or segment name (must match exactly one).")
@json_option
@pass_app
def import_external(
    app: AppContext,
    name: str,
    store_id: str,
    provider: str,
    kind: Literal["list", "segment"],
    external_id: str | None,
    external_name: str | None,
    as_json: bool,
) -> None:
    """Create segment NAME from a Klaviyo list or segment; it then syncs daily (auto-sync)."""
    if (external_id is None) == (external_name is None):
        raise click.UsageError("give exactly one of --external-id or --external-name")
    from segflow.services import klaviyo

    with app.db() as conn, _progress_bar(" profiles") as bar:
        segment, report = klaviyo.import_external(
            conn, app.config, store_id, name, kind, external_id, external_name, progress=_advance(bar)
        )
    _print_sync(report, as_json, wording.imported_line(kind, segment.name, report))


@segments.command("sync")
@click.argument("name")
@store_option
@click.option("--dry-run", is_flag=True, help="Fetch from Klaviyo and say what would change; change nothing.")
@json_option
@pass_app
def sync(app: AppContext, name: str, store_id: str, dry_run: bool, as_json: bool) -> None:
    """Make a Klaviyo segment mirror its list or segment now."""
    from segflow.services import klaviyo

    with app.db() as conn, _progress_bar(" profiles") as bar:
        report = klaviyo.sync(conn, app.config, store_id, name, progress=_advance(bar), dry_run=dry_run)
    _print_sync(report, as_json, wording.synced_line(name.strip(), report))


@segments.command("set")
@click.argument("name")
@store_option
@click.option("--auto-sync", type=click.Choice(["on", "off"]), required=True, help="Daily sync of a Klaviyo segment.")
@json_option
@pass_app
def set_(app: AppContext, name: str, store_id: str, auto_sync: str, as_json: bool) -> None:
    """Change a segment's settings."""
    from segflow.services import klaviyo

    with app.db() as conn:
        segment = klaviyo.set_auto_sync(conn, store_id, name, auto_sync == "on")
    if as_json:
        print_json(segment_out(segment))
    else:
        click.echo(f'segment "{segment.name}" in store {store_id}: auto-sync {"on" if segment.auto_sync else "off"}')


def _progress_bar(unit: str, total: int | None = None) -> tqdm[Any]:
    """A progress bar on stderr when it is a terminal, none otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=not sys.stderr.isatty(), leave=False)


def _advance(bar: tqdm[Any]) -> Callable[[int], None]:
    def advance(done: int) -> None:
        bar.update(done - bar.n)

    return advance
