"""Klaviyo-backed segments: import a list or segment, keep it in sync (SPEC §6).

A sync makes the segment's membership mirror the Klaviyo list or segment: every profile is
fetched first, then one transaction adds the customers who joined and removes those who left,
through `segments.change_members` (so each change queues its outbox event, caused by the
sync), and sets `last_synced_at`. If anything fails, nothing changes. The segment row is
locked for the whole sync, so two syncs of one segment never overlap; the worker's daily
syncs take due segments with SKIP LOCKED.

The store's API key is read here, held as a SecretStr and handed to the client; it is never
printed, logged or put in an error message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg
import structlog
from pydantic import SecretStr

from consumers.failure import one_line
from db import Conn, credentials
from db import segments as segment_rows
from db.segments import DueSync, SegmentRow
from integrations.klaviyo import Client, KlaviyoAuthError, KlaviyoError, KlaviyoNotFound, KlaviyoUnavailable, Resource
from integrations.klaviyo.client import DEADLINE_S
from schemas.email import normalise_email
from schemas.reports import SyncReport, SyncStateOut
from segflow.errors import AlreadyExists, InvalidInput, NotFound, SegflowError, ServiceUnavailable, UserError
from segflow.infra.config import Config
from segflow.services import stores, wording
from segflow.services.segments import (
    change_members,
    check_name,
    get,
    missing_segment,
    operation_cause,
    require_segments,
)

log = structlog.get_logger()

PROVIDER = "klaviyo"
# SPEC §6: segments created before this date sync only when asked, unless auto_sync is turned on.
AUTO_SYNC_FROM = datetime(2025, 1, 23, tzinfo=UTC)
SYNC_EVERY = timedelta(hours=24)

Kind = Literal["list", "segment"]
KINDS: tuple[Kind, ...] = ("list", "segment")
Progress = Callable[[int], None]
"""Called with the number of profiles read so far."""


def set_key(conn: Conn, store_id: str, api_key: str) -> None:
    stores.require(conn, store_id)
    key = api_key.strip()
    if not key or any(c.isspace() for c in key):
        raise InvalidInput("the Klaviyo API key must be one word with no spaces; nothing was saved")
    with conn.transaction():
        credentials.set_key(conn, store_id, PROVIDER, SecretStr(key))


def _client(conn: Conn, config: Config, store_id: str) -> Client:
    key = credentials.get_key(conn, store_id, PROVIDER)
    if key is None:
        raise _no_key(store_id)
    return Client(config.klaviyo_base_url, key)


def _no_key(store_id: str) -> UserError:
    return UserError(
        f"store {store_id} has no Klaviyo API key; set one with `segflow stores set-klaviyo-key {store_id}`"
    )


def _translate(exc: KlaviyoError, store_id: str, what: str) -> Exception:
    if isinstance(exc, KlaviyoAuthError):
        return UserError(
            f"the Klaviyo API key for store {store_id} was rejected; "
            f"set a new one with `segflow stores set-klaviyo-key {store_id}`"
        )
    if isinstance(exc, KlaviyoNotFound):
        return NotFound(f"{what} was not found in the Klaviyo account of store {store_id}")
    if isinstance(exc, KlaviyoUnavailable):
        return ServiceUnavailable(f"Klaviyo is unavailable for store {store_id}: {exc}; nothing was changed")
    return UserError(f"Klaviyo refused a request for store {store_id}: {exc}; nothing was changed")


def _check_choice(kind: Kind, external_id: str | None, external_name: str | None) -> None:
    """An empty id or name would be sent as `/api/lists//` or match every list: refused first."""
    if external_id is not None and not external_id.strip():
        raise InvalidInput(f"the Klaviyo {kind} id is empty; give the id of a {kind}, or its name")
    if external_id is None and not (external_name or "").strip():
        raise InvalidInput(f"the Klaviyo {kind} name is empty; give the name of a {kind}, or its id")


def _resolve(client: Client, store_id: str, kind: Kind, external_id: str | None, external_name: str | None) -> Resource:
    if external_id is not None:
        try:
            return client.get(kind, external_id)
        except KlaviyoError as exc:
            raise _translate(exc, store_id, f"Klaviyo {kind} {external_id}") from None
    assert external_name is not None
    try:
        found = client.find_by_name(kind, external_name)
    except KlaviyoError as exc:
        raise _translate(exc, store_id, f'Klaviyo {kind} "{external_name}"') from None
    if not found:
        raise NotFound(f'no Klaviyo {kind} is named "{external_name}" in the account of store {store_id}')
    if len(found) > 1:
        ids = ", ".join(r.id for r in found)
        raise InvalidInput(
            f'{len(found)} Klaviyo {kind}s are named "{external_name}" ({ids}); choose one by its id',
            cli_hint=" (--external-id)",
        )
    return found[0]


def _fetch(client: Client, store_id: str, kind: Kind, external_id: str, progress: Progress) -> tuple[int, set[str]]:
    """(profiles, normalised emails) of the list or segment; all pages, or an error."""
    profiles = 0
    emails: set[str] = set()
    try:
        for email in client.profile_emails(kind, external_id):
            profiles += 1
            if email is not None:
                with contextlib.suppress(ValueError):  # not an email: it can match no customer
                    emails.add(normalise_email(email))
            if profiles % 100 == 0:
                progress(profiles)
    except KlaviyoError as exc:
        raise _translate(exc, store_id, f"Klaviyo {kind} {external_id}") from None
    progress(profiles)
    return profiles, emails


def import_external(
    conn: Conn,
    config: Config,
    store_id: str,
    name: str,
    kind: Kind,
    external_id: str | None = None,
    external_name: str | None = None,
    progress: Progress = lambda _n: None,
) -> tuple[SegmentRow, SyncReport]:
    """`segments import-external`: create the segment (source klaviyo) and fill it, atomically."""
    require_segments(conn, store_id)
    cleaned = check_name(name)
    _check_choice(kind, external_id, external_name)
    existing = segment_rows.get(conn, store_id, cleaned)
    if existing is not None:
        raise AlreadyExists(
            f'segment "{existing.name}" already exists in store {store_id} (source {existing.source}); '
            f"choose another name, or run `segflow segments sync` for a Klaviyo segment"
        )
    with _client(conn, config, store_id) as client:
        resource = _resolve(client, store_id, kind, external_id, external_name)
        profiles, emails = _fetch(client, store_id, kind, resource.id, progress)
    now = datetime.now(UTC)
    with conn.transaction():
        mirrors = (kind, resource.id, resource.name)
        segment = segment_rows.insert_external(conn, store_id, cleaned, mirrors, now >= AUTO_SYNC_FROM, now)
        if segment is None:
            raise AlreadyExists(f'segment "{cleaned}" was created in store {store_id} meanwhile; nothing was imported')
        report = _mirror(conn, store_id, segment, profiles, emails, now)
    log.info("klaviyo_imported", store_id=store_id, segment=segment.name, kind=kind, **report.model_dump())
    return segment, report


def sync(
    conn: Conn,
    config: Config,
    store_id: str,
    name: str,
    progress: Progress = lambda _n: None,
    dry_run: bool = False,
) -> SyncReport:
    """`segments sync`: mirror the Klaviyo list or segment now; with `dry_run`, fetch and say what
    would change, and change nothing."""
    segment = get(conn, store_id, name)
    if segment.source != PROVIDER:
        raise InvalidInput(f'segment "{segment.name}" is a {segment.source} segment; only Klaviyo segments sync')
    return _sync(conn, config, store_id, segment, progress, datetime.now(UTC), dry_run)


# A daily sync's claim outlasts the client's deadline; a failed one is tried again an hour later.
CLAIM_FOR = timedelta(seconds=DEADLINE_S) + timedelta(minutes=5)
RETRY_FAILED_AFTER = timedelta(hours=1)


def sync_due(conn: Conn, config: Config, now: datetime) -> tuple[int, SyncReport] | None:
    """The worker's daily sync of the next due segment: (segment id, report), or None when none
    is due. Two workers never sync one segment at once: each claims it first (committed)."""
    due = segment_rows.claim_due_sync(conn, now, now + CLAIM_FOR)
    return None if due is None else _run_claimed(conn, config, due, now)


def sync_queued(conn: Conn, config: Config, now: datetime) -> tuple[int, SyncReport] | None:
    """The console's background sync of the next queued segment (SPEC §10), as `sync_due`: an
    import by name resolves its id first."""
    due = segment_rows.claim_queued_sync(conn, now, now + CLAIM_FOR)
    return None if due is None else _run_claimed(conn, config, due, now)


def _run_claimed(conn: Conn, config: Config, due: DueSync, now: datetime) -> tuple[int, SyncReport]:
    """Sync a claimed segment; a failure is written on the segment (`failed: why`) and raised
    as SyncFailed, and its daily sync waits an hour."""
    with structlog.contextvars.bound_contextvars(store_id=due.store_id, segment=due.name):
        try:
            segment = segment_rows.get(conn, due.store_id, due.name)
            if segment is None or segment.id != due.segment_id:
                raise InvalidInput(f'segment "{due.name}" was deleted or renamed before it synced')
            _name_what_it_mirrors(conn, config, due.store_id, segment)
            return due.segment_id, _sync(conn, config, due.store_id, segment, lambda _n: None, now)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise  # the database: every segment waits for it alike (the claim lapses on its own)
        except Exception as exc:  # a bug one segment's data triggers must not stop the others' syncs
            if not isinstance(exc, SegflowError):
                log.exception("klaviyo_sync_crashed", segment_id=due.segment_id)
            reason = str(exc) if isinstance(exc, SegflowError) else one_line(exc)
            with contextlib.suppress(psycopg.Error):
                segment_rows.mark_sync_failed(conn, due.store_id, due.segment_id, reason, now + RETRY_FAILED_AFTER)
            raise SyncFailed(due.segment_id, reason) from None


def _name_what_it_mirrors(conn: Conn, config: Config, store_id: str, segment: SegmentRow) -> None:
    """An import queued by name gets its id; one queued by id gets the list's name (the page
    says what the segment mirrors). The segment is still empty until the sync that follows."""
    status = segment_rows.sync_status(conn, store_id, segment.id)
    if status is None or status.external_type is None or (status.external_id and status.external_name):
        return
    kind: Kind = "list" if status.external_type == "list" else "segment"
    with _client(conn, config, store_id) as client:
        resource = _resolve(client, store_id, kind, status.external_id, status.external_name)
    segment_rows.set_external(conn, store_id, segment.id, resource.id, resource.name)


def queue_import(
    conn: Conn,
    store_id: str,
    name: str,
    kind: Kind,
    external_id: str | None = None,
    external_name: str | None = None,
) -> SegmentRow:
    """The console's import from Klaviyo (SPEC §10): the segment is made now, empty and queued;
    its first sync, in the background, finds the list or segment and fills it. Nothing here
    waits on Klaviyo: what can be checked without it (the name, the choice, the key) is."""
    require_segments(conn, store_id)
    cleaned = check_name(name)
    _check_choice(kind, external_id, external_name)
    if credentials.get_key(conn, store_id, PROVIDER) is None:
        raise _no_key(store_id)
    chosen_id = external_id.strip() if external_id is not None else None
    chosen_name = None if chosen_id is not None else (external_name or "").strip()
    now = datetime.now(UTC)
    with conn.transaction():
        mirrors = (kind, chosen_id, chosen_name)
        segment = segment_rows.insert_external(conn, store_id, cleaned, mirrors, now >= AUTO_SYNC_FROM, now, True)
    if segment is None:
        raise AlreadyExists(f'segment "{cleaned}" already exists in store {store_id}; choose another name')
    log.info("klaviyo_import_queued", store_id=store_id, segment=segment.name, kind=kind)
    return segment


def queue_sync(conn: Conn, store_id: str, name: str) -> SegmentRow:
    """The console's "Sync now" (SPEC §10): queued, or left as it is when a sync of it is queued
    or running already."""
    segment = get(conn, store_id, name)
    if segment.source != PROVIDER:
        raise InvalidInput(f'segment "{segment.name}" is a {segment.source} segment; only Klaviyo segments sync')
    segment_rows.queue_sync(conn, store_id, segment.id, datetime.now(UTC))
    return segment


def sync_state(conn: Conn, store_id: str, segment: SegmentRow) -> SyncStateOut:
    """Where the segment's sync stands (SPEC §10): queued, running, failed with why, or synced."""
    status = segment_rows.sync_status(conn, store_id, segment.id)
    if status is None:
        raise missing_segment(conn, store_id, segment.name)
    state = status.state or ("synced" if status.last_synced_at else "never synced")
    return SyncStateOut(
        segment=segment.name, state=state, reason=status.error if state == "failed" else None,
        last_synced_at=status.last_synced_at, auto_sync=status.auto_sync,
        mirrors=wording.mirrored(status),
    )  # fmt: skip


class SyncFailed(Exception):
    """A daily sync failed; the worker skips that segment for a while."""

    def __init__(self, segment_id: int, reason: str) -> None:
        super().__init__(reason)
        self.segment_id = segment_id


def _sync(
    conn: Conn,
    config: Config,
    store_id: str,
    segment: SegmentRow,
    progress: Progress,
    now: datetime,
    dry_run: bool = False,
) -> SyncReport:
    """Fetch every profile first, with no transaction open; then, in one short transaction,
    mirror them, if the segment still mirrors what was fetched."""
    external = segment_rows.external(conn, store_id, segment.id)
    if external is None:
        raise InvalidInput(f'segment "{segment.name}" has no Klaviyo list or segment to sync from')
    kind: Kind = "list" if external[0] == "list" else "segment"
    with _client(conn, config, store_id) as client:
        profiles, emails = _fetch(client, store_id, kind, external[1], progress)
    with conn.transaction():
        if segment_rows.lock_external(conn, store_id, segment.id) != external:
            raise UserError(f'segment "{segment.name}" was deleted or changed while it synced; nothing was changed')
        report = _mirror(conn, store_id, segment, profiles, emails, now)
        if dry_run:
            report.dry_run = True
            raise psycopg.Rollback()
    log.info("klaviyo_synced", store_id=store_id, segment=segment.name, **report.model_dump())
    return report


def _mirror(
    conn: Conn, store_id: str, segment: SegmentRow, profiles: int, emails: set[str], now: datetime
) -> SyncReport:
    known = segment_rows.resolve_customers(conn, store_id, sorted(emails))
    current = segment_rows.member_ids(conn, store_id, segment.id)
    joined = {email: cid for email, cid in known.items() if email not in current}
    left = {email: cid for email, cid in current.items() if email not in known}
    cause = operation_cause("klaviyo_sync")
    added = change_members(conn, store_id, segment, "add", joined, PROVIDER, cause, now) if joined else set()
    removed = change_members(conn, store_id, segment, "remove", left, PROVIDER, cause, now) if left else set()
    segment_rows.mark_synced(conn, store_id, segment.id, now, now + SYNC_EVERY)
    return SyncReport(added=len(added), removed=len(removed), unknown_emails=profiles - len(known), profiles=profiles)


def set_auto_sync(conn: Conn, store_id: str, name: str, on: bool) -> SegmentRow:
    segment = get(conn, store_id, name)
    if segment.source != PROVIDER:
        raise InvalidInput(
            f'segment "{segment.name}" is a {segment.source} segment; auto-sync applies to Klaviyo segments'
        )
    with conn.transaction():
        segment_rows.set_auto_sync(conn, store_id, segment.id, on)
    updated = segment_rows.get(conn, store_id, segment.name)
    assert updated is not None
    return updated
