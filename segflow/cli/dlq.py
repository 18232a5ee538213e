"""`segflow dlq ...` (SPEC §9): the dead-letter topic, and sending its originals back."""

from __future__ import annotations

import click

from schemas.reports import Report
from segflow.cli.common import AppContext, json_option, pass_app, print_json, print_table
from segflow.errors import InvalidInput
from segflow.services import dlq as dlq_service


class SourceOut(Report):
    topic: str | None
    partition: int | None
    offset: int | None


class LetterOut(Report):
    offset: int
    partition: int
    failed_at: str | None
    reason: str
    source: SourceOut | None
    key: str | None
    replayable: bool
    """Whether `dlq replay --all` would send it (SPEC §9)."""
    why_not_replayable: str | None


class ReplayOut(Report):
    replayed: int
    skipped: int
    dry_run: bool
    why_skipped: dict[str, int]


@click.group()
def dlq() -> None:
    """See dead letters, and replay them once their cause is fixed."""


def _out(letter: dlq_service.Letter, replayed: set[tuple[int, int]]) -> LetterOut:
    where = letter.source
    source = None if where is None else SourceOut(topic=where.topic, partition=where.partition, offset=where.offset)
    why_not = dlq_service.why_not_replayable(letter, replayed)
    return LetterOut(
        offset=letter.offset, partition=letter.partition, failed_at=letter.failed_at, reason=letter.reason,
        source=source,
        key=None if letter.key is None else letter.key.decode("utf-8", "replace"),
        replayable=why_not is None, why_not_replayable=why_not,
    )  # fmt: skip


@dlq.command("list")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True, help="The newest N.")
@click.option("--reason", help="Only those whose reason contains TEXT (ignoring case).")
@json_option
@pass_app
def list_(app: AppContext, limit: int, reason: str | None, as_json: bool) -> None:
    """The newest dead letters, oldest of them first: where each came from and why it failed."""
    newest = dlq_service.matching(dlq_service.read(app.config), reason)[-limit:]
    with app.db() as conn:
        replayed = dlq_service.replayed_of(conn, app.config, newest)
    letters = [_out(letter, replayed) for letter in newest]
    if as_json:
        print_json(letters)
        return
    if not letters:
        click.echo(f"no dead letters on {app.config.dlq_topic}" + (f" with {reason!r} in the reason" if reason else ""))
        return
    print_table(
        ["offset", "failed at", "source", "key", "reason"],
        [
            [
                f"{x.partition}:{x.offset}" if x.partition else str(x.offset), x.failed_at or "",
                f"{x.source.topic}/{x.source.partition}@{x.source.offset}" if x.source else "", x.key or "",
                x.reason if x.replayable else f"{x.reason} (not replayable: {x.why_not_replayable})",
            ]
            for x in letters
        ],
    )  # fmt: skip


@dlq.command("replay")
@click.option("--offset", "offsets", multiple=True, metavar="N", help="A dead letter's offset (P:N on partition P).")
@click.option("--all", "every", is_flag=True, help="Every dead letter (with --reason: every one that matches).")
@click.option("--reason", help="Only those whose reason contains TEXT (ignoring case).")
@click.option(
    "--include-invalid", is_flag=True, help="Send letters whose original is not a valid event too (they fail again)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send and record nothing.")
@json_option
@pass_app
def replay(
    app: AppContext, offsets: tuple[str, ...], every: bool, reason: str | None, include_invalid: bool, dry_run: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Send dead letters' original messages, with their keys, back to the input topic. A letter
    replayed before is not sent again; events applied already are skipped by the worker."""
    if bool(offsets) == every:
        raise InvalidInput("give --offset N (one or more) or --all")
    positions = [dlq_service.parse_position(text) for text in offsets] if offsets else None
    with app.db() as conn:
        done = dlq_service.replay(conn, app.config, positions, reason, dry_run, include_invalid)
    report = ReplayOut(replayed=done.replayed, skipped=done.skipped, dry_run=done.dry_run, why_skipped=done.why_skipped)
    if as_json:
        print_json(report)
        return
    verb = "would replay" if dry_run else "replayed"
    why = "; ".join(f"{n} {what}" for what, n in report.why_skipped.items())
    click.echo(
        f"{verb} {report.replayed} dead letters to {app.config.input_topic}; {report.skipped} skipped"
        + (f" ({why})" if why else "")
    )
